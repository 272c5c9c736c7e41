// No broker needed: what the producer promises when none answers.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "kafka/producer.h"

namespace sluice::kafka {
namespace {

// The gateway's "never a false OK, and an answer within a bound" rests on
// message.timeout.ms reaching librdkafka. It is a topic-level setting, so
// anything that replaces the default topic conf (a partitioner did once)
// silently puts librdkafka's five minutes back.
TEST(ProducerBound, ARecordNoBrokerTakesFailsWithinTheDeliveryTimeout) {
  KafkaOptions ko;
  ko.bootstrap = "127.0.0.1:1";  // nothing listens on port 1
  ko.client_id = "sluice-test-bound";
  ProducerOptions po;
  po.delivery_timeout = std::chrono::milliseconds(1500);
  Producer producer(ko, po);
  std::mutex mu;
  std::condition_variable cv;
  std::optional<DeliveryResult> result;
  auto started = std::chrono::steady_clock::now();
  Record rec{"sms.submit", "k", "v", {}};
  rec.partition = kAnyPartition;
  producer.produce(rec, [&](const DeliveryResult& r) {
    std::lock_guard lock(mu);
    result = r;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return result.has_value(); }))
      << "no delivery report within 30 s of a 1.5 s delivery timeout";
  EXPECT_FALSE(result->ok());
  EXPECT_EQ(result->err, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) << result->message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

}  // namespace
}  // namespace sluice::kafka
