// The deadlines behind the join's tick: lazy deletion must never fire a
// replaced or removed deadline, and must not keep stale ones forever.
#include "dlr/wake_heap.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace sluice::dlr {
namespace {

// Pops everything due by `now`, spending each, as the correlator's tick does.
std::vector<std::string> due(WakeHeap& h, int64_t now) {
  std::vector<std::string> out;
  while (auto d = h.top()) {
    if (d->when > now) break;
    out.push_back(*d->key + "@" + std::to_string(d->when));
    h.spend(d->id);
  }
  return out;
}

TEST(WakeHeap, ARescheduledEntryWakesOnceAtItsLatestTime) {
  WakeHeap h;
  std::string a = "a", b = "b";
  auto ia = h.add(0, 1, &a);
  auto ib = h.add(0, 1, &b);
  h.schedule(ia, 100);
  h.schedule(ib, 150);
  h.schedule(ia, 200);  // later
  h.schedule(ia, 120);  // earlier again
  h.schedule(ia, 120);  // the same time twice: still one wake-up
  EXPECT_EQ(h.pending(), 2u);
  EXPECT_EQ(due(h, 110), std::vector<std::string>{});
  EXPECT_EQ(due(h, 1000), (std::vector<std::string>{"a@120", "b@150"}));
  EXPECT_EQ(due(h, 10000), std::vector<std::string>{});
  EXPECT_EQ(h.pending(), 0u);
}

TEST(WakeHeap, AnErasedEntryNeverWakesAndItsSlotServesTheNextOne) {
  WakeHeap h;
  std::string a = "a", b = "b";
  auto ia = h.add(0, 1, &a);
  h.schedule(ia, 100);
  h.remove(ia);
  auto ib = h.add(0, 1, &b);  // may reuse a's slot; a's old deadline stays dead
  EXPECT_EQ(ib, ia);
  h.schedule(ib, 300);
  EXPECT_EQ(due(h, 200), std::vector<std::string>{});
  EXPECT_EQ(due(h, 300), std::vector<std::string>{"b@300"});
}

TEST(WakeHeap, ASpentSlotWakesAgainOnlyWhenScheduledAgain) {
  WakeHeap h;
  std::string a = "a";
  auto ia = h.add(0, 1, &a);
  h.schedule(ia, 100);
  EXPECT_EQ(due(h, 100), std::vector<std::string>{"a@100"});
  EXPECT_FALSE(h.top());
  h.schedule(ia, 100);  // the same time as the spent one
  EXPECT_EQ(due(h, 100), std::vector<std::string>{"a@100"});
}

TEST(WakeHeap, EqualTimesGoByDomainThenPartitionThenHeldBeforeSentThenFirstScheduled) {
  WakeHeap h;
  std::deque<std::string> keys;
  auto add = [&](int domain, int32_t partition, const std::string& k) {
    keys.push_back(k);
    auto id = h.add(domain, partition, &keys.back());
    h.schedule(id, 50);
  };
  add(1, 0, "parts");
  add(0, 2, "s|p2-first");
  add(0, 2, "s|p2-second");
  add(0, 2, "r|p2-held");
  add(0, 1, "s|p1");
  // A held receipt ("r|") goes before the Sents ("s|") due with it, as when
  // the keys were compared: it gets its look before a Sent it fits expires.
  EXPECT_EQ(due(h, 50), (std::vector<std::string>{"s|p1@50", "r|p2-held@50", "s|p2-first@50",
                                                  "s|p2-second@50", "parts@50"}));
}

TEST(WakeHeap, StaleDeadlinesDoNotPileUp) {
  // Entries matched long before their deadline: each leaves a stale element.
  WakeHeap h;
  std::string k = "k";
  std::string keep = "keep";
  h.schedule(h.add(0, 0, &keep), 1'000'000'000);
  for (int i = 0; i < 100000; ++i) {
    auto id = h.add(0, 0, &k);
    h.schedule(id, 1000 + i);
    h.schedule(id, 2000 + i);
    h.remove(id);
  }
  EXPECT_EQ(h.pending(), 1u);
  EXPECT_LT(h.held(), 10000u);
  EXPECT_EQ(due(h, 1'000'000'000), std::vector<std::string>{"keep@1000000000"});
}

}  // namespace
}  // namespace sluice::dlr
