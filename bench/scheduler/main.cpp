// bench-scheduler: how late scheduled messages leave when many others wait.
//
// For each size N: N - M "background" messages wait far in the future (due in
// 2 to 3 hours) and M "measured" messages become due spread over a window a
// few seconds ahead. Lateness of a measured message = the Kafka timestamp of
// the record its scheduler wrote when letting it out - its due time.
//
//  kafka:    Sluice's SchedulerStage over the tiered delay topics (the bench
//            writes each message into the tier the router would choose).
//  postgres: the database-backed way: a table (due_at, payload) with an index
//            on due_at, polled every 100 ms with
//              SELECT ... WHERE due_at <= now() ORDER BY due_at LIMIT n
//              FOR UPDATE SKIP LOCKED
//            each row produced to Kafka and deleted in the same transaction
//            once Kafka acknowledged it.
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "kafka/admin.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "routing/record_util.h"
#include "routing/scheduler.h"
#include "routing/tiers.h"
#include "schema/records.pb.h"
#include "schema/topics.h"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string kafka, pg;
  std::vector<size_t> sizes{10000, 100000, 1000000};
  size_t measured = 10000;
  int64_t lead_ms = 15000;
  int64_t window_ms = 30000;
  bool run_kafka = true, run_pg = true;
};

struct Result {
  std::string impl;
  size_t waiting = 0, measured = 0, seen = 0, early = 0;
  double load_s = 0, p50 = 0, p99 = 0, max = 0;
};

[[noreturn]] void usage() {
  std::fprintf(
      stderr,
      "usage: bench-scheduler [--kafka HOST:PORT] [--pg DSN] [--sizes 10000,100000,1000000]\n"
      "                       [--measured N] [--lead-s S] [--window-s S] [--only kafka|postgres]\n"
      "  --kafka defaults to $SLUICE_BENCH_KAFKA, --pg to $SLUICE_BENCH_PG_DSN\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  if (const char* k = std::getenv("SLUICE_BENCH_KAFKA")) o.kafka = k;
  if (const char* p = std::getenv("SLUICE_BENCH_PG_DSN")) o.pg = p;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--kafka")
      o.kafka = value();
    else if (a == "--pg")
      o.pg = value();
    else if (a == "--measured")
      o.measured = std::stoul(value());
    else if (a == "--lead-s")
      o.lead_ms = std::stol(value()) * 1000;
    else if (a == "--window-s")
      o.window_ms = std::stol(value()) * 1000;
    else if (a == "--only") {
      auto v = value();
      o.run_kafka = v == "kafka";
      o.run_pg = v == "postgres";
      if (!o.run_kafka && !o.run_pg) usage();
    } else if (a == "--sizes") {
      o.sizes.clear();
      std::stringstream ss(value());
      std::string part;
      while (std::getline(ss, part, ',')) o.sizes.push_back(std::stoul(part));
    } else
      usage();
  }
  if (o.kafka.empty() || (o.run_pg && o.pg.empty())) usage();
  return o;
}

std::string rand_tag() {
  std::random_device rd;
  return std::to_string(rd() % 100000000);
}

std::string message_value(const std::string& id, int64_t due) {
  records::v1::Message m;
  m.set_schema_version(1);
  m.set_id(id);
  m.set_customer_message_id(id);
  m.set_customer_id(1);
  m.mutable_source()->set_addr("BENCH");
  m.mutable_dest()->set_addr("447900000000");
  m.set_short_message(std::string(120, 'x'));
  m.set_schedule_at_ms(due);
  m.set_submitted_at_ms(wall_ms());
  return m.SerializeAsString();
}

// Produces with at most `window` records in flight; failures are produced again.
class Bulk {
 public:
  explicit Bulk(kafka::Producer& p, size_t window = 100000) : p_(p), window_(window) {}
  void send(kafka::Record r) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return inflight_ < window_; });
      ++inflight_;
    }
    go(std::move(r));
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return inflight_ == 0; });
  }

 private:
  void go(kafka::Record r) {
    auto copy = std::make_shared<kafka::Record>(r);
    p_.produce(std::move(r), [this, copy](const kafka::DeliveryResult& res) {
      if (!res.ok()) {
        std::thread([this, copy] {
          std::this_thread::sleep_for(50ms);
          go(*copy);
        }).detach();
        return;
      }
      std::lock_guard lock(mu_);
      --inflight_;
      cv_.notify_all();
    });
  }
  kafka::Producer& p_;
  size_t window_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t inflight_ = 0;
};

