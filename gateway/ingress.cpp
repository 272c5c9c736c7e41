#include "gateway/ingress.h"

#include "smpp/time.h"
#include "smpp/udh.h"

namespace sluice::gateway {
namespace st = smpp::status;
namespace {

// SMPP 3.4 has no status for an unsupported data_coding; SMPP 5.0 defines
// ESME_RINVDCS as 0x104, which clients that know it understand.
constexpr uint32_t kInvalidDataCoding = 0x00000104;

int64_t ms_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

bool dcs_supported(uint8_t dcs) {
  // 0x00-0x0E are SMPP 3.4's defined codings; 0xC0-0xFF the GSM 03.38 coding
  // groups (message waiting, class). 0x0F-0xBF are reserved.
  return dcs <= 0x0E || dcs >= 0xC0;
}

bool esm_class_ok_for_submit(uint8_t esm) {
  // Message type bits 2-5: default, ESME delivery ack or manual/user ack only;
  // an ESME cannot submit an SMSC delivery receipt.
  uint8_t type = esm & 0x3C;
  if (type != 0x00 && type != 0x08 && type != 0x10) return false;
  return true;
}

bool address_ok(const smpp::Address& a) {
  for (char c : a.addr)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

uint32_t check_udh(uint8_t esm_class, const std::vector<uint8_t>& user_data) {
  if (!(esm_class & smpp::kEsmUdhi) || user_data.empty()) return st::ESME_ROK;
  return smpp::udh_size(user_data) ? st::ESME_ROK : st::ESME_RINVESMCLASS;
}

void copy_address(const smpp::Address& a, records::v1::Address* out) {
  out->set_ton(a.ton);
  out->set_npi(a.npi);
  out->set_addr(a.addr);
}

void copy_tlvs(const smpp::TlvList& tlvs, records::v1::Message& out) {
  for (const auto& t : tlvs.items) {
    auto* r = out.add_tlvs();
    r->set_tag(t.tag);
    r->set_value(std::string(t.value.begin(), t.value.end()));
  }
}

// Validity: the message's own, else the customer's default, else none.
uint32_t apply_times(const std::string& schedule, const std::string& validity,
                     const IngressContext& ctx, records::v1::Message& out) {
  auto sched = smpp::parse_smpp_time(schedule, ctx.now);
  if (sched.kind == smpp::SmppTime::Invalid) return st::ESME_RINVSCHED;
  auto valid = smpp::parse_smpp_time(validity, ctx.now);
  if (valid.kind == smpp::SmppTime::Invalid) return st::ESME_RINVEXPIRY;
  int64_t sched_ms = sched.kind == smpp::SmppTime::None ? 0 : ms_of(sched.at);
  if (sched_ms != 0 && sched_ms <= ms_of(ctx.now)) sched_ms = 0;  // already due
  int64_t expire_ms = 0;
  if (valid.kind != smpp::SmppTime::None) {
    expire_ms = ms_of(valid.at);
  } else if (ctx.customer && ctx.customer->default_validity.count() > 0) {
    expire_ms = ms_of(ctx.now + ctx.customer->default_validity);
  }
  if (expire_ms != 0 && expire_ms <= ms_of(ctx.now)) return st::ESME_RINVEXPIRY;
  if (expire_ms != 0 && sched_ms != 0 && expire_ms <= sched_ms) return st::ESME_RINVEXPIRY;
  out.set_schedule_at_ms(sched_ms);
  out.set_expire_at_ms(expire_ms);
  return st::ESME_ROK;
}

template <class Sm>
void set_concat(const Sm& sm, const std::optional<smpp::ConcatInfo>& c, const IngressContext& ctx,
                const std::string& id, records::v1::Message& out, std::string& key) {
  if (c && c->total > 1) {
    auto* rc = out.mutable_concat();
    rc->set_ref(c->ref);
    rc->set_total(c->total);
    rc->set_seq(c->seq);
    rc->set_ref16(c->ref16);
    bool from_udh = (sm.esm_class & smpp::kEsmUdhi) != 0;
    rc->set_from_sar(!from_udh);
    key = group_key(ctx.customer ? ctx.customer->id : 0, sm.source, sm.dest, c->ref);
    rc->set_group_key(key);
  } else {
    key = id;
  }
}

}  // namespace

std::string group_key(int64_t customer_id, const smpp::Address& source, const smpp::Address& dest,
                      uint16_t ref) {
  return std::to_string(customer_id) + "|" + source.addr + "|" + dest.addr + "|" +
         std::to_string(ref);
}

uint32_t validate(const smpp::SubmitSm& sm) {
  if (sm.dest.addr.empty() || !address_ok(sm.dest)) return st::ESME_RINVDSTADR;
  if (!address_ok(sm.source)) return st::ESME_RINVSRCADR;
  if (!dcs_supported(sm.data_coding)) return kInvalidDataCoding;
  if (!esm_class_ok_for_submit(sm.esm_class)) return st::ESME_RINVESMCLASS;
  const auto* payload = sm.tlvs.find(smpp::tlv::message_payload);
  // SMPP 3.4 5.3.2.32: short_message and message_payload are exclusive.
  if (payload && !sm.short_message.empty()) return st::ESME_RINVMSGLEN;
  if (uint32_t s = check_udh(sm.esm_class, payload ? payload->value : sm.short_message); s)
    return s;
  if ((sm.registered_delivery & 0x03) == 0x03) return st::ESME_RINVREGDLVFLG;
  return st::ESME_ROK;
}

uint32_t validate(const smpp::DataSm& sm) {
  if (sm.dest.addr.empty() || !address_ok(sm.dest)) return st::ESME_RINVDSTADR;
  if (!address_ok(sm.source)) return st::ESME_RINVSRCADR;
  if (!dcs_supported(sm.data_coding)) return kInvalidDataCoding;
  if (!esm_class_ok_for_submit(sm.esm_class)) return st::ESME_RINVESMCLASS;
  const auto* payload = sm.tlvs.find(smpp::tlv::message_payload);
  if (payload) {
    if (uint32_t s = check_udh(sm.esm_class, payload->value); s) return s;
  }
  if ((sm.registered_delivery & 0x03) == 0x03) return st::ESME_RINVREGDLVFLG;
  return st::ESME_ROK;
}

uint32_t validate_multi(const smpp::SubmitMulti& sm) {
  if (sm.dests.empty() || sm.dests.size() > 254) return st::ESME_RINVNUMDESTS;
  if (!address_ok(sm.source)) return st::ESME_RINVSRCADR;
  if (!dcs_supported(sm.data_coding)) return kInvalidDataCoding;
  if (!esm_class_ok_for_submit(sm.esm_class)) return st::ESME_RINVESMCLASS;
  const auto* payload = sm.tlvs.find(smpp::tlv::message_payload);
  if (payload && !sm.short_message.empty()) return st::ESME_RINVMSGLEN;
  if ((sm.registered_delivery & 0x03) == 0x03) return st::ESME_RINVREGDLVFLG;
  return st::ESME_ROK;
}

uint32_t to_record(const smpp::SubmitSm& sm, const IngressContext& ctx, const std::string& id,
                   records::v1::Message& out, std::string& key) {
  out.Clear();
  out.set_schema_version(1);
  out.set_id(id);
  out.set_customer_message_id(id);
  if (ctx.customer) {
    out.set_customer_id(ctx.customer->id);
    out.set_system_id(ctx.customer->system_id);
  }
  out.set_service_type(sm.service_type);
  copy_address(sm.source, out.mutable_source());
  copy_address(sm.dest, out.mutable_dest());
  out.set_esm_class(sm.esm_class);
  out.set_protocol_id(sm.protocol_id);
  out.set_priority_flag(sm.priority_flag);
  out.set_registered_delivery(sm.registered_delivery);
  out.set_data_coding(sm.data_coding);
  out.set_short_message(std::string(sm.short_message.begin(), sm.short_message.end()));
  copy_tlvs(sm.tlvs, out);
  out.set_submitted_at_ms(ms_of(ctx.now));
  out.set_gateway_node(ctx.node);
  out.set_source_command(static_cast<uint32_t>(smpp::CommandId::SubmitSm));
  if (uint32_t s = apply_times(sm.schedule_delivery_time, sm.validity_period, ctx, out); s)
    return s;
  set_concat(sm, smpp::concat_of(sm), ctx, id, out, key);
  return st::ESME_ROK;
}

uint32_t to_record(const smpp::DataSm& sm, const IngressContext& ctx, const std::string& id,
                   records::v1::Message& out, std::string& key) {
  out.Clear();
  out.set_schema_version(1);
  out.set_id(id);
  out.set_customer_message_id(id);
  if (ctx.customer) {
    out.set_customer_id(ctx.customer->id);
    out.set_system_id(ctx.customer->system_id);
  }
  out.set_service_type(sm.service_type);
  copy_address(sm.source, out.mutable_source());
  copy_address(sm.dest, out.mutable_dest());
  out.set_esm_class(sm.esm_class);
  out.set_registered_delivery(sm.registered_delivery);
  out.set_data_coding(sm.data_coding);
  copy_tlvs(sm.tlvs, out);
  out.set_submitted_at_ms(ms_of(ctx.now));
  out.set_gateway_node(ctx.node);
  out.set_source_command(static_cast<uint32_t>(smpp::CommandId::DataSm));
  // data_sm has no schedule; qos_time_to_live (seconds) is its validity.
  out.set_schedule_at_ms(0);
  int64_t expire = 0;
  if (auto ttl = sm.tlvs.u32(smpp::tlv::qos_time_to_live)) {
    expire = ms_of(ctx.now) + static_cast<int64_t>(*ttl) * 1000;
  } else if (ctx.customer && ctx.customer->default_validity.count() > 0) {
    expire = ms_of(ctx.now + ctx.customer->default_validity);
  }
  out.set_expire_at_ms(expire);
  set_concat(sm, smpp::concat_of(sm), ctx, id, out, key);
  return st::ESME_ROK;
}

smpp::SubmitSm submit_for_destination(const smpp::SubmitMulti& m, const smpp::Address& dest) {
  smpp::SubmitSm sm;
  sm.service_type = m.service_type;
  sm.source = m.source;
  sm.dest = dest;
  sm.esm_class = m.esm_class;
  sm.protocol_id = m.protocol_id;
  sm.priority_flag = m.priority_flag;
  sm.schedule_delivery_time = m.schedule_delivery_time;
  sm.validity_period = m.validity_period;
  sm.registered_delivery = m.registered_delivery;
  sm.replace_if_present_flag = m.replace_if_present_flag;
  sm.data_coding = m.data_coding;
  sm.sm_default_msg_id = m.sm_default_msg_id;
  sm.short_message = m.short_message;
  sm.tlvs = m.tlvs;
  return sm;
}

}  // namespace sluice::gateway
