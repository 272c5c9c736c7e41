// User Data Header (GSM 03.40) concatenation info, and its sar_* TLV twin.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "smpp/pdu.h"

namespace sluice::smpp {

inline constexpr uint8_t kEsmUdhi = 0x40;  // esm_class: short_message starts with a UDH

struct ConcatInfo {
  uint16_t ref = 0;
  uint8_t total = 0;  // parts in the message, >= 1
  uint8_t seq = 0;    // this part, 1..total
  bool ref16 = false;
  bool operator==(const ConcatInfo&) const = default;
};

// Octets the UDH takes at the start of user_data (UDHL + 1), when it is
// well formed and fits; the caller decides from esm_class whether there is one.
std::optional<size_t> udh_size(std::span<const uint8_t> user_data);

// The concatenation IE (0x00: 8-bit reference, 0x08: 16-bit reference) of a
// UDH at the start of user_data. nullopt when the UDH is malformed, has no such
// IE, or the IE is invalid (total 0, seq 0 or seq > total). When the IE
// repeats, the last one counts (GSM 03.40).
std::optional<ConcatInfo> concat_from_udh(std::span<const uint8_t> user_data);

// Looks at the UDH (when esm_class has UDHI; short_message, or message_payload
// when short_message is empty) and then at sar_msg_ref_num,
// sar_total_segments and sar_segment_seqnum (16-bit reference).
std::optional<ConcatInfo> concat_of(const SubmitSm& sm);
std::optional<ConcatInfo> concat_of(const DeliverSm& sm);
std::optional<ConcatInfo> concat_of(const DataSm& sm);

// A UDH holding just the concatenation IE: 05 00 03 RR TT SS, or
// 06 08 04 RR RR TT SS when ref16.
std::vector<uint8_t> make_concat_udh(ConcatInfo c);

}  // namespace sluice::smpp
