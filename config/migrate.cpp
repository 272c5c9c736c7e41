// Versioned migrations from schema/sql, compiled into the binary. Each runs in
// its own transaction together with its row in sluice.schema_migrations, so a
// failed migration leaves nothing behind and a second run changes nothing.
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <pqxx/pqxx>
#include <stdexcept>

#include "common/log.h"
#include "config/internal.h"

namespace sluice::config {
namespace embedded {
struct SqlFile {
  const char* name;
  const char* text;
};
extern const SqlFile kSqlFiles[];
extern const std::size_t kSqlFileCount;
}  // namespace embedded

namespace {

// Any fixed number will do as long as every migrator uses the same one.
constexpr long long kMigrationLock = 0x736c756963650001LL;  // "sluice" 0001

std::string sha256_hex(const std::string& text) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

struct Applied {
  std::string name, checksum, applied_at;
};

std::map<int, Applied> read_applied(pqxx::connection& c) {
  std::map<int, Applied> out;
  pqxx::read_transaction tx(c);
  auto exists =
      tx.exec1("SELECT to_regclass('sluice.schema_migrations') IS NOT NULL")[0].as<bool>();
  if (!exists) return out;
  for (const auto& r :
       tx.exec("SELECT version, name, checksum, applied_at::text FROM sluice.schema_migrations"))
    out[r[0].as<int>()] = {r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>()};
  return out;
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = [] {
    std::vector<Migration> v;
    for (std::size_t i = 0; i < embedded::kSqlFileCount; ++i) {
      std::string file = embedded::kSqlFiles[i].name;
      Migration m;
      m.version = std::stoi(file.substr(0, 3));
      m.name = file.substr(4, file.size() - 4 - 4);
      m.sql = embedded::kSqlFiles[i].text;
      m.checksum = sha256_hex(m.sql);
      v.push_back(std::move(m));
    }
    std::sort(v.begin(), v.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    return v;
  }();
  return all;
}

std::vector<std::string> migrate_verbose(const std::string& dsn) {
  auto conn = connect(dsn);
  std::vector<std::string> done;
  {
    pqxx::nontransaction lock(*conn);
    lock.exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLock) + ")");
  }
  try {
    {
      pqxx::work w(*conn, "migrate bootstrap");
      w.exec("CREATE SCHEMA IF NOT EXISTS sluice");
      w.exec(
          "CREATE TABLE IF NOT EXISTS sluice.schema_migrations ("
          " version integer PRIMARY KEY,"
          " name text NOT NULL,"
          " checksum text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      w.commit();
    }
    auto applied = read_applied(*conn);
    int newest_applied = applied.empty() ? 0 : applied.rbegin()->first;
    for (const auto& m : migrations()) {
      auto it = applied.find(m.version);
      if (it != applied.end()) {
        if (it->second.checksum != m.checksum)
          throw std::runtime_error("migration " + std::to_string(m.version) + " (" + m.name + ")" +
                                   " was changed after it was applied (database checksum " +
                                   it->second.checksum + ", embedded " + m.checksum +
                                   "); add a new migration instead");
        continue;
      }
      if (m.version < newest_applied)
        log::warn(
            "applying a migration older than the newest applied one",
            {{"migration", std::to_string(m.version)}, {"newest", std::to_string(newest_applied)}});
      pqxx::work w(*conn, "migration");
      w.exec(m.sql);
      w.exec_params(
          "INSERT INTO sluice.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
          m.version, m.name, m.checksum);
      w.commit();
      log::info("migration applied", {{"version", std::to_string(m.version)}, {"name", m.name}});
      char num[16];
      std::snprintf(num, sizeof num, "%03d_", m.version);
      done.push_back(num + m.name);
    }
    for (const auto& [version, a] : applied) {
      bool known = std::any_of(migrations().begin(), migrations().end(),
                               [v = version](const Migration& m) { return m.version == v; });
      if (!known)
        log::warn("database has a migration this binary does not know (a newer sluice?)",
                  {{"version", std::to_string(version)}, {"name", a.name}});
    }
  } catch (...) {
    try {
      pqxx::nontransaction unlock(*conn);
      unlock.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
    } catch (...) {
      // Closing the connection releases the lock anyway.
    }
    throw;
  }
  pqxx::nontransaction unlock(*conn);
  unlock.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLock) + ")");
  return done;
}

void migrate(const std::string& dsn) {
  migrate_verbose(dsn);
}

std::vector<MigrationStatus> migration_status(const std::string& dsn) {
  auto conn = connect(dsn);
  auto applied = read_applied(*conn);
  std::vector<MigrationStatus> out;
  for (const auto& m : migrations()) {
    auto it = applied.find(m.version);
    if (it == applied.end()) {
      out.push_back({m.version, m.name, false, true, ""});
    } else {
      out.push_back(
          {m.version, m.name, true, it->second.checksum == m.checksum, it->second.applied_at});
      applied.erase(it);
    }
  }
  for (const auto& [version, a] : applied)
    out.push_back({version, a.name + " (unknown to this binary)", true, false, a.applied_at});
  return out;
}

}  // namespace sluice::config
