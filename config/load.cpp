// Reading a Snapshot from PostgreSQL. Each row is converted on its own, so a
// value the C++ types cannot hold (a NULL where a constraint was dropped, an
// out-of-range number) rejects that row only.
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <stdexcept>

#include "common/log.h"
#include "config/internal.h"

namespace sluice::config {
namespace {

struct BadValue : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
T get(const pqxx::row& r, int col, const char* name) {
  const auto& f = r[col];
  if (f.is_null()) throw BadValue(std::string(name) + " is null");
  try {
    return f.as<T>();
  } catch (const std::exception&) {
    throw BadValue(std::string(name) + " cannot be read");
  }
}

template <class I>
I get_int(const pqxx::row& r, int col, const char* name) {
  auto v = get<long long>(r, col, name);
  if (v < static_cast<long long>(std::numeric_limits<I>::min()) ||
      v > static_cast<long long>(std::numeric_limits<I>::max()))
    throw BadValue(std::string(name) + " is out of range");
  return static_cast<I>(v);
}

std::chrono::seconds get_seconds(const pqxx::row& r, int col, const char* name) {
  double d = get<double>(r, col, name);
  if (!std::isfinite(d) || std::fabs(d) > 1e12)
    throw BadValue(std::string(name) + " is out of range");
  return std::chrono::seconds(static_cast<int64_t>(std::llround(d)));
}

// The key a rejected row is reported under, readable before the row is
// converted. Values of secret columns are never read into it.
std::string row_key(const pqxx::row& r, int key_col) {
  std::string id = r[0].is_null() ? "?" : r[0].c_str();
  if (key_col >= 0 && !r[key_col].is_null()) {
    std::string k = r[key_col].c_str();
    bool printable = !k.empty() && k.size() <= 64;
    for (char c : k) printable = printable && c >= 0x21 && c <= 0x7e;
    if (printable) return k;
  }
  return "id=" + id;
}

std::vector<IpRange> get_ranges(const pqxx::row& r, int col) {
  std::vector<IpRange> out;
  if (r[col].is_null()) return out;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r[col].c_str());
  } catch (const std::exception&) {
    throw BadValue("allowed_ranges cannot be read");
  }
  if (!j.is_array()) throw BadValue("allowed_ranges is not an array");
  for (const auto& e : j) {
    if (!e.is_string()) throw BadValue("allowed_ranges contains a null or non-text element");
    std::string why;
    auto range = IpRange::parse(e.get<std::string>(), &why);
    if (!range) throw BadValue("allowed_ranges: " + why);
    out.push_back(std::move(*range));
  }
  return out;
}

}  // namespace

Snapshot load_snapshot(pqxx::connection_base& conn) {
  Snapshot s;
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn, "config snapshot");
  s.version = tx.exec1("SELECT version FROM sluice.config_state")[0].as<int64_t>();

  for (const auto& r : tx.exec(
           "SELECT id, system_id, password_hash, array_to_json(allowed_ranges)::text, max_binds, "
           "ingress_mps::float8, extract(epoch FROM default_validity)::float8, dlr_enabled, "
           "dlr_per_message, enabled "
           "FROM sluice.customers ORDER BY id")) {
    try {
      Customer c;
      c.id = get<int64_t>(r, 0, "id");
      c.system_id = get<std::string>(r, 1, "system_id");
      c.password_hash = get<std::string>(r, 2, "password_hash");
      c.allowed_ranges = get_ranges(r, 3);
      c.max_binds = get_int<int>(r, 4, "max_binds");
      c.ingress_mps = get<double>(r, 5, "ingress_mps");
      c.default_validity = get_seconds(r, 6, "default_validity");
      c.dlr_enabled = get<bool>(r, 7, "dlr_enabled");
      c.dlr_per_message = get<bool>(r, 8, "dlr_per_message");
      c.enabled = get<bool>(r, 9, "enabled");
      s.customers.push_back(std::move(c));
    } catch (const BadValue& e) {
      reject_row(s, "customers", row_key(r, 1), e.what());
    }
  }

  for (const auto& r : tx.exec("SELECT id, name, host, port, tls, system_id, password, "
                               "system_type, bind_mode, binds, window_size, "
                               "mps::float8, extract(epoch FROM enquire_link_interval)::float8, "
                               "coalesce(source_addr_override, ''), "
                               "default_data_coding, enabled FROM sluice.providers ORDER BY id")) {
    try {
      Provider p;
      p.id = get<int64_t>(r, 0, "id");
      p.name = get<std::string>(r, 1, "name");
      p.host = get<std::string>(r, 2, "host");
      p.port = get_int<uint16_t>(r, 3, "port");
      p.tls = get<bool>(r, 4, "tls");
      p.system_id = get<std::string>(r, 5, "system_id");
      p.password = get<std::string>(r, 6, "password");
      p.system_type = get<std::string>(r, 7, "system_type");
      auto mode = parse_bind_mode(get<std::string>(r, 8, "bind_mode"));
      if (!mode)
        throw BadValue("bind_mode must be transmitter, transceiver or transmitter_receiver");
      p.bind_mode = *mode;
      p.binds = get_int<int>(r, 9, "binds");
      p.window = get_int<int>(r, 10, "window_size");
      p.mps = get<double>(r, 11, "mps");
      p.enquire_link_interval = get_seconds(r, 12, "enquire_link_interval");
      p.source_addr_override = get<std::string>(r, 13, "source_addr_override");
      p.default_data_coding = get_int<uint8_t>(r, 14, "default_data_coding");
      p.enabled = get<bool>(r, 15, "enabled");
      s.providers.push_back(std::move(p));
    } catch (const BadValue& e) {
      reject_row(s, "providers", row_key(r, 1), e.what());
    }
  }

  for (const auto& r : tx.exec(
           "SELECT id, customer_id, prefix, priority, provider_id, weight, failover_order, enabled "
           "FROM sluice.routes ORDER BY id")) {
    try {
      Route rt;
      rt.id = get<int64_t>(r, 0, "id");
      if (!r[1].is_null()) rt.customer_id = get<int64_t>(r, 1, "customer_id");
      rt.prefix = get<std::string>(r, 2, "prefix");
      rt.priority = get_int<int>(r, 3, "priority");
      rt.provider_id = get<int64_t>(r, 4, "provider_id");
      rt.weight = get_int<int>(r, 5, "weight");
      rt.failover_order = get_int<int>(r, 6, "failover_order");
      rt.enabled = get<bool>(r, 7, "enabled");
      s.routes.push_back(std::move(rt));
    } catch (const BadValue& e) {
      reject_row(s, "routes", row_key(r, -1), e.what());
    }
  }

  for (const auto& r :
       tx.exec("SELECT id, number, customer_id FROM sluice.mo_numbers ORDER BY id")) {
    try {
      MoNumber m;
      m.id = get<int64_t>(r, 0, "id");
      m.prefix_or_number = get<std::string>(r, 1, "number");
      m.customer_id = get<int64_t>(r, 2, "customer_id");
      s.mo_numbers.push_back(std::move(m));
    } catch (const BadValue& e) {
      reject_row(s, "mo_numbers", row_key(r, 1), e.what());
    }
  }
  tx.commit();
  validate(s);
  return s;
}

}  // namespace sluice::config
