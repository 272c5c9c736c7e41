// The routing stages against the real broker: multipart joins through the
// assembler and router, group timeouts, crash-safe replays, scheduled sends
// (also across a scheduler restart), expiry and the generic scheduling topic.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "kafka/admin.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "routing/assembler.h"
#include "routing/record_util.h"
#include "routing/router.h"
#include "routing/scheduler.h"
#include "schema/receipts.h"
#include "schema/topics.h"
#include "tests/routing/support.h"
#include "tests/support/env.h"

namespace sluice::routing {
namespace {

using namespace std::chrono_literals;

struct Seen {
  std::string topic, key, value;
  Headers headers;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t at_ms = 0;  // when this test read it
  int64_t ts_ms = 0;  // its Kafka timestamp
};

// Reads topics from their beginning with a group of its own.
class Reader {
 public:
  Reader(kafka::KafkaOptions ko, std::vector<std::string> topics) {
    // librdkafka 2.0's default (500 ms) would make this reader, not the
    // stages, the slowest part of the measurement.
    ko.extra["fetch.error.backoff.ms"] = "10";
    kafka::ConsumerOptions co;
    co.group_id = sluice::test::unique_name("reader");
    co.topics = std::move(topics);
    consumer_ = std::make_unique<kafka::Consumer>(ko, co);
  }
  // Everything read until `pred` holds for all read so far, or the timeout.
  std::vector<Seen>& until(const std::function<bool(const std::vector<Seen>&)>& pred,
                           std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred(seen_) && std::chrono::steady_clock::now() < deadline) pump(50ms);
    return seen_;
  }
  std::vector<Seen>& count(size_t n, std::chrono::milliseconds timeout) {
    return until([n](const std::vector<Seen>& s) { return s.size() >= n; }, timeout);
  }
  // Reads for a while, whatever comes.
  std::vector<Seen>& drain(std::chrono::milliseconds d) {
    auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) pump(50ms);
    return seen_;
  }

 private:
  void pump(std::chrono::milliseconds wait) {
    auto m = consumer_->poll(wait);
    if (!m) return;
    Seen s;
    s.topic = kafka::topic_of(m.get());
    s.key = std::string(kafka::key_of(m.get()));
    s.value = std::string(kafka::value_of(m.get()));
    s.headers = headers_of(m.get());
    s.partition = m->partition;
    s.offset = m->offset;
    s.at_ms = wall_ms();
    s.ts_ms = timestamp_ms(m.get(), -1);
    seen_.push_back(std::move(s));
  }
  std::unique_ptr<kafka::Consumer> consumer_;
  std::vector<Seen> seen_;
};

records::v1::Message parse(const std::string& v) {
  records::v1::Message m;
  EXPECT_TRUE(m.ParseFromString(v));
  return m;
}

records::v1::Deliver parse_deliver(const std::string& v) {
  records::v1::Deliver d;
  EXPECT_TRUE(d.ParseFromString(v));
  return d;
}

class RoutingKafka : public ::testing::Test {
 protected:
  void SetUp() override {
    prefix = sluice::test::unique_name("rt") + ".";
    ko.bootstrap = sluice::test::kafka_bootstrap();
    ko.client_id = "sluice-routing-test";
    auto specs = schema::topics(prefix);
    specs.push_back(schema::provider_topic(prefix, "alpha"));
    specs.push_back(schema::provider_topic(prefix, "beta"));
    specs.push_back({prefix + "generic.out", 3, 3600000, "delete"});
    // Short tiers, so that a test sees records hop through a FIFO tier.
    specs.push_back({prefix + "sms.delay.1s", 4, 3600000, "delete"});
    specs.push_back({prefix + "sms.delay.3s", 4, 3600000, "delete"});
    for (const auto& s : specs) topics.push_back(s.name);
    auto problems = kafka::create_topics(ko, specs);
    ASSERT_TRUE(problems.empty()) << problems.front().topic << ": " << problems.front().problem;
    producer = std::make_shared<kafka::Producer>(ko);
    snap = test::snapshot(
        {test::provider(1, "alpha"), test::provider(2, "beta")},
        {test::route(1, std::nullopt, "", 0, 1, 50), test::route(2, std::nullopt, "", 0, 2, 50)});
  }
  void TearDown() override {
    producer.reset();
    kafka::delete_topics(ko, topics);
  }

