// The assembler's group logic without Kafka.
#include "routing/group_assembler.h"

#include <gtest/gtest.h>

#include "tests/routing/support.h"

namespace sluice::routing {
namespace {

using Why = GroupOut::Why;

PartIn in(const records::v1::Message& m, int64_t ts, uint64_t handle) {
  PartIn p;
  p.msg = m;
  p.value = m.SerializeAsString();
  p.ts_ms = ts;
  p.handle = handle;
  return p;
}

std::vector<uint32_t> seqs(const GroupOut& g) {
  std::vector<uint32_t> out;
  for (const auto& p : g.parts) out.push_back(p.msg.concat().seq());
  return out;
}

TEST(GroupAssembler, JoinsPartsThatArriveOutOfOrderAndEmitsThemInSeqOrder) {
  GroupAssembler a;
  auto r1 = a.add(in(test::part("c", "4479", 9, 3, 3), 1000, 3));
  auto r2 = a.add(in(test::part("a", "4479", 9, 1, 3), 1001, 1));
  EXPECT_TRUE(r1.out.empty());
  EXPECT_TRUE(r2.out.empty());
  EXPECT_EQ(a.open_parts(), 2u);
  auto r3 = a.add(in(test::part("b", "4479", 9, 2, 3), 1002, 2));
  ASSERT_EQ(r3.out.size(), 1u);
  EXPECT_EQ(r3.out[0].why, Why::complete);
  EXPECT_EQ(r3.out[0].key, "7|SENDER|4479|9");
  EXPECT_EQ(seqs(r3.out[0]), (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(r3.out[0].parts[0].msg.id(), "a");
  EXPECT_EQ(r3.out[0].parts[2].handle, 3u);
  EXPECT_EQ(a.open_parts(), 0u);
  EXPECT_EQ(a.open_groups(), 0u);
}

TEST(GroupAssembler, KeepsGroupsOfDifferentKeysApart) {
  GroupAssembler a;
  a.add(in(test::part("a1", "4479", 1, 1, 2), 1000, 1));
  a.add(in(test::part("b1", "4478", 1, 1, 2), 1000, 2));
  auto r = a.add(in(test::part("a2", "4479", 1, 2, 2), 1001, 3));
  ASSERT_EQ(r.out.size(), 1u);
  EXPECT_EQ(r.out[0].parts[0].msg.id(), "a1");
  EXPECT_EQ(a.open_parts(), 1u);
}

TEST(GroupAssembler, ADuplicatePartIsDroppedBeforeAndAfterTheGroupCompletes) {
  GroupAssembler a;
  a.add(in(test::part("a", "4479", 9, 1, 2), 1000, 1));
  EXPECT_TRUE(a.add(in(test::part("a", "4479", 9, 1, 2), 1001, 2)).duplicate);
  auto done = a.add(in(test::part("b", "4479", 9, 2, 2), 1002, 3));
  ASSERT_EQ(done.out.size(), 1u);
  EXPECT_EQ(done.out[0].parts.size(), 2u);
  auto late = a.add(in(test::part("b", "4479", 9, 2, 2), 5000, 4));
  EXPECT_TRUE(late.duplicate);
  EXPECT_EQ(a.open_parts(), 0u);
}

TEST(GroupAssembler, AReusedReferenceSupersedesTheOldIncompleteGroup) {
  GroupAssembler a;
  a.add(in(test::part("old1", "4479", 9, 1, 3), 1000, 1));
  auto r = a.add(in(test::part("new1", "4479", 9, 1, 2), 2000, 2));
  ASSERT_EQ(r.out.size(), 1u);
  EXPECT_EQ(r.out[0].why, Why::superseded);
  EXPECT_EQ(r.out[0].parts[0].msg.id(), "old1");
  auto done = a.add(in(test::part("new2", "4479", 9, 2, 2), 2001, 3));
  ASSERT_EQ(done.out.size(), 1u);
  EXPECT_EQ(done.out[0].why, Why::complete);
}

TEST(GroupAssembler, IncompleteGroupsTimeOutFromTheirFirstPart) {
  GroupAssemblerOptions o;
  o.timeout_ms = 60000;
  GroupAssembler a(o);
  a.add(in(test::part("a3", "4479", 9, 3, 3), 1000, 1));
  a.add(in(test::part("a1", "4479", 9, 1, 3), 30000, 2));
  EXPECT_TRUE(a.expire(60999).empty());
  auto out = a.expire(61000);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].why, Why::timed_out);
  EXPECT_EQ(seqs(out[0]), (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(a.open_parts(), 0u);
}

TEST(GroupAssembler, TooManyHeldPartsPushOutTheOldestGroup) {
  GroupAssemblerOptions o;
  o.max_open_parts = 3;
  GroupAssembler a(o);
  a.add(in(test::part("x1", "1", 1, 1, 3), 1000, 1));
  a.add(in(test::part("y1", "2", 1, 1, 3), 2000, 2));
  a.add(in(test::part("z1", "3", 1, 1, 3), 3000, 3));
  auto r = a.add(in(test::part("w1", "4", 1, 1, 3), 4000, 4));
  ASSERT_EQ(r.out.size(), 1u);
  EXPECT_EQ(r.out[0].why, Why::overflow);
  EXPECT_EQ(r.out[0].parts[0].msg.id(), "x1");
  EXPECT_EQ(a.open_parts(), 3u);
}

TEST(GroupAssembler, ASeqOutsideTheTotalIsPassedOnAlone) {
  GroupAssembler a;
  auto r = a.add(in(test::part("bad", "4479", 9, 4, 3), 1000, 1));
  ASSERT_EQ(r.out.size(), 1u);
  EXPECT_EQ(r.out[0].why, Why::invalid);
  EXPECT_EQ(a.open_parts(), 0u);
}

TEST(GroupAssembler, ClearGivesBackTheHandlesItHeld) {
  GroupAssembler a;
  a.add(in(test::part("a1", "4479", 9, 1, 3), 1000, 11));
  a.add(in(test::part("b1", "4478", 9, 1, 3), 1000, 12));
  auto h = a.clear();
  std::sort(h.begin(), h.end());
  EXPECT_EQ(h, (std::vector<uint64_t>{11, 12}));
  EXPECT_EQ(a.open_parts(), 0u);
}

TEST(GroupAssembler, CompleteGroupsShareTheLatestScheduleAndEarliestExpiry) {
  std::vector<PartIn> parts;
  auto p1 = test::part("a", "4479", 9, 1, 2);
  p1.set_schedule_at_ms(5000);
  p1.set_expire_at_ms(90000);
  auto p2 = test::part("b", "4479", 9, 2, 2);
  p2.set_schedule_at_ms(5100);
  p2.set_expire_at_ms(0);
  parts.push_back(in(p1, 1, 1));
  parts.push_back(in(p2, 1, 2));
  unify_times(parts);
  for (const auto& p : parts) {
    EXPECT_EQ(p.msg.schedule_at_ms(), 5100);
    EXPECT_EQ(p.msg.expire_at_ms(), 90000);
    records::v1::Message back;
    ASSERT_TRUE(back.ParseFromString(p.value));
    EXPECT_EQ(back.schedule_at_ms(), 5100);
  }
}

}  // namespace
}  // namespace sluice::routing
