// Snapshot lookups and the validation every loaded row goes through, whether it
// came from PostgreSQL or from the copy on disk. The limits mirror the CHECK
// constraints in schema/sql so that a loosened or dropped constraint (or a
// hand-edited cache file) still cannot feed nonsense to a stage.
#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_set>

#include "common/log.h"
#include "config/config.h"
#include "config/password.h"

namespace sluice::config {

struct SnapshotIndex {
  std::size_t customers = 0, providers = 0, mo_numbers = 0;
  std::unordered_map<std::string, std::size_t> customer_by_system_id;
  std::unordered_map<int64_t, std::size_t> customer_by_id;
  std::unordered_map<int64_t, std::size_t> provider_by_id;
  std::unordered_map<std::string, std::size_t> provider_by_name;
  std::unordered_map<std::string, std::size_t> mo_by_prefix;
  std::size_t longest_mo = 0;
};

// ---------------------------------------------------------------------------
// IpRange

std::optional<IpRange> IpRange::parse(std::string_view text, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<IpRange> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  std::string_view addr_part = text;
  std::optional<int> len;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr_part = text.substr(0, slash);
    std::string_view l = text.substr(slash + 1);
    if (l.empty() || l.size() > 3 ||
        !std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail("bad prefix length in '" + std::string(text) + "'");
    len = std::stoi(std::string(l));
  }
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(std::string(addr_part), ec);
  if (ec) return fail("'" + std::string(text) + "' is not an IP address or CIDR range");
  IpRange r;
  r.v6 = addr.is_v6();
  if (r.v6) {
    if (addr.to_v6().scope_id() != 0) return fail("'" + std::string(text) + "' has a zone id");
    auto b = addr.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), r.bytes.begin());
  } else {
    auto b = addr.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), r.bytes.begin());
  }
  const int max = r.v6 ? 128 : 32;
  r.prefix_len = len.value_or(max);
  if (r.prefix_len < 0 || r.prefix_len > max)
    return fail("prefix length out of range in '" + std::string(text) + "'");
  for (int bit = r.prefix_len; bit < max; ++bit) {
    if (r.bytes[static_cast<std::size_t>(bit / 8)] & (0x80 >> (bit % 8)))
      return fail("'" + std::string(text) + "' has bits set beyond its prefix length");
  }
  r.text = addr.to_string() + "/" + std::to_string(r.prefix_len);
  return r;
}

bool IpRange::contains(const boost::asio::ip::address& a) const {
  std::array<uint8_t, 16> b{};
  bool is6 = a.is_v6();
  if (is6 && a.to_v6().is_v4_mapped()) {
    auto v4 = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).to_bytes();
    std::copy(v4.begin(), v4.end(), b.begin());
    is6 = false;
  } else if (is6) {
    auto v6b = a.to_v6().to_bytes();
    std::copy(v6b.begin(), v6b.end(), b.begin());
  } else {
    auto v4 = a.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), b.begin());
  }
  if (is6 != v6) return false;
  int full = prefix_len / 8, rest = prefix_len % 8;
  if (!std::equal(bytes.begin(), bytes.begin() + full, b.begin())) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (bytes[static_cast<std::size_t>(full)] & mask) ==
         (b[static_cast<std::size_t>(full)] & mask);
}

bool Customer::allows(const boost::asio::ip::address& addr) const {
  if (allowed_ranges.empty()) return true;
  return std::any_of(allowed_ranges.begin(), allowed_ranges.end(),
                     [&](const IpRange& r) { return r.contains(addr); });
}

const char* bind_mode_name(Provider::BindMode m) {
  switch (m) {
    case Provider::BindMode::transmitter:
      return "transmitter";
    case Provider::BindMode::transceiver:
      return "transceiver";
    case Provider::BindMode::transmitter_receiver:
      return "transmitter_receiver";
  }
  return "transceiver";
}

