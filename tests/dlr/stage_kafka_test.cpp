// The DLR stage against the real broker: records written as the sender will
// write them, receipts read back from sms.deliver as the gateway will read them.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "dlr/dlr_stage.h"
#include "kafka/admin.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "records.pb.h"
#include "schema/provider_id.h"
#include "schema/receipts.h"
#include "schema/topics.h"
#include "tests/dlr/fixtures.h"
#include "tests/support/env.h"

namespace sluice::dlr {
namespace {

using namespace std::chrono_literals;
using test::make_receipt;
using test::make_sent;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

kafka::KafkaOptions real() {
  kafka::KafkaOptions o;
  o.bootstrap = sluice::test::kafka_bootstrap();
  o.client_id = "sluice-dlr-test";
  return o;
}

// The fixed topics of schema/topics.json, under a prefix of this test's own.
std::string make_topics() {
  std::string prefix = sluice::test::unique_name("dlr") + ".";
  auto specs = schema::topics(prefix);
  auto problems = kafka::create_topics(real(), specs);
  for (const auto& p : problems) ADD_FAILURE() << p.topic << ": " << p.problem;
  return prefix;
}

class Writer {
 public:
  explicit Writer(std::string prefix) : prefix_(std::move(prefix)), producer_(real()) {}
  ~Writer() { flush(); }

  void sent(const rec::Sent& s) {
    auto keys = pid::sent_keys(s.provider_id(), s.provider_message_id());
    if (s.command_status() != 0) keys.resize(1);
    for (const auto& k : keys) {
      records::v1::ProviderEvent ev;
      ev.set_schema_version(1);
      *ev.mutable_sent() = s;
      put({prefix_ + "sms.provider-events", k, ev.SerializeAsString()});
    }
  }
  void receipt(const rec::ProviderDeliver& pd) {
    records::v1::ProviderEvent ev;
    ev.set_schema_version(1);
    *ev.mutable_receipt() = pd;
    put({prefix_ + "sms.provider-events",
         pid::receipt_key(pd.provider_id(), pd.provider_message_id()), ev.SerializeAsString()});
  }
  void mo(const rec::ProviderDeliver& pd) {
    put({prefix_ + "sms.mo", pd.dest().addr(), pd.SerializeAsString()});
  }
  void flush() {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, 30s, [&] { return acked_ == sent_; }));
    EXPECT_EQ(failed_, 0);
  }

 private:
  void put(kafka::Record r) {
    {
      std::lock_guard lock(mu_);
      ++sent_;
    }
    producer_.produce(std::move(r), [this](const kafka::DeliveryResult& res) {
      std::lock_guard lock(mu_);
      ++acked_;
      if (!res.ok()) ++failed_;
      cv_.notify_all();
    });
  }
  std::string prefix_;
  kafka::Producer producer_;
  std::mutex mu_;
  std::condition_variable cv_;
  int sent_ = 0, acked_ = 0, failed_ = 0;
};

// Reads sms.deliver as a fresh group, from the beginning.
class DeliverReader {
 public:
  explicit DeliverReader(const std::string& prefix) {
    kafka::ConsumerOptions co;
    co.group_id = sluice::test::unique_name("dlr-reader");
    co.topics = {prefix + "sms.deliver"};
    consumer_ = std::make_unique<kafka::Consumer>(real(), co);
  }
  // Reads until `n` records came (or the timeout), then `quiet` more to catch extras.
  void read(size_t n, std::chrono::milliseconds timeout, std::chrono::milliseconds quiet = 2s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) poll_once();
    auto until = std::chrono::steady_clock::now() + quiet;
    while (std::chrono::steady_clock::now() < until) poll_once();
  }
  size_t receipts(const std::string& id) const {
    size_t n = 0;
    for (const auto& [key, d] : got) n += d.is_receipt() && d.id() == id;
    return n;
  }
  std::vector<std::pair<std::string, rec::Deliver>> got;

 private:
  void poll_once() {
    auto m = consumer_->poll(200ms);
    if (!m) return;
    rec::Deliver d;
    ASSERT_TRUE(d.ParseFromString(std::string(kafka::value_of(m.get()))));
    got.push_back({std::string(kafka::key_of(m.get())), d});
  }
  std::unique_ptr<kafka::Consumer> consumer_;
};

DlrOptions options(const std::string& prefix) {
  DlrOptions o;
  o.topic_prefix = prefix;
  o.node = "test";
  o.tick_interval = 100ms;
  o.commit_interval = 200ms;
  return o;
}

SnapshotFn snapshots() {
  auto snap = test::make_snapshot();
  return [snap]() -> std::shared_ptr<const config::Snapshot> { return snap; };
}

