#include "dlr/coalescer.h"

#include <algorithm>
#include <iterator>

namespace sluice::dlr {

bool WriteCoalescer::holdable(const Output& out) {
  // A customer's receipt or a multipart part is never held back: only the
  // join's bookkeeping is.
  return out.delivers.empty() && out.parts.empty() && (!out.state.empty() || !out.statuses.empty());
}

void WriteCoalescer::index(uint64_t id, const Output& out) {
  for (const auto& w : out.state) by_state_[state_key(w)] = id;
  for (const auto& s : out.statuses) by_status_[s.id()] = id;
}

void WriteCoalescer::unindex(const Output& out) {
  for (const auto& w : out.state) by_state_.erase(state_key(w));
  for (const auto& s : out.statuses) by_status_.erase(s.id());
}

Shipment WriteCoalescer::take(uint64_t id) {
  auto it = items_.find(id);
  unindex(it->second.ship.out);  // before the strings its keys view move
  Shipment s = std::move(it->second.ship);
  by_due_.erase({it->second.due, id});
  items_.erase(it);
  return s;
}

std::vector<Shipment> WriteCoalescer::offer(Output out, std::function<void()> done,
                                            int64_t now_ms) {
  Shipment cur;
  cur.out = std::move(out);
  if (done) cur.dones.push_back(std::move(done));

  // Held outputs that this one overwrites, oldest first.
  std::vector<uint64_t> touched;
  if (!items_.empty()) {
    for (const auto& w : cur.out.state)
      if (auto it = by_state_.find(state_key(w)); it != by_state_.end())
        touched.push_back(it->second);
    for (const auto& s : cur.out.statuses)
      if (auto it = by_status_.find(s.id()); it != by_status_.end()) touched.push_back(it->second);
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  }
  int64_t due = now_ms + (cur.out.statuses.empty() ? hold_ms_ : status_hold_ms_);
  if (!touched.empty()) {
    // An output has a few writes: a linear look beats building sets.
    auto overwritten = [&](const StateWrite& w) {
      return std::any_of(cur.out.state.begin(), cur.out.state.end(), [&](const StateWrite& n) {
        return n.partition == w.partition && n.key == w.key;
      });
    };
    auto restated = [&](const rec::Status& st) {
      return std::any_of(cur.out.statuses.begin(), cur.out.statuses.end(),
                         [&](const rec::Status& n) { return n.id() == st.id(); });
    };
    Output merged;
    std::vector<std::function<void()>> dones;
    for (uint64_t id : touched) {
      due = std::min(due, items_.at(id).due);
      Shipment old = take(id);
      for (auto& w : old.out.state) {
        if (overwritten(w))
          ++saved_;
        else
          merged.state.push_back(std::move(w));
      }
      for (auto& s : old.out.statuses) {
        if (restated(s))
          ++saved_;
        else
          merged.statuses.push_back(std::move(s));
      }
      std::move(old.dones.begin(), old.dones.end(), std::back_inserter(dones));
    }
    // What stays of the older outputs goes first, as it would have.
    std::move(cur.out.state.begin(), cur.out.state.end(), std::back_inserter(merged.state));
    std::move(cur.out.statuses.begin(), cur.out.statuses.end(),
              std::back_inserter(merged.statuses));
    merged.delivers = std::move(cur.out.delivers);
    merged.parts = std::move(cur.out.parts);
    cur.out = std::move(merged);
    std::move(cur.dones.begin(), cur.dones.end(), std::back_inserter(dones));
    cur.dones = std::move(dones);
  }

  std::vector<Shipment> now;
  if (hold_ms_ <= 0 || !holdable(cur.out)) {
    if (!cur.out.empty() || !cur.dones.empty()) now.push_back(std::move(cur));
    return now;
  }
  uint64_t id = next_id_++;
  auto& held = items_.emplace(id, Held{std::move(cur), due}).first->second;
  index(id, held.ship.out);  // views of the strings in their final place
  by_due_.insert({due, id});
  while (items_.size() > max_held_) now.push_back(take(items_.begin()->first));
  return now;
}

std::vector<Shipment> WriteCoalescer::due(int64_t now_ms) {
  std::vector<Shipment> out;
  while (!by_due_.empty() && by_due_.begin()->first <= now_ms)
    out.push_back(take(by_due_.begin()->second));
  return out;
}

std::vector<Shipment> WriteCoalescer::flush() {
  std::vector<Shipment> out;
  while (!items_.empty()) out.push_back(take(items_.begin()->first));
  return out;
}

}  // namespace sluice::dlr
