#include "schema/receipts.h"

namespace sluice::schema {

bool wants_receipt(uint32_t rd, bool success) {
  switch (rd & 0x03) {
    case 1:
      return true;
    case 2:
      return !success;
    default:
      return false;
  }
}

const char* stat_text(uint32_t s) {
  switch (s) {
    case kStateEnroute:
      return "ENROUTE";
    case kStateDelivered:
      return "DELIVRD";
    case kStateExpired:
      return "EXPIRED";
    case kStateDeleted:
      return "DELETED";
    case kStateUndeliverable:
      return "UNDELIV";
    case kStateAccepted:
      return "ACCEPTD";
    case kStateRejected:
      return "REJECTD";
    default:
      return "UNKNOWN";
  }
}

std::string customer_key(int64_t customer_id) {
  return std::to_string(customer_id);
}

std::optional<records::v1::Deliver> internal_receipt(const records::v1::Message& m, uint32_t state,
                                                     const std::string& err,
                                                     const std::string& reason, int64_t now_ms) {
  if (!wants_receipt(m.registered_delivery(), state == kStateDelivered)) return std::nullopt;
  records::v1::Deliver d;
  d.set_schema_version(1);
  d.set_customer_id(m.customer_id());
  d.set_is_receipt(true);
  d.set_id(m.customer_message_id().empty() ? m.id() : m.customer_message_id());
  d.set_message_state(state);
  d.set_stat(stat_text(state));
  d.set_err(err);
  d.set_submitted_at_ms(m.submitted_at_ms());
  d.set_done_at_ms(now_ms);
  // A receipt goes back the other way: from the destination to the source.
  d.mutable_source()->CopyFrom(m.dest());
  d.mutable_dest()->CopyFrom(m.source());
  d.set_esm_class(0x04);
  d.set_reason(reason);
  // Undelivered receipts are kept as long as the message would have been.
  d.set_expire_at_ms(m.expire_at_ms() > 0 ? m.expire_at_ms() + 24LL * 3600 * 1000
                                          : now_ms + 7LL * 24 * 3600 * 1000);
  // Kept so that a customer with one DLR per multipart message is answered once.
  if (m.has_concat()) d.mutable_concat()->CopyFrom(m.concat());
  std::string head = m.short_message();
  if (m.esm_class() & 0x40) head.clear();  // a UDH is not text
  if (m.data_coding() == 0 || m.data_coding() == 1 || m.data_coding() == 3)
    d.set_text_head(head.substr(0, 20));
  return d;
}

}  // namespace sluice::schema
