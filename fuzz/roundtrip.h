// Properties both SMPP fuzzers check on every PDU that decodes.
#pragma once

#include <cstdlib>
#include <span>

#include "smpp/frame.h"
#include "smpp/pdu.h"
#include "smpp/receipt.h"
#include "smpp/text.h"
#include "smpp/time.h"
#include "smpp/udh.h"

namespace sluice::smpp::fuzz {

[[noreturn]] inline void fail() {
  std::abort();
}

// decode(encode(p)) must give p back (command_length aside: a failed response
// decoded from a body of empty fields re-encodes as a bare header), and
// encoding must be stable after one round.
inline void check_roundtrip(const Pdu& p) {
  const auto enc = encode(p);
  const FrameCheck fc = check_frame(enc, 0xFFFFFFFFu);
  if (fc.state != FrameState::Complete || fc.length != enc.size()) fail();
  const auto again = decode(enc);
  if (!again.ok()) fail();
  const Header &a = again->header, &b = p.header;
  if (a.command_id != b.command_id || a.command_status != b.command_status ||
      a.sequence_number != b.sequence_number || !(again->body == p.body)) {
    fail();
  }
  if (encode(*again) != enc) fail();
}

// The helpers that read decoded fields must cope with whatever decodes.
template <class M>
void exercise_message(const M& m) {
  (void)concat_of(m);
  const auto now = std::chrono::system_clock::time_point{};
  (void)parse_smpp_time(m.schedule_delivery_time, now);
  (void)parse_smpp_time(m.validity_period, now);
  if (auto text = to_utf8(m.data_coding, m.short_message)) {
    (void)parse_receipt(*text);
    (void)gsm7_septet_length(*text);
    if (auto back = from_utf8(*text, charset_of(m.data_coding))) (void)back;
  }
  (void)gsm7_unpack(m.short_message, m.short_message.size() * 8 / 7, m.esm_class & 7);
  if (const Tlv* t = m.tlvs.find(tlv::receipted_message_id)) (void)t;
  (void)m.tlvs.cstr(tlv::receipted_message_id);
  (void)m.tlvs.u8(tlv::message_state);
}

inline void exercise(const Pdu& p) {
  if (const auto* m = std::get_if<SubmitSm>(&p.body)) exercise_message(*m);
  if (const auto* m = std::get_if<DeliverSm>(&p.body)) exercise_message(*m);
  if (const auto* m = std::get_if<DataSm>(&p.body)) (void)concat_of(*m);
  (void)command_name(p.header.command_id);
  (void)status_name(p.header.command_status);
  (void)response_id(p.header.command_id);
}

}  // namespace sluice::smpp::fuzz
