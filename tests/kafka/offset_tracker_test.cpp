// What a stage may commit: never past a record without an outcome.
#include <gtest/gtest.h>

#include "kafka/stage_loop.h"

namespace sluice::kafka {
namespace {

const TopicPartition kTp{"sms.out.sim", 3};

int64_t committable(OffsetTracker& t) {
  auto c = t.committable({kTp});
  return c.empty() ? -1 : c.front().second;
}

TEST(OffsetTracker, CommitsUpToTheFirstRecordStillInFlight) {
  OffsetTracker t;
  for (int64_t o = 10; o < 15; ++o) t.started(kTp, o);
  t.finished(kTp, 10);
  t.finished(kTp, 12);
  EXPECT_EQ(committable(t), 11);
  t.finished(kTp, 11);
  t.finished(kTp, 13);
  t.finished(kTp, 14);
  EXPECT_EQ(committable(t), 15);
  EXPECT_EQ(t.in_flight(), 0u);
}

// A sender gives back what it queued for a revoked partition: the records no
// longer hold up the revoke, and the next owner starts at the first of them
// however many records after it are done.
TEST(OffsetTracker, AbandonedRecordsAreNotInFlightButAreReadAgain) {
  OffsetTracker t;
  for (int64_t o = 10; o < 16; ++o) t.started(kTp, o);
  t.finished(kTp, 10);
  t.abandoned(kTp, 12);
  t.abandoned(kTp, 14);
  EXPECT_EQ(t.in_flight({kTp}), 3u);  // 11, 13 and 15
  t.finished(kTp, 11);
  t.finished(kTp, 13);
  t.finished(kTp, 15);
  EXPECT_EQ(t.in_flight({kTp}), 0u);
  EXPECT_EQ(committable(t), 12);
  // Giving back what is unknown or already done changes nothing.
  t.abandoned(kTp, 10);
  t.abandoned({"other", 0}, 5);
  EXPECT_EQ(committable(t), 12);
  EXPECT_EQ(t.in_flight(), 0u);
}

}  // namespace
}  // namespace sluice::kafka
