#include "kafka/consumer.h"

#include <stdexcept>

#include "common/log.h"
#include "kafka/producer.h"

namespace sluice::kafka {

void apply_fetch_options(rd_kafka_conf_t* conf, std::chrono::milliseconds max_wait) {
  // librdkafka 2.0 waits this long each time a fetch reaches the end of a
  // partition (500 ms by default): at low traffic that is added to every hop.
  set_conf(conf, "fetch.error.backoff.ms", "20");
  // A fetch answered as soon as one record exists costs the broker a whole
  // request per few records; with a dozen consumers on two cores that was
  // most of the broker's CPU. Waiting for 64 KiB fills fetches under load;
  // when traffic is light each fetch costs at most max_wait. (bench/e2e at
  // 5,000 msg/s, 16 KiB and 10 ms against 64 KiB and 25 ms: submit_sm_resp
  // p99 35-66 ms against 16-23 ms, the broker being less busy; submit to DLR
  // p50 134-151 ms against 183-191 ms.)
  set_conf(conf, "fetch.min.bytes", "65536");
  set_conf(conf, "fetch.wait.max.ms", std::to_string(max_wait.count()));
}

std::string_view key_of(const rd_kafka_message_t* m) {
  return m->key ? std::string_view(static_cast<const char*>(m->key), m->key_len)
                : std::string_view();
}
std::string_view value_of(const rd_kafka_message_t* m) {
  return m->payload ? std::string_view(static_cast<const char*>(m->payload), m->len)
                    : std::string_view();
}
std::string topic_of(const rd_kafka_message_t* m) {
  return rd_kafka_topic_name(m->rkt);
}

std::optional<std::string> header_of(const rd_kafka_message_t* m, const char* name) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
    return std::nullopt;
  const void* val = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, name, &val, &size) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return std::nullopt;
  return std::string(static_cast<const char*>(val), size);
}

namespace {
std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* l) {
  std::vector<TopicPartition> out;
  for (int i = 0; l && i < l->cnt; ++i) out.push_back({l->elems[i].topic, l->elems[i].partition});
  return out;
}
rd_kafka_topic_partition_list_t* to_list(const std::vector<TopicPartition>& v) {
  auto* l = rd_kafka_topic_partition_list_new(static_cast<int>(v.size()));
  for (const auto& tp : v) rd_kafka_topic_partition_list_add(l, tp.topic.c_str(), tp.partition);
  return l;
}
}  // namespace

Consumer::Consumer(KafkaOptions kopts, ConsumerOptions copts)
    : kopts_(std::move(kopts)), copts_(std::move(copts)) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  try {
    apply_options(conf, kopts_);
    set_conf(conf, "group.id", copts_.group_id);
    set_conf(conf, "enable.auto.commit", "false");
    set_conf(conf, "enable.auto.offset.store", "false");
    set_conf(conf, "auto.offset.reset", copts_.auto_offset_reset);
    set_conf(conf, "partition.assignment.strategy",
             copts_.eager ? "roundrobin" : "cooperative-sticky");
    set_conf(conf, "session.timeout.ms", std::to_string(copts_.session_timeout.count()));
    set_conf(conf, "heartbeat.interval.ms", std::to_string(copts_.session_timeout.count() / 4));
    set_conf(conf, "max.poll.interval.ms", std::to_string(copts_.max_poll_interval.count()));
    set_conf(conf, "topic.metadata.refresh.interval.ms", "5000");
    apply_fetch_options(conf, std::chrono::milliseconds(25));
    if (copts_.prefetch_kbytes > 0)
      set_conf(conf, "queued.max.messages.kbytes", std::to_string(copts_.prefetch_kbytes));
    // Read only what producers committed, so transactional stages compose.
    set_conf(conf, "isolation.level", "read_committed");
  } catch (...) {
    rd_kafka_conf_destroy(conf);
    throw;
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, &Consumer::on_rebalance);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka consumer: ") + err);
  }
  rd_kafka_poll_set_consumer(rk_);
  auto* topics = rd_kafka_topic_partition_list_new(static_cast<int>(copts_.topics.size()));
  for (const auto& t : copts_.topics)
    rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e) {
    rd_kafka_destroy(rk_);
    throw std::runtime_error(std::string("kafka subscribe: ") + rd_kafka_err2str(e));
  }
}

Consumer::~Consumer() {
  close();
  if (rk_) rd_kafka_destroy(rk_);
}

void Consumer::close() {
  if (closed_ || !rk_) return;
  closed_ = true;
  std::vector<TopicPartition> all;
  for (const auto& [tp, h] : held_) all.push_back(tp);
  release_all(all);
  // librdkafka requires every queue reference gone before the close.
  if (consumer_queue_) rd_kafka_queue_destroy(consumer_queue_);
  consumer_queue_ = nullptr;
  rd_kafka_consumer_close(rk_);
}

void Consumer::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Consumer*>(opaque);
  bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
  auto list = to_vector(parts);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, parts);
    }
    self->reattach(list);
    if (self->copts_.on_assign) self->copts_.on_assign(list);
  } else {
    // A held queue outlives its partition in librdkafka and would keep the
    // partition off the consumer queue if it came back.
    self->release_all(list);
    if (self->copts_.on_revoke) self->copts_.on_revoke(list);
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }
}

