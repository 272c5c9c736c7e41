#pragma once
// The consumer loop of the routing stages: kafka::StageLoop's rule (a
// partition's offset is committed only up to its oldest record whose outcome
// is not yet durable), for stages that hold records on purpose, for long:
// the assembler holds the parts of incomplete groups for up to its group
// timeout, the scheduler holds the head of a delay partition until it is due.
//
// What differs from StageLoop, and why:
//  * A held record is open but not "emitting". A rebalance or stop waits only
//    for records whose output is on its way to Kafka, never for held ones:
//    those stay uncommitted and the next owner reads them again. (StageLoop
//    waits up to 10 s per revoke and its drain timeout at stop for every open
//    record, which for these stages is always.)
//  * Above max_open open records it pauses every partition instead of polling
//    with a zero timeout: a record returned by such a poll must be handled,
//    or its offset would be committed past without it.
//  * Stages may pause a partition of their own (hold/unhold) on the polling
//    thread; the loop keeps both reasons apart.
//  * Optional replay checkpoints (routing/checkpoint.h) so that a new owner
//    skips what the old one already finished.
//
// Every record is handed to the handler once with a Ticket; the stage calls
// emit() (produce, then finish) or finish() for it, once, from any thread. A
// ticket of a partition that was revoked in between is ignored.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "routing/checkpoint.h"

namespace sluice::routing {

struct Ticket {
  kafka::TopicPartition tp;
  int64_t offset = -1;
  uint64_t epoch = 0;  // the assignment it belongs to
};

struct HoldLoopOptions {
  std::string name;  // stage name, for logs
  // group_id and topics; on_assign / on_revoke are called after the loop's own
  // bookkeeping (on_revoke: after in-flight output is acknowledged and the
  // offsets committed; drop whatever is held for those partitions there).
  kafka::ConsumerOptions consumer;
  std::chrono::milliseconds commit_interval{500};
  size_t max_open = 200000;
  // How long stop() and a revoke wait for output already produced.
  std::chrono::milliseconds drain_timeout{10000};
  // Compacted topic for replay checkpoints; empty: none. Ignored (with a
  // warning) when the topic does not exist or has fewer partitions than the
  // consumed topics.
  std::string checkpoint_topic;
  std::chrono::milliseconds checkpoint_interval{1000};
  std::chrono::milliseconds max_poll_wait{100};
};

class HoldLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using Handler = std::function<void(kafka::MessagePtr msg, const Ticket& ticket)>;
  // Called on the polling thread every turn; returns when it next wants to run.
  using Tick = std::function<Clock::time_point()>;

  HoldLoop(kafka::KafkaOptions kopts, HoldLoopOptions opts,
           std::shared_ptr<kafka::Producer> producer, Handler handler);
  ~HoldLoop();
  HoldLoop(const HoldLoop&) = delete;
  HoldLoop& operator=(const HoldLoop&) = delete;

  void set_tick(Tick tick) { tick_ = std::move(tick); }  // before start()
  void start();
  // Stops polling, waits (bounded) for output in flight, commits, writes the
  // last checkpoints and leaves the group. Held records stay uncommitted.
  void stop();

  // Produces every record (retrying failures after a backoff while running)
  // and finishes every ticket once all are acknowledged.
  void emit(std::vector<kafka::Record> records, std::vector<Ticket> tickets);
  void finish(const Ticket& t);
  void finish(const std::vector<Ticket>& ts);

  // Polling thread only (handler, tick, on_assign/on_revoke).
  void hold(const kafka::TopicPartition& tp);
  void unhold(const kafka::TopicPartition& tp);
  bool caught_up(const kafka::TopicPartition& tp);
  kafka::Consumer* consumer() { return consumer_.get(); }

  // Any thread.
  int64_t lag() const { return lag_.load(); }
  size_t open() const;
  // Committable offset (oldest open, else next) of every assigned partition read from.
  std::vector<std::pair<kafka::TopicPartition, int64_t>> positions() const;
  int64_t replay_skipped() const { return skipped_.load(); }
  bool checkpoints_enabled() const { return ckpt_partitions_ > 0; }

 private:
  struct Part {
    uint64_t epoch = 0;
    std::set<int64_t> open;
    int64_t next = -1;
    int64_t committed = -1;
    int emitting = 0;
    bool dirty = false;  // changed since the last checkpoint
    std::optional<ReplayFilter> filter;
  };
  struct EmitState;

  void run();
  void on_assign(const std::vector<kafka::TopicPartition>& tps);
  void on_revoke(const std::vector<kafka::TopicPartition>& tps);
  void handle(kafka::MessagePtr m);
  void commit(const std::vector<kafka::TopicPartition>* only, bool sync);
  void wait_emitting(const std::vector<kafka::TopicPartition>* only);
  void set_paused(const kafka::TopicPartition& tp, bool paused);
  void check_full();
  void emit_one(std::shared_ptr<EmitState> st, size_t i, int attempt);
  void run_due_retries();
  void finish_locked(const Ticket& t, bool was_emitting);

  void open_checkpoints();
  int probe_checkpoints(std::chrono::milliseconds budget);
  void write_checkpoints(const std::vector<kafka::TopicPartition>* only, bool force);
  void flush_checkpoints();
  std::map<kafka::TopicPartition, Checkpoint> read_checkpoints(
      const std::vector<kafka::TopicPartition>& tps);

  kafka::KafkaOptions kopts_;
  HoldLoopOptions opts_;
  std::shared_ptr<kafka::Producer> producer_;
  Handler handler_;
  Tick tick_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> lag_{0}, skipped_{0};

  mutable std::mutex mu_;
  std::map<kafka::TopicPartition, Part> parts_;
  size_t open_total_ = 0;
  uint64_t next_epoch_ = 1;

  // Polling thread only.
  std::set<kafka::TopicPartition> held_, paused_;
  bool full_ = false;

  struct Retry {
    Clock::time_point at;
    std::shared_ptr<EmitState> st;
    size_t index;
    int attempt;
  };
  std::mutex retry_mu_;
  std::vector<Retry> retries_;

  rd_kafka_t* ckpt_reader_ = nullptr;
  std::atomic<int> ckpt_partitions_{0};
  std::atomic<int> ckpt_outstanding_{0};
  std::atomic<bool> ckpt_short_warned_{false};
  Clock::time_point next_checkpoint_{};
};

}  // namespace sluice::routing
