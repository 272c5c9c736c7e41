#pragma once
// Small helpers over librdkafka messages shared by the routing stages.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::routing {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The record's Kafka timestamp in epoch ms, or fallback when it has none.
int64_t timestamp_ms(const rd_kafka_message_t* m, int64_t fallback);

// Every header in order, but those named in `except`.
Headers headers_of(const rd_kafka_message_t* m,
                   std::initializer_list<std::string_view> except = {});

}  // namespace sluice::routing
