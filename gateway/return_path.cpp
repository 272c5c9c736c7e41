#include "gateway/return_path.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <ctime>
#include <deque>
#include <set>

#include "common/clock.h"
#include "common/log.h"
#include "kafka/admin.h"
#include "schema/receipts.h"
#include "schema/topics.h"
#include "smpp/receipt.h"
#include "smpp/status.h"
#include "smpp/time.h"

namespace sluice::gateway {
namespace asio = boost::asio;

struct Pending {
  records::v1::Deliver d;
  kafka::StageLoop::Done done;
  kafka::TopicPartition tp;
  int64_t offset = 0;
  bool from_node_topic = false;
  int attempts = 0;
  bool busy = false;        // a deliver_sm or a forward is out: its answer finishes it
  bool given_back = false;  // its partition went to another node, which reads it again
};

namespace {
std::string yymmddhhmm(int64_t ms) {
  if (ms <= 0) ms = wall_ms();
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d", tm.tm_year % 100, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min);
  return buf;
}

smpp::Address addr_of(const records::v1::Address& a) {
  return {static_cast<uint8_t>(a.ton()), static_cast<uint8_t>(a.npi()), a.addr()};
}
}  // namespace

smpp::DeliverSm to_deliver_sm(const records::v1::Deliver& d) {
  smpp::DeliverSm sm;
  sm.source = addr_of(d.source());
  sm.dest = addr_of(d.dest());
  if (d.is_receipt()) {
    sm.esm_class = 0x04;  // SMSC delivery receipt
    smpp::Receipt r;
    r.id = d.id();
    r.sub = 1;
    r.dlvrd = d.message_state() == schema::kStateDelivered ? 1 : 0;
    r.submit_date = yymmddhhmm(d.submitted_at_ms());
    r.done_date = yymmddhhmm(d.done_at_ms());
    r.stat = d.stat().empty() ? schema::stat_text(d.message_state()) : d.stat();
    r.err = d.err().empty() ? "000" : d.err();
    r.text = d.text_head();
    std::string text = smpp::format_receipt(r);
    sm.short_message.assign(text.begin(), text.end());
    sm.tlvs.set_cstr(smpp::tlv::receipted_message_id, d.id());
    sm.tlvs.set_u8(smpp::tlv::message_state, static_cast<uint8_t>(d.message_state()));
  } else {
    sm.esm_class = static_cast<uint8_t>(d.esm_class() & ~0x3Cu);
    sm.data_coding = static_cast<uint8_t>(d.data_coding());
    sm.short_message.assign(d.short_message().begin(), d.short_message().end());
    for (const auto& t : d.tlvs())
      sm.tlvs.items.push_back(
          {static_cast<uint16_t>(t.tag()), {t.value().begin(), t.value().end()}});
  }
  return sm;
}

ReturnPath::ReturnPath(asio::io_context& io, Gateway& gw, kafka::KafkaOptions kopts,
                       std::shared_ptr<kafka::Producer> producer, ReturnPathOptions opts,
                       prometheus::Registry& registry)
    : io_(io),
      gw_(gw),
      kopts_(std::move(kopts)),
      producer_(std::move(producer)),
      opts_(std::move(opts)),
      delivered_(
          prometheus::BuildCounter()
              .Name("sluice_deliver_sm_total")
              .Help("deliver_sm to customers by kind (receipt, mo) and the customer's answer")
              .Register(registry)),
      waiting_gauge_(
          prometheus::BuildGauge()
              .Name("sluice_gateway_deliveries_waiting")
              .Help("Receipts and MO held on this node for customers with no receiver bind")
              .Register(registry)
              .Add({})) {
  node_name_ = schema::topic_safe(opts_.node);
  deliver_topic_ = schema::topic_name(opts_.topic_prefix, "sms.deliver");
  binds_topic_ = schema::topic_name(opts_.topic_prefix, "sms.binds");
  node_topic_ = schema::node_topic(opts_.topic_prefix, opts_.node).name;
}

ReturnPath::~ReturnPath() {
  stop();
}

void ReturnPath::start() {
  // Our node topic must exist before we subscribe to it.
  if (opts_.create_node_topic) {
    auto problems =
        kafka::create_topics(kopts_, {schema::node_topic(opts_.topic_prefix, opts_.node)});
    for (const auto& p : problems)
      log::warn("node topic", {{"topic", p.topic}, {"problem", p.problem}});
  }

  gw_.set_bind_listener(
      [this](int64_t customer, int receivers) { publish_binds(customer, receivers); });
  // Every node reads every partition of the bind registry from the start.
  registry_reader_ = std::make_unique<kafka::TableReader>(
      kopts_, binds_topic_, opts_.topic_prefix + "sluice-binds-reader-" + node_name_,
      [this](std::string_view k, std::string_view v) { on_binds_record(k, v); });
  registry_reader_->start();

  kafka::StageLoopOptions shared;
  shared.name = "gateway-deliver";
  shared.consumer.group_id = opts_.topic_prefix + "sluice-gateway-deliver";
  shared.consumer.topics = {deliver_topic_};
  shared.max_in_flight = opts_.max_waiting;
  shared.consumer.eager = true;
  // At stop, what waits for a bind is simply read again later: don't wait long.
  shared.drain_timeout = std::chrono::seconds(2);
  shared_loop_ = std::make_unique<kafka::StageLoop>(
      kopts_, shared, producer_, [this](const rd_kafka_message_t& m, kafka::StageLoop::Done done) {
        on_record(m, std::move(done), false);
      });
  // What waits here for a bind (or a retry) on partitions that go to another
  // node is given back, not kept: the new owner reads it again, and this node
  // must not deliver it as well. A deliver_sm or forward already out is
  // waited for by the revoke. The group is eager for the reason the
  // sender's is (kafka/consumer.h): with librdkafka 2.0's cooperative
  // protocol the commit made while revoking could fail, and the new owner
  // would repeat every receipt delivered since the last commit.
  shared_loop_->set_give_back(
      [this](std::function<void()> job) { asio::post(io_, std::move(job)); },
      [this](const std::vector<kafka::TopicPartition>& tps) {
        return give_back(std::set<kafka::TopicPartition>(tps.begin(), tps.end()));
      });
  kafka::StageLoopOptions mine;
  mine.name = "gateway-node";
  mine.consumer.group_id = opts_.topic_prefix + "sluice-gateway-node-" + node_name_;
  mine.consumer.topics = {node_topic_};
  mine.drain_timeout = std::chrono::seconds(2);
  node_loop_ = std::make_unique<kafka::StageLoop>(
      kopts_, mine, producer_, [this](const rd_kafka_message_t& m, kafka::StageLoop::Done done) {
        on_record(m, std::move(done), true);
      });
  shared_loop_->start();
  node_loop_->start();
  asio::post(io_, [this] { sweep_blocked(); });
}

asio::awaitable<void> ReturnPath::drain() {
  stop_ = true;
  if (shared_loop_) shared_loop_->request_stop();
  if (node_loop_) node_loop_->request_stop();
  asio::steady_timer t(io_);
  while ((shared_loop_ && shared_loop_->running()) || (node_loop_ && node_loop_->running())) {
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void ReturnPath::stop() {
  stop_ = true;
  if (shared_loop_) shared_loop_->stop();
  if (node_loop_) node_loop_->stop();
  if (registry_reader_) registry_reader_->stop();
}

void ReturnPath::publish_binds(int64_t customer_id, int receivers) {
  std::string key = std::to_string(customer_id) + "|" + node_name_;
  kafka::Record r{binds_topic_, key, {}, {}};
  r.tombstone = receivers <= 0;
  if (receivers > 0) {
    records::v1::BindCount bc;
    bc.set_schema_version(1);
    bc.set_customer_id(customer_id);
    bc.set_node(node_name_);
    bc.set_receivers(static_cast<uint32_t>(receivers));
    bc.set_updated_at_ms(wall_ms());
    r.value = bc.SerializeAsString();
  }
  {
    std::lock_guard lock(mu_);
    if (receivers > 0)
      registry_[customer_id][node_name_] = receivers;
    else
      registry_[customer_id].erase(node_name_);
  }
  // An empty value is a tombstone in the compacted topic. Best effort: the
  // registry is advisory; a wrong entry costs a forward and a bounce, not a loss.
  producer_->produce(std::move(r), [](const kafka::DeliveryResult&) {});
}

void ReturnPath::on_binds_record(std::string_view key, std::string_view value) {
  auto bar = key.find('|');
  if (bar == std::string_view::npos) return;
  int64_t customer = std::atoll(std::string(key.substr(0, bar)).c_str());
  std::string node(key.substr(bar + 1));
  if (node == node_name_) return;  // our own entries we know first-hand
  std::lock_guard lock(mu_);
  if (value.empty()) {
    registry_[customer].erase(node);
    return;
  }
  records::v1::BindCount bc;
  if (bc.ParseFromArray(value.data(), static_cast<int>(value.size())))
    registry_[customer][node] = static_cast<int>(bc.receivers());
}

std::vector<std::string> ReturnPath::nodes_with_receivers(int64_t customer_id) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  auto it = registry_.find(customer_id);
  if (it == registry_.end()) return out;
  for (const auto& [node, n] : it->second)
    if (n > 0) out.push_back(node);
  return out;
}

void ReturnPath::on_record(const rd_kafka_message_t& m, kafka::StageLoop::Done done,
                           bool from_node_topic) {
  auto p = std::make_shared<Pending>();
  if (!p->d.ParseFromArray(m.payload, static_cast<int>(m.len)) || p->d.schema_version() != 1) {
    log::error("gateway: unreadable deliver record skipped",
               {{"offset", std::to_string(m.offset)}});
    done();
    return;
  }
  p->done = std::move(done);
  p->from_node_topic = from_node_topic;
  p->tp = {kafka::topic_of(&m), m.partition};
  p->offset = m.offset;
  asio::post(io_, [this, p] {
    if (!p->from_node_topic) open_.insert(p);
    attempt(p);
  });
}

void ReturnPath::finish(const std::shared_ptr<Pending>& p) {
  if (p->given_back) return;
  open_.erase(p);
  p->done();
}

size_t ReturnPath::give_back(const std::set<kafka::TopicPartition>& gone) {
  size_t n = 0;
  for (auto it = open_.begin(); it != open_.end();) {
    const auto& p = *it;
    if (p->busy || !gone.count(p->tp)) {
      ++it;
      continue;
    }
    p->given_back = true;
    shared_loop_->abandon(p->tp, p->offset);
    it = open_.erase(it);
    ++n;
  }
  return n;
}

void ReturnPath::release_one(int64_t customer_id) {
  auto it = blocked_.find(customer_id);
  if (it == blocked_.end()) return;
  // Given-back records leave here too, without taking the freed slot.
  while (!it->second.empty() && it->second.front()->given_back) it->second.pop_front();
  if (it->second.empty()) {
    blocked_.erase(it);
    return;
  }
  auto p = it->second.front();
  it->second.pop_front();
  if (it->second.empty()) blocked_.erase(it);
  attempt(p);
}

void ReturnPath::sweep_blocked() {
  // A safety net: a session that went away frees no slot; retry what waits.
  auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(1));
  t->async_wait([this, t](const boost::system::error_code& ec) {
    if (ec || stop_) return;
    auto all = std::move(blocked_);
    blocked_.clear();
    for (auto& [customer, q] : all)
      for (auto& p : q) attempt(p);
    sweep_blocked();
  });
}

void ReturnPath::retry_later(std::shared_ptr<Pending> p) {
  ++p->attempts;
  auto delay = std::chrono::milliseconds(std::min(30000, 250 << std::min(p->attempts, 7)));
  auto t = std::make_shared<asio::steady_timer>(io_, delay);
  t->async_wait([this, t, p](const boost::system::error_code&) { attempt(p); });
}

void ReturnPath::attempt(std::shared_ptr<Pending> p) {
  if (p->given_back) return;
  const auto& d = p->d;
  const char* kind = d.is_receipt() ? "receipt" : "mo";
  if (d.expire_at_ms() > 0 && d.expire_at_ms() < wall_ms()) {
    delivered_.Add({{"kind", kind}, {"status", "expired"}}).Increment();
    log::info("delivery expired undelivered",
              {{"customer", std::to_string(d.customer_id())}, {"kind", kind}});
    finish(p);
    return;
  }
  if (stop_) return;  // left uncommitted; read again after restart
  if (SessionBase* s = gw_.pick_receiver(d.customer_id())) {
    p->busy = true;
    s->deliver(to_deliver_sm(d), [this, p, kind](uint32_t status) {
      asio::post(io_, [this, p, kind, status] {
        p->busy = false;
        if (status == smpp::status::ESME_ROK) {
          delivered_.Add({{"kind", kind}, {"status", "ESME_ROK"}}).Increment();
          finish(p);
          release_one(p->d.customer_id());
          return;
        }
        if (status == smpp::status::ESME_RMSGQFUL) {
          // Our own sessions' delivery windows are full: not the customer's
          // fault, so no backoff; it goes as soon as an answer frees a slot.
          blocked_[p->d.customer_id()].push_back(p);
          return;
        }
        release_one(p->d.customer_id());
        delivered_.Add({{"kind", kind}, {"status", smpp::status_name(status)}}).Increment();
        retry_later(p);
      });
    });
    return;
  }
  // No local bind: another node's, if the registry knows one.
  auto nodes = nodes_with_receivers(d.customer_id());
  nodes.erase(std::remove(nodes.begin(), nodes.end(), node_name_), nodes.end());
  if (!nodes.empty()) {
    std::string target =
        p->from_node_topic
            ? deliver_topic_
            : schema::node_topic(opts_.topic_prefix, nodes[p->attempts % nodes.size()]).name;
    kafka::Record r{target, schema::customer_key(d.customer_id()), d.SerializeAsString(), {}};
    p->busy = true;
    producer_->produce(std::move(r), [this, p](const kafka::DeliveryResult& res) {
      asio::post(io_, [this, p, ok = res.ok()] {
        p->busy = false;
        if (ok)
          finish(p);
        else
          retry_later(p);
      });
    });
    return;
  }
  if (p->from_node_topic) {
    // Our bind went away and nobody has one: back to the shared topic, where
    // it waits for the customer's next bind.
    kafka::Record r{
        deliver_topic_, schema::customer_key(d.customer_id()), d.SerializeAsString(), {}};
    p->busy = true;
    producer_->produce(std::move(r), [this, p](const kafka::DeliveryResult& res) {
      asio::post(io_, [this, p, ok = res.ok()] {
        p->busy = false;
        if (ok)
          finish(p);
        else
          retry_later(p);
      });
    });
    return;
  }
  retry_later(p);
}

}  // namespace sluice::gateway
