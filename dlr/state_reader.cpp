#include "dlr/state_reader.h"

#include <map>
#include <stdexcept>
#include <thread>

#include "common/log.h"
#include "kafka/producer.h"

namespace sluice::dlr {

StateReader::StateReader(const kafka::KafkaOptions& kopts) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  try {
    kafka::KafkaOptions o = kopts;
    o.client_id += "-dlr-restore";
    kafka::apply_options(conf, o);
    // Never joins the group (assign only) and never commits: the id is only
    // there because librdkafka's consumer wants one.
    kafka::set_conf(conf, "group.id", o.client_id);
    kafka::set_conf(conf, "enable.auto.commit", "false");
    kafka::set_conf(conf, "enable.auto.offset.store", "false");
    kafka::set_conf(conf, "enable.partition.eof", "true");
    kafka::set_conf(conf, "auto.offset.reset", "earliest");
  } catch (...) {
    rd_kafka_conf_destroy(conf);
    throw;
  }
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka state reader: ") + err);
  }
  rd_kafka_poll_set_consumer(rk_);
}

StateReader::~StateReader() {
  if (!rk_) return;
  rd_kafka_consumer_close(rk_);
  rd_kafka_destroy(rk_);
}

int StateReader::partition_count(const std::string& topic, std::chrono::milliseconds timeout) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int n = -1;
  if (rd_kafka_metadata(rk_, 0, rkt, &md, static_cast<int>(timeout.count())) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      md) {
    for (int i = 0; i < md->topic_cnt; ++i)
      if (topic == md->topics[i].topic && md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[i].partition_cnt;
  }
  if (md) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return n;
}

bool StateReader::read(const std::string& topic, const std::vector<int32_t>& partitions,
                       std::chrono::milliseconds timeout, const Fn& fn) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::map<int32_t, int64_t> end;  // partitions still to read, and their end offset
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size()));
  for (int32_t p : partitions) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    while ((e = rd_kafka_query_watermark_offsets(rk_, topic.c_str(), p, &lo, &hi, 5000)) !=
               RD_KAFKA_RESP_ERR_NO_ERROR &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log::error(
          "cannot read the end of a state partition",
          {{"topic", topic}, {"partition", std::to_string(p)}, {"error", rd_kafka_err2str(e)}});
      rd_kafka_topic_partition_list_destroy(list);
      return false;
    }
    if (hi <= lo) continue;
    end[p] = hi;
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = lo;
  }
  if (end.empty()) {
    rd_kafka_topic_partition_list_destroy(list);
    return true;
  }
  rd_kafka_assign(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
  while (!end.empty() && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, 200);
    if (!m) continue;
    int32_t p = m->partition;
    int64_t offset = m->offset;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (auto it = end.find(p); it != end.end() && offset >= it->second) end.erase(it);
    } else if (m->err) {
      log::warn("reading a state partition",
                {{"topic", topic}, {"error", rd_kafka_message_errstr(m)}});
    } else {
      std::string_view key = m->key ? std::string_view(static_cast<const char*>(m->key), m->key_len)
                                    : std::string_view();
      std::string_view value = m->payload
                                   ? std::string_view(static_cast<const char*>(m->payload), m->len)
                                   : std::string_view();
      fn(p, key, m->payload ? &value : nullptr);
      if (auto it = end.find(p); it != end.end() && offset + 1 >= it->second) end.erase(it);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rk_, nullptr);
  if (!end.empty())
    log::error("state partitions not read to their end in time",
               {{"topic", topic}, {"left", std::to_string(end.size())}});
  return end.empty();
}

}  // namespace sluice::dlr
