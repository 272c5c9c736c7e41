// Against the real broker: what a stage that queues records for a long time
// (the sender, the return path) gives back when its partitions move.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kafka/admin.h"
#include "kafka/stage_loop.h"
#include "tests/support/env.h"

namespace sluice::kafka {
namespace {

using namespace std::chrono_literals;

KafkaOptions real() {
  KafkaOptions o;
  o.bootstrap = test::kafka_bootstrap();
  o.client_id = "sluice-test";
  return o;
}

void produce_each(const std::string& topic, int partitions, int per_partition) {
  Producer producer(real());
  std::mutex mu;
  std::condition_variable cv;
  int acked = 0;
  for (int p = 0; p < partitions; ++p)
    for (int i = 0; i < per_partition; ++i) {
      Record r{topic, "k", std::to_string(i), {}};
      r.partition = p;
      producer.produce(std::move(r), [&](const DeliveryResult& res) {
        std::lock_guard lock(mu);
        acked += res.ok() ? 1 : 0;
        cv.notify_all();
      });
    }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return acked == partitions * per_partition; }));
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A group in which every rebalance takes every partition away and back.
StageLoopOptions eager_group(const std::string& name, const std::string& topic) {
  StageLoopOptions lo;
  lo.name = name;
  lo.consumer.group_id = test::unique_name("g");
  lo.consumer.topics = {topic};
  lo.consumer.eager = true;
  return lo;
}

// The jobs a stage's own thread would run, each on a thread of its own
// after an optional delay, joined at the end of the test.
struct SlowThread {
  std::chrono::milliseconds delay{0};
  std::mutex mu;
  std::vector<std::thread> threads;
  StageLoop::Poster poster() {
    return [this](std::function<void()> job) {
      std::lock_guard lock(mu);
      threads.emplace_back([job = std::move(job), d = delay] {
        std::this_thread::sleep_for(d);
        job();
      });
    };
  }
  ~SlowThread() {
    std::lock_guard lock(mu);
    for (auto& t : threads) t.join();
  }
};

TEST(RealBroker, RecordsAStageQueuedAreGivenBackOnRevokeAndTheNextOwnerReadsThemAll) {
  std::string topic = test::unique_name("t_giveback");
  ASSERT_TRUE(create_topics(real(), {{topic, 2, 3600000, "delete"}}).empty());
  constexpr int kPerPartition = 20;
  produce_each(topic, 2, kPerPartition);

  auto lo = eager_group("queueing", topic);
  lo.drain_timeout = 1s;  // the first member's queue is never finished
  auto producer = std::make_shared<Producer>(real());

  // First member: queues every record and never finishes one, like a
  // provider link that has not been allowed to send yet.
  struct Queued {
    TopicPartition tp;
    int64_t offset;
  };
  std::mutex mu;
  std::vector<Queued> queued;
  size_t given_back = 0;
  std::unique_ptr<StageLoop> first;
  first = std::make_unique<StageLoop>(real(), lo, producer,
                                      [&](const rd_kafka_message_t& m, StageLoop::Done) {
                                        std::lock_guard lock(mu);
                                        queued.push_back({{topic, m.partition}, m.offset});
                                      });
  SlowThread io;
  first->set_give_back(io.poster(), [&](const std::vector<TopicPartition>& tps) {
    std::lock_guard lock(mu);
    std::set<TopicPartition> gone(tps.begin(), tps.end());
    size_t n = 0;
    std::erase_if(queued, [&](const Queued& q) {
      if (!gone.count(q.tp)) return false;
      first->abandon(q.tp, q.offset);
      ++n;
      return true;
    });
    given_back += n;
    return n;
  });
  first->start();
  ASSERT_TRUE(wait_until(
      [&] {
        std::lock_guard lock(mu);
        return queued.size() == 2 * kPerPartition;
      },
      60s));

  // Second member: finishes what it reads at once.
  std::map<int32_t, std::set<int64_t>> read_by_second;
  StageLoop second(real(), lo, producer, [&](const rd_kafka_message_t& m, StageLoop::Done done) {
    {
      std::lock_guard lock(mu);
      read_by_second[m.partition].insert(m.offset);
    }
    done();
  });
  second.start();
  ASSERT_TRUE(wait_until(
      [&] {
        std::lock_guard lock(mu);
        for (const auto& [p, offsets] : read_by_second)
          if (offsets.size() == kPerPartition) return true;
        return false;
      },
      90s))
      << "the second member did not read a whole partition";
  second.stop();
  first->stop();

  std::lock_guard lock(mu);
  EXPECT_GE(given_back, size_t{kPerPartition});
  for (const auto& [p, offsets] : read_by_second) {
    if (offsets.size() < kPerPartition) continue;
    EXPECT_EQ(*offsets.begin(), 0) << "partition " << p;
    EXPECT_EQ(*offsets.rbegin(), kPerPartition - 1) << "partition " << p;
  }
}

