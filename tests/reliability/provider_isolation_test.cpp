// Two providers; one goes silent, then slow, then throttling. The other keeps
// at least 95% of its configured rate throughout, no provider's window is
// exceeded, and the sender's memory stays bounded.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <thread>
#include <tuple>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

struct Sim {
  uint16_t port = free_port(), http = free_port();
  std::unique_ptr<Process> proc;
  nlohmann::json stats() {
    std::string body;
    http_get(http, "/stats", &body);
    return nlohmann::json::parse(body, nullptr, false);
  }
  void mode(const std::string& query) {
    auto r =
        run("curl -fsS -X POST 'http://127.0.0.1:" + std::to_string(http) + "/mode?" + query + "'");
    EXPECT_EQ(r.status, 0) << r.output;
  }
};

TEST(ProviderIsolation, ASilentSlowOrThrottlingProviderDoesNotSlowTheOther) {
  constexpr int kRate = 150;  // each provider's contract, messages/s
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
  Sim a, b;
  const std::string contract = "--binds 1 --window 20 --mps " + std::to_string(kRate);
  for (auto [name, sim, prefix] : {std::tuple{"pa", &a, "4471"}, std::tuple{"pb", &b, "4472"}}) {
    sim->proc = cluster.start_smsc_sim(sim->port, sim->http, {"--dlr-delay", "50"});
    cluster.add_provider(name, sim->port, "simpw", contract, prefix);
  }
  auto all = cluster.start("all", "n1");

  // Each customer stream offers more than its provider's contract.
  auto load = [&](const char* prefix, const char* tag) {
    return Process::start(
        esme_load_argv(all.smpp, "acme", "s3cret",
                       {"--count", "20000", "--rate", std::to_string(kRate * 2), "--dest-prefix",
                        prefix, "--registered-delivery", "0", "--mix", "gsm7=100"}),
        cluster.dir() + "/load-" + tag + ".json");
  };
  auto la = load("4471", "a");
  auto lb = load("4472", "b");
  std::this_thread::sleep_for(std::chrono::seconds(6));  // both at their rate

  std::vector<std::pair<std::string, double>> phases;
  long peak_rss = 0;
  for (const char* phase : {"silent=1", "silent=0&latency=3000", "latency=0&max_rate=10"}) {
    a.mode(phase);
    std::this_thread::sleep_for(std::chrono::seconds(3));  // let the phase set in
    auto before = b.stats()["rate"]["per_second"];
    std::this_thread::sleep_for(std::chrono::seconds(8));
    auto after = b.stats()["rate"]["per_second"];
    // B's accepted rate over the last 6 whole seconds of the phase.
    std::vector<double> last;
    for (size_t i = after.size() >= 7 ? after.size() - 7 : 0; i + 1 < after.size(); ++i)
      last.push_back(after[i]);
    double mean = last.empty() ? 0 : std::accumulate(last.begin(), last.end(), 0.0) / last.size();
    phases.emplace_back(phase, mean);
    peak_rss = std::max(peak_rss, rss_kib(all.proc->pid()));
    (void)before;
  }
  auto bs = b.stats();
  auto as = a.stats();
  std::cout << "[ figure ] contract=" << kRate << "/s";
  for (auto& [phase, mean] : phases) std::cout << " B_during[" << phase << "]=" << mean << "/s";
  std::cout << " B_max_1s=" << bs["rate"]["max_per_second"]
            << " A_window_max=" << as["window"]["max_outstanding"]
            << " B_window_max=" << bs["window"]["max_outstanding"]
            << " peak_rss_mib=" << peak_rss / 1024 << "\n";
  for (auto& [phase, mean] : phases)
    EXPECT_GE(mean, 0.95 * kRate) << "provider B slowed while A was " << phase;
  EXPECT_LE(bs["rate"]["max_per_second"].get<double>(), kRate * 1.05)
      << "B pushed past its contract";
  EXPECT_LE(as["window"]["max_outstanding"].get<int>(), 20);
  EXPECT_LE(bs["window"]["max_outstanding"].get<int>(), 20);
  EXPECT_LT(peak_rss, 1024 * 1024) << "sender memory unbounded";
  la->stop(SIGTERM);
  lb->stop(SIGTERM);
  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
}

}  // namespace
}  // namespace sluice::test