std::optional<Provider::BindMode> parse_bind_mode(std::string_view s) {
  if (s == "transmitter") return Provider::BindMode::transmitter;
  if (s == "transceiver") return Provider::BindMode::transceiver;
  if (s == "transmitter_receiver") return Provider::BindMode::transmitter_receiver;
  return std::nullopt;
}

const char* state_name(State s) {
  switch (s) {
    case State::empty:
      return "empty";
    case State::from_cache:
      return "from_cache";
    case State::live:
      return "live";
    case State::stale:
      return "stale";
  }
  return "empty";
}

// ---------------------------------------------------------------------------
// Lookups. The index is a hint: every hit is checked against the vectors, and a
// size mismatch (vectors changed since reindex) falls back to a scan.

void Snapshot::reindex() {
  auto ix = std::make_shared<SnapshotIndex>();
  ix->customers = customers.size();
  ix->providers = providers.size();
  ix->mo_numbers = mo_numbers.size();
  for (std::size_t i = 0; i < customers.size(); ++i) {
    ix->customer_by_system_id.emplace(customers[i].system_id, i);
    ix->customer_by_id.emplace(customers[i].id, i);
  }
  for (std::size_t i = 0; i < providers.size(); ++i) {
    ix->provider_by_id.emplace(providers[i].id, i);
    ix->provider_by_name.emplace(providers[i].name, i);
  }
  for (std::size_t i = 0; i < mo_numbers.size(); ++i) {
    ix->mo_by_prefix.emplace(mo_numbers[i].prefix_or_number, i);
    ix->longest_mo = std::max(ix->longest_mo, mo_numbers[i].prefix_or_number.size());
  }
  index = std::move(ix);
}

namespace {
// Looks key up in the index when the index still matches the vector, and scans
// otherwise; a hit is only trusted when the row really matches.
template <class T, class Map, class Key, class Match>
const T* lookup(const std::vector<T>& v, const Map* map, const Key& key, Match match) {
  if (map) {
    auto it = map->find(key);
    if (it != map->end() && it->second < v.size() && match(v[it->second])) return &v[it->second];
    if (it == map->end()) return nullptr;
  }
  for (const auto& x : v)
    if (match(x)) return &x;
  return nullptr;
}
}  // namespace

const Customer* Snapshot::customer_by_system_id(std::string_view sid) const {
  bool ok = index && index->customers == customers.size();
  return lookup(customers, ok ? &index->customer_by_system_id : nullptr, std::string(sid),
                [&](const Customer& c) { return c.system_id == sid; });
}

const Customer* Snapshot::customer_by_id(int64_t id) const {
  bool ok = index && index->customers == customers.size();
  return lookup(customers, ok ? &index->customer_by_id : nullptr, id,
                [&](const Customer& c) { return c.id == id; });
}

const Provider* Snapshot::provider_by_id(int64_t id) const {
  bool ok = index && index->providers == providers.size();
  return lookup(providers, ok ? &index->provider_by_id : nullptr, id,
                [&](const Provider& p) { return p.id == id; });
}

const Provider* Snapshot::provider_by_name(std::string_view name) const {
  bool ok = index && index->providers == providers.size();
  return lookup(providers, ok ? &index->provider_by_name : nullptr, std::string(name),
                [&](const Provider& p) { return p.name == name; });
}

const Customer* Snapshot::owner_of_mo(std::string_view msisdn) const {
  if (!msisdn.empty() && msisdn.front() == '+') msisdn.remove_prefix(1);
  const MoNumber* best = nullptr;
  if (index && index->mo_numbers == mo_numbers.size()) {
    std::string key(msisdn.substr(0, index->longest_mo));
    for (; !key.empty(); key.pop_back()) {
      auto it = index->mo_by_prefix.find(key);
      if (it != index->mo_by_prefix.end() && it->second < mo_numbers.size() &&
          mo_numbers[it->second].prefix_or_number == key) {
        best = &mo_numbers[it->second];
        break;
      }
    }
  } else {
    for (const auto& m : mo_numbers) {
      if (!m.prefix_or_number.empty() &&
          msisdn.substr(0, m.prefix_or_number.size()) == m.prefix_or_number &&
          (!best || m.prefix_or_number.size() > best->prefix_or_number.size()))
        best = &m;
    }
  }
  return best ? customer_by_id(best->customer_id) : nullptr;
}

