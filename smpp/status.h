// SMPP 3.4 command ids and command_status values.
#pragma once

#include <cstdint>

namespace sluice::smpp {

enum class CommandId : uint32_t {
  GenericNack = 0x80000000,
  BindReceiver = 0x00000001,
  BindReceiverResp = 0x80000001,
  BindTransmitter = 0x00000002,
  BindTransmitterResp = 0x80000002,
  QuerySm = 0x00000003,
  QuerySmResp = 0x80000003,
  SubmitSm = 0x00000004,
  SubmitSmResp = 0x80000004,
  DeliverSm = 0x00000005,
  DeliverSmResp = 0x80000005,
  Unbind = 0x00000006,
  UnbindResp = 0x80000006,
  ReplaceSm = 0x00000007,
  ReplaceSmResp = 0x80000007,
  CancelSm = 0x00000008,
  CancelSmResp = 0x80000008,
  BindTransceiver = 0x00000009,
  BindTransceiverResp = 0x80000009,
  Outbind = 0x0000000B,
  EnquireLink = 0x00000015,
  EnquireLinkResp = 0x80000015,
  SubmitMulti = 0x00000021,
  SubmitMultiResp = 0x80000021,
  AlertNotification = 0x00000102,
  DataSm = 0x00000103,
  DataSmResp = 0x80000103,
};

constexpr uint32_t to_u32(CommandId id) {
  return static_cast<uint32_t>(id);
}

namespace status {
inline constexpr uint32_t ESME_ROK = 0x00;
inline constexpr uint32_t ESME_RINVMSGLEN = 0x01;
inline constexpr uint32_t ESME_RINVCMDLEN = 0x02;
inline constexpr uint32_t ESME_RINVCMDID = 0x03;
inline constexpr uint32_t ESME_RINVBNDSTS = 0x04;
inline constexpr uint32_t ESME_RALYBND = 0x05;
inline constexpr uint32_t ESME_RINVPRTFLG = 0x06;
inline constexpr uint32_t ESME_RINVREGDLVFLG = 0x07;
inline constexpr uint32_t ESME_RSYSERR = 0x08;
inline constexpr uint32_t ESME_RINVSRCADR = 0x0A;
inline constexpr uint32_t ESME_RINVDSTADR = 0x0B;
inline constexpr uint32_t ESME_RINVMSGID = 0x0C;
inline constexpr uint32_t ESME_RBINDFAIL = 0x0D;
inline constexpr uint32_t ESME_RINVPASWD = 0x0E;
inline constexpr uint32_t ESME_RINVSYSID = 0x0F;
inline constexpr uint32_t ESME_RCANCELFAIL = 0x11;
inline constexpr uint32_t ESME_RREPLACEFAIL = 0x13;
inline constexpr uint32_t ESME_RMSGQFUL = 0x14;
inline constexpr uint32_t ESME_RINVSERTYP = 0x15;
inline constexpr uint32_t ESME_RINVNUMDESTS = 0x33;
inline constexpr uint32_t ESME_RINVDLNAME = 0x34;
inline constexpr uint32_t ESME_RINVDESTFLAG = 0x40;
inline constexpr uint32_t ESME_RINVSUBREP = 0x42;
inline constexpr uint32_t ESME_RINVESMCLASS = 0x43;
inline constexpr uint32_t ESME_RCNTSUBDL = 0x44;
inline constexpr uint32_t ESME_RSUBMITFAIL = 0x45;
inline constexpr uint32_t ESME_RINVSRCTON = 0x48;
inline constexpr uint32_t ESME_RINVSRCNPI = 0x49;
inline constexpr uint32_t ESME_RINVDSTTON = 0x50;
inline constexpr uint32_t ESME_RINVDSTNPI = 0x51;
inline constexpr uint32_t ESME_RINVSYSTYP = 0x53;
inline constexpr uint32_t ESME_RINVREPFLAG = 0x54;
inline constexpr uint32_t ESME_RINVNUMMSGS = 0x55;
inline constexpr uint32_t ESME_RTHROTTLED = 0x58;
inline constexpr uint32_t ESME_RINVSCHED = 0x61;
inline constexpr uint32_t ESME_RINVEXPIRY = 0x62;
inline constexpr uint32_t ESME_RINVDFTMSGID = 0x63;
inline constexpr uint32_t ESME_RX_T_APPN = 0x64;
inline constexpr uint32_t ESME_RX_P_APPN = 0x65;
inline constexpr uint32_t ESME_RX_R_APPN = 0x66;
inline constexpr uint32_t ESME_RQUERYFAIL = 0x67;
inline constexpr uint32_t ESME_RINVOPTPARSTREAM = 0xC0;
inline constexpr uint32_t ESME_ROPTPARNOTALLWD = 0xC1;
inline constexpr uint32_t ESME_RINVPARLEN = 0xC2;
inline constexpr uint32_t ESME_RMISSINGOPTPARAM = 0xC3;
inline constexpr uint32_t ESME_RINVOPTPARAMVAL = 0xC4;
inline constexpr uint32_t ESME_RDELIVERYFAILURE = 0xFE;
inline constexpr uint32_t ESME_RUNKNOWNERR = 0xFF;
}  // namespace status

// "submit_sm", "deliver_sm_resp", ...; "unknown" for ids outside SMPP 3.4.
const char* command_name(uint32_t command_id);
// "ESME_ROK", ...; "vendor_specific" for 0x400-0x4FF, "reserved" otherwise.
// Any value may appear on the wire and must be carried through as a number.
const char* status_name(uint32_t command_status);
// True for ids with the response bit (0x80000000) set, generic_nack included.
bool is_response(uint32_t command_id);
// The response id that answers a request: command_id | 0x80000000 for SMPP 3.4
// requests that have one; 0 for outbind, alert_notification and responses,
// which are never answered; generic_nack for unknown ids (SMPP 3.4, 3.3).
uint32_t response_id(uint32_t command_id);
// True for the command ids SMPP 3.4 defines.
bool is_known_command(uint32_t command_id);

}  // namespace sluice::smpp
