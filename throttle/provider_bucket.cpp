#include "throttle/provider_bucket.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice::throttle {

ProviderBucket::ProviderBucket(boost::asio::any_io_executor ex) : timer_(ex), last_(Clock::now()) {}

void ProviderBucket::set_limit(double per_second) {
  limit_ = per_second;
  if (limit_ <= 0) {
    rate_ = 0;
    return;
  }
  if (rate_ <= 0 || rate_ > limit_) rate_ = limit_;
  tokens_ = std::min(tokens_, burst());
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

bool ProviderBucket::try_acquire(double n, Clock::time_point now) {
  if (limit_ <= 0) return now >= paused_until_;
  if (now < paused_until_) return false;
  refill(now);
  // A cost above the burst size would never fit: let it through once the
  // bucket is full, and charge it as debt paid back before the next send.
  double need = std::min(n, burst());
  if (tokens_ + 1e-9 < need) return false;
  tokens_ -= n;
  return true;
}

boost::asio::awaitable<void> ProviderBucket::acquire(double n) {
  for (;;) {
    auto now = Clock::now();
    if (try_acquire(n, now)) co_return;
    Clock::duration wait;
    if (now < paused_until_) {
      wait = paused_until_ - now;
    } else {
      double need = std::min(n, burst()) - tokens_;
      double secs = rate_ > 0 ? need / rate_ : 0.001;
      wait = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(std::max(secs, 0.0002)));
    }
    timer_.expires_after(wait);
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
}

void ProviderBucket::on_throttled(Clock::time_point now) {
  ++throttle_events_;
  if (limit_ > 0) rate_ = std::max(1.0, rate_ / 2);
  // Also a short pause: a provider that throttles has no room right now.
  paused_until_ = std::max(paused_until_, now + std::chrono::milliseconds(200));
  tokens_ = 0;
}

}  // namespace sluice::throttle
