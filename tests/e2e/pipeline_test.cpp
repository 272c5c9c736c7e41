// End to end through every stage: submit, route, send to smsc-sim, receipts
// back to the customer's binds, on one node and across two gateway nodes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

std::string load_binary() {
  return std::string(SLUICE_BINARY_DIR) + "/simulators/esme-load";
}

struct Pipeline {
  TestCluster cluster;
  std::unique_ptr<Process> sim;
  uint16_t sim_port = free_port(), sim_http = free_port();
  Pipeline() {
    cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
    sim = cluster.start_smsc_sim(sim_port, sim_http, {"--dlr-delay", "50"});
    cluster.add_provider("sim", sim_port, "simpw", "--binds 2 --window 50 --mps 5000");
  }
};

TEST(Pipeline, EveryMessageGetsOneMatchedDlrAndTheMetricsParse) {
  Pipeline p;
  auto all = p.cluster.start("all", "n1");
  ASSERT_TRUE(all.proc->alive());
  auto r =
      run(load_binary() + " --port " + std::to_string(all.smpp) +
          " --system-id acme --password s3cret --binds 2 --count 1500 --dlr-timeout 90 --json");
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(j["acknowledged"], j["submits"]);
  EXPECT_EQ(j["dlr"]["matched"], j["dlr"]["expected"]);
  EXPECT_EQ(j["dlr"]["missing"], 0);
  EXPECT_EQ(j["dlr"]["duplicated"], 0);
  EXPECT_EQ(j["dlr"]["unknown"], 0);
  std::cout << "[ figure ] submits=" << j["submits"] << " dlr_matched=" << j["dlr"]["matched"]
            << "\n";

  std::string scrape;
  ASSERT_EQ(http_get(all.http, "/metrics", &scrape), 200);
  std::string path = p.cluster.dir() + "/scrape.txt";
  std::ofstream(path) << scrape;
  auto check = run(python() + " " + SLUICE_SOURCE_DIR + "/tests/e2e/check_metrics.py " + path +
                   " " + SLUICE_SOURCE_DIR + "/deploy/grafana/metrics.txt");
  EXPECT_EQ(check.status, 0) << check.output;
  // Real values after traffic.
  EXPECT_GT(
      metric_value(scrape, "sluice_gateway_pdus_total{command=\"submit_sm\",status=\"ESME_ROK\"}"),
      0);
  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
}

// smpplib submitting as acme on one port and receiving its receipts on
// another: its JSON report, or a discarded value (the test failed) when the
// client failed or printed none.
nlohmann::json split(uint16_t tx_port, uint16_t rx_port, const std::string& args) {
  auto r =
      run(python() + " " + SLUICE_SOURCE_DIR + "/tests/interop/smpplib_client.py split --port " +
          std::to_string(tx_port) + " --rx-port " + std::to_string(rx_port) +
          " --system-id acme --password s3cret --wait 90 " + args);
  EXPECT_EQ(r.status, 0) << r.output;
  auto at = r.output.rfind("{\"acked\"");
  if (r.status != 0 || at == std::string::npos) return nlohmann::json::value_t::discarded;
  auto j = nlohmann::json::parse(r.output.substr(at), nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.output;
  return j;
}

TEST(Pipeline, ReceiptOfAMessageSubmittedOnNodeAReachesTheReceiverBindOnNodeB) {
  Pipeline p;
  auto b = p.cluster.start("all", "nodeB");
  auto a = p.cluster.start("gateway", "nodeA");
  auto j = split(a.smpp, b.smpp, "--count 30 --settle 4");
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["acked"], 30);
  EXPECT_EQ(j["receipts_matched"], 30) << j.dump();
  EXPECT_EQ(j["duplicates"], 0);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
  EXPECT_EQ(b.proc->stop(SIGTERM), 0);
}

TEST(Pipeline, ReceiptsWaitWhileNoReceiverIsBoundAndAllArriveWhenOneBinds) {
  Pipeline p;
  auto all = p.cluster.start("all", "n1");
  auto j = split(all.smpp, all.smpp, "--count 40 --rx-delay 8");
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["acked"], 40);
  EXPECT_EQ(j["receipts_matched"], 40) << j.dump();
  EXPECT_EQ(j["duplicates"], 0);
  EXPECT_EQ(all.proc->stop(SIGTERM), 0);
}

// A gateway node joins while receipts flow: the return path's group hands it
// some of sms.deliver's partitions (it forwards to the node holding the bind).
// The commits made while the first node gives them up must hold, or the new
// owner repeats the receipts delivered since the last one.
TEST(Pipeline, AGatewayJoiningWhileReceiptsFlowRepeatsNoReceipt) {
  constexpr int kCount = 6000;
  Pipeline p;
  auto all = p.cluster.start("all", "n1");
  auto load = Process::start(
      esme_load_argv(all.smpp, "acme", "s3cret",
                     {"--binds", "2", "--count", std::to_string(kCount), "--rate", "500", "--mix",
                      "gsm7=100", "--registered-delivery", "1", "--dlr-timeout", "60"}),
      p.cluster.dir() + "/load.log");
  std::this_thread::sleep_for(std::chrono::seconds(5));
  auto second = p.cluster.start("gateway", "n2");
  EXPECT_EQ(load->wait(std::chrono::seconds(120)), 0) << load->log();
  auto out = load->log();
  auto j = nlohmann::json::parse(out.substr(std::min(out.find('{'), out.size())), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  std::cout << "[ figure ] matched=" << j["dlr"]["matched"]
            << " duplicated=" << j["dlr"]["duplicated"] << "\n";
  EXPECT_EQ(j["acknowledged"], kCount);
  EXPECT_EQ(j["dlr"]["matched"], kCount) << out;
  EXPECT_EQ(j["dlr"]["duplicated"], 0) << "--- n1\n"
                                       << all.proc->log() << "\n--- n2\n"
                                       << second.proc->log();
  EXPECT_EQ(second.proc->stop(SIGTERM), 0) << second.proc->log();
  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
}

}  // namespace
}  // namespace sluice::test
