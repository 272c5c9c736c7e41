#include "kafka/stage_loop.h"

#include <algorithm>
#include <future>

#include "common/log.h"

namespace sluice::kafka {

void OffsetTracker::started(const TopicPartition& tp, int64_t offset) {
  std::lock_guard lock(mu_);
  auto& p = parts_[tp];
  p.open.insert(offset);
  p.next = std::max(p.next, offset + 1);
  ++total_;
}

void OffsetTracker::finished(const TopicPartition& tp, int64_t offset) {
  std::lock_guard lock(mu_);
  auto it = parts_.find(tp);
  if (it == parts_.end()) return;
  if (it->second.open.erase(offset)) --total_;
}

void OffsetTracker::abandoned(const TopicPartition& tp, int64_t offset) {
  std::lock_guard lock(mu_);
  auto it = parts_.find(tp);
  if (it == parts_.end() || !it->second.open.erase(offset)) return;
  --total_;
  it->second.floor = std::min(it->second.floor, offset);
}

int64_t OffsetTracker::position(const Part& p) const {
  return std::min(p.open.empty() ? p.next : *p.open.begin(), p.floor);
}

std::vector<std::pair<TopicPartition, int64_t>> OffsetTracker::take_committable() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<TopicPartition, int64_t>> out;
  for (auto& [tp, p] : parts_) {
    int64_t pos = position(p);
    if (pos >= 0 && pos != p.committed) {
      out.push_back({tp, pos});
      p.committed = pos;
    }
  }
  return out;
}

std::vector<std::pair<TopicPartition, int64_t>> OffsetTracker::committable(
    const std::vector<TopicPartition>& tps) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<TopicPartition, int64_t>> out;
  for (const auto& tp : tps) {
    auto it = parts_.find(tp);
    if (it == parts_.end()) continue;
    int64_t pos = position(it->second);
    if (pos >= 0) out.push_back({tp, pos});
  }
  return out;
}

size_t OffsetTracker::in_flight() const {
  std::lock_guard lock(mu_);
  return total_;
}

size_t OffsetTracker::in_flight(const std::vector<TopicPartition>& tps) const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& tp : tps)
    if (auto it = parts_.find(tp); it != parts_.end()) n += it->second.open.size();
  return n;
}

void OffsetTracker::forget(const std::vector<TopicPartition>& tps) {
  std::lock_guard lock(mu_);
  for (const auto& tp : tps) {
    auto it = parts_.find(tp);
    if (it == parts_.end()) continue;
    total_ -= it->second.open.size();
    parts_.erase(it);
  }
}

struct EmitState {
  std::vector<Record> records;
  std::atomic<size_t> left{0};
  StageLoop::Done done;
};

