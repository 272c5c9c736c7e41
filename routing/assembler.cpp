#include "routing/assembler.h"

#include "common/log.h"
#include "routing/receipt_codes.h"
#include "routing/record_util.h"
#include "schema/receipts.h"
#include "schema/topics.h"

namespace sluice::routing {

AssemblerStage::AssemblerStage(kafka::KafkaOptions kopts, std::shared_ptr<kafka::Producer> producer,
                               std::shared_ptr<config::ConfigStore> config, AssemblerOptions opts,
                               prometheus::Registry& registry)
    : opts_(std::move(opts)),
      config_(std::move(config)),
      submit_topic_(schema::topic_name(opts_.topic_prefix, "sms.submit")),
      accepted_topic_(schema::topic_name(opts_.topic_prefix, "sms.accepted")),
      deliver_topic_(schema::topic_name(opts_.topic_prefix, "sms.deliver")),
      metrics_(registry, "assembler"),
      open_gauge_(gauge_family(registry, "sluice_assembler_open_parts",
                               "Parts of incomplete multipart messages the assembler holds")
                      .Add({})),
      loop_(std::move(kopts), loop_options(), std::move(producer),
            [this](kafka::MessagePtr m, const Ticket& t) { on_record(std::move(m), t); }) {
  loop_.set_tick([this] { return tick(); });
}

HoldLoopOptions AssemblerStage::loop_options() {
  HoldLoopOptions lo;
  lo.name = "assembler";
  lo.consumer.group_id = opts_.topic_prefix + opts_.group_id;
  lo.consumer.topics = {submit_topic_};
  // The parts of a revoked partition are read again by its next owner.
  lo.consumer.on_revoke = [this](const std::vector<kafka::TopicPartition>& tps) {
    for (const auto& tp : tps) parts_.erase(tp);
    update_open();
  };
  // Held parts are the point of this stage: room for them and for output in flight.
  lo.max_open = opts_.max_open_parts + 100000;
  if (opts_.checkpoints)
    lo.checkpoint_topic = schema::topic_name(opts_.topic_prefix, "sms.assembler-checkpoint");
  return lo;
}

AssemblerStage::~AssemblerStage() {
  stop();
}

void AssemblerStage::start() {
  loop_.start();
}

void AssemblerStage::stop() {
  loop_.stop();
}

void AssemblerStage::on_record(kafka::MessagePtr m, const Ticket& t) {
  auto value = kafka::value_of(m.get());
  records::v1::Message msg;
  if (!msg.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    log::warn(
        "sms.submit record is not a Message; skipped",
        {{"partition", std::to_string(t.tp.partition)}, {"offset", std::to_string(t.offset)}});
    metrics_.count("bad_record");
    loop_.finish(t);
    return;
  }
  if (msg.schema_version() != 1) {
    log::error("sms.submit record of an unknown schema version; skipped",
               {{"schema_version", std::to_string(msg.schema_version())},
                {"offset", std::to_string(t.offset)}});
    metrics_.count("bad_version");
    loop_.finish(t);
    return;
  }
  int64_t now = wall_ms();
  int64_t ts = timestamp_ms(m.get(), now);
  // Revoked partitions are forgotten in the revoke hook; a record always
  // belongs to an assigned one, so creating its state here is right.
  auto it = parts_.find(t.tp);
  if (it == parts_.end()) {
    GroupAssemblerOptions go;
    go.timeout_ms = opts_.group_timeout.count();
    go.max_open_parts = opts_.max_open_parts;
    it = parts_.emplace(t.tp, PartitionState{GroupAssembler(go), {}, 0}).first;
  }
  auto& ps = it->second;
  ps.last_ts = std::max(ps.last_ts, ts);
  if (!msg.has_concat() || msg.concat().total() <= 1) {
    kafka::Record r{accepted_topic_, msg.id(), std::string(value), headers_of(m.get())};
    // Keyed by id, but nothing downstream needs a single-part message on a
    // particular partition: shared batches cost the broker less.
    r.partition = kafka::kAnyPartition;
    metrics_.count("ok");
    loop_.emit({std::move(r)}, {t});
    return;
  }
  uint64_t handle = next_handle_++;
  PartIn p;
  p.msg = std::move(msg);
  p.value = std::string(value);
  p.ts_ms = ts;
  p.handle = handle;
  p.headers = headers_of(m.get());
  ps.tickets[handle] = t;
  auto added = ps.groups.add(std::move(p));
  if (added.duplicate) {
    ps.tickets.erase(handle);
    metrics_.count("duplicate");
    loop_.finish(t);
  }
  for (auto& g : added.out) send(ps, std::move(g));
  enforce_limit();
  update_open();
}

void AssemblerStage::send(PartitionState& ps, GroupOut g) {
  std::vector<Ticket> tickets;
  for (const auto& p : g.parts) {
    auto it = ps.tickets.find(p.handle);
    if (it == ps.tickets.end()) continue;
    tickets.push_back(it->second);
    ps.tickets.erase(it);
  }
  std::vector<kafka::Record> out;
  auto n = static_cast<double>(g.parts.size());
  if (g.why == GroupOut::Why::complete) {
    unify_times(g.parts);
    metrics_.count("ok", n);
  } else if (g.why != GroupOut::Why::invalid) {
    const auto& first = g.parts.front().msg;
    log::info(
        "multipart message incomplete",
        {{"why", why_name(g.why)},
         {"customer", std::to_string(first.customer_id())},
         {"parts", std::to_string(g.parts.size()) + "/" + std::to_string(first.concat().total())},
         {"policy",
          opts_.on_timeout == AssemblerOptions::OnTimeout::send_parts ? "send" : "fail"}});
    metrics_.count(why_name(g.why), n);
    if (opts_.on_timeout == AssemblerOptions::OnTimeout::fail_parts) {
      int64_t now = wall_ms();
      for (const auto& p : g.parts)
        if (auto d = schema::internal_receipt(p.msg, schema::kStateUndeliverable, kErrIncomplete,
                                              "incomplete multipart message", now))
          out.push_back({deliver_topic_,
                         schema::customer_key(p.msg.customer_id()),
                         d->SerializeAsString(),
                         {}});
      loop_.emit(std::move(out), std::move(tickets));
      return;
    }
  } else {
    metrics_.count("invalid_concat", n);
  }
  for (auto& p : g.parts)
    out.push_back({accepted_topic_, g.key, std::move(p.value), std::move(p.headers)});
  loop_.emit(std::move(out), std::move(tickets));
}

void AssemblerStage::enforce_limit() {
  for (;;) {
    size_t total = 0;
    PartitionState* oldest = nullptr;
    int64_t oldest_ts = 0;
    for (auto& [_, ps] : parts_) {
      total += ps.groups.open_parts();
      if (auto ts = ps.groups.oldest_ts(); ts && (!oldest || *ts < oldest_ts)) {
        oldest = &ps;
        oldest_ts = *ts;
      }
    }
    if (total <= opts_.max_open_parts || !oldest) return;
    if (auto g = oldest->groups.evict_oldest()) send(*oldest, std::move(*g));
  }
}

void AssemblerStage::update_open() {
  size_t total = 0;
  for (const auto& [_, ps] : parts_) total += ps.groups.open_parts();
  open_parts_ = total;
  open_gauge_.Set(static_cast<double>(total));
}

HoldLoop::Clock::time_point AssemblerStage::tick() {
  auto now_steady = HoldLoop::Clock::now();
  int64_t now = wall_ms();
  for (auto& [tp, ps] : parts_) {
    if (ps.groups.open_groups() == 0) continue;
    int64_t effective = loop_.caught_up(tp) ? now : ps.last_ts;
    for (auto& g : ps.groups.expire(effective)) send(ps, std::move(g));
  }
  update_open();
  if (now_steady >= next_lag_) {
    metrics_.set_lag(loop_.lag());
    next_lag_ = now_steady + std::chrono::seconds(2);
  }
  return now_steady + std::chrono::milliseconds(200);
}

}  // namespace sluice::routing
