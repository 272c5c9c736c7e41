// Replay checkpoints: what a new owner may skip.
#include "routing/checkpoint.h"

#include <gtest/gtest.h>

namespace sluice::routing {
namespace {

TEST(Checkpoint, RoundTrips) {
  auto c = decode_checkpoint(encode_checkpoint({120, {117, 100, 105}}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->next, 120);
  EXPECT_EQ(c->open, (std::vector<int64_t>{100, 105, 117}));
  EXPECT_FALSE(decode_checkpoint("{}"));
  EXPECT_FALSE(decode_checkpoint(R"({"v":2,"next":1,"open":[]})"));
  EXPECT_FALSE(decode_checkpoint("garbage"));
}

TEST(Checkpoint, SkipsOnlyWhatWasDoneBelowNext) {
  ReplayFilter f({120, {100, 117}});
  EXPECT_FALSE(f.done_before(100));  // open: the new owner handles it
  EXPECT_TRUE(f.done_before(101));
  EXPECT_FALSE(f.done_before(117));
  EXPECT_TRUE(f.done_before(119));
  EXPECT_FALSE(f.done_before(120));  // never read by the old owner
  EXPECT_FALSE(f.done_before(500));
}

TEST(Checkpoint, TooManyOpenOffsetsClaimOnlyWhatLiesBelowTheOldest) {
  Checkpoint big{1000000, {}};
  for (int64_t i = 0; i < static_cast<int64_t>(kMaxCheckpointOpen) + 10; ++i)
    big.open.push_back(10 + 2 * i);
  auto c = decode_checkpoint(encode_checkpoint(big));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->next, 10);
  EXPECT_TRUE(c->open.empty());
  ReplayFilter f(*c);
  EXPECT_TRUE(f.done_before(9));
  EXPECT_FALSE(f.done_before(11));
}

}  // namespace
}  // namespace sluice::routing
