#include "routing/route_table.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace sluice::routing {

std::string_view destination_digits(std::string_view addr) {
  if (!addr.empty() && addr.front() == '+') addr.remove_prefix(1);
  return addr;
}

size_t weighted_pick(const std::vector<int>& weights, uint64_t hash) {
  uint64_t total = 0;
  for (int w : weights) total += static_cast<uint64_t>(std::max(w, 0));
  if (total == 0) return static_cast<size_t>(hash % weights.size());
  uint64_t r = hash % total;
  for (size_t i = 0; i < weights.size(); ++i) {
    uint64_t w = static_cast<uint64_t>(std::max(weights[i], 0));
    if (r < w) return i;
    r -= w;
  }
  return weights.size() - 1;
}

RouteTable::RouteTable(std::shared_ptr<const config::Snapshot> snap) : snap_(std::move(snap)) {
  for (const auto& r : snap_->routes) {
    if (!r.enabled) continue;
    by_prefix_[r.prefix].push_back(&r);
    max_prefix_ = std::max(max_prefix_, r.prefix.size());
  }
  // Route ids fix the order inside a group, so the weighted choice does not
  // depend on the order rows came from the database.
  for (auto& [_, v] : by_prefix_)
    std::sort(v.begin(), v.end(),
              [](const config::Route* a, const config::Route* b) { return a->id < b->id; });
}

namespace {

struct Candidate {
  const config::Route* route;
  const config::Provider* provider;
};

// (customer-specific first, longer prefix first, lower priority first)
using GroupKey = std::tuple<int, int, int>;

std::optional<RouteChoice> pick_in_group(const std::vector<Candidate>& group, uint64_t hash,
                                         const std::function<bool(const Candidate&)>& usable,
                                         bool degraded) {
  std::map<int, std::vector<const Candidate*>> tiers;
  for (const auto& c : group)
    if (usable(c)) tiers[c.route->failover_order].push_back(&c);
  if (tiers.empty()) return std::nullopt;
  const auto& first = tiers.begin()->second;
  std::vector<int> weights;
  weights.reserve(first.size());
  for (const auto* c : first) weights.push_back(c->route->weight);
  const Candidate* c = first[weighted_pick(weights, hash)];
  return RouteChoice{c->route, c->provider, degraded};
}

}  // namespace

RouteResult RouteTable::select(int64_t customer_id, std::string_view dest, uint64_t hash,
                               const ProviderUp& up) const {
  dest = destination_digits(dest);
  std::map<GroupKey, std::vector<Candidate>> groups;
  size_t longest = std::min(dest.size(), max_prefix_);
  for (size_t len = longest + 1; len-- > 0;) {
    auto it = by_prefix_.find(std::string(dest.substr(0, len)));
    if (it == by_prefix_.end()) continue;
    for (const config::Route* r : it->second) {
      if (r->customer_id && *r->customer_id != customer_id) continue;
      GroupKey k{r->customer_id ? 0 : 1, -static_cast<int>(len), r->priority};
      groups[k].push_back({r, snap_->provider_by_id(r->provider_id)});
    }
  }
  RouteResult out;
  if (groups.empty()) {
    out.reason = "no route";
    return out;
  }
  auto enabled = [](const Candidate& c) { return c.provider && c.provider->enabled; };
  auto available = [&](const Candidate& c) { return enabled(c) && (!up || up(*c.provider)); };
  for (const auto& [_, g] : groups)
    if (auto choice = pick_in_group(g, hash, available, false)) {
      out.choice = choice;
      return out;
    }
  for (const auto& [_, g] : groups)
    if (auto choice = pick_in_group(g, hash, enabled, true)) {
      out.choice = choice;
      return out;
    }
  out.reason = "no enabled provider";
  return out;
}

}  // namespace sluice::routing
