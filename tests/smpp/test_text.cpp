#include <gtest/gtest.h>

#include "smpp/text.h"
#include "tests/smpp/vectors.h"

namespace sluice::smpp {
namespace {

using testing::unhex;
using V = std::vector<uint8_t>;

TEST(Charset, FollowsSmppAndGsmCodingGroups) {
  EXPECT_EQ(charset_of(0x00), Charset::Gsm7);
  EXPECT_EQ(charset_of(0x01), Charset::Ascii);
  EXPECT_EQ(charset_of(0x02), Charset::Binary);
  EXPECT_EQ(charset_of(0x03), Charset::Latin1);
  EXPECT_EQ(charset_of(0x04), Charset::Binary);
  EXPECT_EQ(charset_of(0x08), Charset::Ucs2);
  EXPECT_EQ(charset_of(0xF0), Charset::Gsm7);
  EXPECT_EQ(charset_of(0xF3), Charset::Gsm7);
  EXPECT_EQ(charset_of(0xF4), Charset::Binary);
  EXPECT_EQ(charset_of(0xF7), Charset::Binary);
  EXPECT_EQ(charset_of(0x18), Charset::Ucs2);  // general group, class 0
  EXPECT_EQ(charset_of(0x10), Charset::Gsm7);
  EXPECT_EQ(charset_of(0x14), Charset::Binary);
  EXPECT_EQ(charset_of(0x30), Charset::Binary);  // compressed
  EXPECT_EQ(charset_of(0xC8), Charset::Gsm7);
  EXPECT_EQ(charset_of(0xE0), Charset::Ucs2);
  EXPECT_EQ(data_coding_of(Charset::Ucs2), 0x08);
}

TEST(Gsm7, PacksHelloToTheKnownOctets) {
  const V septets = *from_utf8("hello", Charset::Gsm7);
  EXPECT_EQ(gsm7_pack(septets), unhex("E8 32 9B FD 06"));
  EXPECT_EQ(gsm7_unpack(unhex("E8 32 9B FD 06"), 5), septets);
}

TEST(Gsm7, PacksEightSeptetsIntoSevenOctets) {
  const V septets = *from_utf8("12345678", Charset::Gsm7);
  const V packed = gsm7_pack(septets);
  EXPECT_EQ(packed, unhex("31 D9 8C 56 B3 DD 70"));
  EXPECT_EQ(gsm7_unpack(packed, 8), septets);
}

TEST(Gsm7, FillBitsAlignAfterAUdh) {
  // After a 6-octet UDH (48 bits) one fill bit reaches the septet boundary 49.
  const V septets = *from_utf8("Hi there", Charset::Gsm7);
  const V packed = gsm7_pack(septets, 1);
  EXPECT_EQ(packed[0] & 1, 0);
  EXPECT_EQ(gsm7_unpack(packed, septets.size(), 1), septets);
}

TEST(Gsm7, UnpackNeverReadsPastTheInput) {
  EXPECT_EQ(gsm7_unpack(unhex("E8 32"), 100).size(), 2u);
  EXPECT_TRUE(gsm7_unpack({}, 10).empty());
  EXPECT_EQ(gsm7_unpack(unhex("FF"), 5, 7).size(), 0u);
}

TEST(Gsm7, EuroIsAnEscapedExtensionCharacter) {
  EXPECT_EQ(*from_utf8("€", Charset::Gsm7), unhex("1B 65"));
  EXPECT_EQ(*to_utf8(0, unhex("1B 65")), "€");
  EXPECT_EQ(*from_utf8("{[~]}|^\\", Charset::Gsm7),
            unhex("1B28 1B3C 1B3D 1B3E 1B29 1B40 1B14 1B2F"));
}

TEST(Gsm7, BasicTableMapsBothWays) {
  const std::string text =
      "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà";
  const auto septets = from_utf8(text, Charset::Gsm7);
  ASSERT_TRUE(septets);
  EXPECT_EQ((*septets)[0], 0x00);
  EXPECT_EQ((*septets)[1], 0x01);
  EXPECT_EQ(septets->back(), 0x7F);
  EXPECT_EQ(*to_utf8(0, *septets), text);
  EXPECT_EQ(*from_utf8("ç", Charset::Gsm7), V{0x09});  // lenient input
}

TEST(Gsm7, RejectsWhatItCannotEncodeOrDecode) {
  EXPECT_EQ(from_utf8("日本", Charset::Gsm7), std::nullopt);
  EXPECT_EQ(from_utf8("\xC3", Charset::Gsm7), std::nullopt);      // truncated UTF-8
  EXPECT_EQ(from_utf8("\xC0\xAF", Charset::Gsm7), std::nullopt);  // overlong
  EXPECT_EQ(to_utf8(0, unhex("41 80")), std::nullopt);
  EXPECT_EQ(*to_utf8(0, unhex("41 1B")), "A ");  // lone ESC shows as space
}

TEST(Gsm7, SeptetLengthCountsExtensionCharactersTwice) {
  EXPECT_EQ(gsm7_septet_length("hello"), 5u);
  EXPECT_EQ(gsm7_septet_length("5€"), 3u);
  EXPECT_EQ(gsm7_septet_length("{}"), 4u);
  EXPECT_EQ(gsm7_septet_length(""), 0u);
  EXPECT_EQ(gsm7_septet_length("привет"), kNotGsm7);
}

TEST(Ucs2, EncodesBigEndianWithSurrogatePairs) {
  EXPECT_EQ(*from_utf8("Hi", Charset::Ucs2), unhex("0048 0069"));
  EXPECT_EQ(*from_utf8("€", Charset::Ucs2), unhex("20AC"));
  EXPECT_EQ(*from_utf8("😀", Charset::Ucs2), unhex("D83D DE00"));
  EXPECT_EQ(*to_utf8(8, unhex("D83D DE00 0041")), "😀A");
  EXPECT_EQ(*to_utf8(8, unhex("041F 0440 0438")), "При");
}

TEST(Ucs2, RejectsOddLengthsAndBrokenSurrogates) {
  EXPECT_EQ(to_utf8(8, unhex("00 48 00")), std::nullopt);
  EXPECT_EQ(to_utf8(8, unhex("D83D")), std::nullopt);
  EXPECT_EQ(to_utf8(8, unhex("D83D 0041")), std::nullopt);
  EXPECT_EQ(to_utf8(8, unhex("DE00 D83D")), std::nullopt);
  EXPECT_EQ(from_utf8("\xED\xA0\x80", Charset::Ucs2), std::nullopt);  // encoded surrogate
}

TEST(Latin1AndAscii, MapOctetsToCodePoints) {
  EXPECT_EQ(*to_utf8(3, unhex("E9 74 E9")), "été");
  EXPECT_EQ(*from_utf8("été", Charset::Latin1), unhex("E9 74 E9"));
  EXPECT_EQ(from_utf8("€", Charset::Latin1), std::nullopt);
  EXPECT_EQ(*to_utf8(1, unhex("41 42")), "AB");
  EXPECT_EQ(to_utf8(1, unhex("41 C2")), std::nullopt);
  EXPECT_EQ(from_utf8("é", Charset::Ascii), std::nullopt);
}

TEST(Binary, IsNotText) {
  EXPECT_EQ(to_utf8(4, unhex("00 01")), std::nullopt);
  EXPECT_EQ(*from_utf8("ab", Charset::Binary), unhex("61 62"));
}

}  // namespace
}  // namespace sluice::smpp
