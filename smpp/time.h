// SMPP 3.4 time format (schedule_delivery_time, validity_period, final_date).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace sluice::smpp {

struct SmppTime {
  enum Kind {
    None,      // empty string: immediately / SMSC default validity
    Absolute,  // YYMMDDhhmmsstnnp, p '+' or '-'
    Relative,  // YYMMDDhhmmsstnnR, added to now
    Invalid,
  };
  Kind kind = None;
  std::chrono::system_clock::time_point at{};  // the UTC instant for Absolute and Relative
};

// Absolute: nn is the offset of the local time given from UTC in quarter
// hours (00-48 in the spec; up to 56 accepted for UTC+14), YY is 20YY.
// Relative: the spec leaves the length of a year and a month open; we read
// them as 365 and 30 days, as most SMSCs do. Relative fields are not range
// checked ("000000480000000R" is 48 hours).
SmppTime parse_smpp_time(std::string_view s, std::chrono::system_clock::time_point now);

// "YYMMDDhhmmsst00+" in UTC; years outside 2000-2099 wrap, as YY must.
std::string format_smpp_time_utc(std::chrono::system_clock::time_point t);

}  // namespace sluice::smpp
