#pragma once
// Everything Sluice keeps for one provider (SMSC) in this sender instance:
// its binds (ESME-side SMPP sessions, reconnecting with backoff), the queue of
// messages taken from its topic, the dispatcher that paces them through the
// ProviderBucket and the binds' windows, and the handling of what the
// provider answers. Runs on the sender's io_context; each provider is
// independent, so a dead or slow one holds back no other.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "kafka/control_book.h"
#include "kafka/producer.h"
#include "schema/records.pb.h"
#include "smpp/pdu.h"
#include "throttle/provider_bucket.h"

namespace sluice::throttle {

struct OutMessage {
  records::v1::Message msg;
  std::function<void()> done;  // the input record's outcome is durable
  int attempts = 0;
  std::chrono::steady_clock::time_point not_before{};
  int32_t partition = -1;  // where it was read, for giving it back on a revoke
  int64_t offset = -1;
};

struct SenderEnv {
  std::shared_ptr<kafka::Producer> producer;
  std::string topic_prefix;
  std::string node;
  std::chrono::seconds response_timeout{30};
  int max_attempts = 6;
  // Customers' cancel_sm / replace_sm, looked up just before a submit.
  std::shared_ptr<const kafka::ControlBook> controls;
  // For providers with tls = true: PEM CA certificates trusted besides the
  // system's. The certificate must match the provider's host name (or IP).
  std::string provider_ca;
};

struct ProviderMetrics {
  prometheus::Family<prometheus::Counter>* submits;
  prometheus::Family<prometheus::Gauge>* binds_up;
  prometheus::Family<prometheus::Gauge>* rate_limit;
  prometheus::Family<prometheus::Gauge>* window_used;
  prometheus::Family<prometheus::Counter>* throttle_events;
  prometheus::Family<prometheus::Counter>* dlrs;
  prometheus::Family<prometheus::Histogram>* latency;
  static ProviderMetrics create(prometheus::Registry& r);
};

// Segments a message costs at the provider: what the contract's rate counts.
int segments_of(const records::v1::Message& m);

class ProviderLink : public std::enable_shared_from_this<ProviderLink> {
 public:
  ProviderLink(boost::asio::io_context& io, config::Provider p, SenderEnv env,
               ProviderMetrics metrics);
  ~ProviderLink();

  void start();
  void stop();
  // Live configuration: rate, binds, window, credentials, enabled.
  void update(const config::Provider& p);
  // The fraction of the provider's topic partitions this instance holds.
  void set_share(double share);
  void enqueue(OutMessage m);

  size_t queued() const { return queued_.load(); }
  // Takes the queued messages read from these partitions of the provider's
  // topic, none of which has gone to the provider yet.
  std::vector<OutMessage> take_unsent(const std::set<int32_t>& partitions);
  // Stop sending new submits (drain); answers to outstanding ones still count.
  void stop_dispatching() {
    dispatching_ = false;
    wake();
  }
  int outstanding() const;
  int binds_up() const;
  int64_t provider_id() const { return provider_.id; }
  const std::string& name() const { return provider_.name; }
  double rate_limit() const { return bucket_.limit(); }
  int max_window_seen() const { return max_window_seen_; }

 private:
  struct Pending {
    OutMessage out;
    std::chrono::steady_clock::time_point sent_at;
    std::string group_key;
  };
  struct Bind;

  boost::asio::awaitable<void> dispatcher();
  // Acts on a customer's cancel_sm or replace_sm of the queue's head; true
  // when the head left the queue for it (cancelled, postponed, or expired by
  // a new validity).
  bool take_controlled(int64_t now_ms);
  // Fails the queue's head as EXPIRED if its validity has passed.
  bool expire_head(int64_t now_ms);
  boost::asio::awaitable<void> bind_loop(std::shared_ptr<Bind> b);
  boost::asio::awaitable<void> read_loop(std::shared_ptr<Bind> b);
  boost::asio::awaitable<void> writer(std::shared_ptr<Bind> b);
  boost::asio::awaitable<void> keepalive(std::shared_ptr<Bind> b);
  void send_pdu(Bind& b, const smpp::Pdu& pdu);
  void on_submit_resp(Bind& b, const smpp::Pdu& pdu);
  void on_deliver(std::shared_ptr<Bind> b, const smpp::Header& h, const smpp::DeliverSm& d);
  void bind_down(Bind& b, const std::string& why);
  void requeue_front(OutMessage m);
  void finish_sent(OutMessage out, uint32_t status, const std::string& provider_msg_id,
                   std::chrono::steady_clock::time_point sent_at);
  void produce_until_ok(kafka::Record rec, std::function<void()> done);
  void fail_internal(OutMessage out, uint32_t state, const std::string& err,
                     const std::string& reason);
  void wake() { wake_.cancel(); }
  Bind* pick_bind();
  void resize_binds();
  smpp::SubmitSm to_submit(const records::v1::Message& m) const;
  void refresh_limit();
  // The TLS context for this provider's binds, made on first use; throws
  // when the CA file cannot be read.
  boost::asio::ssl::context& tls_context();

  boost::asio::io_context& io_;
  config::Provider provider_;
  SenderEnv env_;
  ProviderMetrics metrics_;
  ProviderBucket bucket_;
  boost::asio::steady_timer wake_;
  std::deque<OutMessage> queue_;
  uint64_t front_changes_ = 0;  // messages put in front, or taken, other than by the dispatcher
  std::atomic<size_t> queued_{0};
  std::vector<std::shared_ptr<Bind>> binds_;
  size_t rr_ = 0;
  double share_ = 1.0;
  bool stopped_ = false;
  bool dispatching_ = true;
  std::map<std::string, int> group_outstanding_;  // multipart groups with a part in flight
  int max_window_seen_ = 0;
  std::string events_topic_, mo_topic_, deliver_topic_, accepted_topic_, status_topic_;
  std::unique_ptr<boost::asio::ssl::context> tls_ctx_;
};

}  // namespace sluice::throttle
