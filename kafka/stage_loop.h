#pragma once
// The skeleton of every consumer-group stage: poll records on a thread of its
// own, hand each to the stage, and commit an offset only once everything the
// stage produced from that record (and every record before it in the
// partition) is acknowledged by Kafka. A SIGKILL therefore loses nothing: the
// next owner of the partition starts at the first record not fully done, and
// may repeat some (counted as duplicates downstream), never skip any.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kafka/consumer.h"
#include "kafka/producer.h"

namespace sluice::kafka {

// Offsets in flight per partition; the committable offset of a partition is
// its lowest unfinished offset, or one past the highest finished.
class OffsetTracker {
 public:
  void started(const TopicPartition& tp, int64_t offset);
  void finished(const TopicPartition& tp, int64_t offset);
  // A record the stage gives up without an outcome, because its partition is
  // going to another member: it no longer counts as in flight, and the
  // committable offset stays at or before it, so that the next owner reads
  // it again.
  void abandoned(const TopicPartition& tp, int64_t offset);
  // Offsets that moved since the last call.
  std::vector<std::pair<TopicPartition, int64_t>> take_committable();
  // Committable offsets of these partitions, whether moved or not.
  std::vector<std::pair<TopicPartition, int64_t>> committable(
      const std::vector<TopicPartition>& tps);
  size_t in_flight() const;
  size_t in_flight(const std::vector<TopicPartition>& tps) const;
  void forget(const std::vector<TopicPartition>& tps);

 private:
  struct Part {
    std::set<int64_t> open;
    int64_t next = -1;          // one past the highest offset started
    int64_t committed = -1;     // last value handed out
    int64_t floor = INT64_MAX;  // lowest abandoned offset
  };
  int64_t position(const Part& p) const;
  mutable std::mutex mu_;
  std::map<TopicPartition, Part> parts_;
  size_t total_ = 0;
};

struct StageLoopOptions {
  std::string name;  // stage name, for logs and metrics
  ConsumerOptions consumer;
  std::chrono::milliseconds commit_interval{500};
  size_t max_in_flight = 20000;  // stop polling above this; resume below
  std::chrono::milliseconds drain_timeout{15000};
  // How long a revoke waits for the handler's thread to start a give-back
  // (set_give_back) before it goes on without one.
  std::chrono::milliseconds give_back_wait{2000};
  // The stage's tick runs about this often, and never more often: a stage
  // that pauses its own partitions (the sender, when a provider's queue is
  // full) must notice room again within this bound, not when the next
  // 100 ms poll times out, and must not pay for a tick per record.
  std::chrono::milliseconds tick_interval{5};
};

class StageLoop {
 public:
  // Call exactly once per record, from any thread, when its outcome is durable.
  using Done = std::function<void()>;
  using Handler = std::function<void(const rd_kafka_message_t& msg, Done done)>;

  StageLoop(KafkaOptions kopts, StageLoopOptions opts, std::shared_ptr<Producer> producer,
            Handler handler);
  ~StageLoop();

  void start();
  // Stops polling, waits (bounded) for in-flight records, commits, leaves the group.
  void stop();
  // The same without waiting for the thread (it finishes on its own).
  void request_stop() { stop_ = true; }

  // Produces every record and calls done once all are acknowledged. A record
  // that fails is produced again after a backoff until it succeeds or the
  // loop stops; a failure is never reported as done.
  void emit(std::vector<Record> records, Done done);

  Consumer* consumer() { return consumer_.get(); }
  Producer& producer() { return *producer_; }
  int64_t lag() const { return lag_.load(); }
  int64_t processed() const { return processed_.load(); }
  int64_t retried() const { return retried_.load(); }
  bool running() const { return running_.load(); }
  // Runs fn on the polling thread at its next turn (pause/resume/seek belong there).
  void on_poll_thread(std::function<void(Consumer&)> fn);
  // Called on the polling thread each turn (timers of the stage).
  void set_tick(std::function<void(Consumer&)> fn) { tick_ = std::move(fn); }
  // For a handler that holds records back before calling their Done: runs on
  // the polling thread before a revoke waits for in-flight records and before
  // the drain at stop, so that nothing waits for a hold to end.
  void set_flush(std::function<void()> fn) { flush_ = std::move(fn); }
  // For a handler that queues records for a long time (the sender, at a
  // provider's pace; the return path, for a bind): when partitions are
  // revoked, before the wait for their in-flight records, `take` runs on the
  // handler's own thread (through `post`) and gives back what the stage has
  // not started on, with abandon(), returning how many. The next owner reads
  // those records again; finishing them here as well would send them twice.
  // The revoke waits up to give_back_wait for `take` to start (the handler's
  // thread answers at once unless it is stopping); once started, it is
  // waited for to the end, so nothing is abandoned after the revoke went on.
  using Poster = std::function<void(std::function<void()>)>;
  void set_give_back(Poster post, std::function<size_t(const std::vector<TopicPartition>&)> take);
  void abandon(const TopicPartition& tp, int64_t offset) { tracker_.abandoned(tp, offset); }

 private:
  void run();
  void commit(bool sync);
  void emit_one(std::shared_ptr<struct EmitState> st, size_t i, int attempt);
  void run_due_retries();
  struct Retry {
    std::chrono::steady_clock::time_point at;
    std::shared_ptr<struct EmitState> st;
    size_t index;
    int attempt;
  };
  std::mutex retry_mu_;
  std::vector<Retry> retries_;

  KafkaOptions kopts_;
  StageLoopOptions opts_;
  std::shared_ptr<Producer> producer_;
  Handler handler_;
  std::unique_ptr<Consumer> consumer_;
  OffsetTracker tracker_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, running_{false};
  std::atomic<int64_t> lag_{0}, processed_{0}, retried_{0};
  std::mutex tasks_mu_;
  std::vector<std::function<void(Consumer&)>> tasks_;
  std::function<void(Consumer&)> tick_;
  std::function<void()> flush_;
  void give_back(const std::vector<TopicPartition>& tps);
  Poster give_back_post_;
  std::function<size_t(const std::vector<TopicPartition>&)> give_back_take_;
  bool load_paused_ = false;  // poll thread only
  std::vector<TopicPartition> paused_for_load_;
};

}  // namespace sluice::kafka