MessagePtr Consumer::poll(std::chrono::milliseconds timeout) {
  if (!ever_held_.empty()) {
    if (auto now = std::chrono::steady_clock::now(); now >= next_reattach_) {
      next_reattach_ = now + std::chrono::seconds(1);
      reattach(assignment());
    }
  }
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, static_cast<int>(timeout.count()));
  if (!m) return nullptr;
  if (m->err) {
    // A pattern that matches no topic yet (no provider configured) is normal.
    if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
      log::debug("kafka consume", {{"error", rd_kafka_message_errstr(m)}});
    else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      log::warn("kafka consume", {{"error", rd_kafka_message_errstr(m)}});
    rd_kafka_message_destroy(m);
    return nullptr;
  }
  return MessagePtr(m);
}

bool Consumer::commit(const std::vector<std::pair<TopicPartition, int64_t>>& offsets, bool sync) {
  if (offsets.empty()) return true;
  auto* l = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (const auto& [tp, off] : offsets)
    rd_kafka_topic_partition_list_add(l, tp.topic.c_str(), tp.partition)->offset = off;
  rd_kafka_resp_err_t e = rd_kafka_commit(rk_, l, sync ? 0 : 1);
  rd_kafka_topic_partition_list_destroy(l);
  if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    log::warn("kafka commit", {{"error", rd_kafka_err2str(e)}});
    return false;
  }
  return true;
}

void Consumer::pause(const std::vector<TopicPartition>& parts) {
  auto* l = to_list(parts);
  rd_kafka_pause_partitions(rk_, l);
  rd_kafka_topic_partition_list_destroy(l);
}

void Consumer::resume(const std::vector<TopicPartition>& parts) {
  auto* l = to_list(parts);
  rd_kafka_resume_partitions(rk_, l);
  rd_kafka_topic_partition_list_destroy(l);
}

void Consumer::reattach(const std::vector<TopicPartition>& parts) {
  for (const auto& tp : parts) {
    if (!ever_held_.count(tp) || held_.count(tp)) continue;
    rd_kafka_queue_t* q = rd_kafka_queue_get_partition(rk_, tp.topic.c_str(), tp.partition);
    if (!q) continue;
    if (!consumer_queue_) consumer_queue_ = rd_kafka_queue_get_consumer(rk_);
    rd_kafka_queue_forward(q, consumer_queue_);
    rd_kafka_queue_destroy(q);
  }
}

void Consumer::hold(const std::vector<TopicPartition>& parts) {
  for (const auto& tp : parts) {
    auto& h = held_[tp];
    if (h.holds++ > 0) continue;
    ever_held_.insert(tp);
    h.queue = rd_kafka_queue_get_partition(rk_, tp.topic.c_str(), tp.partition);
    if (!h.queue) {
      held_.erase(tp);
      continue;
    }
    rd_kafka_queue_forward(h.queue, nullptr);
  }
}

void Consumer::release(const std::vector<TopicPartition>& parts) {
  std::vector<TopicPartition> last;
  for (const auto& tp : parts) {
    auto it = held_.find(tp);
    if (it != held_.end() && --it->second.holds <= 0) last.push_back(tp);
  }
  release_all(last);
}

void Consumer::release_all(const std::vector<TopicPartition>& parts) {
  for (const auto& tp : parts) {
    auto it = held_.find(tp);
    if (it == held_.end()) continue;
    if (!consumer_queue_) consumer_queue_ = rd_kafka_queue_get_consumer(rk_);
    // Forwarding moves what the partition's queue holds onto the consumer
    // queue, in order, ahead of anything fetched later.
    rd_kafka_queue_forward(it->second.queue, consumer_queue_);
    rd_kafka_queue_destroy(it->second.queue);
    held_.erase(it);
  }
}

size_t Consumer::held_backlog(const TopicPartition& tp) {
  auto it = held_.find(tp);
  return it == held_.end() ? 0 : rd_kafka_queue_length(it->second.queue);
}

bool Consumer::seek(const TopicPartition& tp, int64_t offset) {
  auto* l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, tp.topic.c_str(), tp.partition)->offset = offset;
  rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_, l, 2000);
  bool ok = e == nullptr;
  if (e) rd_kafka_error_destroy(e);
  rd_kafka_topic_partition_list_destroy(l);
  return ok;
}

std::vector<TopicPartition> Consumer::assignment() {
  rd_kafka_topic_partition_list_t* l = nullptr;
  if (rd_kafka_assignment(rk_, &l) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  auto v = to_vector(l);
  rd_kafka_topic_partition_list_destroy(l);
  return v;
}

int64_t Consumer::lag() {
  rd_kafka_topic_partition_list_t* l = nullptr;
  if (rd_kafka_assignment(rk_, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || !l) return 0;
  rd_kafka_position(rk_, l);
  int64_t total = 0;
  for (int i = 0; i < l->cnt; ++i) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_get_watermark_offsets(rk_, l->elems[i].topic, l->elems[i].partition, &lo, &hi) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        l->elems[i].offset >= 0 && hi > l->elems[i].offset)
      total += hi - l->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(l);
  return total;
}

}  // namespace sluice::kafka
