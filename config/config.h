#pragma once
// Operator configuration: customers, providers, routes and MO numbers, read
// from the `sluice` schema in PostgreSQL and kept live by a ConfigStore.
//
// Every stage holds one ConfigStore. It owns a thread that LISTENs for the
// `sluice_config` notification, reloads a consistent Snapshot, validates every
// row (a bad row is logged and skipped, the rest applies) and swaps the new
// Snapshot in atomically. Readers call current() and keep the shared_ptr for as
// long as they need a consistent view; they never block on the database.
// When PostgreSQL is unreachable the store keeps serving the last snapshot it
// loaded, and a copy on disk lets a restart during an outage start anyway.
#include <array>
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pqxx {
class connection_base;
}

namespace sluice::config {

// One CIDR block, v4 or v6. A v4-mapped v6 peer address (::ffff:a.b.c.d, as a
// dual-stack listener reports v4 clients) matches the v4 block it maps to.
struct IpRange {
  std::string text;  // canonical "addr/len", as PostgreSQL's cidr prints it
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  int prefix_len = 0;

  // Accepts "a.b.c.d/n", "x::y/n", or a bare address (a /32 or /128 host).
  // Returns nullopt and sets *error on anything else, including host bits set
  // beyond the prefix (which would make the operator's intent ambiguous).
  static std::optional<IpRange> parse(std::string_view text, std::string* error = nullptr);
  bool contains(const boost::asio::ip::address& addr) const;
};

struct Customer {
  int64_t id = 0;
  std::string system_id;
  std::string password_hash;            // "$argon2id$..." or bcrypt "$2a$/$2b$..."; see password.h
  std::vector<IpRange> allowed_ranges;  // empty: any source address
  int max_binds = 0;
  double ingress_mps = 0;
  std::chrono::seconds default_validity{0};
  bool dlr_enabled = true;
  bool dlr_per_message = false;  // one DLR per multipart message instead of per part
  bool enabled = true;

  // True when allowed_ranges is empty or one of them contains addr.
  bool allows(const boost::asio::ip::address& addr) const;
};

struct Provider {
  enum class BindMode { transmitter, transceiver, transmitter_receiver };

  int64_t id = 0;
  std::string name;  // also names the provider's Kafka topic: [a-z0-9_-]
  std::string host;
  uint16_t port = 0;
  bool tls = false;
  std::string system_id, password, system_type;  // password in clear: the SMSC needs it
  BindMode bind_mode = BindMode::transceiver;
  int binds = 1;
  int window = 1;  // outstanding submit_sm per bind
  double mps = 0;  // across the whole cluster, not per sender instance
  std::chrono::seconds enquire_link_interval{30};
  std::string source_addr_override;  // empty: keep the customer's source address
  uint8_t default_data_coding = 0;
  bool enabled = true;
};

const char* bind_mode_name(Provider::BindMode);
std::optional<Provider::BindMode> parse_bind_mode(std::string_view);

// How the router is meant to read routes (see docs/operator.md): among the
// enabled routes whose prefix starts the destination and whose customer_id is
// the message's customer or empty, a route of the customer beats a route for
// everyone, then the longest prefix, then the lower priority number. Inside that
// group the routes with the lowest failover_order whose provider is enabled and
// up share the traffic in proportion to weight; a higher failover_order takes
// over only when every route before it is unavailable.
struct Route {
  int64_t id = 0;
  std::optional<int64_t> customer_id;  // empty: all customers
  std::string prefix;                  // digits only; empty: default route
  int priority = 0;
  int64_t provider_id = 0;
  int weight = 0;
  int failover_order = 0;
  bool enabled = true;
};

struct MoNumber {
  int64_t id = 0;
  std::string prefix_or_number;  // a full number, or a prefix covering a range
  int64_t customer_id = 0;
};

struct RejectedRow {
  std::string table;
  std::string key;
  std::string reason;
};

struct SnapshotIndex;

struct Snapshot {
  int64_t version = 0;
  std::vector<Customer> customers;
  std::vector<Provider> providers;
  std::vector<Route> routes;
  std::vector<MoNumber> mo_numbers;
  std::vector<RejectedRow> rejected;

  const Customer* customer_by_system_id(std::string_view) const;
  const Customer* customer_by_id(int64_t) const;
  const Provider* provider_by_id(int64_t) const;
  const Provider* provider_by_name(std::string_view) const;
  // Longest matching prefix; a leading '+' on msisdn is ignored.
  const Customer* owner_of_mo(std::string_view msisdn) const;

  // Builds the lookup index; load_snapshot() and the cache loader call it. A
  // snapshot built by hand works without it (lookups scan), but call it again
  // after changing the vectors of an indexed snapshot.
  void reindex();
  std::shared_ptr<const SnapshotIndex> index;
};

enum class State {
  empty,       // nothing loaded yet
  from_cache,  // started from the copy on disk; database not reached yet
  live,        // connected, listening, serving the database's latest version
  stale,       // database unreachable, serving the last snapshot it loaded
};
const char* state_name(State);

struct StoreOptions {
  std::string dsn;
  std::string cache_path;  // empty: no copy on disk
  std::string stage;       // for config_applied; empty: not reported
  std::string instance;    // empty: host name
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds start_wait{3000};  // how long start() waits for the first load
  // Cheap version check between notifications: detects a half-open TCP
  // connection and catches any notification lost across a reconnect.
  std::chrono::milliseconds poll_interval{5000};
};

class ConfigStore {
 public:
  explicit ConfigStore(StoreOptions);
  ~ConfigStore();
  ConfigStore(const ConfigStore&) = delete;
  ConfigStore& operator=(const ConfigStore&) = delete;

  // Starts the thread and waits (at most options.start_wait) for the database.
  // If it does not answer in time, the copy on disk is served (from_cache);
  // with no copy either, the state stays empty and the thread keeps trying.
  void start();
  void stop();

  std::shared_ptr<const Snapshot> current() const;  // never null
  State state() const;
  int64_t version() const;

  // Register before start(). Called after each swap on the store's thread (or
  // once from start() itself when it falls back to the copy on disk). Keep them
  // quick, since the next reload waits for them, and never call stop() from one.
  void on_change(std::function<void(std::shared_ptr<const Snapshot>)> cb);
  void on_state_change(std::function<void(State)> cb);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Reads one consistent snapshot (REPEATABLE READ, READ ONLY) with its version,
// validates it and builds the index. Rows that fail validation go to rejected
// and are logged at warn with table, key and reason, never a secret.
Snapshot load_snapshot(pqxx::connection_base&);

// Validation shared by the database loader and the cache loader: moves every
// invalid row (and rows that point at a rejected or missing row) to rejected.
void validate(Snapshot&);

// Applies the embedded schema/sql migrations; throws on failure.
void migrate(const std::string& dsn);

}  // namespace sluice::config
