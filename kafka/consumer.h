#pragma once
// A consumer-group member with manual commits: stages commit an offset only
// after what they produced from the record is acknowledged by Kafka. poll()
// blocks, so it runs on a stage's own thread, never on an I/O thread.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/options.h"

namespace sluice::kafka {

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

std::string_view key_of(const rd_kafka_message_t* m);
std::string_view value_of(const rd_kafka_message_t* m);
std::string topic_of(const rd_kafka_message_t* m);
std::optional<std::string> header_of(const rd_kafka_message_t* m, const char* name);

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  bool operator==(const TopicPartition&) const = default;
  bool operator<(const TopicPartition& o) const {
    return topic < o.topic || (topic == o.topic && partition < o.partition);
  }
};

struct ConsumerOptions {
  std::string group_id;
  // Topic names; a name starting with '^' is a regular expression.
  std::vector<std::string> topics;
  std::string auto_offset_reset = "earliest";
  std::chrono::milliseconds session_timeout{10000};
  std::chrono::milliseconds max_poll_interval{300000};
  // The eager protocol (roundrobin) instead of cooperative-sticky: every
  // rebalance revokes every partition before the group rejoins, and so the
  // commits made while revoking hold. librdkafka 2.0's cooperative revoke
  // runs amid the rejoin, and its commits can fail with ILLEGAL_GENERATION
  // (librdkafka #4059, fixed in 2.9): the next owner then repeats what was
  // done since the last commit. For a stage whose repeats reach the outside
  // world (the sender); it costs every member its in-flight work at every
  // rebalance, so stages with state to restore keep cooperative-sticky.
  bool eager = false;
  // queued.max.messages.kbytes when > 0: how much is fetched ahead, per
  // partition while it is held, else for the consumer as a whole.
  int prefetch_kbytes = 0;
  // Called on the polling thread inside poll() when partitions come or go.
  // on_revoke runs before the partitions are given up: commit there.
  std::function<void(const std::vector<TopicPartition>&)> on_assign;
  std::function<void(const std::vector<TopicPartition>&)> on_revoke;
};

class Consumer {
 public:
  Consumer(KafkaOptions kopts, ConsumerOptions copts);
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // A message, or null on timeout. Errors are logged and skipped (null).
  MessagePtr poll(std::chrono::milliseconds timeout);
  // Commits `next_offset` (the offset of the next record to read) for each.
  bool commit(const std::vector<std::pair<TopicPartition, int64_t>>& offsets, bool sync);
  void pause(const std::vector<TopicPartition>& parts);
  void resume(const std::vector<TopicPartition>& parts);
  // Flow control that keeps what was fetched. pause() throws a partition's
  // prefetched records away (the broker sends them again), and librdkafka
  // 2.0 notices a resume() only when its broker thread next wakes, up to a
  // second later: in bench/e2e the sender sat idle 380-820 ms after each
  // resume. A held partition's records collect in its own queue instead
  // (fetching stops at queued.max.messages.kbytes), and release() puts them
  // in front of poll() at once. Holds nest: a partition is released when
  // every hold on it is. Revoked partitions are released.
  void hold(const std::vector<TopicPartition>& parts);
  void release(const std::vector<TopicPartition>& parts);
  bool is_held(const TopicPartition& tp) const { return held_.count(tp) > 0; }
  // Forwards these partitions' queues to the consumer queue again, unless
  // held: librdkafka leaves a queue the application once forwarded to the
  // application, also when the partition is assigned anew. Done on every
  // assignment, and by poll() once a second for every assigned partition
  // (a partition whose old fetcher stopped only after its assignment would
  // otherwise sit unread); cheap and harmless to repeat.
  void reattach(const std::vector<TopicPartition>& parts);
  // What waits in a held partition's queue: the records fetched for it, and
  // the odd event (such as reaching the partition's end).
  size_t held_backlog(const TopicPartition& tp);
  bool seek(const TopicPartition& tp, int64_t offset);
  std::vector<TopicPartition> assignment();
  // Consumer lag per assigned partition (high watermark - position), cached.
  int64_t lag();
  void close();
  rd_kafka_t* handle() { return rk_; }

 private:
  static void on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*,
                           void*);
  void release_all(const std::vector<TopicPartition>& parts);
  struct Held {
    rd_kafka_queue_t* queue = nullptr;
    int holds = 0;
  };
  KafkaOptions kopts_;
  ConsumerOptions copts_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* consumer_queue_ = nullptr;
  std::map<TopicPartition, Held> held_;  // poll thread only
  // Partitions ever held: librdkafka marks a queue the application forwarded
  // for good, and no longer forwards it itself when the partition is
  // assigned again; on_rebalance does it for these.
  std::set<TopicPartition> ever_held_;
  std::chrono::steady_clock::time_point next_reattach_{};  // poll thread only
  bool closed_ = false;
};

// Fetch settings every consumer shares: a fetch waits up to `max_wait` for
// 64 KiB. Stage loops wait 25 ms (a hop's latency); table readers, which
// mostly sit idle at the end of their topic, wait 100 ms.
void apply_fetch_options(rd_kafka_conf_t* conf, std::chrono::milliseconds max_wait);

}  // namespace sluice::kafka
