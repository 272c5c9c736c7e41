#pragma once
// Provider choice from the routes of one configuration snapshot.
//
// The order, as the routing issue settles it (config.h's older comment put
// priority first; this is the rule the router applies):
//   1. routes of the message's customer before routes for everyone;
//   2. then the longest prefix of the destination;
//   3. then the lower `priority` number (0 is the most preferred).
// Routes equal in all three form a group. Inside the group, the routes with
// the lowest failover_order whose provider can take traffic share it by
// weight (a deterministic choice by hash, so a replay picks the same one); a
// higher failover_order takes over only when every route before it is down.
// When no route of a group can take traffic, the next group is tried. When
// no provider anywhere can (all circuits open), the message still goes to the
// best enabled provider, where it waits in Kafka: a circuit is a hint, an
// enabled=false provider is the operator's "do not use".
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"

namespace sluice::routing {

// Whether an enabled provider can take traffic now (its circuit is not open).
using ProviderUp = std::function<bool(const config::Provider&)>;

struct RouteChoice {
  const config::Route* route = nullptr;
  const config::Provider* provider = nullptr;
  bool degraded = false;  // every candidate's circuit was open
};

struct RouteResult {
  std::optional<RouteChoice> choice;
  std::string reason;  // why there is none: "no route", "no enabled provider"
};

// The digits the route prefixes are matched against: a leading '+' dropped.
std::string_view destination_digits(std::string_view addr);

// Weighted choice: index into weights by hash, in proportion to weight. When
// every weight is 0 the choice is uniform. weights must not be empty.
size_t weighted_pick(const std::vector<int>& weights, uint64_t hash);

class RouteTable {
 public:
  explicit RouteTable(std::shared_ptr<const config::Snapshot> snap);

  RouteResult select(int64_t customer_id, std::string_view dest, uint64_t hash,
                     const ProviderUp& up) const;
  const config::Snapshot& snapshot() const { return *snap_; }
  const std::shared_ptr<const config::Snapshot>& snapshot_ptr() const { return snap_; }

 private:
  std::shared_ptr<const config::Snapshot> snap_;
  std::unordered_map<std::string, std::vector<const config::Route*>> by_prefix_;
  size_t max_prefix_ = 0;
};

}  // namespace sluice::routing
