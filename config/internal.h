#pragma once
// Pieces shared by the files of this library and the CLI; not for stages.
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::config {

// Appends to s.rejected and logs it at warn (never a secret: callers pass only
// a key such as system_id and a reason that does not quote the value).
void reject_row(Snapshot& s, std::string table, std::string key, std::string reason);

// The DSN to use: --pg, else $SLUICE_PG_DSN, else the dev database.
std::string resolve_dsn(const std::optional<std::string>& flag);
// Adds connect and TCP timeouts unless the DSN sets them, so that an
// unreachable server is noticed in seconds instead of the kernel's minutes.
std::string with_timeouts(const std::string& dsn);
std::unique_ptr<pqxx::connection> connect(const std::string& dsn);

// $SLUICE_STATE_DIR/config-<stage>.json, SLUICE_STATE_DIR defaulting to .run/state.
std::string default_cache_path(const std::string& stage);

// JSON for the copy on disk (secrets included) and for `config show` (secrets
// replaced by a description).
nlohmann::json to_json(const Snapshot& s, bool with_secrets);
// Reads a cache document; rows go through validate() again.
Snapshot snapshot_from_json(const nlohmann::json& j);

// Written to a temporary file, fsynced and renamed over path, mode 0600 since
// it holds provider passwords. Throws on failure.
void save_cache(const std::string& path, const Snapshot& s);
// nullopt when the file does not exist; throws when it exists but is unusable.
std::optional<Snapshot> load_cache(const std::string& path);

struct Migration {
  int version;
  std::string name;
  std::string sql;
  std::string checksum;  // sha256 hex of sql
};
// The schema/sql files compiled into the binary, in version order.
const std::vector<Migration>& migrations();

struct MigrationStatus {
  int version;
  std::string name;
  bool applied;
  bool checksum_ok;  // false when the applied migration differs from the embedded one
  std::string applied_at;
};
std::vector<MigrationStatus> migration_status(const std::string& dsn);
// Same as migrate(), returning the migrations it applied.
std::vector<std::string> migrate_verbose(const std::string& dsn);

}  // namespace sluice::config
