#include "gateway/gateway.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/http_server.h"
#include "common/log.h"
#include "gateway/session.h"
#include "schema/topics.h"
#include "smpp/status.h"

namespace sluice::gateway {

namespace {
prometheus::Histogram::BucketBoundaries latency_buckets() {
  return {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
const char* bind_type(uint32_t cmd) {
  switch (static_cast<smpp::CommandId>(cmd)) {
    case smpp::CommandId::BindTransmitter:
      return "transmitter";
    case smpp::CommandId::BindReceiver:
      return "receiver";
    case smpp::CommandId::BindTransceiver:
      return "transceiver";
    default:
      return "unknown";
  }
}
const char* result_name(Gateway::AuthResult r) {
  switch (r) {
    case Gateway::AuthResult::ok:
      return "ok";
    case Gateway::AuthResult::bad_credentials:
      return "bad_credentials";
    case Gateway::AuthResult::disabled:
      return "disabled";
    case Gateway::AuthResult::ip_denied:
      return "ip_denied";
    case Gateway::AuthResult::too_many_binds:
      return "too_many_binds";
    case Gateway::AuthResult::busy:
      return "busy";
  }
  return "unknown";
}
// A plain function, not a capturing lambda: the coroutine frame must own its
// arguments (a lambda's captures die with the lambda object, before the frame).
asio::awaitable<bool> verify_on_pool(config::PasswordVerifier& v, std::string system_id,
                                     std::string hash, std::string password) {
  co_return v.verify(system_id, hash, password);
}
}  // namespace

Gateway::Gateway(asio::io_context& io, GatewayOptions opts,
                 std::shared_ptr<kafka::Producer> producer,
                 std::shared_ptr<config::ConfigStore> config, prometheus::Registry& registry)
    : io_(io),
      opts_(std::move(opts)),
      producer_(std::move(producer)),
      config_(std::move(config)),
      auth_pool_(static_cast<size_t>(std::max(1, opts_.auth_threads))),
      submit_topic_(schema::topic_name(opts_.topic_prefix, "sms.submit")),
      control_topic_(schema::topic_name(opts_.topic_prefix, "sms.control")),
      status_topic_(schema::topic_name(opts_.topic_prefix, "sms.status")),
      pdus_(prometheus::BuildCounter()
                .Name("sluice_gateway_pdus_total")
                .Help("PDUs from customers by command and the command_status we answered")
                .Register(registry)),
      bind_attempts_(prometheus::BuildCounter()
                         .Name("sluice_gateway_bind_attempts_total")
                         .Help("Bind attempts by result")
                         .Register(registry)),
      produce_errors_(prometheus::BuildCounter()
                          .Name("sluice_kafka_produce_errors_total")
                          .Help("Records Kafka did not take, by stage and error")
                          .Register(registry)),
      throttled_(prometheus::BuildCounter()
                     .Name("sluice_gateway_throttled_total")
                     .Help("Submits refused with ESME_RTHROTTLED for the customer's ingress rate")
                     .Register(registry)),
      binds_gauge_(prometheus::BuildGauge()
                       .Name("sluice_gateway_binds")
                       .Help("Customer binds on this node by bind type")
                       .Register(registry)),
      submit_latency_(prometheus::BuildHistogram()
                          .Name("sluice_gateway_submit_seconds")
                          .Help("From a submit arriving to Kafka acknowledging its record")
                          .Register(registry)
                          .Add({}, latency_buckets())),
      sessions_gauge_(prometheus::BuildGauge()
                          .Name("sluice_gateway_connections")
                          .Help("Open customer connections on this node")
                          .Register(registry)
                          .Add({})) {
  // Series that exist from the start at zero, so that dashboards and alerts
  // see 0 rather than nothing (Prometheus' advice for known label values).
  for (const char* e : {"_MSG_TIMED_OUT", "_QUEUE_FULL", "_TRANSPORT"})
    produce_errors_.Add({{"stage", "gateway"}, {"error", e}});
  for (const auto& c : config_->current()->customers) throttled_.Add({{"customer", c.system_id}});
}

Gateway::~Gateway() {
  auth_pool_.join();
}

void Gateway::start() {
  auto open = [this](const std::string& addr, uint16_t& port_out) {
    std::string host;
    uint16_t port = 0;
    if (!parse_host_port(addr, host, port)) throw std::runtime_error("bad listen address " + addr);
    tcp::endpoint ep(asio::ip::make_address(host), port);
    auto a = std::make_unique<tcp::acceptor>(io_);
    a->open(ep.protocol());
    a->set_option(tcp::acceptor::reuse_address(true));
    boost::system::error_code ec;
    a->bind(ep, ec);
    if (ec) throw std::runtime_error("smpp: cannot listen on " + addr + ": " + ec.message());
    a->listen(asio::socket_base::max_listen_connections);
    port_out = a->local_endpoint().port();
    return a;
  };
  acceptor_ = open(opts_.listen, port_);
  asio::co_spawn(io_, accept_loop(*acceptor_, false), asio::detached);
  log::info("smpp listening", {{"addr", opts_.listen}, {"port", std::to_string(port_)}});
  if (!opts_.tls_cert.empty() && !opts_.tls_key.empty()) {
    tls_ctx_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls_ctx_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1);
    tls_ctx_->use_certificate_chain_file(opts_.tls_cert);
    tls_ctx_->use_private_key_file(opts_.tls_key, asio::ssl::context::pem);
    tls_acceptor_ = open(opts_.tls_listen, tls_port_);
    asio::co_spawn(io_, accept_loop(*tls_acceptor_, true), asio::detached);
    log::info("smpp tls listening",
              {{"addr", opts_.tls_listen}, {"port", std::to_string(tls_port_)}});
  }
  listening_ = true;
}

asio::awaitable<void> Gateway::accept_loop(tcp::acceptor& acceptor, bool tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (!acceptor.is_open() || draining_) co_return;
    if (ec) {
      // Out of descriptors: wait rather than spin; existing sessions go on.
      log::warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code ignore;
    auto remote = socket.remote_endpoint(ignore);
    socket.set_option(tcp::no_delay(true), ignore);
    auto strand = asio::make_strand(io_);
    if (tls) {
      auto s = std::make_shared<Session<asio::ssl::stream<tcp::socket>>>(
          *this,
          asio::ssl::stream<tcp::socket>(tcp::socket(strand, remote.protocol(), socket.release()),
                                         *tls_ctx_),
          remote);
      asio::co_spawn(strand, s->run(), asio::detached);
    } else {
      auto proto = remote.protocol();
      auto s = std::make_shared<Session<tcp::socket>>(
          *this, tcp::socket(strand, proto, socket.release()), remote);
      asio::co_spawn(strand, s->run(), asio::detached);
    }
  }
}

asio::awaitable<void> Gateway::drain() {
  draining_ = true;
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  if (tls_acceptor_) tls_acceptor_->close(ec);
  listening_ = false;
  log::info("gateway draining", {{"sessions", std::to_string(sessions_.size())}});
  for (auto* s : sessions_) s->begin_drain();
  asio::steady_timer t(io_);
  while (!sessions_.empty()) {
    t.expires_after(std::chrono::milliseconds(20));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  log::info("gateway drained");
}

void Gateway::session_started(SessionBase* s) {
  sessions_.insert(s);
  sessions_gauge_.Increment();
}

void Gateway::session_ended(SessionBase* s) {
  sessions_.erase(s);
  sessions_gauge_.Decrement();
}

void Gateway::register_bind(int64_t customer_id, SessionBase* s) {
  binds_[customer_id].insert(s);
  if (bind_listener_ && s->can_receive()) bind_listener_(customer_id, receivers_of(customer_id));
}

void Gateway::unregister_bind(int64_t customer_id, SessionBase* s) {
  auto it = binds_.find(customer_id);
  if (it == binds_.end()) return;
  it->second.erase(s);
  if (it->second.empty()) binds_.erase(it);
  if (bind_listener_ && s->can_receive()) bind_listener_(customer_id, receivers_of(customer_id));
}

int Gateway::receivers_of(int64_t customer_id) const {
  auto it = binds_.find(customer_id);
  if (it == binds_.end()) return 0;
  int n = 0;
  for (auto* s : it->second) n += s->can_receive() ? 1 : 0;
  return n;
}

SessionBase* Gateway::pick_receiver(int64_t customer_id) {
  auto it = binds_.find(customer_id);
  if (it == binds_.end()) return nullptr;
  std::vector<SessionBase*> r;
  for (auto* s : it->second)
    if (s->can_receive()) r.push_back(s);
  if (r.empty()) return nullptr;
  size_t& i = rr_[customer_id];
  return r[i++ % r.size()];
}

bool Gateway::bind_failures_exceeded(const asio::ip::address& a) {
  auto it = failures_.find(a.to_string());
  if (it == failures_.end()) return false;
  if (std::chrono::steady_clock::now() - it->second.window_start > std::chrono::minutes(1)) {
    failures_.erase(it);
    return false;
  }
  return it->second.count >= opts_.max_bind_failures_per_minute;
}

void Gateway::record_bind_failure(const asio::ip::address& a) {
  auto now = std::chrono::steady_clock::now();
  if (failures_.size() > 100000) failures_.clear();  // bound the memory a flood can take
  auto& f = failures_[a.to_string()];
  if (f.count == 0 || now - f.window_start > std::chrono::minutes(1)) {
    f.count = 0;
    f.window_start = now;
  }
  ++f.count;
}

asio::awaitable<Gateway::BindGrant> Gateway::authenticate(const std::string& system_id,
                                                          const std::string& password,
                                                          const asio::ip::address& remote) {
  BindGrant g{AuthResult::bad_credentials, config_->current(), nullptr};
  if (bind_failures_exceeded(remote)) {
    g.result = AuthResult::busy;
    co_return g;
  }
  const config::Customer* c = g.snapshot->customer_by_system_id(system_id);
  if (!c) {
    record_bind_failure(remote);
    co_return g;
  }
  std::string hash = c->password_hash;
  bool ok = verifier_.verify_cached(system_id, hash, password);
  if (!ok) {
    // Binds that arrive together with the same credentials (a customer
    // opening many sessions at once) share one slow hash instead of queueing one each.
    std::string key = system_id + '\0' + hash + '\0' + password;
    auto it = auth_in_flight_.find(key);
    if (it != auth_in_flight_.end()) {
      auto flight = it->second;
      asio::steady_timer t(io_, std::chrono::steady_clock::time_point::max());
      flight->waiters.push_back(&t);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      ok = flight->ok;
    } else {
      if (auth_queue_ >= opts_.max_auth_queue) {
        g.result = AuthResult::busy;
        co_return g;
      }
      auto flight = std::make_shared<AuthFlight>();
      auth_in_flight_.emplace(key, flight);
      // The slow hash runs on the auth pool; this coroutine resumes on its strand.
      ++auth_queue_;
      ok = co_await asio::co_spawn(auth_pool_, verify_on_pool(verifier_, system_id, hash, password),
                                   asio::use_awaitable);
      --auth_queue_;
      flight->ok = ok;
      auth_in_flight_.erase(key);
      for (auto* w : flight->waiters) w->cancel();
    }
  }
  // The snapshot may have changed while we hashed: decide on the newest.
  g.snapshot = config_->current();
  c = g.snapshot->customer_by_system_id(system_id);
  if (!ok || !c || c->password_hash != hash) {
    record_bind_failure(remote);
    g.result = AuthResult::bad_credentials;
    co_return g;
  }
  if (!c->enabled) {
    g.result = AuthResult::disabled;
    co_return g;
  }
  if (!c->allows(remote)) {
    g.result = AuthResult::ip_denied;
    co_return g;
  }
  auto it = binds_.find(c->id);
  size_t current = it == binds_.end() ? 0 : it->second.size();
  if (c->max_binds > 0 && current >= static_cast<size_t>(c->max_binds)) {
    g.result = AuthResult::too_many_binds;
    co_return g;
  }
  g.result = AuthResult::ok;
  g.customer = c;
  co_return g;
}

bool Gateway::admit(const config::Customer& c, std::chrono::steady_clock::time_point now) {
  if (c.ingress_mps <= 0) return true;
  auto [it, fresh] = buckets_.try_emplace(c.id);
  Bucket& b = it->second;
  // Burst of one second's worth, so a customer at its rate is never refused.
  double burst = std::max(1.0, c.ingress_mps);
  if (fresh) {
    b.tokens = burst;
    b.last = now;
  }
  // Sessions pass the time of their last read, so `now` may be a little
  // older than another session's: time never runs backwards for the bucket.
  if (now < b.last) now = b.last;
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.last = now;
  b.tokens = std::min(burst, b.tokens + elapsed * c.ingress_mps);
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void Gateway::count_pdu(uint32_t command_id, uint32_t status) {
  uint64_t key = (static_cast<uint64_t>(command_id) << 32) | status;
  auto it = pdu_cache_.find(key);
  if (it == pdu_cache_.end()) {
    // Unknown command ids collapse into one label value: bounded cardinality.
    const char* cmd = smpp::command_name(command_id);
    const char* st = smpp::status_name(status);
    auto& c = pdus_.Add({{"command", cmd}, {"status", st}});
    if (pdu_cache_.size() < 4096)
      it = pdu_cache_.emplace(key, &c).first;
    else {
      c.Increment();
      return;
    }
  }
  it->second->Increment();
}

void Gateway::count_bind_attempt(AuthResult r) {
  bind_attempts_.Add({{"result", result_name(r)}}).Increment();
}

void Gateway::observe_submit(std::chrono::steady_clock::duration d) {
  submit_latency_.Observe(std::chrono::duration<double>(d).count());
}

void Gateway::count_produce_error(const std::string& error) {
  produce_errors_.Add({{"stage", "gateway"}, {"error", error}}).Increment();
}

void Gateway::count_throttled(const std::string& system_id) {
  throttled_.Add({{"customer", system_id}}).Increment();
}

void Gateway::bind_gauge(uint32_t bind_command_id, int delta) {
  binds_gauge_.Add({{"bind_type", bind_type(bind_command_id)}}).Increment(delta);
}

}  // namespace sluice::gateway
