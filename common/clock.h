#pragma once
// Wall-clock time as records carry it: epoch milliseconds. Durations and
// deadlines use steady_clock; this is only for values that leave the process
// (record fields, DLR dates, validity periods) or compare with such values.
#include <chrono>
#include <cstdint>

namespace sluice {

inline int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sluice
