#include "throttle/provider_link.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "common/clock.h"
#include "common/log.h"
#include "schema/provider_id.h"
#include "schema/receipts.h"
#include "schema/status.h"
#include "schema/topics.h"
#include "smpp/frame.h"
#include "smpp/receipt.h"
#include "smpp/status.h"

namespace sluice::throttle {
namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
namespace st = smpp::status;

ProviderMetrics ProviderMetrics::create(prometheus::Registry& r) {
  ProviderMetrics m;
  m.submits = &prometheus::BuildCounter()
                   .Name("sluice_sender_submits_total")
                   .Help("submit_sm to providers by the provider's command_status")
                   .Register(r);
  m.binds_up = &prometheus::BuildGauge()
                    .Name("sluice_sender_binds_up")
                    .Help("Binds up per provider")
                    .Register(r);
  m.rate_limit =
      &prometheus::BuildGauge()
           .Name("sluice_sender_rate_limit")
           .Help("Segments per second this instance may send to the provider (its share)")
           .Register(r);
  m.window_used = &prometheus::BuildGauge()
                       .Name("sluice_sender_window_used")
                       .Help("Outstanding submit_sm across the provider's binds")
                       .Register(r);
  m.throttle_events = &prometheus::BuildCounter()
                           .Name("sluice_sender_throttle_events_total")
                           .Help("ESME_RTHROTTLED / ESME_RMSGQFUL answers from the provider")
                           .Register(r);
  m.dlrs = &prometheus::BuildCounter()
                .Name("sluice_sender_dlrs_received_total")
                .Help("deliver_sm receipts received from the provider")
                .Register(r);
  m.latency = &prometheus::BuildHistogram()
                   .Name("sluice_sender_submit_seconds")
                   .Help("submit_sm to submit_sm_resp at the provider")
                   .Register(r);
  return m;
}

int segments_of(const records::v1::Message& m) {
  // Each submit_sm is one segment; a message_payload carries a long text in
  // one PDU that the provider splits: count what it will send.
  size_t len = m.short_message().size();
  for (const auto& t : m.tlvs())
    if (t.tag() == smpp::tlv::message_payload) len = t.value().size();
  if (len == 0 || !m.short_message().empty()) return 1;
  bool ucs2 = m.data_coding() == 8;
  size_t single = ucs2 ? 140 : 160, part = ucs2 ? 134 : 153;
  if (len <= single) return 1;
  return static_cast<int>((len + part - 1) / part);
}

struct ProviderLink::Bind {
  explicit Bind(asio::any_io_executor ex) : socket(ex), write_signal(ex) {
    write_signal.expires_at(Clock::time_point::max());
  }
  int index = 0;
  uint32_t bind_cmd = 0;
  tcp::socket socket;
  // Over `socket` when the provider has tls = true; made anew per connection
  // and held by that connection's reader and writer while they run.
  std::shared_ptr<asio::ssl::stream<tcp::socket&>> tls;
  asio::steady_timer write_signal;
  std::vector<uint8_t> out;
  bool connected = false, up = false, retired = false;
  uint32_t seq = 0;
  std::map<uint32_t, Pending> pending;
  Clock::time_point last_read{}, enquire_sent{};
  bool enquire_outstanding = false;
  int generation = 0;
  bool can_transmit() const {
    return bind_cmd == smpp::to_u32(smpp::CommandId::BindTransmitter) ||
           bind_cmd == smpp::to_u32(smpp::CommandId::BindTransceiver);
  }
  uint32_t next_seq() {
    if (++seq > 0x7FFFFFFF) seq = 1;
    return seq;
  }
};

ProviderLink::ProviderLink(asio::io_context& io, config::Provider p, SenderEnv env,
                           ProviderMetrics metrics)
    : io_(io),
      provider_(std::move(p)),
      env_(std::move(env)),
      metrics_(metrics),
      bucket_(io.get_executor()),
      wake_(io) {
  events_topic_ = schema::topic_name(env_.topic_prefix, "sms.provider-events");
  mo_topic_ = schema::topic_name(env_.topic_prefix, "sms.mo");
  deliver_topic_ = schema::topic_name(env_.topic_prefix, "sms.deliver");
  accepted_topic_ = schema::topic_name(env_.topic_prefix, "sms.accepted");
  status_topic_ = schema::topic_name(env_.topic_prefix, "sms.status");
  refresh_limit();
  // Zero-valued series from the start: "no throttling yet" reads as 0.
  metrics_.throttle_events->Add({{"provider", provider_.name}});
  metrics_.binds_up->Add({{"provider", provider_.name}});
}

ProviderLink::~ProviderLink() = default;

asio::ssl::context& ProviderLink::tls_context() {
  if (!tls_ctx_) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    ctx->set_default_verify_paths();
    if (!env_.provider_ca.empty()) ctx->load_verify_file(env_.provider_ca);
    tls_ctx_ = std::move(ctx);
  }
  return *tls_ctx_;
}