// ---------------------------------------------------------------------------
// Validation

namespace {

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}
bool digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
bool provider_name_ok(std::string_view s) {
  if (s.empty() || s.size() > 40) return false;
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  return std::all_of(s.begin(), s.end(), ok) && s.front() != '-' && s.front() != '_';
}
bool host_ok(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '-' || s.front() == '.') return false;
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == ':';
  };
  return std::all_of(s.begin(), s.end(), ok);
}
template <class N>
bool within(N v, N lo, N hi) {
  return v >= lo && v <= hi;
}

std::string check_customer(const Customer& c) {
  if (c.system_id.empty() || c.system_id.size() > 15 || !printable(c.system_id))
    return "system_id must be 1 to 15 printable ASCII characters";
  if (auto why = check_password_hash(c.password_hash); !why.empty()) return why;
  if (!within(c.max_binds, 1, 1000))
    return "max_binds " + std::to_string(c.max_binds) + " is outside 1..1000";
  if (!std::isfinite(c.ingress_mps) || c.ingress_mps <= 0 || c.ingress_mps > 1e6)
    return "ingress_mps must be above 0 and at most 1000000";
  if (!within<int64_t>(c.default_validity.count(), 1, 30 * 86400))
    return "default_validity must be between 1 second and 30 days";
  return {};
}

std::string check_provider(const Provider& p) {
  if (!provider_name_ok(p.name))
    return "name must be 1 to 40 of a-z 0-9 _ - (it names a Kafka topic)";
  if (!host_ok(p.host)) return "host is not a host name or IP address";
  if (p.port == 0) return "port must be 1..65535";
  if (p.system_id.empty() || p.system_id.size() > 15 || !printable(p.system_id))
    return "system_id must be 1 to 15 printable ASCII characters";
  if (p.password.size() > 8 || !printable(p.password))
    return "password must be at most 8 printable ASCII characters";
  if (p.system_type.size() > 12 || !printable(p.system_type))
    return "system_type must be at most 12 printable ASCII characters";
  if (!within(p.binds, 1, 64)) return "binds " + std::to_string(p.binds) + " is outside 1..64";
  if (!within(p.window, 1, 1000))
    return "window " + std::to_string(p.window) + " is outside 1..1000";
  if (!std::isfinite(p.mps) || p.mps <= 0 || p.mps > 100000)
    return "mps must be above 0 and at most 100000";
  if (!within<int64_t>(p.enquire_link_interval.count(), 5, 3600))
    return "enquire_link_interval must be between 5 seconds and 1 hour";
  if (p.source_addr_override.size() > 20 || !printable(p.source_addr_override))
    return "source_addr_override must be at most 20 printable ASCII characters";
  return {};
}

std::string check_route(const Route& r) {
  if (r.prefix.size() > 20 || !digits(r.prefix)) return "prefix must be at most 20 digits";
  if (!within(r.priority, 0, 1000000))
    return "priority " + std::to_string(r.priority) + " is outside 0..1000000";
  if (!within(r.weight, 0, 10000))
    return "weight " + std::to_string(r.weight) + " is outside 0..10000";
  if (!within(r.failover_order, 0, 1000))
    return "failover_order " + std::to_string(r.failover_order) + " is outside 0..1000";
  return {};
}

std::string check_mo(const MoNumber& m) {
  if (m.prefix_or_number.empty() || m.prefix_or_number.size() > 20 || !digits(m.prefix_or_number))
    return "number must be 1 to 20 digits";
  return {};
}

