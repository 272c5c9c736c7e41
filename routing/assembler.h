#pragma once
// The assembler stage (`sluice assembler`): reads sms.submit, joins the parts
// of concatenated messages and writes sms.accepted.
//
// Single-part messages pass straight through, keyed by message id. The parts
// of a multipart message (UDH 8/16-bit reference or sar_* TLVs; the gateway
// put the concat info in the record and keyed every part by the group key, so
// all parts of a group arrive on one partition whichever bind or gateway node
// took them) are held until the group is complete, then written together, in
// seq order, keyed by the group key: the router sees them one after another
// on one partition and sends them through one provider. Each part keeps its
// own message id.
//
// Crash safety: a part's input offset is finished only once its whole group
// is written and acknowledged, so the committed offset never passes a part of
// an incomplete group; after a crash or rebalance the next owner reads those
// parts again and rebuilds the group. Replay checkpoints (routing/checkpoint.h,
// topic <prefix>sms.assembler-checkpoint) keep it from writing again what was
// already written after the oldest open part.
//
// Incomplete groups time out (group_timeout, default 10 min, measured from the
// first part's Kafka timestamp; while the partition is still being caught up
// on, against the timestamps being read rather than the wall clock, so a
// restart after an outage does not time out groups whose remaining parts are
// just further on). What happens to their parts: see OnTimeout.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "config/config.h"
#include "kafka/options.h"
#include "kafka/producer.h"
#include "routing/group_assembler.h"
#include "routing/hold_loop.h"
#include "routing/metrics.h"

namespace prometheus {
class Registry;
}

namespace sluice::routing {

struct AssemblerOptions {
  std::string topic_prefix;
  std::string node;
  std::chrono::milliseconds group_timeout{std::chrono::minutes(10)};
  enum class OnTimeout {
    // The parts that came are sent as they are, each with its own id, so each
    // gets its own DLR; the handset shows an incomplete message. The default:
    // a customer who asked for DLRs learns the truth part by part, and no
    // part the customer was told is accepted silently disappears.
    send_parts,
    // Each part that came ends with an UNDELIV receipt (err 002, reason
    // "incomplete multipart message") and is not sent.
    fail_parts,
  };
  OnTimeout on_timeout = OnTimeout::send_parts;
  std::string group_id = "sluice-assembler";  // topic_prefix goes before it
  // Parts held across all partitions; beyond it the oldest group is let go
  // early (counted as overflow) and treated like a timed-out one.
  size_t max_open_parts = 100000;
  bool checkpoints = true;  // uses <prefix>sms.assembler-checkpoint when it exists
};

class AssemblerStage {
 public:
  AssemblerStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
                 std::shared_ptr<config::ConfigStore> config, AssemblerOptions opts,
                 prometheus::Registry& registry);
  ~AssemblerStage();

  void start();
  void stop();
  int64_t lag() const { return loop_.lag(); }
  size_t open_parts() const { return open_parts_.load(); }
  int64_t replay_skipped() const { return loop_.replay_skipped(); }

 private:
  struct PartitionState {
    GroupAssembler groups;
    std::unordered_map<uint64_t, Ticket> tickets;
    int64_t last_ts = 0;
  };
  HoldLoopOptions loop_options();
  void on_record(kafka::MessagePtr m, const Ticket& t);
  HoldLoop::Clock::time_point tick();
  void send(PartitionState& ps, GroupOut g);
  void enforce_limit();
  void update_open();

  AssemblerOptions opts_;
  std::shared_ptr<config::ConfigStore> config_;
  std::string submit_topic_, accepted_topic_, deliver_topic_;
  StageMetrics metrics_;
  prometheus::Gauge& open_gauge_;
  HoldLoop loop_;
  // Polling thread only.
  std::map<kafka::TopicPartition, PartitionState> parts_;
  uint64_t next_handle_ = 1;
  HoldLoop::Clock::time_point next_lag_{};
  std::atomic<size_t> open_parts_{0};
};

}  // namespace sluice::routing
