#include "smpp/pdu.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace sluice::smpp {

// ---------------------------------------------------------------------------
// TlvList

const Tlv* TlvList::find(uint16_t tag) const {
  for (const Tlv& t : items) {
    if (t.tag == tag) return &t;
  }
  return nullptr;
}

std::optional<uint8_t> TlvList::u8(uint16_t tag) const {
  const Tlv* t = find(tag);
  if (!t || t->value.size() != 1) return std::nullopt;
  return t->value[0];
}

std::optional<uint16_t> TlvList::u16(uint16_t tag) const {
  const Tlv* t = find(tag);
  if (!t || t->value.size() != 2) return std::nullopt;
  return static_cast<uint16_t>((t->value[0] << 8) | t->value[1]);
}

std::optional<uint32_t> TlvList::u32(uint16_t tag) const {
  const Tlv* t = find(tag);
  if (!t || t->value.size() != 4) return std::nullopt;
  const auto& v = t->value;
  return (uint32_t{v[0]} << 24) | (uint32_t{v[1]} << 16) | (uint32_t{v[2]} << 8) | uint32_t{v[3]};
}

std::optional<std::string> TlvList::cstr(uint16_t tag) const {
  const Tlv* t = find(tag);
  if (!t) return std::nullopt;
  auto end = std::find(t->value.begin(), t->value.end(), uint8_t{0});
  return std::string(t->value.begin(), end);
}

void TlvList::set_bytes(uint16_t tag, std::span<const uint8_t> v) {
  for (Tlv& t : items) {
    if (t.tag == tag) {
      t.value.assign(v.begin(), v.end());
      return;
    }
  }
  items.push_back(Tlv{tag, std::vector<uint8_t>(v.begin(), v.end())});
}

void TlvList::set_u8(uint16_t tag, uint8_t v) {
  set_bytes(tag, std::span<const uint8_t>(&v, 1));
}

