// The provider's pacing, on a virtual clock: what the contract allows in any
// second, and what a dispatcher that wakes late still gets.
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
  // On a millisecond of the steady clock, as the bucket counts its second.
  Clock::time_point start =
      std::chrono::time_point_cast<milliseconds>(Clock::now()) + milliseconds(2);
  Clock::time_point now = start;
  Sends sends;
  // The dispatcher runs every `period`: it sends what the bucket allows, and
  // when it has to wait, its wait ends `period` later instead of on time.
  void run(Clock::duration length, Clock::duration period, bool owed) {
    auto end = now + length;
    while (now < end) {
      int taken = 0;
      while (bucket.try_acquire(1, now)) {
        sends.add(start, now, 1);
        ++taken;
      }
      // What acquire() would have waited for one token.
      auto due = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / bucket.current_rate()));
      now += period;
      if (owed && period > due) bucket.on_late_wake(period - due);
    }
  }
};

TEST(ProviderBucket, KeepsTheContractRateWithASmallBurst) {
  Harness h;
  h.bucket.set_limit(1000);
  h.run(std::chrono::seconds(3), microseconds(100), true);
  EXPECT_NEAR(h.sends.total, 3000, 10);
  EXPECT_LE(h.sends.busiest_second(), 1002);  // the contract plus 2 ms of burst
}

TEST(ProviderBucket, ADispatcherThatWakesLateIsOwedTheTimeItLost) {
  // On a busy machine the dispatcher gets a core every 20 ms. With only the
  // 2 ms bucket it would send 2 per wake-up, a tenth of the contract.
  Harness slow;
  slow.bucket.set_limit(1000);
  slow.run(std::chrono::seconds(3), milliseconds(20), false);
  EXPECT_LT(slow.sends.total, 400);

  Harness h;
  h.bucket.set_limit(1000);
  h.run(std::chrono::seconds(3), milliseconds(20), true);
  EXPECT_GE(h.sends.total, 2900);
  EXPECT_LE(h.sends.busiest_second(), 1002);
}

TEST(ProviderBucket, CatchingUpNeverBreaksTheSlidingSecond) {
  // Full rate, then a stall whose time is owed, then full rate again: the
  // second that starts with the catch-up must still hold only the contract.
  Harness h;
  h.bucket.set_limit(1000);
  h.run(milliseconds(900), microseconds(100), true);
  h.now += milliseconds(50);
  h.bucket.on_late_wake(milliseconds(50));
  h.run(std::chrono::seconds(2), microseconds(100), true);
  for (int i = 0; i < 5; ++i) {
    h.now += milliseconds(40);
    h.bucket.on_late_wake(milliseconds(40));
    h.run(milliseconds(300), microseconds(100), true);
  }
  EXPECT_LE(h.sends.busiest_second(), 1002);
  EXPECT_GE(h.sends.total, 4000);
}

TEST(ProviderBucket, ThrottlingPausesHalvesAndForfeitsCredit) {
  Harness h;
  h.bucket.set_limit(1000);
  h.run(milliseconds(500), microseconds(100), true);
  h.bucket.on_late_wake(milliseconds(40));
  h.bucket.on_throttled(h.now);
  EXPECT_DOUBLE_EQ(h.bucket.current_rate(), 500);
  EXPECT_FALSE(h.bucket.try_acquire(1, h.now + milliseconds(199)));
  // After the pause the credit is gone: at most the refilled sliver goes at once.
  auto after = h.now + milliseconds(200);
  int burst = 0;
  while (h.bucket.try_acquire(1, after)) ++burst;
  EXPECT_LE(burst, 2);
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
