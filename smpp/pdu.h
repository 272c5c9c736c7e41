// SMPP 3.4 PDUs: plain structs, a decoder over untrusted bytes and an encoder.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "smpp/frame.h"
#include "smpp/status.h"

namespace sluice::smpp {

struct Address {
  uint8_t ton = 0, npi = 0;
  std::string addr;
  bool operator==(const Address&) const = default;
};

struct Tlv {
  uint16_t tag = 0;
  std::vector<uint8_t> value;
  bool operator==(const Tlv&) const = default;
};

namespace tlv {
inline constexpr uint16_t dest_addr_subunit = 0x0005;
inline constexpr uint16_t dest_network_type = 0x0006;
inline constexpr uint16_t dest_bearer_type = 0x0007;
inline constexpr uint16_t dest_telematics_id = 0x0008;
inline constexpr uint16_t source_addr_subunit = 0x000D;
inline constexpr uint16_t source_network_type = 0x000E;
inline constexpr uint16_t source_bearer_type = 0x000F;
inline constexpr uint16_t source_telematics_id = 0x0010;
inline constexpr uint16_t qos_time_to_live = 0x0017;
inline constexpr uint16_t payload_type = 0x0019;
inline constexpr uint16_t additional_status_info_text = 0x001D;
inline constexpr uint16_t receipted_message_id = 0x001E;
inline constexpr uint16_t ms_msg_wait_facilities = 0x0030;
inline constexpr uint16_t privacy_indicator = 0x0201;
inline constexpr uint16_t source_subaddress = 0x0202;
inline constexpr uint16_t dest_subaddress = 0x0203;
inline constexpr uint16_t user_message_reference = 0x0204;
inline constexpr uint16_t user_response_code = 0x0205;
inline constexpr uint16_t source_port = 0x020A;
inline constexpr uint16_t dest_port = 0x020B;
inline constexpr uint16_t destination_port = 0x020B;  // the spec's spelling
inline constexpr uint16_t sar_msg_ref_num = 0x020C;
inline constexpr uint16_t language_indicator = 0x020D;
inline constexpr uint16_t sar_total_segments = 0x020E;
inline constexpr uint16_t sar_segment_seqnum = 0x020F;
inline constexpr uint16_t sc_interface_version = 0x0210;
inline constexpr uint16_t callback_num_pres_ind = 0x0302;
inline constexpr uint16_t callback_num_atag = 0x0303;
inline constexpr uint16_t number_of_messages = 0x0304;
inline constexpr uint16_t callback_num = 0x0381;
inline constexpr uint16_t dpf_result = 0x0420;
inline constexpr uint16_t set_dpf = 0x0421;
inline constexpr uint16_t ms_availability_status = 0x0422;
inline constexpr uint16_t network_error_code = 0x0423;
inline constexpr uint16_t message_payload = 0x0424;
inline constexpr uint16_t delivery_failure_reason = 0x0425;
inline constexpr uint16_t more_messages_to_send = 0x0426;
inline constexpr uint16_t message_state = 0x0427;
inline constexpr uint16_t ussd_service_op = 0x0501;
inline constexpr uint16_t display_time = 0x1201;
inline constexpr uint16_t sms_signal = 0x1203;
inline constexpr uint16_t ms_validity = 0x1204;
inline constexpr uint16_t alert_on_message_delivery = 0x130C;
inline constexpr uint16_t its_reply_type = 0x1380;
inline constexpr uint16_t its_session_info = 0x1383;
}  // namespace tlv

// Optional parameters in wire order. Unknown tags are kept as opaque bytes so
// a PDU passes through unchanged.
struct TlvList {
  std::vector<Tlv> items;

  const Tlv* find(uint16_t tag) const;
  // Typed reads return nullopt when the tag is absent or its length is not
  // the type's size.
  std::optional<uint8_t> u8(uint16_t tag) const;
  std::optional<uint16_t> u16(uint16_t tag) const;
  std::optional<uint32_t> u32(uint16_t tag) const;
  // The value up to its first NUL (or all of it when there is none).
  std::optional<std::string> cstr(uint16_t tag) const;

