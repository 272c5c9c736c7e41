#include <gtest/gtest.h>

#include "smpp/receipt.h"

namespace sluice::smpp {
namespace {

TEST(Receipt, FormatsTheAppendixBLayout) {
  Receipt r{"7f3a",       1,         1,   "2401011200",
            "2401011201", "DELIVRD", "0", "hello world, this is longer"};
  EXPECT_EQ(format_receipt(r),
            "id:7f3a sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD "
            "err:000 text:hello world, this is");
}

TEST(Receipt, ParsesWhatItFormats) {
  Receipt r{"abc", 1, 0, "2401011200", "2401021200", "UNDELIV", "034", "hi"};
  EXPECT_EQ(parse_receipt(format_receipt(r)), r);
}

TEST(Receipt, ParsesKeysInAnyCaseOrderAndSpelling) {
  auto r = parse_receipt(
      "Stat:EXPIRED ID:0A1B submit_date:2402291359 Done_Date:2403010000 Err:5 sub:1 dlvrd:0 "
      "Text:two words: here");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "0A1B");
  EXPECT_EQ(r->stat, "EXPIRED");
  EXPECT_EQ(r->submit_date, "2402291359");
  EXPECT_EQ(r->done_date, "2403010000");
  EXPECT_EQ(r->err, "5");
  EXPECT_EQ(r->sub, 1);
  EXPECT_EQ(r->dlvrd, 0);
  EXPECT_EQ(r->text, "two words: here");
}

TEST(Receipt, ToleratesMissingAndUnknownFields) {
  auto r = parse_receipt("id:42 foo:bar stat:DELIVRD");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "42");
  EXPECT_EQ(r->stat, "DELIVRD");
  EXPECT_EQ(r->sub, 1);
  EXPECT_EQ(r->text, "");
  auto bad_numbers = parse_receipt("id:1 sub:x dlvrd:");
  ASSERT_TRUE(bad_numbers);
  EXPECT_EQ(bad_numbers->sub, 1);
}

TEST(Receipt, RejectsTextThatIsNotAReceipt) {
  EXPECT_EQ(parse_receipt("hello, see you at 10:30"), std::nullopt);
  EXPECT_EQ(parse_receipt(""), std::nullopt);
}

TEST(MessageState, MapsStatWordsBothWays) {
  EXPECT_EQ(message_state_of("DELIVRD"), message_state::DELIVERED);
  EXPECT_EQ(message_state_of("delivered"), 2);
  EXPECT_EQ(message_state_of("UNDELIV"), 5);
  EXPECT_EQ(message_state_of("REJECTD"), 8);
  EXPECT_EQ(message_state_of("ACCEPTD"), 6);
  EXPECT_EQ(message_state_of("ENROUTE"), 1);
  EXPECT_EQ(message_state_of("whatever"), message_state::UNKNOWN);
  for (uint8_t s = 1; s <= 8; ++s) EXPECT_EQ(message_state_of(stat_of(s)), s);
  EXPECT_STREQ(stat_of(0), "UNKNOWN");
  EXPECT_STREQ(stat_of(200), "UNKNOWN");
  EXPECT_FALSE(is_final_state(message_state::ENROUTE));
  EXPECT_TRUE(is_final_state(message_state::DELIVERED));
  EXPECT_TRUE(is_final_state(message_state::REJECTED));
  EXPECT_FALSE(is_final_state(0));
  EXPECT_FALSE(is_final_state(9));
}

}  // namespace
}  // namespace sluice::smpp