// Reads a topic and keeps (timestamp - due) of every measured record.
class Observer {
 public:
  Observer(const kafka::KafkaOptions& ko, std::string topic,
           std::function<std::optional<int64_t>(const rd_kafka_message_t*)> due_of)
      : due_of_(std::move(due_of)) {
    kafka::KafkaOptions k = ko;
    k.extra["fetch.error.backoff.ms"] = "10";
    kafka::ConsumerOptions co;
    co.group_id = "bench-observer-" + rand_tag();
    co.topics = {std::move(topic)};
    consumer_ = std::make_unique<kafka::Consumer>(k, co);
    thread_ = std::thread([this] { run(); });
  }
  ~Observer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t seen() const { return seen_.load(); }
  std::vector<int64_t> lateness() {
    std::lock_guard lock(mu_);
    return late_;
  }

 private:
  void run() {
    while (!stop_.load()) {
      auto m = consumer_->poll(100ms);
      if (!m) continue;
      auto due = due_of_(m.get());
      if (!due) continue;
      int64_t ts = routing::timestamp_ms(m.get(), wall_ms());
      std::lock_guard lock(mu_);
      late_.push_back(ts - *due);
      ++seen_;
    }
    consumer_->close();
  }
  std::function<std::optional<int64_t>(const rd_kafka_message_t*)> due_of_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> seen_{0};
  std::mutex mu_;
  std::vector<int64_t> late_;
};

void summarise(Result& r, std::vector<int64_t> late) {
  r.seen = late.size();
  if (late.empty()) return;
  std::sort(late.begin(), late.end());
  auto at = [&](double q) {
    size_t i = std::min(late.size() - 1, static_cast<size_t>(q * static_cast<double>(late.size())));
    return static_cast<double>(late[i]);
  };
  r.p50 = at(0.50);
  r.p99 = at(0.99);
  r.max = static_cast<double>(late.back());
  r.early =
      static_cast<size_t>(std::count_if(late.begin(), late.end(), [](int64_t l) { return l < 0; }));
}

// Due times of the measured messages, spread evenly over the window.
std::vector<int64_t> measured_dues(const Options& o, int64_t start) {
  std::vector<int64_t> dues(o.measured);
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int64_t> d(0, o.window_ms);
  for (auto& x : dues) x = start + o.lead_ms + d(rng);
  return dues;
}

void wait_for(const Observer& obs, size_t n, int64_t until_ms) {
  while (obs.seen() < n && wall_ms() < until_ms) std::this_thread::sleep_for(200ms);
}

