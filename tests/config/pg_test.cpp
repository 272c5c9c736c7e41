// The configuration store against the real PostgreSQL (SLUICE_TEST_PG_DSN):
// migrations, constraints, triggers, loading with bad rows, live reload in a
// ConfigStore and in a running `sluice config watch`, and the CLI. Every test
// works in a database of its own.
#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>

#include "config/config.h"
#include "config/internal.h"
#include "config/password.h"
#include "support.h"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;
using test::Clock;
using test::psql;

class Pg : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string admin = test::test_dsn();
    ASSERT_FALSE(admin.empty());
    db_ = std::make_unique<test::TempDatabase>(admin);
    migrate(dsn());
  }
  const std::string& dsn() const { return db_->dsn(); }

  std::string sql(const std::string& s) {
    auto r = psql(dsn(), s);
    EXPECT_EQ(r.rc, 0) << s << "\n" << r.err;
    return r.out;
  }
  int64_t version() { return std::stoll(sql("SELECT version FROM sluice.config_state")); }

  // A customer (bcrypt via pgcrypto, as an operator with psql would), a
  // provider and a route.
  void seed() {
    sql("INSERT INTO sluice.customers (system_id, password_hash, ingress_mps) "
        "VALUES ('acme', crypt('acme-pw', gen_salt('bf', 6)), 20)");
    sql("INSERT INTO sluice.providers (name, host, port, system_id, password, mps) "
        "VALUES ('smsc-a', '127.0.0.1', 2776, 'sluice', 'pw', 100)");
    sql("INSERT INTO sluice.routes (prefix, provider_id) SELECT '44', id FROM sluice.providers "
        "WHERE name = 'smsc-a'");
  }

  // Rows the database's constraints let through (or would, had an operator
  // loosened them); the loader must report and skip each.
  void insert_rows_only_cpp_rejects() {
    // A valid-looking argon2id hash that would make every bind allocate 4 GiB.
    std::string greedy = hash_password("x");
    greedy.replace(greedy.find("m=19456"), 7, "m=4194304");
    sql("INSERT INTO sluice.customers (system_id, password_hash) VALUES ('greedy', '" + greedy +
        "')");
    sql("INSERT INTO sluice.routes (prefix, provider_id, customer_id) SELECT '4478', p.id, c.id "
        "FROM sluice.providers p, sluice.customers c WHERE c.system_id = 'greedy'");
    // An older schema, or a constraint dropped by hand.
    sql("ALTER TABLE sluice.routes DROP CONSTRAINT routes_prefix_check");
    sql("INSERT INTO sluice.routes (prefix, provider_id) SELECT '44abc', id FROM sluice.providers");
    sql("ALTER TABLE sluice.customers DROP CONSTRAINT customers_allowed_ranges_check, "
        "ALTER COLUMN allowed_ranges TYPE text[]");
    sql("INSERT INTO sluice.customers (system_id, password_hash, allowed_ranges) VALUES ('badnet', "
        "'" +
        hash_password("y") + "', '{10.0.0.0/8,not-an-address}')");
    sql("ALTER TABLE sluice.providers DROP CONSTRAINT providers_window_size_check");
    sql("INSERT INTO sluice.providers (name, host, port, system_id, window_size) VALUES ('nowin', "
        "'h', 1, 's', 0)");
  }

  test::TempDir tmp_;
  std::unique_ptr<test::TempDatabase> db_;
};

// ---------------------------------------------------------------------------
// Migrations

TEST_F(Pg, MigrateTwiceChangesNothing) {
  std::string before =
      sql("SELECT version, name, checksum, applied_at FROM sluice.schema_migrations ORDER BY 1");
  EXPECT_TRUE(migrate_verbose(dsn()).empty());
  EXPECT_EQ(
      sql("SELECT version, name, checksum, applied_at FROM sluice.schema_migrations ORDER BY 1"),
      before);
  EXPECT_EQ(std::stoul(sql("SELECT count(*) FROM sluice.schema_migrations")), migrations().size());
  for (const auto& m : migration_status(dsn())) {
    EXPECT_TRUE(m.applied) << m.name;
    EXPECT_TRUE(m.checksum_ok) << m.name;
  }
  auto r = test::run({SLUICE_BIN, "db", "migrate", "--pg", dsn()});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("up to date"), std::string::npos) << r.out;
  r = test::run({SLUICE_BIN, "db", "status", "--pg", dsn()});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("001_config  applied"), std::string::npos) << r.out;
}

