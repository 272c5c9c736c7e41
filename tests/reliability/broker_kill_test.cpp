// The broker is killed (SIGKILL) and restarted while a customer submits:
// every submit_sm_resp with ESME_ROK must name a record that is in Kafka once
// the broker is back. The test runs its own broker so others are not disturbed.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "kafka/consumer.h"
#include "schema/records.pb.h"
#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

struct PrivateBroker {
  std::string dir;
  uint16_t port, controller;
  std::string env() const {
    return "SLUICE_RUN_DIR=" + dir + " SLUICE_KAFKA_PORT=" + std::to_string(port) +
           " SLUICE_KAFKA_CONTROLLER_PORT=" + std::to_string(controller) +
           " SLUICE_KAFKA_HEAP=384m ";
  }
  std::string script() const { return std::string(SLUICE_SOURCE_DIR) + "/scripts/kafka"; }
  RunResult start() { return run(env() + script() + " start"); }
  void kill9() {
    std::ifstream in(dir + "/kafka/kafka.pid");
    int pid = 0;
    in >> pid;
    if (pid > 0) ::kill(pid, SIGKILL);
    // Wait until the port is free again.
    for (int i = 0; i < 100 && http_get(port, "/") != 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ~PrivateBroker() { run(env() + script() + " stop"); }
};

TEST(BrokerKilledUnderLoad, NoFalseOkAndEveryAcknowledgedRecordIsInKafka) {
  PrivateBroker broker{temp_dir("broker"), free_port(), free_port()};
  auto started = broker.start();
  ASSERT_EQ(started.status, 0) << started.output;
  std::string bootstrap = "127.0.0.1:" + std::to_string(broker.port);

  TestCluster cluster(bootstrap);
  cluster.add_customer("acme", "s3cret", "--mps 1000000 --max-binds 10");
  auto gw = cluster.start("gateway", "gw1");
  ASSERT_TRUE(gw.proc->alive());

  bool long_run =
      std::getenv("SLUICE_LONG_TESTS") && std::string(std::getenv("SLUICE_LONG_TESTS")) == "1";
  // Paced at 1,000/s, so the load outlasts the outage however fast the
  // gateway is (unpaced, 12,000 submits once finished before the kill).
  int count = long_run ? 60000 : 12000;
  auto load = Process::start(
      {python(), std::string(SLUICE_SOURCE_DIR) + "/tests/interop/smpplib_client.py", "submit",
       "--port", std::to_string(gw.smpp), "--system-id", "acme", "--password", "s3cret", "--count",
       std::to_string(count), "--window", "200", "--rate", "1000", "--tag", "killed"},
      cluster.dir() + "/load.json");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_TRUE(load->alive()) << load->log();
  broker.kill9();
  std::this_thread::sleep_for(std::chrono::seconds(long_run ? 15 : 6));
  auto restarted = broker.start();
  ASSERT_EQ(restarted.status, 0) << restarted.output;
  ASSERT_EQ(load->wait(std::chrono::seconds(240)), 0) << load->log();

  auto text = load->log();
  auto pos = text.rfind("{\"sent\"");
  ASSERT_NE(pos, std::string::npos) << text;
  auto report = nlohmann::json::parse(text.substr(pos, text.find('\n', pos) - pos));
  std::set<std::string> acked;
  for (auto& id : report["ok_ids"]) acked.insert(id.get<std::string>());
  int refused = 0;
  for (auto& [status, n] : report["errors"].items()) {
    // Only retryable answers while the broker was away.
    EXPECT_TRUE(status == std::to_string(0x58) || status == std::to_string(0x08)) << status;
    refused += n.get<int>();
  }
  std::cout << "[ figure ] submitted=" << report["sent"] << " acknowledged=" << acked.size()
            << " refused_retryable=" << refused << "\n";
  EXPECT_GT(refused, 0) << "the broker was down: some submits must have been refused";
  EXPECT_GT(acked.size(), 0u);

  kafka::KafkaOptions ko;
  ko.bootstrap = bootstrap;
  kafka::ConsumerOptions co;
  co.group_id = unique_name("verify");
  co.topics = {cluster.prefix() + "sms.submit"};
  kafka::Consumer c(ko, co);
  std::set<std::string> in_kafka;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  auto quiet = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
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
  int false_ok = 0;
  for (const auto& id : acked) false_ok += in_kafka.count(id) ? 0 : 1;
  std::cout << "[ figure ] false_ok=" << false_ok << " records_in_kafka=" << in_kafka.size()
            << "\n";
  EXPECT_EQ(false_ok, 0) << "ESME_ROK answered for records that are not in Kafka";
  EXPECT_EQ(gw.proc->stop(SIGTERM), 0) << gw.proc->log();
}

}  // namespace
}  // namespace sluice::test
