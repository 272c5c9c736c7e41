#include <cstdlib>
#include <pqxx/pqxx>

#include "config/internal.h"

namespace sluice::config {

namespace {
constexpr const char* kDevDsn =
    "host=127.0.0.1 port=15432 dbname=sluice user=sluice password=sluice";

bool is_uri(const std::string& dsn) {
  return dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0;
}
}  // namespace

std::string resolve_dsn(const std::optional<std::string>& flag) {
  if (flag && !flag->empty()) return *flag;
  if (const char* env = std::getenv("SLUICE_PG_DSN"); env && *env) return env;
  return kDevDsn;
}

std::string with_timeouts(const std::string& dsn) {
  // connect_timeout bounds a connect to a host that drops packets; the TCP
  // settings bound a query on a connection whose peer vanished without a FIN,
  // which otherwise hangs for the kernel's retransmission timeout (~15 min).
  static const std::pair<const char*, const char*> kDefaults[] = {
      {"connect_timeout", "3"},     {"keepalives", "1"},       {"keepalives_idle", "5"},
      {"keepalives_interval", "2"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "10000"},
  };
  std::string out = dsn;
  const bool uri = is_uri(dsn);
  for (const auto& [key, value] : kDefaults) {
    if (dsn.find(std::string(key) + "=") != std::string::npos) continue;
    if (uri) {
      out += out.find('?') == std::string::npos ? '?' : '&';
    } else if (!out.empty()) {
      out += ' ';
    }
    out += key;
    out += '=';
    out += value;
  }
  return out;
}

std::unique_ptr<pqxx::connection> connect(const std::string& dsn) {
  return std::make_unique<pqxx::connection>(with_timeouts(dsn));
}

std::string default_cache_path(const std::string& stage) {
  std::string dir = ".run/state";
  if (const char* env = std::getenv("SLUICE_STATE_DIR"); env && *env) dir = env;
  return dir + "/config-" + (stage.empty() ? std::string("stage") : stage) + ".json";
}

}  // namespace sluice::config