TEST_F(Pg, MigrateRefusesAChangedMigration) {
  sql("UPDATE sluice.schema_migrations SET checksum = 'deadbeef' WHERE version = 1");
  try {
    migrate(dsn());
    ADD_FAILURE() << "migrate accepted a changed migration";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("changed after it was applied"), std::string::npos)
        << e.what();
  }
  auto r = test::run({SLUICE_BIN, "db", "migrate", "--pg", dsn()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("changed after it was applied"), std::string::npos) << r.err;
  r = test::run({SLUICE_BIN, "db", "status", "--pg", dsn()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("CHANGED"), std::string::npos) << r.out;
}

TEST_F(Pg, ConcurrentMigratorsDoNotRace) {
  test::TempDatabase fresh(test::test_dsn());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      try {
        migrate(fresh.dsn());
      } catch (const std::exception& e) {
        ++failures;
        std::fprintf(stderr, "migrate: %s\n", e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto r = psql(fresh.dsn(), "SELECT count(*) FROM sluice.schema_migrations");
  EXPECT_EQ(std::stoul(r.out), migrations().size());
}

// ---------------------------------------------------------------------------
// Constraints and triggers

TEST_F(Pg, ConstraintsRejectNonsense) {
  seed();
  const std::string argon = hash_password("x");
  const std::vector<std::string> bad = {
      // customers
      "INSERT INTO sluice.customers (system_id, password_hash) VALUES ('plain', 'secret')",
      "INSERT INTO sluice.customers (system_id, password_hash) VALUES ('plain2', "
      "md5('secret'))",
      "INSERT INTO sluice.customers (system_id, password_hash) VALUES ('acme', '" + argon + "')",
      "INSERT INTO sluice.customers (system_id, password_hash) VALUES ('', '" + argon + "')",
      "INSERT INTO sluice.customers (system_id, password_hash) VALUES ('has space', '" + argon +
          "')",
      "INSERT INTO sluice.customers (system_id, password_hash) VALUES ('sixteen-chars-xx', "
      "'" +
          argon + "')",
      "INSERT INTO sluice.customers (system_id, password_hash, max_binds) VALUES ('c1', '" + argon +
          "', 0)",
      "INSERT INTO sluice.customers (system_id, password_hash, ingress_mps) VALUES ('c2', "
      "'" +
          argon + "', 0)",
      "INSERT INTO sluice.customers (system_id, password_hash, ingress_mps) VALUES ('c3', "
      "'" +
          argon + "', 'NaN')",
      "INSERT INTO sluice.customers (system_id, password_hash, default_validity) VALUES "
      "('c4', '" +
          argon + "', '-1 hour')",
      "INSERT INTO sluice.customers (system_id, password_hash, allowed_ranges) VALUES "
      "('c5', '" +
          argon + "', '{}')",
      "INSERT INTO sluice.customers (system_id, password_hash, allowed_ranges) VALUES "
      "('c6', '" +
          argon + "', '{10.0.0.1/8}')",
      "INSERT INTO sluice.customers (system_id, password_hash, allowed_ranges) VALUES "
      "('c7', '" +
          argon + "', ARRAY[NULL]::cidr[])",
      // providers
      "INSERT INTO sluice.providers (name, host, port, system_id) VALUES ('smsc-a', 'h', "
      "1, 's')",
      "INSERT INTO sluice.providers (name, host, port, system_id) VALUES ('Upper', 'h', 1, "
      "'s')",
      "INSERT INTO sluice.providers (name, host, port, system_id) VALUES ('p1', 'h', 0, "
      "'s')",
      "INSERT INTO sluice.providers (name, host, port, system_id) VALUES ('p2', 'h', "
      "65536, 's')",
      "INSERT INTO sluice.providers (name, host, port, system_id) VALUES ('p3', 'bad "
      "host', 1, 's')",
      "INSERT INTO sluice.providers (name, host, port, system_id, bind_mode) VALUES ('p4', "
      "'h', 1, 's', 'receiver')",
      "INSERT INTO sluice.providers (name, host, port, system_id, window_size) VALUES "
      "('p5', 'h', 1, 's', 0)",
      "INSERT INTO sluice.providers (name, host, port, system_id, mps) VALUES ('p6', 'h', "
      "1, 's', -5)",
      "INSERT INTO sluice.providers (name, host, port, system_id, password) VALUES ('p7', "
      "'h', 1, 's', 'ninechars')",
      "INSERT INTO sluice.providers (name, host, port, system_id, binds) VALUES ('p8', "
      "'h', 1, 's', 0)",
      "INSERT INTO sluice.providers (name, host, port, system_id, default_data_coding) "
      "VALUES ('p9', 'h', 1, 's', "
      "256)",
      "INSERT INTO sluice.providers (name, host, port, system_id, enquire_link_interval) "
      "VALUES ('pa', 'h', 1, 's', "
      "'1 second')",
      "INSERT INTO sluice.providers (name, host, port, system_id, source_addr_override) "
      "VALUES ('pb', 'h', 1, 's', "
      "'')",
      // routes
      "INSERT INTO sluice.routes (prefix, provider_id) SELECT '44abc', id FROM "
      "sluice.providers",
      "INSERT INTO sluice.routes (prefix, provider_id) SELECT '+44', id FROM "
      "sluice.providers",
      "INSERT INTO sluice.routes (prefix, provider_id) VALUES ('33', 999999)",
      "INSERT INTO sluice.routes (prefix, provider_id, customer_id) SELECT '33', id, "
      "999999 FROM sluice.providers",
      "INSERT INTO sluice.routes (prefix, provider_id) SELECT '44', id FROM "
      "sluice.providers",  // duplicate
      "INSERT INTO sluice.routes (prefix, provider_id, weight) SELECT '45', id, -1 FROM "
      "sluice.providers",
      "INSERT INTO sluice.routes (prefix, provider_id, failover_order) SELECT '46', id, -1 "
      "FROM sluice.providers",
      "DELETE FROM sluice.providers",  // still routed to
                                       // MO numbers
      "INSERT INTO sluice.mo_numbers (number, customer_id) VALUES ('4477', 999999)",
      "INSERT INTO sluice.mo_numbers (number, customer_id) SELECT '44 77', id FROM "
      "sluice.customers",
      "INSERT INTO sluice.mo_numbers (number, customer_id) SELECT '', id FROM "
      "sluice.customers",
  };
  const int64_t v = version();
  for (const auto& s : bad) {
    auto r = psql(dsn(), s);
    EXPECT_NE(r.rc, 0) << "accepted: " << s;
  }
  EXPECT_EQ(version(), v) << "a failed statement must not bump the version";
  // And the good forms of the same.
  sql("INSERT INTO sluice.customers (system_id, password_hash, allowed_ranges) VALUES ('c8', '" +
      argon + "', '{10.0.0.0/8,2001:db8::/32}')");
  sql("INSERT INTO sluice.mo_numbers (number, customer_id) SELECT '4477', id FROM sluice.customers "
      "WHERE "
      "system_id = 'c8'");
  sql("INSERT INTO sluice.routes (prefix, provider_id, customer_id) SELECT '', p.id, c.id FROM "
      "sluice.providers p, "
      "sluice.customers c WHERE c.system_id = 'c8'");
}

TEST_F(Pg, EveryStatementBumpsTheVersionOnceAndNotifies) {
  pqxx::connection listener(dsn());
  struct Rx : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    std::vector<std::string> payloads;
    void operator()(const std::string& p, int) override { payloads.push_back(p); }
  } rx(listener, "sluice_config");

  const int64_t v0 = version();
  seed();  // three statements
  EXPECT_EQ(version(), v0 + 3);
  sql("INSERT INTO sluice.mo_numbers (number, customer_id) SELECT n::text, c.id FROM "
      "generate_series(4400, 4499) n, "
      "sluice.customers c");
  EXPECT_EQ(version(), v0 + 4);  // 100 rows, one statement
  sql("UPDATE sluice.customers SET enabled = false");
  sql("DELETE FROM sluice.mo_numbers WHERE number LIKE '449%'");
  sql("TRUNCATE sluice.mo_numbers");
  EXPECT_EQ(version(), v0 + 7);

  auto deadline = Clock::now() + 5s;
  while (rx.payloads.size() < 7 && Clock::now() < deadline) listener.await_notification(1, 0);
  // PostgreSQL folds identical notifications within one transaction only;
  // each statement above was its own transaction.
  EXPECT_EQ(rx.payloads, (std::vector<std::string>{"customers", "providers", "routes", "mo_numbers",
                                                   "customers", "mo_numbers", "mo_numbers"}));
  // updated_at follows changes.
  EXPECT_EQ(sql("SELECT updated_at > created_at FROM sluice.customers"), "t\n");
}

// ---------------------------------------------------------------------------
// Loading

TEST_F(Pg, LoadSnapshotReadsEverything) {
  seed();
  sql("INSERT INTO sluice.customers (system_id, password_hash, allowed_ranges, max_binds, "
      "default_validity, "
      "dlr_enabled, dlr_per_message, enabled) VALUES ('beta', '" +
      hash_password("beta-pw") +
      "', '{10.1.0.0/16,2001:db8::/32}', 7, '2 hours', false, true, false)");
  sql("INSERT INTO sluice.providers (name, host, port, tls, system_id, password, system_type, "
      "bind_mode, binds, "
      "window_size, mps, enquire_link_interval, source_addr_override, default_data_coding, "
      "enabled) VALUES "
      "('smsc-b', 'smsc.example.net', 3550, true, 'sid', 'pw2', 'VMA', 'transmitter_receiver', 3, "
      "50, 12.5, "
      "'45 seconds', 'SLUICE', 8, false)");
  sql("INSERT INTO sluice.routes (customer_id, prefix, priority, provider_id, weight, "
      "failover_order, enabled) "
      "SELECT c.id, '4477', 5, p.id, 30, 1, false FROM sluice.customers c, sluice.providers p "
      "WHERE c.system_id = 'beta' AND p.name = 'smsc-b'");
  sql("INSERT INTO sluice.mo_numbers (number, customer_id) SELECT '447700', id FROM "
      "sluice.customers WHERE "
      "system_id = 'beta'");

  pqxx::connection c(dsn());
  Snapshot s = load_snapshot(c);
  EXPECT_EQ(s.version, version());
  EXPECT_TRUE(s.rejected.empty());
  ASSERT_EQ(s.customers.size(), 2u);
  ASSERT_EQ(s.providers.size(), 2u);
  ASSERT_EQ(s.routes.size(), 2u);
  ASSERT_EQ(s.mo_numbers.size(), 1u);

  const Customer* acme = s.customer_by_system_id("acme");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->ingress_mps, 20);
  EXPECT_EQ(acme->max_binds, 4);
  EXPECT_EQ(acme->default_validity, std::chrono::hours(48));
  EXPECT_TRUE(acme->allowed_ranges.empty());
  EXPECT_TRUE(acme->dlr_enabled);
  EXPECT_TRUE(acme->enabled);
  // A bcrypt hash written by pgcrypto verifies with libxcrypt.
  EXPECT_EQ(acme->password_hash.rfind("$2a$06$", 0), 0u);
  EXPECT_TRUE(verify_password(acme->password_hash, "acme-pw"));
  EXPECT_FALSE(verify_password(acme->password_hash, "acme-pw2"));

  const Customer* beta = s.customer_by_system_id("beta");
  ASSERT_NE(beta, nullptr);
  EXPECT_TRUE(verify_password(beta->password_hash, "beta-pw"));
  ASSERT_EQ(beta->allowed_ranges.size(), 2u);
  EXPECT_EQ(beta->allowed_ranges[0].text, "10.1.0.0/16");
  EXPECT_EQ(beta->allowed_ranges[1].text, "2001:db8::/32");
  EXPECT_EQ(beta->max_binds, 7);
  EXPECT_EQ(beta->default_validity, std::chrono::hours(2));
  EXPECT_FALSE(beta->dlr_enabled);
  EXPECT_TRUE(beta->dlr_per_message);
  EXPECT_FALSE(beta->enabled);

  const Provider* b = s.provider_by_name("smsc-b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->host, "smsc.example.net");
  EXPECT_EQ(b->port, 3550);
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->system_id, "sid");
  EXPECT_EQ(b->password, "pw2");
  EXPECT_EQ(b->system_type, "VMA");
  EXPECT_EQ(b->bind_mode, Provider::BindMode::transmitter_receiver);
  EXPECT_EQ(b->binds, 3);
  EXPECT_EQ(b->window, 50);
  EXPECT_DOUBLE_EQ(b->mps, 12.5);
  EXPECT_EQ(b->enquire_link_interval, std::chrono::seconds(45));
  EXPECT_EQ(b->source_addr_override, "SLUICE");
  EXPECT_EQ(b->default_data_coding, 8);
  EXPECT_FALSE(b->enabled);
  EXPECT_EQ(s.provider_by_name("smsc-a")->source_addr_override, "");

  const Route* r = nullptr;
  for (const auto& x : s.routes)
    if (x.prefix == "4477") r = &x;
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->customer_id, beta->id);
  EXPECT_EQ(r->priority, 5);
  EXPECT_EQ(r->provider_id, b->id);
  EXPECT_EQ(r->weight, 30);
  EXPECT_EQ(r->failover_order, 1);
  EXPECT_FALSE(r->enabled);
  EXPECT_EQ(s.owner_of_mo("447700123"), beta);
}

