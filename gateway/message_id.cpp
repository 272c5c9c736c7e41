#include "gateway/message_id.h"

#include <sys/random.h>

#include <chrono>
#include <stdexcept>

namespace sluice::gateway {
namespace {
void random_bytes(void* p, size_t n) {
  auto* c = static_cast<unsigned char*>(p);
  while (n > 0) {
    ssize_t r = getrandom(c, n, 0);
    if (r <= 0) throw std::runtime_error("getrandom failed");
    c += r;
    n -= static_cast<size_t>(r);
  }
}
}  // namespace

MessageIdGenerator::MessageIdGenerator() {
  random_bytes(&hi_, sizeof hi_);
  random_bytes(&lo_, sizeof lo_);
}

std::string MessageIdGenerator::next(std::chrono::system_clock::time_point now) {
  uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  uint64_t t;
  uint16_t hi;
  uint64_t lo;
  {
    std::lock_guard lock(mu_);
    if (ms > last_ms_) {
      // A new millisecond starts from fresh randomness, so two processes that
      // started with close counters do not stay in step.
      last_ms_ = ms;
      random_bytes(&hi_, sizeof hi_);
      random_bytes(&lo_, sizeof lo_);
      hi_ &= 0x7fff;  // leave room to count up within the millisecond
    } else {
      if (++lo_ == 0) ++hi_;
    }
    t = last_ms_;
    hi = hi_;
    lo = lo_;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 11; i >= 0; --i, t >>= 4) out[static_cast<size_t>(i)] = kHex[t & 0xf];
  for (int i = 15; i >= 12; --i, hi >>= 4) out[static_cast<size_t>(i)] = kHex[hi & 0xf];
  for (int i = 31; i >= 16; --i, lo >>= 4) out[static_cast<size_t>(i)] = kHex[lo & 0xf];
  return out;
}

}  // namespace sluice::gateway
