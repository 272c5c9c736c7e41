// The delay tiers: the choice of tier, and a simulation of the whole scheme
// showing that a partition's head is never held back by the record in front
// of it and that every message leaves exactly at its due time.
#include "routing/tiers.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <queue>
#include <random>

namespace sluice::routing {
namespace {

TEST(DelayTiers, ParsesDurations) {
  EXPECT_EQ(parse_duration_ms("10s"), 10000);
  EXPECT_EQ(parse_duration_ms("5m"), 300000);
  EXPECT_EQ(parse_duration_ms("1h"), 3600000);
  EXPECT_EQ(parse_duration_ms("2d"), 172800000);
  EXPECT_EQ(parse_duration_ms("250ms"), 250);
  EXPECT_FALSE(parse_duration_ms("10"));
  EXPECT_FALSE(parse_duration_ms("s"));
  EXPECT_FALSE(parse_duration_ms("0s"));
  EXPECT_FALSE(parse_duration_ms("-5s"));
  EXPECT_FALSE(parse_duration_ms("5x"));
  EXPECT_EQ(parse_epoch_ms("1700000000000"), 1700000000000);
  EXPECT_FALSE(parse_epoch_ms("17e3"));
  EXPECT_FALSE(parse_epoch_ms(""));
}

TEST(DelayTiers, TakesTheLargestTierNotLongerThanTheWait) {
  DelayTiers t("p.", {"1h", "10s", "5m"});
  EXPECT_EQ(t.nearest().name, "10s");
  EXPECT_EQ(t.for_wait(0).name, "10s");
  EXPECT_EQ(t.for_wait(9999).name, "10s");
  EXPECT_EQ(t.for_wait(10000).name, "10s");
  EXPECT_EQ(t.for_wait(299999).name, "10s");
  EXPECT_EQ(t.for_wait(300000).name, "5m");
  EXPECT_EQ(t.for_wait(3599999).name, "5m");
  EXPECT_EQ(t.for_wait(3600000).name, "1h");
  EXPECT_EQ(t.for_wait(86400000).name, "1h");
  EXPECT_EQ(t.for_wait(3600000).topic, "p.sms.delay.1h");
  ASSERT_NE(t.by_topic("p.sms.delay.5m"), nullptr);
  EXPECT_EQ(t.by_topic("p.sms.delay.5m")->delay_ms, 300000);
  EXPECT_EQ(t.by_topic("p.sms.delay.2m"), nullptr);
}

TEST(DelayTiers, ReleaseIsTheEarlierOfDueAndEntryPlusDelay) {
  DelayTiers t("", {"10s", "5m"});
  EXPECT_EQ(DelayTiers::release_at(t.nearest(), 1000, 5000), 5000);
  EXPECT_EQ(DelayTiers::release_at(t.nearest(), 1000, 50000), 11000);
}

TEST(DelayTiers, RejectsBadTierLists) {
  EXPECT_THROW(DelayTiers("", {}), std::invalid_argument);
  EXPECT_THROW(DelayTiers("", {"10q"}), std::invalid_argument);
  EXPECT_THROW(DelayTiers("", {"60s", "1m"}), std::invalid_argument);
}

// A discrete-event model of router + scheduler: tiers other than the smallest
// are FIFO partitions whose head alone is waited for; the smallest releases
// each record at its own time. Nothing takes processing time, so any
// lateness or blocking the model shows would be the design's own.
struct Simulation {
  struct Rec {
    int id = 0;
    int64_t due = 0;
    int64_t release = 0;
    int hops = 0;
  };
  struct Event {
    int64_t at;
    uint64_t seq;
    int kind;  // 0 arrives, 1 smallest-tier release, 2 head of a FIFO tier partition
    size_t tier;
    int partition;
    Rec rec;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return std::tie(a.at, a.seq) > std::tie(b.at, b.seq);
    }
  };

  DelayTiers tiers;
  int partitions;
  std::priority_queue<Event, std::vector<Event>, Later> events;
  std::map<std::pair<size_t, int>, std::deque<Rec>> fifo;
  uint64_t seq = 0;
  std::vector<int64_t> lateness;
  std::vector<int> hops;
  int64_t max_blocking = 0;
  bool early = false;

  Simulation(std::vector<std::string> names, int parts) : tiers("", names), partitions(parts) {}

