#include "smpp/udh.h"

namespace sluice::smpp {
namespace {

bool valid(const ConcatInfo& c) {
  return c.total >= 1 && c.seq >= 1 && c.seq <= c.total;
}

std::optional<ConcatInfo> from_fields(uint8_t esm_class, std::span<const uint8_t> short_message,
                                      const TlvList& tlvs) {
  if (esm_class & kEsmUdhi) {
    std::span<const uint8_t> ud = short_message;
    const Tlv* payload = nullptr;
    if (ud.empty() && (payload = tlvs.find(tlv::message_payload)) != nullptr) {
      ud = payload->value;
    }
    if (auto c = concat_from_udh(ud)) return c;
  }
  const auto ref = tlvs.u16(tlv::sar_msg_ref_num);
  const auto total = tlvs.u8(tlv::sar_total_segments);
  const auto seq = tlvs.u8(tlv::sar_segment_seqnum);
  if (ref && total && seq) {
    ConcatInfo c{*ref, *total, *seq, true};
    if (valid(c)) return c;
  }
  return std::nullopt;
}

}  // namespace

std::optional<size_t> udh_size(std::span<const uint8_t> ud) {
  if (ud.empty()) return std::nullopt;
  const size_t n = size_t{ud[0]} + 1;
  if (n > ud.size()) return std::nullopt;
  return n;
}

std::optional<ConcatInfo> concat_from_udh(std::span<const uint8_t> ud) {
  const auto size = udh_size(ud);
  if (!size) return std::nullopt;
  std::optional<ConcatInfo> found;
  size_t i = 1;
  while (i + 2 <= *size) {
    const uint8_t iei = ud[i];
    const uint8_t len = ud[i + 1];
    i += 2;
    if (i + len > *size) return std::nullopt;  // an IE running out of the UDH: malformed
    const uint8_t* v = ud.data() + i;
    if (iei == 0x00 && len == 3) {
      ConcatInfo c{v[0], v[1], v[2], false};
      found = valid(c) ? std::optional(c) : std::nullopt;
    } else if (iei == 0x08 && len == 4) {
      ConcatInfo c{static_cast<uint16_t>((v[0] << 8) | v[1]), v[2], v[3], true};
      found = valid(c) ? std::optional(c) : std::nullopt;
    }
    i += len;
  }
  return found;
}

std::optional<ConcatInfo> concat_of(const SubmitSm& sm) {
  return from_fields(sm.esm_class, sm.short_message, sm.tlvs);
}

std::optional<ConcatInfo> concat_of(const DeliverSm& sm) {
  return from_fields(sm.esm_class, sm.short_message, sm.tlvs);
}

std::optional<ConcatInfo> concat_of(const DataSm& sm) {
  return from_fields(sm.esm_class, {}, sm.tlvs);
}

std::vector<uint8_t> make_concat_udh(ConcatInfo c) {
  if (c.ref16) {
    return {0x06,    0x08, 0x04, static_cast<uint8_t>(c.ref >> 8), static_cast<uint8_t>(c.ref),
            c.total, c.seq};
  }
  return {0x05, 0x00, 0x03, static_cast<uint8_t>(c.ref), c.total, c.seq};
}

}  // namespace sluice::smpp
