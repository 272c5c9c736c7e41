#pragma once
// The Kafka key that brings a provider's submit_sm_resp (sms.sent) and its
// receipt (sms.provider-dlr) together: provider id and the provider's message
// id in a canonical form.
#include <cstdint>
#include <string>

namespace sluice::throttle {

std::string join_key(int64_t provider_id, const std::string& provider_message_id);

}  // namespace sluice::throttle
