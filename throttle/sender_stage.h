#pragma once
// The sender stage: consumes every provider's outbound topic and keeps a
// ProviderLink per provider. Each instance paces a provider at its share of
// the contract rate: the share of that provider's topic partitions it holds,
// which stays right as instances come and go because Kafka reassigns
// partitions (no coordination between senders is needed). A provider whose
// queue is full has its partitions paused, so it never holds back another.
#include <prometheus/registry.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "config/config.h"
#include "kafka/producer.h"
#include "kafka/stage_loop.h"
#include "schema/topics.h"
#include "throttle/provider_link.h"

namespace sluice::throttle {

struct SenderOptions {
  std::string topic_prefix;
  std::string node;
  size_t high_watermark = 10000;  // queued messages per provider before its partitions are held
  size_t low_watermark = 5000;
  // What librdkafka fetches ahead per partition (queued.max.messages.kbytes):
  // all that a held provider's partitions collect, so the memory a provider
  // that takes nothing costs beyond its queue (plus one fetch each).
  int prefetch_kbytes = 4096;
  std::chrono::seconds response_timeout{30};
  std::string provider_ca;  // PEM file, trusted besides the system's CAs
  // Makes a provider's outbound topic; empty: the admin API (a real broker).
  std::function<void(const schema::TopicSpec&)> create_topic;
  // Customers' cancel_sm / replace_sm (sms.control); null: none are honoured.
  std::shared_ptr<const kafka::ControlBook> controls;
};

class SenderStage {
 public:
  SenderStage(boost::asio::io_context& io, kafka::KafkaOptions kopts,
              std::shared_ptr<kafka::Producer> producer,
              std::shared_ptr<config::ConfigStore> config, SenderOptions opts,
              prometheus::Registry& registry);
  ~SenderStage();

  void start();
  // Stop taking messages, let outstanding submits finish (bounded), commit.
  boost::asio::awaitable<void> drain();
  void stop();
  int64_t lag() const;
  std::shared_ptr<ProviderLink> link(const std::string& provider_name);

 private:
  void apply_config(std::shared_ptr<const config::Snapshot> snap);
  void on_record(const rd_kafka_message_t& m, kafka::StageLoop::Done done);
  void deliver_to_link(std::string provider, OutMessage out);
  void tick(kafka::Consumer& c);
  void recompute_shares(kafka::Consumer& c);
  std::string provider_of_topic(const std::string& topic) const;

  boost::asio::io_context& io_;
  kafka::KafkaOptions kopts_;
  std::shared_ptr<kafka::Producer> producer_;
  std::shared_ptr<config::ConfigStore> config_;
  SenderOptions opts_;
  ProviderMetrics metrics_;
  std::unique_ptr<kafka::StageLoop> loop_;
  std::string topic_stem_;  // prefix + "sms.out."
  // io thread only:
  std::map<std::string, std::shared_ptr<ProviderLink>> links_;
  // poll thread only:
  std::set<kafka::TopicPartition> assigned_;
  std::map<std::string, int> partition_counts_;
  bool shares_dirty_ = true;
  // shared:
  mutable std::mutex mu_;
  std::map<std::string, size_t> queued_snapshot_;
  std::set<std::string> known_topics_;
  std::atomic<bool> draining_{false};
  prometheus::Gauge* lag_gauge_;
};

}  // namespace sluice::throttle
