#include "routing/group_assembler.h"

#include <algorithm>

namespace sluice::routing {

const char* why_name(GroupOut::Why w) {
  switch (w) {
    case GroupOut::Why::complete:
      return "complete";
    case GroupOut::Why::timed_out:
      return "timed_out";
    case GroupOut::Why::superseded:
      return "superseded";
    case GroupOut::Why::overflow:
      return "overflow";
    case GroupOut::Why::invalid:
      return "invalid";
  }
  return "unknown";
}

std::string group_key_of(const records::v1::Message& m) {
  if (!m.concat().group_key().empty()) return m.concat().group_key();
  // Not expected (the gateway always sets it); the same fields it uses.
  return std::to_string(m.customer_id()) + "|" + m.source().addr() + "|" + m.dest().addr() + "|" +
         std::to_string(m.concat().ref());
}

std::optional<int64_t> GroupAssembler::oldest_ts() const {
  if (by_age_.empty()) return std::nullopt;
  return by_age_.begin()->first;
}

GroupOut GroupAssembler::take(std::string key, GroupOut::Why why) {
  GroupOut out;
  out.why = why;
  out.key = key;
  auto it = groups_.find(key);
  if (it == groups_.end()) return out;
  by_age_.erase({it->second.first_ts, key});
  for (auto& [_, p] : it->second.parts) out.parts.push_back(std::move(p));
  open_parts_ -= out.parts.size();
  groups_.erase(it);
  return out;
}

void GroupAssembler::remember(const std::string& key, const std::vector<PartIn>& parts,
                              int64_t ts) {
  auto& r = recent_[key];
  for (const auto& p : parts) r.ids.insert(p.msg.id());
  r.ts = ts;
  recent_order_.push_back({key, ts});
  while (recent_order_.size() > o_.recent_groups ||
         (!recent_order_.empty() && recent_order_.front().second < latest_ts_ - o_.timeout_ms)) {
    auto [k, t] = recent_order_.front();
    recent_order_.pop_front();
    auto it = recent_.find(k);
    if (it != recent_.end() && it->second.ts == t) recent_.erase(it);
  }
}

bool GroupAssembler::recently_done(const std::string& key, const std::string& id, int64_t now_ts) {
  auto it = recent_.find(key);
  if (it == recent_.end()) return false;
  if (it->second.ts < now_ts - o_.timeout_ms) return false;
  return it->second.ids.count(id) > 0;
}

GroupAssembler::Added GroupAssembler::add(PartIn p) {
  Added r;
  const auto& c = p.msg.concat();
  std::string key = group_key_of(p.msg);
  latest_ts_ = std::max(latest_ts_, p.ts_ms);
  if (c.seq() == 0 || c.seq() > c.total()) {
    GroupOut g;
    g.why = GroupOut::Why::invalid;
    g.key = key;
    g.parts.push_back(std::move(p));
    r.out.push_back(std::move(g));
    return r;
  }
  if (recently_done(key, p.msg.id(), p.ts_ms)) {
    r.duplicate = true;
    return r;
  }
  auto it = groups_.find(key);
  if (it != groups_.end()) {
    Group& g = it->second;
    for (const auto& [_, q] : g.parts)
      if (q.msg.id() == p.msg.id()) {
        r.duplicate = true;
        return r;
      }
    if (g.total != c.total() || g.parts.count(c.seq())) {
      r.out.push_back(take(key, GroupOut::Why::superseded));
      it = groups_.end();
    }
  }
  if (it == groups_.end()) {
    Group g;
    g.total = c.total();
    g.first_ts = p.ts_ms;
    it = groups_.emplace(key, std::move(g)).first;
    by_age_.insert({p.ts_ms, key});
  } else if (p.ts_ms < it->second.first_ts) {
    by_age_.erase({it->second.first_ts, key});
    it->second.first_ts = p.ts_ms;
    by_age_.insert({p.ts_ms, key});
  }
  uint32_t seq = c.seq();
  it->second.parts.emplace(seq, std::move(p));
  ++open_parts_;
  if (it->second.parts.size() == it->second.total) {
    int64_t ts = it->second.first_ts;
    r.out.push_back(take(key, GroupOut::Why::complete));
    remember(key, r.out.back().parts, ts);
  }
  while (open_parts_ > o_.max_open_parts && !by_age_.empty())
    r.out.push_back(take(by_age_.begin()->second, GroupOut::Why::overflow));
  return r;
}

std::vector<GroupOut> GroupAssembler::expire(int64_t now_ms) {
  std::vector<GroupOut> out;
  while (!by_age_.empty() && now_ms - by_age_.begin()->first >= o_.timeout_ms)
    out.push_back(take(by_age_.begin()->second, GroupOut::Why::timed_out));
  return out;
}

std::optional<GroupOut> GroupAssembler::evict_oldest() {
  if (by_age_.empty()) return std::nullopt;
  return take(by_age_.begin()->second, GroupOut::Why::overflow);
}

std::vector<uint64_t> GroupAssembler::clear() {
  std::vector<uint64_t> handles;
  for (auto& [_, g] : groups_)
    for (auto& [__, p] : g.parts) handles.push_back(p.handle);
  groups_.clear();
  by_age_.clear();
  open_parts_ = 0;
  return handles;
}

void unify_times(std::vector<PartIn>& parts) {
  int64_t schedule = 0, expire = 0;
  for (const auto& p : parts) {
    schedule = std::max(schedule, p.msg.schedule_at_ms());
    if (p.msg.expire_at_ms() > 0)
      expire = expire == 0 ? p.msg.expire_at_ms() : std::min(expire, p.msg.expire_at_ms());
  }
  for (auto& p : parts) {
    if (p.msg.schedule_at_ms() == schedule && p.msg.expire_at_ms() == expire) continue;
    p.msg.set_schedule_at_ms(schedule);
    p.msg.set_expire_at_ms(expire);
    p.value = p.msg.SerializeAsString();
  }
}

}  // namespace sluice::routing
