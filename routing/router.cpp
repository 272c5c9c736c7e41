#include "routing/router.h"

#include <random>

#include "common/log.h"
#include "routing/group_assembler.h"
#include "routing/hash.h"
#include "schema/receipts.h"
#include "schema/status.h"
#include "schema/topics.h"

namespace sluice::routing {

const char* kind_name(Decision::Kind k) {
  switch (k) {
    case Decision::Kind::route:
      return "ok";
    case Decision::Kind::delay:
      return "delayed";
    case Decision::Kind::expired:
      return "expired";
    case Decision::Kind::no_route:
      return "no_route";
  }
  return "unknown";
}

Router::Router(std::string topic_prefix, DelayTiers tiers, std::chrono::milliseconds due_slack,
               size_t group_memory)
    : prefix_(std::move(topic_prefix)),
      accepted_topic_(schema::topic_name(prefix_, "sms.accepted")),
      deliver_topic_(schema::topic_name(prefix_, "sms.deliver")),
      tiers_(std::move(tiers)),
      due_slack_(due_slack),
      group_memory_(group_memory) {}

namespace {
bool multipart(const records::v1::Message& m) {
  return m.has_concat() && m.concat().total() > 1;
}
}  // namespace

Decision Router::fresh(const records::v1::Message& m, bool released, const RouteTable& table,
                       const CircuitBreaker& cb, int64_t now, const std::string& group) const {
  Decision d;
  if (m.expire_at_ms() > 0 && m.expire_at_ms() <= now) {
    d.kind = Decision::Kind::expired;
    return d;
  }
  if (!released && m.schedule_at_ms() > now + due_slack_.count()) {
    d.kind = Decision::Kind::delay;
    d.tier = &tiers_.for_wait(m.schedule_at_ms() - now);
    return d;
  }
  uint64_t hash = stable_hash(group.empty() ? m.id() : group);
  auto res = table.select(m.customer_id(), m.dest().addr(), hash,
                          [&](const config::Provider& p) { return cb.allows(p.id, now); });
  if (!res.choice) {
    d.kind = Decision::Kind::no_route;
    d.reason = res.reason;
    return d;
  }
  d.kind = Decision::Kind::route;
  d.provider = res.choice->provider;
  d.degraded = res.choice->degraded;
  return d;
}

void Router::remember(const std::string& key, const Decision& d, uint32_t total, int64_t now) {
  if (group_memory_ == 0) return;
  if (auto it = groups_.find(key); it != groups_.end()) {
    order_.erase(it->second.order);
    groups_.erase(it);
  }
  Remembered r;
  r.kind = d.kind;
  r.provider_id = d.provider ? d.provider->id : 0;
  r.tier_topic = d.tier ? d.tier->topic : "";
  r.reason = d.reason;
  r.total = total;
  r.seen = 1;
  r.at_ms = now;
  order_.push_back(key);
  r.order = std::prev(order_.end());
  groups_.emplace(key, std::move(r));
  while (groups_.size() > group_memory_) {
    groups_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<Decision> Router::recall(const std::string& key, const RouteTable& table,
                                       int64_t now) {
  auto it = groups_.find(key);
  if (it == groups_.end()) return std::nullopt;
  Remembered& r = it->second;
  auto forget = [&] {
    order_.erase(r.order);
    groups_.erase(it);
  };
  // The parts of a group follow each other within moments; an old entry is
  // a group that lost parts, and whatever comes now decides afresh.
  if (now - r.at_ms > 60000) {
    forget();
    return std::nullopt;
  }
  Decision d;
  d.kind = r.kind;
  d.reason = r.reason;
  if (r.kind == Decision::Kind::route) {
    d.provider = table.snapshot().provider_by_id(r.provider_id);
    if (!d.provider || !d.provider->enabled) {
      forget();
      return std::nullopt;
    }
  } else if (r.kind == Decision::Kind::delay) {
    d.tier = tiers_.by_topic(r.tier_topic);
    if (!d.tier) {
      forget();
      return std::nullopt;
    }
  }
  if (++r.seen >= r.total) forget();
  return d;
}

Decision Router::decide(const records::v1::Message& m, bool released, const RouteTable& table,
                        const CircuitBreaker& cb, int64_t now) {
  if (!multipart(m)) return fresh(m, released, table, cb, now, "");
  std::string group = group_key_of(m);
  // A released group and the same group on its way into a delay tier are
  // two different decisions.
  std::string key = released ? group + "|released" : group;
  if (auto d = recall(key, table, now)) return *d;
  Decision d = fresh(m, released, table, cb, now, group);
  remember(key, d, m.concat().total(), now);
  return d;
}

std::vector<kafka::Record> Router::records_for(const Decision& d, records::v1::Message& m,
                                               std::string_view value, Headers headers,
                                               int64_t now) const {
  std::vector<kafka::Record> out;
  bool multi = multipart(m);
  switch (d.kind) {
    case Decision::Kind::route: {
      m.set_provider_id(d.provider->id);
      m.set_provider_name(d.provider->name);
      auto topic = schema::provider_topic(prefix_, d.provider->name).name;
      out.push_back({topic, multi ? group_key_of(m) : m.dest().addr(), m.SerializeAsString(),
                     std::move(headers)});
      break;
    }
    case Decision::Kind::delay: {
      headers.emplace_back(kTimeHeader, std::to_string(m.schedule_at_ms()));
      headers.emplace_back(kTopicHeader, accepted_topic_);
      out.push_back({d.tier->topic, multi ? group_key_of(m) : m.id(), std::string(value),
                     std::move(headers)});
      break;
    }
    case Decision::Kind::expired:
      if (auto r =
              schema::internal_receipt(m, schema::kStateExpired, kErrExpired,
                                       "validity period passed before the message was routed", now))
        out.push_back(
            {deliver_topic_, schema::customer_key(m.customer_id()), r->SerializeAsString(), {}});
      break;
    case Decision::Kind::no_route:
      if (auto r =
              schema::internal_receipt(m, schema::kStateUndeliverable, kErrNoRoute, d.reason, now))
        out.push_back(
            {deliver_topic_, schema::customer_key(m.customer_id()), r->SerializeAsString(), {}});
      break;
  }
  if (!status_topic_.empty()) {
    // query_sm and cancel_sm see where the message is (schema/status.h).
    records::v1::Status st;
    switch (d.kind) {
      case Decision::Kind::route:
        st = schema::status_of(m, "queued", schema::kStateEnroute, now);
        break;
      case Decision::Kind::delay:
        st = schema::status_of(m, "scheduled", schema::kStateEnroute, now);
        break;
      case Decision::Kind::expired:
        st = schema::status_of(m, "final", schema::kStateExpired, now);
        break;
      case Decision::Kind::no_route:
        st = schema::status_of(m, "final", schema::kStateUndeliverable, now);
        break;
    }
    out.push_back({status_topic_, st.id(), st.SerializeAsString(), {}});
  }
  return out;
}

// ---- the stage ----

namespace {
std::string random_suffix() {
  std::random_device rd;
  return std::to_string(rd() % 1000000000);
}
}  // namespace

RouterStage::RouterStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
                         std::shared_ptr<config::ConfigStore> config, RouterOptions opts,
                         prometheus::Registry& registry)
    : RouterStage(
          std::move(kopts), std::move(producer), [config] { return config->current(); },
          std::move(opts), registry, nullptr) {}

RouterStage::RouterStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
                         SnapshotSource snapshots, RouterOptions opts,
                         prometheus::Registry& registry, std::shared_ptr<HealthSource> health)
    : opts_(std::move(opts)),
      snapshots_(std::move(snapshots)),
      health_(std::move(health)),
      breaker_(opts_.circuit_open_for),
      router_(opts_.topic_prefix, DelayTiers(opts_.topic_prefix, opts_.delay_tiers),
              opts_.due_slack, opts_.group_memory),
      metrics_(registry, "router"),
      routed_(counter_family(registry, "sluice_router_routed_total",
                             "Messages the router sent to a provider topic")),
      loop_(kopts, loop_options(kopts), std::move(producer),
            [this](kafka::MessagePtr m, const Ticket& t) { on_record(std::move(m), t); }) {
  if (!health_ && opts_.health_topic)
    health_ = std::make_shared<KafkaHealthSource>(
        kopts, schema::topic_name(opts_.topic_prefix, "sms.provider-health"),
        opts_.topic_prefix + "sluice-router-health-" + (opts_.node.empty() ? "node" : opts_.node) +
            "-" + random_suffix());
  if (opts_.publish_status)
    router_.set_status_topic(schema::topic_name(opts_.topic_prefix, "sms.status"));
  loop_.set_tick([this] { return tick(); });
}

HoldLoopOptions RouterStage::loop_options(const kafka::KafkaOptions&) {
  HoldLoopOptions lo;
  lo.name = "router";
  lo.consumer.group_id = opts_.topic_prefix + opts_.group_id;
  lo.consumer.topics = {schema::topic_name(opts_.topic_prefix, "sms.accepted")};
  lo.max_open = 20000;
  return lo;
}

RouterStage::~RouterStage() {
  stop();
}

void RouterStage::start() {
  if (health_) health_->start([this](const HealthSignal& s) { breaker_.on_signal(s); });
  loop_.start();
}

void RouterStage::stop() {
  loop_.stop();
  if (health_) health_->stop();
}

void RouterStage::on_record(kafka::MessagePtr m, const Ticket& t) {
  auto value = kafka::value_of(m.get());
  records::v1::Message msg;
  if (!msg.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    log::warn(
        "sms.accepted record is not a Message; skipped",
        {{"partition", std::to_string(t.tp.partition)}, {"offset", std::to_string(t.offset)}});
    metrics_.count("bad_record");
    loop_.finish(t);
    return;
  }
  if (msg.schema_version() != 1) {
    log::error("sms.accepted record of an unknown schema version; skipped",
               {{"schema_version", std::to_string(msg.schema_version())},
                {"offset", std::to_string(t.offset)}});
    metrics_.count("bad_version");
    loop_.finish(t);
    return;
  }
  auto snap = snapshots_();
  if (!table_ || table_->snapshot_ptr() != snap) table_ = std::make_shared<RouteTable>(snap);
  bool released = kafka::header_of(m.get(), kReleasedHeader).has_value();
  int64_t now = wall_ms();
  Decision d = router_.decide(msg, released, *table_, breaker_, now);
  std::vector<kafka::Record> out;
  try {
    out = router_.records_for(
        d, msg, value, headers_of(m.get(), {kTimeHeader, kTopicHeader, kReleasedHeader}), now);
  } catch (const std::exception& e) {
    // Only a provider name unusable in a topic name gets here; config
    // validation rejects those, so this is a bug worth a loud log.
    log::error("router cannot write a decision", {{"what", e.what()}});
    d.kind = Decision::Kind::no_route;
    d.reason = "provider topic unusable";
    out = router_.records_for(d, msg, value, {}, now);
  }
  metrics_.count(kind_name(d.kind));
  if (d.kind == Decision::Kind::route) {
    routed_.Add({{"provider", d.provider->name}}).Increment();
    if (d.degraded)
      log::debug("every route's circuit is open; sent to the best enabled provider",
                 {{"provider", d.provider->name}});
  }
  loop_.emit(std::move(out), {t});
}

HoldLoop::Clock::time_point RouterStage::tick() {
  auto now = HoldLoop::Clock::now();
  if (now >= next_lag_) {
    metrics_.set_lag(loop_.lag());
    next_lag_ = now + std::chrono::seconds(2);
  }
  return now + std::chrono::milliseconds(100);
}

}  // namespace sluice::routing
