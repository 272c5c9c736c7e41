#pragma once
// Topic administration for `sluice topics --create|--check` and for the
// embedded mock cluster of the quick-run mode.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kafka/options.h"
#include "schema/topics.h"

namespace sluice::kafka {

struct TopicProblem {
  std::string topic;
  std::string problem;
};

// Creates what is missing; existing topics are left alone. Returns failures.
std::vector<TopicProblem> create_topics(
    const KafkaOptions& o, const std::vector<schema::TopicSpec>& specs,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));
// Missing topics, too few partitions, a different cleanup.policy or retention.ms.
std::vector<TopicProblem> check_topics(
    const KafkaOptions& o, const std::vector<schema::TopicSpec>& specs,
    std::chrono::milliseconds timeout = std::chrono::seconds(15));
// Partitions of an existing topic; 0 when it is missing or the broker does
// not answer within the timeout.
int partition_count(const KafkaOptions& o, const std::string& topic,
                    std::chrono::milliseconds timeout = std::chrono::seconds(15));
// Deletes topics (tests only).
std::vector<TopicProblem> delete_topics(
    const KafkaOptions& o, const std::vector<std::string>& names,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// librdkafka's in-process mock cluster: for the quick-run default and for unit
// tests of fault paths it can inject. Nothing persists; it dies with the process.
class MockCluster {
 public:
  explicit MockCluster(int brokers = 1);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;
  std::string bootstrap() const;
  void create_topic(const std::string& name, int partitions);
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kafka