  std::string t(const std::string& base) const { return prefix + base; }

  void produce(kafka::Record r) {
    std::promise<kafka::DeliveryResult> done;
    auto f = done.get_future();
    producer->produce(std::move(r),
                      [&done](const kafka::DeliveryResult& res) { done.set_value(res); });
    ASSERT_EQ(f.wait_for(15s), std::future_status::ready);
    ASSERT_TRUE(f.get().ok());
  }
  void submit(const records::v1::Message& m, int32_t partition = RD_KAFKA_PARTITION_UA) {
    std::string key = m.has_concat() ? m.concat().group_key() : m.id();
    produce({t("sms.submit"), key, m.SerializeAsString(), {}, partition});
  }
  void accept(const records::v1::Message& m) {
    produce({t("sms.accepted"), m.id(), m.SerializeAsString(), {}});
  }

  std::unique_ptr<AssemblerStage> assembler(AssemblerOptions o = {}) {
    o.topic_prefix = prefix;
    o.node = "test";
    return std::make_unique<AssemblerStage>(ko, producer, nullptr, o, registry);
  }
  std::unique_ptr<RouterStage> router(std::vector<std::string> tiers = default_tier_names()) {
    RouterOptions o;
    o.topic_prefix = prefix;
    o.node = "test";
    o.delay_tiers = std::move(tiers);
    auto s = snap;
    return std::make_unique<RouterStage>(
        ko, producer, [s] { return s; }, o, registry);
  }
  std::unique_ptr<SchedulerStage> scheduler(std::vector<std::string> tiers = default_tier_names()) {
    SchedulerOptions o;
    o.topic_prefix = prefix;
    o.node = "test";
    o.delay_tiers = std::move(tiers);
    return std::make_unique<SchedulerStage>(ko, producer, nullptr, o, registry);
  }

  std::string prefix;
  kafka::KafkaOptions ko;
  std::vector<std::string> topics;
  std::shared_ptr<kafka::Producer> producer;
  std::shared_ptr<const config::Snapshot> snap;
  prometheus::Registry registry;
};

TEST_F(RoutingKafka, InterleavedPartsLeaveTheAssemblerInOrderAndTheRouterThroughOneProvider) {
  auto a = assembler();
  auto r = router();
  a->start();
  r->start();
  // Message G in three parts and message H in two, as if from two binds on
  // two gateway nodes, between single-part traffic; parts out of order.
  auto g1 = test::part("g1", "447911000001", 77, 1, 3),
       g2 = test::part("g2", "447911000001", 77, 2, 3),
       g3 = test::part("g3", "447911000001", 77, 3, 3);
  auto h1 = test::part("h1", "447911000002", 12, 1, 2),
       h2 = test::part("h2", "447911000002", 12, 2, 2);
  g1.set_gateway_node("gw-a");
  g2.set_gateway_node("gw-b");
  g3.set_gateway_node("gw-a");
  std::vector<records::v1::Message> singles;
  for (int i = 0; i < 12; ++i)
    singles.push_back(
        test::message("s" + std::to_string(i), "4479110001" + std::to_string(10 + i)));
  submit(g2);
  submit(singles[0]);
  submit(h1);
  submit(singles[1]);
  submit(g1);
  for (int i = 2; i < 8; ++i) submit(singles[i]);
  submit(h2);
  submit(singles[8]);
  submit(g3);
  for (int i = 9; i < 12; ++i) submit(singles[i]);

  Reader accepted(ko, {t("sms.accepted")});
  auto& acc = accepted.count(17, 30s);
  ASSERT_EQ(acc.size(), 17u);
  std::vector<const Seen*> g;
  for (const auto& s : acc) {
    auto m = parse(s.value);
    if (!m.has_concat()) {
      EXPECT_EQ(s.key, m.id());
      continue;
    }
    if (m.concat().ref() == 77) g.push_back(&s);
  }
  ASSERT_EQ(g.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(g[i]->key, "7|SENDER|447911000001|77");
    EXPECT_EQ(g[i]->partition, g[0]->partition);
    EXPECT_EQ(g[i]->offset, g[0]->offset + static_cast<int64_t>(i)) << "parts are written together";
    EXPECT_EQ(parse(g[i]->value).id(), "g" + std::to_string(i + 1));
  }

  Reader out(ko, {t("sms.out.alpha"), t("sms.out.beta")});
  auto& sent = out.count(17, 30s);
  ASSERT_EQ(sent.size(), 17u);
  std::vector<const Seen*> gp;
  std::set<std::string> providers_h;
  for (const auto& s : sent) {
    auto m = parse(s.value);
    EXPECT_EQ(s.topic, t("sms.out.") + m.provider_name());
    if (m.has_concat() && m.concat().ref() == 77) gp.push_back(&s);
    if (m.has_concat() && m.concat().ref() == 12) providers_h.insert(s.topic);
  }
  ASSERT_EQ(gp.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(gp[i]->topic, gp[0]->topic) << "one provider for all parts";
    EXPECT_EQ(gp[i]->partition, gp[0]->partition);
    EXPECT_EQ(gp[i]->offset, gp[0]->offset + static_cast<int64_t>(i));
    EXPECT_EQ(parse(gp[i]->value).concat().seq(), i + 1);
  }
  EXPECT_EQ(providers_h.size(), 1u);
  a->stop();
  r->stop();
}

