#include "dlr/metrics.h"

namespace sluice::dlr {

DlrMetrics::DlrMetrics(prometheus::Registry& registry)
    : receipts_(prometheus::BuildCounter()
                    .Name("sluice_dlr_receipts_total")
                    .Help("Receipts from providers by stat")
                    .Register(registry)),
      unmatched_(prometheus::BuildCounter()
                     .Name("sluice_dlr_unmatched_total")
                     .Help("Receipts that matched no submit_sm_resp within the hold time")
                     .Register(registry)
                     .Add({})),
      mo_(prometheus::BuildCounter()
              .Name("sluice_dlr_mo_total")
              .Help("Mobile-originated messages by result")
              .Register(registry)),
      records_(prometheus::BuildCounter()
                   .Name("sluice_stage_records_total")
                   .Help("Records a stage consumed, by stage and result")
                   .Register(registry)),
      evicted_(prometheus::BuildCounter()
                   .Name("sluice_dlr_evicted_total")
                   .Help("Join entries dropped early because the DLR join reached its size bound")
                   .Register(registry)
                   .Add({})),
      coalesced_(prometheus::BuildCounter()
                     .Name("sluice_dlr_writes_coalesced_total")
                     .Help("Join changelog and status writes overwritten before they were made")
                     .Register(registry)
                     .Add({})),
      no_final_(prometheus::BuildCounter()
                    .Name("sluice_dlr_no_final_receipt_total")
                    .Help("Submitted messages whose join entry expired without a final receipt")
                    .Register(registry)
                    .Add({})),
      lag_(prometheus::BuildGauge()
               .Name("sluice_stage_consumer_lag")
               .Help("Records not yet consumed by the stage's consumer group member")
               .Register(registry)
               .Add({{"stage", "dlr"}})),
      entries_(prometheus::BuildGauge()
                   .Name("sluice_dlr_join_entries")
                   .Help("Entries in the DLR join state of this instance")
                   .Register(registry)
                   .Add({})) {}

prometheus::Counter& DlrMetrics::cached(Cache& cache,
                                        prometheus::Family<prometheus::Counter>& family,
                                        const prometheus::Labels& fixed, const char* label,
                                        const std::string& value) {
  std::lock_guard lock(cache_mu_);
  auto it = cache.find(value);
  if (it != cache.end()) return *it->second;
  prometheus::Labels labels = fixed;
  labels.emplace(label, value);
  prometheus::Counter& c = family.Add(labels);
  // Receipt stats come from providers: bound what one can make us remember.
  if (cache.size() < 256) cache.emplace(value, &c);
  return c;
}

}  // namespace sluice::dlr