TEST_F(Pg, LoadSnapshotSkipsBadRowsAndKeepsGoodOnes) {
  seed();
  insert_rows_only_cpp_rejects();
  pqxx::connection c(dsn());
  Snapshot s = load_snapshot(c);
  std::map<std::string, std::string> rejected;
  for (const auto& r : s.rejected) rejected[r.table + " " + r.key] = r.reason;
  ASSERT_EQ(rejected.size(), 5u) << testing::PrintToString(rejected);
  EXPECT_NE(rejected["customers greedy"].find("memory cost"), std::string::npos);
  EXPECT_NE(rejected["customers badnet"].find("not-an-address"), std::string::npos);
  EXPECT_NE(rejected["providers nowin"].find("window"), std::string::npos);
  bool saw_prefix = false, saw_dependent = false;
  for (const auto& r : s.rejected) {
    saw_prefix =
        saw_prefix || (r.table == "routes" && r.reason.find("prefix") != std::string::npos);
    saw_dependent = saw_dependent ||
                    (r.table == "routes" && r.reason.find("was rejected") != std::string::npos);
  }
  EXPECT_TRUE(saw_prefix);
  EXPECT_TRUE(saw_dependent);
  EXPECT_EQ(s.customers.size(), 1u);
  EXPECT_NE(s.customer_by_system_id("acme"), nullptr);
  EXPECT_EQ(s.providers.size(), 1u);
  ASSERT_EQ(s.routes.size(), 1u);
  EXPECT_EQ(s.routes[0].prefix, "44");
}

