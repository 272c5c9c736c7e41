// The circuit breaker and the provider-health record.
#include "routing/health.h"

#include <gtest/gtest.h>

namespace sluice::routing {
namespace {

using State = CircuitBreaker::State;

TEST(CircuitBreaker, OpensOnUnhealthyAndClosesOnHealthy) {
  CircuitBreaker cb(std::chrono::seconds(30));
  EXPECT_EQ(cb.state(1, 1000), State::closed);
  cb.on_signal({1, false, 1000, "binds down"});
  EXPECT_EQ(cb.state(1, 1500), State::open);
  EXPECT_FALSE(cb.allows(1, 1500));
  EXPECT_TRUE(cb.allows(2, 1500));
  cb.on_signal({1, true, 2000, ""});
  EXPECT_EQ(cb.state(1, 2500), State::closed);
}

TEST(CircuitBreaker, GoesHalfOpenWhenUnhealthyReportsStop) {
  CircuitBreaker cb(std::chrono::seconds(30));
  cb.on_signal({1, false, 1000, ""});
  EXPECT_EQ(cb.state(1, 30999), State::open);
  EXPECT_EQ(cb.state(1, 31000), State::half_open);
  EXPECT_TRUE(cb.allows(1, 31000));
  cb.on_signal({1, false, 40000, ""});
  EXPECT_EQ(cb.state(1, 40001), State::open);
}

TEST(CircuitBreaker, AnOlderSignalDoesNotOverrideANewerOne) {
  CircuitBreaker cb;
  cb.on_signal({1, true, 5000, ""});
  cb.on_signal({1, false, 4000, ""});
  EXPECT_EQ(cb.state(1, 5001), State::closed);
}

TEST(HealthRecord, RoundTripsAndRejectsJunk) {
  auto s = decode_health(encode_health({7, false, 1700000000123, "enquire_link timeout"}));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->provider_id, 7);
  EXPECT_FALSE(s->healthy);
  EXPECT_EQ(s->at_ms, 1700000000123);
  EXPECT_EQ(s->reason, "enquire_link timeout");
  EXPECT_FALSE(decode_health("not json"));
  EXPECT_FALSE(decode_health(R"({"provider_id": "7", "healthy": true, "at_ms": 1})"));
  EXPECT_FALSE(decode_health(R"({"provider_id": 7, "at_ms": 1})"));
}

TEST(HealthRecord, TopicRegexMatchesOnlyTheName) {
  EXPECT_EQ(regex_exact("t_1.sms.provider-health"), "^t_1\\.sms\\.provider-health$");
}

}  // namespace
}  // namespace sluice::routing
