// The simulators' shared pieces that have logic of their own.
#include <gtest/gtest.h>

#include "simulators/simkit/args.h"
#include "simulators/simkit/histogram.h"

namespace sluice::sim {
namespace {

TEST(Histogram, PercentilesWithinBucketPrecision) {
  Histogram h;
  EXPECT_EQ(h.percentile(0.5), 0u);
  for (uint64_t v = 1; v <= 100000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_EQ(h.max(), 100000u);
  EXPECT_EQ(h.min(), 1u);
  for (double p : {0.5, 0.9, 0.99}) {
    const double want = p * 100000;
    EXPECT_NEAR(static_cast<double>(h.percentile(p)), want, want * 0.02) << p;
  }
  EXPECT_EQ(h.percentile(1.0), 100000u);
  Histogram small;
  for (uint64_t v : {3, 5, 7}) small.record(v);
  EXPECT_EQ(small.percentile(0.5), 5u);  // exact below 128
  small.record(UINT64_MAX);
  EXPECT_EQ(small.max(), UINT64_MAX);
}

TEST(ArgParser, StrictAboutNamesAndValues) {
  uint32_t n = 0;
  bool flag = true;
  ArgParser p("usage");
  p.value("--n", [&](std::string_view v) -> std::string { return parse_u32(v, n) ? "" : "bad"; });
  p.flag("--flag", [&](bool on) { flag = on; });
  auto parse = [&](std::vector<std::string> args) {
    std::vector<char*> argv{const_cast<char*>("prog")};
    for (auto& a : args) argv.push_back(a.data());
    return p.parse(static_cast<int>(argv.size()), argv.data());
  };
  EXPECT_EQ(parse({"--n", "5", "--no-flag"}), ArgParser::Outcome::Run);
  EXPECT_EQ(n, 5u);
  EXPECT_FALSE(flag);
  EXPECT_EQ(parse({"--n=7", "--flag"}), ArgParser::Outcome::Run);
  EXPECT_EQ(n, 7u);
  EXPECT_TRUE(flag);
  EXPECT_EQ(parse({"--flag=0"}), ArgParser::Outcome::Run);
  EXPECT_FALSE(flag);
  EXPECT_EQ(parse({"--help"}), ArgParser::Outcome::Help);
  EXPECT_EQ(parse({"--m", "1"}), ArgParser::Outcome::Error);
  EXPECT_EQ(parse({"--n", "x"}), ArgParser::Outcome::Error);
  EXPECT_EQ(parse({"--n"}), ArgParser::Outcome::Error);
  EXPECT_EQ(parse({"--no-n"}), ArgParser::Outcome::Error);
  EXPECT_EQ(parse({"stray"}), ArgParser::Outcome::Error);
}

TEST(ArgParser, NumberAndWeightParsers) {
  double d = 0;
  EXPECT_TRUE(parse_fraction("0.25", d));
  EXPECT_EQ(d, 0.25);
  EXPECT_FALSE(parse_fraction("1.5", d));
  EXPECT_FALSE(parse_fraction("nan", d));
  uint64_t u = 0;
  EXPECT_FALSE(parse_u64("-1", u));
  EXPECT_FALSE(parse_u64("12x", u));
  std::vector<std::pair<std::string, double>> w;
  EXPECT_TRUE(parse_weights("gsm7=70,ucs2=20,multipart=10", w));
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[2].first, "multipart");
  EXPECT_EQ(w[2].second, 10);
  EXPECT_FALSE(parse_weights("gsm7", w));
  EXPECT_FALSE(parse_weights("a=-1", w));
}

}  // namespace
}  // namespace sluice::sim
