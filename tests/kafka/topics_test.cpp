// `sluice topics --check` fails on a missing topic and passes after --create;
// bad flags of the commands print their usage.
#include "schema/topics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <thread>

#include "kafka/admin.h"
#include "tests/support/env.h"

namespace {

struct Run {
  int status;
  std::string output;
};

Run run(const std::string& cmd) {
  Run r{-1, {}};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(TopicsCommand, CheckFailsOnMissingTopicsAndPassesAfterCreate) {
  std::string prefix = sluice::test::unique_name("tp") + ".";
  std::string base = sluice::test::sluice_binary() + " topics --kafka " +
                     sluice::test::kafka_bootstrap() + " --topic-prefix " + prefix +
                     " --provider simA";
  auto before = run(base + " --check");
  EXPECT_EQ(before.status, 1) << before.output;
  EXPECT_NE(before.output.find(prefix + "sms.submit: missing"), std::string::npos) << before.output;

  auto created = run(base + " --create");
  EXPECT_EQ(created.status, 0) << created.output;
  auto after = run(base + " --check");
  EXPECT_EQ(after.status, 0) << after.output;

  // Creating again changes nothing and still passes.
  EXPECT_EQ(run(base + " --create").status, 0);

  // Delete one topic: --check names it.
  sluice::kafka::KafkaOptions ko;
  ko.bootstrap = sluice::test::kafka_bootstrap();
  ASSERT_TRUE(sluice::kafka::delete_topics(ko, {prefix + "sms.deliver"}).empty());
  // A deleted topic leaves the brokers' metadata after a moment.
  auto again = run(base + " --check");
  for (int i = 0; i < 40 && again.status != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    again = run(base + " --check");
  }
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.output.find(prefix + "sms.deliver: missing"), std::string::npos) << again.output;

  std::vector<std::string> names;
  for (const auto& t : sluice::schema::topics(prefix)) names.push_back(t.name);
  names.push_back(prefix + "sms.out.simA");
  sluice::kafka::delete_topics(ko, names);
}

// A deployment sizes the topics that carry a stage's traffic; the others
// (delay tiers, compacted tables) keep the table's count.
TEST(TopicsCommand, PartitionsSizesTheStageTopicsAndCheckHoldsThemToIt) {
  std::string prefix = sluice::test::unique_name("tparts") + ".";
  std::string base = sluice::test::sluice_binary() + " topics --kafka " +
                     sluice::test::kafka_bootstrap() + " --topic-prefix " + prefix;
  auto created = run(base + " --create --partitions 3");
  ASSERT_EQ(created.status, 0) << created.output;
  EXPECT_EQ(run(base + " --check --partitions 3").status, 0);
  // The table's default (6) wants more than were made.
  auto fewer = run(base + " --check");
  EXPECT_EQ(fewer.status, 1);
  EXPECT_NE(fewer.output.find(prefix + "sms.submit: has 3 partitions, wants 6"), std::string::npos)
      << fewer.output;
  EXPECT_EQ(fewer.output.find(prefix + "sms.delay.10s:"), std::string::npos) << fewer.output;

  auto listed = run(base + " --list --partitions 24");
  EXPECT_NE(listed.output.find(prefix + "sms.accepted\tpartitions=24"), std::string::npos)
      << listed.output;
  EXPECT_NE(listed.output.find(prefix + "sms.delay.10s\tpartitions=4"), std::string::npos)
      << listed.output;

  for (const char* bad : {"0", "-2", "many", "7x"}) {
    auto r = run(base + " --list --partitions " + bad);
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_NE(r.output.find("usage: sluice topics"), std::string::npos) << r.output;
  }

  sluice::kafka::KafkaOptions ko;
  ko.bootstrap = sluice::test::kafka_bootstrap();
  std::vector<std::string> names;
  for (const auto& t : sluice::schema::topics(prefix)) names.push_back(t.name);
  sluice::kafka::delete_topics(ko, names);
}

TEST(TopicsCommand, BadFlagPrintsUsageAndExitsNonZero) {
  auto r = run(sluice::test::sluice_binary() + " topics --bogus");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("usage: sluice topics"), std::string::npos) << r.output;
  auto r2 = run(sluice::test::sluice_binary() + " nosuchcommand");
  EXPECT_EQ(r2.status, 2);
  EXPECT_NE(r2.output.find("usage: sluice"), std::string::npos);
}

// A CA file for providers' TLS that cannot be read is a usage error at
// start, not a provider that silently never binds.
TEST(StageCommand, AnUnreadableProviderCaFilePrintsUsageAndExitsTwo) {
  auto r = run(sluice::test::sluice_binary() + " sender --provider-ca /nonexistent/ca.pem");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--provider-ca: cannot read /nonexistent/ca.pem"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("usage: sluice sender"), std::string::npos) << r.output;
  auto help = run(sluice::test::sluice_binary() + " sender --help");
  EXPECT_NE(help.output.find("--provider-ca FILE"), std::string::npos) << help.output;
}

// A stage's numeric flags are checked before anything starts: a bad value is
// named, the usage follows, and the exit status is 2.
TEST(StageCommand, OutOfRangeNumericFlagsPrintUsageAndExitTwo) {
  const std::string bin = sluice::test::sluice_binary();
  for (const char* args : {"dlr --dlr-coalesce-ms 60001", "dlr --dlr-coalesce-ms -5",
                           "gateway --kafka-linger-ms 1001", "router --kafka-linger-ms abc",
                           "gateway --kafka-linger-ms ''", "gateway --status-entries 999"}) {
    auto r = run(bin + " " + args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.output;
    EXPECT_NE(r.output.find("wants a number"), std::string::npos) << args << ": " << r.output;
    EXPECT_NE(r.output.find("usage: sluice"), std::string::npos) << args << ": " << r.output;
  }
  auto help = run(bin + " dlr --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.output.find("--dlr-coalesce-ms"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("--kafka-linger-ms"), std::string::npos) << help.output;
}

}  // namespace
