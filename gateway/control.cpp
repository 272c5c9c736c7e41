#include "gateway/control.h"

#include "schema/receipts.h"
#include "smpp/status.h"
#include "smpp/time.h"

namespace sluice::gateway {

namespace st = smpp::status;

namespace {
int64_t ms_of(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

bool owned_by(const std::optional<StatusView::Entry>& e, int64_t customer_id,
              const smpp::Address& source) {
  if (!e || e->customer_id != customer_id) return false;
  // SMPP asks for the source address the message was submitted with; an
  // empty one in the request is taken as "any of mine", as most SMSCs do.
  if (!source.addr.empty() && e->source_hash != 0 &&
      e->source_hash != StatusView::address_hash(source.addr))
    return false;
  return true;
}
}  // namespace

smpp::QuerySmResp answer_query(const smpp::QuerySm& q, int64_t customer_id,
                               const std::optional<StatusView::Entry>& e, uint32_t& status) {
  smpp::QuerySmResp r;
  if (!owned_by(e, customer_id, q.source)) {
    status = st::ESME_RQUERYFAIL;
    return r;
  }
  status = st::ESME_ROK;
  r.message_id = q.message_id;
  r.message_state = e->message_state;
  r.error_code = static_cast<uint8_t>(std::min<uint32_t>(e->error_code, 255));
  if (e->final_at_ms > 0)
    r.final_date = smpp::format_smpp_time_utc(
        std::chrono::system_clock::time_point(std::chrono::milliseconds(e->final_at_ms)));
  return r;
}

uint32_t check_waiting(const std::optional<StatusView::Entry>& e, int64_t customer_id,
                       const smpp::Address& source, uint32_t refusal) {
  if (!owned_by(e, customer_id, source) || !e->waiting()) return refusal;
  return st::ESME_ROK;
}

records::v1::Control cancel_control(const std::string& id, int64_t customer_id, int64_t now_ms) {
  records::v1::Control c;
  c.set_schema_version(1);
  c.set_id(id);
  c.set_customer_id(customer_id);
  c.set_kind(records::v1::Control::CANCEL);
  c.set_at_ms(now_ms);
  return c;
}

records::v1::Status cancelled_status(const std::string& id, int64_t customer_id,
                                     const smpp::Address& source, int64_t now_ms) {
  records::v1::Status s;
  s.set_schema_version(1);
  s.set_id(id);
  s.set_customer_id(customer_id);
  s.set_message_state(schema::kStateDeleted);
  s.set_where("cancelled");
  s.set_updated_at_ms(now_ms);
  s.set_final_at_ms(now_ms);
  s.set_source_addr(source.addr);
  return s;
}

uint32_t replace_control(const smpp::ReplaceSm& r, int64_t customer_id,
                         std::chrono::system_clock::time_point now, records::v1::Control& out) {
  auto sched = smpp::parse_smpp_time(r.schedule_delivery_time, now);
  if (sched.kind == smpp::SmppTime::Invalid) return st::ESME_RINVSCHED;
  auto valid = smpp::parse_smpp_time(r.validity_period, now);
  if (valid.kind == smpp::SmppTime::Invalid) return st::ESME_RINVEXPIRY;
  int64_t sched_ms = sched.kind == smpp::SmppTime::None ? 0 : ms_of(sched.at);
  int64_t expire_ms = valid.kind == smpp::SmppTime::None ? 0 : ms_of(valid.at);
  if (expire_ms != 0 && expire_ms <= ms_of(now)) return st::ESME_RINVEXPIRY;
  if (expire_ms != 0 && sched_ms != 0 && expire_ms <= sched_ms) return st::ESME_RINVEXPIRY;
  if ((r.registered_delivery & 0x03) == 0x03) return st::ESME_RINVREGDLVFLG;
  out.Clear();
  out.set_schema_version(1);
  out.set_id(r.message_id);
  out.set_customer_id(customer_id);
  out.set_kind(records::v1::Control::REPLACE);
  out.set_at_ms(ms_of(now));
  out.set_short_message(std::string(r.short_message.begin(), r.short_message.end()));
  out.set_schedule_at_ms(sched_ms);
  out.set_expire_at_ms(expire_ms);
  out.set_set_registered_delivery(true);
  out.set_registered_delivery(r.registered_delivery);
  return st::ESME_ROK;
}

}  // namespace sluice::gateway
