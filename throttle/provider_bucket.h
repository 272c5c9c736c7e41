#pragma once
// Pacing for one provider: a token bucket whose waiters are coroutines on a
// timer, never blocked threads. The rate is this instance's share of the
// provider's contract; on ESME_RTHROTTLED it drops by half and creeps back up
// (additive increase) so a provider that pushes back is not hammered.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

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

  // The provider said slow down: halve the rate (not below 1/s) and pause.
  void on_throttled(Clock::time_point now);
  int64_t throttle_events() const { return throttle_events_; }

 private:
  void refill(Clock::time_point now);
  double burst() const;
  boost::asio::steady_timer timer_;
  double limit_ = 0;  // contract share
  double rate_ = 0;   // effective, <= limit_
  double tokens_ = 0;
  Clock::time_point last_;
  Clock::time_point paused_until_{};
  int64_t throttle_events_ = 0;
};

}  // namespace sluice::throttle
