// Against the real broker: what the gateway's durability promise rests on.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kafka/admin.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "tests/support/env.h"

namespace sluice::kafka {
namespace {

KafkaOptions real() {
  KafkaOptions o;
  o.bootstrap = test::kafka_bootstrap();
  o.client_id = "sluice-test";
  return o;
}

TEST(RealBroker, IdempotentAcksAllRecordsAreReadBackOnceInAConsumerGroup) {
  std::string topic = test::unique_name("t_produce");
  ASSERT_TRUE(create_topics(real(), {{topic, 3, 3600000, "delete"}}).empty());

  constexpr int kCount = 2000;
  std::mutex mu;
  std::condition_variable cv;
  int delivered = 0, failed = 0;
  {
    Producer producer(real());
    for (int i = 0; i < kCount; ++i) {
      Record r{topic,
               "key-" + std::to_string(i % 50),
               "value-" + std::to_string(i),
               {{"seq", std::to_string(i)}}};
      producer.produce(std::move(r), [&](const DeliveryResult& res) {
        std::lock_guard lock(mu);
        (res.ok() ? delivered : failed)++;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    ASSERT_TRUE(
        cv.wait_for(lock, std::chrono::seconds(60), [&] { return delivered + failed == kCount; }));
  }
  EXPECT_EQ(delivered, kCount);
  EXPECT_EQ(failed, 0);

  // The broker must confirm the idempotent producer's settings took effect:
  // every record has a distinct (partition, offset) and comes back once.
  ConsumerOptions co;
  co.group_id = test::unique_name("g");
  co.topics = {topic};
  auto consumer_ptr = std::make_unique<Consumer>(real(), co);
  Consumer& consumer = *consumer_ptr;
  std::set<std::string> seen;
  std::map<int32_t, int64_t> next;
  int duplicates = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen.size() < static_cast<size_t>(kCount) && std::chrono::steady_clock::now() < deadline) {
    auto m = consumer.poll(std::chrono::milliseconds(200));
    if (!m) continue;
    auto seq = header_of(m.get(), "seq");
    ASSERT_TRUE(seq.has_value());
    EXPECT_EQ(std::string(value_of(m.get())), "value-" + *seq);
    if (!seen.insert(*seq).second) ++duplicates;
    next[m->partition] = m->offset + 1;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(duplicates, 0);

  // Commit, and a second member of the same group finds nothing left to read.
  std::vector<std::pair<TopicPartition, int64_t>> offsets;
  for (auto [p, o] : next) offsets.push_back({{topic, p}, o});
  ASSERT_TRUE(consumer.commit(offsets, true));
  consumer_ptr
      .reset();  // destroyed before its topic is deleted (librdkafka 2.0 can hang otherwise)
  auto again_ptr = std::make_unique<Consumer>(real(), co);
  Consumer& again = *again_ptr;
  int extra = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (std::chrono::steady_clock::now() < until)
    if (again.poll(std::chrono::milliseconds(200))) ++extra;
  EXPECT_EQ(extra, 0) << "committed records were delivered again";
  again_ptr.reset();
  delete_topics(real(), {topic});
}

TEST(RealBroker, DeliveryToAMissingTopicFailsInsteadOfReportingSuccess) {
  // auto.create.topics.enable=false on the project's broker: a record for a
  // topic that does not exist must come back as a failure within the bound.
  ProducerOptions po;
  po.delivery_timeout = std::chrono::milliseconds(3000);
  Producer producer(real(), po);
  std::mutex mu;
  std::condition_variable cv;
  std::optional<DeliveryResult> result;
  producer.produce({test::unique_name("t_missing"), "k", "v", {}}, [&](const DeliveryResult& r) {
    std::lock_guard lock(mu);
    result = r;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return result.has_value(); }));
  EXPECT_FALSE(result->ok());
}

// The sender holds a provider's partitions while its queue is full. What was
// fetched for a held partition must wait in librdkafka, not be dropped and
// fetched again, and come back in order, once, when released; the other
// partitions flow meanwhile.
TEST(RealBroker, HeldPartitionKeepsItsFetchedRecordsAndReleaseHandsThemOverInOrder) {
  std::string topic = test::unique_name("t_hold");
  ASSERT_TRUE(create_topics(real(), {{topic, 2, 3600000, "delete"}}).empty());
  constexpr int kPerPartition = 300;
  {
    Producer producer(real());
    std::mutex mu;
    std::condition_variable cv;
    int acked = 0;
    for (int i = 0; i < 2 * kPerPartition; ++i) {
      Record r{topic, "k", std::to_string(i / 2), {}};
      r.partition = i % 2;
      producer.produce(std::move(r), [&](const DeliveryResult& res) {
        std::lock_guard lock(mu);
        acked += res.ok() ? 1 : 0;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    ASSERT_TRUE(
        cv.wait_for(lock, std::chrono::seconds(60), [&] { return acked == 2 * kPerPartition; }));
  }

  Consumer* self = nullptr;
  ConsumerOptions co;
  co.group_id = test::unique_name("g");
  co.topics = {topic};
  // Held as it is assigned, before anything is fetched for it.
  co.on_assign = [&](const std::vector<TopicPartition>& tps) {
    for (const auto& tp : tps)
      if (tp.partition == 0) self->hold({tp});
  };
  auto consumer = std::make_unique<Consumer>(real(), co);
  self = consumer.get();
  const TopicPartition held{topic, 0};

  std::map<int32_t, std::vector<int>> got;
  auto poll_until = [&](auto done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!done() && std::chrono::steady_clock::now() < deadline)
      if (auto m = consumer->poll(std::chrono::milliseconds(100)))
        got[m->partition].push_back(std::stoi(std::string(value_of(m.get()))));
  };
  poll_until([&] {
    return got[1].size() == kPerPartition && consumer->held_backlog(held) >= kPerPartition;
  });
  EXPECT_EQ(got[1].size(), static_cast<size_t>(kPerPartition));
  EXPECT_TRUE(got[0].empty()) << "a held partition's records reached poll()";
  EXPECT_GE(consumer->held_backlog(held), static_cast<size_t>(kPerPartition))
      << "the held partition's records were not fetched into its queue";

  consumer->release({held});
  poll_until([&] { return got[0].size() >= kPerPartition; });
  ASSERT_EQ(got[0].size(), static_cast<size_t>(kPerPartition));
  for (int i = 0; i < kPerPartition; ++i) ASSERT_EQ(got[0][i], i) << "out of order or repeated";

  // Holds nest: held twice and released once, the partition is still held.
  consumer->hold({held});
  consumer->hold({held});
  consumer->release({held});
  {
    Producer producer(real());
    std::mutex mu;
    std::condition_variable cv;
    bool acked = false;
    Record r{topic, "k", std::to_string(kPerPartition), {}};
    r.partition = 0;
    producer.produce(std::move(r), [&](const DeliveryResult& res) {
      std::lock_guard lock(mu);
      acked = res.ok();
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return acked; }));
  }
  poll_until([&] { return consumer->held_backlog(held) >= 1; });
  EXPECT_GE(consumer->held_backlog(held), 1u);
  EXPECT_EQ(got[0].size(), static_cast<size_t>(kPerPartition));
  consumer->release({held});
  poll_until([&] { return got[0].size() > kPerPartition; });
  ASSERT_EQ(got[0].size(), static_cast<size_t>(kPerPartition) + 1);
  EXPECT_EQ(got[0].back(), kPerPartition);

  // A consumer closed while it holds a partition closes cleanly.
  consumer->hold({held});
  consumer->close();
}

// librdkafka keeps a queue the application once forwarded as the
// application's: after a rebalance gives a once-held partition back, it is
// not forwarded to the consumer again by itself. It must still be read.
TEST(RealBroker, OnceHeldPartitionIsReadAgainAfterARebalanceGivesItBack) {
  std::string topic = test::unique_name("t_rehold");
  ASSERT_TRUE(create_topics(real(), {{topic, 2, 3600000, "delete"}}).empty());
  ConsumerOptions co;
  co.group_id = test::unique_name("g");
  co.topics = {topic};
  co.eager = true;  // every rebalance takes every partition away and back
  Consumer a(real(), co);
  const TopicPartition p0{topic, 0};
  auto assigned = [](Consumer& c) { return c.assignment().size(); };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (assigned(a) < 2 && std::chrono::steady_clock::now() < deadline)
    a.poll(std::chrono::milliseconds(100));
  ASSERT_EQ(assigned(a), 2u);
  a.hold({p0});
  a.release({p0});
  {
    Consumer b(real(), co);
    while (assigned(b) == 0 && std::chrono::steady_clock::now() < deadline) {
      a.poll(std::chrono::milliseconds(50));
      b.poll(std::chrono::milliseconds(50));
    }
    ASSERT_GT(assigned(b), 0u);
    b.close();
  }
  while (assigned(a) < 2 && std::chrono::steady_clock::now() < deadline)
    a.poll(std::chrono::milliseconds(100));
  ASSERT_EQ(assigned(a), 2u);
  {
    Producer producer(real());
    std::mutex mu;
    std::condition_variable cv;
    int acked = 0;
    for (int i = 0; i < 50; ++i) {
      Record r{topic, "k", std::to_string(i), {}};
      r.partition = 0;
      producer.produce(std::move(r), [&](const DeliveryResult& res) {
        std::lock_guard lock(mu);
        acked += res.ok() ? 1 : 0;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return acked == 50; }));
  }
  int from_p0 = 0;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (from_p0 < 50 && std::chrono::steady_clock::now() < deadline)
    if (auto m = a.poll(std::chrono::milliseconds(100)); m && m->partition == 0) ++from_p0;
  EXPECT_EQ(from_p0, 50) << "the once-held partition was not read after the rebalance";
  a.close();
}

// The gateway serves delivery reports on its io thread (serve_reports_on).
// Each callback must run exactly once: on the io thread while it runs, and on
// the producer's own thread once it stopped, so that a draining process still
// hears about every record.
TEST(RealBroker, ReportsRunOnTheIoThreadWhileItRunsAndOnThePollThreadOnceItStopped) {
  std::string topic = test::unique_name("t_io_reports");
  ASSERT_TRUE(create_topics(real(), {{topic, 3, 3600000, "delete"}}).empty());
  boost::asio::io_context io;
  auto producer = std::make_unique<Producer>(real());
  producer->serve_reports_on(io);

  constexpr int kFirst = 500, kSecond = 200;
  std::mutex mu;
  std::condition_variable cv;
  std::map<int, int> calls;  // record -> callbacks
  std::map<std::thread::id, int> threads;
  int failed = 0;
  auto produce = [&](int from, int n) {
    for (int i = from; i < from + n; ++i)
      producer->produce({topic, "k" + std::to_string(i % 7), "v" + std::to_string(i), {}},
                        [&, i](const DeliveryResult& r) {
                          std::lock_guard lock(mu);
                          ++calls[i];
                          ++threads[std::this_thread::get_id()];
                          if (!r.ok()) ++failed;
                          cv.notify_all();
                        });
  };
  // Produced from another thread, as records come from sessions and stages.
  std::thread([&] { produce(0, kFirst); }).join();
  auto count = [&] {
    std::lock_guard lock(mu);
    return calls.size();
  };
  boost::asio::steady_timer check(io);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::function<void()> watch = [&] {
    if (count() >= static_cast<size_t>(kFirst) || std::chrono::steady_clock::now() > deadline) {
      io.stop();
      return;
    }
    check.expires_after(std::chrono::milliseconds(10));
    check.async_wait([&](auto) { watch(); });
  };
  watch();
  io.run();
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(calls.size(), static_cast<size_t>(kFirst));
    ASSERT_EQ(threads.size(), 1u);
    EXPECT_EQ(threads.begin()->first, std::this_thread::get_id()) << "not on the io thread";
    threads.clear();
  }

  // io is stopped now: the producer's own thread serves what follows.
  produce(kFirst, kSecond);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60),
                            [&] { return calls.size() == static_cast<size_t>(kFirst + kSecond); }));
    EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
  }
  producer.reset();
  std::lock_guard lock(mu);
  EXPECT_EQ(failed, 0);
  for (auto [i, n] : calls) EXPECT_EQ(n, 1) << "record " << i;
  delete_topics(real(), {topic});
}

