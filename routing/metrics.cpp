#include "routing/metrics.h"

#include <stdexcept>

namespace sluice::routing {
namespace {

template <class Build>
auto& register_family(Build&& b, prometheus::Registry& r, const std::string& name) {
  try {
    return b.Register(r);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(
        "metric family " + name +
        " cannot be shared on this registry (needs InsertBehavior::Merge and one type): " +
        e.what());
  }
}

}  // namespace

prometheus::Family<prometheus::Counter>& counter_family(prometheus::Registry& r,
                                                        const std::string& name,
                                                        const std::string& help) {
  return register_family(prometheus::BuildCounter().Name(name).Help(help), r, name);
}

prometheus::Family<prometheus::Gauge>& gauge_family(prometheus::Registry& r,
                                                    const std::string& name,
                                                    const std::string& help) {
  return register_family(prometheus::BuildGauge().Name(name).Help(help), r, name);
}

prometheus::Family<prometheus::Histogram>& histogram_family(prometheus::Registry& r,
                                                            const std::string& name,
                                                            const std::string& help) {
  return register_family(prometheus::BuildHistogram().Name(name).Help(help), r, name);
}

StageMetrics::StageMetrics(prometheus::Registry& r, std::string stage)
    : stage_(std::move(stage)),
      records_(
          counter_family(r, "sluice_stage_records_total", "Records a stage finished, by outcome")),
      lag_(gauge_family(r, "sluice_stage_consumer_lag",
                        "Records not yet read by a stage's consumer group member")
               .Add({{"stage", stage_}})) {}

void StageMetrics::count(const std::string& result, double n) {
  records_.Add({{"stage", stage_}, {"result", result}}).Increment(n);
}

}  // namespace sluice::routing
