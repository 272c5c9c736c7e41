#pragma once
#include <map>
#include <string>

namespace sluice::kafka {

// How a client reaches Kafka. `bootstrap` is host:port[,host:port]; the
// value "mock" is resolved by MockCluster before clients are made.
struct KafkaOptions {
  std::string bootstrap = "127.0.0.1:19092";
  std::string client_id = "sluice";
  // Extra librdkafka properties (security.protocol, sasl.*, ...), applied last.
  std::map<std::string, std::string> extra;
};

}  // namespace sluice::kafka
