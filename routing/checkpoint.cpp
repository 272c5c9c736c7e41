#include "routing/checkpoint.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace sluice::routing {

std::string encode_checkpoint(const Checkpoint& c) {
  Checkpoint out = c;
  std::sort(out.open.begin(), out.open.end());
  if (out.open.size() > kMaxCheckpointOpen) {
    out.next = out.open.front();
    out.open.clear();
  }
  nlohmann::json j{{"v", 1}, {"next", out.next}, {"open", out.open}};
  return j.dump();
}

std::optional<Checkpoint> decode_checkpoint(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || j.value("v", 0) != 1) return std::nullopt;
  auto next = j.find("next");
  auto open = j.find("open");
  if (next == j.end() || !next->is_number_integer() || open == j.end() || !open->is_array())
    return std::nullopt;
  Checkpoint c;
  c.next = next->get<int64_t>();
  for (const auto& o : *open) {
    if (!o.is_number_integer()) return std::nullopt;
    c.open.push_back(o.get<int64_t>());
  }
  std::sort(c.open.begin(), c.open.end());
  return c;
}

ReplayFilter::ReplayFilter(Checkpoint c) : c_(std::move(c)) {
  std::sort(c_.open.begin(), c_.open.end());
}

bool ReplayFilter::done_before(int64_t offset) const {
  return offset < c_.next && !std::binary_search(c_.open.begin(), c_.open.end(), offset);
}

}  // namespace sluice::routing
