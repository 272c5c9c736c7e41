#pragma once
// Message states for query_sm, cancel_sm and replace_sm (topics sms.status
// and sms.control): how every stage spells them, and how a reader merges
// them. Pure functions, tested without Kafka.
#include <cstdint>
#include <string>
#include <string_view>

#include "schema/records.pb.h"

namespace sluice::schema {

// The id the customer knows a message by (submit_multi destinations share it).
const std::string& visible_id(const records::v1::Message& m);

// A Status record for a message at a step of its way. `where`: "scheduled",
// "queued", "cancelled", "sent" or "final".
records::v1::Status status_of(const records::v1::Message& m, std::string_view where,
                              uint32_t message_state, int64_t now_ms);

// Higher ranks are later steps: a reader keeps the higher of two records.
int status_rank(std::string_view where);
// Whether `next` replaces `held` in a reader's view.
bool status_supersedes(const records::v1::Status& next, const records::v1::Status& held);
// A message that no stage has handed to a provider yet.
bool status_waiting(const records::v1::Status& s);

// replace_sm's new values, applied to the held message. Returns false when
// the control is not a replacement.
bool apply_replacement(const records::v1::Control& c, records::v1::Message& m);

}  // namespace sluice::schema
