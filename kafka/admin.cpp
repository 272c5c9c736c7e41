#include "kafka/admin.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <stdexcept>

#include "kafka/producer.h"

namespace sluice::kafka {
namespace {

struct Handle {
  rd_kafka_t* rk = nullptr;
  rd_kafka_queue_t* q = nullptr;
  explicit Handle(const KafkaOptions& o) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    apply_options(conf, o);
    char err[512];
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("kafka admin: ") + err);
    }
    q = rd_kafka_queue_new(rk);
  }
  ~Handle() {
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
  }
  rd_kafka_event_t* wait(rd_kafka_event_type_t type, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 200);
      if (!ev) continue;
      if (rd_kafka_event_type(ev) == type) return ev;
      rd_kafka_event_destroy(ev);
    }
    return nullptr;
  }
};

rd_kafka_AdminOptions_t* admin_options(rd_kafka_t* rk, rd_kafka_admin_op_t op,
                                       std::chrono::milliseconds t) {
  auto* opts = rd_kafka_AdminOptions_new(rk, op);
  char err[256];
  rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(t.count()), err, sizeof err);
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS)
    rd_kafka_AdminOptions_set_operation_timeout(opts, static_cast<int>(t.count()), err, sizeof err);
  return opts;
}

// Partitions of every existing topic, from one metadata request; empty
// (and *err set, when given) if the broker does not answer.
std::map<std::string, int> partition_counts(Handle& h, std::chrono::milliseconds timeout,
                                            rd_kafka_resp_err_t* err = nullptr) {
  std::map<std::string, int> counts;
  const rd_kafka_metadata_t* md = nullptr;
  auto e = rd_kafka_metadata(h.rk, 1, nullptr, &md, static_cast<int>(timeout.count()));
  if (err) *err = e;
  if (e || !md) return counts;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (!md->topics[i].err) counts[md->topics[i].topic] = md->topics[i].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return counts;
}
}  // namespace

std::vector<TopicProblem> create_topics(const KafkaOptions& o,
                                        const std::vector<schema::TopicSpec>& specs,
                                        std::chrono::milliseconds timeout) {
  std::vector<TopicProblem> problems;
  if (specs.empty()) return problems;
  Handle h(o);
  std::vector<rd_kafka_NewTopic_t*> nts;
  char err[512];
  for (const auto& s : specs) {
    auto* nt = rd_kafka_NewTopic_new(s.name.c_str(), s.partitions, -1, err, sizeof err);
    if (!nt) {
      problems.push_back({s.name, err});
      continue;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", s.cleanup_policy.c_str());
    rd_kafka_NewTopic_set_config(nt, "retention.ms", std::to_string(s.retention_ms).c_str());
    nts.push_back(nt);
  }
  auto* opts = admin_options(h.rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout);
  rd_kafka_CreateTopics(h.rk, nts.data(), nts.size(), opts, h.q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(nts.data(), nts.size());
  rd_kafka_event_t* ev =
      h.wait(RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout + std::chrono::seconds(5));
  if (!ev) {
    problems.push_back({"*", "timed out waiting for CreateTopics"});
    return problems;
  }
  if (rd_kafka_event_error(ev)) {
    problems.push_back({"*", rd_kafka_event_error_string(ev)});
  } else {
    size_t n = 0;
    const auto* res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      auto e = rd_kafka_topic_result_error(res[i]);
      if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        problems.push_back(
            {rd_kafka_topic_result_name(res[i]), rd_kafka_topic_result_error_string(res[i])
                                                     ? rd_kafka_topic_result_error_string(res[i])
                                                     : rd_kafka_err2str(e)});
    }
  }
  rd_kafka_event_destroy(ev);
  return problems;
}

int partition_count(const KafkaOptions& o, const std::string& topic,
                    std::chrono::milliseconds timeout) {
  Handle h(o);
  // All topics, not one by handle: asking about a missing topic by name may
  // create it where the broker allows auto-creation.
  auto counts = partition_counts(h, timeout);
  auto it = counts.find(topic);
  return it == counts.end() ? 0 : it->second;
}

std::vector<TopicProblem> check_topics(const KafkaOptions& o,
                                       const std::vector<schema::TopicSpec>& specs,
                                       std::chrono::milliseconds timeout) {
  std::vector<TopicProblem> problems;
  Handle h(o);
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
  auto partitions = partition_counts(h, timeout, &e);
  if (e) {
    problems.push_back({"*", std::string("metadata: ") + rd_kafka_err2str(e)});
    return problems;
  }

  std::vector<const schema::TopicSpec*> present;
  for (const auto& s : specs) {
    auto it = partitions.find(s.name);
    if (it == partitions.end()) {
      problems.push_back({s.name, "missing"});
      continue;
    }
    if (it->second < s.partitions)
      problems.push_back({s.name, "has " + std::to_string(it->second) + " partitions, wants " +
                                      std::to_string(s.partitions)});
    present.push_back(&s);
  }
  if (present.empty()) return problems;

  std::vector<rd_kafka_ConfigResource_t*> resources;
  for (const auto* s : present)
    resources.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, s->name.c_str()));
  auto* opts = admin_options(h.rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout);
  rd_kafka_DescribeConfigs(h.rk, resources.data(), resources.size(), opts, h.q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_ConfigResource_destroy_array(resources.data(), resources.size());
  rd_kafka_event_t* ev =
      h.wait(RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout + std::chrono::seconds(5));
  if (!ev) {
    problems.push_back({"*", "timed out waiting for DescribeConfigs"});
    return problems;
  }
  size_t n = 0;
  const auto* res =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
  std::map<std::string, const schema::TopicSpec*> by_name;
  for (const auto* s : present) by_name[s->name] = s;
  for (size_t i = 0; i < n; ++i) {
    std::string name = rd_kafka_ConfigResource_name(res[i]);
    const auto* spec = by_name[name];
    if (!spec) continue;
    size_t cnt = 0;
    const auto* entries = rd_kafka_ConfigResource_configs(res[i], &cnt);
    for (size_t j = 0; j < cnt; ++j) {
      std::string key = rd_kafka_ConfigEntry_name(entries[j]);
      const char* v = rd_kafka_ConfigEntry_value(entries[j]);
      std::string value = v ? v : "";
      if (key == "cleanup.policy" && value != spec->cleanup_policy)
        problems.push_back(
            {name, "cleanup.policy is " + value + ", wants " + spec->cleanup_policy});
      if (key == "retention.ms" && value != std::to_string(spec->retention_ms))
        problems.push_back(
            {name, "retention.ms is " + value + ", wants " + std::to_string(spec->retention_ms)});
    }
  }
  rd_kafka_event_destroy(ev);
  return problems;
}

