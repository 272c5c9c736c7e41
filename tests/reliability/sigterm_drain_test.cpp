// SIGTERM under load: the gateway stops taking work, answers everything it
// took, unbinds, and exits within its bound; nothing it acknowledged is lost.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "kafka/consumer.h"
#include "schema/records.pb.h"
#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

TEST(SigtermUnderLoad, GatewayDrainsWithinItsBoundAndLosesNothingAcknowledged) {
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 1000000 --max-binds 10");
  auto gw = cluster.start("gateway", "gw1");
  auto load = Process::start(
      {python(), std::string(SLUICE_SOURCE_DIR) + "/tests/interop/smpplib_client.py", "submit",
       "--port", std::to_string(gw.smpp), "--system-id", "acme", "--password", "s3cret", "--count",
       "200000", "--window", "100", "--tag", "drain"},
      cluster.dir() + "/load.json");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_TRUE(load->alive()) << load->log();
  auto t0 = std::chrono::steady_clock::now();
  int status = gw.proc->stop(SIGTERM, std::chrono::seconds(40));
  double drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(status, 0) << gw.proc->log();
  EXPECT_LT(drain_s, 25.0) << "drain bound is 20 s";
  ASSERT_EQ(load->wait(std::chrono::seconds(120)), 0) << load->log();
  auto text = load->log();
  auto pos = text.rfind("{\"sent\"");
  ASSERT_NE(pos, std::string::npos) << text;
  auto report = nlohmann::json::parse(text.substr(pos, text.find('\n', pos) - pos));
  std::set<std::string> acked;
  for (auto& id : report["ok_ids"]) acked.insert(id.get<std::string>());
  int unanswered = report["sent"].get<int>() - report["answered"].get<int>();
  std::cout << "[ figure ] drain_seconds=" << drain_s << " acknowledged=" << acked.size()
            << " unanswered=" << unanswered << "\n";
  EXPECT_GT(acked.size(), 0u);

  kafka::KafkaOptions ko;
  ko.bootstrap = cluster.kafka();
  kafka::ConsumerOptions co;
  co.group_id = unique_name("verify");
  co.topics = {cluster.prefix() + "sms.submit"};
  kafka::Consumer c(ko, co);
  std::set<std::string> in_kafka;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto quiet = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (std::chrono::steady_clock::now() < deadline && in_kafka.size() < acked.size()) {
    auto m = c.poll(std::chrono::milliseconds(200));
    if (!m) {
      if (std::chrono::steady_clock::now() > quiet) break;
      continue;
    }
    records::v1::Message msg;
    ASSERT_TRUE(msg.ParseFromArray(m->payload, static_cast<int>(m->len)));
    in_kafka.insert(msg.id());
    quiet = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  }
  c.close();
  int lost = 0;
  for (const auto& id : acked) lost += in_kafka.count(id) ? 0 : 1;
  std::cout << "[ figure ] lost=" << lost << "\n";
  EXPECT_EQ(lost, 0);
}

}  // namespace
}  // namespace sluice::test
