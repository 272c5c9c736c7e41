#pragma once
// Receipts that Sluice decides itself (no route, expired, rejected by the
// provider, cancelled), built the same way by whichever stage decides, so
// the customer sees one form whatever failed.
#include <cstdint>
#include <optional>
#include <string>

#include "schema/records.pb.h"

namespace sluice::schema {

// registered_delivery bits 0-1: 0 none, 1 final (success or failure), 2 failure only.
bool wants_receipt(uint32_t registered_delivery, bool success);

// SMPP message_state values.
inline constexpr uint32_t kStateEnroute = 1, kStateDelivered = 2, kStateExpired = 3,
                          kStateDeleted = 4, kStateUndeliverable = 5, kStateAccepted = 6,
                          kStateUnknown = 7, kStateRejected = 8;
const char* stat_text(uint32_t message_state);

// A Deliver record (topic sms.deliver, key = customer id) for a message that
// ends inside Sluice, or nullopt when the customer did not ask for one.
// `err` is the three-digit error in the receipt text; `reason` says why in words.
std::optional<records::v1::Deliver> internal_receipt(const records::v1::Message& m,
                                                     uint32_t message_state, const std::string& err,
                                                     const std::string& reason, int64_t now_ms);

std::string customer_key(int64_t customer_id);

}  // namespace sluice::schema