std::vector<TopicProblem> delete_topics(const KafkaOptions& o,
                                        const std::vector<std::string>& names,
                                        std::chrono::milliseconds timeout) {
  std::vector<TopicProblem> problems;
  if (names.empty()) return problems;
  Handle h(o);
  std::vector<rd_kafka_DeleteTopic_t*> dts;
  for (const auto& n : names) dts.push_back(rd_kafka_DeleteTopic_new(n.c_str()));
  auto* opts = admin_options(h.rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout);
  rd_kafka_DeleteTopics(h.rk, dts.data(), dts.size(), opts, h.q);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_DeleteTopic_destroy_array(dts.data(), dts.size());
  rd_kafka_event_t* ev =
      h.wait(RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout + std::chrono::seconds(5));
  if (!ev) {
    problems.push_back({"*", "timed out waiting for DeleteTopics"});
    return problems;
  }
  size_t n = 0;
  const auto* res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
  for (size_t i = 0; i < n; ++i)
    if (auto e = rd_kafka_topic_result_error(res[i]))
      problems.push_back({rd_kafka_topic_result_name(res[i]), rd_kafka_err2str(e)});
  rd_kafka_event_destroy(ev);
  return problems;
}

struct MockCluster::Impl {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* mc = nullptr;
};

MockCluster::MockCluster(int brokers) : impl_(std::make_unique<Impl>()) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  // The handle only owns the mock cluster; it never connects anywhere.
  rd_kafka_conf_set(conf, "bootstrap.servers", "", err, sizeof err);
  impl_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!impl_->rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("mock cluster: ") + err);
  }
  impl_->mc = rd_kafka_mock_cluster_new(impl_->rk, brokers);
  if (!impl_->mc) throw std::runtime_error("mock cluster: cannot create");
}

MockCluster::~MockCluster() {
  if (impl_->mc) rd_kafka_mock_cluster_destroy(impl_->mc);
  if (impl_->rk) rd_kafka_destroy(impl_->rk);
}

std::string MockCluster::bootstrap() const {
  return rd_kafka_mock_cluster_bootstraps(impl_->mc);
}

void MockCluster::create_topic(const std::string& name, int partitions) {
  rd_kafka_mock_topic_create(impl_->mc, name.c_str(), partitions, 1);
}

}  // namespace sluice::kafka