rec::Sent live_sent(const std::string& id, const std::string& pmid, int64_t customer = 1) {
  auto s = make_sent(id, pmid, customer, 1);
  s.set_submitted_at_ms(now_ms() - 1000);
  s.set_expire_at_ms(now_ms() + 3600 * 1000);
  return s;
}

rec::ProviderDeliver live_receipt(const std::string& pmid, const std::string& stat = "DELIVRD") {
  return make_receipt(pmid, stat, test::kProvider, now_ms());
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::string pmid_of(int i) {
  // Hex with letters, spelt differently by the receipt (case, leading zeros).
  char buf[16];
  std::snprintf(buf, sizeof buf, "00C0FFEE%04X", i);
  return buf;
}
std::string receipt_id_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "c0ffee%04x", i);
  return buf;
}

TEST(DlrStageKafka, ExactlyOneReceiptPerMessageWhicheverComesFirst) {
  std::string prefix = make_topics();
  auto producer = std::make_shared<kafka::Producer>(real());
  prometheus::Registry registry;
  DlrStage stage(real(), producer, snapshots(), options(prefix), registry);
  constexpr int kCount = 200;
  {
    Writer w(prefix);
    for (int i = 0; i < kCount; ++i) {
      auto s = live_sent("k" + std::to_string(i), pmid_of(i));
      auto r = live_receipt(receipt_id_of(i), i % 3 == 0 ? "UNDELIV" : "DELIVRD");
      if (i % 2 == 0) {
        w.receipt(r);  // the receipt before its submit_sm_resp
        w.sent(s);
      } else {
        w.sent(s);
        w.receipt(r);
      }
      if (i % 10 == 0) w.receipt(r);  // a provider that repeats its final
    }
  }
  stage.start();
  DeliverReader reader(prefix);
  reader.read(kCount, 90s, 3s);
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(reader.receipts("k" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(reader.got.size(), static_cast<size_t>(kCount));
  for (const auto& [key, d] : reader.got) EXPECT_EQ(key, schema::customer_key(1));
  stage.stop();
}

TEST(DlrStageKafka, JoinStateSurvivesARestart) {
  std::string prefix = make_topics();
  auto producer = std::make_shared<kafka::Producer>(real());
  constexpr int kCount = 40;
  {
    prometheus::Registry registry;
    DlrStage first(real(), producer, snapshots(), options(prefix), registry);
    first.start();
    Writer w(prefix);
    for (int i = 0; i < kCount; ++i) w.sent(live_sent("r" + std::to_string(i), pmid_of(i)));
    w.receipt(live_receipt("abcdef01"));  // early: its Sent comes after the restart
    w.flush();
    ASSERT_TRUE(
        wait_until([&] { return first.join_entries() == kCount + 1 && first.lag() == 0; }, 60s))
        << first.join_entries();
    first.stop();  // commits: the new instance reads none of these records again
  }
  prometheus::Registry registry;
  DlrStage second(real(), producer, snapshots(), options(prefix), registry);
  second.start();
  // Restored from sms.dlr-state on assignment, not re-read from the input.
  ASSERT_TRUE(wait_until([&] { return second.join_entries() == kCount + 1; }, 60s))
      << second.join_entries();
  {
    Writer w(prefix);
    for (int i = 0; i < kCount; ++i) w.receipt(live_receipt(receipt_id_of(i)));
    w.sent(live_sent("late", "ABCDEF01"));
  }
  DeliverReader reader(prefix);
  reader.read(kCount + 1, 60s);
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(reader.receipts("r" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(reader.receipts("late"), 1u);
  EXPECT_EQ(reader.got.size(), static_cast<size_t>(kCount + 1));
  // The second instance consumed only what came after the restart.
  double consumed = 0;
  for (const auto& fam : registry.Collect())
    if (fam.name == "sluice_stage_records_total")
      for (const auto& m : fam.metric) consumed += m.counter.value;
  EXPECT_EQ(consumed, kCount + 1);
  second.stop();
}

TEST(DlrStageKafka, MoReachesTheCustomerOwningTheNumber) {
  std::string prefix = make_topics();
  auto producer = std::make_shared<kafka::Producer>(real());
  prometheus::Registry registry;
  DlrStage stage(real(), producer, snapshots(), options(prefix), registry);
  stage.start();
  {
    Writer w(prefix);
    rec::ProviderDeliver pd;
    pd.set_schema_version(1);
    pd.set_provider_id(test::kProvider);
    pd.mutable_source()->set_addr("447700900555");
    pd.mutable_dest()->set_addr("447000123");
    pd.set_short_message("STOP");
    pd.set_received_at_ms(now_ms());
    w.mo(pd);
    pd.mutable_dest()->set_addr("19995550000");  // nobody's number
    w.mo(pd);
  }
  DeliverReader reader(prefix);
  reader.read(1, 60s);
  ASSERT_EQ(reader.got.size(), 1u);
  EXPECT_EQ(reader.got[0].first, schema::customer_key(3));
  EXPECT_FALSE(reader.got[0].second.is_receipt());
  EXPECT_EQ(reader.got[0].second.short_message(), "STOP");
  EXPECT_EQ(reader.got[0].second.dest().addr(), "447000123");
  stage.stop();
}

TEST(DlrStageKafka, OneReceiptPerMultipartMessageAcrossPartitions) {
  std::string prefix = make_topics();
  auto producer = std::make_shared<kafka::Producer>(real());
  prometheus::Registry registry;
  DlrStage stage(real(), producer, snapshots(), options(prefix), registry);
  stage.start();
  // Three parts, three provider ids: most likely three partitions.
  const std::vector<std::string> pmids = {"AA0001", "BB0002", "CC0003"};
  {
    Writer w(prefix);
    for (uint32_t seq = 1; seq <= 3; ++seq) {
      auto s = live_sent("mp" + std::to_string(seq), pmids[seq - 1], 3);
      auto* c = s.mutable_concat();
      c->set_group_key("3|ACME|447700900123|9");
      c->set_total(3);
      c->set_seq(seq);
      w.sent(s);
      w.receipt(live_receipt(pmids[seq - 1], seq == 2 ? "EXPIRED" : "DELIVRD"));
    }
  }
  DeliverReader reader(prefix);
  reader.read(1, 60s, 3s);
  ASSERT_EQ(reader.got.size(), 1u);
  EXPECT_EQ(reader.got[0].first, schema::customer_key(3));
  EXPECT_EQ(reader.got[0].second.id(), "mp1");
  EXPECT_EQ(reader.got[0].second.stat(), "EXPIRED");
  stage.stop();
}

TEST(DlrStageKafka, PartitionsMoveToANewInstanceWithTheirState) {
  std::string prefix = make_topics();
  auto producer = std::make_shared<kafka::Producer>(real());
  constexpr int kCount = 120;
  prometheus::Registry ra, rb;
  DlrStage a(real(), producer, snapshots(), options(prefix), ra);
  a.start();
  {
    Writer w(prefix);
    for (int i = 0; i < kCount; ++i) w.sent(live_sent("h" + std::to_string(i), pmid_of(i)));
  }
  ASSERT_TRUE(wait_until([&] { return a.join_entries() == kCount; }, 60s)) << a.join_entries();
  // A second member joins: about half the partitions move, and their join
  // state moves with them through sms.dlr-state.
  DlrStage b(real(), producer, snapshots(), options(prefix), rb);
  b.start();
  ASSERT_TRUE(wait_until(
      [&] { return b.join_entries() > 0 && a.join_entries() + b.join_entries() == kCount; }, 60s))
      << a.join_entries() << " + " << b.join_entries();
  {
    Writer w(prefix);
    for (int i = 0; i < kCount; ++i) w.receipt(live_receipt(receipt_id_of(i)));
  }
  DeliverReader reader(prefix);
  reader.read(kCount, 60s);
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(reader.receipts("h" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(reader.got.size(), static_cast<size_t>(kCount));
  b.stop();
  a.stop();
}

TEST(DlrStageKafka, RecordsWaitForTheFirstConfiguration) {
  std::string prefix = make_topics();
  auto producer = std::make_shared<kafka::Producer>(real());
  prometheus::Registry registry;
  auto snap = test::make_snapshot();
  std::atomic<bool> loaded{false};
  SnapshotFn source = [&]() -> std::shared_ptr<const config::Snapshot> {
    return loaded ? snap : nullptr;
  };
  DlrStage stage(real(), producer, source, options(prefix), registry);
  stage.start();
  {
    Writer w(prefix);
    rec::ProviderDeliver pd;
    pd.set_schema_version(1);
    pd.mutable_source()->set_addr("447700900555");
    pd.mutable_dest()->set_addr("447012345");
    pd.set_short_message("HELLO");
    w.mo(pd);
  }
  DeliverReader reader(prefix);
  reader.read(1, 5s, 0s);
  EXPECT_TRUE(reader.got.empty());  // nobody could say who owns the number
  loaded = true;
  reader.read(1, 30s);
  ASSERT_EQ(reader.got.size(), 1u);
  EXPECT_EQ(reader.got[0].first, schema::customer_key(1));
  stage.stop();
}

}  // namespace
}  // namespace sluice::dlr