TEST(RealBroker, AnyPartitionRecordsShareAPartitionAMillisecondAndKeyedOnesGoWhereTheirKeyHashes) {
  constexpr int kPartitions = 6;
  std::string topic = test::unique_name("t_any_partition");
  ASSERT_TRUE(create_topics(real(), {{topic, kPartitions, 3600000, "delete"}}).empty());
  Producer producer(real());
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, int32_t> keyed;  // key -> partition
  size_t done = 0, failed = 0;
  auto report = [&](const DeliveryResult& r) {
    if (!r.ok()) ++failed;
    ++done;
    cv.notify_all();
  };
  auto wait_for = [&](size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(60), [&] { return done >= n; });
  };
  // Keyed records first, which also brings the topic's metadata in.
  constexpr int kKeys = 60;
  for (int i = 0; i < kKeys; ++i) {
    std::string key = "msg-" + std::to_string(i * 7919);
    producer.produce({topic, key, "v", {}}, [&, key](const DeliveryResult& r) {
      std::lock_guard lock(mu);
      keyed[key] = r.partition;
      report(r);
    });
  }
  ASSERT_TRUE(wait_for(kKeys));

  // A burst as fast as the loop goes, then one record every 2 ms.
  constexpr size_t kBurst = 3000, kPaced = 30;
  std::vector<int32_t> any(kBurst + kPaced, -1);
  auto produce_any = [&](size_t i) {
    Record rec{topic, "id-" + std::to_string(i), "v", {}};
    rec.partition = kAnyPartition;
    producer.produce(rec, [&, i](const DeliveryResult& r) {
      std::lock_guard lock(mu);
      any[i] = r.partition;
      report(r);
    });
  };
  auto burst_started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kBurst; ++i) produce_any(i);
  auto burst_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - burst_started)
                      .count();
  for (size_t i = kBurst; i < any.size(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    produce_any(i);
  }
  ASSERT_TRUE(wait_for(kKeys + any.size()));
  std::lock_guard lock(mu);
  EXPECT_EQ(failed, 0u);
  // librdkafka's own mapping for a non-empty key (CRC32 of the key), as
  // every earlier Sluice placed it: multipart parts must keep meeting.
  for (const auto& [key, partition] : keyed)
    EXPECT_EQ(partition, rd_kafka_msg_partitioner_consistent(nullptr, key.data(), key.size(),
                                                             kPartitions, nullptr, nullptr))
        << key;
  // The burst changes partition at most once a millisecond; by key, about
  // five records in six would have.
  size_t changes = 0;
  for (size_t i = 1; i < kBurst; ++i) changes += any[i] != any[i - 1];
  EXPECT_LE(changes, static_cast<size_t>(burst_ms) + 1) << "over " << burst_ms << " ms";
  // Over time they spread: 30 records 2 ms apart cannot all share one.
  std::set<int32_t> paced(any.begin() + kBurst, any.end());
  EXPECT_GE(paced.size(), 3u);
  for (int32_t p : any) ASSERT_TRUE(p >= 0 && p < kPartitions) << p;
  delete_topics(real(), {topic});
}

}  // namespace
}  // namespace sluice::kafka
