// A provider added to PostgreSQL while the sender runs gets its outbound
// topic from the sender, sized like the rest of the deployment.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kafka/admin.h"
#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

TEST(ProviderTopic, AProviderAddedAtRunTimeGetsAsManyPartitionsAsTheDeploymentChose) {
  // Not the template's default (6), so that the default cannot pass.
  constexpr int kPartitions = 4;
  TestCluster cluster("", kPartitions);
  auto sender = cluster.start("sender", "s1");
  auto r = run_with_input(sluice_binary() +
                              " provider add late --host 127.0.0.1 --port 9 --system-id sluice"
                              " --password-stdin --pg '" +
                              cluster.dsn() + "'",
                          "pw\n");
  ASSERT_EQ(r.status, 0) << r.output;
  kafka::KafkaOptions ko;
  ko.bootstrap = cluster.kafka();
  ko.client_id = "sluice-test";
  const std::string topic = cluster.prefix() + "sms.out.late";
  int partitions = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (partitions == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    partitions = kafka::partition_count(ko, topic);
  }
  EXPECT_EQ(partitions, kPartitions) << sender.proc->log();
  EXPECT_EQ(sender.proc->stop(SIGTERM), 0) << sender.proc->log();
}

}  // namespace
}  // namespace sluice::test