void TlvList::set_u16(uint16_t tag, uint16_t v) {
  const uint8_t b[2] = {static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  set_bytes(tag, b);
}

void TlvList::set_u32(uint16_t tag, uint32_t v) {
  const uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                        static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  set_bytes(tag, b);
}

void TlvList::set_cstr(uint16_t tag, std::string_view v) {
  std::vector<uint8_t> b(v.begin(), v.end());
  b.push_back(0);
  set_bytes(tag, b);
}

size_t TlvList::erase(uint16_t tag) {
  return std::erase_if(items, [tag](const Tlv& t) { return t.tag == tag; });
}

// ---------------------------------------------------------------------------
// Decoding

namespace {

using namespace status;

// Spec maximum sizes of C-Octet strings, NUL included.
constexpr size_t kSystemId = 16, kPassword = 9, kSystemType = 13, kAddressRange = 41,
                 kServiceType = 6, kAddr = 21, kAddr65 = 65, kMessageId = 65, kTime = 17,
                 kDlName = 21;
constexpr uint8_t kMaxSmLength = 254;
constexpr uint8_t kMaxDests = 254;

// Lengths of the TLVs whose values the gateway interprets; a wrong length
// there would be misread, so it is refused (ESME_RINVPARLEN). Other tags pass
// through as opaque bytes.
struct TlvRule {
  uint16_t tag;
  uint16_t min, max;
};
constexpr TlvRule kTlvRules[] = {
    {tlv::user_message_reference, 2, 2},
    {tlv::source_port, 2, 2},
    {tlv::destination_port, 2, 2},
    {tlv::sar_msg_ref_num, 2, 2},
    {tlv::sar_total_segments, 1, 1},
    {tlv::sar_segment_seqnum, 1, 1},
    {tlv::sc_interface_version, 1, 1},
    {tlv::payload_type, 1, 1},
    {tlv::more_messages_to_send, 1, 1},
    {tlv::message_state, 1, 1},
    {tlv::network_error_code, 3, 3},
    {tlv::receipted_message_id, 1, 65},
    {tlv::qos_time_to_live, 4, 4},
    {tlv::delivery_failure_reason, 1, 1},
    {tlv::ms_availability_status, 1, 1},
    {tlv::dpf_result, 1, 1},
    {tlv::set_dpf, 1, 1},
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

class Decoder {
 public:
  Decoder(std::span<const uint8_t> frame, bool nack_all) : b_(frame), nack_all_(nack_all) {}

  DecodeError take_error() { return std::move(err_); }
  size_t left() const { return b_.size() - pos_; }

  bool fail(uint32_t status, std::string reason, bool nack = false) {
    err_ = DecodeError{status, nack || nack_all_, std::move(reason)};
    return false;
  }

  bool u8(uint8_t& v, const char* field) {
    if (left() < 1) return truncated(field);
    v = b_[pos_++];
    return true;
  }

  bool u16(uint16_t& v, const char* field) {
    if (left() < 2) return truncated(field);
    v = static_cast<uint16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
    pos_ += 2;
    return true;
  }

  bool u32(uint32_t& v, const char* field) {
    if (left() < 4) return truncated(field);
    v = be32(b_.data() + pos_);
    pos_ += 4;
    return true;
  }

  // max counts the NUL, as the spec's sizes do.
  bool cstr(std::string& out, size_t max, uint32_t status, const char* field) {
    if (left() == 0) return truncated(field);
    const size_t window = std::min(max, left());
    const uint8_t* p = b_.data() + pos_;
    const void* nul = std::memchr(p, 0, window);
    if (nul == nullptr) {
      return fail(status,
                  std::string(field) + (window == max ? " longer than its maximum of " +
                                                            std::to_string(max - 1) + " octets"
                                                      : " has no NUL before the end of the PDU"));
    }
    const size_t n = static_cast<size_t>(static_cast<const uint8_t*>(nul) - p);
    out.assign(reinterpret_cast<const char*>(p), n);
    pos_ += n + 1;
    return true;
  }

  bool address(Address& a, size_t max, uint32_t status, const char* field) {
    return u8(a.ton, field) && u8(a.npi, field) && cstr(a.addr, max, status, field);
  }

  // schedule_delivery_time / validity_period: NULL or exactly 16 characters.
  bool time(std::string& out, uint32_t status, const char* field) {
    if (!cstr(out, kTime, status, field)) return false;
    if (!out.empty() && out.size() != 16) {
      return fail(status, std::string(field) + " must be empty or 16 characters");
    }
    return true;
  }

  bool short_message(std::vector<uint8_t>& out) {
    uint8_t len = 0;
    if (!u8(len, "sm_length")) return false;
    if (len > kMaxSmLength) return fail(ESME_RINVMSGLEN, "sm_length above 254");
    if (len > left()) return fail(ESME_RINVMSGLEN, "sm_length runs past the end of the PDU");
    out.assign(b_.begin() + static_cast<std::ptrdiff_t>(pos_),
               b_.begin() + static_cast<std::ptrdiff_t>(pos_ + len));
    pos_ += len;
    return true;
  }

  bool tlvs(TlvList& list) {
    while (left() > 0) {
      if (left() < 4) return fail(ESME_RINVOPTPARSTREAM, "truncated TLV header");
      const uint16_t tag = static_cast<uint16_t>((b_[pos_] << 8) | b_[pos_ + 1]);
      const uint16_t len = static_cast<uint16_t>((b_[pos_ + 2] << 8) | b_[pos_ + 3]);
      pos_ += 4;
      if (len > left()) {
        return fail(ESME_RINVOPTPARSTREAM,
                    "TLV 0x" + hex16(tag) + " length runs past the end of the PDU");
      }
      for (const TlvRule& r : kTlvRules) {
        if (r.tag == tag && (len < r.min || len > r.max)) {
          return fail(ESME_RINVPARLEN,
                      "TLV 0x" + hex16(tag) + " has length " + std::to_string(len));
        }
      }
      const auto* p = b_.data() + pos_;
      list.items.push_back(Tlv{tag, std::vector<uint8_t>(p, p + len)});
      pos_ += len;
    }
    return true;
  }

  bool end() {
    if (left() != 0) {
      return fail(ESME_RINVCMDLEN, std::to_string(left()) + " unexpected octets after the body",
                  true);
    }
    return true;
  }

 private:
  bool truncated(const char* field) {
    return fail(ESME_RINVCMDLEN, std::string("PDU ends before ") + field, true);
  }

  static std::string hex16(uint16_t v) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string s(4, '0');
    for (int i = 3; i >= 0; --i, v = static_cast<uint16_t>(v >> 4)) s[i] = kHex[v & 0xF];
    return s;
  }

  std::span<const uint8_t> b_;
  size_t pos_ = kHeaderSize;
  bool nack_all_;
  DecodeError err_;
};

bool parse(Decoder& d, BindRequest& m) {
  return d.cstr(m.system_id, kSystemId, ESME_RINVSYSID, "system_id") &&
         d.cstr(m.password, kPassword, ESME_RINVPASWD, "password") &&
         d.cstr(m.system_type, kSystemType, ESME_RINVSYSTYP, "system_type") &&
         d.u8(m.interface_version, "interface_version") &&
         d.address(m.address_range, kAddressRange, ESME_RBINDFAIL, "address_range") && d.end();
}

bool parse(Decoder& d, BindResp& m) {
  return d.cstr(m.system_id, kSystemId, ESME_RINVSYSID, "system_id") && d.tlvs(m.tlvs);
}

bool parse(Decoder& d, Outbind& m) {
  return d.cstr(m.system_id, kSystemId, ESME_RINVSYSID, "system_id") &&
         d.cstr(m.password, kPassword, ESME_RINVPASWD, "password") && d.end();
}

template <class M>
bool parse_sm(Decoder& d, M& m) {
  return d.cstr(m.service_type, kServiceType, ESME_RINVSERTYP, "service_type") &&
         d.address(m.source, kAddr, ESME_RINVSRCADR, "source_addr") &&
         d.address(m.dest, kAddr, ESME_RINVDSTADR, "destination_addr") &&
         d.u8(m.esm_class, "esm_class") && d.u8(m.protocol_id, "protocol_id") &&
         d.u8(m.priority_flag, "priority_flag") &&
         d.time(m.schedule_delivery_time, ESME_RINVSCHED, "schedule_delivery_time") &&
         d.time(m.validity_period, ESME_RINVEXPIRY, "validity_period") &&
         d.u8(m.registered_delivery, "registered_delivery") &&
         d.u8(m.replace_if_present_flag, "replace_if_present_flag") &&
         d.u8(m.data_coding, "data_coding") && d.u8(m.sm_default_msg_id, "sm_default_msg_id") &&
         d.short_message(m.short_message) && d.tlvs(m.tlvs);
}

bool parse(Decoder& d, SubmitSm& m) {
  return parse_sm(d, m);
}
bool parse(Decoder& d, DeliverSm& m) {
  return parse_sm(d, m);
}

bool parse(Decoder& d, SubmitSmResp& m) {
  return d.cstr(m.message_id, kMessageId, ESME_RINVMSGID, "message_id") && d.end();
}

bool parse(Decoder& d, DeliverSmResp& m) {
  return d.cstr(m.message_id, kMessageId, ESME_RINVMSGID, "message_id") && d.end();
}

bool parse(Decoder& d, SubmitMulti& m) {
  if (!d.cstr(m.service_type, kServiceType, ESME_RINVSERTYP, "service_type") ||
      !d.address(m.source, kAddr, ESME_RINVSRCADR, "source_addr")) {
    return false;
  }
  uint8_t n = 0;
  if (!d.u8(n, "number_of_dests")) return false;
  if (n == 0 || n > kMaxDests) {
    return d.fail(ESME_RINVNUMDESTS, "number_of_dests must be 1..254");
  }
  // Each destination takes at least 2 octets; bound the reservation by what
  // the frame can hold.
  m.dests.reserve(std::min<size_t>(n, d.left() / 2));
  for (unsigned i = 0; i < n; ++i) {
    MultiDest dest;
    if (!d.u8(dest.dest_flag, "dest_flag")) return false;
    if (dest.dest_flag == kDestFlagSme) {
      if (!d.address(dest.addr, kAddr, ESME_RINVDSTADR, "destination_addr")) return false;
    } else if (dest.dest_flag == kDestFlagDistributionList) {
      if (!d.cstr(dest.dl_name, kDlName, ESME_RINVDLNAME, "dl_name")) return false;
    } else {
      return d.fail(ESME_RINVDESTFLAG, "dest_flag must be 1 or 2");
    }
    m.dests.push_back(std::move(dest));
  }
  return d.u8(m.esm_class, "esm_class") && d.u8(m.protocol_id, "protocol_id") &&
         d.u8(m.priority_flag, "priority_flag") &&
         d.time(m.schedule_delivery_time, ESME_RINVSCHED, "schedule_delivery_time") &&
         d.time(m.validity_period, ESME_RINVEXPIRY, "validity_period") &&
         d.u8(m.registered_delivery, "registered_delivery") &&
         d.u8(m.replace_if_present_flag, "replace_if_present_flag") &&
         d.u8(m.data_coding, "data_coding") && d.u8(m.sm_default_msg_id, "sm_default_msg_id") &&
         d.short_message(m.short_message) && d.tlvs(m.tlvs);
}

bool parse(Decoder& d, SubmitMultiResp& m) {
  uint8_t n = 0;
  if (!d.cstr(m.message_id, kMessageId, ESME_RINVMSGID, "message_id") || !d.u8(n, "no_unsuccess")) {
    return false;
  }
  m.unsuccess.reserve(std::min<size_t>(n, d.left() / 7));
  for (unsigned i = 0; i < n; ++i) {
    UnsuccessSme u;
    if (!d.address(u.addr, kAddr, ESME_RINVDSTADR, "unsuccess destination_addr") ||
        !d.u32(u.error_status_code, "error_status_code")) {
      return false;
    }
    m.unsuccess.push_back(std::move(u));
  }
  return d.end();
}

bool parse(Decoder& d, DataSm& m) {
  return d.cstr(m.service_type, kServiceType, ESME_RINVSERTYP, "service_type") &&
         d.address(m.source, kAddr65, ESME_RINVSRCADR, "source_addr") &&
         d.address(m.dest, kAddr65, ESME_RINVDSTADR, "destination_addr") &&
         d.u8(m.esm_class, "esm_class") && d.u8(m.registered_delivery, "registered_delivery") &&
         d.u8(m.data_coding, "data_coding") && d.tlvs(m.tlvs);
}

bool parse(Decoder& d, DataSmResp& m) {
  return d.cstr(m.message_id, kMessageId, ESME_RINVMSGID, "message_id") && d.tlvs(m.tlvs);
}

bool parse(Decoder& d, QuerySm& m) {
  return d.cstr(m.message_id, kMessageId, ESME_RINVMSGID, "message_id") &&
         d.address(m.source, kAddr, ESME_RINVSRCADR, "source_addr") && d.end();
}

bool parse(Decoder& d, QuerySmResp& m) {
  return d.cstr(m.message_id, kMessageId, ESME_RINVMSGID, "message_id") &&
         d.cstr(m.final_date, kTime, ESME_RINVCMDLEN, "final_date") &&
         d.u8(m.message_state, "message_state") && d.u8(m.error_code, "error_code") && d.end();
}

bool parse(Decoder& d, CancelSm& m) {
  return d.cstr(m.service_type, kServiceType, ESME_RINVSERTYP, "service_type") &&
         d.cstr(m.message_id, kMessageId, ESME_RINVMSGID, "message_id") &&
         d.address(m.source, kAddr, ESME_RINVSRCADR, "source_addr") &&
         d.address(m.dest, kAddr, ESME_RINVDSTADR, "destination_addr") && d.end();
}

bool parse(Decoder& d, ReplaceSm& m) {
  return d.cstr(m.message_id, kMessageId, ESME_RINVMSGID, "message_id") &&
         d.address(m.source, kAddr, ESME_RINVSRCADR, "source_addr") &&
         d.time(m.schedule_delivery_time, ESME_RINVSCHED, "schedule_delivery_time") &&
         d.time(m.validity_period, ESME_RINVEXPIRY, "validity_period") &&
         d.u8(m.registered_delivery, "registered_delivery") &&
         d.u8(m.sm_default_msg_id, "sm_default_msg_id") && d.short_message(m.short_message) &&
         d.end();
}

bool parse(Decoder& d, AlertNotification& m) {
  return d.address(m.source, kAddr65, ESME_RINVSRCADR, "source_addr") &&
         d.address(m.esme_addr, kAddr65, ESME_RINVDSTADR, "esme_addr") && d.tlvs(m.tlvs);
}

// Header-only PDUs.
template <class M>
requires std::is_empty_v<M>
bool parse(Decoder& d, M&) {
  return d.end();
}

template <class M>
DecodeResult run(const Header& h, std::span<const uint8_t> frame, bool nack_all, M m = M{}) {
  // SMPP 3.4 lets a failed response carry no body at all.
  if (is_response(h.command_id) && h.command_status != 0 && frame.size() == kHeaderSize) {
    return Pdu{h, std::move(m)};
  }
  Decoder d(frame, nack_all);
  if (!parse(d, m)) return d.take_error();
  return Pdu{h, std::move(m)};
}

}  // namespace

DecodeResult decode(std::span<const uint8_t> frame) {
  if (frame.size() < kHeaderSize) {
    return DecodeError{ESME_RINVCMDLEN, true, "PDU shorter than its 16-octet header"};
  }
  const Header h = read_header(frame);
  if (h.command_length != frame.size()) {
    return DecodeError{ESME_RINVCMDLEN, true,
                       "command_length " + std::to_string(h.command_length) + " but frame has " +
                           std::to_string(frame.size()) + " octets"};
  }
  // The third argument of run(): errors in PDUs that have no response of
  // their own (responses, outbind, alert_notification) are answered with
  // generic_nack.
  switch (static_cast<CommandId>(h.command_id)) {
    case CommandId::GenericNack:
      return run<GenericNack>(h, frame, true);
    case CommandId::BindReceiver:
    case CommandId::BindTransmitter:
    case CommandId::BindTransceiver: {
      BindRequest b;
      b.command_id = h.command_id;
      return run<BindRequest>(h, frame, false, std::move(b));
    }
    case CommandId::BindReceiverResp:
    case CommandId::BindTransmitterResp:
    case CommandId::BindTransceiverResp: {
      BindResp b;
      b.command_id = h.command_id;
      return run<BindResp>(h, frame, true, std::move(b));
    }
    case CommandId::Outbind:
      return run<Outbind>(h, frame, true);
    case CommandId::Unbind:
      return run<Unbind>(h, frame, false);
    case CommandId::UnbindResp:
      return run<UnbindResp>(h, frame, true);
    case CommandId::EnquireLink:
      return run<EnquireLink>(h, frame, false);
    case CommandId::EnquireLinkResp:
      return run<EnquireLinkResp>(h, frame, true);
    case CommandId::SubmitSm:
      return run<SubmitSm>(h, frame, false);
    case CommandId::SubmitSmResp:
      return run<SubmitSmResp>(h, frame, true);
    case CommandId::DeliverSm:
      return run<DeliverSm>(h, frame, false);
    case CommandId::DeliverSmResp:
      return run<DeliverSmResp>(h, frame, true);
    case CommandId::SubmitMulti:
      return run<SubmitMulti>(h, frame, false);
    case CommandId::SubmitMultiResp:
      return run<SubmitMultiResp>(h, frame, true);
    case CommandId::DataSm:
      return run<DataSm>(h, frame, false);
    case CommandId::DataSmResp:
      return run<DataSmResp>(h, frame, true);
    case CommandId::QuerySm:
      return run<QuerySm>(h, frame, false);
    case CommandId::QuerySmResp:
      return run<QuerySmResp>(h, frame, true);
    case CommandId::CancelSm:
      return run<CancelSm>(h, frame, false);
    case CommandId::CancelSmResp:
      return run<CancelSmResp>(h, frame, true);
    case CommandId::ReplaceSm:
      return run<ReplaceSm>(h, frame, false);
    case CommandId::ReplaceSmResp:
      return run<ReplaceSmResp>(h, frame, true);
    case CommandId::AlertNotification:
      return run<AlertNotification>(h, frame, true);
  }
  return DecodeError{ESME_RINVCMDID, true, "unknown command_id"};
}

// ---------------------------------------------------------------------------
// Encoding

namespace {

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}

  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    out_.push_back(static_cast<uint8_t>(v >> 8));
    out_.push_back(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void cstr(const std::string& s) {
    const size_t n = std::min(s.size(), std::strlen(s.c_str()));
    out_.insert(out_.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
    out_.push_back(0);
  }
  void address(const Address& a) {
    u8(a.ton);
    u8(a.npi);
    cstr(a.addr);
  }
  void short_message(const std::vector<uint8_t>& sm) {
    const size_t n = std::min<size_t>(sm.size(), 255);
    u8(static_cast<uint8_t>(n));
    out_.insert(out_.end(), sm.begin(), sm.begin() + static_cast<std::ptrdiff_t>(n));
  }
  void tlvs(const TlvList& l) {
    for (const Tlv& t : l.items) {
      const size_t n = std::min<size_t>(t.value.size(), 0xFFFF);
      u16(t.tag);
      u16(static_cast<uint16_t>(n));
      out_.insert(out_.end(), t.value.begin(), t.value.begin() + static_cast<std::ptrdiff_t>(n));
    }
  }

 private:
  std::vector<uint8_t>& out_;
};

void emit(Writer& w, const BindRequest& m) {
  w.cstr(m.system_id);
  w.cstr(m.password);
  w.cstr(m.system_type);
  w.u8(m.interface_version);
  w.address(m.address_range);
}

void emit(Writer& w, const BindResp& m) {
  w.cstr(m.system_id);
  w.tlvs(m.tlvs);
}

void emit(Writer& w, const Outbind& m) {
  w.cstr(m.system_id);
  w.cstr(m.password);
}

template <class M>
void emit_sm_tail(Writer& w, const M& m) {
  w.u8(m.esm_class);
  w.u8(m.protocol_id);
  w.u8(m.priority_flag);
  w.cstr(m.schedule_delivery_time);
  w.cstr(m.validity_period);
  w.u8(m.registered_delivery);
  w.u8(m.replace_if_present_flag);
  w.u8(m.data_coding);
  w.u8(m.sm_default_msg_id);
  w.short_message(m.short_message);
  w.tlvs(m.tlvs);
}

template <class M>
void emit_sm(Writer& w, const M& m) {
  w.cstr(m.service_type);
  w.address(m.source);
  w.address(m.dest);
  emit_sm_tail(w, m);
}

void emit(Writer& w, const SubmitSm& m) {
  emit_sm(w, m);
}
void emit(Writer& w, const DeliverSm& m) {
  emit_sm(w, m);
}
void emit(Writer& w, const SubmitSmResp& m) {
  w.cstr(m.message_id);
}
void emit(Writer& w, const DeliverSmResp& m) {
  w.cstr(m.message_id);
}

void emit(Writer& w, const SubmitMulti& m) {
  w.cstr(m.service_type);
  w.address(m.source);
  const size_t n = std::min<size_t>(m.dests.size(), 255);
  w.u8(static_cast<uint8_t>(n));
  for (size_t i = 0; i < n; ++i) {
    const MultiDest& d = m.dests[i];
    w.u8(d.dest_flag);
    if (d.dest_flag == kDestFlagDistributionList) {
      w.cstr(d.dl_name);
    } else {
      w.address(d.addr);
    }
  }
  emit_sm_tail(w, m);
}

void emit(Writer& w, const SubmitMultiResp& m) {
  w.cstr(m.message_id);
  const size_t n = std::min<size_t>(m.unsuccess.size(), 255);
  w.u8(static_cast<uint8_t>(n));
  for (size_t i = 0; i < n; ++i) {
    w.address(m.unsuccess[i].addr);
    w.u32(m.unsuccess[i].error_status_code);
  }
}

void emit(Writer& w, const DataSm& m) {
  w.cstr(m.service_type);
  w.address(m.source);
  w.address(m.dest);
  w.u8(m.esm_class);
  w.u8(m.registered_delivery);
  w.u8(m.data_coding);
  w.tlvs(m.tlvs);
}

void emit(Writer& w, const DataSmResp& m) {
  w.cstr(m.message_id);
  w.tlvs(m.tlvs);
}

void emit(Writer& w, const QuerySm& m) {
  w.cstr(m.message_id);
  w.address(m.source);
}

void emit(Writer& w, const QuerySmResp& m) {
  w.cstr(m.message_id);
  w.cstr(m.final_date);
  w.u8(m.message_state);
  w.u8(m.error_code);
}

void emit(Writer& w, const CancelSm& m) {
  w.cstr(m.service_type);
  w.cstr(m.message_id);
  w.address(m.source);
  w.address(m.dest);
}

void emit(Writer& w, const ReplaceSm& m) {
  w.cstr(m.message_id);
  w.address(m.source);
  w.cstr(m.schedule_delivery_time);
  w.cstr(m.validity_period);
  w.u8(m.registered_delivery);
  w.u8(m.sm_default_msg_id);
  w.short_message(m.short_message);
}

void emit(Writer& w, const AlertNotification& m) {
  w.address(m.source);
  w.address(m.esme_addr);
  w.tlvs(m.tlvs);
}

template <class M>
requires std::is_empty_v<M>
void emit(Writer&, const M&) {}

// Responses whose body says nothing; with a non-zero status they go out as a
// bare header.
bool body_is_blank(const Body& b) {
  return std::visit(
      [](const auto& m) -> bool {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, BindResp>) {
          return m.system_id.empty() && m.tlvs.empty();
        } else if constexpr (std::is_same_v<M, SubmitSmResp> || std::is_same_v<M, DeliverSmResp>) {
          return m.message_id.empty();
        } else if constexpr (std::is_same_v<M, DataSmResp>) {
          return m.message_id.empty() && m.tlvs.empty();
        } else if constexpr (std::is_same_v<M, SubmitMultiResp>) {
          return m.message_id.empty() && m.unsuccess.empty();
        } else {
          return false;
        }
      },
      b);
}

}  // namespace

