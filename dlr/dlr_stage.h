#pragma once
// The DLR stage: correlates providers' receipts with the sender's records of
// submit_sm_resp, routes MO messages to the customer owning the number, and
// writes what customers should receive to sms.deliver.
//
// Consumes, one consumer group per topic so that each topic's partitions are
// spread over the instances on their own:
//   sms.provider-events  group "<prefix>sluice-dlr": Sent and receipts
//                        (ProviderEvent), keyed by join key
//   sms.dlr-parts        group "<prefix>sluice-dlr-parts": final outcomes of
//                        multipart parts, keyed by group key
//   sms.mo               group "<prefix>sluice-dlr-mo": MO messages, keyed by
//                        destination number
// Produces: sms.deliver, sms.dlr-parts, sms.status, and sms.dlr-state (the
// join's changelog, written only after the rest of a record's output is
// acknowledged; restored per partition on assignment). See dlr/README.md.
#include <prometheus/registry.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "dlr/correlator.h"
#include "kafka/options.h"
#include "kafka/producer.h"

namespace sluice::dlr {

struct DlrOptions {
  std::string topic_prefix;
  std::string node;
  std::string group_id;  // empty: "<prefix>sluice-dlr" (+ "-parts", "-mo" for the other two)
  std::chrono::milliseconds unmatched_hold = 10min;
  std::chrono::milliseconds cross_wait = 30s;
  std::chrono::milliseconds max_window = 72h;
  std::chrono::milliseconds late_grace = 1h;
  std::chrono::milliseconds done_linger = 10min;
  size_t max_entries = 1000000;
  bool publish_status = true;
  // How long restoring a partition's join state may take before the stage
  // goes on with what it has read.
  std::chrono::milliseconds restore_timeout = 120s;
  std::chrono::milliseconds tick_interval = 1s;
  // How long the join's own writes (a Sent's changelog entry and ENROUTE
  // status) wait for a receipt that would overwrite them (dlr/coalescer.h);
  // 0 writes them at once. Bounded by max_held outputs.
  std::chrono::milliseconds coalesce_hold = 1s;
  // An output with a status (a Sent's: its changelog entry and ENROUTE)
  // waits at most this long, never longer than coalesce_hold: until ENROUTE
  // lands, cancel_sm of a message the provider already has is answered
  // ESME_ROK, and the message goes all the same.
  std::chrono::milliseconds coalesce_status_hold = 100ms;
  size_t max_held = 100000;
  std::chrono::milliseconds commit_interval = 500ms;

  CorrelatorOptions correlator() const;
};

class DlrStage {
 public:
  DlrStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
           std::shared_ptr<config::ConfigStore> config, DlrOptions opts,
           prometheus::Registry& registry);
  // For tests and tools: any source of snapshots (null: not loaded yet; records wait).
  DlrStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
           SnapshotFn snapshot, DlrOptions opts, prometheus::Registry& registry);
  ~DlrStage();
  DlrStage(const DlrStage&) = delete;
  DlrStage& operator=(const DlrStage&) = delete;

  void start();
  // Finishes what is in flight (bounded), commits and leaves the group.
  void stop();
  int64_t lag() const;
  size_t join_entries() const;
  bool running() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::dlr
