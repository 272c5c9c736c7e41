#pragma once
// Metric families shared by the routing stages. Several stages may run in one
// process and register the same family name on one registry: prometheus-cpp
// 1.0.1's default Registry (InsertBehavior::Merge, which common/runtime uses)
// returns the existing family for the same name, type and constant labels, so
// registering again is safe. A registry built with InsertBehavior::Throw is
// not supported here; these helpers say so instead of failing obscurely.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace sluice::routing {

prometheus::Family<prometheus::Counter>& counter_family(prometheus::Registry& r,
                                                        const std::string& name,
                                                        const std::string& help);
prometheus::Family<prometheus::Gauge>& gauge_family(prometheus::Registry& r,
                                                    const std::string& name,
                                                    const std::string& help);
prometheus::Family<prometheus::Histogram>& histogram_family(prometheus::Registry& r,
                                                            const std::string& name,
                                                            const std::string& help);

// sluice_stage_records_total{stage,result} and sluice_stage_consumer_lag{stage}
// for one stage.
class StageMetrics {
 public:
  StageMetrics(prometheus::Registry& r, std::string stage);
  void count(const std::string& result, double n = 1);
  void set_lag(int64_t lag) { lag_.Set(static_cast<double>(lag)); }

 private:
  std::string stage_;
  prometheus::Family<prometheus::Counter>& records_;
  prometheus::Gauge& lag_;
};

}  // namespace sluice::routing