std::string safe_key(std::string_view preferred, int64_t id) {
  if (!preferred.empty() && preferred.size() <= 64 && printable(preferred))
    return std::string(preferred);
  return "id=" + std::to_string(id);
}

}  // namespace

void reject_row(Snapshot& s, std::string table, std::string key, std::string reason) {
  log::warn("config row rejected", {{"table", table}, {"key", key}, {"reason", reason}});
  s.rejected.push_back({std::move(table), std::move(key), std::move(reason)});
}

void validate(Snapshot& s) {
  std::set<int64_t> customer_ids, bad_customers, provider_ids, bad_providers;

  std::vector<Customer> customers;
  std::unordered_set<std::string> system_ids;
  for (auto& c : s.customers) {
    std::string why = check_customer(c);
    if (why.empty() && customer_ids.count(c.id)) why = "duplicate id";
    if (why.empty() && system_ids.count(c.system_id)) why = "duplicate system_id";
    if (!why.empty()) {
      bad_customers.insert(c.id);
      reject_row(s, "customers", safe_key(c.system_id, c.id), why);
      continue;
    }
    customer_ids.insert(c.id);
    system_ids.insert(c.system_id);
    customers.push_back(std::move(c));
  }
  s.customers = std::move(customers);

  std::vector<Provider> providers;
  std::unordered_set<std::string> names;
  for (auto& p : s.providers) {
    std::string why = check_provider(p);
    if (why.empty() && provider_ids.count(p.id)) why = "duplicate id";
    if (why.empty() && names.count(p.name)) why = "duplicate name";
    if (!why.empty()) {
      bad_providers.insert(p.id);
      reject_row(s, "providers", safe_key(p.name, p.id), why);
      continue;
    }
    provider_ids.insert(p.id);
    names.insert(p.name);
    providers.push_back(std::move(p));
  }
  s.providers = std::move(providers);

  auto customer_ref = [&](int64_t id) -> std::string {
    if (customer_ids.count(id)) return {};
    if (bad_customers.count(id)) return "customer " + std::to_string(id) + " was rejected";
    return "no customer with id " + std::to_string(id);
  };

  std::vector<Route> routes;
  std::set<int64_t> route_ids;
  std::set<std::tuple<int64_t, std::string, int64_t>> route_keys;
  for (auto& r : s.routes) {
    std::string why = check_route(r);
    if (why.empty() && !provider_ids.count(r.provider_id))
      why = bad_providers.count(r.provider_id)
                ? "provider " + std::to_string(r.provider_id) + " was rejected"
                : "no provider with id " + std::to_string(r.provider_id);
    if (why.empty() && r.customer_id) why = customer_ref(*r.customer_id);
    if (why.empty() && route_ids.count(r.id)) why = "duplicate id";
    if (why.empty() &&
        !route_keys.emplace(r.customer_id.value_or(-1), r.prefix, r.provider_id).second)
      why = "duplicate of another route (same customer, prefix and provider)";
    if (!why.empty()) {
      reject_row(s, "routes", "id=" + std::to_string(r.id), why);
      continue;
    }
    route_ids.insert(r.id);
    routes.push_back(std::move(r));
  }
  s.routes = std::move(routes);

  std::vector<MoNumber> mos;
  std::unordered_set<std::string> numbers;
  for (auto& m : s.mo_numbers) {
    std::string why = check_mo(m);
    if (why.empty()) why = customer_ref(m.customer_id);
    if (why.empty() && !numbers.insert(m.prefix_or_number).second) why = "duplicate number";
    if (!why.empty()) {
      reject_row(s, "mo_numbers", safe_key(m.prefix_or_number, m.id), why);
      continue;
    }
    mos.push_back(std::move(m));
  }
  s.mo_numbers = std::move(mos);
  s.reindex();
}

}  // namespace sluice::config