  // Setters replace the first TLV with the tag in place, else append.
  void set_u8(uint16_t tag, uint8_t v);
  void set_u16(uint16_t tag, uint16_t v);
  void set_u32(uint16_t tag, uint32_t v);
  void set_bytes(uint16_t tag, std::span<const uint8_t> v);
  void set_cstr(uint16_t tag, std::string_view v);  // appends the NUL
  // Removes every TLV with the tag; returns how many.
  size_t erase(uint16_t tag);
  bool empty() const { return items.empty(); }

  bool operator==(const TlvList&) const = default;
};

// bind_transmitter, bind_receiver and bind_transceiver share one body.
struct BindRequest {
  uint32_t command_id = static_cast<uint32_t>(CommandId::BindTransceiver);
  std::string system_id, password, system_type;
  uint8_t interface_version = 0x34;
  Address address_range;
  bool operator==(const BindRequest&) const = default;
};

struct BindResp {
  uint32_t command_id = static_cast<uint32_t>(CommandId::BindTransceiverResp);
  std::string system_id;
  TlvList tlvs;
  bool operator==(const BindResp&) const = default;
};

struct Outbind {
  std::string system_id, password;
  bool operator==(const Outbind&) const = default;
};

struct Unbind {
  bool operator==(const Unbind&) const = default;
};
struct UnbindResp {
  bool operator==(const UnbindResp&) const = default;
};
struct EnquireLink {
  bool operator==(const EnquireLink&) const = default;
};
struct EnquireLinkResp {
  bool operator==(const EnquireLinkResp&) const = default;
};
struct GenericNack {
  bool operator==(const GenericNack&) const = default;
};

struct SubmitSm {
  std::string service_type;
  Address source, dest;
  uint8_t esm_class = 0, protocol_id = 0, priority_flag = 0;
  std::string schedule_delivery_time, validity_period;
  uint8_t registered_delivery = 0, replace_if_present_flag = 0, data_coding = 0,
          sm_default_msg_id = 0;
  std::vector<uint8_t> short_message;  // at most 254 octets; longer text goes in message_payload
  TlvList tlvs;
  bool operator==(const SubmitSm&) const = default;
};

// Same layout as submit_sm; a distinct type so the variant tells them apart.
struct DeliverSm {
  std::string service_type;
  Address source, dest;
  uint8_t esm_class = 0, protocol_id = 0, priority_flag = 0;
  std::string schedule_delivery_time, validity_period;
  uint8_t registered_delivery = 0, replace_if_present_flag = 0, data_coding = 0,
          sm_default_msg_id = 0;
  std::vector<uint8_t> short_message;
  TlvList tlvs;
  bool operator==(const DeliverSm&) const = default;
};

struct SubmitSmResp {
  std::string message_id;
  bool operator==(const SubmitSmResp&) const = default;
};

struct DeliverSmResp {
  std::string message_id;  // unused by SMPP 3.4, normally empty
  bool operator==(const DeliverSmResp&) const = default;
};

inline constexpr uint8_t kDestFlagSme = 1;
inline constexpr uint8_t kDestFlagDistributionList = 2;

struct MultiDest {
  uint8_t dest_flag = kDestFlagSme;
  Address addr;         // when dest_flag == 1
  std::string dl_name;  // when dest_flag == 2
  bool operator==(const MultiDest&) const = default;
};

struct SubmitMulti {
  std::string service_type;
  Address source;
  std::vector<MultiDest> dests;  // 1..254
  uint8_t esm_class = 0, protocol_id = 0, priority_flag = 0;
  std::string schedule_delivery_time, validity_period;
  uint8_t registered_delivery = 0, replace_if_present_flag = 0, data_coding = 0,
          sm_default_msg_id = 0;
  std::vector<uint8_t> short_message;
  TlvList tlvs;
  bool operator==(const SubmitMulti&) const = default;
};

struct UnsuccessSme {
  Address addr;
  uint32_t error_status_code = 0;
  bool operator==(const UnsuccessSme&) const = default;
};

struct SubmitMultiResp {
  std::string message_id;
  std::vector<UnsuccessSme> unsuccess;
  bool operator==(const SubmitMultiResp&) const = default;
};

struct DataSm {
  std::string service_type;
  Address source, dest;
  uint8_t esm_class = 0, registered_delivery = 0, data_coding = 0;
  TlvList tlvs;
  bool operator==(const DataSm&) const = default;
};

struct DataSmResp {
  std::string message_id;
  TlvList tlvs;
  bool operator==(const DataSmResp&) const = default;
};

struct QuerySm {
  std::string message_id;
  Address source;
  bool operator==(const QuerySm&) const = default;
};

struct QuerySmResp {
  std::string message_id, final_date;
  uint8_t message_state = 0, error_code = 0;
  bool operator==(const QuerySmResp&) const = default;
};

struct CancelSm {
  std::string service_type, message_id;
  Address source, dest;
  bool operator==(const CancelSm&) const = default;
};

struct CancelSmResp {
  bool operator==(const CancelSmResp&) const = default;
};

struct ReplaceSm {
  std::string message_id;
  Address source;
  std::string schedule_delivery_time, validity_period;
  uint8_t registered_delivery = 0, sm_default_msg_id = 0;
  std::vector<uint8_t> short_message;
  bool operator==(const ReplaceSm&) const = default;
};

struct ReplaceSmResp {
  bool operator==(const ReplaceSmResp&) const = default;
};

struct AlertNotification {
  Address source, esme_addr;
  TlvList tlvs;
  bool operator==(const AlertNotification&) const = default;
};

using Body =
    std::variant<GenericNack, BindRequest, BindResp, Outbind, Unbind, UnbindResp, EnquireLink,
                 EnquireLinkResp, SubmitSm, SubmitSmResp, DeliverSm, DeliverSmResp, SubmitMulti,
                 SubmitMultiResp, DataSm, DataSmResp, QuerySm, QuerySmResp, CancelSm, CancelSmResp,
                 ReplaceSm, ReplaceSmResp, AlertNotification>;

struct Pdu {
  Header header;
  Body body;
  bool operator==(const Pdu&) const = default;
};

struct DecodeError {
  // The command_status to answer with.
  uint32_t status = status::ESME_RSYSERR;
  // True when the answer must be generic_nack (unknown command id, bad
  // length, or a malformed PDU that has no response of its own) rather than
  // the command's own response.
  bool generic_nack = false;
  std::string reason;
};

// std::expected is C++23; this is the small part of it the codec needs.
template <class T>
class Result {
 public:
  Result(T v) : v_(std::move(v)) {}            // NOLINT(google-explicit-constructor)
  Result(DecodeError e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const DecodeError& error() const { return std::get<1>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, DecodeError> v_;
};

using DecodeResult = Result<Pdu>;

// Decodes exactly one PDU; frame.size() must equal its command_length (use
// check_frame first). Never reads outside frame, never throws on bad input,
// and checks every length against the spec's maximum before allocating.
// Unknown TLVs are kept; responses with a non-zero command_status may come
// without a body and then decode with empty fields.
DecodeResult decode(std::span<const uint8_t> frame);

// command_length is computed; command_id comes from the body type (BindRequest
// and BindResp carry their own). A response with a non-zero command_status
// and nothing in its body is sent as a bare header, as SMPP 3.4 describes
// (leave message_id empty in a failed submit_sm_resp: some peers, libsmpp34
// among them, refuse a body there).
// Strings are written up to their first NUL; short_message beyond 255 octets
// is cut, since sm_length cannot say more (use message_payload).
std::vector<uint8_t> encode(const Pdu& pdu);
void encode_to(std::vector<uint8_t>& out, const Pdu& pdu);

uint32_t command_id_of(const Body& body);

// Convenience for building PDUs in code.
inline Pdu make_pdu(Body body, uint32_t sequence_number, uint32_t command_status = 0) {
  Pdu p{Header{0, 0, command_status, sequence_number}, std::move(body)};
  p.header.command_id = command_id_of(p.body);
  return p;
}

}  // namespace sluice::smpp
