#include "routing/scheduler.h"

#include <optional>

#include "common/log.h"
#include "routing/receipt_codes.h"
#include "routing/record_util.h"
#include "schema/receipts.h"
#include "schema/status.h"
#include "schema/topics.h"

namespace sluice::routing {

namespace {

prometheus::Histogram::BucketBoundaries lateness_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
}

// How long a hop decision for one key and due time is reused, so that records
// that must stay in order (the parts of a multipart message, which share key
// and due time) take the same path even when they straddle a boundary.
constexpr int64_t kStickyMs = 2000;
constexpr size_t kStickyMax = 20000;

// A FIFO tier partition is paused only while its head is further away than
// this, or when this many of its records wait in memory. Pausing for every
// head that is a few milliseconds off would throw away and fetch again what
// librdkafka has prefetched once per record in a busy tier.
constexpr int64_t kPauseHorizonMs = 2000;
constexpr size_t kMaxQueuedPerPartition = 20000;

constexpr size_t kHopsPerTurn = 500;

}  // namespace

SchedulerStage::SchedulerStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
                               std::shared_ptr<config::ConfigStore> config, SchedulerOptions opts,
                               prometheus::Registry& registry)
    : opts_(std::move(opts)),
      config_(std::move(config)),
      tiers_(opts_.topic_prefix, opts_.delay_tiers),
      schedule_topic_(schema::topic_name(opts_.topic_prefix, "sms.schedule")),
      accepted_topic_(schema::topic_name(opts_.topic_prefix, "sms.accepted")),
      deliver_topic_(schema::topic_name(opts_.topic_prefix, "sms.deliver")),
      status_topic_(schema::topic_name(opts_.topic_prefix, "sms.status")),
      metrics_(registry, "scheduler"),
      lateness_(histogram_family(registry, "sluice_scheduler_lateness_seconds",
                                 "How long after its due time the scheduler let a record out")
                    .Add({}, lateness_buckets())),
      waiting_(gauge_family(registry, "sluice_scheduler_waiting",
                            "Records waiting in a delay tier (approximate)")),
      loop_(std::move(kopts), loop_options(), std::move(producer),
            [this](kafka::MessagePtr m, const Ticket& t) { on_record(std::move(m), t); }) {
  loop_.set_tick([this] { return tick(); });
}

SchedulerStage::~SchedulerStage() {
  stop();
}

HoldLoopOptions SchedulerStage::loop_options() {
  HoldLoopOptions lo;
  lo.name = "scheduler";
  lo.consumer.group_id = opts_.topic_prefix + opts_.group_id;
  lo.consumer.topics = tiers_.topics();
  lo.consumer.topics.push_back(schedule_topic_);
  lo.consumer.on_assign = [this](const std::vector<kafka::TopicPartition>& tps) { on_assign(tps); };
  lo.consumer.on_revoke = [this](const std::vector<kafka::TopicPartition>& tps) { on_revoke(tps); };
  lo.max_open = opts_.max_near_held + 100000;
  lo.max_poll_wait = std::chrono::milliseconds(50);
  return lo;
}

void SchedulerStage::start() {
  {
    std::lock_guard lock(metrics_mu_);
    metrics_stop_ = false;
  }
  loop_.start();
  if (!metrics_thread_.joinable()) metrics_thread_ = std::thread([this] { metrics_loop(); });
}

void SchedulerStage::stop() {
  {
    std::lock_guard lock(metrics_mu_);
    metrics_stop_ = true;
  }
  metrics_cv_.notify_all();
  if (metrics_thread_.joinable()) metrics_thread_.join();
  loop_.stop();
}

void SchedulerStage::on_assign(const std::vector<kafka::TopicPartition>& tps) {
  for (const auto& tp : tps) {
    const Tier* tier = tiers_.by_topic(tp.topic);
    if (!tier || !tiers_.is_nearest(*tier)) continue;
    assigned_near_.insert(tp);
    if (near_paused_) loop_.hold(tp);
  }
}

void SchedulerStage::on_revoke(const std::vector<kafka::TopicPartition>& tps) {
  // What was held for these partitions stays uncommitted; the next owner
  // reads it again.
  for (const auto& tp : tps) {
    heads_.erase(tp);
    coarse_held_.erase(tp);
    assigned_near_.erase(tp);
    for (auto it = near_.begin(); it != near_.end();) {
      if (std::get<1>(it->first) == tp.topic && std::get<2>(it->first) == tp.partition)
        it = near_.erase(it);
      else
        ++it;
    }
    for (auto it = hops_.begin(); it != hops_.end();) {
      if (it->ticket.tp == tp) {
        std::string key(kafka::key_of(it->msg.get()));
        if (auto k = deferred_keys_.find(key); k != deferred_keys_.end() && --k->second == 0)
          deferred_keys_.erase(k);
        it = hops_.erase(it);
      } else {
        ++it;
      }
    }
  }
  count_held();
}