TEST_F(RoutingKafka, AGroupMissingAPartTimesOutAndItsPartsGoOnAsTheyAre) {
  AssemblerOptions o;
  o.group_timeout = 2s;
  auto a = assembler(o);
  a->start();
  submit(test::part("x1", "447911000009", 5, 1, 3));
  submit(test::part("x3", "447911000009", 5, 3, 3));
  Reader accepted(ko, {t("sms.accepted")});
  auto& acc = accepted.count(2, 20s);
  ASSERT_EQ(acc.size(), 2u);
  EXPECT_EQ(parse(acc[0].value).id(), "x1");
  EXPECT_EQ(parse(acc[1].value).id(), "x3");
  EXPECT_EQ(acc[0].key, "7|SENDER|447911000009|5");
  EXPECT_EQ(acc[1].offset, acc[0].offset + 1);
  EXPECT_EQ(a->open_parts(), 0u);
  a->stop();
}

TEST_F(RoutingKafka, WithTheFailPolicyATimedOutGroupEndsInUndeliverableReceipts) {
  AssemblerOptions o;
  o.group_timeout = 1s;
  o.on_timeout = AssemblerOptions::OnTimeout::fail_parts;
  auto a = assembler(o);
  a->start();
  submit(test::part("y2", "447911000010", 6, 2, 2));
  Reader deliver(ko, {t("sms.deliver")});
  auto& d = deliver.count(1, 20s);
  ASSERT_EQ(d.size(), 1u);
  auto r = parse_deliver(d[0].value);
  EXPECT_EQ(r.id(), "y2");
  EXPECT_EQ(r.stat(), "UNDELIV");
  EXPECT_EQ(r.reason(), "incomplete multipart message");
  EXPECT_EQ(Reader(ko, {t("sms.accepted")}).drain(1500ms).size(), 0u);
  a->stop();
}

