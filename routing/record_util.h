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

#include "common/clock.h"

namespace sluice::routing {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The record's Kafka timestamp in epoch ms, or fallback when it has none.
int64_t timestamp_ms(const rd_kafka_message_t* m, int64_t fallback);

// Every header in order, but those named in `except`.
Headers headers_of(const rd_kafka_message_t* m,
                   std::initializer_list<std::string_view> except = {});

}  // namespace sluice::routing
