// query_sm, cancel_sm and replace_sm through the whole pipeline on the real
// broker, from a third-party client (npm `smpp`, tests/interop/node_control.js)
// on two gateway processes: a scheduled message cancelled on the other node
// never reaches the provider, nor does one cancelled while queued at the
// sender; a replaced one reaches it with its new text, and one whose new
// validity passes in the sender's queue expires there; a delivered one can be
// queried but no longer cancelled or replaced.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

TEST(MessageControl, CancelReplaceAndQueryWorkOnEitherGatewayNode) {
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 1000 --max-binds 10");
  cluster.add_customer("other", "0ther", "--mps 1000 --max-binds 10");
  uint16_t port = free_port(), http = free_port();
  auto sim = cluster.start_smsc_sim(port, http, {"--dlr-delay", "50", "--dlr-mix", "DELIVRD=100"});
  cluster.add_provider("sim", port, "simpw", "--binds 1 --window 10 --mps 100");
  // A second SMSC behind a contract of one message a second, for 4478...:
  // what is sent there waits in the sender's queue. (Its own simulator: an
  // SMSC sends receipts to any bind of the account, and two providers on one
  // account would receive each other's.)
  uint16_t slow_port = free_port(), slow_http = free_port();
  auto slow_sim = cluster.start_smsc_sim(slow_port, slow_http,
                                         {"--dlr-delay", "50", "--dlr-mix", "DELIVRD=100"});
  cluster.add_provider("slow", slow_port, "simpw", "--binds 1 --window 1 --mps 1", "4478");
  auto n1 = cluster.start("all", "n1");
  auto n2 = cluster.start("gateway", "n2");

  auto client =
      run("node " + std::string(SLUICE_SOURCE_DIR) + "/tests/interop/node_control.js " +
          std::to_string(n1.smpp) + " " + std::to_string(n2.smpp) + " acme s3cret other 0ther");
  std::cout << "[ figure ] " << client.output << "\n";
  EXPECT_EQ(client.status, 0) << client.output << "\n--- n1\n"
                              << n1.proc->log() << "\n--- n2\n"
                              << n2.proc->log();

  // What the provider got: B and C once each, never A.
  std::string body;
  http_get(http, "/stats", &body);
  auto stats = nlohmann::json::parse(body, nullptr, false);
  ASSERT_FALSE(stats.is_discarded()) << body;
  std::map<std::string, int> by_dest;
  for (auto& t : stats["destinations"]["top"]) by_dest[t["dest"]] = t["count"];
  EXPECT_EQ(by_dest.count("447700000001"), 0u) << body;
  EXPECT_EQ(by_dest["447700000002"], 1) << body;
  EXPECT_EQ(by_dest["447700000003"], 1) << body;
  http_get(slow_http, "/stats", &body);
  stats = nlohmann::json::parse(body, nullptr, false);
  ASSERT_FALSE(stats.is_discarded()) << body;
  for (auto& t : stats["destinations"]["top"]) by_dest[t["dest"]] = t["count"];
  // Fourteen queued for one destination: the last cancelled while it waited,
  // the one before it given a validity by replace_sm that passed meanwhile.
  EXPECT_EQ(by_dest["447800000001"], 12)
      << "of fourteen queued at the sender, one cancelled and one expired: " << body;

  EXPECT_EQ(n2.proc->stop(SIGTERM), 0) << n2.proc->log();
  EXPECT_EQ(n1.proc->stop(SIGTERM), 0) << n1.proc->log();
}

}  // namespace
}  // namespace sluice::test
