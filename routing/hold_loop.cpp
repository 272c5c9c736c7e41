#include "routing/hold_loop.h"

#include <algorithm>

#include "common/log.h"

namespace sluice::routing {

using kafka::TopicPartition;

struct HoldLoop::EmitState {
  std::vector<kafka::Record> records;
  std::vector<Ticket> tickets;
  std::atomic<size_t> left{0};
};

HoldLoop::HoldLoop(kafka::KafkaOptions kopts, HoldLoopOptions opts,
                   std::shared_ptr<kafka::Producer> producer, Handler handler)
    : kopts_(std::move(kopts)),
      opts_(std::move(opts)),
      producer_(std::move(producer)),
      handler_(std::move(handler)) {}

HoldLoop::~HoldLoop() {
  stop();
  if (ckpt_reader_) {
    rd_kafka_consumer_close(ckpt_reader_);
    rd_kafka_destroy(ckpt_reader_);
  }
}

void HoldLoop::start() {
  if (thread_.joinable()) return;
  if (!opts_.checkpoint_topic.empty()) open_checkpoints();
  // librdkafka 2.0 backs off fetch.error.backoff.ms (500 ms) at the end of a
  // partition, which adds up to a second per hop at low traffic; these stages
  // pass records on in milliseconds.
  if (!kopts_.extra.count("fetch.error.backoff.ms")) kopts_.extra["fetch.error.backoff.ms"] = "20";
  auto user_assign = opts_.consumer.on_assign;
  auto user_revoke = opts_.consumer.on_revoke;
  kafka::ConsumerOptions co = opts_.consumer;
  co.on_assign = [this, user_assign](const std::vector<TopicPartition>& tps) {
    on_assign(tps);
    if (user_assign) user_assign(tps);
  };
  co.on_revoke = [this, user_revoke](const std::vector<TopicPartition>& tps) {
    on_revoke(tps);
    if (user_revoke) user_revoke(tps);
  };
  consumer_ = std::make_unique<kafka::Consumer>(kopts_, co);
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void HoldLoop::stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
}

size_t HoldLoop::open() const {
  std::lock_guard lock(mu_);
  return open_total_;
}

std::vector<std::pair<TopicPartition, int64_t>> HoldLoop::positions() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<TopicPartition, int64_t>> out;
  for (const auto& [tp, p] : parts_) {
    int64_t pos = p.open.empty() ? p.next : *p.open.begin();
    if (pos >= 0) out.push_back({tp, pos});
  }
  return out;
}

void HoldLoop::run() {
  auto next_commit = Clock::now() + opts_.commit_interval;
  auto next_lag = Clock::now();
  next_checkpoint_ = Clock::now() + opts_.checkpoint_interval;
  while (!stop_.load()) {
    auto wake = Clock::now() + opts_.max_poll_wait;
    if (tick_) wake = std::min(wake, tick_());
    run_due_retries();
    check_full();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now());
    wait = std::clamp(wait, std::chrono::milliseconds(0), opts_.max_poll_wait);
    if (auto m = consumer_->poll(wait)) {
      handle(std::move(m));
      // Take what is already fetched without waiting, so that the tick and
      // the commit still run often under a steady stream.
      for (int i = 0; i < 500 && !stop_.load(); ++i) {
        auto more = consumer_->poll(std::chrono::milliseconds(0));
        if (!more) break;
        handle(std::move(more));
        if (tick_ && i % 50 == 49) tick_();
      }
    }
    auto now = Clock::now();
    if (now >= next_commit) {
      commit(nullptr, false);
      next_commit = now + opts_.commit_interval;
    }
    if (now >= next_checkpoint_) {
      write_checkpoints(nullptr, false);
      next_checkpoint_ = now + opts_.checkpoint_interval;
    }
    if (now >= next_lag) {
      lag_ = consumer_->lag();
      next_lag = now + std::chrono::seconds(2);
    }
  }
  wait_emitting(nullptr);
  commit(nullptr, true);
  write_checkpoints(nullptr, true);
  flush_checkpoints();
  if (size_t n = open(); n > 0)
    log::info("stage stopped holding records; the next owner reads them again",
              {{"stage", opts_.name}, {"open", std::to_string(n)}});
  consumer_->close();
}

