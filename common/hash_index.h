#pragma once
// A multimap from a 64-bit hash to pointers, in one flat array.
//
// For tables of up to a million string-keyed entries (the DLR join's done
// marks, a gateway's status view). String-keyed node tables cost an allocation per insert and a
// miss per probed node (to compare the key); here a probe reads 16 bytes in a run of neighbours,
// and the caller compares its real key only behind a matching hash. Linear probing with
// backward-shift deletion: no tombstones, and values under one hash keep the order they were
// inserted in. Hashes 0 and 1 are one (0 marks an empty slot): a hit is always checked against the
// real key. The table halves once it is less than an eighth full, so a burst (a provider's backlog
// of receipts) does not hold its memory for good.
//
// Not thread-safe.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice {

template <class T>
class HashIndex {
 public:
  void insert(uint64_t h, T* v) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? kMinSlots : slots_.size() * 2);
    place(fix(h), v);
    ++size_;
  }

  // Removes the one entry (h, v); false if there is none.
  bool erase(uint64_t h, const T* v) {
    if (slots_.empty()) return false;
    h = fix(h);
    for (size_t i = home(h);; i = next(i)) {
      if (slots_[i].h == 0) return false;
      if (slots_[i].h == h && slots_[i].v == v) {
        shift_back(i);
        --size_;
        if (slots_.size() > kMinSlots && size_ * 8 < slots_.size()) rehash(slots_.size() / 2);
        return true;
      }
    }
  }

  // Calls f(T*) for each value under h, oldest first, until f returns false.
  template <class F>
  void each(uint64_t h, F&& f) const {
    if (slots_.empty()) return;
    h = fix(h);
    for (size_t i = home(h); slots_[i].h != 0; i = next(i))
      if (slots_[i].h == h && !f(slots_[i].v)) return;
  }

  size_t size() const { return size_; }
  size_t slots() const { return slots_.size(); }

 private:
  struct Slot {
    uint64_t h = 0;  // 0: empty
    T* v = nullptr;
  };
  static constexpr size_t kMinSlots = 16;

  static uint64_t fix(uint64_t h) { return h == 0 ? 1 : h; }
  size_t home(uint64_t h) const {
    return static_cast<size_t>((h * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  size_t next(size_t i) const { return (i + 1) & (slots_.size() - 1); }

  void place(uint64_t h, T* v) {
    size_t i = home(h);
    while (slots_[i].h != 0) i = next(i);
    slots_[i] = {h, v};
  }
  // cap is a power of two above twice size_.
  void rehash(size_t cap) {
    std::vector<Slot> old(cap);
    old.swap(slots_);
    shift_ = 64 - std::countr_zero(cap);
    // In slot order from the start of a run, so that equal hashes keep their order.
    size_t start = 0;
    while (start < old.size() && old[start].h != 0) ++start;
    for (size_t k = 0; k < old.size(); ++k) {
      const Slot& s = old[(start + k) & (old.size() - 1)];
      if (s.h != 0) place(s.h, s.v);
    }
  }
  // Fills the hole at i with the next entries of its run that may move there.
  void shift_back(size_t i) {
    size_t j = i;
    for (;;) {
      j = next(j);
      if (slots_[j].h == 0) break;
      size_t k = home(slots_[j].h);
      // The entry at j may move to i unless its home lies cyclically in (i, j].
      bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = {};
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  int shift_ = 64;
};

}  // namespace sluice