// ---------------------------------------------------------------------------
// ConfigStore in this process

TEST_F(Pg, StoreAppliesAChangeWithinFiveSeconds) {
  seed();
  StoreOptions o;
  o.dsn = dsn();
  o.cache_path = tmp_ / "cache.json";
  o.stage = "test";
  o.instance = "one";
  ConfigStore store(o);
  std::atomic<int> changes{0};
  store.on_change([&](std::shared_ptr<const Snapshot>) { ++changes; });
  auto t0 = Clock::now();
  store.start();
  EXPECT_LT(Clock::now() - t0, 3s);
  ASSERT_EQ(store.state(), State::live);
  EXPECT_EQ(store.version(), version());
  EXPECT_EQ(changes.load(), 1);
  auto before = store.current();
  ASSERT_EQ(before->customer_by_system_id("acme")->ingress_mps, 20);

  for (int mps : {30, 40, 50}) {
    auto start = Clock::now();
    sql("UPDATE sluice.customers SET ingress_mps = " + std::to_string(mps) +
        " WHERE system_id = 'acme'");
    while (store.current()->customer_by_system_id("acme")->ingress_mps != mps &&
           Clock::now() - start < 5s)
      std::this_thread::sleep_for(10ms);
    EXPECT_EQ(store.current()->customer_by_system_id("acme")->ingress_mps, mps);
    EXPECT_LT(Clock::now() - start, 5s);
  }
  EXPECT_EQ(changes.load(), 4);
  // Readers that kept the old snapshot still see it whole.
  EXPECT_EQ(before->customer_by_system_id("acme")->ingress_mps, 20);

  // config_applied is written after the swap; give it a moment.
  auto deadline = Clock::now() + 5s;
  std::string applied;
  while (Clock::now() < deadline) {
    applied =
        sql("SELECT version, state, rejected FROM sluice.config_applied WHERE stage = 'test' AND "
            "instance = 'one'");
    if (applied == std::to_string(store.version()) + "|live|0\n") break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(applied, std::to_string(store.version()) + "|live|0\n");
  auto cached = load_cache(o.cache_path);
  ASSERT_TRUE(cached);
  EXPECT_EQ(cached->version, store.version());
  store.stop();
  EXPECT_EQ(store.current()->version, cached->version);  // still served after stop
}

TEST_F(Pg, StoreCatchesUpWithoutNotifications) {
  // A change committed while the store is not listening (here: made invisible
  // by writing the version directly) is found by the periodic version check.
  seed();
  StoreOptions o;
  o.dsn = dsn();
  o.poll_interval = 500ms;
  ConfigStore store(o);
  store.start();
  ASSERT_EQ(store.state(), State::live);
  const int64_t v = store.version();
  sql("ALTER TABLE sluice.customers DISABLE TRIGGER customers_changed");
  sql("UPDATE sluice.customers SET max_binds = 9");
  sql("UPDATE sluice.config_state SET version = version + 1");
  auto deadline = Clock::now() + 5s;
  while (store.version() == v && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(store.version(), v + 1);
  EXPECT_EQ(store.current()->customer_by_system_id("acme")->max_binds, 9);
}

// ---------------------------------------------------------------------------
// A running `sluice` process

TEST_F(Pg, PsqlChangeIsInEffectInARunningProcessWithinFiveSeconds) {
  seed();
  auto w = test::watch(dsn(), tmp_ / "cache.json");
  auto first = w->wait_for(test::is_event("snapshot"), 10s);
  ASSERT_TRUE(first) << w->all_output();
  EXPECT_EQ(first->at("state"), "live");
  EXPECT_EQ(first->at("customers"), 1);
  int64_t v = first->at("version");

  auto ask_mps = [&] {
    auto c = w->ask("customer acme", "customer");
    return c && !c->at("customer").is_null() ? c->at("customer").at("ingress_mps").get<double>()
                                             : -1.0;
  };
  EXPECT_EQ(ask_mps(), 20);

  auto t0 = Clock::now();
  sql("UPDATE sluice.customers SET ingress_mps = 35 WHERE system_id = 'acme'");
  auto snap = w->wait_for(test::snapshot_after(v), 5s);
  ASSERT_TRUE(snap) << "no new snapshot within 5 s\n" << w->all_output();
  EXPECT_LT(Clock::now() - t0, 5s);
  EXPECT_EQ(ask_mps(), 35);
  v = snap->at("version");

  t0 = Clock::now();
  sql("INSERT INTO sluice.providers (name, host, port, system_id, password) VALUES ('smsc-b', 'h', "
      "2775, 's', 'p')");
  snap = w->wait_for(test::snapshot_after(v), 5s);
  ASSERT_TRUE(snap) << w->all_output();
  EXPECT_LT(Clock::now() - t0, 5s);
  EXPECT_EQ(snap->at("providers"), 2);
  auto p = w->ask("provider smsc-b", "provider");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->at("provider").is_null());
  EXPECT_EQ(w->terminate(), 0);
}

TEST_F(Pg, BadRowIsReportedAndSkippedWhileGoodRowsApply) {
  seed();
  auto w = test::watch(dsn(), tmp_ / "cache.json");
  auto first = w->wait_for(test::is_event("snapshot"), 10s);
  ASSERT_TRUE(first) << w->all_output();
  int64_t v = first->at("version");

  // Good rows and bad rows arrive in one transaction.
  std::string greedy = hash_password("x");
  greedy.replace(greedy.find("m=19456"), 7, "m=4194304");
  sql("ALTER TABLE sluice.routes DROP CONSTRAINT routes_prefix_check");  // DDL: no reload
  sql("BEGIN;"
      "INSERT INTO sluice.customers (system_id, password_hash) VALUES ('good', crypt('good-pw', "
      "gen_salt('bf', 6)));"
      "INSERT INTO sluice.customers (system_id, password_hash) VALUES ('greedy', '" +
      greedy +
      "');"
      "INSERT INTO sluice.routes (prefix, provider_id) SELECT '33', id FROM sluice.providers;"
      "INSERT INTO sluice.routes (prefix, provider_id) SELECT '4x4', id FROM sluice.providers;"
      "COMMIT;");
  auto snap = w->wait_for(test::snapshot_after(v), 5s);
  ASSERT_TRUE(snap) << w->all_output();
  EXPECT_EQ(snap->at("customers"), 2);  // acme, good
  EXPECT_EQ(snap->at("routes"), 2);     // 44, 33
  auto rejected = snap->at("rejected");
  ASSERT_EQ(rejected.size(), 2u) << snap->dump();
  std::string text = rejected.dump();
  EXPECT_NE(text.find("\"greedy\""), std::string::npos) << text;
  EXPECT_NE(text.find("memory cost"), std::string::npos) << text;
  EXPECT_NE(text.find("prefix must be at most 20 digits"), std::string::npos) << text;

  auto good = w->ask("customer good", "customer");
  ASSERT_TRUE(good);
  EXPECT_FALSE(good->at("customer").is_null());
  auto bad = w->ask("customer greedy", "customer");
  ASSERT_TRUE(bad);
  EXPECT_TRUE(bad->at("customer").is_null());
  auto auth = w->ask("auth good good-pw", "auth");
  ASSERT_TRUE(auth);
  EXPECT_TRUE(auth->at("ok").get<bool>());

  // The log names table, key and reason.
  std::string err = w->stderr_text();
  EXPECT_NE(err.find("config row rejected table=customers key=greedy"), std::string::npos) << err;
  EXPECT_NE(err.find("table=routes"), std::string::npos) << err;

  // `config show` reports the same.
  auto r = test::run({SLUICE_BIN, "config", "show", "--pg", dsn()});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("rejected rows: 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("customers greedy: argon2id memory cost"), std::string::npos) << r.out;
  r = test::run({SLUICE_BIN, "config", "show", "--json", "--pg", dsn()});
  EXPECT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("rejected").size(), 2u);
  EXPECT_EQ(j.at("customers").size(), 2u);
  EXPECT_EQ(w->terminate(), 0);
}

TEST_F(Pg, PasswordIsNeverStoredOrLoggedInClearText) {
  const std::string pw = "Zq7-clear";
  auto r = test::run({SLUICE_BIN, "customer", "add", "acme", "--password-stdin", "--mps", "25",
                      "--allow", "10.0.0.0/8", "--pg", dsn()},
                     pw + "\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string cli_output = r.out + r.err;
  r = test::run({SLUICE_BIN, "provider", "add", "smsc-a", "--host", "127.0.0.1", "--port", "2775",
                 "--system-id", "sluice", "--password", "prov-pw", "--pg", dsn()});
  ASSERT_EQ(r.rc, 0) << r.err;
  sql("INSERT INTO sluice.routes (prefix, provider_id) SELECT '44', id FROM sluice.providers");

  const std::string cache = tmp_ / "state/config-watch.json";
  auto w = test::watch(dsn(), cache);
  ASSERT_TRUE(w->wait_for(test::is_event("snapshot"), 10s)) << w->all_output();
  auto auth = w->ask("auth acme " + pw, "auth");
  ASSERT_TRUE(auth);
  EXPECT_TRUE(auth->at("ok").get<bool>());
  EXPECT_FALSE(w->ask("auth acme wrong", "auth").value().at("ok").get<bool>());

  // Rotating it with the CLI takes effect in the running process.
  const std::string pw2 = "Xk4-clear";
  auto v = w->ask("state", "state").value().at("version").get<int64_t>();
  r = test::run({SLUICE_BIN, "customer", "passwd", "acme", "--password-stdin", "--pg", dsn()},
                pw2 + "\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  cli_output += r.out + r.err;
  ASSERT_TRUE(w->wait_for(test::snapshot_after(v), 5s)) << w->all_output();
  EXPECT_FALSE(w->ask("auth acme " + pw, "auth").value().at("ok").get<bool>());
  EXPECT_TRUE(w->ask("auth acme " + pw2, "auth").value().at("ok").get<bool>());
  EXPECT_EQ(w->terminate(), 0);

  // Nowhere in the database (every table, every column, as pg_dump sees it) ...
  auto dump = test::run({"pg_dump", "--data-only", "--schema=sluice", dsn()});
  ASSERT_EQ(dump.rc, 0) << dump.err;
  EXPECT_NE(dump.out.find("$argon2id$"), std::string::npos);
  for (const auto& secret : {pw, pw2}) {
    EXPECT_EQ(dump.out.find(secret), std::string::npos) << "clear password in the database";
    // ... nor in the copy on disk ...
    std::string file = test::slurp(cache);
    ASSERT_FALSE(file.empty());
    EXPECT_EQ(file.find(secret), std::string::npos) << "clear password in the cache file";
    // ... nor in anything the processes printed.
    std::string out = w->all_output();
    EXPECT_EQ(out.find(secret), std::string::npos) << "clear password in the process output";
    EXPECT_EQ(cli_output.find(secret), std::string::npos) << "clear password in the CLI output";
  }
  struct stat st {};
  ASSERT_EQ(::stat(cache.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

// ---------------------------------------------------------------------------
// CLI conveniences

TEST_F(Pg, CliCustomerAndProviderCommands) {
  auto r = test::run({SLUICE_BIN, "customer", "add", "acme", "--password", "pw", "--max-binds", "3",
                      "--validity", "3600", "--no-dlr", "--dlr-per-message", "--disabled",
                      "--allow", "192.0.2.0/24", "--pg", dsn()});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("customer acme added"), std::string::npos);
  r = test::run({SLUICE_BIN,    "provider",
                 "add",         "smsc-a",
                 "--host",      "smsc.example.net",
                 "--port",      "2775",
                 "--system-id", "sid",
                 "--password",  "p",
                 "--tls",       "--system-type",
                 "VMA",         "--bind-mode",
                 "transmitter", "--binds",
                 "2",           "--window",
                 "20",          "--mps",
                 "7.5",         "--enquire-link",
                 "15",          "--source-addr",
                 "SLUICE",      "--data-coding",
                 "3",           "--pg",
                 dsn()});
  ASSERT_EQ(r.rc, 0) << r.err;
  pqxx::connection c(dsn());
  Snapshot s = load_snapshot(c);
  ASSERT_TRUE(s.rejected.empty());
  const Customer* acme = s.customer_by_system_id("acme");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->max_binds, 3);
  EXPECT_EQ(acme->default_validity, std::chrono::seconds(3600));
  EXPECT_FALSE(acme->dlr_enabled);
  EXPECT_TRUE(acme->dlr_per_message);
  EXPECT_FALSE(acme->enabled);
  ASSERT_EQ(acme->allowed_ranges.size(), 1u);
  EXPECT_EQ(acme->allowed_ranges[0].text, "192.0.2.0/24");
  const Provider* p = s.provider_by_name("smsc-a");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->tls);
  EXPECT_EQ(p->bind_mode, Provider::BindMode::transmitter);
  EXPECT_EQ(p->binds, 2);
  EXPECT_EQ(p->window, 20);
  EXPECT_DOUBLE_EQ(p->mps, 7.5);
  EXPECT_EQ(p->enquire_link_interval, std::chrono::seconds(15));
  EXPECT_EQ(p->source_addr_override, "SLUICE");
  EXPECT_EQ(p->default_data_coding, 3);

  // The database's answer to nonsense, on one line, exit 1.
  r = test::run({SLUICE_BIN, "customer", "add", "acme", "--password", "pw", "--pg", dsn()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("duplicate key"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("$argon2id$"), std::string::npos) << r.err;
  r = test::run(
      {SLUICE_BIN, "customer", "add", "x2", "--password", "pw", "--max-binds", "0", "--pg", dsn()});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("max_binds"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("$argon2id$"), std::string::npos) << r.err;
  r = test::run({SLUICE_BIN, "customer", "passwd", "nobody", "--password", "pw", "--pg", dsn()});
  EXPECT_EQ(r.rc, 1);

  // Usage errors: exit 2, usage on stderr.
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {"customer", "add", "x", "--password", "p", "--bogus"},
           {"customer", "add", "x"},
           {"customer", "add", "x", "--password", "p", "--password-stdin"},
           {"customer", "frobnicate"},
           {"provider", "add", "p", "--host", "h"},
           {"provider", "add", "p", "--host", "h", "--port", "x", "--system-id", "s", "--password",
            ""},
           {"config", "show", "--nope"},
           {"config"},
           {"db", "migrate", "extra"},
           {"db", "migrate", "--pg"}}) {
    args.insert(args.begin(), SLUICE_BIN);
    r = test::run(args);
    EXPECT_EQ(r.rc, 2) << testing::PrintToString(args);
    EXPECT_NE(r.err.find("usage: sluice"), std::string::npos) << r.err;
  }
  for (const char* cmd : {"db", "config", "customer", "provider"}) {
    r = test::run({SLUICE_BIN, cmd, "--help"});
    EXPECT_EQ(r.rc, 0) << cmd;
    EXPECT_NE(r.out.find("usage: sluice " + std::string(cmd)), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace sluice::config
