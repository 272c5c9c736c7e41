// The sender against an SMSC this project did not write (npm `smpp`): every
// message reaches it once, and its receipts (hex ids) come back as DLRs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

TEST(ThirdPartySmsc, SenderDeliversToANodeSmppServerAndItsReceiptsComeBack) {
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
  uint16_t port = free_port(), http = free_port();
  auto smsc =
      Process::start({"node", std::string(SLUICE_SOURCE_DIR) + "/tests/interop/node_smsc.js",
                      std::to_string(port), std::to_string(http), "sluice", "nodepw"},
                     cluster.dir() + "/node-smsc.log");
  cluster.add_provider("nodesmsc", port, "nodepw", "--binds 1 --window 20 --mps 500");
  auto all = cluster.start("all", "n1");
  auto load = run(
      std::string(SLUICE_BINARY_DIR) + "/simulators/esme-load --port " + std::to_string(all.smpp) +
      " --system-id acme --password s3cret --count 300 --mix gsm7=100 --dlr-timeout 60 --json");
  auto j = nlohmann::json::parse(load.output.substr(load.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << load.output;
  std::string body;
  ASSERT_EQ(http_get(http, "/stats", &body), 200);
  auto s = nlohmann::json::parse(body);
  std::cout << "[ figure ] acknowledged=" << j["acknowledged"] << " smsc_submits=" << s["submits"]
            << " smsc_unique=" << s["unique"] << " dlr_matched=" << j["dlr"]["matched"] << "\n";
  EXPECT_EQ(j["acknowledged"], 300);
  EXPECT_EQ(s["unique"], 300) << "every message reached the SMSC\n--- n1\n" << all.proc->log();
  EXPECT_EQ(s["submits"], 300) << "and once";
  EXPECT_EQ(j["dlr"]["matched"], 300) << load.output;
  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
  smsc->stop(SIGTERM);
}

}  // namespace
}  // namespace sluice::test
