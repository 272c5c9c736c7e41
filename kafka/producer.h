#pragma once
// An idempotent, acks=all producer whose delivery reports come back as
// callbacks (on the producer's own poll thread) or as Asio completions (on the
// caller's executor). No call here blocks the caller: a full local queue is
// reported as a delivery failure at once.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kafka/options.h"

namespace sluice::kafka {

struct Record {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int32_t partition = RD_KAFKA_PARTITION_UA;
  bool tombstone = false;  // a null value: deletes the key in a compacted topic
};

struct DeliveryResult {
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  int32_t partition = -1;
  int64_t offset = -1;
  bool ok() const { return err == RD_KAFKA_RESP_ERR_NO_ERROR; }
  // True when the record may have been written although the report says it
  // failed (a timeout while in flight). Never retried blindly, never acked as OK.
  bool possibly_persisted = false;
  std::string message() const { return rd_kafka_err2str(err); }
};

struct ProducerOptions {
  // The bound on how long a record may wait for the broker before its
  // delivery fails (message.timeout.ms); the gateway answers the customer
  // with an error it can retry after this, never with a false OK.
  std::chrono::milliseconds delivery_timeout{10000};
  std::chrono::milliseconds linger{5};
  int max_queue_messages = 200000;
  std::string compression = "none";
};

class Producer {
 public:
  using Callback = std::function<void(const DeliveryResult&)>;

  Producer(KafkaOptions kopts, ProducerOptions popts = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // cb runs exactly once, on the poll thread (or inline on immediate failure).
  void produce(const Record& record, Callback cb);

  // Asio form: completes with DeliveryResult on the handler's executor.
  template <typename Token>
  auto async_produce(Record record, Token&& token) {
    return boost::asio::async_initiate<Token, void(DeliveryResult)>(
        [this](auto handler, Record r) {
          using H = decltype(handler);
          struct Op {
            H handler;
            boost::asio::executor_work_guard<boost::asio::associated_executor_t<H>> work;
          };
          auto ex = boost::asio::get_associated_executor(handler);
          auto op = std::make_shared<Op>(Op{std::move(handler), boost::asio::make_work_guard(ex)});
          produce(std::move(r), [op](const DeliveryResult& res) {
            auto ex2 = op->work.get_executor();
            boost::asio::post(ex2, [op, res]() mutable {
              op->work.reset();
              std::move(op->handler)(res);
            });
          });
        },
        token, std::move(record));
  }

  // Waits for outstanding deliveries up to `timeout`; false when some remain.
  bool flush(std::chrono::milliseconds timeout);
  int outstanding() const;
  // Count of producer instances replaced after a fatal error.
  int64_t recreated() const { return recreated_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  rd_kafka_t* make_handle();
  void poll_loop();
  void probe_loop();
  void recreate();
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t*, void*);
  static void on_error(rd_kafka_t*, int, const char*, void*);

  KafkaOptions kopts_;
  ProducerOptions popts_;
  mutable std::shared_mutex mu_;
  rd_kafka_t* rk_ = nullptr;
  std::atomic<bool> fatal_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> recreated_{0};
  std::thread poller_, prober_;
};

// Applies common and extra properties; throws std::runtime_error on a bad one.
void set_conf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);
void apply_options(rd_kafka_conf_t* conf, const KafkaOptions& o);

}  // namespace sluice::kafka
