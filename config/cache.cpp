// The copy of the last loaded snapshot on disk, so that a stage restarted
// while PostgreSQL is down still starts, and the JSON `config show` prints.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "config/internal.h"

namespace sluice::config {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "sluice-config-cache";
constexpr int kFormatVersion = 1;

const char* hash_scheme(const std::string& h) {
  if (h.rfind("$argon2id$", 0) == 0) return "argon2id";
  if (h.rfind("$2a$", 0) == 0 || h.rfind("$2b$", 0) == 0) return "bcrypt";
  return "unknown";
}

[[noreturn]] void sys_fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

json to_json(const Snapshot& s, bool with_secrets) {
  json j;
  j["version"] = s.version;
  j["customers"] = json::array();
  for (const auto& c : s.customers) {
    json r{{"id", c.id},
           {"system_id", c.system_id},
           {"max_binds", c.max_binds},
           {"ingress_mps", c.ingress_mps},
           {"default_validity_s", c.default_validity.count()},
           {"dlr_enabled", c.dlr_enabled},
           {"dlr_per_message", c.dlr_per_message},
           {"enabled", c.enabled}};
    if (with_secrets)
      r["password_hash"] = c.password_hash;
    else
      r["password"] = hash_scheme(c.password_hash);
    r["allowed_ranges"] = json::array();
    for (const auto& ip : c.allowed_ranges) r["allowed_ranges"].push_back(ip.text);
    j["customers"].push_back(std::move(r));
  }
  j["providers"] = json::array();
  for (const auto& p : s.providers) {
    json r{{"id", p.id},
           {"name", p.name},
           {"host", p.host},
           {"port", p.port},
           {"tls", p.tls},
           {"system_id", p.system_id},
           {"system_type", p.system_type},
           {"bind_mode", bind_mode_name(p.bind_mode)},
           {"binds", p.binds},
           {"window", p.window},
           {"mps", p.mps},
           {"enquire_link_interval_s", p.enquire_link_interval.count()},
           {"source_addr_override", p.source_addr_override},
           {"default_data_coding", p.default_data_coding},
           {"enabled", p.enabled}};
    if (with_secrets)
      r["password"] = p.password;
    else
      r["password"] = p.password.empty() ? "(empty)" : "(set)";
    j["providers"].push_back(std::move(r));
  }
  j["routes"] = json::array();
  for (const auto& rt : s.routes) {
    j["routes"].push_back(
        json{{"id", rt.id},
             {"customer_id", rt.customer_id ? json(*rt.customer_id) : json(nullptr)},
             {"prefix", rt.prefix},
             {"priority", rt.priority},
             {"provider_id", rt.provider_id},
             {"weight", rt.weight},
             {"failover_order", rt.failover_order},
             {"enabled", rt.enabled}});
  }
  j["mo_numbers"] = json::array();
  for (const auto& m : s.mo_numbers)
    j["mo_numbers"].push_back(
        json{{"id", m.id}, {"number", m.prefix_or_number}, {"customer_id", m.customer_id}});
  j["rejected"] = json::array();
  for (const auto& r : s.rejected)
    j["rejected"].push_back(json{{"table", r.table}, {"key", r.key}, {"reason", r.reason}});
  return j;
}

Snapshot snapshot_from_json(const json& j) {
  Snapshot s;
  s.version = j.at("version").get<int64_t>();
  for (const auto& r : j.value("rejected", json::array()))
    s.rejected.push_back({r.value("table", ""), r.value("key", ""), r.value("reason", "")});
  // A row that does not parse is rejected on its own, like a bad database row.
  auto each = [&](const char* table, auto&& fn) {
    for (const auto& r : j.value(table, json::array())) {
      try {
        fn(r);
      } catch (const std::exception&) {
        std::string key = r.is_object() && r.contains("id") ? "id=" + r["id"].dump() : "?";
        reject_row(s, table, key, "unreadable in the cache file");
      }
    }
  };
  each("customers", [&](const json& r) {
    Customer c;
    c.id = r.at("id").get<int64_t>();
    c.system_id = r.at("system_id").get<std::string>();
    c.password_hash = r.at("password_hash").get<std::string>();
    for (const auto& ip : r.at("allowed_ranges")) {
      std::string why;
      auto range = IpRange::parse(ip.get<std::string>(), &why);
      if (!range) throw std::runtime_error(why);
      c.allowed_ranges.push_back(std::move(*range));
    }
    c.max_binds = r.at("max_binds").get<int>();
    c.ingress_mps = r.at("ingress_mps").get<double>();
    c.default_validity = std::chrono::seconds(r.at("default_validity_s").get<int64_t>());
    c.dlr_enabled = r.at("dlr_enabled").get<bool>();
    c.dlr_per_message = r.at("dlr_per_message").get<bool>();
    c.enabled = r.at("enabled").get<bool>();
    s.customers.push_back(std::move(c));
  });
  each("providers", [&](const json& r) {
    Provider p;
    p.id = r.at("id").get<int64_t>();
    p.name = r.at("name").get<std::string>();
    p.host = r.at("host").get<std::string>();
    p.port = r.at("port").get<uint16_t>();
    p.tls = r.at("tls").get<bool>();
    p.system_id = r.at("system_id").get<std::string>();
    p.password = r.at("password").get<std::string>();
    p.system_type = r.at("system_type").get<std::string>();
    auto mode = parse_bind_mode(r.at("bind_mode").get<std::string>());
    if (!mode) throw std::runtime_error("bind_mode");
    p.bind_mode = *mode;
    p.binds = r.at("binds").get<int>();
    p.window = r.at("window").get<int>();
    p.mps = r.at("mps").get<double>();
    p.enquire_link_interval = std::chrono::seconds(r.at("enquire_link_interval_s").get<int64_t>());
    p.source_addr_override = r.at("source_addr_override").get<std::string>();
    p.default_data_coding = r.at("default_data_coding").get<uint8_t>();
    p.enabled = r.at("enabled").get<bool>();
    s.providers.push_back(std::move(p));
  });
  each("routes", [&](const json& r) {
    Route rt;
    rt.id = r.at("id").get<int64_t>();
    if (!r.at("customer_id").is_null()) rt.customer_id = r.at("customer_id").get<int64_t>();
    rt.prefix = r.at("prefix").get<std::string>();
    rt.priority = r.at("priority").get<int>();
    rt.provider_id = r.at("provider_id").get<int64_t>();
    rt.weight = r.at("weight").get<int>();
    rt.failover_order = r.at("failover_order").get<int>();
    rt.enabled = r.at("enabled").get<bool>();
    s.routes.push_back(std::move(rt));
  });
  each("mo_numbers", [&](const json& r) {
    MoNumber m;
    m.id = r.at("id").get<int64_t>();
    m.prefix_or_number = r.at("number").get<std::string>();
    m.customer_id = r.at("customer_id").get<int64_t>();
    s.mo_numbers.push_back(std::move(m));
  });
  validate(s);
  return s;
}

void save_cache(const std::string& path, const Snapshot& s) {
  namespace fs = std::filesystem;
  json doc = to_json(s, /*with_secrets=*/true);
  doc["format"] = kFormat;
  doc["format_version"] = kFormatVersion;
  const std::string text = doc.dump() + "\n";

  fs::path target(path);
  fs::path dir = target.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
  }
  // Several processes may share one cache path: each writes its own temporary
  // file and the rename makes the switch atomic for readers.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) sys_fail("cannot create", tmp);
  // The umask can only narrow the mode; an older file may have been wider.
  if (::fchmod(fd, 0600) != 0) {
    ::close(fd);
    sys_fail("cannot chmod", tmp);
  }
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      sys_fail("cannot write", tmp);
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    sys_fail("cannot sync", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    sys_fail("cannot rename to", path);
  }
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::optional<Snapshot> load_cache(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  json doc;
  try {
    doc = json::parse(buf.str());
  } catch (const std::exception&) {
    throw std::runtime_error("cache file " + path + " is not valid JSON");
  }
  if (!doc.is_object() || doc.value("format", "") != kFormat)
    throw std::runtime_error("cache file " + path + " is not a sluice configuration cache");
  if (doc.value("format_version", 0) != kFormatVersion)
    throw std::runtime_error("cache file " + path + " has an unsupported format version");
  return snapshot_from_json(doc);
}

}  // namespace sluice::config
