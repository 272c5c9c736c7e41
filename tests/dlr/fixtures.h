#pragma once
// Records and configuration the DLR tests share: what the sender would write
// for a submit_sm_resp and a provider receipt, and a snapshot built by hand.
#include <memory>
#include <string>

#include "config/config.h"
#include "schema/records.pb.h"
#include "smpp/receipt.h"

namespace sluice::dlr::test {

namespace rec = records::v1;

// Customers: 1 wants receipts, 2 has DLRs disabled, 3 wants one per message.
// MO numbers: 4470... belongs to 1, 447000... to 3.
inline constexpr int64_t kT0 = 1700000000000;
inline constexpr int64_t kProvider = 7;

inline std::shared_ptr<config::Snapshot> make_snapshot() {
  auto s = std::make_shared<config::Snapshot>();
  config::Customer alpha;
  alpha.id = 1;
  alpha.system_id = "alpha";
  config::Customer quiet = alpha;
  quiet.id = 2;
  quiet.system_id = "quiet";
  quiet.dlr_enabled = false;
  config::Customer whole = alpha;
  whole.id = 3;
  whole.system_id = "whole";
  whole.dlr_per_message = true;
  s->customers = {alpha, quiet, whole};
  s->mo_numbers = {{1, "4470", 1}, {2, "447000", 3}};
  s->reindex();
  return s;
}

inline rec::Sent make_sent(const std::string& id, const std::string& provider_message_id,
                           int64_t customer = 1, uint32_t registered_delivery = 1,
                           int64_t provider = kProvider) {
  rec::Sent s;
  s.set_schema_version(1);
  s.set_id(id);
  s.set_customer_id(customer);
  s.set_provider_id(provider);
  s.set_provider_message_id(provider_message_id);
  s.set_registered_delivery(registered_delivery);
  s.set_submitted_at_ms(kT0 - 5000);
  s.set_sent_at_ms(kT0 - 4000);
  s.set_expire_at_ms(kT0 + 3600 * 1000);
  s.mutable_source()->set_addr("ACME");
  s.mutable_source()->set_ton(5);
  s.mutable_dest()->set_addr("447700900123");
  s.mutable_dest()->set_ton(1);
  s.mutable_dest()->set_npi(1);
  return s;
}

inline rec::ProviderDeliver make_receipt(const std::string& provider_message_id,
                                         const std::string& stat, int64_t provider = kProvider,
                                         int64_t at = kT0) {
  smpp::Receipt r;
  r.id = provider_message_id;
  r.sub = 1;
  r.dlvrd = stat == "DELIVRD" ? 1 : 0;
  r.submit_date = "2311141213";
  r.done_date = "2311141214";
  r.stat = stat;
  r.err = stat == "DELIVRD" ? "000" : "034";
  r.text = "hello world";
  rec::ProviderDeliver pd;
  pd.set_schema_version(1);
  pd.set_provider_id(provider);
  pd.set_is_receipt(true);
  pd.set_provider_message_id(provider_message_id);
  pd.set_short_message(smpp::format_receipt(r));
  pd.set_esm_class(0x04);
  pd.set_received_at_ms(at);
  pd.mutable_source()->set_addr("447700900123");
  pd.mutable_dest()->set_addr("ACME");
  return pd;
}

}  // namespace sluice::dlr::test
