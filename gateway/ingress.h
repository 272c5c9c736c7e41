#pragma once
// From a customer's submit_sm / data_sm / submit_multi to the record that goes
// on the submit topic: the checks a gateway owes its customers, and the
// conversion. Pure functions, tested without a network.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "config/config.h"
#include "schema/records.pb.h"
#include "smpp/pdu.h"

namespace sluice::gateway {

// The command_status a message must be refused with, or ESME_ROK.
uint32_t validate(const smpp::SubmitSm& sm);
uint32_t validate(const smpp::DataSm& sm);
uint32_t validate_multi(const smpp::SubmitMulti& sm);

struct IngressContext {
  const config::Customer* customer = nullptr;
  std::string node;
  std::chrono::system_clock::time_point now;
};

// The record for one message. `id` is the new message id; the Kafka key is
// returned in `key`: the multipart group key (customer|source|destination|ref)
// when the message is one part of several, so every part lands on one
// partition, else the message id. Returns a command_status: ESME_RINVSCHED or
// ESME_RINVEXPIRY when the times do not parse, else ESME_ROK.
uint32_t to_record(const smpp::SubmitSm& sm, const IngressContext& ctx, const std::string& id,
                   records::v1::Message& out, std::string& key);
uint32_t to_record(const smpp::DataSm& sm, const IngressContext& ctx, const std::string& id,
                   records::v1::Message& out, std::string& key);

// submit_multi's common part with one of its destinations as a submit_sm.
smpp::SubmitSm submit_for_destination(const smpp::SubmitMulti& multi, const smpp::Address& dest);

std::string group_key(int64_t customer_id, const smpp::Address& source, const smpp::Address& dest,
                      uint16_t ref);

}  // namespace sluice::gateway
