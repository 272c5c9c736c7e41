#pragma once
// Pacing for one provider: a token bucket whose waiters are coroutines on a
// timer, never blocked threads. The rate is this instance's share of the
// provider's contract; on ESME_RTHROTTLED it drops by half and creeps back up
// (additive increase) so a provider that pushes back is not hammered.
//
// The bucket holds only a sliver (2 ms of sends), so sends stay smooth. On a
// busy machine, though, the dispatcher's timer fires late: a thread waiting
// 10 ms for a core finds a bucket capped at 2 ms, and the provider's rate
// becomes whatever the scheduler allows (bench/e2e: about 16,000/s on two
// cores against a contract of 100,000/s). Time the dispatcher lost that way
// is owed back (catch-up credit, at most 50 ms of sends), but every send,
// credited or not, also passes a sliding one-second count: the contract any
// one-second window of the provider sees is never exceeded by catching up.
#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>

namespace sluice::throttle {

class ProviderBucket {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ProviderBucket(boost::asio::any_io_executor ex);

  // The ceiling (contract share) in segments per second; <= 0: unlimited.
  void set_limit(double per_second);
  double limit() const { return limit_; }
  double current_rate() const { return rate_; }

  // Waits until `n` segments may go. Tokens never go below zero, so a long
  // message waits for its full cost instead of overdrawing.
  boost::asio::awaitable<void> acquire(double n = 1.0);
  // Non-blocking form for tests: true when n tokens were taken.
  bool try_acquire(double n, Clock::time_point now);
  // A wait for tokens ended `late` after its time: the sends of that time
  // are owed. acquire() calls it; tests call it to play a busy machine.
  void on_late_wake(Clock::duration late);

  // The provider said slow down: halve the rate (not below 1/s) and pause.
  void on_throttled(Clock::time_point now);
  int64_t throttle_events() const { return throttle_events_; }

 private:
  static constexpr int kSlots = 1000;  // the sliding second, in 1 ms slots
  void refill(Clock::time_point now);
  double burst() const;
  // Moves the sliding second up to `now`; returns what it holds.
  double window_sum(Clock::time_point now);
  boost::asio::steady_timer timer_;
  double limit_ = 0;  // contract share
  double rate_ = 0;   // effective, <= limit_
  double tokens_ = 0;
  double credit_ = 0;  // catch-up owed for late wake-ups
  Clock::time_point last_;
  Clock::time_point paused_until_{};
  int64_t throttle_events_ = 0;
  std::array<double, kSlots> slots_{};
  double in_window_ = 0;
  int64_t slot_ms_ = 0;  // the newest slot, in ms of the steady clock
};

}  // namespace sluice::throttle
