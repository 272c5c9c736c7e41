#pragma once
// An idempotent, acks=all producer whose delivery reports come back as
// callbacks (on the producer's own poll thread, or on an io_context's thread
// with serve_reports_on) or as Asio completions (on the caller's executor).
// No call here blocks the caller: a full local queue is reported as a
// delivery failure at once.
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
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

// A partition for a record that may go to any: such records share one
// partition for a millisecond, then the next one takes them (Kafka's sticky
// partitioner, for records that have a key but need no particular
// partition). Spread over six partitions by key, the gateway's batches held
// about 150 records; together, about 500, and the broker spent a third less
// CPU per record. Runs of 1,000 records instead held one partition for
// 100 ms at 10,000 a second and put 30-50 ms into the end-to-end p99.
inline constexpr int32_t kAnyPartition = -2;

// A record by reference, for a caller that keeps its bytes in buffers it
// reuses: librdkafka copies key and value before produce() returns.
struct RecordView {
  const std::string& topic;
  std::string_view key;
  std::string_view value;
  int32_t partition = RD_KAFKA_PARTITION_UA;
  const std::vector<std::pair<std::string, std::string>>* headers = nullptr;
  bool tombstone = false;
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
  Producer(KafkaOptions kopts, ProducerOptions popts = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // cb runs exactly once, on the poll thread (or inline on immediate failure).
  // It travels with the record in one allocation (a std::function of a
  // capturing lambda would be a second).
  template <class F>
  requires std::invocable<F&, const DeliveryResult&>
  void produce(const Record& record, F&& cb) {
    produce_pending(record, new PendingFn<std::decay_t<F>>(std::forward<F>(cb)));
  }
  // The same for bytes the caller keeps (and reuses once this returns).
  template <class F>
  requires std::invocable<F&, const DeliveryResult&>
  void produce_view(const RecordView& record, F&& cb) {
    produce_pending(record, new PendingFn<std::decay_t<F>>(std::forward<F>(cb)));
  }

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

  // Delivery reports (and so callbacks) are served on `io`'s thread from now
  // on, woken through a pipe librdkafka writes to when its report queue stops
  // being empty, instead of on the poll thread. For a process whose io thread
  // is busy anyway (the gateway under load) that saves the poll thread's
  // wake-up and the hand-over to the io thread for every burst of reports.
  // Once `io` stops, the poll thread serves them again, for good, so flush()
  // and the destructor still see every callback run. Callbacks then must not
  // block. Call it once, before `io` runs; `io` must outlive the producer.
  void serve_reports_on(boost::asio::io_context& io);

  // Waits for outstanding deliveries up to `timeout`; false when some remain.
  bool flush(std::chrono::milliseconds timeout);
  int outstanding() const;
  // Count of producer instances replaced after a fatal error.
  int64_t recreated() const { return recreated_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  struct Pending {
    virtual ~Pending() = default;
    virtual void deliver(const DeliveryResult& r) = 0;
    bool any_partition = false;  // read by the partitioner
  };
  template <class F>
  struct PendingFn final : Pending {
    explicit PendingFn(F fn) : f(std::move(fn)) {}
    void deliver(const DeliveryResult& r) override { f(r); }
    F f;
  };
  void produce_pending(const Record& r, Pending* pending) {
    produce_pending(RecordView{r.topic, r.key, r.value, r.partition, &r.headers, r.tombstone},
                    pending);
  }
  void produce_pending(const RecordView& rec, Pending* pending);

  rd_kafka_t* make_handle();
  void poll_loop();
  void probe_loop();
  void recreate();
  void watch_reports(rd_kafka_t* rk);
  void unwatch_reports(rd_kafka_t* rk);
  void serve_reports();
  struct IoReports;
  static void arm(std::shared_ptr<IoReports> link);
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t*, void*);
  static void on_error(rd_kafka_t*, int, const char*, void*);
  static int32_t partition_of(const rd_kafka_topic_t* rkt, const void* key, size_t keylen,
                              int32_t partitions, void* rkt_opaque, void* msg_opaque);

  KafkaOptions kopts_;
  ProducerOptions popts_;
  mutable std::shared_mutex mu_;
  rd_kafka_t* rk_ = nullptr;
  std::atomic<bool> fatal_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> recreated_{0};
  std::thread poller_, prober_;
  // With serve_reports_on: the io_context, and whether it serves the reports
  // (false again once the producer is going away).
  std::atomic<boost::asio::io_context*> report_io_{nullptr};
  std::atomic<bool> io_serves_{false};
  std::weak_ptr<IoReports> io_link_;  // owned by the pending wait on the io thread
  int report_pipe_[2] = {-1, -1};
};

// Applies common and extra properties; throws std::runtime_error on a bad one.
void set_conf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);
void apply_options(rd_kafka_conf_t* conf, const KafkaOptions& o);

}  // namespace sluice::kafka
