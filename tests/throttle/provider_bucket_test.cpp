// The provider's pacing, on a virtual clock: what the contract allows in any
// second, and how the rate backs off when the provider throttles.
#include "throttle/provider_bucket.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <map>

namespace sluice::throttle {
namespace {

using Clock = ProviderBucket::Clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

struct Sends {
  std::map<int64_t, double> per_ms;  // ms since start -> segments
  double total = 0;
  void add(Clock::time_point start, Clock::time_point t, double n) {
    per_ms[std::chrono::duration_cast<milliseconds>(t - start).count()] += n;
    total += n;
  }
  // The most any 1,000 consecutive milliseconds saw.
  double busiest_second() const {
    if (per_ms.empty()) return 0;
    double best = 0;
    for (const auto& [from, _] : per_ms) {
      double sum = 0;
      for (auto it = per_ms.lower_bound(from); it != per_ms.end() && it->first < from + 1000; ++it)
        sum += it->second;
      best = std::max(best, sum);
    }
    return best;
  }
};

struct Harness {
  boost::asio::io_context io;
  ProviderBucket bucket{io.get_executor()};
  // On a whole millisecond, so that the counted seconds start where sends do.
  Clock::time_point start =
      std::chrono::time_point_cast<milliseconds>(Clock::now()) + milliseconds(2);
  Clock::time_point now = start;
  Sends sends;
  // The dispatcher looks every `period` and sends what the bucket allows.
  void run(Clock::duration length, Clock::duration period) {
    auto end = now + length;
    while (now < end) {
      while (bucket.try_acquire(1, now)) sends.add(start, now, 1);
      now += period;
    }
  }
};

TEST(ProviderBucket, KeepsTheContractRateWithASmallBurst) {
  Harness h;
  h.bucket.set_limit(1000);
  h.run(std::chrono::seconds(3), microseconds(100));
  EXPECT_NEAR(h.sends.total, 3000, 10);
  EXPECT_LE(h.sends.busiest_second(), 1002);  // the contract plus 2 ms of burst
}

TEST(ProviderBucket, ThrottlingPausesThenHalvesTheRateAndCreepsBack) {
  Harness h;
  h.bucket.set_limit(1000);
  h.run(milliseconds(500), microseconds(100));
  h.bucket.on_throttled(h.now);
  EXPECT_DOUBLE_EQ(h.bucket.current_rate(), 500);
  EXPECT_FALSE(h.bucket.try_acquire(1, h.now + milliseconds(199)));
  // After the pause: at most the refilled sliver at once, then about half the contract.
  h.now += milliseconds(200);
  int burst = 0;
  while (h.bucket.try_acquire(1, h.now)) ++burst;
  EXPECT_LE(burst, 2);
  double before = h.sends.total;
  h.run(std::chrono::seconds(1), microseconds(100));
  EXPECT_NEAR(h.sends.total - before, 525, 30);  // 500/s, +5% of the limit per second
}

TEST(ProviderBucket, AMessageOfManySegmentsPassesAnEmptySecondAtALowRate) {
  Harness h;
  h.bucket.set_limit(1);  // one segment a second
  EXPECT_TRUE(h.bucket.try_acquire(3, h.now + std::chrono::seconds(2)));
  // Its debt: nothing more for about three seconds.
  EXPECT_FALSE(h.bucket.try_acquire(1, h.now + std::chrono::seconds(4)));
  EXPECT_TRUE(h.bucket.try_acquire(1, h.now + std::chrono::seconds(6)));
}

}  // namespace
}  // namespace sluice::throttle
