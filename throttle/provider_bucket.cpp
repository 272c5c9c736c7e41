#include "throttle/provider_bucket.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice::throttle {

namespace {
constexpr double kMaxCatchUpSeconds = 0.05;
int64_t ms_of(ProviderBucket::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

ProviderBucket::ProviderBucket(boost::asio::any_io_executor ex)
    : timer_(ex), last_(Clock::now()), slot_ms_(ms_of(last_)) {}

void ProviderBucket::set_limit(double per_second) {
  limit_ = per_second;
  if (limit_ <= 0) {
    rate_ = 0;
    return;
  }
  if (rate_ <= 0 || rate_ > limit_) rate_ = limit_;
  tokens_ = std::min(tokens_, burst());
  credit_ = std::min(credit_, rate_ * kMaxCatchUpSeconds);
}

double ProviderBucket::burst() const {
  // The bucket holds at most 2 ms worth of sends (at least one): any sliding
  // 1-second window then sees the contract rate plus that sliver, while high
  // rates still need no timer wake-up per message.
  return std::max(1.0, limit_ * 0.002);
}

void ProviderBucket::refill(Clock::time_point now) {
  double dt = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  if (dt <= 0) return;
  // Recover towards the limit: +5% of the limit per second after throttling.
  if (rate_ < limit_) rate_ = std::min(limit_, rate_ + limit_ * 0.05 * dt);
  tokens_ = std::min(burst(), tokens_ + rate_ * dt);
}

double ProviderBucket::window_sum(Clock::time_point now) {
  int64_t ms = ms_of(now);
  if (ms <= slot_ms_) return in_window_;
  if (ms - slot_ms_ >= kSlots) {
    slots_.fill(0);
    in_window_ = 0;
  } else {
    for (int64_t m = slot_ms_ + 1; m <= ms; ++m) {
      auto& s = slots_[static_cast<size_t>(m % kSlots)];
      in_window_ -= s;
      s = 0;
    }
  }
  slot_ms_ = ms;
  return in_window_;
}

void ProviderBucket::on_late_wake(Clock::duration late) {
  if (limit_ <= 0 || late <= Clock::duration::zero()) return;
  credit_ = std::min(rate_ * kMaxCatchUpSeconds,
                     credit_ + rate_ * std::chrono::duration<double>(late).count());
}

bool ProviderBucket::try_acquire(double n, Clock::time_point now) {
  if (limit_ <= 0) return now >= paused_until_;
  if (now < paused_until_) return false;
  refill(now);
  double in_window = window_sum(now);
  // A cost above the burst size would never fit: let it through once the
  // bucket is full, and charge it as debt paid back before the next send.
  double need = std::min(n, burst());
  // An empty window takes any one message, however many segments it costs.
  bool fits_window = in_window <= 0 || in_window + n <= limit_ + burst() + 1e-9;
  if (tokens_ + 1e-9 >= need && fits_window) {
    tokens_ -= n;
  } else if (credit_ + 1e-9 >= n && fits_window) {
    credit_ -= n;
  } else {
    // Credit that the window cannot take now would only come as a burst later.
    if (!fits_window) credit_ = 0;
    return false;
  }
  slots_[static_cast<size_t>(slot_ms_ % kSlots)] += n;
  in_window_ += n;
  return true;
}

boost::asio::awaitable<void> ProviderBucket::acquire(double n) {
  for (;;) {
    auto now = Clock::now();
    if (try_acquire(n, now)) co_return;
    Clock::duration wait;
    bool paused = now < paused_until_;
    if (paused) {
      wait = paused_until_ - now;
    } else {
      double need = std::min(n, burst()) - tokens_;
      double secs = rate_ > 0 ? need / rate_ : 0.001;
      wait = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(std::max(secs, 0.0002)));
    }
    timer_.expires_after(wait);
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    // A pause for throttling is not owed back; a late wake-up for tokens is.
    if (!paused) on_late_wake(Clock::now() - timer_.expiry());
  }
}

void ProviderBucket::on_throttled(Clock::time_point now) {
  ++throttle_events_;
  if (limit_ > 0) rate_ = std::max(1.0, rate_ / 2);
  // Also a short pause: a provider that throttles has no room right now.
  paused_until_ = std::max(paused_until_, now + std::chrono::milliseconds(200));
  tokens_ = 0;
  credit_ = 0;
}

}  // namespace sluice::throttle
