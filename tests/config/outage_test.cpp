// PostgreSQL outages. Each test starts a PostgreSQL server of its own with
// scripts/postgres (private run directory and port), so stopping it disturbs
// no other test.
#include <gtest/gtest.h>

#include <atomic>

#include "config/config.h"
#include "config/internal.h"
#include "config/password.h"
#include "support.h"

namespace sluice::config {
namespace {

using namespace std::chrono_literals;
using test::Clock;

class Outage : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = std::make_unique<test::PrivatePostgres>();
    migrate(pg_->dsn());
  }
  void TearDown() override { pg_.reset(); }

  std::string sql(const std::string& s) {
    auto r = test::psql(pg_->dsn(), s);
    EXPECT_EQ(r.rc, 0) << s << "\n" << r.err;
    return r.out;
  }

  void seed(const std::string& password) {
    auto r = test::run({SLUICE_BIN, "customer", "add", "acme", "--password-stdin", "--mps", "20",
                        "--pg", pg_->dsn()},
                       password + "\n");
    ASSERT_EQ(r.rc, 0) << r.err;
    sql("INSERT INTO sluice.providers (name, host, port, system_id, password) VALUES ('smsc-a', "
        "'127.0.0.1', 2775, "
        "'sluice', 'pw')");
    sql("INSERT INTO sluice.routes (prefix, provider_id) SELECT '44', id FROM sluice.providers");
  }

