// Two sender instances share one provider's contract: together they never
// exceed its messages per second over any 1-second window, and every message
// reaches the provider once, also when the second joins under a backlog.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

TEST(TwoSenders, ShareTheProviderRateAndSendEachMessageOnce) {
  constexpr int kRate = 200;
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
  uint16_t port = free_port(), http = free_port();
  auto sim = cluster.start_smsc_sim(port, http, {"--rate-window", "sliding"});
  cluster.add_provider("sim", port, "simpw",
                       "--binds 2 --window 50 --mps " + std::to_string(kRate));
  auto all = cluster.start("all", "n1");
  auto second = cluster.start("sender", "sender-2");
  std::this_thread::sleep_for(
      std::chrono::seconds(5));  // the group settles: each holds part of the partitions
  auto load = run(std::string(SLUICE_BINARY_DIR) + "/simulators/esme-load --port " +
                  std::to_string(all.smpp) +
                  " --system-id acme --password s3cret --count 4000 --rate 400 --mix gsm7=100"
                  " --registered-delivery 0 --json");
  auto j = nlohmann::json::parse(load.output.substr(load.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << load.output;
  EXPECT_EQ(j["acknowledged"], 4000);
  // Wait until the provider has everything (the senders pace at kRate).
  nlohmann::json s;
  for (int i = 0; i < 90; ++i) {
    std::string body;
    http_get(http, "/stats", &body);
    s = nlohmann::json::parse(body, nullptr, false);
    if (!s.is_discarded() && s["submits"]["unique"].get<int>() >= 4000) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::cout << "[ figure ] contract=" << kRate << "/s unique=" << s["submits"]["unique"]
            << " duplicates=" << s["submits"]["duplicates"]
            << " max_sliding_1s=" << s["rate"]["max_sliding_1s"]
            << " max_per_second=" << s["rate"]["max_per_second"] << "\n";
  EXPECT_EQ(s["submits"]["unique"], 4000);
  EXPECT_EQ(s["submits"]["duplicates"], 0) << "--- n1\n"
                                           << all.proc->log() << "\n--- sender-2\n"
                                           << second.proc->log();
  // Each instance may hold one token of burst (see ProviderBucket::burst).
  EXPECT_LE(s["rate"]["max_sliding_1s"].get<double>(), kRate + 2)
      << "the two senders together exceeded the contract";
  EXPECT_EQ(second.proc->stop(SIGTERM), 0) << second.proc->log();
  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
}

// A second sender joins while the first holds a backlog that takes longer to
// send than a revoke may wait: the first gives back what it queued for the
// partitions it loses, and the provider gets every message once.
TEST(TwoSenders, ASenderJoiningUnderABacklogSendsNothingTwice) {
  constexpr int kCount = 3000;
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
  uint16_t port = free_port(), http = free_port();
  auto sim = cluster.start_smsc_sim(port, http);
  cluster.add_provider("sim", port, "simpw", "--binds 2 --window 50 --mps 100");
  auto all = cluster.start("all", "n1");
  auto load = Process::start(esme_load_argv(all.smpp, "acme", "s3cret",
                                            {"--count", std::to_string(kCount), "--rate", "1000",
                                             "--mix", "gsm7=100", "--registered-delivery", "0"}),
                             cluster.dir() + "/load.log");
  // 3,000 accepted in about 3 s, sent at 100/s: some 2,500 wait in the queue.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  auto second = cluster.start("sender", "sender-2");
  EXPECT_EQ(load->wait(std::chrono::seconds(60)), 0) << load->log();
  nlohmann::json s;
  for (int i = 0; i < 120; ++i) {
    std::string body;
    http_get(http, "/stats", &body);
    s = nlohmann::json::parse(body, nullptr, false);
    if (!s.is_discarded() && s["submits"]["unique"].get<int>() >= kCount) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::cout << "[ figure ] unique=" << s["submits"]["unique"]
            << " duplicates=" << s["submits"]["duplicates"] << "\n";
  EXPECT_EQ(s["submits"]["unique"], kCount);
  EXPECT_EQ(s["submits"]["duplicates"], 0) << "--- n1\n"
                                           << all.proc->log() << "\n--- sender-2\n"
                                           << second.proc->log();
  // The path under test was taken: the first sender gave messages back.
  EXPECT_NE(all.proc->log().find("given back"), std::string::npos) << all.proc->log();
  EXPECT_EQ(second.proc->stop(SIGTERM), 0) << second.proc->log();
  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
}

}  // namespace
}  // namespace sluice::test
