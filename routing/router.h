#pragma once
// The router stage (`sluice router`): reads sms.accepted and, per message,
//  * past its expire_at_ms: an EXPIRED receipt to sms.deliver (when the
//    customer asked for one), nothing to any provider;
//  * not yet due (schedule_at_ms ahead, and not released by the scheduler):
//    into a delay tier (routing/tiers.h), carrying headers time and topic;
//  * else to sms.out.<provider> of the route chosen (routing/route_table.h),
//    or, with no usable route, an UNDELIV receipt (err 001) to sms.deliver.
// Routes are read from the config snapshot per message, so changes apply at
// once. All parts of a multipart message take the same decision: they come
// one after another from the assembler, the first decides and the rest
// follow it (a small memory by group key), and the weighted choice hashes the
// group key, so even without the memory they agree.
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "kafka/options.h"
#include "kafka/producer.h"
#include "routing/health.h"
#include "routing/hold_loop.h"
#include "routing/metrics.h"
#include "routing/receipt_codes.h"
#include "routing/record_util.h"
#include "routing/route_table.h"
#include "routing/tiers.h"
#include "schema/records.pb.h"

namespace prometheus {
class Registry;
}

namespace sluice::routing {

using SnapshotSource = std::function<std::shared_ptr<const config::Snapshot>()>;

struct RouterOptions {
  std::string topic_prefix;
  std::string node;
  std::string group_id = "sluice-router";  // topic_prefix goes before it
  std::vector<std::string> delay_tiers = default_tier_names();
  // Follow <prefix>sms.provider-health (routing/health.h). Off: the providers'
  // enabled flags alone decide.
  bool health_topic = true;
  std::chrono::milliseconds circuit_open_for{30000};
  // A message due within this is routed at once rather than delayed.
  std::chrono::milliseconds due_slack{100};
  size_t group_memory = 20000;
  // Write each message's state to <prefix>sms.status for query_sm/cancel_sm.
  bool publish_status = true;
};

struct Decision {
  enum class Kind { route, delay, expired, no_route };
  Kind kind = Kind::no_route;
  const config::Provider* provider = nullptr;  // route
  bool degraded = false;                       // route: every circuit was open
  const Tier* tier = nullptr;                  // delay
  std::string reason;                          // no_route
};
const char* kind_name(Decision::Kind k);

// The router's per-message logic, without Kafka.
class Router {
 public:
  Router(std::string topic_prefix, DelayTiers tiers, std::chrono::milliseconds due_slack,
         size_t group_memory);

  // released: the scheduler let it out (header sluice-released-at).
  Decision decide(const records::v1::Message& m, bool released, const RouteTable& table,
                  const CircuitBreaker& cb, int64_t now_ms);
  // What to write for a decision; m is updated (provider) for a route.
  std::vector<kafka::Record> records_for(const Decision& d, records::v1::Message& m,
                                         std::string_view value, Headers headers,
                                         int64_t now_ms) const;

  const DelayTiers& tiers() const { return tiers_; }
  // Also write each message's state to this topic (sms.status); empty: don't.
  void set_status_topic(std::string topic) { status_topic_ = std::move(topic); }

 private:
  Decision fresh(const records::v1::Message& m, bool released, const RouteTable& table,
                 const CircuitBreaker& cb, int64_t now_ms, const std::string& group) const;
  struct Remembered {
    Decision::Kind kind;
    int64_t provider_id = 0;
    std::string tier_topic;
    std::string reason;
    uint32_t total = 0, seen = 0;
    int64_t at_ms = 0;
    std::list<std::string>::iterator order;
  };
  void remember(const std::string& key, const Decision& d, uint32_t total, int64_t now_ms);
  std::optional<Decision> recall(const std::string& key, const RouteTable& table, int64_t now_ms);

  std::string prefix_, accepted_topic_, deliver_topic_, status_topic_;
  DelayTiers tiers_;
  std::chrono::milliseconds due_slack_;
  size_t group_memory_;
  std::unordered_map<std::string, Remembered> groups_;
  std::list<std::string> order_;  // oldest first
};

class RouterStage {
 public:
  RouterStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
              std::shared_ptr<config::ConfigStore> config, RouterOptions opts,
              prometheus::Registry& registry);
  // Snapshots from a function, and health signals from the caller's source
  // (none: only the health topic, when opts.health_topic says so).
  RouterStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
              SnapshotSource snapshots, RouterOptions opts, prometheus::Registry& registry,
              std::shared_ptr<HealthSource> health = nullptr);
  ~RouterStage();

  void start();
  void stop();
  int64_t lag() const { return loop_.lag(); }
  CircuitBreaker& breaker() { return breaker_; }

 private:
  HoldLoopOptions loop_options(const kafka::KafkaOptions& kopts);
  void on_record(kafka::MessagePtr m, const Ticket& t);
  HoldLoop::Clock::time_point tick();

  RouterOptions opts_;
  SnapshotSource snapshots_;
  std::shared_ptr<HealthSource> health_;
  CircuitBreaker breaker_;
  Router router_;
  StageMetrics metrics_;
  prometheus::Family<prometheus::Counter>& routed_;
  HoldLoop loop_;
  std::shared_ptr<const RouteTable> table_;  // polling thread only
  HoldLoop::Clock::time_point next_lag_{};
};

}  // namespace sluice::routing
