#pragma once
// The assembler's group logic, without Kafka: parts of a concatenated message
// come in (any order, possibly twice), groups come out complete, or
// incomplete when they time out or are pushed out.
//
// One GroupAssembler serves one input partition: every part of a group is
// keyed by its group key and so lands on one partition.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "schema/records.pb.h"

namespace sluice::routing {

struct PartIn {
  records::v1::Message msg;
  std::string value;    // the record's bytes, sent on as they are unless times change
  int64_t ts_ms = 0;    // when it was written to Kafka (the gateway's time)
  uint64_t handle = 0;  // the caller's reference to the input record
  std::vector<std::pair<std::string, std::string>> headers;
};

struct GroupOut {
  enum class Why {
    complete,
    timed_out,   // the group timeout passed before every part came
    superseded,  // a different message reused the key (same seq with another id, or another total)
    overflow,    // too many parts held: the oldest group gave way
    invalid,     // seq outside 1..total: not joinable, passed on alone
  };
  Why why = Why::complete;
  std::string key;
  std::vector<PartIn> parts;  // in seq order
};
const char* why_name(GroupOut::Why w);

struct GroupAssemblerOptions {
  int64_t timeout_ms = 600000;
  size_t max_open_parts = 100000;
  // Completed groups remembered (for the timeout) so that a late duplicate of
  // one of their parts is recognised rather than sent again alone.
  size_t recent_groups = 50000;
};

class GroupAssembler {
 public:
  explicit GroupAssembler(GroupAssemblerOptions o = {}) : o_(o) {}

  struct Added {
    bool duplicate = false;  // the part was seen before: drop it
    std::vector<GroupOut> out;
  };
  // p.msg must have concat with total > 1.
  Added add(PartIn p);
  // Groups whose first part is timeout_ms or more older than now_ms.
  std::vector<GroupOut> expire(int64_t now_ms);
  // Gives up the oldest group (why = overflow), if any.
  std::optional<GroupOut> evict_oldest();
  // Forgets every group (a revoked partition); returns the handles it held.
  std::vector<uint64_t> clear();

  size_t open_parts() const { return open_parts_; }
  size_t open_groups() const { return groups_.size(); }
  std::optional<int64_t> oldest_ts() const;

 private:
  struct Group {
    uint32_t total = 0;
    std::map<uint32_t, PartIn> parts;
    int64_t first_ts = 0;
  };
  GroupOut take(std::string key, GroupOut::Why why);
  void remember(const std::string& key, const std::vector<PartIn>& parts, int64_t ts);
  bool recently_done(const std::string& key, const std::string& id, int64_t now_ts);

  GroupAssemblerOptions o_;
  std::unordered_map<std::string, Group> groups_;
  std::set<std::pair<int64_t, std::string>> by_age_;
  size_t open_parts_ = 0;
  struct Recent {
    std::set<std::string> ids;
    int64_t ts = 0;
  };
  std::unordered_map<std::string, Recent> recent_;
  std::deque<std::pair<std::string, int64_t>> recent_order_;
  int64_t latest_ts_ = 0;
};

// The key every part of a group is sent with: the gateway's group key.
std::string group_key_of(const records::v1::Message& m);

// Gives every part of a complete group the latest schedule_at_ms and the
// earliest non-zero expire_at_ms among them, so the parts wait, expire and
// get routed as one message. Re-encodes the parts it changed.
void unify_times(std::vector<PartIn>& parts);

}  // namespace sluice::routing
