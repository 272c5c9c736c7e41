#pragma once
// Reads every partition of a (usually compacted) topic from its beginning,
// outside any consumer group, and hands each record to a callback on the
// reader's own thread: the way a stage keeps a local copy of a small table
// that every instance needs whole (bind counts, message states, cancels).
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "kafka/options.h"

namespace sluice::kafka {

class TableReader {
 public:
  // `value` is empty for a tombstone.
  using OnRecord = std::function<void(std::string_view key, std::string_view value)>;

  TableReader(KafkaOptions kopts, std::string topic, std::string name, OnRecord on_record);
  ~TableReader();
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  void start();
  void stop();
  // Every partition has been read up to where it ended when the reader
  // started (or the topic was empty).
  bool caught_up() const { return caught_up_.load(); }

 private:
  void run();

  KafkaOptions kopts_;
  std::string topic_, name_;
  OnRecord on_record_;
  std::thread thread_;
  std::atomic<bool> stop_{false}, caught_up_{false};
};

}  // namespace sluice::kafka
