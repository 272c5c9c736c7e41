// smsc-sim against python-smpplib, a third-party SMPP client.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "tests/simulators/harness.h"

namespace sluice::test::sim {
namespace {

std::string venv_python() {
  const char* cache = std::getenv("SLUICE_CACHE_DIR");
  std::string dir = cache && *cache ? cache : std::string(SLUICE_SOURCE_DIR) + "/.cache";
  return dir + "/venv/bin/python";
}

TEST(SmppLibInterop, BindSubmitReceiveReceiptUnbind) {
  const std::string python = venv_python();
  ASSERT_EQ(access(python.c_str(), X_OK), 0)
      << python
      << " is missing: run scripts/test (or scripts/install-deps), which creates the venv";
  SimProcess sim({"--dlr-delay", "20", "--dlr-mix", "DELIVRD=1", "--id-format", "dec0"});
  auto r = run({python, std::string(SLUICE_SOURCE_DIR) + "/tests/simulators/smpplib_client.py",
                std::to_string(sim.port())},
               30s);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("OK id="), std::string::npos) << r.out << r.err;
  auto s = sim.stats();
  EXPECT_EQ(s["submits"]["accepted"], 1);
  EXPECT_EQ(s["dlr"]["deliver_sm_resp"], 1);
  EXPECT_EQ(s["binds"]["unbinds"], 1);
}

}  // namespace
}  // namespace sluice::test::sim