TEST_F(RoutingKafka, AfterARestartTheOpenGroupIsRebuiltAndNothingDoneIsSentAgain) {
  // Everything on one partition: the open group's first part, then traffic
  // finished after it (a whole group and single parts).
  auto a = assembler();
  a->start();
  submit(test::part("o1", "447911000020", 9, 1, 3), 0);
  submit(test::part("d1", "447911000021", 4, 1, 2), 0);
  submit(test::part("d2", "447911000021", 4, 2, 2), 0);
  for (int i = 0; i < 5; ++i) submit(test::message("n" + std::to_string(i), "447911000030"), 0);
  Reader accepted(ko, {t("sms.accepted")});
  ASSERT_EQ(accepted.count(7, 30s).size(), 7u);
  a->stop();  // commits only up to o1, the oldest open part

  auto b = assembler();
  b->start();
  submit(test::part("o2", "447911000020", 9, 2, 3), 0);
  submit(test::part("o3", "447911000020", 9, 3, 3), 0);
  auto& acc = accepted.count(10, 30s);
  ASSERT_GE(acc.size(), 10u);
  std::vector<std::string> ids;
  for (size_t i = 7; i < acc.size(); ++i) ids.push_back(parse(acc[i].value).id());
  EXPECT_EQ(ids, (std::vector<std::string>{"o1", "o2", "o3"}));
  EXPECT_EQ(accepted.drain(2s).size(), 10u)
      << "nothing finished before the restart is written again";
  EXPECT_EQ(b->replay_skipped(), 7);
  b->stop();
}

TEST_F(RoutingKafka, AMessageScheduledTenSecondsAheadLeavesTenSecondsLater) {
  auto r = router();
  auto s = scheduler();
  r->start();
  s->start();
  auto m = test::message("sched1", "447911000040");
  int64_t due = wall_ms() + 10000;
  m.set_schedule_at_ms(due);
  accept(m);
  Reader out(ko, {t("sms.out.alpha"), t("sms.out.beta")});
  auto& sent = out.count(1, 20s);
  ASSERT_EQ(sent.size(), 1u);
  // It leaves when the router writes it to the provider topic.
  EXPECT_GE(sent[0].ts_ms, due);
  EXPECT_LE(sent[0].ts_ms, due + 1000) << "late by " << sent[0].ts_ms - due << " ms";
  EXPECT_LE(sent[0].at_ms, due + 1500) << "read " << sent[0].at_ms - due << " ms after its time";
  EXPECT_EQ(parse(sent[0].value).id(), "sched1");
  s->stop();
  r->stop();
}