void ProviderLink::refresh_limit() {
  double limit = provider_.mps > 0 ? provider_.mps * share_ : 0;
  bucket_.set_limit(limit);
  metrics_.rate_limit->Add({{"provider", provider_.name}}).Set(limit);
}

void ProviderLink::start() {
  resize_binds();
  asio::co_spawn(
      io_, [self = shared_from_this()] { return self->dispatcher(); }, asio::detached);
}

void ProviderLink::stop() {
  stopped_ = true;
  for (auto& b : binds_) {
    b->retired = true;
    boost::system::error_code ec;
    b->socket.close(ec);
    b->write_signal.cancel();
  }
  wake();
}

void ProviderLink::resize_binds() {
  // transmitter_receiver: a transmitter and a receiver per configured bind.
  std::vector<uint32_t> cmds;
  for (int i = 0; i < std::max(0, provider_.enabled ? provider_.binds : 0); ++i) {
    switch (provider_.bind_mode) {
      case config::Provider::BindMode::transmitter:
        cmds.push_back(smpp::to_u32(smpp::CommandId::BindTransmitter));
        break;
      case config::Provider::BindMode::transceiver:
        cmds.push_back(smpp::to_u32(smpp::CommandId::BindTransceiver));
        break;
      case config::Provider::BindMode::transmitter_receiver:
        cmds.push_back(smpp::to_u32(smpp::CommandId::BindTransmitter));
        cmds.push_back(smpp::to_u32(smpp::CommandId::BindReceiver));
        break;
    }
  }
  // Retire binds beyond the new count or of another mode; start missing ones.
  std::vector<std::shared_ptr<Bind>> keep;
  for (size_t i = 0; i < binds_.size(); ++i) {
    auto& b = binds_[i];
    if (i < cmds.size() && b->bind_cmd == cmds[i] && !b->retired) {
      keep.push_back(b);
    } else {
      b->retired = true;
      boost::system::error_code ec;
      b->socket.close(ec);
      b->write_signal.cancel();
    }
  }
  binds_ = keep;
  for (size_t i = binds_.size(); i < cmds.size(); ++i) {
    auto b = std::make_shared<Bind>(io_.get_executor());
    b->index = static_cast<int>(i);
    b->bind_cmd = cmds[i];
    binds_.push_back(b);
    asio::co_spawn(io_, bind_loop(b), asio::detached);
  }
}

void ProviderLink::update(const config::Provider& p) {
  bool reconnect = p.host != provider_.host || p.port != provider_.port || p.tls != provider_.tls ||
                   p.system_id != provider_.system_id || p.password != provider_.password ||
                   p.system_type != provider_.system_type || p.bind_mode != provider_.bind_mode;
  provider_ = p;
  refresh_limit();
  if (reconnect) {
    for (auto& b : binds_) {
      b->retired = true;
      boost::system::error_code ec;
      b->socket.close(ec);
      b->write_signal.cancel();
    }
    binds_.clear();
  }
  resize_binds();
  wake();
}

void ProviderLink::set_share(double share) {
  share_ = share;
  refresh_limit();
}

void ProviderLink::enqueue(OutMessage m) {
  queue_.push_back(std::move(m));
  ++queued_;
  wake();
}

std::vector<OutMessage> ProviderLink::take_unsent(const std::set<int32_t>& partitions) {
  std::vector<OutMessage> out;
  std::deque<OutMessage> keep;
  for (auto& m : queue_) {
    if (partitions.count(m.partition))
      out.push_back(std::move(m));
    else
      keep.push_back(std::move(m));
  }
  queue_.swap(keep);
  queued_ -= out.size();
  if (!out.empty()) {
    ++front_changes_;
    wake();
  }
  return out;
}