  template <class Pred>
  static bool eventually(Pred p, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (p()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return p();
  }

  test::TempDir tmp_;
  std::unique_ptr<test::PrivatePostgres> pg_;
};

// In-process: a short outage turns live into stale and back, with the
// configuration served throughout.
TEST_F(Outage, StoreGoesStaleAndRecovers) {
  seed("pw");
  StoreOptions o;
  o.dsn = pg_->dsn();
  o.cache_path = tmp_ / "cache.json";
  o.max_backoff = 1000ms;
  ConfigStore store(o);
  std::vector<State> states;
  std::mutex mu;
  store.on_state_change([&](State s) {
    std::lock_guard lock(mu);
    states.push_back(s);
  });
  store.start();
  ASSERT_EQ(store.state(), State::live);
  const int64_t v = store.version();

  pg_->stop();
  EXPECT_TRUE(eventually([&] { return store.state() == State::stale; }, 10s));
  EXPECT_EQ(store.version(), v);
  ASSERT_NE(store.current()->customer_by_system_id("acme"), nullptr);
  std::this_thread::sleep_for(3s);  // a few reconnect attempts
  EXPECT_EQ(store.state(), State::stale);

  pg_->start();
  EXPECT_TRUE(eventually([&] { return store.state() == State::live; }, 10s));
  sql("UPDATE sluice.customers SET ingress_mps = 44");
  EXPECT_TRUE(eventually(
      [&] { return store.current()->customer_by_system_id("acme")->ingress_mps == 44; }, 5s));
  std::lock_guard lock(mu);
  EXPECT_EQ(states, (std::vector<State>{State::live, State::stale, State::live}));
}

// In-process: started during an outage, the store serves its copy on disk.
TEST_F(Outage, StoreStartsFromCacheThenGoesLive) {
  seed("pw");
  const std::string cache = tmp_ / "cache.json";
  int64_t v = 0;
  {
    StoreOptions o;
    o.dsn = pg_->dsn();
    o.cache_path = cache;
    ConfigStore first(o);
    first.start();
    ASSERT_EQ(first.state(), State::live);
    v = first.version();
  }
  pg_->stop();

  StoreOptions o;
  o.dsn = pg_->dsn();
  o.cache_path = cache;
  o.max_backoff = 1000ms;
  ConfigStore store(o);
  auto t0 = Clock::now();
  store.start();
  EXPECT_LT(Clock::now() - t0, 4s);
  ASSERT_EQ(store.state(), State::from_cache);
  EXPECT_EQ(store.version(), v);
  const Customer* acme = store.current()->customer_by_system_id("acme");
  ASSERT_NE(acme, nullptr);
  EXPECT_TRUE(verify_password(acme->password_hash, "pw"));

  // Without a cache, the store starts empty and waits.
  StoreOptions bare = o;
  bare.cache_path = tmp_ / "missing.json";
  ConfigStore empty(bare);
  empty.start();
  EXPECT_EQ(empty.state(), State::empty);
  EXPECT_TRUE(empty.current()->customers.empty());

  pg_->start();
  EXPECT_TRUE(eventually([&] { return store.state() == State::live; }, 10s));
  EXPECT_TRUE(eventually([&] { return empty.state() == State::live; }, 10s));
  EXPECT_EQ(empty.current()->customers.size(), 1u);
}

// The acceptance test: PostgreSQL stopped for 60 s under two running
// `sluice config watch` processes, one started before and one during the
// outage.
TEST_F(Outage, SixtySecondOutageWithRunningAndRestartedProcesses) {
  const std::string pw = "Vb8-clear";
  seed(pw);
  const std::string cache = tmp_ / "state/config-watch.json";

  auto a = test::watch(pg_->dsn(), cache);
  auto snap = a->wait_for(test::is_event("snapshot"), 10s);
  ASSERT_TRUE(snap) << a->all_output();
  ASSERT_EQ(snap->at("state"), "live");
  const int64_t v = snap->at("version");
  ASSERT_TRUE(a->wait_for(test::is_event("started"), 5s));

  auto serves = [&](test::Child& c, const std::string& state) {
    auto st = c.ask("state", "state");
    EXPECT_TRUE(st) << c.all_output();
    if (!st) return;
    EXPECT_EQ(st->at("state"), state);
    EXPECT_EQ(st->at("version"), v);
    auto cust = c.ask("customer acme", "customer");
    ASSERT_TRUE(cust);
    ASSERT_FALSE(cust->at("customer").is_null());
    EXPECT_EQ(cust->at("customer").at("ingress_mps"), 20.0);
    auto auth = c.ask("auth acme " + pw, "auth");
    ASSERT_TRUE(auth);
    EXPECT_TRUE(auth->at("ok").get<bool>());
  };

  pg_->stop();
  const auto down_at = Clock::now();
  ASSERT_TRUE(a->wait_for(test::is_state("stale"), 10s)) << a->all_output();
  serves(*a, "stale");

  // A process started during the outage, as a restarted stage would be,
  // from the copy the first one saved.
  auto b = test::watch(pg_->dsn(), cache);
  auto started = b->wait_for(test::is_event("started"), 10s);
  ASSERT_TRUE(started) << b->all_output();
  EXPECT_EQ(started->at("state"), "from_cache");
  EXPECT_EQ(started->at("version"), v);
  serves(*b, "from_cache");

  // Sixty seconds down; both keep serving.
  while (Clock::now() - down_at < 60s) {
    std::this_thread::sleep_for(10s);
    ASSERT_TRUE(a->alive());
    ASSERT_TRUE(b->alive());
  }
  serves(*a, "stale");
  serves(*b, "from_cache");

  pg_->start();
  ASSERT_TRUE(a->wait_for(test::is_state("live"), 15s)) << a->all_output();
  ASSERT_TRUE(b->wait_for(test::is_state("live"), 15s)) << b->all_output();

  // A change made after PostgreSQL returned reaches both within 5 s.
  const auto t0 = Clock::now();
  sql("UPDATE sluice.customers SET ingress_mps = 77 WHERE system_id = 'acme'");
  auto sa = a->wait_for(test::snapshot_after(v), 5s);
  auto sb = b->wait_for(test::snapshot_after(v), 5s);
  ASSERT_TRUE(sa) << a->all_output();
  ASSERT_TRUE(sb) << b->all_output();
  EXPECT_LT(Clock::now() - t0, 5s);
  EXPECT_EQ(sa->at("state"), "live");
  EXPECT_EQ(sb->at("state"), "live");
  for (auto* c : {a.get(), b.get()}) {
    auto cust = c->ask("customer acme", "customer");
    ASSERT_TRUE(cust);
    EXPECT_EQ(cust->at("customer").at("ingress_mps"), 77.0);
  }
  EXPECT_EQ(a->terminate(), 0) << a->all_output();
  EXPECT_EQ(b->terminate(), 0) << b->all_output();

  // The saved copy now holds the new version, and no clear password
  // anywhere.
  auto saved = load_cache(cache);
  ASSERT_TRUE(saved);
  EXPECT_GT(saved->version, v);
  const std::string file = test::slurp(cache);
  EXPECT_EQ(file.find(pw), std::string::npos);
  EXPECT_EQ(a->all_output().find(pw), std::string::npos);
  EXPECT_EQ(b->all_output().find(pw), std::string::npos);
  // The outage was logged once per process, not once per reconnect attempt.
  const std::string err = a->stderr_text();
  std::size_t count = 0;
  for (std::size_t p = err.find("config database unavailable"); p != std::string::npos;
       p = err.find("config database unavailable", p + 1))
    ++count;
  EXPECT_EQ(count, 1u) << err;
}

}  // namespace
}  // namespace sluice::config
