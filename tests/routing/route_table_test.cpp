// Route selection: the order of preference, weights, failover, no route.
#include "routing/route_table.h"

#include <gtest/gtest.h>

#include <map>

#include "routing/hash.h"
#include "tests/routing/support.h"

namespace sluice::routing {
namespace {

using test::provider;
using test::route;
using test::snapshot;

const config::Provider* pick(const RouteTable& t, int64_t customer, const std::string& dest,
                             const std::string& id = "m1", const ProviderUp& up = {}) {
  auto r = t.select(customer, dest, stable_hash(id), up);
  return r.choice ? r.choice->provider : nullptr;
}

TEST(RouteSelection, CustomerRouteBeatsGeneralRouteEvenWithAShorterPrefix) {
  RouteTable t(snapshot({provider(1, "custom"), provider(2, "general")},
                        {route(1, 7, "", 0, 1), route(2, std::nullopt, "4479", 0, 2)}));
  EXPECT_EQ(pick(t, 7, "447911123456")->name, "custom");
  EXPECT_EQ(pick(t, 8, "447911123456")->name, "general");
}

TEST(RouteSelection, LongestPrefixWinsAndPlusIsIgnored) {
  RouteTable t(snapshot({provider(1, "uk"), provider(2, "uk-mobile"), provider(3, "world")},
                        {route(1, std::nullopt, "44", 0, 1), route(2, std::nullopt, "4479", 0, 2),
                         route(3, std::nullopt, "", 0, 3)}));
  EXPECT_EQ(pick(t, 7, "447911123456")->name, "uk-mobile");
  EXPECT_EQ(pick(t, 7, "+447911123456")->name, "uk-mobile");
  EXPECT_EQ(pick(t, 7, "442071234567")->name, "uk");
  EXPECT_EQ(pick(t, 7, "33612345678")->name, "world");
}

TEST(RouteSelection, LowerPriorityNumberWinsBetweenEqualPrefixes) {
  RouteTable t(snapshot({provider(1, "second"), provider(2, "first")},
                        {route(1, std::nullopt, "44", 5, 1), route(2, std::nullopt, "44", 1, 2)}));
  EXPECT_EQ(pick(t, 7, "447911123456")->name, "first");
}

TEST(RouteSelection, PriorityDoesNotBeatALongerPrefix) {
  RouteTable t(
      snapshot({provider(1, "short"), provider(2, "long")},
               {route(1, std::nullopt, "44", 0, 1), route(2, std::nullopt, "4479", 100, 2)}));
  EXPECT_EQ(pick(t, 7, "447911123456")->name, "long");
}

TEST(RouteSelection, WeightsSplitTrafficWithinTwoPercentagePointsOver10000Messages) {
  RouteTable t(
      snapshot({provider(1, "a"), provider(2, "b"), provider(3, "c")},
               {route(1, std::nullopt, "44", 0, 1, 70), route(2, std::nullopt, "44", 0, 2, 20),
                route(3, std::nullopt, "44", 0, 3, 10)}));
  std::map<std::string, int> counts;
  constexpr int kN = 10000;
  for (int i = 0; i < kN; ++i) counts[pick(t, 7, "447911123456", test::gateway_like_id(i))->name]++;
  EXPECT_NEAR(counts["a"] * 100.0 / kN, 70.0, 2.0);
  EXPECT_NEAR(counts["b"] * 100.0 / kN, 20.0, 2.0);
  EXPECT_NEAR(counts["c"] * 100.0 / kN, 10.0, 2.0);
}

TEST(RouteSelection, TheSameIdAlwaysPicksTheSameProvider) {
  RouteTable t(
      snapshot({provider(1, "a"), provider(2, "b")},
               {route(1, std::nullopt, "", 0, 1, 50), route(2, std::nullopt, "", 0, 2, 50)}));
  for (int i = 0; i < 200; ++i) {
    auto id = test::gateway_like_id(i);
    auto* first = pick(t, 7, "4479", id);
    // A new table from an equal snapshot (as after a restart) agrees too.
    RouteTable again(
        snapshot({provider(2, "b"), provider(1, "a")},
                 {route(2, std::nullopt, "", 0, 2, 50), route(1, std::nullopt, "", 0, 1, 50)}));
    EXPECT_EQ(first->name, pick(again, 7, "4479", id)->name);
  }
}

TEST(RouteSelection, ZeroWeightTakesNoShareUnlessAllAreZero) {
  RouteTable t(
      snapshot({provider(1, "a"), provider(2, "standby")},
               {route(1, std::nullopt, "", 0, 1, 100), route(2, std::nullopt, "", 0, 2, 0)}));
  for (int i = 0; i < 500; ++i) EXPECT_EQ(pick(t, 7, "4479", test::gateway_like_id(i))->name, "a");
  RouteTable z(
      snapshot({provider(1, "a"), provider(2, "b")},
               {route(1, std::nullopt, "", 0, 1, 0), route(2, std::nullopt, "", 0, 2, 0)}));
  std::map<std::string, int> counts;
  for (int i = 0; i < 1000; ++i) counts[pick(z, 7, "4479", test::gateway_like_id(i))->name]++;
  EXPECT_GT(counts["a"], 400);
  EXPECT_GT(counts["b"], 400);
}

TEST(RouteSelection, FailoverOrderTakesOverWhenTheChosenProviderIsDisabled) {
  RouteTable t(snapshot(
      {provider(1, "primary", false), provider(2, "backup")},
      {route(1, std::nullopt, "44", 0, 1, 100, 0), route(2, std::nullopt, "44", 0, 2, 100, 1)}));
  auto r = t.select(7, "447911123456", 1, {});
  ASSERT_TRUE(r.choice);
  EXPECT_EQ(r.choice->provider->name, "backup");
  EXPECT_FALSE(r.choice->degraded);
}

TEST(RouteSelection, ADownProviderSharesGoToItsPeersBeforeTheNextFailoverOrder) {
  RouteTable t(
      snapshot({provider(1, "a", false), provider(2, "b"), provider(3, "backup")},
               {route(1, std::nullopt, "", 0, 1, 50, 0), route(2, std::nullopt, "", 0, 2, 50, 0),
                route(3, std::nullopt, "", 0, 3, 100, 1)}));
  for (int i = 0; i < 300; ++i) EXPECT_EQ(pick(t, 7, "4479", test::gateway_like_id(i))->name, "b");
}

TEST(RouteSelection, FailoverWhenTheCircuitIsOpen) {
  RouteTable t(snapshot(
      {provider(1, "primary"), provider(2, "backup")},
      {route(1, std::nullopt, "44", 0, 1, 100, 0), route(2, std::nullopt, "44", 0, 2, 100, 1)}));
  ProviderUp primary_down = [](const config::Provider& p) { return p.name != "primary"; };
  EXPECT_EQ(pick(t, 7, "447911123456", "m1", primary_down)->name, "backup");
  EXPECT_EQ(pick(t, 7, "447911123456", "m1")->name, "primary");
}

TEST(RouteSelection, WhenTheWholeBestGroupIsDownTheNextGroupServes) {
  RouteTable t(snapshot({provider(1, "mobile", false), provider(2, "default")},
                        {route(1, std::nullopt, "4479", 0, 1), route(2, std::nullopt, "", 0, 2)}));
  EXPECT_EQ(pick(t, 7, "447911123456")->name, "default");
}

TEST(RouteSelection, WithEveryCircuitOpenTheBestEnabledProviderStillGetsTheMessage) {
  RouteTable t(snapshot(
      {provider(1, "primary"), provider(2, "backup")},
      {route(1, std::nullopt, "44", 0, 1, 100, 0), route(2, std::nullopt, "44", 0, 2, 100, 1)}));
  auto r = t.select(7, "447911123456", 1, [](const config::Provider&) { return false; });
  ASSERT_TRUE(r.choice);
  EXPECT_EQ(r.choice->provider->name, "primary");
  EXPECT_TRUE(r.choice->degraded);
}

TEST(RouteSelection, NoRouteAndNoEnabledProviderAreTold) {
  RouteTable t(
      snapshot({provider(1, "uk"), provider(2, "off", false)},
               {route(1, std::nullopt, "44", 0, 1), route(2, std::nullopt, "33", 0, 2),
                route(3, 9, "", 0, 1), route(4, std::nullopt, "49", 0, 1, 100, 0, false)}));
  auto none = t.select(7, "12025550100", 1, {});
  EXPECT_FALSE(none.choice);
  EXPECT_EQ(none.reason, "no route");
  auto disabled_route = t.select(7, "4915112345678", 1, {});
  EXPECT_FALSE(disabled_route.choice);
  EXPECT_EQ(disabled_route.reason, "no route");
  auto off = t.select(7, "33612345678", 1, {});
  EXPECT_FALSE(off.choice);
  EXPECT_EQ(off.reason, "no enabled provider");
  EXPECT_EQ(t.select(9, "12025550100", 1, {}).choice->provider->name, "uk");
}

TEST(RouteSelection, ARouteToAProviderMissingFromTheSnapshotIsSkipped) {
  RouteTable t(snapshot({provider(2, "b")},
                        {route(1, std::nullopt, "44", 0, 1), route(2, std::nullopt, "", 0, 2)}));
  EXPECT_EQ(pick(t, 7, "447911123456")->name, "b");
}

TEST(WeightedPick, FollowsTheWeights) {
  EXPECT_EQ(weighted_pick({0, 5, 0}, 0), 1u);
  EXPECT_EQ(weighted_pick({3, 2}, 2), 0u);
  EXPECT_EQ(weighted_pick({3, 2}, 3), 1u);
  EXPECT_EQ(weighted_pick({3, 2}, 5), 0u);
}

}  // namespace
}  // namespace sluice::routing
