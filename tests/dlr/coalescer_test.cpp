#include "dlr/coalescer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::dlr {
namespace {

using namespace std::chrono_literals;

rec::Status status(const std::string& id, uint32_t state) {
  rec::Status s;
  s.set_id(id);
  s.set_message_state(state);
  return s;
}

rec::DlrState entry(bool done) {
  rec::DlrState st;
  st.set_done(done);
  return st;
}

// What a Sent record gives: its changelog entry and ENROUTE.
Output sent_output(const std::string& key, const std::string& id) {
  Output o;
  o.statuses.push_back(status(id, 1));
  o.state.push_back({3, key, entry(false)});
  return o;
}

// What its receipt gives: the customer's receipt, the final state, "done".
Output receipt_output(const std::string& key, const std::string& id) {
  Output o;
  o.delivers.emplace_back();
  o.statuses.push_back(status(id, 2));
  o.state.push_back({3, key, entry(true)});
  return o;
}

TEST(WriteCoalescer, AReceiptWithinTheHoldReplacesTheSentsWritesAndFinishesBothRecords) {
  WriteCoalescer c(1s, 100);
  int sent_done = 0, receipt_done = 0;
  auto now = c.offer(
      sent_output("s|k1", "m1"), [&] { ++sent_done; }, 1000);
  EXPECT_TRUE(now.empty());
  EXPECT_EQ(c.held(), 1u);

  now = c.offer(
      receipt_output("s|k1", "m1"), [&] { ++receipt_done; }, 1200);
  ASSERT_EQ(now.size(), 1u);
  const Output& out = now[0].out;
  ASSERT_EQ(out.statuses.size(), 1u);
  EXPECT_EQ(out.statuses[0].message_state(), 2u);
  ASSERT_EQ(out.state.size(), 1u);
  EXPECT_TRUE(out.state[0].value->done());
  EXPECT_EQ(out.delivers.size(), 1u);
  EXPECT_EQ(c.saved(), 2u);
  EXPECT_EQ(c.held(), 0u);

  // Both input records finish when the combined output is durable, not before.
  EXPECT_EQ(sent_done + receipt_done, 0);
  for (auto& d : now[0].dones) d();
  EXPECT_EQ(sent_done, 1);
  EXPECT_EQ(receipt_done, 1);
}

TEST(WriteCoalescer, WhatNobodyOverwritesIsWrittenWhenItsHoldEnds) {
  WriteCoalescer c(1s, 100);
  int done = 0;
  EXPECT_TRUE(c.offer(
                   sent_output("s|k1", "m1"), [&] { ++done; }, 1000)
                  .empty());
  EXPECT_TRUE(c.due(1999).empty());
  auto now = c.due(2000);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].out.statuses.size(), 1u);
  EXPECT_EQ(now[0].out.state.size(), 1u);
  ASSERT_EQ(now[0].dones.size(), 1u);
  now[0].dones[0]();
  EXPECT_EQ(done, 1);
  EXPECT_EQ(c.saved(), 0u);
  EXPECT_EQ(c.held(), 0u);
}

TEST(WriteCoalescer, AnEnrouteStatusWaitsOnlyTheShorterStatusHold) {
  // cancel_sm is answered from sms.status: a held ENROUTE would make a
  // message the provider already has look cancellable for the whole hold.
  WriteCoalescer c(1s, 100, 100ms);
  EXPECT_TRUE(c.offer(
                   sent_output("s|k1", "m1"), [] {}, 1000)
                  .empty());
  Output only_state;
  only_state.state.push_back({3, "s|k2", entry(false)});
  EXPECT_TRUE(c.offer(
                   std::move(only_state), [] {}, 1000)
                  .empty());
  EXPECT_TRUE(c.due(1099).empty());
  auto now = c.due(1100);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].out.statuses.size(), 1u);
  EXPECT_EQ(c.held(), 1u);  // the changelog entry alone waits the full hold
  EXPECT_TRUE(c.due(1999).empty());
  EXPECT_EQ(c.due(2000).size(), 1u);
}

TEST(WriteCoalescer, AbsorbedWritesForOtherKeysGoFirstAndKeepTheOldestDeadline) {
  WriteCoalescer c(1s, 100);
  Output first = sent_output("s|k1", "m1");
  first.state.push_back({3, "s|other", entry(false)});
  EXPECT_TRUE(c.offer(
                   std::move(first), [] {}, 1000)
                  .empty());
  // A holdable output that overwrites only part of the held one.
  Output second;
  second.state.push_back({3, "s|k1", entry(true)});
  EXPECT_TRUE(c.offer(
                   std::move(second), [] {}, 1500)
                  .empty());
  EXPECT_EQ(c.held(), 1u);
  EXPECT_EQ(c.saved(), 1u);
  // Released at the first record's deadline, not the second's.
  auto now = c.due(2000);
  ASSERT_EQ(now.size(), 1u);
  const auto& st = now[0].out.state;
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].key, "s|other");
  EXPECT_EQ(st[1].key, "s|k1");
  EXPECT_TRUE(st[1].value->done());
  EXPECT_EQ(now[0].out.statuses.size(), 1u);  // ENROUTE: nothing replaced it
  EXPECT_EQ(now[0].dones.size(), 2u);
}

TEST(WriteCoalescer, TheSameKeyInAnotherPartitionIsAnotherKey) {
  WriteCoalescer c(1s, 100);
  EXPECT_TRUE(c.offer(
                   sent_output("s|k1", "m1"), [] {}, 1000)
                  .empty());
  Output other;
  other.state.push_back({4, "s|k1", entry(true)});
  EXPECT_TRUE(c.offer(
                   std::move(other), [] {}, 1100)
                  .empty());
  EXPECT_EQ(c.held(), 2u);
  EXPECT_EQ(c.saved(), 0u);
}

TEST(WriteCoalescer, ReceiptsForCustomersAndEmptyOutputsAreNeverHeld) {
  WriteCoalescer c(1s, 100);
  auto now = c.offer(
      receipt_output("s|k1", "m1"), [] {}, 1000);
  EXPECT_EQ(now.size(), 1u);
  int done = 0;
  now = c.offer(
      Output{}, [&] { ++done; }, 1000);
  ASSERT_EQ(now.size(), 1u);
  for (auto& d : now[0].dones) d();
  EXPECT_EQ(done, 1);
  EXPECT_EQ(c.held(), 0u);
}

TEST(WriteCoalescer, BeyondMaxHeldTheOldestIsReleased) {
  WriteCoalescer c(1s, 2);
  EXPECT_TRUE(c.offer(
                   sent_output("s|a", "a"), [] {}, 1000)
                  .empty());
  EXPECT_TRUE(c.offer(
                   sent_output("s|b", "b"), [] {}, 1001)
                  .empty());
  auto now = c.offer(
      sent_output("s|c", "c"), [] {}, 1002);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].out.statuses[0].id(), "a");
  EXPECT_EQ(c.held(), 2u);
  auto rest = c.flush();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].out.statuses[0].id(), "b");
  EXPECT_EQ(rest[1].out.statuses[0].id(), "c");
  EXPECT_EQ(c.held(), 0u);
}

TEST(WriteCoalescer, AZeroHoldWritesEverythingAtOnce) {
  WriteCoalescer c(0ms, 100);
  auto now = c.offer(
      sent_output("s|k1", "m1"), [] {}, 1000);
  EXPECT_EQ(now.size(), 1u);
  EXPECT_EQ(c.held(), 0u);
}

}  // namespace
}  // namespace sluice::dlr
