#include <gtest/gtest.h>

#include "smpp/udh.h"
#include "tests/smpp/vectors.h"

namespace sluice::smpp {
namespace {

using testing::unhex;

TEST(Udh, ReadsAnEightBitReference) {
  auto c = concat_from_udh(unhex("05 00 03 A7 03 02 41 42"));
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, (ConcatInfo{0xA7, 3, 2, false}));
}

TEST(Udh, ReadsASixteenBitReferenceAfterOtherIes) {
  // a port IE (0x05) before the concatenation IE
  auto c = concat_from_udh(unhex("0C 05 04 0B 84 23 F0 08 04 12 34 02 01 99"));
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, (ConcatInfo{0x1234, 2, 1, true}));
}

TEST(Udh, RejectsMalformedHeaders) {
  EXPECT_EQ(concat_from_udh({}), std::nullopt);
  EXPECT_EQ(concat_from_udh(unhex("05 00 03 A7 03")), std::nullopt);     // UDHL past the end
  EXPECT_EQ(concat_from_udh(unhex("04 00 03 A7 03")), std::nullopt);     // IE past the UDH
  EXPECT_EQ(concat_from_udh(unhex("05 00 03 A7 00 00")), std::nullopt);  // total 0
  EXPECT_EQ(concat_from_udh(unhex("05 00 03 A7 02 03")), std::nullopt);  // seq > total
  EXPECT_EQ(concat_from_udh(unhex("04 05 02 0B 84")), std::nullopt);     // no concat IE
  EXPECT_EQ(udh_size(unhex("05 00 03 A7 03 02 41")), 6u);
  EXPECT_EQ(udh_size(unhex("09 00")), std::nullopt);
}

TEST(Udh, MakeConcatUdhRoundTrips) {
  for (ConcatInfo c : {ConcatInfo{0x42, 4, 3, false}, ConcatInfo{0xBEEF, 9, 9, true}}) {
    EXPECT_EQ(concat_from_udh(make_concat_udh(c)), c);
  }
  EXPECT_EQ(make_concat_udh({0x42, 2, 1, false}), unhex("05 00 03 42 02 01"));
  EXPECT_EQ(make_concat_udh({0x1234, 2, 1, true}), unhex("06 08 04 12 34 02 01"));
}

TEST(Udh, ConcatOfSubmitSmNeedsTheUdhiBit) {
  SubmitSm m;
  m.short_message = unhex("05 00 03 07 02 01 68 69");
  EXPECT_EQ(concat_of(m), std::nullopt);
  m.esm_class = kEsmUdhi;
  EXPECT_EQ(concat_of(m), (ConcatInfo{7, 2, 1, false}));
}

TEST(Udh, ConcatOfLooksInMessagePayloadToo) {
  DeliverSm m;
  m.esm_class = kEsmUdhi;
  m.tlvs.set_bytes(tlv::message_payload, unhex("05 00 03 07 02 02 68 69"));
  EXPECT_EQ(concat_of(m), (ConcatInfo{7, 2, 2, false}));
}

TEST(Udh, ConcatOfFallsBackToSarTlvs) {
  SubmitSm m;
  m.tlvs.set_u16(tlv::sar_msg_ref_num, 0x1234);
  m.tlvs.set_u8(tlv::sar_total_segments, 3);
  EXPECT_EQ(concat_of(m), std::nullopt);
  m.tlvs.set_u8(tlv::sar_segment_seqnum, 2);
  EXPECT_EQ(concat_of(m), (ConcatInfo{0x1234, 3, 2, true}));
  m.tlvs.set_u8(tlv::sar_segment_seqnum, 4);
  EXPECT_EQ(concat_of(m), std::nullopt);
}

}  // namespace
}  // namespace sluice::smpp
