#pragma once
// The DLR stage's Prometheus series. Other stages in the same process register
// sluice_stage_records_total and sluice_stage_consumer_lag too: a Registry
// built with the default InsertBehavior::Merge hands back the family that is
// already there (same name, type and constant labels), so each stage simply
// registers what it uses (tests/dlr checks this against prometheus-cpp 1.0.1).
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::dlr {

class DlrMetrics {
 public:
  explicit DlrMetrics(prometheus::Registry& registry);

  // A receipt from a provider, by its stat (DELIVRD, UNDELIV, ENROUTE, ...).
  void receipt(const std::string& stat) {
    cached(receipt_cache_, receipts_, kNoLabels, "stat", stat).Increment();
  }
  void unmatched() { unmatched_.Increment(); }
  // routed | no_owner | invalid
  void mo(const std::string& result) { mo_.Add({{"result", result}}).Increment(); }
  // ok | duplicate | invalid
  void record(const std::string& result) {
    cached(record_cache_, records_, kStageLabels, "result", result).Increment();
  }
  void evicted() { evicted_.Increment(); }
  // Join writes (changelog entries, statuses) overwritten before they were made.
  void coalesced(uint64_t n) { coalesced_.Increment(static_cast<double>(n)); }
  void no_final_receipt() { no_final_.Increment(); }
  void set_lag(double v) { lag_.Set(v); }
  void set_entries(double v) { entries_.Set(v); }

  double unmatched_value() const { return unmatched_.Value(); }
  double evicted_value() const { return evicted_.Value(); }

 private:
  using Cache = std::unordered_map<std::string, prometheus::Counter*>;
  // Built once: a hit in the cache then allocates nothing.
  inline static const prometheus::Labels kNoLabels{};
  inline static const prometheus::Labels kStageLabels{{"stage", "dlr"}};
  // Family::Add builds and hashes a label map on every call; a record costs
  // a few of these, so the counters are looked up once per label value.
  // `labels` are the series' fixed labels; `label` = `value` is the varying one.
  prometheus::Counter& cached(Cache& cache, prometheus::Family<prometheus::Counter>& family,
                              const prometheus::Labels& labels, const char* label,
                              const std::string& value);
  std::mutex cache_mu_;  // the lanes' polling threads share the metrics
  Cache receipt_cache_, record_cache_;
  prometheus::Family<prometheus::Counter>& receipts_;
  prometheus::Counter& unmatched_;
  prometheus::Family<prometheus::Counter>& mo_;
  prometheus::Family<prometheus::Counter>& records_;
  prometheus::Counter& evicted_;
  prometheus::Counter& coalesced_;
  prometheus::Counter& no_final_;
  prometheus::Gauge& lag_;
  prometheus::Gauge& entries_;
};

}  // namespace sluice::dlr
