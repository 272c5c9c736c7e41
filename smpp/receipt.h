// Delivery receipt text (SMPP 3.4 Appendix B) and message_state values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::smpp {

struct Receipt {
  std::string id;
  int sub = 1, dlvrd = 0;
  std::string submit_date, done_date;  // YYMMDDhhmm
  std::string stat;  // DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, ENROUTE
  std::string err;   // 3 digits
  std::string text;  // first 20 characters of the message
  bool operator==(const Receipt&) const = default;
};

namespace message_state {
inline constexpr uint8_t ENROUTE = 1;
inline constexpr uint8_t DELIVERED = 2;
inline constexpr uint8_t EXPIRED = 3;
inline constexpr uint8_t DELETED = 4;
inline constexpr uint8_t UNDELIVERABLE = 5;
inline constexpr uint8_t ACCEPTED = 6;
inline constexpr uint8_t UNKNOWN = 7;
inline constexpr uint8_t REJECTED = 8;
}  // namespace message_state

// "id:ID sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm
// stat:DELIVRD err:000 text:..." with text cut to 20 octets and err
// zero-padded to 3 digits.
std::string format_receipt(const Receipt& r);

// Tolerant of what SMSCs send: keys in any case and order, "submit_date" /
// "done_date" spellings, missing fields (left at their defaults), unknown
// fields skipped. text runs to the end. nullopt when neither id nor stat is
// there (not a receipt).
std::optional<Receipt> parse_receipt(std::string_view s);

// DELIVRD -> 2 and so on, case-insensitive, also the long names (DELIVERED,
// UNDELIVERABLE, ...); anything else -> UNKNOWN (7).
uint8_t message_state_of(std::string_view stat);
// 2 -> "DELIVRD"; values outside 1..8 -> "UNKNOWN".
const char* stat_of(uint8_t message_state);
// SMPP 3.4: every state but ENROUTE is final.
bool is_final_state(uint8_t message_state);

}  // namespace sluice::smpp
