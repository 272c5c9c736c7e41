// The router's per-message decisions, without Kafka.
#include <gtest/gtest.h>

#include "routing/record_util.h"
#include "routing/router.h"
#include "schema/receipts.h"
#include "tests/routing/support.h"

namespace sluice::routing {
namespace {

using Kind = Decision::Kind;

struct RouterLogic : ::testing::Test {
  Router router{"p.", DelayTiers("p.", default_tier_names()), std::chrono::milliseconds(100), 1000};
  CircuitBreaker breaker;
  RouteTable table{test::snapshot({test::provider(1, "alpha"), test::provider(2, "beta")},
                                  {test::route(1, std::nullopt, "44", 0, 1, 50),
                                   test::route(2, std::nullopt, "44", 0, 2, 50)})};
  int64_t now = 1700000000000;

  std::vector<kafka::Record> out(const Decision& d, records::v1::Message& m) {
    return router.records_for(d, m, m.SerializeAsString(), {{"x-trace", "t1"}}, now);
  }
};

records::v1::Deliver deliver_of(const kafka::Record& r) {
  records::v1::Deliver d;
  EXPECT_TRUE(d.ParseFromString(r.value));
  return d;
}

TEST_F(RouterLogic, AnExpiredMessageGetsAnExpiredReceiptAndNoProvider) {
  auto m = test::message("m1", "447911123456");
  m.set_expire_at_ms(now - 1);
  auto d = router.decide(m, false, table, breaker, now);
  EXPECT_EQ(d.kind, Kind::expired);
  auto recs = out(d, m);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].topic, "p.sms.deliver");
  EXPECT_EQ(recs[0].key, "7");
  auto r = deliver_of(recs[0]);
  EXPECT_EQ(r.id(), "m1");
  EXPECT_EQ(r.stat(), "EXPIRED");
  EXPECT_EQ(r.message_state(), schema::kStateExpired);
  EXPECT_EQ(r.err(), "000");
  m.set_registered_delivery(0);
  EXPECT_TRUE(out(d, m).empty());
}

TEST_F(RouterLogic, AMessageNotYetDueGoesToTheTierItsWaitCallsFor) {
  struct Case {
    int64_t wait;
    const char* topic;
  } cases[] = {{2000, "p.sms.delay.10s"},
               {30000, "p.sms.delay.10s"},
               {7 * 60000, "p.sms.delay.5m"},
               {2 * 3600000, "p.sms.delay.1h"}};
  for (const auto& c : cases) {
    auto m = test::message("m1", "447911123456");
    m.set_schedule_at_ms(now + c.wait);
    auto d = router.decide(m, false, table, breaker, now);
    ASSERT_EQ(d.kind, Kind::delay);
    auto recs = out(d, m);
    ASSERT_EQ(recs.size(), 1u);
    EXPECT_EQ(recs[0].topic, c.topic);
    EXPECT_EQ(recs[0].key, "m1");
    EXPECT_EQ(recs[0].value, m.SerializeAsString());
    Headers want{
        {"x-trace", "t1"}, {"time", std::to_string(now + c.wait)}, {"topic", "p.sms.accepted"}};
    EXPECT_EQ(recs[0].headers, want);
  }
}

TEST_F(RouterLogic, WhatTheSchedulerReleasedIsRoutedEvenIfThisClockSaysItIsEarly) {
  auto m = test::message("m1", "447911123456");
  m.set_schedule_at_ms(now + 500);
  EXPECT_EQ(router.decide(m, false, table, breaker, now).kind, Kind::delay);
  EXPECT_EQ(router.decide(m, true, table, breaker, now).kind, Kind::route);
  m.set_schedule_at_ms(now + 50);
  EXPECT_EQ(router.decide(m, false, table, breaker, now).kind, Kind::route);
}

TEST_F(RouterLogic, NoRouteEndsWithAnUndeliverableReceipt) {
  auto m = test::message("m1", "12025550100");
  auto d = router.decide(m, false, table, breaker, now);
  EXPECT_EQ(d.kind, Kind::no_route);
  auto recs = out(d, m);
  ASSERT_EQ(recs.size(), 1u);
  auto r = deliver_of(recs[0]);
  EXPECT_EQ(r.stat(), "UNDELIV");
  EXPECT_EQ(r.err(), "001");
  EXPECT_EQ(r.reason(), "no route");
  EXPECT_EQ(r.dest().addr(), "SENDER");
}

TEST_F(RouterLogic, ARoutedMessageNamesItsProviderAndGoesToItsTopic) {
  auto m = test::message("m1", "447911123456");
  auto d = router.decide(m, false, table, breaker, now);
  ASSERT_EQ(d.kind, Kind::route);
  auto recs = out(d, m);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].topic, "p.sms.out." + d.provider->name);
  EXPECT_EQ(recs[0].key, "447911123456");
  records::v1::Message back;
  ASSERT_TRUE(back.ParseFromString(recs[0].value));
  EXPECT_EQ(back.provider_id(), d.provider->id);
  EXPECT_EQ(back.provider_name(), d.provider->name);
}

TEST_F(RouterLogic, PartsFollowTheFirstPartEvenWhenItsCircuitOpensInBetween) {
  auto p1 = test::part("a", "447911123456", 5, 1, 3);
  auto d1 = router.decide(p1, false, table, breaker, now);
  ASSERT_EQ(d1.kind, Kind::route);
  breaker.on_signal({d1.provider->id, false, now, "down"});
  for (uint32_t seq : {2u, 3u}) {
    auto p =
        test::part(std::string(1, static_cast<char>('a' + seq - 1)), "447911123456", 5, seq, 3);
    auto d = router.decide(p, false, table, breaker, now + 5);
    ASSERT_EQ(d.kind, Kind::route);
    EXPECT_EQ(d.provider->id, d1.provider->id);
    EXPECT_EQ(out(d, p)[0].key, "7|SENDER|447911123456|5");
  }
  // The next message of that customer avoids the open circuit.
  auto next = test::part("z", "447911123456", 6, 1, 2);
  EXPECT_NE(router.decide(next, false, table, breaker, now + 10).provider->id, d1.provider->id);
}

TEST_F(RouterLogic, ADelayedGroupIsRoutedWhenTheSchedulerReleasesIt) {
  auto p1 = test::part("a", "447911123456", 5, 1, 2);
  auto p2 = test::part("b", "447911123456", 5, 2, 2);
  p1.set_schedule_at_ms(now + 60000);
  p2.set_schedule_at_ms(now + 60000);
  EXPECT_EQ(router.decide(p1, false, table, breaker, now).kind, Kind::delay);
  auto d2 = router.decide(p2, false, table, breaker, now);
  EXPECT_EQ(d2.kind, Kind::delay);
  EXPECT_EQ(out(d2, p2)[0].key, "7|SENDER|447911123456|5");
  auto r1 = router.decide(p1, true, table, breaker, now + 60000);
  auto r2 = router.decide(p2, true, table, breaker, now + 60001);
  ASSERT_EQ(r1.kind, Kind::route);
  ASSERT_EQ(r2.kind, Kind::route);
  EXPECT_EQ(r1.provider->id, r2.provider->id);
}

}  // namespace
}  // namespace sluice::routing
