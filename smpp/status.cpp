#include "smpp/status.h"

#include <string_view>

namespace sluice::smpp {

const char* command_name(uint32_t command_id) {
  switch (static_cast<CommandId>(command_id)) {
    case CommandId::GenericNack:
      return "generic_nack";
    case CommandId::BindReceiver:
      return "bind_receiver";
    case CommandId::BindReceiverResp:
      return "bind_receiver_resp";
    case CommandId::BindTransmitter:
      return "bind_transmitter";
    case CommandId::BindTransmitterResp:
      return "bind_transmitter_resp";
    case CommandId::QuerySm:
      return "query_sm";
    case CommandId::QuerySmResp:
      return "query_sm_resp";
    case CommandId::SubmitSm:
      return "submit_sm";
    case CommandId::SubmitSmResp:
      return "submit_sm_resp";
    case CommandId::DeliverSm:
      return "deliver_sm";
    case CommandId::DeliverSmResp:
      return "deliver_sm_resp";
    case CommandId::Unbind:
      return "unbind";
    case CommandId::UnbindResp:
      return "unbind_resp";
    case CommandId::ReplaceSm:
      return "replace_sm";
    case CommandId::ReplaceSmResp:
      return "replace_sm_resp";
    case CommandId::CancelSm:
      return "cancel_sm";
    case CommandId::CancelSmResp:
      return "cancel_sm_resp";
    case CommandId::BindTransceiver:
      return "bind_transceiver";
    case CommandId::BindTransceiverResp:
      return "bind_transceiver_resp";
    case CommandId::Outbind:
      return "outbind";
    case CommandId::EnquireLink:
      return "enquire_link";
    case CommandId::EnquireLinkResp:
      return "enquire_link_resp";
    case CommandId::SubmitMulti:
      return "submit_multi";
    case CommandId::SubmitMultiResp:
      return "submit_multi_resp";
    case CommandId::AlertNotification:
      return "alert_notification";
    case CommandId::DataSm:
      return "data_sm";
    case CommandId::DataSmResp:
      return "data_sm_resp";
  }
  return "unknown";
}

bool is_known_command(uint32_t command_id) {
  return std::string_view(command_name(command_id)) != "unknown";
}

const char* status_name(uint32_t s) {
  using namespace status;
  switch (s) {
    case ESME_ROK:
      return "ESME_ROK";
    case ESME_RINVMSGLEN:
      return "ESME_RINVMSGLEN";
    case ESME_RINVCMDLEN:
      return "ESME_RINVCMDLEN";
    case ESME_RINVCMDID:
      return "ESME_RINVCMDID";
    case ESME_RINVBNDSTS:
      return "ESME_RINVBNDSTS";
    case ESME_RALYBND:
      return "ESME_RALYBND";
    case ESME_RINVPRTFLG:
      return "ESME_RINVPRTFLG";
    case ESME_RINVREGDLVFLG:
      return "ESME_RINVREGDLVFLG";
    case ESME_RSYSERR:
      return "ESME_RSYSERR";
    case ESME_RINVSRCADR:
      return "ESME_RINVSRCADR";
    case ESME_RINVDSTADR:
      return "ESME_RINVDSTADR";
    case ESME_RINVMSGID:
      return "ESME_RINVMSGID";
    case ESME_RBINDFAIL:
      return "ESME_RBINDFAIL";
    case ESME_RINVPASWD:
      return "ESME_RINVPASWD";
    case ESME_RINVSYSID:
      return "ESME_RINVSYSID";
    case ESME_RCANCELFAIL:
      return "ESME_RCANCELFAIL";
    case ESME_RREPLACEFAIL:
      return "ESME_RREPLACEFAIL";
    case ESME_RMSGQFUL:
      return "ESME_RMSGQFUL";
    case ESME_RINVSERTYP:
      return "ESME_RINVSERTYP";
    case ESME_RINVNUMDESTS:
      return "ESME_RINVNUMDESTS";
    case ESME_RINVDLNAME:
      return "ESME_RINVDLNAME";
    case ESME_RINVDESTFLAG:
      return "ESME_RINVDESTFLAG";
    case ESME_RINVSUBREP:
      return "ESME_RINVSUBREP";
    case ESME_RINVESMCLASS:
      return "ESME_RINVESMCLASS";
    case ESME_RCNTSUBDL:
      return "ESME_RCNTSUBDL";
    case ESME_RSUBMITFAIL:
      return "ESME_RSUBMITFAIL";
    case ESME_RINVSRCTON:
      return "ESME_RINVSRCTON";
    case ESME_RINVSRCNPI:
      return "ESME_RINVSRCNPI";
    case ESME_RINVDSTTON:
      return "ESME_RINVDSTTON";
    case ESME_RINVDSTNPI:
      return "ESME_RINVDSTNPI";
    case ESME_RINVSYSTYP:
      return "ESME_RINVSYSTYP";
    case ESME_RINVREPFLAG:
      return "ESME_RINVREPFLAG";
    case ESME_RINVNUMMSGS:
      return "ESME_RINVNUMMSGS";
    case ESME_RTHROTTLED:
      return "ESME_RTHROTTLED";
    case ESME_RINVSCHED:
      return "ESME_RINVSCHED";
    case ESME_RINVEXPIRY:
      return "ESME_RINVEXPIRY";
    case ESME_RINVDFTMSGID:
      return "ESME_RINVDFTMSGID";
    case ESME_RX_T_APPN:
      return "ESME_RX_T_APPN";
    case ESME_RX_P_APPN:
      return "ESME_RX_P_APPN";
    case ESME_RX_R_APPN:
      return "ESME_RX_R_APPN";
    case ESME_RQUERYFAIL:
      return "ESME_RQUERYFAIL";
    case ESME_RINVOPTPARSTREAM:
      return "ESME_RINVOPTPARSTREAM";
    case ESME_ROPTPARNOTALLWD:
      return "ESME_ROPTPARNOTALLWD";
    case ESME_RINVPARLEN:
      return "ESME_RINVPARLEN";
    case ESME_RMISSINGOPTPARAM:
      return "ESME_RMISSINGOPTPARAM";
    case ESME_RINVOPTPARAMVAL:
      return "ESME_RINVOPTPARAMVAL";
    case ESME_RDELIVERYFAILURE:
      return "ESME_RDELIVERYFAILURE";
    case ESME_RUNKNOWNERR:
      return "ESME_RUNKNOWNERR";
    default:
      break;
  }
  if (s >= 0x400 && s <= 0x4FF) return "vendor_specific";
  return "reserved";
}

bool is_response(uint32_t command_id) {
  return (command_id & 0x80000000u) != 0;
}

uint32_t response_id(uint32_t command_id) {
  if (is_response(command_id)) return 0;
  if (command_id == to_u32(CommandId::Outbind) ||
      command_id == to_u32(CommandId::AlertNotification)) {
    return 0;
  }
  if (!is_known_command(command_id)) return to_u32(CommandId::GenericNack);
  return command_id | 0x80000000u;
}

}  // namespace sluice::smpp
