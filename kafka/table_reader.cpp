#include "kafka/table_reader.h"

#include <chrono>
#include <map>

#include "common/log.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"

namespace sluice::kafka {

TableReader::TableReader(KafkaOptions kopts, std::string topic, std::string name,
                         OnRecord on_record)
    : kopts_(std::move(kopts)),
      topic_(std::move(topic)),
      name_(std::move(name)),
      on_record_(std::move(on_record)) {}

TableReader::~TableReader() {
  stop();
}

void TableReader::start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void TableReader::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void TableReader::run() {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  apply_options(conf, kopts_);
  // A group id is required by the consumer API; nothing is ever committed.
  set_conf(conf, "group.id", name_);
  set_conf(conf, "enable.auto.commit", "false");
  set_conf(conf, "enable.auto.offset.store", "false");
  apply_fetch_options(conf, std::chrono::milliseconds(100));
  // Compaction leaves gaps; the end-of-partition event says caught up surely.
  set_conf(conf, "enable.partition.eof", "true");
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    log::error("table reader", {{"topic", topic_}, {"error", err}});
    return;
  }
  rd_kafka_poll_set_consumer(rk);
  int partitions = 0;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic_.c_str(), nullptr);
  while (!stop_ && partitions == 0) {
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
      partitions = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    if (partitions == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  rd_kafka_topic_destroy(rkt);
  // Where each partition ended at the start: reading up to there is caught up.
  std::map<int32_t, int64_t> ends;
  for (int p = 0; p < partitions && !stop_; ++p) {
    int64_t lo = 0, hi = 0;
    for (int attempt = 0; attempt < 20 && !stop_; ++attempt) {
      if (rd_kafka_query_watermark_offsets(rk, topic_.c_str(), p, &lo, &hi, 2000) ==
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (hi > lo) ends[p] = hi;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  if (ends.empty()) caught_up_ = true;
  auto* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic_.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  while (!stop_) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (!m) continue;
    if (!m->err) {
      std::string_view key(m->key ? static_cast<const char*>(m->key) : "", m->key_len);
      std::string_view value(m->payload ? static_cast<const char*>(m->payload) : "", m->len);
      try {
        on_record_(key, value);
      } catch (const std::exception& e) {
        log::warn("table reader skipped a record", {{"topic", topic_}, {"what", e.what()}});
      }
      if (!caught_up_) {
        auto it = ends.find(m->partition);
        if (it != ends.end() && m->offset + 1 >= it->second) ends.erase(it);
        if (ends.empty()) caught_up_ = true;
      }
    } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ends.erase(m->partition);
      if (ends.empty()) caught_up_ = true;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

}  // namespace sluice::kafka
