#include "throttle/sender_stage.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <set>
#include <thread>

#include "common/log.h"
#include "kafka/admin.h"
#include "schema/topics.h"

namespace sluice::throttle {
namespace asio = boost::asio;

namespace {
std::string regex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

SenderStage::SenderStage(asio::io_context& io, kafka::KafkaOptions kopts,
                         std::shared_ptr<kafka::Producer> producer,
                         std::shared_ptr<config::ConfigStore> config, SenderOptions opts,
                         prometheus::Registry& registry)
    : io_(io),
      kopts_(std::move(kopts)),
      producer_(std::move(producer)),
      config_(std::move(config)),
      opts_(std::move(opts)),
      metrics_(ProviderMetrics::create(registry)),
      topic_stem_(opts_.topic_prefix + "sms.out."),
      lag_gauge_(&prometheus::BuildGauge()
                      .Name("sluice_stage_consumer_lag")
                      .Help("Records not yet consumed, per stage")
                      .Register(registry)
                      .Add({{"stage", "sender"}})) {}

SenderStage::~SenderStage() {
  stop();
}

std::string SenderStage::provider_of_topic(const std::string& topic) const {
  if (topic.rfind(topic_stem_, 0) != 0) return {};
  return topic.substr(topic_stem_.size());
}

void SenderStage::start() {
  kafka::StageLoopOptions lo;
  lo.name = "sender";
  lo.consumer.group_id = opts_.topic_prefix + "sluice-sender";
  lo.consumer.topics = {"^" + regex_escape(topic_stem_) + "[A-Za-z0-9._-]+$"};
  lo.consumer.on_assign = [this](const std::vector<kafka::TopicPartition>& tps) {
    for (const auto& tp : tps) assigned_.insert(tp);
    shares_dirty_ = true;
  };
  lo.consumer.on_revoke = [this](const std::vector<kafka::TopicPartition>& tps) {
    for (const auto& tp : tps) assigned_.erase(tp);
    shares_dirty_ = true;
  };
  // A queued message that has not gone out when we stop is simply read again
  // by the next owner; no need to wait long for it.
  lo.drain_timeout = std::chrono::seconds(3);
  lo.consumer.prefetch_kbytes = opts_.prefetch_kbytes;
  // A repeat here is a message sent twice (kafka/consumer.h).
  lo.consumer.eager = true;
  // Each provider's queue is bounded by its own hold (tick()). A release
  // brings what its partitions collected at once, and the loop's own pause,
  // which throws the prefetch away, should not answer that.
  lo.max_in_flight = std::max<size_t>(lo.max_in_flight, 5 * opts_.high_watermark);
  loop_ = std::make_unique<kafka::StageLoop>(
      kopts_, lo, producer_, [this](const rd_kafka_message_t& m, kafka::StageLoop::Done done) {
        on_record(m, std::move(done));
      });
  loop_->set_tick([this](kafka::Consumer& c) { tick(c); });
  // What waits in a provider's queue for partitions that go to another
  // sender is given back, not sent: the new owner reads it again. (Waiting
  // for it to drain at the provider's pace could outlast the revoke, and both
  // would send it.)
  loop_->set_give_back([this](std::function<void()> job) { asio::post(io_, std::move(job)); },
                       [this](const std::vector<kafka::TopicPartition>& tps) {
                         size_t n = 0;
                         for (auto& [name, link] : links_) {
                           std::set<int32_t> parts;
                           std::string topic;
                           for (const auto& tp : tps)
                             if (provider_of_topic(tp.topic) == name) {
                               parts.insert(tp.partition);
                               topic = tp.topic;
                             }
                           if (parts.empty()) continue;
                           for (auto& m : link->take_unsent(parts)) {
                             loop_->abandon({topic, m.partition}, m.offset);
                             ++n;
                           }
                         }
                         return n;
                       });
  config_->on_change([this](std::shared_ptr<const config::Snapshot> snap) {
    asio::post(io_, [this, snap] { apply_config(snap); });
  });
  asio::post(io_, [this] { apply_config(config_->current()); });
  loop_->start();
}

void SenderStage::apply_config(std::shared_ptr<const config::Snapshot> snap) {
  std::vector<schema::TopicSpec> missing;
  for (const auto& p : snap->providers) {
    auto it = links_.find(p.name);
    if (it == links_.end()) {
      SenderEnv env{producer_, opts_.topic_prefix, opts_.node, opts_.response_timeout};
      env.provider_ca = opts_.provider_ca;
      env.controls = opts_.controls;
      auto link = std::make_shared<ProviderLink>(io_, p, env, metrics_);
      link->start();
      links_.emplace(p.name, link);
      log::info("provider link created", {{"provider", p.name},
                                          {"binds", std::to_string(p.enabled ? p.binds : 0)},
                                          {"mps", std::to_string(p.mps)}});
    } else {
      it->second->update(p);
    }
    std::lock_guard lock(mu_);
    if (!known_topics_.count(p.name) && schema::valid_provider_topic_part(p.name)) {
      known_topics_.insert(p.name);
      missing.push_back(schema::provider_topic(opts_.topic_prefix, p.name));
    }
  }
  // A provider that left the table keeps its link (and queue) but no binds.
  for (auto& [name, link] : links_) {
    if (!snap->provider_by_name(name)) {
      config::Provider gone;
      gone.name = name;
      gone.enabled = false;
      gone.binds = 0;
      link->update(gone);
    }
  }
  if (!missing.empty() && opts_.create_topic) {
    for (const auto& t : missing) opts_.create_topic(t);
  } else if (!missing.empty()) {
    // A new provider gets its outbound topic without an operator step. Admin
    // calls block, so they run on a thread of their own. The topic gets as
    // many partitions as the router's input has: that is the count the
    // deployment chose (`sluice topics --partitions`), and it bounds how many
    // senders share the provider.
    std::thread([kopts = kopts_, missing,
                 model = schema::topic_name(opts_.topic_prefix, "sms.accepted")]() mutable {
      if (int n = kafka::partition_count(kopts, model); n > 0)
        for (auto& t : missing)
          if (t.scales) t.partitions = n;
      auto problems = kafka::create_topics(kopts, missing);
      for (const auto& p : problems)
        log::warn("cannot create provider topic", {{"topic", p.topic}, {"why", p.problem}});
    }).detach();
  }
}

void SenderStage::on_record(const rd_kafka_message_t& m, kafka::StageLoop::Done done) {
  OutMessage out;
  if (!out.msg.ParseFromArray(m.payload, static_cast<int>(m.len)) ||
      out.msg.schema_version() != 1) {
    log::error("sender: unreadable record skipped",
               {{"topic", kafka::topic_of(&m)}, {"offset", std::to_string(m.offset)}});
    done();
    return;
  }
  out.done = std::move(done);
  out.partition = m.partition;
  out.offset = m.offset;
  std::string provider = provider_of_topic(kafka::topic_of(&m));
  asio::post(io_, [this, provider = std::move(provider), out = std::move(out)]() mutable {
    deliver_to_link(std::move(provider), std::move(out));
  });
}

void SenderStage::deliver_to_link(std::string provider, OutMessage out) {
  auto it = links_.find(provider);
  if (it != links_.end()) {
    it->second->enqueue(std::move(out));
    return;
  }
  // Config not loaded yet, or a topic for a provider nobody configured: hold
  // the message (its offset stays open) and look again shortly.
  auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(1));
  t->async_wait([this, t, provider = std::move(provider),
                 out = std::move(out)](const boost::system::error_code&) mutable {
    deliver_to_link(std::move(provider), std::move(out));
  });
}

void SenderStage::recompute_shares(kafka::Consumer& c) {
  std::map<std::string, int> held;
  for (const auto& tp : assigned_) held[tp.topic]++;
  std::map<std::string, double> shares;
  for (const auto& [topic, n] : held) {
    int total = partition_counts_[topic];
    if (total <= 0) {
      const rd_kafka_metadata_t* md = nullptr;
      rd_kafka_topic_t* rkt = rd_kafka_topic_new(c.handle(), topic.c_str(), nullptr);
      if (rd_kafka_metadata(c.handle(), 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          md->topic_cnt == 1)
        total = md->topics[0].partition_cnt;
      if (md) rd_kafka_metadata_destroy(md);
      rd_kafka_topic_destroy(rkt);
      partition_counts_[topic] = total;
    }
    shares[provider_of_topic(topic)] = total > 0 ? static_cast<double>(n) / total : 1.0;
  }
  asio::post(io_, [this, shares] {
    for (auto& [name, link] : links_) {
      auto it = shares.find(name);
      // No partitions held: nothing to send; keep a token share so that what
      // is already queued can still drain.
      link->set_share(it == shares.end() ? 0.0 : it->second);
    }
  });
}

void SenderStage::tick(kafka::Consumer& c) {
  if (shares_dirty_) {
    shares_dirty_ = false;
    recompute_shares(c);
  }
  lag_gauge_->Set(static_cast<double>(loop_ ? loop_->lag() : 0));
  std::map<std::string, size_t> q;
  {
    std::lock_guard lock(mu_);
    q = queued_snapshot_;
  }
  // Hold the partitions of a provider whose queue is full; release them below
  // the low watermark. Held records wait in librdkafka, fetched (up to
  // prefetch_kbytes a partition), so a released provider goes on at once
  // where a resumed one waited for the broker (kafka/consumer.h).
  std::vector<kafka::TopicPartition> to_hold, to_release;
  for (const auto& tp : assigned_) {
    auto it = q.find(provider_of_topic(tp.topic));
    size_t queued = it == q.end() ? 0 : it->second;
    bool held = c.is_held(tp);  // the sender is the consumer's only holder
    if ((queued >= opts_.high_watermark || draining_) && !held) to_hold.push_back(tp);
    if (queued <= opts_.low_watermark && held && !draining_) to_release.push_back(tp);
  }
  if (!to_hold.empty()) c.hold(to_hold);
  if (!to_release.empty()) c.release(to_release);
  // Refresh the queue snapshot from the io thread for the next tick.
  asio::post(io_, [this] {
    std::map<std::string, size_t> snap;
    for (auto& [name, link] : links_) snap[name] = link->queued();
    std::lock_guard lock(mu_);
    queued_snapshot_ = std::move(snap);
  });
}

asio::awaitable<void> SenderStage::drain() {
  draining_ = true;
  for (auto& [name, link] : links_) link->stop_dispatching();
  asio::steady_timer t(io_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    int outstanding = 0;
    for (auto& [name, link] : links_) outstanding += link->outstanding();
    if (outstanding == 0 || std::chrono::steady_clock::now() > deadline) break;
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (loop_) loop_->request_stop();
  // Give the Sent records of the last answers time to be acknowledged.
  t.expires_after(std::chrono::milliseconds(200));
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

void SenderStage::stop() {
  if (loop_) loop_->stop();
  for (auto& [name, link] : links_) link->stop();
}

int64_t SenderStage::lag() const {
  return loop_ ? loop_->lag() : 0;
}

std::shared_ptr<ProviderLink> SenderStage::link(const std::string& provider_name) {
  auto it = links_.find(provider_name);
  return it == links_.end() ? nullptr : it->second;
}

}  // namespace sluice::throttle
