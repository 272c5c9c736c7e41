#include "schema/status.h"

namespace sluice::schema {

const std::string& visible_id(const records::v1::Message& m) {
  return m.customer_message_id().empty() ? m.id() : m.customer_message_id();
}

records::v1::Status status_of(const records::v1::Message& m, std::string_view where,
                              uint32_t message_state, int64_t now_ms) {
  records::v1::Status s;
  s.set_schema_version(1);
  s.set_id(visible_id(m));
  s.set_message_state(message_state);
  s.set_updated_at_ms(now_ms);
  s.set_where(std::string(where));
  s.set_customer_id(m.customer_id());
  s.set_source_addr(m.source().addr());
  s.set_dest_addr(m.dest().addr());
  if (where == "final" || where == "cancelled") s.set_final_at_ms(now_ms);
  return s;
}

int status_rank(std::string_view where) {
  // "cancelled" is what the gateway promised; a stage that sent the message
  // anyway (the cancel came too late) writes "sent" or "final", which is the
  // truth and wins.
  if (where == "scheduled" || where == "queued") return 1;
  if (where == "cancelled") return 2;
  if (where == "sent") return 3;
  if (where == "final") return 4;
  return 0;
}

bool status_supersedes(const records::v1::Status& next, const records::v1::Status& held) {
  int a = status_rank(next.where()), b = status_rank(held.where());
  if (a != b) return a > b;
  return next.updated_at_ms() >= held.updated_at_ms();
}

bool status_waiting(const records::v1::Status& s) {
  return status_rank(s.where()) == 1;
}

bool apply_replacement(const records::v1::Control& c, records::v1::Message& m) {
  if (c.kind() != records::v1::Control::REPLACE) return false;
  m.set_short_message(c.short_message());
  // A replaced text is whole: drop a message_payload that would win over it.
  auto* tlvs = m.mutable_tlvs();
  for (int i = tlvs->size() - 1; i >= 0; --i)
    if (tlvs->Get(i).tag() == 0x0424) tlvs->DeleteSubrange(i, 1);
  if (c.schedule_at_ms() > 0) m.set_schedule_at_ms(c.schedule_at_ms());
  if (c.expire_at_ms() > 0) m.set_expire_at_ms(c.expire_at_ms());
  if (c.set_registered_delivery()) m.set_registered_delivery(c.registered_delivery());
  return true;
}

}  // namespace sluice::schema
