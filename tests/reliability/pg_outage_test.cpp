// PostgreSQL is stopped for 60 s while a customer submits through a whole
// `sluice all` pipeline (gateway to smsc-sim and back with receipts). The
// configuration lives in PostgreSQL only; traffic must not need it: every
// acknowledged message reaches the provider and its receipt comes back, the
// process stays up and ready (config state `stale`, see docs/operator.md "When
// PostgreSQL is down"), and once the database is back the process goes live
// again and applies a change. The test runs its own PostgreSQL (scripts/postgres
// with a private run directory and port), so the shared one is never stopped.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// True when nothing is bound to 127.0.0.1:port.
bool port_free(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A PostgreSQL server of this test's own. Its port is taken below the
// ephemeral range, so that no outgoing connection can hold it while the server
// is down and keep it from coming back on the same port.
struct PrivatePostgres {
  std::string dir = temp_dir("pg");
  uint16_t port = 0;
  bool running = false;

  std::string dsn() const {
    return "host=127.0.0.1 port=" + std::to_string(port) +
           " dbname=sluice user=sluice password=sluice";
  }
  RunResult script(const std::string& cmd) const {
    return run("SLUICE_RUN_DIR=" + dir + " SLUICE_PG_PORT=" + std::to_string(port) +
               " SLUICE_PG_DSN='" + dsn() + "' " + std::string(SLUICE_SOURCE_DIR) +
               "/scripts/postgres " + cmd + " 2>&1");
  }
  // A fresh data directory (initdb, role and database `sluice`).
  RunResult start_fresh() {
    std::mt19937 rng{std::random_device{}()};
    RunResult r;
    for (int attempt = 0; attempt < 8; ++attempt) {
      port = static_cast<uint16_t>(30000 + rng() % 2768);
      if (!port_free(port)) continue;
      r = script("start --fresh");
      if (r.status == 0) {
        running = true;
        return r;
      }
    }
    return r;
  }
  RunResult start() {
    auto r = script("start");
    running = running || r.status == 0;
    return r;
  }
  RunResult stop() {
    auto r = script("stop");
    if (r.status == 0) running = false;
    return r;
  }
  ~PrivatePostgres() {
    if (!port) return;
    bool stopped = script("stop").status == 0;
    // The data directory is 60 MB; kept (with its server.log) when the test failed.
    std::error_code ec;
    if (stopped && !::testing::Test::HasFailure()) std::filesystem::remove_all(dir, ec);
  }
};

// TestCluster takes its PostgreSQL from SLUICE_TEST_PG_DSN; this points it at
// the private server for the test's lifetime.
struct EnvOverride {
  std::string name;
  std::optional<std::string> old;
  EnvOverride(std::string n, const std::string& value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~EnvOverride() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

struct ConfigView {
  double version = -1;
  std::string state;  // the state whose sluice_config_state gauge is 1
};

ConfigView config_view(uint16_t http) {
  ConfigView v;
  std::string body;
  if (http_get(http, "/metrics", &body) != 200) return v;
  v.version = metric_value(body, "sluice_config_version");
  for (const char* st : {"empty", "from_cache", "live", "stale"})
    if (metric_value(body, std::string("sluice_config_state{state=\"") + st + "\"}") == 1)
      v.state = st;
  return v;
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (p()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return p();
}

TEST(PgOutageUnderLoad, NothingLostCustomersServedAndConfigReloadsAfterwards) {
  const bool long_run =
      std::getenv("SLUICE_LONG_TESTS") && std::string(std::getenv("SLUICE_LONG_TESTS")) == "1";
  const int rounds = long_run ? 2 : 1;
  const auto outage = long_run ? 120s : 60s;
  constexpr int kRate = 200;  // offered submit_sm per second
  constexpr auto kLead = 10s, kAfter = 20s;

  PrivatePostgres pg;
  auto started = pg.start_fresh();
  ASSERT_EQ(started.status, 0) << "private PostgreSQL did not start: " << started.output;
  EnvOverride admin("SLUICE_TEST_PG_DSN", pg.dsn());

  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 10");
  // Binds only during the outage. A customer of its own: receipts go to any
  // session of the submitting system_id, so sharing acme's would split them.
  cluster.add_customer("late", "l8te", "--mps 100000 --max-binds 10");
  uint16_t sim_port = free_port(), sim_http = free_port();
  auto sim = cluster.start_smsc_sim(sim_port, sim_http, {"--dlr-delay", "100"});
  cluster.add_provider("sim", sim_port, "simpw", "--binds 2 --window 50 --mps 1000");
  auto all = cluster.start("all", "n1");
  ASSERT_TRUE(all.proc->alive()) << all.proc->log();
  ASSERT_TRUE(eventually([&] { return config_view(all.http).state == "live"; }, 10s))
      << all.proc->log();

  const auto total = kLead + rounds * (outage + kAfter);
  const int count = kRate * static_cast<int>(std::chrono::seconds(total).count());
  auto load = Process::start(esme_load_argv(all.smpp, "acme", "s3cret",
                                            {"--binds", "2", "--count", std::to_string(count),
                                             "--rate", std::to_string(kRate), "--mix", "gsm7=100",
                                             "--registered-delivery", "1", "--dlr-timeout", "180"}),
                             cluster.dir() + "/load.json");
  std::this_thread::sleep_for(kLead);
  ASSERT_TRUE(load->alive()) << load->log();

  // A customer that first binds while PostgreSQL is down is authenticated
  // from the configuration in memory.
  auto late_load = [&](int round) {
    return Process::start(esme_load_argv(all.smpp, "late", "l8te",
                                         {"--count", "200", "--rate", "100", "--mix", "gsm7=100",
                                          "--registered-delivery", "1", "--dlr-timeout", "60"}),
                          cluster.dir() + "/late-bind-" + std::to_string(round) + ".json");
  };
  std::vector<nlohmann::json> late_reports;

  int readyz_samples = 0, readyz_not_ready = 0;
  std::string not_ready_body;
  std::vector<double> to_stale, to_live, change_applied, return_to_applied;
  for (int round = 0; round < rounds; ++round) {
    const auto before = config_view(all.http);
    ASSERT_EQ(before.state, "live") << "round " << round;

    auto stopped = pg.stop();
    ASSERT_EQ(stopped.status, 0) << stopped.output;
    const auto down_at = Clock::now();
    bool stale_seen = false;
    std::unique_ptr<Process> late;
    while (Clock::now() - down_at < outage) {
      std::this_thread::sleep_for(1s);
      ASSERT_TRUE(all.proc->alive()) << "sluice all died with PostgreSQL down:\n"
                                     << all.proc->log();
      ASSERT_TRUE(load->alive()) << load->log();
      if (!late && Clock::now() - down_at >= outage / 2) late = late_load(round);
      std::string body;
      int code = http_get(all.http, "/readyz", &body);
      ++readyz_samples;
      if (code != 200) {
        ++readyz_not_ready;
        not_ready_body = std::to_string(code) + " " + body;
      }
      auto view = config_view(all.http);
      if (view.state == "stale" && !stale_seen) {
        stale_seen = true;
        to_stale.push_back(seconds_since(down_at));
        EXPECT_EQ(view.version, before.version) << "the configuration changed without a database";
        auto j = nlohmann::json::parse(body, nullptr, false);
        if (!j.is_discarded() && j.contains("checks") && j["checks"].contains("config")) {
          EXPECT_NE(j["checks"]["config"].value("detail", "").find("stale"), std::string::npos)
              << body;
        } else {
          ADD_FAILURE() << "/readyz has no config check: " << body;
        }
      }
    }
    EXPECT_TRUE(stale_seen) << "the config state never turned stale during the outage";
    ASSERT_TRUE(late);
    int late_status = late->wait(60s);
    auto late_text = late->log();
    auto late_json = nlohmann::json::parse(
        late_text.substr(std::min(late_text.find('{'), late_text.size())), nullptr, false);
    EXPECT_EQ(late_status, 0) << "a bind and its traffic during the outage failed: " << late_text;
    if (!late_json.is_discarded()) late_reports.push_back(late_json);

    auto restarted = pg.start();
    ASSERT_EQ(restarted.status, 0) << restarted.output;
    const auto back_at = Clock::now();
    // Back to live: the reconnect backoff is at most 5 s (+20% jitter).
    bool live = eventually([&] { return config_view(all.http).state == "live"; }, 15s);
    to_live.push_back(seconds_since(back_at));
    EXPECT_TRUE(live) << "not live again 15 s after PostgreSQL returned:\n" << all.proc->log();

    // A change made now reaches the running process through its notification.
    const auto t0 = Clock::now();
    cluster.sql(
        "UPDATE sluice.customers SET ingress_mps = ingress_mps + 1 WHERE system_id = "
        "'acme'");
    bool applied = eventually(
        [&] {
          auto v = config_view(all.http);
          return v.state == "live" && v.version > before.version;
        },
        30s);
    change_applied.push_back(seconds_since(t0));
    return_to_applied.push_back(seconds_since(back_at));
    EXPECT_TRUE(applied) << "a change made after PostgreSQL returned was not applied:\n"
                         << all.proc->log();
    // The rest of this round's traffic flows with the database back.
    auto rest = kAfter - std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - back_at);
    if (rest > 0s) std::this_thread::sleep_for(rest);
  }

  int load_status = load->wait(std::chrono::seconds(total) + 300s);
  auto text = load->log();
  auto pos = text.find('{');
  ASSERT_NE(pos, std::string::npos) << text;
  auto j = nlohmann::json::parse(text.substr(pos), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << text;
  std::string stats;
  ASSERT_EQ(http_get(sim_http, "/stats", &stats), 200);
  auto sj = nlohmann::json::parse(stats, nullptr, false);
  ASSERT_FALSE(sj.is_discarded()) << stats;

  // Everything acknowledged to a customer, the late binds' messages included.
  const auto acked = j["acknowledged"].get<int64_t>();
  int64_t acked_all = acked;
  for (auto& l : late_reports) acked_all += l["acknowledged"].get<int64_t>();
  const auto unique = sj["submits"]["unique"].get<int64_t>();
  auto join = [](const std::vector<double>& v) {
    std::ostringstream o;
    for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
    return o.str();
  };
  std::cout << "[ figure ] outage_s=" << std::chrono::seconds(outage).count()
            << " rounds=" << rounds << " sent=" << j["sent"] << " acknowledged=" << acked
            << " acknowledged_incl_late_binds=" << acked_all << " reached_provider=" << unique
            << " lost=" << std::max<int64_t>(0, acked_all - unique)
            << " provider_duplicates=" << sj["submits"]["duplicates"]
            << " dlr_matched=" << j["dlr"]["matched"] << " dlr_missing=" << j["dlr"]["missing"]
            << " dlr_duplicated=" << j["dlr"]["duplicated"] << "\n";
  std::cout << "[ figure ] customer_errors rejected_by_status=" << j["rejected"].dump()
            << " throttled_then_retried=" << j["throttled"] << " timed_out=" << j["timed_out"]
            << " lost_in_flight=" << j["lost"] << " disconnects=" << j["connections"]["disconnects"]
            << " submit_p99_ms=" << j["latency_ms"]["submit"]["p99"]
            << " submit_max_ms=" << j["latency_ms"]["submit"]["max"] << "\n";
  std::cout << "[ figure ] readyz_not_ready=" << readyz_not_ready << "/" << readyz_samples
            << " to_stale_s=" << join(to_stale) << " back_to_live_s=" << join(to_live)
            << " change_applied_s=" << join(change_applied)
            << " pg_back_to_change_applied_s=" << join(return_to_applied) << "\n";
  for (auto& l : late_reports)
    std::cout << "[ figure ] bound_during_outage: bind_status=" << l["bind_status"]
              << " sent=" << l["sent"] << " acknowledged=" << l["acknowledged"]
              << " rejected=" << l["rejected"].dump() << " dlr_matched=" << l["dlr"]["matched"]
              << "\n";

  // Nothing acknowledged is lost, and every receipt comes back.
  EXPECT_GT(acked, 0);
  EXPECT_GE(unique, acked_all) << "acknowledged messages never reached the provider";
  EXPECT_EQ(j["dlr"]["missing"], 0) << "receipts lost";
  EXPECT_EQ(j["dlr"]["matched"], j["dlr"]["expected"]);
  // Customers are served from the configuration in memory: no refusals, no
  // dropped sessions.
  EXPECT_EQ(j["rejected_total"], 0) << j["rejected"].dump();
  EXPECT_EQ(j["timed_out"], 0);
  EXPECT_EQ(j["lost"], 0);
  EXPECT_EQ(j["acknowledged"], j["sent"]);
  EXPECT_EQ(load_status, 0) << text;
  // Ready throughout: a stale configuration still serves (common/health,
  // app/stages.cpp "config" check; docs/operator.md).
  EXPECT_EQ(readyz_not_ready, 0) << "last answer: " << not_ready_body;
  for (double s : change_applied) EXPECT_LT(s, 5.0) << "change applied too late";

  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
  sim->stop(SIGTERM);
}

}  // namespace
}  // namespace sluice::test
