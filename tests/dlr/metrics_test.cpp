// prometheus-cpp 1.0.1 and several stages in one process: registering a
// family name again must hand back the same family, not throw.
#include "dlr/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace sluice::dlr {
namespace {

TEST(DlrMetrics, SharedFamiliesMergeInOneRegistry) {
  prometheus::Registry registry;
  // Another stage got there first, with its own help text.
  auto& theirs = prometheus::BuildCounter()
                     .Name("sluice_stage_records_total")
                     .Help("another stage's words")
                     .Register(registry);
  theirs.Add({{"stage", "router"}, {"result", "ok"}}).Increment();
  DlrMetrics a(registry);
  DlrMetrics b(registry);  // a second DLR stage in the process (tests do this)
  a.record("ok");
  b.record("ok");
  auto& again =
      prometheus::BuildCounter().Name("sluice_stage_records_total").Help("x").Register(registry);
  EXPECT_EQ(&again, &theirs);
  EXPECT_EQ(again.Add({{"stage", "dlr"}, {"result", "ok"}}).Value(), 2);
  EXPECT_EQ(again.Add({{"stage", "router"}, {"result", "ok"}}).Value(), 1);
  a.unmatched();
  EXPECT_EQ(b.unmatched_value(), 1);
  // Same name, another type: that is a real conflict and does throw.
  EXPECT_THROW(
      prometheus::BuildGauge().Name("sluice_stage_records_total").Help("x").Register(registry),
      std::invalid_argument);
}

}  // namespace
}  // namespace sluice::dlr
