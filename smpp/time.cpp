#include "smpp/time.h"

namespace sluice::smpp {
namespace {

using namespace std::chrono;

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

SmppTime parse_smpp_time(std::string_view s, system_clock::time_point now) {
  if (s.empty()) return {SmppTime::None, {}};
  const SmppTime invalid{SmppTime::Invalid, {}};
  if (s.size() != 16) return invalid;
  int yy, mo, dd, hh, mi, ss, t, nn;
  if (!digits(s, 0, 2, yy) || !digits(s, 2, 2, mo) || !digits(s, 4, 2, dd) ||
      !digits(s, 6, 2, hh) || !digits(s, 8, 2, mi) || !digits(s, 10, 2, ss) ||
      !digits(s, 12, 1, t) || !digits(s, 13, 2, nn)) {
    return invalid;
  }
  const char p = s[15];
  if (p == 'R') {
    const auto d = days(365) * yy + days(30) * mo + days(dd) + hours(hh) + minutes(mi) +
                   seconds(ss) + milliseconds(100) * t;
    return {SmppTime::Relative, now + duration_cast<system_clock::duration>(d)};
  }
  if (p != '+' && p != '-') return invalid;
  if (nn > 56 || hh > 23 || mi > 59 || ss > 59) return invalid;
  const year_month_day ymd{year(2000 + yy), month(static_cast<unsigned>(mo)),
                           day(static_cast<unsigned>(dd))};
  if (!ymd.ok()) return invalid;
  // The fields are local time at UTC+offset; subtract the offset to get UTC.
  const auto offset = minutes(15) * nn * (p == '+' ? 1 : -1);
  const auto local = sys_days(ymd) + hours(hh) + minutes(mi) + seconds(ss) + milliseconds(100) * t;
  return {SmppTime::Absolute, time_point_cast<system_clock::duration>(local - offset)};
}

std::string format_smpp_time_utc(system_clock::time_point tp) {
  const auto day_point = floor<days>(tp);
  const year_month_day ymd{day_point};
  const hh_mm_ss hms{floor<milliseconds>(tp - day_point)};
  const int yy = ((static_cast<int>(ymd.year()) % 100) + 100) % 100;
  const int tenths = static_cast<int>(hms.subseconds().count() / 100);
  char buf[17];
  auto two = [&buf](int at, int v) {
    buf[at] = static_cast<char>('0' + v / 10);
    buf[at + 1] = static_cast<char>('0' + v % 10);
  };
  two(0, yy);
  two(2, static_cast<int>(static_cast<unsigned>(ymd.month())));
  two(4, static_cast<int>(static_cast<unsigned>(ymd.day())));
  two(6, static_cast<int>(hms.hours().count()));
  two(8, static_cast<int>(hms.minutes().count()));
  two(10, static_cast<int>(hms.seconds().count()));
  buf[12] = static_cast<char>('0' + tenths);
  buf[13] = '0';
  buf[14] = '0';
  buf[15] = '+';
  return std::string(buf, 16);
}

}  // namespace sluice::smpp