StageLoop::StageLoop(KafkaOptions kopts, StageLoopOptions opts, std::shared_ptr<Producer> producer,
                     Handler handler)
    : kopts_(std::move(kopts)),
      opts_(std::move(opts)),
      producer_(std::move(producer)),
      handler_(std::move(handler)) {
  auto user_revoke = opts_.consumer.on_revoke;
  // Before a partition goes to another member, finish what is in flight for
  // it (bounded) and commit, so the next owner repeats as little as possible.
  opts_.consumer.on_revoke = [this, user_revoke](const std::vector<TopicPartition>& tps) {
    if (flush_) flush_();
    if (give_back_take_) give_back(tps);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (tracker_.in_flight(tps) > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (consumer_) consumer_->commit(tracker_.committable(tps), true);
    tracker_.forget(tps);
    if (user_revoke) user_revoke(tps);
  };
}

void StageLoop::set_give_back(Poster post,
                              std::function<size_t(const std::vector<TopicPartition>&)> take) {
  give_back_post_ = std::move(post);
  give_back_take_ = std::move(take);
}

void StageLoop::give_back(const std::vector<TopicPartition>& tps) {
  // pending -> started (the handler's thread took the job) or pending ->
  // expired (the revoke stopped waiting): whichever comes first wins, so a
  // give-back never runs after the revoke went on without it.
  enum : int { pending, started, expired };
  struct Job {
    std::atomic<int> state{pending};
    std::promise<size_t> taken;
  };
  auto job = std::make_shared<Job>();
  auto result = job->taken.get_future();
  give_back_post_([job, tps, take = give_back_take_] {
    int expected = pending;
    if (!job->state.compare_exchange_strong(expected, started)) return;
    try {
      job->taken.set_value(take(tps));
    } catch (...) {
      job->taken.set_exception(std::current_exception());
    }
  });
  if (result.wait_for(opts_.give_back_wait) != std::future_status::ready) {
    int expected = pending;
    if (job->state.compare_exchange_strong(expected, expired)) {
      log::warn(opts_.name + ": the handler did not answer the revoke; nothing given back",
                {{"partitions", std::to_string(tps.size())}});
      return;
    }
  }
  size_t n = 0;
  try {
    n = result.get();
  } catch (const std::exception& e) {
    // `take` threw: what it did not abandon stays in flight, and the revoke's
    // own wait and commit treat it as unfinished.
    log::warn(opts_.name + ": give-back on revoke failed", {{"what", e.what()}});
    return;
  }
  if (n > 0)
    log::info(opts_.name + ": queued records given back to the partitions' next owner",
              {{"records", std::to_string(n)}, {"partitions", std::to_string(tps.size())}});
}

StageLoop::~StageLoop() {
  stop();
}

void StageLoop::start() {
  consumer_ = std::make_unique<Consumer>(kopts_, opts_.consumer);
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void StageLoop::stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
}

void StageLoop::on_poll_thread(std::function<void(Consumer&)> fn) {
  std::lock_guard lock(tasks_mu_);
  tasks_.push_back(std::move(fn));
}

void StageLoop::commit(bool sync) {
  auto offsets = tracker_.take_committable();
  if (!offsets.empty()) consumer_->commit(offsets, sync);
}

void StageLoop::run() {
  auto next_commit = std::chrono::steady_clock::now() + opts_.commit_interval;
  auto next_lag = std::chrono::steady_clock::now();
  auto next_tick = next_lag;
  while (!stop_.load()) {
    std::vector<std::function<void(Consumer&)>> tasks;
    {
      std::lock_guard lock(tasks_mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t(*consumer_);
    if (tick_ && std::chrono::steady_clock::now() >= next_tick) {
      tick_(*consumer_);
      next_tick = std::chrono::steady_clock::now() + opts_.tick_interval;
    }
    run_due_retries();

    bool overloaded = tracker_.in_flight() >= opts_.max_in_flight;
    if (overloaded && !load_paused_) {
      // Downstream is slow: stop fetching (the broker keeps the records).
      // Polling goes on, to serve rebalances. librdkafka drops what it had
      // fetched ahead and fetches it again after the resume, which it notices
      // up to a second late: fine for a rare overload, not for flow control
      // (Consumer::hold is for that).
      paused_for_load_ = consumer_->assignment();
      consumer_->pause(paused_for_load_);
      load_paused_ = true;
      log::warn(opts_.name + ": records in flight at the limit; fetching paused",
                {{"in_flight", std::to_string(tracker_.in_flight())}});
    } else if (!overloaded && load_paused_) {
      consumer_->resume(paused_for_load_);
      paused_for_load_.clear();
      load_paused_ = false;
      log::info(opts_.name + ": fetching resumed", {});
    }
    auto idle = tick_ ? std::min(opts_.tick_interval, std::chrono::milliseconds(100))
                      : std::chrono::milliseconds(100);
    if (auto m = consumer_->poll(load_paused_ ? std::chrono::milliseconds(2) : idle)) {
      TopicPartition tp{topic_of(m.get()), m->partition};
      int64_t offset = m->offset;
      tracker_.started(tp, offset);
      ++processed_;
      try {
        handler_(*m, [this, tp, offset] { tracker_.finished(tp, offset); });
      } catch (const std::exception& e) {
        // A record the stage cannot handle is a bug or poison: log it and
        // move on rather than stall the partition forever.
        log::error("stage handler threw; record skipped",
                   {{"stage", opts_.name},
                    {"topic", tp.topic},
                    {"partition", std::to_string(tp.partition)},
                    {"offset", std::to_string(offset)},
                    {"what", e.what()}});
        tracker_.finished(tp, offset);
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= next_commit) {
      commit(false);
      next_commit = now + opts_.commit_interval;
    }
    if (now >= next_lag) {
      lag_ = consumer_->lag();
      next_lag = now + std::chrono::seconds(2);
    }
  }
  // Drain: what was taken gets its outcome, then the final commit.
  if (flush_) flush_();
  auto deadline = std::chrono::steady_clock::now() + opts_.drain_timeout;
  while (tracker_.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
    consumer_->poll(std::chrono::milliseconds(0));
    run_due_retries();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (tracker_.in_flight() > 0)
    log::warn("stage stopped with records in flight; they will be read again",
              {{"stage", opts_.name}, {"in_flight", std::to_string(tracker_.in_flight())}});
  commit(true);
  consumer_->close();
  running_ = false;
}

void StageLoop::run_due_retries() {
  std::vector<Retry> due;
  {
    std::lock_guard lock(retry_mu_);
    if (retries_.empty()) return;
    auto now = std::chrono::steady_clock::now();
    auto it = std::partition(retries_.begin(), retries_.end(),
                             [now](const Retry& r) { return r.at > now; });
    due.assign(std::make_move_iterator(it), std::make_move_iterator(retries_.end()));
    retries_.erase(it, retries_.end());
  }
  for (auto& r : due) emit_one(r.st, r.index, r.attempt);
}

void StageLoop::emit(std::vector<Record> records, Done done) {
  if (records.empty()) {
    done();
    return;
  }
  auto st = std::make_shared<EmitState>();
  st->records = std::move(records);
  st->left = st->records.size();
  st->done = std::move(done);
  for (size_t i = 0; i < st->records.size(); ++i) emit_one(st, i, 0);
}

void StageLoop::emit_one(std::shared_ptr<EmitState> st, size_t i, int attempt) {
  // librdkafka copies the payload; the record stays in st for a retry.
  producer_->produce(st->records[i], [this, st, i, attempt](const DeliveryResult& r) {
    if (r.ok()) {
      if (--st->left == 0) st->done();
      return;
    }
    ++retried_;
    if (stop_.load() && attempt > 3) {
      // Shutting down: leave the input uncommitted; the next owner redoes it.
      log::warn("giving up a record at stop; its input stays uncommitted", {{"stage", opts_.name}});
      return;
    }
    log::warn(
        "produce failed; retrying",
        {{"stage", opts_.name}, {"error", r.message()}, {"attempt", std::to_string(attempt + 1)}});
    // Retried from the polling thread after a backoff, so that neither the
    // producer's poll thread nor extra threads wait.
    auto delay = std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt, 6)));
    std::lock_guard lock(retry_mu_);
    retries_.push_back({std::chrono::steady_clock::now() + delay, st, i, attempt + 1});
  });
}

}  // namespace sluice::kafka
