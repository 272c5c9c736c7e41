#include "dlr/dlr_stage.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "common/log.h"
#include "dlr/coalescer.h"
#include "dlr/state_reader.h"
#include "kafka/consumer.h"
#include "kafka/stage_loop.h"
#include "records.pb.h"
#include "schema/receipts.h"
#include "schema/topics.h"

namespace sluice::dlr {

namespace {

// Runs the second half of an output (the state writes) off the producer's
// delivery thread and off the polling thread: the polling thread may be
// waiting for exactly these records while it finishes a revoked partition.
class Worker {
 public:
  Worker() : thread_([this] { run(); }) {}
  ~Worker() { stop(); }
  void post(std::function<void()> fn) {
    std::lock_guard lock(mu_);
    if (stop_) return;
    queue_.push_back(std::move(fn));
    cv_.notify_one();
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

struct Pending {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key, value;
  kafka::StageLoop::Done done;
};

}  // namespace

CorrelatorOptions DlrOptions::correlator() const {
  CorrelatorOptions c;
  c.unmatched_hold = unmatched_hold;
  c.cross_wait = cross_wait;
  c.max_window = max_window;
  c.late_grace = late_grace;
  c.done_linger = done_linger;
  c.max_entries = max_entries;
  c.publish_status = publish_status;
  return c;
}

namespace {

// One input topic per lane, each lane its own consumer group, polling thread
// and correlator. A group balances partition counts over all the topics it
// reads, not per topic: with one group, a second instance got every
// sms.dlr-parts and sms.mo partition and no sms.provider-events partition,
// leaving the whole join on the first one.
struct Lane {
  enum class Kind { join, parts, mo };
  Lane(Kind k, std::string t, std::string g, const CorrelatorOptions& co, SnapshotFn snapshot,
       DlrMetrics* metrics, std::chrono::milliseconds hold, size_t max_held,
       std::chrono::milliseconds status_hold)
      : kind(k),
        topic(std::move(t)),
        group(std::move(g)),
        corr(co, std::move(snapshot), metrics),
        coalescer(hold, max_held, status_hold) {}
  Kind kind;
  std::string topic, group;
  DlrCorrelator corr;          // this lane's polling thread only
  WriteCoalescer coalescer;    // this lane's polling thread only
  int64_t next_corr_tick = 0;  // ms
  std::unique_ptr<kafka::StageLoop> loop;
  std::deque<Pending> deferred;  // records that came before any configuration
  std::atomic<size_t> entries{0};
  bool waiting_logged = false;
  DlrCorrelator::Domain domain() const {
    return kind == Kind::parts ? DlrCorrelator::Domain::parts : DlrCorrelator::Domain::join;
  }
};

}  // namespace

struct DlrStage::Impl : std::enable_shared_from_this<Impl> {
  Impl(kafka::KafkaOptions k, std::shared_ptr<kafka::Producer> p, SnapshotFn s, DlrOptions o,
       prometheus::Registry& registry)
      : kopts(std::move(k)),
        producer(std::move(p)),
        snapshot(std::move(s)),
        opts(std::move(o)),
        metrics(registry),
        state_topic(schema::topic_name(opts.topic_prefix, "sms.dlr-state")),
        deliver_topic(schema::topic_name(opts.topic_prefix, "sms.deliver")),
        status_topic(schema::topic_name(opts.topic_prefix, "sms.status")),
        parts_topic(schema::topic_name(opts.topic_prefix, "sms.dlr-parts")) {
    std::string group = opts.group_id.empty() ? opts.topic_prefix + "sluice-dlr" : opts.group_id;
    auto co = opts.correlator();
    // Only the join sees a record and its overwrite close together.
    lanes.push_back(std::make_unique<Lane>(
        Lane::Kind::join, schema::topic_name(opts.topic_prefix, "sms.provider-events"), group, co,
        snapshot, &metrics, opts.coalesce_hold, opts.max_held, opts.coalesce_status_hold));
    lanes.push_back(std::make_unique<Lane>(Lane::Kind::parts, parts_topic, group + "-parts", co,
                                           snapshot, &metrics, 0ms, 0, 0ms));
    lanes.push_back(std::make_unique<Lane>(Lane::Kind::mo,
                                           schema::topic_name(opts.topic_prefix, "sms.mo"),
                                           group + "-mo", co, snapshot, &metrics, 0ms, 0, 0ms));
  }