void SchedulerStage::on_record(kafka::MessagePtr m, const Ticket& t) {
  int64_t now = wall_ms();
  const std::string& topic = t.tp.topic;
  Held h;
  h.ticket = t;
  auto time_h = kafka::header_of(m.get(), kTimeHeader);
  auto topic_h = kafka::header_of(m.get(), kTopicHeader);
  std::optional<int64_t> due = time_h ? parse_epoch_ms(*time_h) : std::nullopt;
  if (due && topic_h && !topic_h->empty()) {
    h.due = *due;
    h.dest = *topic_h;
  } else if (topic != schedule_topic_) {
    // A tier record without the headers (not written by the router): an SMS
    // on its way to sms.accepted is still understood.
    records::v1::Message msg;
    auto v = kafka::value_of(m.get());
    if (!msg.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      log::warn("delay record without time/topic headers and not a Message; dropped",
                {{"topic", topic}, {"offset", std::to_string(t.offset)}});
      metrics_.count("bad_record");
      loop_.finish(t);
      return;
    }
    h.due = msg.schedule_at_ms();
    h.dest = accepted_topic_;
  } else {
    log::warn(
        "sms.schedule record without valid `time` and `topic` headers; dropped",
        {{"partition", std::to_string(t.tp.partition)}, {"offset", std::to_string(t.offset)}});
    metrics_.count("bad_record");
    loop_.finish(t);
    return;
  }
  h.entered = timestamp_ms(m.get(), now);
  const Tier* tier = tiers_.by_topic(topic);
  if (!tier) {  // sms.schedule: straight into its first tier (or out, if due)
    h.msg = std::move(m);
    release(std::move(h), now);
    return;
  }
  h.release = DelayTiers::release_at(*tier, h.entered, h.due);
  h.msg = std::move(m);
  if (h.release <= now) {
    release(std::move(h), now);
  } else if (tiers_.is_nearest(*tier)) {
    NearKey k{h.release, t.tp.topic, t.tp.partition, t.offset};
    near_.emplace(std::move(k), std::move(h));
    if (!near_paused_ && near_.size() >= opts_.max_near_held) set_near_paused(true);
  } else {
    auto& q = heads_[t.tp];
    q.push_back(std::move(h));
    update_hold(t.tp, q, now);
  }
  count_held();
}

void SchedulerStage::forward(Held h, int64_t now) {
  const rd_kafka_message_t* m = h.msg.get();
  std::string key(kafka::key_of(m));
  auto value = kafka::value_of(m);
  std::optional<std::string> replaced;
  if (h.dest == accepted_topic_) {
    records::v1::Message msg;
    if (msg.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      if (opts_.is_cancelled && opts_.is_cancelled(msg)) {
        metrics_.count("cancelled");
        // The gateway wrote "cancelled" when it promised; this is the fact,
        // and it survives compaction whatever was written in between.
        auto st = schema::status_of(msg, "final", schema::kStateDeleted, now);
        loop_.emit({kafka::Record{status_topic_, st.id(), st.SerializeAsString(), {}}}, {h.ticket});
        return;
      }
      if (opts_.replace && opts_.replace(msg)) {
        metrics_.count("replaced");
        replaced = msg.SerializeAsString();
      }
      if (msg.expire_at_ms() > 0 && msg.expire_at_ms() <= now) {
        metrics_.count("expired");
        std::vector<kafka::Record> out;
        if (auto r = schema::internal_receipt(
                msg, schema::kStateExpired, kErrExpired,
                "validity period passed while the message was scheduled", now))
          out.push_back({deliver_topic_,
                         schema::customer_key(msg.customer_id()),
                         r->SerializeAsString(),
                         {}});
        loop_.emit(std::move(out), {h.ticket});
        return;
      }
    }
  }
  // A record that was already behind this key's last hop when that hop was
  // decided follows it, even if it is due by now: it must not overtake.
  // (The hopped record itself comes back later than the decision, and
  // decides afresh.)
  const std::string* hop = nullptr;
  auto st = sticky_.find(key);
  if (st != sticky_.end() && st->second.due == h.due && h.entered < st->second.at &&
      now - st->second.at < kStickyMs) {
    hop = &st->second.topic;
  } else if (h.due > now) {
    if (sticky_.size() >= kStickyMax) sticky_.clear();
    auto& s = sticky_[key];
    s = Sticky{h.due, tiers_.for_wait(h.due - now).topic, now};
    hop = &s.topic;
  }
  if (!hop) {
    auto headers = headers_of(m, {kTimeHeader, kTopicHeader, kReleasedHeader});
    if (h.dest == accepted_topic_) headers.emplace_back(kReleasedHeader, std::to_string(now));
    lateness_.Observe(static_cast<double>(std::max<int64_t>(0, now - h.due)) / 1000.0);
    metrics_.count("ok");
    loop_.emit(
        {kafka::Record{h.dest, std::move(key), replaced ? std::move(*replaced) : std::string(value),
                       std::move(headers)}},
        {h.ticket});
    return;
  }
  auto headers = headers_of(m, {kTimeHeader, kTopicHeader});
  headers.emplace_back(kTimeHeader, std::to_string(h.due));
  headers.emplace_back(kTopicHeader, h.dest);
  metrics_.count("delayed");
  loop_.emit(
      {kafka::Record{*hop, std::move(key), replaced ? std::move(*replaced) : std::string(value),
                     std::move(headers)}},
      {h.ticket});
}

