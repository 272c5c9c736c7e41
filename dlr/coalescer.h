#pragma once
// Holds back the DLR join's writes that a later record usually overwrites.
//
// When a provider answers quickly, a message's Sent record and its receipt
// arrive within a second of each other. Written as they come, the pair costs
// two changelog writes for one key (the Sent entry, then "done") and two
// sms.status writes for one message id (ENROUTE, then the final state), and
// the first of each is dead as soon as the second lands. An output made only
// of such writes (no receipt for a customer, no multipart part) is held for
// `hold`; a later output that writes the same changelog key or status id
// absorbs it: the overwritten writes are dropped, the rest go out first, in
// their order, with the later output. What nobody overwrote is written when
// its hold ends. (Kafka Streams caches its state stores the same way.)
// Statuses are held for less time than changelog entries (see the constructor).
//
// The input record behind a held output is finished only when what replaced
// or released it is durable: until then its offset is not committed, and a
// crash makes the stage read it again (the join drops a Sent it already
// knows). Nothing waits longer than `hold` after its first record, and at
// most `max_held` outputs wait; beyond that the oldest is released.
//
// Not thread-safe: the lane's polling thread only.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dlr/correlator.h"

namespace sluice::dlr {

struct Shipment {
  Output out;
  // The input records this output finishes; all run once it is durable.
  std::vector<std::function<void()>> dones;
};

class WriteCoalescer {
 public:
  // An output with a status waits at most `status_hold` (if shorter): the
  // gateway answers cancel_sm from sms.status, and while ENROUTE is held
  // there a message the provider already has still looks cancellable.
  WriteCoalescer(std::chrono::milliseconds hold, size_t max_held,
                 std::chrono::milliseconds status_hold = std::chrono::milliseconds::max())
      : hold_ms_(hold.count()),
        status_hold_ms_(std::min(hold, status_hold).count()),
        max_held_(max_held) {}

  // The output of one input record (done: that record is finished). Returns
  // what must be written now, in order; empty when the output is held.
  std::vector<Shipment> offer(Output out, std::function<void()> done, int64_t now_ms);
  // Held outputs whose time has come.
  std::vector<Shipment> due(int64_t now_ms);
  // Everything held (a partition is leaving, or the stage stops).
  std::vector<Shipment> flush();

  size_t held() const { return items_.size(); }
  // Writes that were overwritten before they were made.
  uint64_t saved() const { return saved_; }

 private:
  struct Held {
    Shipment ship;
    int64_t due = 0;
  };
  // Index keys view the held outputs' own strings, which stay put while held.
  struct StateKey {
    int32_t partition;
    std::string_view key;
    bool operator==(const StateKey&) const = default;
  };
  struct StateKeyHash {
    size_t operator()(const StateKey& k) const {
      return std::hash<std::string_view>{}(k.key) ^
             (static_cast<size_t>(k.partition) * 0x9E3779B97F4A7C15ull);
    }
  };
  static StateKey state_key(const StateWrite& w) { return {w.partition, w.key}; }
  static bool holdable(const Output& out);
  void index(uint64_t id, const Output& out);
  void unindex(const Output& out);
  Shipment take(uint64_t id);

  int64_t hold_ms_;
  int64_t status_hold_ms_;
  size_t max_held_;
  uint64_t next_id_ = 1;  // ids grow with age: a smaller id was held first
  uint64_t saved_ = 0;
  std::map<uint64_t, Held> items_;
  std::set<std::pair<int64_t, uint64_t>> by_due_;
  std::unordered_map<StateKey, uint64_t, StateKeyHash> by_state_;  // -> held id
  std::unordered_map<std::string_view, uint64_t> by_status_;       // message id -> held id
};

}  // namespace sluice::dlr
