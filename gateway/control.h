#pragma once
// query_sm, cancel_sm and replace_sm: the answers a gateway owes a customer
// from what its StatusView knows, and the records that carry a cancel or a
// replacement to the stages that hold messages. Pure functions, tested
// without a network.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "gateway/status_view.h"
#include "schema/records.pb.h"
#include "smpp/pdu.h"

namespace sluice::gateway {

// The command_status and body of query_sm_resp. A message the node does not
// know, or that belongs to another customer or another source address, is
// ESME_RQUERYFAIL alike: a customer learns nothing of another's ids.
smpp::QuerySmResp answer_query(const smpp::QuerySm& q, int64_t customer_id,
                               const std::optional<StatusView::Entry>& e, uint32_t& status);

// ESME_ROK when the message is the customer's, from `source`, and still
// waits; otherwise `refusal` (ESME_RCANCELFAIL or ESME_RREPLACEFAIL).
uint32_t check_waiting(const std::optional<StatusView::Entry>& e, int64_t customer_id,
                       const smpp::Address& source, uint32_t refusal);

records::v1::Control cancel_control(const std::string& id, int64_t customer_id, int64_t now_ms);
// The state the gateway records for a message it promised to cancel.
records::v1::Status cancelled_status(const std::string& id, int64_t customer_id,
                                     const smpp::Address& source, int64_t now_ms);

// replace_sm's new values; ESME_RINVSCHED / ESME_RINVEXPIRY when its times
// do not parse or contradict each other, else ESME_ROK.
uint32_t replace_control(const smpp::ReplaceSm& r, int64_t customer_id,
                         std::chrono::system_clock::time_point now, records::v1::Control& out);

}  // namespace sluice::gateway
