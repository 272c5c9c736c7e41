#pragma once
// The delay tiers: where a message that is not yet due waits (in Kafka), and
// the rule that keeps every tier partition in release order. See
// docs/scheduler.md for the reasoning; in short:
//
//  * Every tier has a delay D. A record that enters tier D at time e (its
//    Kafka timestamp) with due time d is released at min(d, e + D).
//  * A record goes into the largest tier with D <= wait, or into the smallest
//    tier when the wait is shorter than every D. So in every tier but the
//    smallest, d >= e + D and release = e + D: release order is append order,
//    and the scheduler only ever waits for the head of a partition (paused).
//  * The smallest tier is read ahead: its records are released within D of
//    entering, so the scheduler holds all of them (uncommitted) in a timer
//    heap and releases each exactly at min(d, e + D). Memory is bounded by
//    the smallest tier's inflow over D, not by how many messages wait.
//  * At release, a record still not due takes the same rule again with its
//    remaining wait; a due one goes to its destination.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::routing {

// Record headers of delayed records (the generic scheduling contract uses
// the first two as given by any producer on sms.schedule).
inline constexpr const char* kTimeHeader = "time";    // due, epoch ms, decimal
inline constexpr const char* kTopicHeader = "topic";  // destination topic, full name
// Set by the scheduler on an SMS it releases to sms.accepted: the router then
// routes it even if its own clock says schedule_at_ms is a little ahead.
inline constexpr const char* kReleasedHeader = "sluice-released-at";

// "500ms", "10s", "5m", "1h", "2d" -> milliseconds; nullopt otherwise.
std::optional<int64_t> parse_duration_ms(std::string_view text);
std::optional<int64_t> parse_epoch_ms(std::string_view text);

struct Tier {
  std::string name;   // "10s"
  std::string topic;  // prefix + "sms.delay." + name
  int64_t delay_ms = 0;
};

class DelayTiers {
 public:
  // names: tier names (each "sms.delay.<name>" must exist); throws
  // std::invalid_argument on a bad or repeated name or an empty list.
  DelayTiers(const std::string& topic_prefix, const std::vector<std::string>& names);

  const std::vector<Tier>& all() const { return tiers_; }  // ascending delay
  const Tier& nearest() const { return tiers_.front(); }
  bool is_nearest(const Tier& t) const { return t.delay_ms == tiers_.front().delay_ms; }
  // The largest tier whose delay <= wait_ms, or the smallest one.
  const Tier& for_wait(int64_t wait_ms) const;
  const Tier* by_topic(std::string_view topic) const;
  std::vector<std::string> topics() const;

  static int64_t release_at(const Tier& t, int64_t entered_ms, int64_t due_ms) {
    return std::min(due_ms, entered_ms + t.delay_ms);
  }

 private:
  std::vector<Tier> tiers_;
};

inline const std::vector<std::string>& default_tier_names() {
  static const std::vector<std::string> names{"10s", "5m", "1h"};
  return names;
}

}  // namespace sluice::routing