TEST_F(RoutingKafka, AScheduledMessageStillLeavesOnTimeAcrossASchedulerRestart) {
  auto r = router();
  auto s = scheduler();
  r->start();
  s->start();
  auto m = test::message("sched2", "447911000041");
  int64_t due = wall_ms() + 10000;
  m.set_schedule_at_ms(due);
  accept(m);
  // Until the scheduler holds it, then a new scheduler in its place.
  auto deadline = std::chrono::steady_clock::now() + 8s;
  while (s->held() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(s->held(), 1u);
  s->stop();
  s.reset();
  auto s2 = scheduler();
  s2->start();
  Reader out(ko, {t("sms.out.alpha"), t("sms.out.beta")});
  auto& sent = out.count(1, 20s);
  ASSERT_EQ(sent.size(), 1u);
  // It leaves when the router writes it to the provider topic.
  EXPECT_GE(sent[0].ts_ms, due);
  EXPECT_LE(sent[0].ts_ms, due + 1000) << "late by " << sent[0].ts_ms - due << " ms";
  EXPECT_LE(sent[0].at_ms, due + 1500) << "read " << sent[0].at_ms - due << " ms after its time";
  EXPECT_EQ(out.drain(1500ms).size(), 1u) << "sent once";
  s2->stop();
  r->stop();
}

TEST_F(RoutingKafka, ExpiredMessagesGetExpiredReceiptsAndNeverReachAProvider) {
  auto r = router();
  auto s = scheduler();
  r->start();
  s->start();
  int64_t now = wall_ms();
  auto late = test::message("exp1", "447911000050");
  late.set_expire_at_ms(now - 1000);
  accept(late);
  // Due in 3 s, but its validity ends in 1.5 s: it expires while it waits.
  auto waiting = test::message("exp2", "447911000051");
  waiting.set_schedule_at_ms(now + 3000);
  waiting.set_expire_at_ms(now + 1500);
  accept(waiting);
  Reader deliver(ko, {t("sms.deliver")});
  auto& d = deliver.count(2, 20s);
  ASSERT_EQ(d.size(), 2u);
  std::map<std::string, records::v1::Deliver> by_id;
  for (const auto& x : d) {
    auto rec = parse_deliver(x.value);
    EXPECT_EQ(x.key, "7");
    by_id[rec.id()] = rec;
  }
  ASSERT_EQ(by_id.count("exp1"), 1u);
  ASSERT_EQ(by_id.count("exp2"), 1u);
  EXPECT_EQ(by_id["exp1"].stat(), "EXPIRED");
  EXPECT_EQ(by_id["exp2"].stat(), "EXPIRED");
  EXPECT_EQ(by_id["exp2"].message_state(), schema::kStateExpired);
  EXPECT_EQ(Reader(ko, {t("sms.out.alpha"), t("sms.out.beta")}).drain(2s).size(), 0u);
  s->stop();
  r->stop();
}

TEST_F(RoutingKafka, AMessageWithoutARouteEndsInAnUndeliverableReceipt) {
  snap = test::snapshot({test::provider(1, "alpha")}, {test::route(1, std::nullopt, "44", 0, 1)});
  auto r = router();
  r->start();
  accept(test::message("nr1", "12025550100"));
  Reader deliver(ko, {t("sms.deliver")});
  auto& d = deliver.count(1, 20s);
  ASSERT_EQ(d.size(), 1u);
  auto rec = parse_deliver(d[0].value);
  EXPECT_EQ(rec.stat(), "UNDELIV");
  EXPECT_EQ(rec.reason(), "no route");
  r->stop();
}

TEST_F(RoutingKafka, TheGenericSchedulingTopicDeliversARecordAtItsTimeUnchanged) {
  auto s = scheduler();
  s->start();
  int64_t due = wall_ms() + 3000;
  std::string value("\x00\x01binary\xff", 9);
  produce({t("sms.schedule"),
           "key-1",
           value,
           {{"x-trace", "abc"},
            {"time", std::to_string(due)},
            {"topic", t("generic.out")},
            {"x-more", ""}}});
  produce({t("sms.schedule"), "key-2", "now", {{"time", "1"}, {"topic", t("generic.out")}}});
  Reader out(ko, {t("generic.out")});
  auto& got = out.count(2, 20s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, "key-2");
  EXPECT_EQ(got[0].value, "now");
  const Seen& s1 = got[1];
  EXPECT_EQ(s1.key, "key-1");
  EXPECT_EQ(s1.value, value);
  EXPECT_EQ(s1.headers, (Headers{{"x-trace", "abc"}, {"x-more", ""}}));
  EXPECT_GE(s1.ts_ms, due);
  EXPECT_LE(s1.ts_ms, due + 1000) << "late by " << s1.ts_ms - due << " ms";
  s->stop();
}

TEST_F(RoutingKafka, ABusyFifoTierLetsEveryRecordOutOnTimeAndInOrder) {
  // Tiers of 1 s and 3 s: a record due in 4-6 s enters the 3 s tier (its
  // head waited for, the partition paused while it is far), then the 1 s
  // tier, then leaves. 300 records, 30 of them for one key in due order.
  auto s = scheduler({"1s", "3s"});
  s->start();
  int64_t base = wall_ms() + 4000;
  std::map<std::string, int64_t> due_of;
  for (int i = 0; i < 300; ++i) {
    std::string key = i % 10 == 0 ? "one-key" : "k" + std::to_string(i);
    int64_t due = base + i * 7;
    std::string value = "v" + std::to_string(i);
    due_of[value] = due;
    produce({t("sms.schedule"),
             key,
             value,
             {{"time", std::to_string(due)}, {"topic", t("generic.out")}}});
  }
  Reader out(ko, {t("generic.out")});
  auto& got = out.count(300, 30s);
  ASSERT_EQ(got.size(), 300u);
  int64_t worst = 0;
  std::vector<int64_t> one_key;
  for (const auto& g : got) {
    int64_t late = g.ts_ms - due_of[g.value];
    EXPECT_GE(late, 0) << g.value;
    worst = std::max(worst, late);
    if (g.key == "one-key") one_key.push_back(due_of[g.value]);
  }
  EXPECT_LE(worst, 1000);
  std::printf("worst lateness over 300 records: %lld ms\n", static_cast<long long>(worst));
  EXPECT_TRUE(std::is_sorted(one_key.begin(), one_key.end()));
  EXPECT_EQ(one_key.size(), 30u);
  s->stop();
}

TEST_F(RoutingKafka, AScheduledMultipartMessageReachesItsProviderInOrder) {
  auto r = router({"1s", "3s"});
  auto s = scheduler({"1s", "3s"});
  r->start();
  s->start();
  int64_t due = wall_ms() + 5000;
  for (uint32_t seq = 1; seq <= 3; ++seq) {
    auto p = test::part("mp" + std::to_string(seq), "447911000060", 31, seq, 3);
    p.set_schedule_at_ms(due);
    produce({t("sms.accepted"), p.concat().group_key(), p.SerializeAsString(), {}});
  }
  Reader out(ko, {t("sms.out.alpha"), t("sms.out.beta")});
  auto& sent = out.count(3, 20s);
  ASSERT_EQ(sent.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sent[i].topic, sent[0].topic);
    EXPECT_EQ(sent[i].offset, sent[0].offset + static_cast<int64_t>(i));
    EXPECT_EQ(parse(sent[i].value).concat().seq(), i + 1);
    EXPECT_GE(sent[i].ts_ms, due);
    EXPECT_LE(sent[i].ts_ms, due + 1000);
  }
  s->stop();
  r->stop();
}

