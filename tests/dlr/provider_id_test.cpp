// The provider message id normaliser: the keys the sender writes under and
// the relations the correlator chooses between.
#include "schema/provider_id.h"

#include <gtest/gtest.h>

namespace sluice::schema::pid {
namespace {

TEST(ProviderId, ClassifiesAndSpells) {
  auto h = parse("0000A1B2");
  EXPECT_EQ(h.kind, Kind::hex);
  EXPECT_EQ(h.spelling, "a1b2");
  auto d = parse("000123");
  EXPECT_EQ(d.kind, Kind::decimal);
  EXPECT_EQ(d.spelling, "123");
  EXPECT_EQ(parse("0000").spelling, "0");
  auto x = parse("0x1a2B");
  EXPECT_EQ(x.kind, Kind::hex);
  EXPECT_EQ(x.spelling, "1a2b");
  EXPECT_EQ(parse("0x1234").kind, Kind::hex);  // the prefix says hex even without letters
  auto o = parse("Msg-ABC-01");
  EXPECT_EQ(o.kind, Kind::opaque);
  EXPECT_EQ(o.spelling, "msg-abc-01");
  EXPECT_EQ(parse("").kind, Kind::empty);
  EXPECT_EQ(parse(std::string("1234\0\0", 6)).spelling, "1234");  // NUL-padded TLV
  EXPECT_EQ(parse(" 1234 ").spelling, "1234");
  EXPECT_EQ(parse(std::string(200, '1')).kind, Kind::opaque);
}

TEST(ProviderId, HexToDecimalOfAnyLength) {
  EXPECT_EQ(hex_to_dec("a1b2"), "41394");
  EXPECT_EQ(hex_to_dec("0"), "0");
  EXPECT_EQ(hex_to_dec("FFFFFFFFFFFFFFFF"), "18446744073709551615");
  EXPECT_EQ(hex_to_dec("ffffffffffffffffffffffffffffffff"),
            "340282366920938463463374607431768211455");
  EXPECT_EQ(hex_to_dec("3B9ACA00"), "1000000000");  // a limb boundary
}

TEST(ProviderId, HexAnswerAndDecimalReceiptShareAKey) {
  // submit_sm_resp "0000A1B2", receipt "41394" (0xA1B2 in decimal).
  auto keys = sent_keys(7, "0000A1B2");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0], "7|41394");
  EXPECT_EQ(receipt_key(7, "41394"), "7|41394");
  EXPECT_EQ(relation("0000A1B2", "41394"), Relation::hex_to_dec);
}

TEST(ProviderId, DigitsOnlyHexAnswerIsWrittenUnderBothReadings) {
  // "00001234" may be decimal 1234 or hex 0x1234 = 4660; the receipt says
  // "1234" from a provider that keeps its spelling, "4660" from one that
  // turns hex into decimal. Both must find a copy of the Sent.
  auto keys = sent_keys(7, "00001234");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0], "7|1234");
  EXPECT_EQ(keys[1], "7|4660");
  EXPECT_EQ(receipt_key(7, "1234"), keys[0]);
  EXPECT_EQ(receipt_key(7, "4660"), keys[1]);
  EXPECT_EQ(relation("00001234", "1234"), Relation::same);
  EXPECT_EQ(relation("00001234", "4660"), Relation::hex_to_dec);
  // Digits that read the same both ways get one key.
  EXPECT_EQ(sent_keys(7, "0007").size(), 1u);
}

TEST(ProviderId, CaseAndLeadingZerosDoNotMatter) {
  EXPECT_EQ(sent_keys(7, "00AB12")[0], receipt_key(7, "ab12"));
  EXPECT_EQ(relation("00AB12", "ab12"), Relation::same);
  EXPECT_EQ(sent_keys(7, "000123")[0], receipt_key(7, "123"));
  EXPECT_EQ(sent_keys(7, "MSG-abc")[0], receipt_key(7, "msg-ABC"));
  EXPECT_EQ(relation("MSG-abc", "msg-ABC"), Relation::same);
}

TEST(ProviderId, DecimalAnswerHexReceipt) {
  EXPECT_EQ(sent_keys(7, "41394")[0], receipt_key(7, "A1B2"));
  EXPECT_EQ(relation("41394", "A1B2"), Relation::dec_to_hex);
}

TEST(ProviderId, TextNeverMeetsANumberAndProvidersStayApart) {
  EXPECT_NE(receipt_key(7, "~123"), receipt_key(7, "123"));
  EXPECT_EQ(relation("abc-1", "abc-2"), Relation::none);
  EXPECT_EQ(relation("12", "abc"), Relation::none);
  EXPECT_NE(receipt_key(7, "123"), receipt_key(8, "123"));
  EXPECT_NE(receipt_key(1, "23"), receipt_key(12, "3"));
}

}  // namespace
}  // namespace sluice::schema::pid
