#include "routing/tiers.h"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace sluice::routing {

std::optional<int64_t> parse_duration_ms(std::string_view t) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || p == t.data() || n <= 0) return std::nullopt;
  std::string_view unit(p, static_cast<size_t>(t.data() + t.size() - p));
  int64_t mult = 0;
  if (unit == "ms")
    mult = 1;
  else if (unit == "s")
    mult = 1000;
  else if (unit == "m")
    mult = 60'000;
  else if (unit == "h")
    mult = 3'600'000;
  else if (unit == "d")
    mult = 86'400'000;
  else
    return std::nullopt;
  if (n > INT64_MAX / mult) return std::nullopt;
  return n * mult;
}

std::optional<int64_t> parse_epoch_ms(std::string_view t) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc() || p != t.data() + t.size() || n < 0) return std::nullopt;
  return n;
}

DelayTiers::DelayTiers(const std::string& prefix, const std::vector<std::string>& names) {
  if (names.empty()) throw std::invalid_argument("no delay tiers");
  for (const auto& n : names) {
    auto d = parse_duration_ms(n);
    if (!d) throw std::invalid_argument("bad delay tier name: " + n);
    tiers_.push_back({n, prefix + "sms.delay." + n, *d});
  }
  std::sort(tiers_.begin(), tiers_.end(),
            [](const Tier& a, const Tier& b) { return a.delay_ms < b.delay_ms; });
  for (size_t i = 1; i < tiers_.size(); ++i)
    if (tiers_[i].delay_ms == tiers_[i - 1].delay_ms)
      throw std::invalid_argument("two delay tiers with one delay: " + tiers_[i].name);
}

const Tier& DelayTiers::for_wait(int64_t wait_ms) const {
  const Tier* best = &tiers_.front();
  for (const auto& t : tiers_)
    if (t.delay_ms <= wait_ms) best = &t;
  return *best;
}

const Tier* DelayTiers::by_topic(std::string_view topic) const {
  for (const auto& t : tiers_)
    if (t.topic == topic) return &t;
  return nullptr;
}

std::vector<std::string> DelayTiers::topics() const {
  std::vector<std::string> out;
  for (const auto& t : tiers_) out.push_back(t.topic);
  return out;
}

}  // namespace sluice::routing