void HoldLoop::handle(kafka::MessagePtr m) {
  TopicPartition tp{kafka::topic_of(m.get()), m->partition};
  int64_t offset = m->offset;
  Ticket t{tp, offset, 0};
  {
    std::lock_guard lock(mu_);
    auto it = parts_.find(tp);
    if (it == parts_.end()) {
      // Not announced by a rebalance callback (should not happen): track it
      // all the same, so that its offset is never committed past unhandled.
      it = parts_.emplace(tp, Part{}).first;
      it->second.epoch = next_epoch_++;
    }
    Part& p = it->second;
    if (p.next >= 0 && offset < p.next) {
      // Delivered again within one assignment: already done or in hand.
      return;
    }
    p.next = std::max(p.next, offset + 1);
    p.dirty = true;
    if (p.filter && p.filter->done_before(offset)) {
      ++skipped_;
      return;
    }
    if (p.filter && offset >= p.filter->next()) p.filter.reset();
    p.open.insert(offset);
    ++open_total_;
    t.epoch = p.epoch;
  }
  try {
    handler_(std::move(m), t);
  } catch (const std::exception& e) {
    // A record the stage cannot handle is a bug or poison: log it and move
    // on rather than stall the partition forever.
    log::error("stage handler threw; record skipped", {{"stage", opts_.name},
                                                       {"topic", tp.topic},
                                                       {"partition", std::to_string(tp.partition)},
                                                       {"offset", std::to_string(offset)},
                                                       {"what", e.what()}});
    finish(t);
  }
}

void HoldLoop::finish_locked(const Ticket& t, bool was_emitting) {
  auto it = parts_.find(t.tp);
  if (it == parts_.end() || it->second.epoch != t.epoch) return;
  Part& p = it->second;
  if (was_emitting) --p.emitting;
  if (p.open.erase(t.offset)) {
    --open_total_;
    p.dirty = true;
  }
}

void HoldLoop::finish(const Ticket& t) {
  std::lock_guard lock(mu_);
  finish_locked(t, false);
}

void HoldLoop::finish(const std::vector<Ticket>& ts) {
  std::lock_guard lock(mu_);
  for (const auto& t : ts) finish_locked(t, false);
}

void HoldLoop::emit(std::vector<kafka::Record> records, std::vector<Ticket> tickets) {
  if (records.empty()) {
    finish(tickets);
    return;
  }
  {
    std::lock_guard lock(mu_);
    for (const auto& t : tickets) {
      auto it = parts_.find(t.tp);
      if (it != parts_.end() && it->second.epoch == t.epoch) ++it->second.emitting;
    }
  }
  auto st = std::make_shared<EmitState>();
  st->records = std::move(records);
  st->tickets = std::move(tickets);
  st->left = st->records.size();
  for (size_t i = 0; i < st->records.size(); ++i) emit_one(st, i, 0);
}

void HoldLoop::emit_one(std::shared_ptr<EmitState> st, size_t i, int attempt) {
  kafka::Record copy = st->records[i];
  producer_->produce(std::move(copy), [this, st, i, attempt](const kafka::DeliveryResult& r) {
    if (r.ok()) {
      if (--st->left == 0) {
        std::lock_guard lock(mu_);
        for (const auto& t : st->tickets) finish_locked(t, true);
      }
      return;
    }
    if (stop_.load() && attempt > 3) {
      // Stopping: the input stays uncommitted; the next owner redoes it.
      log::warn("giving up a record at stop; its input stays uncommitted", {{"stage", opts_.name}});
      return;
    }
    log::warn(
        "produce failed; retrying",
        {{"stage", opts_.name}, {"error", r.message()}, {"attempt", std::to_string(attempt + 1)}});
    auto delay = std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt, 6)));
    std::lock_guard lock(retry_mu_);
    retries_.push_back({Clock::now() + delay, st, i, attempt + 1});
  });
}

void HoldLoop::run_due_retries() {
  std::vector<Retry> due;
  {
    std::lock_guard lock(retry_mu_);
    if (retries_.empty()) return;
    auto now = Clock::now();
    auto it = std::partition(retries_.begin(), retries_.end(),
                             [now](const Retry& r) { return r.at > now; });
    due.assign(std::make_move_iterator(it), std::make_move_iterator(retries_.end()));
    retries_.erase(it, retries_.end());
  }
  for (auto& r : due) emit_one(r.st, r.index, r.attempt);
}

