#include <gtest/gtest.h>

#include "smpp/time.h"

namespace sluice::smpp {
namespace {

using namespace std::chrono;

system_clock::time_point utc(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s) +
         milliseconds(ms);
}

const auto kNow = utc(2024, 3, 10, 12, 0, 0);

TEST(SmppTime, EmptyMeansImmediately) {
  EXPECT_EQ(parse_smpp_time("", kNow).kind, SmppTime::None);
}

TEST(SmppTime, AbsoluteUtc) {
  auto t = parse_smpp_time("240229235959300+", kNow);
  ASSERT_EQ(t.kind, SmppTime::Absolute);
  EXPECT_EQ(t.at, utc(2024, 2, 29, 23, 59, 59, 300));
}

TEST(SmppTime, AbsoluteWithTimezoneOffsets) {
  // 12:00 at UTC+2 (08 quarter hours) is 10:00 UTC.
  EXPECT_EQ(parse_smpp_time("240310120000008+", kNow).at, utc(2024, 3, 10, 10, 0, 0));
  // 12:00 at UTC-5:30 (22 quarter hours) is 17:30 UTC.
  EXPECT_EQ(parse_smpp_time("240310120000022-", kNow).at, utc(2024, 3, 10, 17, 30, 0));
  // 00:30 at UTC+1 crosses back into the previous day and year.
  EXPECT_EQ(parse_smpp_time("240101003000004+", kNow).at, utc(2023, 12, 31, 23, 30, 0));
  // UTC+14 (Kiribati).
  EXPECT_EQ(parse_smpp_time("240310140000056+", kNow).at, utc(2024, 3, 10, 0, 0, 0));
}

TEST(SmppTime, RelativeIsAddedToNow) {
  auto t = parse_smpp_time("000001020304000R", kNow);
  ASSERT_EQ(t.kind, SmppTime::Relative);
  EXPECT_EQ(t.at, kNow + days(1) + hours(2) + minutes(3) + seconds(4));
  EXPECT_EQ(parse_smpp_time("010200000000000R", kNow).at, kNow + days(365 + 60));
  EXPECT_EQ(parse_smpp_time("000000480000000R", kNow).at, kNow + hours(48));
}

TEST(SmppTime, RejectsMalformedStrings) {
  for (const char* s : {"2403101200", "240310120000000", "2403101200000000+", "240310120000000X",
                        "24031012000a000+", "241310120000000+", "240230120000000+",
                        "240310250000000+", "240310126000000+", "240310120060000+",
                        "240310120000057+", "230229120000000+", " 40310120000000+"}) {
    EXPECT_EQ(parse_smpp_time(s, kNow).kind, SmppTime::Invalid) << s;
  }
}

TEST(SmppTime, FormatsUtcAndParsesBack) {
  const auto t = utc(2031, 7, 4, 9, 8, 7, 600);
  EXPECT_EQ(format_smpp_time_utc(t), "310704090807600+");
  EXPECT_EQ(parse_smpp_time(format_smpp_time_utc(t), kNow).at, t);
}

}  // namespace
}  // namespace sluice::smpp