TEST_F(RoutingKafka, TheStagesCountWhatTheyDo) {
  auto a = assembler();
  auto r = router();
  a->start();
  r->start();
  submit(test::message("c1", "447911000070"));
  submit(test::message("c2", "447911000071"));
  ASSERT_EQ(Reader(ko, {t("sms.out.alpha"), t("sms.out.beta")}).count(2, 20s).size(), 2u);
  auto value = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    double v = 0;
    for (const auto& f : registry.Collect()) {
      if (f.name != name) continue;
      for (const auto& m : f.metric) {
        bool match = true;
        for (const auto& [k, want] : labels) {
          bool found = false;
          for (const auto& l : m.label) found |= l.name == k && l.value == want;
          match &= found;
        }
        if (match) v += m.counter.value + m.gauge.value;
      }
    }
    return v;
  };
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (value("sluice_router_routed_total", {}) < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(value("sluice_stage_records_total", {{"stage", "assembler"}, {"result", "ok"}}), 2);
  EXPECT_EQ(value("sluice_stage_records_total", {{"stage", "router"}, {"result", "ok"}}), 2);
  EXPECT_EQ(value("sluice_router_routed_total", {}), 2);
  r->stop();
  a->stop();
}

TEST_F(RoutingKafka, AnUnhealthySignalOpensTheCircuitAndTrafficFailsOver) {
  snap = test::snapshot({test::provider(1, "alpha"), test::provider(2, "beta")},
                        {test::route(1, std::nullopt, "", 0, 1, 100, 0),
                         test::route(2, std::nullopt, "", 0, 2, 100, 1)});
  auto r = router();
  r->start();
  produce({t("sms.provider-health"), "1", encode_health({1, false, wall_ms(), "binds down"}), {}});
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (r->breaker().allows(1, wall_ms()) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_FALSE(r->breaker().allows(1, wall_ms()));
  accept(test::message("hc1", "447911000080"));
  Reader out(ko, {t("sms.out.alpha"), t("sms.out.beta")});
  auto& first = out.count(1, 20s);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].topic, t("sms.out.beta")) << "failed over while alpha's circuit is open";
  produce({t("sms.provider-health"), "1", encode_health({1, true, wall_ms(), ""}), {}});
  deadline = std::chrono::steady_clock::now() + 20s;
  while (!r->breaker().allows(1, wall_ms()) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  accept(test::message("hc2", "447911000081"));
  auto& both = out.count(2, 20s);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[1].topic, t("sms.out.alpha")) << "back once healthy";
  r->stop();
}

}  // namespace
}  // namespace sluice::routing