// A give-back that starts after the revoke stopped waiting for it must not
// run at all: by then the next owner may be reading those records, and the
// partitions may even be ours again, queued anew.
TEST(RealBroker, AGiveBackThatStartsAfterTheRevokeStoppedWaitingTakesNothing) {
  std::string topic = test::unique_name("t_lateback");
  ASSERT_TRUE(create_topics(real(), {{topic, 2, 3600000, "delete"}}).empty());
  produce_each(topic, 2, 5);

  auto lo = eager_group("late", topic);
  lo.give_back_wait = 200ms;
  auto producer = std::make_shared<Producer>(real());
  std::atomic<int> read{0}, takes{0}, jobs_run{0};
  auto finish_at_once = [&](const rd_kafka_message_t&, StageLoop::Done done) {
    ++read;
    done();
  };
  SlowThread io;
  io.delay = 1000ms;
  StageLoop first(real(), lo, producer, finish_at_once);
  auto poster = io.poster();
  first.set_give_back(
      [&](std::function<void()> job) {
        poster([&jobs_run, job = std::move(job)] {
          job();
          ++jobs_run;
        });
      },
      [&](const std::vector<TopicPartition>&) {
        ++takes;
        return size_t{0};
      });
  first.start();
  ASSERT_TRUE(wait_until([&] { return read.load() == 10; }, 60s));

  StageLoop second(real(), lo, producer,
                   [](const rd_kafka_message_t&, StageLoop::Done done) { done(); });
  second.start();
  ASSERT_TRUE(wait_until([&] { return jobs_run.load() > 0; }, 90s))
      << "no revoke reached the first member";
  second.stop();
  first.stop();
  EXPECT_EQ(takes.load(), 0);
}

// The handler's thread may be gone (its jobs dropped unrun) when a revoke
// comes: the revoke goes on, and the next owner reads the partitions.
TEST(RealBroker, ARevokeGoesOnWhenTheHandlersThreadDropsTheGiveBack) {
  std::string topic = test::unique_name("t_dropback");
  ASSERT_TRUE(create_topics(real(), {{topic, 2, 3600000, "delete"}}).empty());
  produce_each(topic, 2, 5);

  auto lo = eager_group("dropped", topic);
  auto producer = std::make_shared<Producer>(real());
  std::atomic<int> read{0}, takes{0}, read_by_second{0};
  StageLoop first(real(), lo, producer, [&](const rd_kafka_message_t&, StageLoop::Done done) {
    ++read;
    done();
  });
  first.set_give_back([](std::function<void()>) { /* the thread is gone: the job is dropped */ },
                      [&](const std::vector<TopicPartition>&) {
                        ++takes;
                        return size_t{0};
                      });
  first.start();
  ASSERT_TRUE(wait_until([&] { return read.load() == 10; }, 60s));
  StageLoop second(real(), lo, producer, [&](const rd_kafka_message_t&, StageLoop::Done done) {
    ++read_by_second;
    done();
  });
  second.start();
  // The first member committed what it finished, so the second reads only
  // what arrives after it has its share: keep producing until it reads.
  auto deadline = std::chrono::steady_clock::now() + 90s;
  while (read_by_second.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    produce_each(topic, 2, 1);
    std::this_thread::sleep_for(500ms);
  }
  ASSERT_GT(read_by_second.load(), 0)
      << "the revoke did not complete: the second member read nothing";
  second.stop();
  first.stop();
  EXPECT_EQ(takes.load(), 0);
}

}  // namespace
}  // namespace sluice::kafka
