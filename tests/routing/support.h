#pragma once
// Builders shared by the routing tests.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "schema/records.pb.h"

namespace sluice::routing::test {

inline config::Provider provider(int64_t id, std::string name, bool enabled = true) {
  config::Provider p;
  p.id = id;
  p.name = std::move(name);
  p.host = "127.0.0.1";
  p.port = 2775;
  p.system_id = "sys";
  p.enabled = enabled;
  return p;
}

inline config::Route route(int64_t id, std::optional<int64_t> customer, std::string prefix,
                           int priority, int64_t provider_id, int weight = 100,
                           int failover_order = 0, bool enabled = true) {
  config::Route r;
  r.id = id;
  r.customer_id = customer;
  r.prefix = std::move(prefix);
  r.priority = priority;
  r.provider_id = provider_id;
  r.weight = weight;
  r.failover_order = failover_order;
  r.enabled = enabled;
  return r;
}

inline std::shared_ptr<const config::Snapshot> snapshot(std::vector<config::Provider> providers,
                                                        std::vector<config::Route> routes) {
  auto s = std::make_shared<config::Snapshot>();
  s->version = 1;
  s->providers = std::move(providers);
  s->routes = std::move(routes);
  s->reindex();
  return s;
}

inline records::v1::Message message(std::string id, std::string dest, int64_t customer = 7) {
  records::v1::Message m;
  m.set_schema_version(1);
  m.set_id(id);
  m.set_customer_message_id(id);
  m.set_customer_id(customer);
  m.set_system_id("cust");
  m.mutable_source()->set_addr("SENDER");
  m.mutable_dest()->set_ton(1);
  m.mutable_dest()->set_npi(1);
  m.mutable_dest()->set_addr(std::move(dest));
  m.set_registered_delivery(1);
  m.set_short_message("hello " + id);
  m.set_submitted_at_ms(1700000000000);
  return m;
}

inline records::v1::Message part(std::string id, std::string dest, uint32_t ref, uint32_t seq,
                                 uint32_t total, int64_t customer = 7) {
  auto m = message(std::move(id), dest, customer);
  auto* c = m.mutable_concat();
  c->set_ref(ref);
  c->set_total(total);
  c->set_seq(seq);
  c->set_group_key(std::to_string(customer) + "|SENDER|" + dest + "|" + std::to_string(ref));
  m.set_esm_class(0x40);
  return m;
}

// An id shaped like the gateway's (48-bit ms + counter, hex), consecutive ids
// differing only in their last digits: the worst case for a weak hash.
inline std::string gateway_like_id(uint64_t n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "018c5f3e2a10%020llx",
                static_cast<unsigned long long>(0xa1b2c3d4e5f60000ULL + n));
  return buf;
}

}  // namespace sluice::routing::test