  size_t index_of(const Tier& t) const {
    for (size_t i = 0; i < tiers.all().size(); ++i)
      if (tiers.all()[i].delay_ms == t.delay_ms) return i;
    return 0;
  }

  void route(Rec r, int64_t now) {
    if (r.due <= now) {
      lateness.push_back(now - r.due);
      hops.push_back(r.hops);
      return;
    }
    const Tier& t = tiers.for_wait(r.due - now);
    r.release = DelayTiers::release_at(t, now, r.due);
    if (r.release > r.due) early = true;
    ++r.hops;
    int p = r.id % partitions;
    size_t ti = index_of(t);
    if (tiers.is_nearest(t)) {
      events.push({r.release, seq++, 1, ti, p, r});
      return;
    }
    auto& q = fifo[{ti, p}];
    q.push_back(r);
    if (q.size() == 1) events.push({r.release, seq++, 2, ti, p, r});
  }

  void run() {
    while (!events.empty()) {
      Event e = events.top();
      events.pop();
      if (e.kind == 0 || e.kind == 1) {
        route(e.rec, e.at);
        continue;
      }
      auto& q = fifo[{e.tier, e.partition}];
      Rec head = q.front();
      q.pop_front();
      route(head, e.at);
      if (!q.empty()) {
        // The next record becomes head now; it must not have been due earlier.
        max_blocking = std::max(max_blocking, e.at - q.front().release);
        events.push({std::max(e.at, q.front().release), seq++, 2, e.tier, e.partition, q.front()});
      }
    }
  }
};

TEST(DelayTiers, SimulatedMessagesLeaveExactlyOnTimeAndNoHeadWaitsBehindAnother) {
  Simulation sim({"10s", "5m", "1h"}, 4);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> arrive(0, 2 * 3600 * 1000);
  std::uniform_int_distribution<int64_t> wait(0, 3 * 3600 * 1000);
  const std::vector<int64_t> edges{0,      1,      9999,    10000,   10001,  299999,
                                   300000, 300001, 3599999, 3600000, 3600001};
  constexpr int kN = 20000;
  for (int i = 0; i < kN; ++i) {
    int64_t at = arrive(rng);
    int64_t w = i < static_cast<int>(edges.size()) * 50
                    ? edges[static_cast<size_t>(i) % edges.size()]
                    : wait(rng);
    Simulation::Rec r;
    r.id = i;
    r.due = at + w;
    sim.events.push({at, sim.seq++, 0, 0, 0, r});
  }
  sim.run();
  ASSERT_EQ(sim.lateness.size(), static_cast<size_t>(kN));
  EXPECT_EQ(*std::max_element(sim.lateness.begin(), sim.lateness.end()), 0);
  EXPECT_EQ(sim.max_blocking, 0);
  EXPECT_FALSE(sim.early);
  // Hops: at most one per whole hour, 11 five-minute and 29 ten-second hops,
  // and the last one into the smallest tier.
  int max_hops = *std::max_element(sim.hops.begin(), sim.hops.end());
  EXPECT_LE(max_hops, 3 + 11 + 29 + 1);
}

TEST(DelayTiers, MoreTiersMeanFewerHops) {
  auto average_hops = [](std::vector<std::string> names) {
    Simulation sim(std::move(names), 4);
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<int64_t> wait(0, 3600 * 1000);
    for (int i = 0; i < 5000; ++i) {
      Simulation::Rec r;
      r.id = i;
      r.due = i + wait(rng);
      sim.events.push({i, sim.seq++, 0, 0, 0, r});
    }
    sim.run();
    EXPECT_EQ(*std::max_element(sim.lateness.begin(), sim.lateness.end()), 0);
    EXPECT_EQ(sim.max_blocking, 0);
    double sum = 0;
    for (int h : sim.hops) sum += h;
    return sum / static_cast<double>(sim.hops.size());
  };
  double three = average_hops({"10s", "5m", "1h"});
  double five = average_hops({"10s", "1m", "5m", "20m", "1h"});
  EXPECT_LT(five, three / 2);
  std::printf("average hops for waits up to 1 h: 10s/5m/1h %.1f; 10s/1m/5m/20m/1h %.1f\n", three,
              five);
}

}  // namespace
}  // namespace sluice::routing
