#pragma once
// The topic table from schema/topics.json. A prefix (--topic-prefix) is put
// before every name so that tests and tenants can share one cluster.
#include <cstdint>
#include <string>
#include <vector>

namespace sluice::schema {

struct TopicSpec {
  std::string name;  // prefix applied
  int partitions = 1;
  int64_t retention_ms = -1;
  std::string cleanup_policy;  // delete | compact
  // Carries a stage's traffic: `sluice topics --partitions N` sets its count.
  bool scales = false;
};

// Fixed topics, with `prefix` before each name.
std::vector<TopicSpec> topics(const std::string& prefix);
// The outbound topic for one provider.
TopicSpec provider_topic(const std::string& prefix, const std::string& provider_name);
// The per-node delivery topic of one gateway node.
TopicSpec node_topic(const std::string& prefix, const std::string& node);
// A node or host name made safe for a topic name.
std::string topic_safe(const std::string& name);
// Bare name (no prefix) -> full name.
std::string topic_name(const std::string& prefix, const std::string& base);
// A provider name becomes part of a topic name: only [A-Za-z0-9._-] survive.
bool valid_provider_topic_part(const std::string& provider_name);

}  // namespace sluice::schema