void SchedulerStage::release(Held h, int64_t now) {
  std::string key(kafka::key_of(h.msg.get()));
  // A key with a hop still waiting keeps its order: what comes after it
  // waits behind it, due or not.
  auto k = deferred_keys_.find(key);
  if (h.due <= now && k == deferred_keys_.end()) {
    forward(std::move(h), now);
    return;
  }
  ++deferred_keys_[key];
  hops_.push_back(std::move(h));
}

void SchedulerStage::update_hold(const kafka::TopicPartition& tp, const std::deque<Held>& q,
                                 int64_t now) {
  bool want = !q.empty() &&
              (q.front().release - now > kPauseHorizonMs || q.size() >= kMaxQueuedPerPartition);
  bool held = coarse_held_.count(tp) > 0;
  if (want == held) return;
  if (want) {
    coarse_held_.insert(tp);
    loop_.hold(tp);
  } else {
    coarse_held_.erase(tp);
    loop_.unhold(tp);
  }
}

void SchedulerStage::set_near_paused(bool paused) {
  near_paused_ = paused;
  for (const auto& tp : assigned_near_) {
    if (paused)
      loop_.hold(tp);
    else
      loop_.unhold(tp);
  }
  log::info(
      paused ? "smallest delay tier at its memory bound; paused" : "smallest delay tier resumed",
      {{"held", std::to_string(near_.size())}});
}

void SchedulerStage::count_held() {
  size_t n = near_.size() + hops_.size();
  for (const auto& [_, q] : heads_) n += q.size();
  held_count_ = n;
}

HoldLoop::Clock::time_point SchedulerStage::tick() {
  int64_t now = wall_ms();
  for (auto it = heads_.begin(); it != heads_.end();) {
    auto& q = it->second;
    while (!q.empty() && q.front().release <= now) {
      Held h = std::move(q.front());
      q.pop_front();
      release(std::move(h), now);
    }
    update_hold(it->first, q, now);
    if (q.empty())
      it = heads_.erase(it);
    else
      ++it;
  }
  while (!near_.empty() && std::get<0>(near_.begin()->first) <= now) {
    Held h = std::move(near_.begin()->second);
    near_.erase(near_.begin());
    release(std::move(h), now);
  }
  // Hops wait for due records: a hop that leaves a little late still has the
  // rest of its wait in hand, a due record that does is simply late. So under
  // a burst the due ones go first and the hops a bounded batch per turn.
  for (size_t n = 0; n < kHopsPerTurn && !hops_.empty(); ++n) {
    Held h = std::move(hops_.front());
    hops_.pop_front();
    std::string key(kafka::key_of(h.msg.get()));
    if (auto k = deferred_keys_.find(key); k != deferred_keys_.end() && --k->second == 0)
      deferred_keys_.erase(k);
    forward(std::move(h), now);
  }
  if (near_paused_ && near_.size() < opts_.max_near_held / 2) set_near_paused(false);
  count_held();

  auto steady = HoldLoop::Clock::now();
  if (steady >= next_lag_) {
    metrics_.set_lag(loop_.lag());
    next_lag_ = steady + std::chrono::seconds(2);
  }
  int64_t next = hops_.empty() ? now + 100 : now;
  if (!near_.empty()) next = std::min(next, std::get<0>(near_.begin()->first));
  for (const auto& [_, q] : heads_)
    if (!q.empty()) next = std::min(next, q.front().release);
  return steady + std::chrono::milliseconds(std::max<int64_t>(0, next - now));
}

void SchedulerStage::metrics_loop() {
  // Watermarks of paused partitions are not refreshed by fetching, so they
  // are asked for here, off the polling thread, which must not wait on the
  // broker.
  for (;;) {
    {
      std::unique_lock lock(metrics_mu_);
      if (metrics_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return metrics_stop_; }))
        return;
    }
    auto* consumer = loop_.consumer();
    if (!consumer) continue;
    std::map<std::string, double> waiting;
    for (const auto& t : tiers_.all()) waiting[t.name] = 0;
    for (const auto& [tp, pos] : loop_.positions()) {
      const Tier* tier = tiers_.by_topic(tp.topic);
      if (!tier) continue;
      int64_t lo = 0, hi = 0;
      if (rd_kafka_query_watermark_offsets(consumer->handle(), tp.topic.c_str(), tp.partition, &lo,
                                           &hi, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        continue;
      if (hi > pos) waiting[tier->name] += static_cast<double>(hi - pos);
    }
    for (const auto& [name, n] : waiting) waiting_.Add({{"tier", name}}).Set(n);
  }
}

}  // namespace sluice::routing