  void start();
  void stop();
  void handle(Lane& lane, const rd_kafka_message_t& m, kafka::StageLoop::Done done);
  void process(Lane& lane, Pending& p);
  void ship(Lane& lane, Output out, kafka::StageLoop::Done done);
  void offer(Lane& lane, Output out, kafka::StageLoop::Done done, int64_t now);
  void ship_all(Lane& lane, std::vector<Shipment> shipments);
  void on_assign(Lane& lane, const std::vector<kafka::TopicPartition>& tps);
  void on_revoke(Lane& lane, const std::vector<kafka::TopicPartition>& tps);
  void tick(Lane& lane);
  void check_topics(StateReader& reader);
  int64_t lag() const;
  size_t entries() const;

  kafka::KafkaOptions kopts;
  std::shared_ptr<kafka::Producer> producer;
  SnapshotFn snapshot;
  DlrOptions opts;
  DlrMetrics metrics;
  std::string state_topic, deliver_topic, status_topic, parts_topic;
  std::shared_ptr<config::ConfigStore> store;  // kept alive when given
  std::vector<std::unique_ptr<Lane>> lanes;
  Worker worker;
};

void DlrStage::Impl::start() {
  {
    StateReader reader(kopts);
    check_topics(reader);
  }
  for (auto& lp : lanes) {
    Lane& lane = *lp;
    kafka::StageLoopOptions so;
    so.name = "dlr";
    so.commit_interval = opts.commit_interval;
    so.tick_interval = opts.tick_interval;
    if (lane.kind == Lane::Kind::join && opts.coalesce_hold.count() > 0) {
      // Held outputs are in flight for the loop: room for them besides the
      // usual bound, and a tick often enough to end holds on time.
      so.max_in_flight += opts.max_held;
      so.tick_interval = std::min<std::chrono::milliseconds>(opts.tick_interval, 50ms);
    }
    so.consumer.group_id = lane.group;
    so.consumer.topics = {lane.topic};
    if (lane.kind != Lane::Kind::mo) {
      // Restoring runs inside the rebalance callback, before any record of
      // the partition is handed over: a record never meets a half-loaded join.
      so.consumer.on_assign = [this, &lane](const std::vector<kafka::TopicPartition>& tps) {
        on_assign(lane, tps);
      };
      so.consumer.on_revoke = [this, &lane](const std::vector<kafka::TopicPartition>& tps) {
        on_revoke(lane, tps);
      };
    }
    lane.loop = std::make_unique<kafka::StageLoop>(
        kopts, so, producer,
        [this, &lane](const rd_kafka_message_t& m, kafka::StageLoop::Done done) {
          handle(lane, m, std::move(done));
        });
    lane.loop->set_tick([this, &lane](kafka::Consumer&) { tick(lane); });
    lane.loop->set_flush([this, &lane] { ship_all(lane, lane.coalescer.flush()); });
  }
  for (auto& lane : lanes) lane->loop->start();
  log::info("dlr stage started", {{"group", lanes.front()->group}, {"node", opts.node}});
}

void DlrStage::Impl::check_topics(StateReader& reader) {
  // Joins only work when a Sent and its receipt share a partition number in
  // sms.provider-events and its changelog; say so loudly when they cannot.
  auto timeout = std::chrono::seconds(5);
  int events = reader.partition_count(lanes[0]->topic, timeout);
  int state = reader.partition_count(state_topic, timeout);
  int parts = reader.partition_count(parts_topic, timeout);
  if (events < 0 || state < 0 || parts < 0)
    log::error("dlr topics missing (run `sluice topics --create`)",
               {{"provider_events", std::to_string(events)},
                {"dlr_state", std::to_string(state)},
                {"dlr_parts", std::to_string(parts)}});
  else if (state < events || state < parts)
    log::error(
        "sms.dlr-state has fewer partitions than the topics it backs; join state will be lost",
        {{"provider_events", std::to_string(events)},
         {"dlr_state", std::to_string(state)},
         {"dlr_parts", std::to_string(parts)}});
}

void DlrStage::Impl::stop() {
  for (auto& lane : lanes)
    if (lane->loop) lane->loop->stop();
  worker.stop();
}

int64_t DlrStage::Impl::lag() const {
  int64_t total = 0;
  for (const auto& lane : lanes)
    if (lane->loop) total += lane->loop->lag();
  return total;
}

size_t DlrStage::Impl::entries() const {
  size_t total = 0;
  for (const auto& lane : lanes) total += lane->entries.load();
  return total;
}

void DlrStage::Impl::handle(Lane& lane, const rd_kafka_message_t& m, kafka::StageLoop::Done done) {
  Pending p;
  p.topic = kafka::topic_of(&m);
  p.partition = m.partition;
  p.offset = m.offset;
  p.key = std::string(kafka::key_of(&m));
  p.value = std::string(kafka::value_of(&m));
  p.done = std::move(done);
  if (!lane.deferred.empty() || !snapshot()) {
    // Without configuration nobody knows who wants which receipt or owns
    // which number: wait (uncommitted) rather than guess.
    if (!lane.waiting_logged)
      log::warn("dlr: no configuration loaded yet; records wait", {{"topic", lane.topic}});
    lane.waiting_logged = true;
    lane.deferred.push_back(std::move(p));
    return;
  }
  process(lane, p);
}

void DlrStage::Impl::process(Lane& lane, Pending& p) {
  int64_t now = wall_ms();
  Output out;
  auto invalid = [&](const char* what) {
    log::warn("dlr: undecodable record skipped", {{"topic", p.topic},
                                                  {"partition", std::to_string(p.partition)},
                                                  {"offset", std::to_string(p.offset)},
                                                  {"what", what}});
    metrics.record("invalid");
  };
  switch (lane.kind) {
    case Lane::Kind::join: {
      records::v1::ProviderEvent ev;
      if (!ev.ParseFromString(p.value))
        invalid("not a ProviderEvent");
      else if (ev.schema_version() > 1)
        invalid("ProviderEvent of an unknown schema version");
      else if (ev.has_sent())
        out = lane.corr.on_sent(p.partition, p.key, std::move(*ev.mutable_sent()), now);
      else if (ev.has_receipt())
        out = lane.corr.on_receipt(p.partition, p.key, std::move(*ev.mutable_receipt()), now);
      else
        invalid("empty ProviderEvent");
      break;
    }
    case Lane::Kind::mo: {
      rec::ProviderDeliver pd;
      if (pd.ParseFromString(p.value))
        out = lane.corr.on_mo(pd, now);
      else
        invalid("not a ProviderDeliver");
      break;
    }
    case Lane::Kind::parts: {
      rec::DlrState st;
      if (st.ParseFromString(p.value))
        out = lane.corr.on_part(p.partition, p.key, st, now);
      else
        invalid("not a DlrState");
      break;
    }
  }
  offer(lane, std::move(out), std::move(p.done), now);
  lane.entries = lane.corr.entries();
}

void DlrStage::Impl::offer(Lane& lane, Output out, kafka::StageLoop::Done done, int64_t now) {
  uint64_t saved = lane.coalescer.saved();
  ship_all(lane, lane.coalescer.offer(std::move(out), std::move(done), now));
  if (lane.coalescer.saved() > saved) metrics.coalesced(lane.coalescer.saved() - saved);
}

void DlrStage::Impl::ship_all(Lane& lane, std::vector<Shipment> shipments) {
  for (auto& s : shipments) {
    kafka::StageLoop::Done done;
    if (s.dones.size() == 1) {
      done = std::move(s.dones.front());
    } else if (!s.dones.empty()) {
      done = [dones = std::move(s.dones)] {
        for (const auto& d : dones) d();
      };
    } else {
      done = [] {};
    }
    ship(lane, std::move(s.out), std::move(done));
  }
}

void DlrStage::Impl::ship(Lane& lane, Output out, kafka::StageLoop::Done done) {
  std::vector<kafka::Record> first, second;
  for (const auto& d : out.delivers)
    first.push_back({deliver_topic, schema::customer_key(d.customer_id()), d.SerializeAsString()});
  for (const auto& [group_key, st] : out.parts)
    first.push_back({parts_topic, group_key, st.SerializeAsString()});
  for (const auto& s : out.statuses) first.push_back({status_topic, s.id(), s.SerializeAsString()});
  for (const auto& w : out.state) {
    kafka::Record r;
    r.topic = state_topic;
    r.key = w.key;
    r.partition = w.partition;
    if (w.value)
      r.value = w.value->SerializeAsString();
    else
      r.tombstone = true;
    second.push_back(std::move(r));
  }
  if (first.empty()) {
    lane.loop->emit(std::move(second), std::move(done));
    return;
  }
  // The changelog may say "done" only once the customer's receipt is safe;
  // a crash in between repeats the receipt rather than losing it.
  std::weak_ptr<Impl> weak = weak_from_this();
  kafka::StageLoop* loop = lane.loop.get();
  auto rest = std::make_shared<std::vector<kafka::Record>>(std::move(second));
  loop->emit(std::move(first), [weak, loop, rest, done = std::move(done)] {
    auto self = weak.lock();
    if (!self) return;
    self->worker.post([weak, loop, rest, done] {
      if (auto s = weak.lock()) loop->emit(std::move(*rest), done);
    });
  });
}

void DlrStage::Impl::on_assign(Lane& lane, const std::vector<kafka::TopicPartition>& tps) {
  std::set<int32_t> mine;
  for (const auto& tp : tps)
    if (tp.topic == lane.topic) mine.insert(tp.partition);
  if (mine.empty()) return;
  auto started = std::chrono::steady_clock::now();
  auto domain = lane.domain();
  for (int32_t p : mine) lane.corr.drop(domain, p);
  std::unordered_map<int32_t, std::unordered_map<std::string, std::string>> latest;
  StateReader reader(kopts);
  bool complete = reader.read(
      state_topic, std::vector<int32_t>(mine.begin(), mine.end()), opts.restore_timeout,
      [&](int32_t p, std::string_view key, const std::string_view* value) {
        bool wanted = domain == DlrCorrelator::Domain::join ? DlrCorrelator::is_join_key(key)
                                                            : DlrCorrelator::is_parts_key(key);
        if (!wanted || !mine.contains(p)) return;
        if (!value || value->empty())
          latest[p].erase(std::string(key));
        else
          latest[p].insert_or_assign(std::string(key), std::string(*value));
      });
  int64_t now = wall_ms();
  size_t loaded = 0, bad = 0;
  for (const auto& [p, kv] : latest) {
    for (const auto& [key, value] : kv) {
      rec::DlrState st;
      if (st.ParseFromString(value) && lane.corr.restore(domain, p, key, st, now))
        ++loaded;
      else
        ++bad;
    }
  }
  lane.entries = lane.corr.entries();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  log::write(complete ? log::Level::info : log::Level::error,
             complete ? "dlr join state restored" : "dlr join state restored only in part",
             {{"topic", lane.topic},
              {"partitions", std::to_string(mine.size())},
              {"entries", std::to_string(loaded)},
              {"malformed", std::to_string(bad)},
              {"ms", std::to_string(took.count())}});
}

void DlrStage::Impl::on_revoke(Lane& lane, const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    if (tp.topic != lane.topic) continue;
    lane.corr.drop(lane.domain(), tp.partition);
    // The next owner reads them again: their offsets were not committed.
    std::erase_if(lane.deferred, [&](const Pending& p) { return p.partition == tp.partition; });
  }
  lane.entries = lane.corr.entries();
}

void DlrStage::Impl::tick(Lane& lane) {
  if (!lane.deferred.empty() && snapshot()) {
    log::info("dlr: configuration loaded; processing waiting records",
              {{"topic", lane.topic}, {"records", std::to_string(lane.deferred.size())}});
    lane.waiting_logged = false;
    while (!lane.deferred.empty()) {
      Pending p = std::move(lane.deferred.front());
      lane.deferred.pop_front();
      process(lane, p);
    }
  }
  int64_t now = wall_ms();
  ship_all(lane, lane.coalescer.due(now));
  if (now >= lane.next_corr_tick) {
    lane.next_corr_tick = now + opts.tick_interval.count();
    Output out = lane.corr.tick(now);
    if (!out.empty()) offer(lane, std::move(out), nullptr, now);
  }
  lane.entries = lane.corr.entries();
  // One lane speaks for the stage's gauges.
  if (lane.kind == Lane::Kind::join) {
    metrics.set_entries(static_cast<double>(entries()));
    metrics.set_lag(static_cast<double>(lag()));
  }
}

DlrStage::DlrStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
                   std::shared_ptr<config::ConfigStore> config, DlrOptions opts,
                   prometheus::Registry& registry)
    : DlrStage(std::move(kopts), std::move(producer),
               SnapshotFn([config]() -> std::shared_ptr<const config::Snapshot> {
                 if (config->state() == config::State::empty) return nullptr;
                 return config->current();
               }),
               std::move(opts), registry) {
  impl_->store = std::move(config);
}

DlrStage::DlrStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
                   SnapshotFn snapshot, DlrOptions opts, prometheus::Registry& registry)
    : impl_(std::make_shared<Impl>(std::move(kopts), std::move(producer), std::move(snapshot),
                                   std::move(opts), registry)) {}

DlrStage::~DlrStage() {
  stop();
}

void DlrStage::start() {
  impl_->start();
}
void DlrStage::stop() {
  impl_->stop();
}
int64_t DlrStage::lag() const {
  return impl_->lag();
}
size_t DlrStage::join_entries() const {
  return impl_->entries();
}
bool DlrStage::running() const {
  for (const auto& lane : impl_->lanes)
    if (!lane->loop || !lane->loop->running()) return false;
  return true;
}

}  // namespace sluice::dlr
