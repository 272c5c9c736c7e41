#pragma once
// The customer-facing SMPP server. One coroutine per connection (see
// session.h); this class owns what sessions share: the listeners, the
// customers' binds on this node, ingress rate buckets, password checks on a
// worker pool, and the Kafka producer that makes a submit durable before the
// customer hears ESME_ROK.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "config/config.h"
#include "config/password.h"
#include "gateway/message_id.h"
#include "gateway/status_view.h"
#include "kafka/producer.h"
#include "smpp/pdu.h"

namespace sluice::gateway {

struct GatewayOptions {
  std::string listen = "127.0.0.1:2775";
  std::string tls_listen = "127.0.0.1:3550";
  std::string tls_cert, tls_key;  // TLS listener only when both are set
  std::string topic_prefix;
  std::string node = "node";
  std::chrono::seconds bind_timeout{30};         // connected but not bound
  std::chrono::seconds inactivity_timeout{120};  // nothing read from the customer
  std::chrono::seconds enquire_link_interval{30};
  std::chrono::seconds response_timeout{10};  // our enquire_link / unbind unanswered
  int window = 256;                    // outstanding submits per session before we stop reading
  uint32_t max_pdu = 72000;            // message_payload up to 64 KiB
  size_t max_pending_write = 4 << 20;  // a customer that does not read is cut off
  int auth_threads = 1;
  int max_auth_queue = 1024;  // bind attempts waiting for a password check
  // Failed binds per source address within a minute before further attempts
  // from it are refused without paying for the hash.
  int max_bind_failures_per_minute = 30;
};

class SessionBase;

class Gateway {
 public:
  Gateway(boost::asio::io_context& io, GatewayOptions opts,
          std::shared_ptr<kafka::Producer> producer, std::shared_ptr<config::ConfigStore> config,
          prometheus::Registry& registry);
  ~Gateway();

  void start();                          // throws when a listener cannot bind
  boost::asio::awaitable<void> drain();  // stop accepting; answer, unbind and close sessions
  bool listening() const { return listening_; }
  uint16_t port() const { return port_; }
  uint16_t tls_port() const { return tls_port_; }
  size_t session_count() const { return sessions_.size(); }

  // ---- for sessions ----
  enum class AuthResult { ok, bad_credentials, disabled, ip_denied, too_many_binds, busy };
  struct BindGrant {
    AuthResult result;
    std::shared_ptr<const config::Snapshot> snapshot;
    const config::Customer* customer = nullptr;
  };
  boost::asio::awaitable<BindGrant> authenticate(const std::string& system_id,
                                                 const std::string& password,
                                                 const boost::asio::ip::address& remote);
  void register_bind(int64_t customer_id, SessionBase* s);
  // A receiver or transceiver bind of the customer on this node, round robin.
  SessionBase* pick_receiver(int64_t customer_id);
  // Local receiver binds per customer changed (for the bind registry).
  void set_bind_listener(std::function<void(int64_t customer_id, int receivers)> cb) {
    bind_listener_ = std::move(cb);
  }
  int receivers_of(int64_t customer_id) const;
  void unregister_bind(int64_t customer_id, SessionBase* s);
  void session_started(SessionBase* s);
  void session_ended(SessionBase* s);
  // Token bucket per customer on this node; false: answer ESME_RTHROTTLED.
  bool admit(const config::Customer& c, std::chrono::steady_clock::time_point now);

  const GatewayOptions& options() const { return opts_; }
  kafka::Producer& producer() { return *producer_; }
  std::shared_ptr<const config::Snapshot> snapshot() const { return config_->current(); }
  MessageIdGenerator& ids() { return ids_; }
  const std::string& submit_topic() const { return submit_topic_; }
  const std::string& control_topic() const { return control_topic_; }
  const std::string& status_topic() const { return status_topic_; }
  // Message states for query_sm, cancel_sm and replace_sm; without one they
  // are refused (ESME_RQUERYFAIL, ESME_RCANCELFAIL, ESME_RREPLACEFAIL).
  void set_status_view(std::shared_ptr<StatusView> v) { status_view_ = std::move(v); }
  StatusView* status_view() const { return status_view_.get(); }
  boost::asio::io_context& io() { return io_; }
  bool draining() const { return draining_; }

  // ---- metrics ----
  void count_pdu(uint32_t command_id, uint32_t status);
  void count_bind_attempt(AuthResult r);
  void observe_submit(std::chrono::steady_clock::duration d);
  void count_produce_error(const std::string& error);
  void count_throttled(const std::string& system_id);
  void bind_gauge(uint32_t bind_command_id, int delta);

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor, bool tls);
  bool bind_failures_exceeded(const boost::asio::ip::address& a);
  void record_bind_failure(const boost::asio::ip::address& a);

  boost::asio::io_context& io_;
  GatewayOptions opts_;
  std::shared_ptr<kafka::Producer> producer_;
  std::shared_ptr<config::ConfigStore> config_;
  config::PasswordVerifier verifier_;
  boost::asio::thread_pool auth_pool_;
  int auth_queue_ = 0;
  struct AuthFlight {
    bool ok = false;
    std::vector<boost::asio::steady_timer*> waiters;
  };
  std::unordered_map<std::string, std::shared_ptr<AuthFlight>> auth_in_flight_;
  MessageIdGenerator ids_;
  std::string submit_topic_, control_topic_, status_topic_;
  std::shared_ptr<StatusView> status_view_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_, tls_acceptor_;
  std::unique_ptr<boost::asio::ssl::context> tls_ctx_;
  bool listening_ = false, draining_ = false;
  uint16_t port_ = 0, tls_port_ = 0;
  std::set<SessionBase*> sessions_;
  std::map<int64_t, std::set<SessionBase*>> binds_;
  std::map<int64_t, size_t> rr_;
  std::function<void(int64_t, int)> bind_listener_;
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  std::unordered_map<int64_t, Bucket> buckets_;
  struct Failures {
    int count = 0;
    std::chrono::steady_clock::time_point window_start;
  };
  std::map<std::string, Failures> failures_;

  prometheus::Family<prometheus::Counter>& pdus_;
  prometheus::Family<prometheus::Counter>& bind_attempts_;
  prometheus::Family<prometheus::Counter>& produce_errors_;
  prometheus::Family<prometheus::Counter>& throttled_;
  prometheus::Family<prometheus::Gauge>& binds_gauge_;
  prometheus::Histogram& submit_latency_;
  prometheus::Gauge& sessions_gauge_;
  std::unordered_map<uint64_t, prometheus::Counter*> pdu_cache_;
};

// What the gateway needs of a session, whatever its stream type.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void begin_drain() = 0;
  virtual bool can_receive() const = 0;
  // Sends a deliver_sm; `done` gets the customer's command_status, or
  // ESME_RSYSERR when the session ends or the answer does not come in time,
  // or ESME_RMSGQFUL at once when the session's delivery window is full.
  virtual void deliver(smpp::DeliverSm pdu, std::function<void(uint32_t status)> done) = 0;
};

}  // namespace sluice::gateway
