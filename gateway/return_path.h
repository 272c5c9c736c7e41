#pragma once
// DLRs and MO back to the customer's binds, on whichever gateway node they
// are (see README, "Return path"):
//  - sms.deliver is keyed by customer, consumed by all gateway nodes in one
//    group. The node that gets a record delivers it to a local receiver bind
//    of the customer; if it has none, it forwards the record to the node
//    topic (sms.deliver.node.<node>) of a node that has one, as told by the
//    bind registry; if no node has one, the record waits (offset open) and
//    is tried again until it expires.
//  - each node consumes its own node topic and delivers locally, or puts the
//    record back on sms.deliver when its bind went away meanwhile.
//  - the bind registry is the compacted topic sms.binds: every node publishes
//    its receiver-bind count per customer and reads everyone's.
// Offsets are committed only after deliver_sm_resp (or a durable forward).
#include <prometheus/registry.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "gateway/gateway.h"
#include "kafka/stage_loop.h"
#include "kafka/table_reader.h"
#include "schema/records.pb.h"

namespace sluice::gateway {

struct ReturnPathOptions {
  std::string topic_prefix;
  std::string node;
  size_t max_waiting = 50000;     // records held for customers with no bind, per node
  bool create_node_topic = true;  // false when the caller made it (mock cluster)
};

// Deliver record -> the deliver_sm the customer gets.
smpp::DeliverSm to_deliver_sm(const records::v1::Deliver& d);

class ReturnPath {
 public:
  ReturnPath(boost::asio::io_context& io, Gateway& gw, kafka::KafkaOptions kopts,
             std::shared_ptr<kafka::Producer> producer, ReturnPathOptions opts,
             prometheus::Registry& registry);
  ~ReturnPath();
  void start();
  // Stop taking records; those in flight get their answers or stay uncommitted.
  boost::asio::awaitable<void> drain();
  void stop();
  // Nodes that currently hold a receiver bind of the customer.
  std::vector<std::string> nodes_with_receivers(int64_t customer_id) const;

 private:
  void on_record(const rd_kafka_message_t& m, kafka::StageLoop::Done done, bool from_node_topic);
  void attempt(std::shared_ptr<struct Pending> p);
  // Done, unless given back (then the partition's next owner has it).
  void finish(const std::shared_ptr<struct Pending>& p);
  // Records of these partitions that wait here: abandoned, never delivered.
  size_t give_back(const std::set<kafka::TopicPartition>& gone);
  void retry_later(std::shared_ptr<struct Pending> p);
  void release_one(int64_t customer_id);
  void sweep_blocked();
  void publish_binds(int64_t customer_id, int receivers);
  void on_binds_record(std::string_view key, std::string_view value);

  boost::asio::io_context& io_;
  Gateway& gw_;
  kafka::KafkaOptions kopts_;
  std::shared_ptr<kafka::Producer> producer_;
  ReturnPathOptions opts_;
  std::string deliver_topic_, node_topic_, binds_topic_, node_name_;
  std::unique_ptr<kafka::StageLoop> shared_loop_, node_loop_;
  std::unique_ptr<kafka::TableReader> registry_reader_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::map<int64_t, std::map<std::string, int>> registry_;  // customer -> node -> receivers
  std::map<int64_t, std::deque<std::shared_ptr<struct Pending>>> blocked_;  // io thread only
  std::set<std::shared_ptr<struct Pending>> open_;  // sms.deliver records not done; io thread only
  prometheus::Family<prometheus::Counter>& delivered_;
  prometheus::Gauge& waiting_gauge_;
};

}  // namespace sluice::gateway
