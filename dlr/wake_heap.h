#pragma once
// Deadlines of the join's entries and multipart groups.
//
// Almost every entry is rescheduled or removed long before its deadline (a
// Sent is matched within seconds, its deadline is days away), so the structure
// makes those two cheap and pays at the deadline instead: a reschedule pushes
// a new element, a removal only frees the owner's slot, and an element whose
// slot no longer says its time (or was freed, or reused) is skipped when it
// surfaces: only a slot's latest push is live. Nothing copies or compares the owner's key: the slot
// points at the key in the owner's own table node, which stays put until it is erased, and the
// owner frees its slot before that.
//
// Order: by time, then domain, then partition, then the key's first byte (a
// held receipt's "r|" before a Sent's "s|", as when the keys themselves were
// compared: a receipt due with its Sent gets its look before the Sent
// expires), then first scheduled first.
//
// Not thread-safe.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice::dlr {

class WakeHeap {
 public:
  using Id = uint32_t;
  static constexpr Id kNone = UINT32_MAX;

  struct Due {
    int64_t when = 0;
    int domain = 0;
    int32_t partition = 0;
    const std::string* key = nullptr;
    Id id = kNone;
  };

  // A slot for an owner, with nothing scheduled. `key` must outlive the slot.
  Id add(int domain, int32_t partition, const std::string* key) {
    Id id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = static_cast<Id>(slots_.size());
      slots_.emplace_back();
    }
    Slot& s = slots_[id];
    s.key = key;
    s.tier = key && !key->empty() ? static_cast<unsigned char>((*key)[0]) : 0;
    s.domain = domain;
    s.partition = partition;
    s.pending = false;
    return id;
  }

  // Replaces whatever was pending for the slot.
  void schedule(Id id, int64_t when) {
    Slot& s = slots_[id];
    if (s.pending && s.when == when) return;  // its element is still in the heap
    if (!s.pending) ++pending_;
    s.pending = true;
    s.when = when;
    s.seq = next_seq_++;
    heap_.push_back({when, s.seq, s.partition, id, s.domain, s.tier});
    std::push_heap(heap_.begin(), heap_.end(), Later{});
    maybe_compact();
  }

  // The slot goes; what it had pending never fires. The key may go next.
  void remove(Id id) {
    Slot& s = slots_[id];
    if (s.pending) --pending_;
    s.pending = false;
    s.key = nullptr;
    free_.push_back(id);
    maybe_compact();
  }

  // The earliest pending deadline, if any.
  std::optional<Due> top() {
    while (!heap_.empty() && !live(heap_.front())) pop_front();
    if (heap_.empty()) return std::nullopt;
    const Elem& e = heap_.front();
    const Slot& s = slots_[e.slot];
    return Due{e.when, s.domain, s.partition, s.key, e.slot};
  }

  // The deadline top() gave is spent: the slot stays, with nothing pending.
  void spend(Id id) {
    Slot& s = slots_[id];
    if (s.pending) --pending_;
    s.pending = false;
  }

  size_t pending() const { return pending_; }
  // Elements held, stale ones included (for tests of the bound).
  size_t held() const { return heap_.size(); }

 private:
  struct Slot {
    const std::string* key = nullptr;
    int64_t when = 0;
    uint64_t seq = 0;  // of the latest push; seqs are never reused
    int32_t partition = 0;
    int domain = 0;
    uint8_t tier = 0;
    bool pending = false;
  };
  struct Elem {
    int64_t when;
    uint64_t seq;
    int32_t partition;
    Id slot;
    int domain;
    uint8_t tier;
  };
  struct Later {
    bool operator()(const Elem& a, const Elem& b) const {
      if (a.when != b.when) return a.when > b.when;
      if (a.domain != b.domain) return a.domain > b.domain;
      if (a.partition != b.partition) return a.partition > b.partition;
      if (a.tier != b.tier) return a.tier > b.tier;
      return a.seq > b.seq;
    }
  };

  bool live(const Elem& e) const {
    const Slot& s = slots_[e.slot];
    return s.pending && s.seq == e.seq;
  }
  void pop_front() {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    heap_.pop_back();
  }
  // Stale elements of matched entries would otherwise sit until their old
  // deadline (days): dropping them once they outnumber the live ones keeps
  // the heap within a small multiple of the entries, at O(1) amortised.
  void maybe_compact() {
    if (heap_.size() < 4096 || heap_.size() <= 2 * pending_ + 1024) return;
    std::erase_if(heap_, [this](const Elem& e) { return !live(e); });
    std::make_heap(heap_.begin(), heap_.end(), Later{});
  }

  std::vector<Elem> heap_;
  std::vector<Slot> slots_;
  std::vector<Id> free_;
  size_t pending_ = 0;
  uint64_t next_seq_ = 0;
};

}  // namespace sluice::dlr
