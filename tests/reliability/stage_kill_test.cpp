// SIGKILL each stage in turn while customers submit: nothing acknowledged is
// lost and every message still gets its DLR. Duplicates are counted and
// reported (a killed stage repeats what it had in flight), never losses.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

TEST(StageKilledUnderLoad, EachStageKilledInTurnLosesNoMessageAndNoDlr) {
  bool long_run =
      std::getenv("SLUICE_LONG_TESTS") && std::string(std::getenv("SLUICE_LONG_TESTS")) == "1";
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
  uint16_t sim_port = free_port(), sim_http = free_port();
  auto sim = cluster.start_smsc_sim(sim_port, sim_http, {"--dlr-delay", "100"});
  cluster.add_provider("sim", sim_port, "simpw", "--binds 2 --window 50 --mps 3000");

  std::map<std::string, TestCluster::Stage> stages;
  for (const char* s : {"gateway", "assembler", "router", "scheduler", "sender", "dlr"})
    stages[s] = cluster.start(s, std::string(s) + "-1");
  int rounds = long_run ? 3 : 1;
  int count = long_run ? 20000 : 4000;
  auto load = Process::start(
      esme_load_argv(stages["gateway"].smpp, "acme", "s3cret",
                     {"--binds", "2", "--count", std::to_string(count), "--rate", "400", "--mix",
                      "gsm7=80,multipart=20", "--dlr-timeout", "150"}),
      cluster.dir() + "/load.json");
  std::vector<double> recovery;
  for (int round = 0; round < rounds; ++round) {
    for (const char* s : {"assembler", "router", "sender", "dlr"}) {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      ASSERT_TRUE(load->alive()) << load->log();
      stages[s].proc->stop(SIGKILL);
      auto t0 = std::chrono::steady_clock::now();
      stages[s] = cluster.start(s, std::string(s) + "-1");
      recovery.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  ASSERT_EQ(load->wait(std::chrono::seconds(400)), 0) << load->log();
  auto text = load->log();
  auto j = nlohmann::json::parse(text.substr(text.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << text;
  std::string stats;
  ASSERT_EQ(http_get(sim_http, "/stats", &stats), 200);
  auto sj = nlohmann::json::parse(stats, nullptr, false);
  double worst = 0;
  for (double d : recovery) worst = std::max(worst, d);
  std::cout << "[ figure ] kills=" << recovery.size() << " submits=" << j["submits"]
            << " acknowledged=" << j["acknowledged"] << " dlr_matched=" << j["dlr"]["matched"]
            << " dlr_missing=" << j["dlr"]["missing"]
            << " dlr_duplicated=" << j["dlr"]["duplicated"]
            << " provider_duplicates=" << sj.value("/submits/duplicates"_json_pointer, -1)
            << " worst_restart_to_ready_s=" << worst << "\n";
  EXPECT_EQ(j["acknowledged"], j["submits"]);
  EXPECT_EQ(j["dlr"]["missing"], 0) << "a DLR was lost";
  EXPECT_EQ(j["dlr"]["matched"], j["dlr"]["expected"]);
  for (auto& [name, st] : stages)
    EXPECT_EQ(st.proc->stop(SIGTERM), 0) << name << ": " << st.proc->log();
}

}  // namespace
}  // namespace sluice::test