uint32_t command_id_of(const Body& body) {
  return std::visit(
      [](const auto& m) -> uint32_t {
        using M = std::decay_t<decltype(m)>;
        auto id = [](CommandId c) { return static_cast<uint32_t>(c); };
        if constexpr (std::is_same_v<M, BindRequest> || std::is_same_v<M, BindResp>) {
          return m.command_id;
        } else if constexpr (std::is_same_v<M, GenericNack>) {
          return id(CommandId::GenericNack);
        } else if constexpr (std::is_same_v<M, Outbind>) {
          return id(CommandId::Outbind);
        } else if constexpr (std::is_same_v<M, Unbind>) {
          return id(CommandId::Unbind);
        } else if constexpr (std::is_same_v<M, UnbindResp>) {
          return id(CommandId::UnbindResp);
        } else if constexpr (std::is_same_v<M, EnquireLink>) {
          return id(CommandId::EnquireLink);
        } else if constexpr (std::is_same_v<M, EnquireLinkResp>) {
          return id(CommandId::EnquireLinkResp);
        } else if constexpr (std::is_same_v<M, SubmitSm>) {
          return id(CommandId::SubmitSm);
        } else if constexpr (std::is_same_v<M, SubmitSmResp>) {
          return id(CommandId::SubmitSmResp);
        } else if constexpr (std::is_same_v<M, DeliverSm>) {
          return id(CommandId::DeliverSm);
        } else if constexpr (std::is_same_v<M, DeliverSmResp>) {
          return id(CommandId::DeliverSmResp);
        } else if constexpr (std::is_same_v<M, SubmitMulti>) {
          return id(CommandId::SubmitMulti);
        } else if constexpr (std::is_same_v<M, SubmitMultiResp>) {
          return id(CommandId::SubmitMultiResp);
        } else if constexpr (std::is_same_v<M, DataSm>) {
          return id(CommandId::DataSm);
        } else if constexpr (std::is_same_v<M, DataSmResp>) {
          return id(CommandId::DataSmResp);
        } else if constexpr (std::is_same_v<M, QuerySm>) {
          return id(CommandId::QuerySm);
        } else if constexpr (std::is_same_v<M, QuerySmResp>) {
          return id(CommandId::QuerySmResp);
        } else if constexpr (std::is_same_v<M, CancelSm>) {
          return id(CommandId::CancelSm);
        } else if constexpr (std::is_same_v<M, CancelSmResp>) {
          return id(CommandId::CancelSmResp);
        } else if constexpr (std::is_same_v<M, ReplaceSm>) {
          return id(CommandId::ReplaceSm);
        } else if constexpr (std::is_same_v<M, ReplaceSmResp>) {
          return id(CommandId::ReplaceSmResp);
        } else {
          static_assert(std::is_same_v<M, AlertNotification>);
          return id(CommandId::AlertNotification);
        }
      },
      body);
}

void encode_to(std::vector<uint8_t>& out, const Pdu& pdu) {
  const size_t start = out.size();
  Header h = pdu.header;
  h.command_id = command_id_of(pdu.body);
  write_header(out, h);
  if (!(is_response(h.command_id) && h.command_status != 0 && body_is_blank(pdu.body))) {
    Writer w(out);
    std::visit([&w](const auto& m) { emit(w, m); }, pdu.body);
  }
  const auto len = static_cast<uint32_t>(out.size() - start);
  out[start] = static_cast<uint8_t>(len >> 24);
  out[start + 1] = static_cast<uint8_t>(len >> 16);
  out[start + 2] = static_cast<uint8_t>(len >> 8);
  out[start + 3] = static_cast<uint8_t>(len);
}

std::vector<uint8_t> encode(const Pdu& pdu) {
  std::vector<uint8_t> out;
  out.reserve(64);
  encode_to(out, pdu);
  return out;
}

}  // namespace sluice::smpp