void HoldLoop::wait_emitting(const std::vector<TopicPartition>* only) {
  auto deadline = Clock::now() + opts_.drain_timeout;
  for (;;) {
    int emitting = 0;
    {
      std::lock_guard lock(mu_);
      for (const auto& [tp, p] : parts_)
        if (!only || std::find(only->begin(), only->end(), tp) != only->end())
          emitting += p.emitting;
    }
    if (emitting == 0) return;
    if (Clock::now() >= deadline) {
      log::warn("output still unacknowledged after the drain timeout; its input stays uncommitted",
                {{"stage", opts_.name}, {"records", std::to_string(emitting)}});
      return;
    }
    run_due_retries();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void HoldLoop::commit(const std::vector<TopicPartition>* only, bool sync) {
  std::vector<std::pair<TopicPartition, int64_t>> offsets;
  {
    std::lock_guard lock(mu_);
    for (auto& [tp, p] : parts_) {
      if (only && std::find(only->begin(), only->end(), tp) == only->end()) continue;
      int64_t pos = p.open.empty() ? p.next : *p.open.begin();
      if (pos >= 0 && (pos != p.committed || sync)) {
        offsets.push_back({tp, pos});
        p.committed = pos;
      }
    }
  }
  if (!offsets.empty()) consumer_->commit(offsets, sync);
}

void HoldLoop::on_assign(const std::vector<TopicPartition>& tps) {
  if (ckpt_reader_ && ckpt_partitions_ <= 0) {
    ckpt_partitions_ = probe_checkpoints(std::chrono::milliseconds(0));
    if (ckpt_partitions_ > 0)
      log::info("replay checkpoint topic found",
                {{"stage", opts_.name}, {"topic", opts_.checkpoint_topic}});
  }
  auto checkpoints =
      ckpt_partitions_ > 0 ? read_checkpoints(tps) : std::map<TopicPartition, Checkpoint>{};
  {
    std::lock_guard lock(mu_);
    for (const auto& tp : tps) {
      Part p;
      p.epoch = next_epoch_++;
      if (auto it = checkpoints.find(tp); it != checkpoints.end()) p.filter.emplace(it->second);
      auto [pit, inserted] = parts_.try_emplace(tp, std::move(p));
      if (!inserted) {
        // Reassigned without a revoke in between (not expected): start over.
        open_total_ -= pit->second.open.size();
        pit->second = Part{};
        pit->second.epoch = next_epoch_++;
        if (auto it = checkpoints.find(tp); it != checkpoints.end())
          pit->second.filter.emplace(it->second);
      }
    }
  }
  // A partition paused in an earlier assignment may keep librdkafka's pause
  // flag; the loop decides afresh.
  for (const auto& tp : tps) {
    held_.erase(tp);
    if (full_) {
      consumer_->pause({tp});
      paused_.insert(tp);
    } else {
      consumer_->resume({tp});
      paused_.erase(tp);
    }
  }
  log::info("partitions assigned", {{"stage", opts_.name},
                                    {"count", std::to_string(tps.size())},
                                    {"checkpoints", std::to_string(checkpoints.size())}});
}

void HoldLoop::on_revoke(const std::vector<TopicPartition>& tps) {
  wait_emitting(&tps);
  commit(&tps, true);
  write_checkpoints(&tps, true);
  flush_checkpoints();
  {
    std::lock_guard lock(mu_);
    for (const auto& tp : tps) {
      auto it = parts_.find(tp);
      if (it == parts_.end()) continue;
      open_total_ -= it->second.open.size();
      parts_.erase(it);
    }
  }
  for (const auto& tp : tps) {
    held_.erase(tp);
    paused_.erase(tp);
  }
  log::info("partitions revoked", {{"stage", opts_.name}, {"count", std::to_string(tps.size())}});
}

void HoldLoop::set_paused(const TopicPartition& tp, bool paused) {
  bool is = paused_.count(tp) > 0;
  if (paused == is) return;
  if (paused) {
    consumer_->pause({tp});
    paused_.insert(tp);
  } else {
    consumer_->resume({tp});
    paused_.erase(tp);
  }
}

void HoldLoop::hold(const TopicPartition& tp) {
  held_.insert(tp);
  set_paused(tp, true);
}

void HoldLoop::unhold(const TopicPartition& tp) {
  held_.erase(tp);
  set_paused(tp, full_);
}

void HoldLoop::check_full() {
  size_t n = open();
  bool want = full_ ? n >= opts_.max_open * 9 / 10 : n >= opts_.max_open;
  if (want == full_) return;
  full_ = want;
  std::vector<TopicPartition> tps;
  {
    std::lock_guard lock(mu_);
    for (const auto& [tp, _] : parts_) tps.push_back(tp);
  }
  for (const auto& tp : tps) set_paused(tp, full_ || held_.count(tp));
  log::info(full_ ? "open records at the limit; fetching paused" : "fetching resumed",
            {{"stage", opts_.name}, {"open", std::to_string(n)}});
}

bool HoldLoop::caught_up(const TopicPartition& tp) {
  int64_t next = -1;
  {
    std::lock_guard lock(mu_);
    auto it = parts_.find(tp);
    if (it == parts_.end()) return true;
    next = it->second.next;
  }
  int64_t lo = 0, hi = 0;
  if (rd_kafka_get_watermark_offsets(consumer_->handle(), tp.topic.c_str(), tp.partition, &lo,
                                     &hi) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return false;
  return next >= hi;
}

// ---- replay checkpoints ----

void HoldLoop::open_checkpoints() {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  try {
    kafka::apply_options(conf, kopts_);
    // Assigned by hand and never committed: the group id only satisfies the
    // consumer API.
    kafka::set_conf(conf, "group.id", opts_.consumer.group_id + "-checkpoint-reader");
    kafka::set_conf(conf, "enable.auto.commit", "false");
    kafka::set_conf(conf, "enable.partition.eof", "true");
  } catch (const std::exception& e) {
    rd_kafka_conf_destroy(conf);
    log::warn("replay checkpoints off", {{"stage", opts_.name}, {"what", e.what()}});
    return;
  }
  char err[512];
  ckpt_reader_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!ckpt_reader_) {
    rd_kafka_conf_destroy(conf);
    log::warn("replay checkpoints off", {{"stage", opts_.name}, {"what", err}});
    return;
  }
  rd_kafka_poll_set_consumer(ckpt_reader_);
  // A topic created moments ago may not be in the broker's metadata yet.
  ckpt_partitions_ = probe_checkpoints(std::chrono::seconds(3));
  if (ckpt_partitions_ <= 0)
    log::warn(
        "replay checkpoint topic not found (looked for again at each rebalance); until then a "
        "restart handles again what was done after the oldest open record (duplicates)",
        {{"stage", opts_.name}, {"topic", opts_.checkpoint_topic}});
}

int HoldLoop::probe_checkpoints(std::chrono::milliseconds budget) {
  if (!ckpt_reader_) return 0;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(ckpt_reader_, opts_.checkpoint_topic.c_str(), nullptr);
  int partitions = 0;
  auto deadline = Clock::now() + budget;
  for (;;) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(ckpt_reader_, 0, rkt, &md, 5000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->topic_cnt == 1 &&
        md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      partitions = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    if (partitions > 0 || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  rd_kafka_topic_destroy(rkt);
  return partitions;
}

void HoldLoop::write_checkpoints(const std::vector<TopicPartition>* only, bool force) {
  if (ckpt_partitions_ <= 0) return;
  std::vector<std::pair<TopicPartition, Checkpoint>> todo;
  {
    std::lock_guard lock(mu_);
    for (auto& [tp, p] : parts_) {
      if (only && std::find(only->begin(), only->end(), tp) == only->end()) continue;
      if (p.next < 0 || (!p.dirty && !force)) continue;
      p.dirty = false;
      todo.push_back({tp, Checkpoint{p.next, std::vector<int64_t>(p.open.begin(), p.open.end())}});
    }
  }
  for (auto& [tp, c] : todo) {
    if (tp.partition >= ckpt_partitions_) {
      if (!ckpt_short_warned_.exchange(true))
        log::warn(
            "checkpoint topic has fewer partitions than the input; some partitions go without",
            {{"stage", opts_.name}, {"topic", opts_.checkpoint_topic}});
      continue;
    }
    kafka::Record r{opts_.checkpoint_topic,
                    tp.topic + "|" + std::to_string(tp.partition),
                    encode_checkpoint(c),
                    {},
                    tp.partition};
    ++ckpt_outstanding_;
    producer_->produce(std::move(r), [this](const kafka::DeliveryResult& res) {
      if (!res.ok())
        log::warn("checkpoint not written", {{"stage", opts_.name}, {"error", res.message()}});
      --ckpt_outstanding_;
    });
  }
}

void HoldLoop::flush_checkpoints() {
  auto deadline = Clock::now() + std::chrono::seconds(3);
  while (ckpt_outstanding_.load() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

std::map<TopicPartition, Checkpoint> HoldLoop::read_checkpoints(
    const std::vector<TopicPartition>& tps) {
  std::map<TopicPartition, Checkpoint> out;
  if (!ckpt_reader_) return out;
  // The checkpoint of source partition p is the last record of checkpoint
  // partition p: only p's owner writes there, and compaction keeps the last.
  std::map<int32_t, TopicPartition> wanted;
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(tps.size()));
  for (const auto& tp : tps) {
    if (tp.partition >= ckpt_partitions_) continue;
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(ckpt_reader_, opts_.checkpoint_topic.c_str(), tp.partition,
                                         &lo, &hi, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi <= lo)
      continue;
    rd_kafka_topic_partition_list_add(list, opts_.checkpoint_topic.c_str(), tp.partition)->offset =
        hi - 1;
    wanted[tp.partition] = tp;
  }
  if (!wanted.empty() && rd_kafka_assign(ckpt_reader_, list) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!wanted.empty() && Clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(ckpt_reader_, 100);
      if (!m) continue;
      auto it = wanted.find(m->partition);
      if (it != wanted.end()) {
        if (!m->err) {
          std::string key = m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : "";
          if (key == it->second.topic + "|" + std::to_string(it->second.partition))
            if (auto c = decode_checkpoint(kafka::value_of(m))) out[it->second] = std::move(*c);
          wanted.erase(it);
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          wanted.erase(it);
        }
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(ckpt_reader_, nullptr);
  }
  rd_kafka_topic_partition_list_destroy(list);
  return out;
}

}  // namespace sluice::routing