void ProviderLink::requeue_front(OutMessage m) {
  queue_.push_front(std::move(m));
  ++queued_;
  ++front_changes_;
  wake();
}

int ProviderLink::outstanding() const {
  int n = 0;
  for (const auto& b : binds_) n += static_cast<int>(b->pending.size());
  return n;
}

int ProviderLink::binds_up() const {
  int n = 0;
  for (const auto& b : binds_) n += b->up ? 1 : 0;
  return n;
}

ProviderLink::Bind* ProviderLink::pick_bind() {
  const size_t n = binds_.size();
  for (size_t i = 0; i < n; ++i) {
    auto& b = binds_[(rr_ + i) % n];
    if (b->up && !b->retired && b->can_transmit() &&
        static_cast<int>(b->pending.size()) < provider_.window) {
      rr_ = (rr_ + i + 1) % n;
      return b.get();
    }
  }
  return nullptr;
}

smpp::SubmitSm ProviderLink::to_submit(const records::v1::Message& m) const {
  smpp::SubmitSm sm;
  sm.service_type = m.service_type();
  sm.source = {static_cast<uint8_t>(m.source().ton()), static_cast<uint8_t>(m.source().npi()),
               m.source().addr()};
  if (!provider_.source_addr_override.empty()) sm.source.addr = provider_.source_addr_override;
  sm.dest = {static_cast<uint8_t>(m.dest().ton()), static_cast<uint8_t>(m.dest().npi()),
             m.dest().addr()};
  sm.esm_class = static_cast<uint8_t>(m.esm_class());
  sm.protocol_id = static_cast<uint8_t>(m.protocol_id());
  sm.priority_flag = static_cast<uint8_t>(m.priority_flag());
  // Sluice always asks the provider for a receipt: it needs the outcome for
  // query_sm and for customers who want one; the DLR stage filters.
  sm.registered_delivery = 1;
  sm.data_coding = static_cast<uint8_t>(m.data_coding());
  sm.short_message.assign(m.short_message().begin(), m.short_message().end());
  for (const auto& t : m.tlvs())
    sm.tlvs.items.push_back({static_cast<uint16_t>(t.tag()), {t.value().begin(), t.value().end()}});
  return sm;
}

bool ProviderLink::take_controlled(int64_t now_ms) {
  if (!env_.controls || queue_.empty()) return false;
  OutMessage& head = queue_.front();
  auto c = env_.controls->find(schema::visible_id(head.msg));
  if (!c) return false;
  if (c->kind() == records::v1::Control::CANCEL) {
    OutMessage m = std::move(queue_.front());
    queue_.pop_front();
    --queued_;
    metrics_.submits->Add({{"provider", provider_.name}, {"status", "cancelled"}}).Increment();
    // The fact behind the gateway's promise; it outlives compaction.
    auto st = schema::status_of(m.msg, "final", schema::kStateDeleted, now_ms);
    produce_until_ok({status_topic_, st.id(), st.SerializeAsString(), {}}, std::move(m.done));
    return true;
  }
  // Postponing a part of a multipart message would meet the router's
  // memory of its group's route; parts take only the new text.
  bool single = head.msg.concat().total() <= 1;
  if (schema::apply_replacement(*c, head.msg) && single &&
      head.msg.schedule_at_ms() > now_ms + 1000) {
    // Postponed by replace_sm: back to the router, which holds it in a
    // delay tier until its new time.
    OutMessage m = std::move(queue_.front());
    queue_.pop_front();
    --queued_;
    m.msg.clear_provider_id();
    m.msg.clear_provider_name();
    produce_until_ok({accepted_topic_, m.msg.id(), m.msg.SerializeAsString(), {}},
                     std::move(m.done));
    return true;
  }
  // A validity the gateway accepted may have passed while the message waited
  // its turn.
  return expire_head(now_ms);
}

bool ProviderLink::expire_head(int64_t now_ms) {
  if (queue_.empty()) return false;
  int64_t expire = queue_.front().msg.expire_at_ms();
  if (expire <= 0 || expire > now_ms) return false;
  OutMessage m = std::move(queue_.front());
  queue_.pop_front();
  --queued_;
  fail_internal(std::move(m), schema::kStateExpired, "000",
                "validity period passed before the provider took it");
  return true;
}

