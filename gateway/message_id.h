#pragma once
// Message ids unique across the cluster without coordination: 48 bits of
// milliseconds since the epoch, then 80 bits that start random in each
// process and count up (a monotonic ULID in hex). 32 characters, inside SMPP's
// 65 octets, sortable by time, and safe as a Kafka key.
#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace sluice::gateway {

class MessageIdGenerator {
 public:
  MessageIdGenerator();
  std::string next() { return next(std::chrono::system_clock::now()); }
  // `now` may lag another caller's: ids stay unique and never go back in time.
  std::string next(std::chrono::system_clock::time_point now);

 private:
  std::mutex mu_;
  uint64_t last_ms_ = 0;
  // 80-bit counter as (hi 16 bits, lo 64 bits).
  uint16_t hi_ = 0;
  uint64_t lo_ = 0;
};

}  // namespace sluice::gateway
