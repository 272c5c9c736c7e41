#pragma once
// Reads partitions of the compacted sms.dlr-state topic from their beginning
// to their end (as of the call), outside any consumer group: the DLR stage
// rebuilds a partition's join state this way when the partition is assigned.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/options.h"

namespace sluice::dlr {

class StateReader {
 public:
  explicit StateReader(const kafka::KafkaOptions& kopts);
  ~StateReader();
  StateReader(const StateReader&) = delete;
  StateReader& operator=(const StateReader&) = delete;

  // value is null for a tombstone. False when some partition was not read to
  // its end within `timeout` (what was read has been handed over).
  using Fn =
      std::function<void(int32_t partition, std::string_view key, const std::string_view* value)>;
  bool read(const std::string& topic, const std::vector<int32_t>& partitions,
            std::chrono::milliseconds timeout, const Fn& fn);
  // Partition count of a topic, or -1 when the broker does not say.
  int partition_count(const std::string& topic, std::chrono::milliseconds timeout);

 private:
  rd_kafka_t* rk_ = nullptr;
};

}  // namespace sluice::dlr