Result run_kafka(const Options& o, size_t n) {
  Result r;
  r.impl = "kafka tiers";
  r.waiting = n;
  r.measured = std::min(o.measured, n);
  kafka::KafkaOptions ko;
  ko.bootstrap = o.kafka;
  ko.client_id = "bench-scheduler";
  std::string prefix = "bench_sched_" + rand_tag() + ".";
  std::vector<schema::TopicSpec> specs;
  for (const auto& t : schema::topics(prefix))
    if (t.name.find("sms.delay.") != std::string::npos || t.name == prefix + "sms.accepted" ||
        t.name == prefix + "sms.schedule" || t.name == prefix + "sms.deliver")
      specs.push_back(t);
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  if (auto p = kafka::create_topics(ko, specs); !p.empty()) {
    std::fprintf(stderr, "cannot create %s: %s\n", p.front().topic.c_str(),
                 p.front().problem.c_str());
    std::exit(1);
  }
  auto producer = std::make_shared<kafka::Producer>(ko);
  routing::DelayTiers tiers(prefix, routing::default_tier_names());
  std::string accepted = prefix + "sms.accepted";
  auto tier_record = [&](const std::string& id, int64_t due) {
    const auto& tier = tiers.for_wait(due - wall_ms());
    return kafka::Record{
        tier.topic,
        id,
        message_value(id, due),
        {{routing::kTimeHeader, std::to_string(due)}, {routing::kTopicHeader, accepted}}};
  };

  auto load_start = std::chrono::steady_clock::now();
  {
    Bulk bulk(*producer);
    std::mt19937_64 rng(2);
    std::uniform_int_distribution<int64_t> far(2 * 3600000LL, 3 * 3600000LL);
    int64_t base = wall_ms();
    for (size_t i = 0; i < n - r.measured; ++i)
      bulk.send(tier_record("b" + std::to_string(i), base + far(rng)));
    bulk.wait();
  }
  r.load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  prometheus::Registry registry;
  routing::SchedulerOptions so;
  so.topic_prefix = prefix;
  so.node = "bench";
  auto stage = std::make_unique<routing::SchedulerStage>(ko, producer, nullptr, so, registry);
  stage->start();
  // Destroyed before its topic: librdkafka 2.0 can hang destroying a consumer
  // whose topics are gone.
  auto obs = std::make_unique<Observer>(
      ko, accepted, [](const rd_kafka_message_t* m) -> std::optional<int64_t> {
        records::v1::Message msg;
        auto v = kafka::value_of(m);
        if (!msg.ParseFromArray(v.data(), static_cast<int>(v.size())) || msg.id().empty() ||
            msg.id()[0] != 'm')
          return std::nullopt;
        return msg.schedule_at_ms();
      });
  int64_t start = wall_ms();
  auto dues = measured_dues(o, start);
  {
    Bulk bulk(*producer);
    for (size_t i = 0; i < r.measured; ++i)
      bulk.send(tier_record("m" + std::to_string(i), dues[i]));
    bulk.wait();
  }
  wait_for(*obs, r.measured, start + o.lead_ms + o.window_ms + 60000);
  std::this_thread::sleep_for(1s);
  obs->stop();
  summarise(r, obs->lateness());
  obs.reset();
  stage->stop();
  stage.reset();
  producer.reset();
  kafka::delete_topics(ko, names);
  return r;
}

