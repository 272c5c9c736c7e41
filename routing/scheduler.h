#pragma once
// The scheduler stage (`sluice scheduler`): messages that are not yet due
// wait in the delay tier topics (sms.delay.10s, .5m, .1h), never in memory
// beyond the last seconds; this stage lets each one out at its time. The tier
// design is in routing/tiers.h and docs/scheduler.md.
//
// It consumes every tier and the generic sms.schedule topic:
//  * sms.schedule: any record with headers `time` (epoch ms) and `topic` (a
//    destination topic, used as given) is delivered to that topic at that
//    time, with its key, value and other headers unchanged (the two
//    scheduling headers are taken off). It travels through the same tiers.
//  * a tier other than the smallest: records leave in partition order, each
//    at its release time; the records behind the head are released no
//    earlier, by construction, so only the head is waited for. While the
//    head is more than 2 s away the partition is paused (it waits in Kafka,
//    not in memory); nearer, the next records are read and queued.
//  * the smallest tier: every record is held in a timer heap (uncommitted)
//    and moved on at its exact release time.
// Moving on: a due record goes to its destination; one still waiting goes to
// the tier its remaining wait calls for. An SMS (destination sms.accepted)
// past its expire_at_ms becomes an EXPIRED receipt on sms.deliver instead, and
// one that `is_cancelled` says is cancelled is dropped. Offsets are committed
// only after the move is acknowledged, so a restart loses nothing: the next
// owner reads the held records again.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "config/config.h"
#include "kafka/options.h"
#include "kafka/producer.h"
#include "routing/hold_loop.h"
#include "routing/metrics.h"
#include "routing/tiers.h"
#include "schema/records.pb.h"

namespace prometheus {
class Registry;
}

namespace sluice::routing {

struct SchedulerOptions {
  std::string topic_prefix;
  std::string node;
  std::string group_id = "sluice-scheduler";  // topic_prefix goes before it
  std::vector<std::string> delay_tiers = default_tier_names();
  // Records of the smallest tier held in memory at most; above it those
  // partitions pause until half of them have left.
  size_t max_near_held = 200000;
  // Asked on the polling thread before a scheduled SMS moves on (each hop and
  // its release): true drops it (cancel_sm). Keep it quick. Empty: never.
  std::function<bool(const records::v1::Message&)> is_cancelled;
  // Asked likewise: true when it changed the message (replace_sm); the
  // changed record goes on in place of the old one.
  std::function<bool(records::v1::Message&)> replace;
};

class SchedulerStage {
 public:
  SchedulerStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
                 std::shared_ptr<config::ConfigStore> config, SchedulerOptions opts,
                 prometheus::Registry& registry);
  ~SchedulerStage();

  void start();
  void stop();
  int64_t lag() const { return loop_.lag(); }
  // Records held in memory now (heads of paused partitions and the smallest tier's).
  size_t held() const { return held_count_.load(); }
  const DelayTiers& tiers() const { return tiers_; }

 private:
  struct Held {
    kafka::MessagePtr msg;
    Ticket ticket;
    int64_t entered = 0;  // its Kafka timestamp
    int64_t release = 0;
    int64_t due = 0;
    std::string dest;
  };
  using NearKey =
      std::tuple<int64_t, std::string, int32_t, int64_t>;  // release, topic, partition, offset

  HoldLoopOptions loop_options();
  void on_record(kafka::MessagePtr m, const Ticket& t);
  void release(Held h, int64_t now);
  void forward(Held h, int64_t now);
  HoldLoop::Clock::time_point tick();
  void on_assign(const std::vector<kafka::TopicPartition>& tps);
  void on_revoke(const std::vector<kafka::TopicPartition>& tps);
  void update_hold(const kafka::TopicPartition& tp, const std::deque<Held>& q, int64_t now);
  void set_near_paused(bool paused);
  void count_held();
  void metrics_loop();

  SchedulerOptions opts_;
  std::shared_ptr<config::ConfigStore> config_;
  DelayTiers tiers_;
  std::string schedule_topic_, accepted_topic_, deliver_topic_, status_topic_;
  StageMetrics metrics_;
  prometheus::Histogram& lateness_;
  prometheus::Family<prometheus::Gauge>& waiting_;
  HoldLoop loop_;

  // Polling thread only.
  std::map<kafka::TopicPartition, std::deque<Held>> heads_;
  std::map<NearKey, Held> near_;
  std::deque<Held> hops_;  // released, not yet due, waiting for their turn
  std::unordered_map<std::string, int> deferred_keys_;
  std::set<kafka::TopicPartition> assigned_near_, coarse_held_;
  bool near_paused_ = false;
  struct Sticky {
    int64_t due = 0;
    std::string topic;  // the tier it went to
    int64_t at = 0;
  };
  std::unordered_map<std::string, Sticky> sticky_;
  HoldLoop::Clock::time_point next_lag_{};
  std::atomic<size_t> held_count_{0};

  std::thread metrics_thread_;
  std::mutex metrics_mu_;
  std::condition_variable metrics_cv_;
  bool metrics_stop_ = false;
};

}  // namespace sluice::routing
