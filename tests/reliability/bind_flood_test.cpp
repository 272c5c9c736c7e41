// 10,000 binds with wrong passwords against a gateway that is serving a
// customer: every one refused with ESME_RBINDFAIL, the customer's latency
// not hurt beyond noise, no descriptor or memory growth left behind.
#include <dirent.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

int open_fds(pid_t pid) {
  int n = 0;
  if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n - 2;
}

nlohmann::json submit_latency(const TestCluster::Stage& gw) {
  auto r = run(
      std::string(SLUICE_BINARY_DIR) + "/simulators/esme-load --port " + std::to_string(gw.smpp) +
      " --system-id acme --password s3cret --count 3000 --rate 300 --registered-delivery 0 --json");
  EXPECT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')), nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j["latency_ms"]["submit"];
}

TEST(BindFlood, WrongPasswordsAreAllRefusedWithoutHurtingBoundCustomers) {
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
  auto gw = cluster.start("gateway", "gw1");
  auto quiet = submit_latency(gw);
  int fds_before = open_fds(gw.proc->pid());
  long rss_before = rss_kib(gw.proc->pid());

  auto flood =
      Process::start({python(), std::string(SLUICE_SOURCE_DIR) + "/tests/reliability/bind_flood.py",
                      "--port", std::to_string(gw.smpp), "--count", "10000"},
                     cluster.dir() + "/flood.json");
  auto busy = submit_latency(gw);  // measured while the flood runs
  ASSERT_EQ(flood->wait(std::chrono::seconds(300)), 0) << flood->log();
  auto text = flood->log();
  auto report = nlohmann::json::parse(text.substr(text.find('{')), nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << text;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  int fds_after = open_fds(gw.proc->pid());
  long rss_after = rss_kib(gw.proc->pid());
  std::cout << "[ figure ] attempts=10000 answers=" << report["answers"].dump()
            << " flood_seconds=" << report["seconds"]
            << " p99_quiet_ms=" << quiet.value("p99", -1.0)
            << " p99_during_flood_ms=" << busy.value("p99", -1.0) << " fds_before=" << fds_before
            << " fds_after=" << fds_after << " rss_before_kib=" << rss_before
            << " rss_after_kib=" << rss_after << "\n";
  EXPECT_EQ(report["answers"].value("0x0D", 0), 10000) << report.dump();
  EXPECT_LE(fds_after, fds_before + 2);
#ifdef __SANITIZE_ADDRESS__
  // Under ASan freed memory sits in its quarantine (256 MiB by default)
  // before it is reused, so RSS grows by up to that much without a leak.
  constexpr long kGrowthKib = (256 + 64) * 1024;
#else
  constexpr long kGrowthKib = 64 * 1024;
#endif
  EXPECT_LT(rss_after - rss_before, kGrowthKib) << "memory grew by more than the bound";
  // "Unchanged within noise" on a shared 2-core machine: bounded, not equal.
  EXPECT_LT(busy.value("p99", 1e9), std::max(50.0, 5 * quiet.value("p99", 0.0)));
  EXPECT_TRUE(gw.proc->alive());
}

}  // namespace
}  // namespace sluice::test