Result run_pg(const Options& o, size_t n) {
  Result r;
  r.impl = "postgres poll 100ms";
  r.waiting = n;
  r.measured = std::min(o.measured, n);
  kafka::KafkaOptions ko;
  ko.bootstrap = o.kafka;
  ko.client_id = "bench-scheduler-pg";
  std::string tag = rand_tag();
  std::string topic = "bench_pg_" + tag + ".out";
  std::string table = "bench_scheduler_" + tag;
  if (auto p = kafka::create_topics(ko, {{topic, 12, 3600000, "delete"}}); !p.empty()) {
    std::fprintf(stderr, "cannot create %s: %s\n", topic.c_str(), p.front().problem.c_str());
    std::exit(1);
  }
  std::string payload_hex;
  {
    auto v = message_value("payload", 0);
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : v) {
      payload_hex += hex[c >> 4];
      payload_hex += hex[c & 15];
    }
  }
  pqxx::connection c(o.pg);
  {
    pqxx::work tx(c);
    tx.exec("CREATE TABLE " + table +
            " (id bigserial PRIMARY KEY, due_at timestamptz NOT NULL, payload bytea NOT NULL, "
            "measured boolean NOT NULL DEFAULT false)");
    tx.exec("CREATE INDEX ON " + table + " (due_at)");
    tx.commit();
  }
  auto load_start = std::chrono::steady_clock::now();
  {
    pqxx::work tx(c);
    tx.exec("INSERT INTO " + table +
            " (due_at, payload) SELECT now() + interval '2 hours' + random() * interval '1 hour', "
            "decode('" +
            payload_hex + "', 'hex') FROM generate_series(1, " + std::to_string(n - r.measured) +
            ")");
    tx.commit();
  }
  {
    pqxx::nontransaction tx(c);
    tx.exec("ANALYZE " + table);
  }
  r.load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();

  auto producer = std::make_shared<kafka::Producer>(ko);
  auto obs = std::make_unique<Observer>(ko, topic,
                                        [](const rd_kafka_message_t* m) -> std::optional<int64_t> {
                                          auto due = kafka::header_of(m, "due");
                                          if (!due || !kafka::header_of(m, "measured"))
                                            return std::nullopt;
                                          return std::stoll(*due);
                                        });
  std::atomic<bool> stop{false};
  std::thread poller([&] {
    pqxx::connection pc(o.pg);
    pc.prepare("take",
               "SELECT id, (extract(epoch FROM due_at) * 1000)::bigint, payload, measured FROM " +
                   table +
                   " WHERE due_at <= now() ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED");
    pc.prepare("done", "DELETE FROM " + table + " WHERE id = ANY($1::bigint[])");
    while (!stop.load()) {
      auto tick = std::chrono::steady_clock::now();
      for (;;) {
        pqxx::work tx(pc);
        auto rows = tx.exec_prepared("take");
        if (rows.empty()) {
          tx.commit();
          break;
        }
        std::atomic<size_t> left{rows.size()};
        std::string ids = "{";
        for (const auto& row : rows) {
          pqxx::binarystring payload(row[2]);
          kafka::Record rec{
              topic, row[0].as<std::string>(), payload.str(), {{"due", row[1].as<std::string>()}}};
          if (row[3].as<bool>()) rec.headers.emplace_back("measured", "1");
          if (ids.size() > 1) ids += ",";
          ids += row[0].as<std::string>();
          std::function<void(kafka::Record)> send = [&](kafka::Record x) {
            auto copy = x;
            producer->produce(std::move(x), [&, copy](const kafka::DeliveryResult& res) {
              if (res.ok())
                --left;
              else
                send(copy);
            });
          };
          send(std::move(rec));
        }
        while (left.load() > 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        tx.exec_prepared("done", ids + "}");
        tx.commit();
        if (rows.size() < 1000) break;
      }
      std::this_thread::sleep_until(tick + 100ms);
    }
  });

  int64_t start = wall_ms();
  auto dues = measured_dues(o, start);
  {
    pqxx::work tx(c);
    std::string arr = "{";
    for (size_t i = 0; i < dues.size(); ++i) arr += (i ? "," : "") + std::to_string(dues[i]);
    arr += "}";
    tx.exec_params(
        "INSERT INTO " + table +
            " (due_at, payload, measured) SELECT to_timestamp(x / 1000.0), decode($2, 'hex'), true "
            "FROM unnest($1::bigint[]) AS x",
        arr, payload_hex);
    tx.commit();
  }
  wait_for(*obs, r.measured, start + o.lead_ms + o.window_ms + 60000);
  std::this_thread::sleep_for(1s);
  stop = true;
  poller.join();
  obs->stop();
  summarise(r, obs->lateness());
  obs.reset();
  {
    pqxx::work tx(c);
    tx.exec("DROP TABLE " + table);
    tx.commit();
  }
  producer.reset();
  kafka::delete_topics(ko, {topic});
  return r;
}

void print(const std::vector<Result>& rs) {
  std::printf("\n%-10s %-20s %9s %9s %9s %9s %9s %9s %7s\n", "waiting", "scheduler", "load s",
              "measured", "left", "p50 ms", "p99 ms", "max ms", "early");
  for (const auto& r : rs)
    std::printf("%-10zu %-20s %9.1f %9zu %9zu %9.0f %9.0f %9.0f %7zu\n", r.waiting, r.impl.c_str(),
                r.load_s, r.measured, r.seen, r.p50, r.p99, r.max, r.early);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  log::set_level(log::Level::warn);
  std::vector<Result> results;
  for (size_t n : o.sizes) {
    if (o.run_kafka) {
      std::fprintf(stderr, "kafka tiers, %zu waiting...\n", n);
      results.push_back(run_kafka(o, n));
      print({results.back()});
    }
    if (o.run_pg) {
      std::fprintf(stderr, "postgres polling, %zu waiting...\n", n);
      results.push_back(run_pg(o, n));
      print({results.back()});
    }
  }
  std::printf("\n== lateness of due messages (record timestamp - due time) ==");
  print(results);
  return 0;
}