asio::awaitable<void> ProviderLink::dispatcher() {
  auto self = shared_from_this();
  asio::steady_timer pause(io_);
  while (!stopped_) {
    Bind* bind = queue_.empty() || !dispatching_ ? nullptr : pick_bind();
    if (queue_.empty() || !bind) {
      wake_.expires_after(std::chrono::milliseconds(200));
      co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    auto now = Clock::now();
    OutMessage& head = queue_.front();
    if (head.not_before > now) {
      pause.expires_at(head.not_before);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    int64_t now_ms = wall_ms();
    if (expire_head(now_ms) || take_controlled(now_ms)) continue;
    // Parts of one message go one at a time, so they reach the provider in order.
    const std::string& group = head.msg.concat().group_key();
    if (!group.empty() && group_outstanding_[group] > 0) {
      wake_.expires_after(std::chrono::milliseconds(50));
      co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    const uint64_t front_seen = front_changes_;
    co_await bucket_.acquire(segments_of(head.msg));
    // Another message put in front meanwhile gets its own checks first.
    if (stopped_ || queue_.empty() || front_changes_ != front_seen) continue;
    bind = pick_bind();
    if (!bind) continue;
    // A cancel that came during the wait for the rate still counts: the
    // customer heard ESME_ROK, so the last look is just before the send. The
    // head may also have changed meanwhile (a message put back in front).
    now_ms = wall_ms();
    if (expire_head(now_ms) || take_controlled(now_ms)) continue;
    OutMessage m = std::move(queue_.front());
    queue_.pop_front();
    --queued_;
    uint32_t seq = bind->next_seq();
    auto pdu = smpp::make_pdu(to_submit(m.msg), seq);
    std::string gk = m.msg.concat().group_key();
    if (!gk.empty()) ++group_outstanding_[gk];
    bind->pending.emplace(seq, Pending{std::move(m), Clock::now(), gk});
    max_window_seen_ = std::max(max_window_seen_, static_cast<int>(bind->pending.size()));
    send_pdu(*bind, pdu);
    int used = 0;
    for (auto& b : binds_) used += static_cast<int>(b->pending.size());
    metrics_.window_used->Add({{"provider", provider_.name}}).Set(used);
  }
}

void ProviderLink::send_pdu(Bind& b, const smpp::Pdu& pdu) {
  smpp::encode_to(b.out, pdu);
  b.write_signal.cancel();
}

asio::awaitable<void> ProviderLink::writer(std::shared_ptr<Bind> b) {
  std::vector<uint8_t> inflight;
  int gen = b->generation;
  auto tls = b->tls;
  try {
    while (b->connected && gen == b->generation) {
      if (b->out.empty()) {
        b->write_signal.expires_at(Clock::time_point::max());
        co_await b->write_signal.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      inflight.clear();
      inflight.swap(b->out);
      if (tls)
        co_await asio::async_write(*tls, asio::buffer(inflight), asio::use_awaitable);
      else
        co_await asio::async_write(b->socket, asio::buffer(inflight), asio::use_awaitable);
    }
  } catch (const std::exception&) {
    boost::system::error_code ec;
    b->socket.close(ec);
  }
}

asio::awaitable<void> ProviderLink::keepalive(std::shared_ptr<Bind> b) {
  asio::steady_timer t(io_);
  int gen = b->generation;
  while (b->connected && gen == b->generation && !stopped_) {
    t.expires_after(std::chrono::seconds(1));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!b->connected || gen != b->generation) break;
    auto now = Clock::now();
    bool stuck = b->enquire_outstanding && now - b->enquire_sent > env_.response_timeout;
    for (auto& [seq, p] : b->pending)
      if (now - p.sent_at > env_.response_timeout) stuck = true;
    if (stuck) {
      log::warn("provider stopped answering; reconnecting", {{"provider", provider_.name}});
      boost::system::error_code ec;
      b->socket.close(ec);
      break;
    }
    if (b->up && !b->enquire_outstanding && now - b->last_read > provider_.enquire_link_interval) {
      b->enquire_outstanding = true;
      b->enquire_sent = now;
      send_pdu(*b, smpp::make_pdu(smpp::EnquireLink{}, b->next_seq()));
    }
  }
}

void ProviderLink::bind_down(Bind& b, const std::string& why) {
  bool was_up = b.up;
  b.up = false;
  b.connected = false;
  ++b.generation;
  b.write_signal.cancel();
  b.out.clear();
  // What was in flight goes back to the front in its order: the provider may
  // have taken some of it (a duplicate, counted by whoever compares), but
  // nothing is lost.
  std::vector<Pending> back;
  for (auto& [seq, p] : b.pending) back.push_back(std::move(p));
  b.pending.clear();
  for (auto it = back.rbegin(); it != back.rend(); ++it) {
    if (!it->group_key.empty() && --group_outstanding_[it->group_key] <= 0)
      group_outstanding_.erase(it->group_key);
    requeue_front(std::move(it->out));
  }
  if (was_up) {
    metrics_.binds_up->Add({{"provider", provider_.name}}).Set(binds_up());
    log::warn("provider bind down", {{"provider", provider_.name},
                                     {"bind", std::to_string(b.index)},
                                     {"why", why},
                                     {"requeued", std::to_string(back.size())}});
  }
}

asio::awaitable<void> ProviderLink::bind_loop(std::shared_ptr<Bind> b) {
  auto self = shared_from_this();
  auto backoff = std::chrono::milliseconds(500);
  asio::steady_timer t(io_);
  std::string last_failure;  // said once, not at every retry
  while (!stopped_ && !b->retired) {
    std::string why = "closed";
    // Shared with the connect deadline's handler, which may run late.
    struct Attempt {
      bool settled = false, timed_out = false;
    };
    auto attempt = std::make_shared<Attempt>();
    try {
      tcp::resolver resolver(io_);
      auto results = co_await resolver.async_resolve(provider_.host, std::to_string(provider_.port),
                                                     asio::use_awaitable);
      b->socket = tcp::socket(io_);
      b->tls.reset();
      // Neither a connect nor a TLS handshake may hang the bind: the socket
      // is closed under them once the response timeout passes. `settled`
      // keeps a timer that expired just as they finished from closing a
      // good connection (cancel() cannot recall a handler already queued).
      asio::steady_timer deadline(io_, env_.response_timeout);
      deadline.async_wait([b, attempt](const boost::system::error_code& ec) {
        if (ec || attempt->settled) return;
        attempt->timed_out = true;
        boost::system::error_code ignored;
        b->socket.close(ignored);
      });
      co_await asio::async_connect(b->socket, results, asio::use_awaitable);
      b->socket.set_option(tcp::no_delay(true));
      if (provider_.tls) {
        b->tls = std::make_shared<asio::ssl::stream<tcp::socket&>>(b->socket, tls_context());
        boost::system::error_code not_ip;
        asio::ip::make_address(provider_.host, not_ip);
        // SNI names a host, never an address (RFC 6066).
        if (not_ip) SSL_set_tlsext_host_name(b->tls->native_handle(), provider_.host.c_str());
        b->tls->set_verify_mode(asio::ssl::verify_peer);
        b->tls->set_verify_callback(asio::ssl::host_name_verification(provider_.host));
        co_await b->tls->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      }
      attempt->settled = true;
      deadline.cancel();
      b->connected = true;
      b->last_read = Clock::now();
      b->enquire_outstanding = false;
      asio::co_spawn(io_, writer(b), asio::detached);
      asio::co_spawn(io_, keepalive(b), asio::detached);
      smpp::BindRequest req;
      req.command_id = b->bind_cmd;
      req.system_id = provider_.system_id;
      req.password = provider_.password;
      req.system_type = provider_.system_type;
      send_pdu(*b, smpp::make_pdu(req, b->next_seq()));
      co_await read_loop(b);
    } catch (const boost::system::system_error& e) {
      // The error's text, not what(): that carries Boost's source location.
      why = attempt->timed_out ? "no connection or TLS handshake within the response timeout"
                               : e.code().message();
    } catch (const std::exception& e) {
      why = e.what();
    }
    attempt->settled = true;
    boost::system::error_code ec;
    b->socket.close(ec);
    bool had_been_up = b->up;
    bind_down(*b, why);
    if (stopped_ || b->retired) break;
    if (!had_been_up && why != last_failure) {
      // Never bound: a refused connection, a failed TLS handshake (say, a
      // certificate that does not verify) or a refused bind.
      log::warn("provider not bound; retrying",
                {{"provider", provider_.name}, {"bind", std::to_string(b->index)}, {"why", why}});
    }
    last_failure = had_been_up ? std::string() : why;
    backoff = had_been_up ? std::chrono::milliseconds(500)
                          : std::min(backoff * 2, std::chrono::milliseconds(30000));
    t.expires_after(backoff);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> ProviderLink::read_loop(std::shared_ptr<Bind> b) {
  auto tls = b->tls;
  std::vector<uint8_t> buf(65536);
  size_t len = 0;
  asio::steady_timer bind_deadline(io_);
  for (;;) {
    size_t pos = 0;
    for (;;) {
      auto check = smpp::check_frame(std::span(buf.data() + pos, len - pos), 72000);
      if (check.state == smpp::FrameState::NeedMore) {
        if (check.length > buf.size()) buf.resize(check.length);
        break;
      }
      if (check.state != smpp::FrameState::Complete) co_return;  // stream lost; reconnect
      auto frame = std::span<const uint8_t>(buf.data() + pos, check.length);
      pos += check.length;
      auto h = smpp::read_header(frame);
      auto decoded = smpp::decode(frame);
      if (!decoded) {
        if (!smpp::is_response(h.command_id)) {
          smpp::Header nack{
              16,
              smpp::to_u32(decoded.error().generic_nack
                               ? smpp::CommandId::GenericNack
                               : static_cast<smpp::CommandId>(smpp::response_id(h.command_id))),
              decoded.error().status, h.sequence_number};
          smpp::write_header(b->out, nack);
          b->write_signal.cancel();
        }
        continue;
      }
      auto& pdu = decoded.value();
      switch (static_cast<smpp::CommandId>(h.command_id)) {
        case smpp::CommandId::BindTransmitterResp:
        case smpp::CommandId::BindReceiverResp:
        case smpp::CommandId::BindTransceiverResp:
          if (h.command_status != st::ESME_ROK) {
            log::warn("provider refused bind", {{"provider", provider_.name},
                                                {"status", smpp::status_name(h.command_status)}});
            co_return;
          }
          b->up = true;
          metrics_.binds_up->Add({{"provider", provider_.name}}).Set(binds_up());
          log::info("provider bound", {{"provider", provider_.name},
                                       {"bind", std::to_string(b->index)},
                                       {"mode", smpp::command_name(b->bind_cmd)}});
          wake();
          break;
        case smpp::CommandId::SubmitSmResp:
          on_submit_resp(*b, pdu);
          break;
        case smpp::CommandId::DeliverSm:
          on_deliver(b, h, std::get<smpp::DeliverSm>(pdu.body));
          break;
        case smpp::CommandId::EnquireLink:
          send_pdu(*b, smpp::make_pdu(smpp::EnquireLinkResp{}, h.sequence_number));
          break;
        case smpp::CommandId::EnquireLinkResp:
          b->enquire_outstanding = false;
          break;
        case smpp::CommandId::Unbind:
          send_pdu(*b, smpp::make_pdu(smpp::UnbindResp{}, h.sequence_number));
          co_return;
        case smpp::CommandId::GenericNack: {
          // A nack for one of our submits: treat as a temporary failure of it.
          auto it = b->pending.find(h.sequence_number);
          if (it != b->pending.end()) {
            smpp::Pdu fake{smpp::Header{16, smpp::to_u32(smpp::CommandId::SubmitSmResp),
                                        st::ESME_RSYSERR, h.sequence_number},
                           smpp::SubmitSmResp{}};
            on_submit_resp(*b, fake);
          }
          break;
        }
        default:
          if (!smpp::is_response(h.command_id)) {
            smpp::Header nack{16, smpp::response_id(h.command_id), st::ESME_RINVCMDID,
                              h.sequence_number};
            smpp::write_header(b->out, nack);
            b->write_signal.cancel();
          }
      }
    }
    if (pos > 0) {
      std::memmove(buf.data(), buf.data() + pos, len - pos);
      len -= pos;
    }
    if (len == buf.size()) buf.resize(buf.size() * 2);
    auto room = asio::buffer(buf.data() + len, buf.size() - len);
    size_t n = tls ? co_await tls->async_read_some(room, asio::use_awaitable)
                   : co_await b->socket.async_read_some(room, asio::use_awaitable);
    len += n;
    b->last_read = Clock::now();
  }
}

namespace {
bool is_throttle(uint32_t s) {
  return s == st::ESME_RTHROTTLED || s == st::ESME_RMSGQFUL;
}
bool is_temporary(uint32_t s) {
  return s == st::ESME_RSYSERR || s == st::ESME_RX_T_APPN || s == st::ESME_RUNKNOWNERR ||
         s == 0x00000400;
}
}  // namespace

void ProviderLink::on_submit_resp(Bind& b, const smpp::Pdu& pdu) {
  auto it = b.pending.find(pdu.header.sequence_number);
  if (it == b.pending.end()) return;
  Pending p = std::move(it->second);
  b.pending.erase(it);
  if (!p.group_key.empty() && --group_outstanding_[p.group_key] <= 0)
    group_outstanding_.erase(p.group_key);
  uint32_t status = pdu.header.command_status;
  metrics_.submits->Add({{"provider", provider_.name}, {"status", smpp::status_name(status)}})
      .Increment();
  metrics_.latency
      ->Add({{"provider", provider_.name}},
            prometheus::Histogram::BucketBoundaries{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                                    0.25, 0.5, 1, 2.5, 5})
      .Observe(std::chrono::duration<double>(Clock::now() - p.sent_at).count());
  wake();
  if (is_throttle(status)) {
    bucket_.on_throttled(Clock::now());
    metrics_.throttle_events->Add({{"provider", provider_.name}}).Increment();
    // Retry in place: the same message goes first again, once the bucket lets it.
    requeue_front(std::move(p.out));
    return;
  }
  if (is_temporary(status) && p.out.attempts + 1 < env_.max_attempts) {
    ++p.out.attempts;
    p.out.not_before = Clock::now() + std::chrono::milliseconds(200 << std::min(p.out.attempts, 6));
    requeue_front(std::move(p.out));
    return;
  }
  std::string id;
  if (status == st::ESME_ROK) {
    if (auto* r = std::get_if<smpp::SubmitSmResp>(&pdu.body)) id = r->message_id;
  }
  finish_sent(std::move(p.out), status, id, p.sent_at);
}

void ProviderLink::finish_sent(OutMessage out, uint32_t status, const std::string& provider_msg_id,
                               Clock::time_point) {
  records::v1::Sent s;
  const auto& m = out.msg;
  s.set_schema_version(1);
  s.set_id(m.customer_message_id().empty() ? m.id() : m.customer_message_id());
  s.set_customer_id(m.customer_id());
  s.set_provider_id(provider_.id);
  s.set_provider_message_id(provider_msg_id);
  s.set_command_status(status);
  s.set_sent_at_ms(wall_ms());
  s.set_registered_delivery(m.registered_delivery());
  s.set_submitted_at_ms(m.submitted_at_ms());
  if (m.has_concat()) s.mutable_concat()->CopyFrom(m.concat());
  s.set_expire_at_ms(m.expire_at_ms());
  s.mutable_source()->CopyFrom(m.source());
  s.mutable_dest()->CopyFrom(m.dest());
  // One record per join key (schema/provider_id.h): a digits-only id may be
  // decimal or hex, and the receipt will tell which. A refused submit needs no
  // join; the DLR stage turns it into the customer's failure receipt at once.
  std::vector<std::string> keys;
  if (status == st::ESME_ROK) keys = schema::pid::sent_keys(provider_.id, provider_msg_id);
  if (keys.empty()) keys.push_back(schema::pid::join_key(provider_.id, "~" + m.id()));
  records::v1::ProviderEvent ev;
  ev.set_schema_version(1);
  *ev.mutable_sent() = std::move(s);
  std::string value = ev.SerializeAsString();
  // The input's offset is committed only once every record is in Kafka.
  auto left = std::make_shared<std::atomic<int>>(static_cast<int>(keys.size()));
  auto done = std::make_shared<std::function<void()>>(std::move(out.done));
  for (auto& k : keys) {
    produce_until_ok({events_topic_, k, value, {}}, [left, done] {
      if (--*left == 0) (*done)();
    });
  }
}

void ProviderLink::produce_until_ok(kafka::Record rec, std::function<void()> done) {
  auto self = shared_from_this();
  kafka::Record copy = rec;
  env_.producer->produce(std::move(copy), [self, rec = std::move(rec), done = std::move(done)](
                                              const kafka::DeliveryResult& r) mutable {
    if (r.ok()) {
      done();
      return;
    }
    if (self->stopped_) return;  // the input stays uncommitted and is read again
    auto t = std::make_shared<asio::steady_timer>(self->io_, std::chrono::milliseconds(500));
    t->async_wait([self, t, rec = std::move(rec),
                   done = std::move(done)](const boost::system::error_code&) mutable {
      self->produce_until_ok(std::move(rec), std::move(done));
    });
  });
}

void ProviderLink::fail_internal(OutMessage out, uint32_t state, const std::string& err,
                                 const std::string& reason) {
  auto d = schema::internal_receipt(out.msg, state, err, reason, wall_ms());
  if (!d) {
    out.done();
    return;
  }
  produce_until_ok(
      {deliver_topic_, schema::customer_key(out.msg.customer_id()), d->SerializeAsString(), {}},
      std::move(out.done));
}

void ProviderLink::on_deliver(std::shared_ptr<Bind> b, const smpp::Header& h,
                              const smpp::DeliverSm& d) {
  records::v1::ProviderDeliver pd;
  pd.set_schema_version(1);
  pd.set_provider_id(provider_.id);
  uint8_t type = d.esm_class & 0x3C;
  bool receipt =
      type == 0x04 || type == 0x10 || d.tlvs.find(smpp::tlv::receipted_message_id) != nullptr;
  pd.set_is_receipt(receipt);
  pd.mutable_source()->set_ton(d.source.ton);
  pd.mutable_source()->set_npi(d.source.npi);
  pd.mutable_source()->set_addr(d.source.addr);
  pd.mutable_dest()->set_ton(d.dest.ton);
  pd.mutable_dest()->set_npi(d.dest.npi);
  pd.mutable_dest()->set_addr(d.dest.addr);
  pd.set_esm_class(d.esm_class);
  pd.set_data_coding(d.data_coding);
  pd.set_short_message(std::string(d.short_message.begin(), d.short_message.end()));
  for (const auto& t : d.tlvs.items) {
    auto* r = pd.add_tlvs();
    r->set_tag(t.tag);
    r->set_value(std::string(t.value.begin(), t.value.end()));
  }
  pd.set_received_at_ms(wall_ms());
  std::string key, topic;
  if (receipt) {
    std::string text(d.short_message.begin(), d.short_message.end());
    auto parsed = smpp::parse_receipt(text);
    std::string pid;
    if (auto tid = d.tlvs.cstr(smpp::tlv::receipted_message_id); tid && !tid->empty())
      pid = *tid;
    else if (parsed)
      pid = parsed->id;
    pd.set_provider_message_id(pid);
    if (auto ms = d.tlvs.u8(smpp::tlv::message_state))
      pd.set_message_state(*ms);
    else if (parsed)
      pd.set_message_state(smpp::message_state_of(parsed->stat));
    if (parsed) {
      pd.set_stat(parsed->stat);
      pd.set_err(parsed->err);
    }
    key = schema::pid::receipt_key(provider_.id, pid);
    topic = events_topic_;
    metrics_.dlrs->Add({{"provider", provider_.name}}).Increment();
  } else {
    key = d.dest.addr;
    topic = mo_topic_;
  }
  uint32_t seq = h.sequence_number;
  int gen = b->generation;
  auto self = shared_from_this();
  // deliver_sm_resp only once the receipt or MO is in Kafka; a temporary
  // error otherwise, so that the provider sends it again.
  std::string value;
  if (receipt) {
    records::v1::ProviderEvent ev;
    ev.set_schema_version(1);
    *ev.mutable_receipt() = std::move(pd);
    value = ev.SerializeAsString();
  } else {
    value = pd.SerializeAsString();
  }
  env_.producer->produce(
      {topic, key, std::move(value), {}}, [self, b, seq, gen](const kafka::DeliveryResult& r) {
        asio::post(self->io_, [self, b, seq, gen, ok = r.ok()] {
          if (!b->connected || b->generation != gen) return;
          self->send_pdu(*b, smpp::make_pdu(smpp::DeliverSmResp{}, seq,
                                            ok ? st::ESME_ROK : st::ESME_RX_T_APPN));
        });
      });
}

}  // namespace sluice::throttle
