#pragma once
// Message ids unique across the cluster without coordination: 48 bits of
// milliseconds since the epoch, then 80 bits that start random in each
// process and count up (a monotonic ULID in hex). 32 characters, inside SMPP's
// 65 octets, sortable by time, and safe as a Kafka key.
#include <array>
#include <cstdint>
#include <mutex>
#include <string>

namespace sluice::gateway {

class MessageIdGenerator {
 public:
  MessageIdGenerator();
  std::string next();

 private:
  std::mutex mu_;
  uint64_t last_ms_ = 0;
  // 80-bit counter as (hi 16 bits, lo 64 bits).
  uint16_t hi_ = 0;
  uint64_t lo_ = 0;
};

}  // namespace sluice::gateway
