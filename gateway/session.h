#pragma once
// One customer connection. It reads like the protocol: a loop of read_pdu(),
// a switch on command_id. Writes go through one writer coroutine that drains
// a byte queue, so answers that complete out of order (Kafka acks) never
// interleave. A watchdog coroutine enforces the bind and inactivity deadlines
// and sends enquire_link when the line is quiet.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "gateway/control.h"
#include "gateway/gateway.h"
#include "gateway/ingress.h"
#include "smpp/frame.h"
#include "smpp/pdu.h"
#include "smpp/status.h"

namespace sluice::gateway {

namespace asio = boost::asio;
using asio::ip::tcp;

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  using Clock = std::chrono::steady_clock;

  Session(Gateway& gw, Stream stream, tcp::endpoint remote)
      : gw_(gw),
        stream_(std::move(stream)),
        remote_(remote),
        write_signal_(stream_.get_executor()),
        window_signal_(stream_.get_executor()),
        watchdog_timer_(stream_.get_executor()) {
    write_signal_.expires_at(Clock::time_point::max());
    window_signal_.expires_at(Clock::time_point::max());
    connected_at_ = last_read_ = Clock::now();
    last_read_wall_ = std::chrono::system_clock::now();
  }

  ~Session() override = default;

  asio::awaitable<void> run() {
    auto self = this->shared_from_this();
    gw_.session_started(this);
    try {
      co_await handshake();
      asio::co_spawn(stream_.get_executor(), writer(self), asio::detached);
      asio::co_spawn(stream_.get_executor(), watchdog(self), asio::detached);
      co_await reader();
    } catch (const std::exception& e) {
      log::debug("session ended", {{"remote", remote_.address().to_string()}, {"why", e.what()}});
    }
    // Let the writer send what is queued (a final nack or unbind_resp) first.
    closing_ = true;
    wake_writer();
    co_await wait_writer_done();
    shutdown();
    fail_deliveries();
    if (customer_id_) {
      gw_.unregister_bind(*customer_id_, this);
      gw_.bind_gauge(bind_command_, -1);
    }
    gw_.session_ended(this);
  }

  void begin_drain() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->start_drain(); });
  }

  void deliver(smpp::DeliverSm pdu, std::function<void(uint32_t)> done) override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), pdu = std::move(pdu),
                                        done = std::move(done)]() mutable {
      self->start_deliver(std::move(pdu), std::move(done));
    });
  }

  bool can_receive() const override {
    return bound_ && (bind_command_ == smpp::to_u32(smpp::CommandId::BindReceiver) ||
                      bind_command_ == smpp::to_u32(smpp::CommandId::BindTransceiver));
  }

 private:
  // ---- I/O plumbing ----
  asio::awaitable<void> handshake() {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      co_return;
    } else {
      co_await stream_.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
    }
  }

  auto& socket() {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      return stream_;
    } else {
      return stream_.next_layer();
    }
  }

  void shutdown() {
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
  }

  // Reads one whole PDU frame into frame_. Returns false on a framing error
  // (already answered with generic_nack).
  asio::awaitable<bool> read_pdu() {
    for (;;) {
      auto check =
          smpp::check_frame(std::span(rbuf_.data() + rpos_, rlen_ - rpos_), gw_.options().max_pdu);
      if (check.state == smpp::FrameState::Complete) {
        frame_ = std::span(rbuf_.data() + rpos_, check.length);
        rpos_ += check.length;
        co_return true;
      }
      if (check.state == smpp::FrameState::TooShort || check.state == smpp::FrameState::TooLong) {
        uint32_t seq = 0;
        if (rlen_ - rpos_ >= 16)
          seq = smpp::read_header(std::span(rbuf_.data() + rpos_, 16)).sequence_number;
        send_status_only(smpp::to_u32(smpp::CommandId::GenericNack), seq,
                         smpp::status::ESME_RINVCMDLEN);
        gw_.count_pdu(0, smpp::status::ESME_RINVCMDLEN);
        log::info("closing: bad command_length", {{"remote", remote_.address().to_string()},
                                                  {"length", std::to_string(check.length)}});
        co_return false;
      }
      // Need more: compact, grow if the announced frame is bigger than the buffer.
      if (rpos_ > 0) {
        std::memmove(rbuf_.data(), rbuf_.data() + rpos_, rlen_ - rpos_);
        rlen_ -= rpos_;
        rpos_ = 0;
      }
      size_t want = std::max<size_t>(check.length, 4096);
      if (rbuf_.size() < want) rbuf_.resize(want);
      if (rbuf_.size() - rlen_ < 1024 && rbuf_.size() < 65536 + gw_.options().max_pdu)
        rbuf_.resize(rbuf_.size() * 2);
      size_t n = co_await socket_read(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_));
      rlen_ += n;
      // One reading of each clock per socket read serves every PDU in it:
      // the clocks are a measurable share of a submit_sm's cost.
      last_read_ = Clock::now();
      last_read_wall_ = std::chrono::system_clock::now();
    }
  }

  asio::awaitable<size_t> socket_read(asio::mutable_buffer b) {
    co_return co_await stream_.async_read_some(b, asio::use_awaitable);
  }

  void send(const smpp::Pdu& pdu) {
    if (dead_) return;
    smpp::encode_to(pending_, pdu);
    if (pending_.size() > gw_.options().max_pending_write) {
      log::warn("closing: customer does not read its answers",
                {{"remote", remote_.address().to_string()}});
      dead_ = true;
      shutdown();
    }
    wake_writer();
  }

  void send_status_only(uint32_t command_id, uint32_t seq, uint32_t status) {
    smpp::Header h{16, command_id, status, seq};
    smpp::write_header(pending_, h);
    wake_writer();
  }

  void wake_writer() { write_signal_.cancel(); }

  asio::awaitable<void> writer(std::shared_ptr<Session> self) {
    (void)self;  // keeps the session alive while the writer runs
    std::vector<uint8_t> inflight;
    try {
      for (;;) {
        if (pending_.empty()) {
          if (closing_ || dead_) break;
          write_signal_.expires_at(Clock::time_point::max());
          co_await write_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
          continue;
        }
        inflight.clear();
        inflight.swap(pending_);
        co_await asio::async_write(stream_, asio::buffer(inflight), asio::use_awaitable);
      }
    } catch (const std::exception&) {
      dead_ = true;
    }
    writer_done_ = true;
    window_signal_.cancel();
  }

  asio::awaitable<void> wait_writer_done() {
    auto deadline = Clock::now() + std::chrono::seconds(2);
    asio::steady_timer t(stream_.get_executor());
    while (!writer_done_ && Clock::now() < deadline) {
      t.expires_after(std::chrono::milliseconds(5));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  asio::awaitable<void> watchdog(std::shared_ptr<Session> self) {
    (void)self;
    const auto& o = gw_.options();
    try {
      while (!closing_ && !dead_) {
        watchdog_timer_.expires_after(std::chrono::seconds(1));
        co_await watchdog_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (closing_ || dead_) break;
        auto now = Clock::now();
        expire_deliveries(now);
        if (!bound_ && now - connected_at_ > o.bind_timeout) {
          log::info("closing: no bind in time", {{"remote", remote_.address().to_string()}});
          shutdown();
          break;
        }
        if (now - last_read_ > o.inactivity_timeout) {
          log::info("closing: inactive", {{"remote", remote_.address().to_string()}});
          shutdown();
          break;
        }
        if (enquire_sent_ && now - *enquire_sent_ > o.response_timeout) {
          log::info("closing: enquire_link unanswered",
                    {{"remote", remote_.address().to_string()}});
          shutdown();
          break;
        }
        // Our unbind (a drain) gets a short wait: some clients never answer it.
        if (unbind_sent_ &&
            now - *unbind_sent_ >
                std::min<Clock::duration>(o.response_timeout, std::chrono::seconds(3))) {
          shutdown();
          break;
        }
        if (bound_ && !enquire_sent_ && now - last_read_ > o.enquire_link_interval) {
          enquire_sent_ = now;
          send(smpp::make_pdu(smpp::EnquireLink{}, next_seq()));
        }
      }
    } catch (const std::exception&) {
    }
  }

  uint32_t next_seq() {
    if (++seq_ > 0x7FFFFFFF) seq_ = 1;
    return seq_;
  }

  static constexpr size_t kDeliveryWindow = 256;

  void start_deliver(smpp::DeliverSm pdu, std::function<void(uint32_t)> done) {
    if (dead_ || closing_ || !can_receive()) {
      done(smpp::status::ESME_RSYSERR);
      return;
    }
    if (deliveries_.size() >= kDeliveryWindow) {
      done(smpp::status::ESME_RMSGQFUL);
      return;
    }
    uint32_t seq = next_seq();
    deliveries_.emplace(seq, Delivery{std::move(done), Clock::now()});
    send(smpp::make_pdu(std::move(pdu), seq));
  }

  void on_deliver_resp(const smpp::Header& h) {
    auto it = deliveries_.find(h.sequence_number);
    if (it == deliveries_.end()) return;
    auto done = std::move(it->second.done);
    deliveries_.erase(it);
    done(h.command_status);
  }

  void fail_deliveries() {
    auto pending = std::move(deliveries_);
    deliveries_.clear();
    for (auto& [seq, d] : pending) d.done(smpp::status::ESME_RSYSERR);
  }

  void expire_deliveries(Clock::time_point now) {
    std::vector<std::function<void(uint32_t)>> late;
    for (auto it = deliveries_.begin(); it != deliveries_.end();) {
      if (now - it->second.sent_at > gw_.options().response_timeout) {
        late.push_back(std::move(it->second.done));
        it = deliveries_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& d : late) d(smpp::status::ESME_RSYSERR);
  }

  void start_drain() {
    if (draining_) return;
    draining_ = true;
    maybe_finish_drain();
  }

  void maybe_finish_drain() {
    if (!draining_ || outstanding_ > 0 || unbind_sent_ || closing_) return;
    if (!bound_) {
      shutdown();
      return;
    }
    unbind_sent_ = Clock::now();
    send(smpp::make_pdu(smpp::Unbind{}, next_seq()));
  }

  // ---- the protocol ----
  asio::awaitable<void> reader() {
    for (;;) {
      while (outstanding_ >= gw_.options().window && !dead_) {
        // The customer's window is full: stop reading; TCP pushes back.
        window_signal_.expires_at(Clock::time_point::max());
        co_await window_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      if (dead_) co_return;
      if (!co_await read_pdu()) co_return;
      auto header = smpp::read_header(frame_);
      auto decoded = smpp::decode(frame_);
      if (!decoded) {
        answer_decode_error(header, decoded.error());
        continue;
      }
      smpp::Pdu& pdu = decoded.value();
      switch (static_cast<smpp::CommandId>(header.command_id)) {
        case smpp::CommandId::BindTransmitter:
        case smpp::CommandId::BindReceiver:
        case smpp::CommandId::BindTransceiver:
          co_await on_bind(header, std::get<smpp::BindRequest>(pdu.body));
          break;
        case smpp::CommandId::EnquireLink:
          reply(header, smpp::EnquireLinkResp{});
          break;
        case smpp::CommandId::EnquireLinkResp:
          enquire_sent_.reset();
          break;
        case smpp::CommandId::Unbind:
          co_await on_unbind(header);
          co_return;
        case smpp::CommandId::UnbindResp:
          if (unbind_sent_) co_return;
          break;
        case smpp::CommandId::SubmitSm:
          on_submit(header, std::get<smpp::SubmitSm>(pdu.body));
          break;
        case smpp::CommandId::DataSm:
          on_data_sm(header, std::get<smpp::DataSm>(pdu.body));
          break;
        case smpp::CommandId::SubmitMulti:
          on_submit_multi(header, std::get<smpp::SubmitMulti>(pdu.body));
          break;
        case smpp::CommandId::QuerySm:
          on_query(header, std::get<smpp::QuerySm>(pdu.body));
          break;
        case smpp::CommandId::CancelSm:
          co_await on_cancel(header, std::get<smpp::CancelSm>(pdu.body));
          break;
        case smpp::CommandId::ReplaceSm:
          co_await on_replace(header, std::get<smpp::ReplaceSm>(pdu.body));
          break;
        case smpp::CommandId::DeliverSmResp:
          on_deliver_resp(header);
          break;
        case smpp::CommandId::DataSmResp:
          break;
        case smpp::CommandId::GenericNack:
          log::debug("customer sent generic_nack",
                     {{"status", smpp::status_name(header.command_status)}});
          break;
        default:
          // Valid PDUs that an ESME does not send to an SMSC (deliver_sm,
          // outbind, alert_notification, responses we did not ask for).
          if (smpp::is_response(header.command_id)) break;
          reply_status(header, smpp::status::ESME_RINVBNDSTS);
          break;
      }
    }
  }

  void answer_decode_error(const smpp::Header& h, const smpp::DecodeError& e) {
    gw_.count_pdu(h.command_id, e.status);
    if (smpp::is_response(h.command_id)) return;  // never answer an answer
    log::debug("bad pdu", {{"remote", remote_.address().to_string()},
                           {"command", smpp::command_name(h.command_id)},
                           {"reason", e.reason}});
    if (e.generic_nack) {
      send_status_only(smpp::to_u32(smpp::CommandId::GenericNack), h.sequence_number, e.status);
    } else {
      send_status_only(smpp::response_id(h.command_id), h.sequence_number, e.status);
    }
  }

  template <class Body>
  void reply(const smpp::Header& req, Body body, uint32_t status = smpp::status::ESME_ROK) {
    gw_.count_pdu(req.command_id, status);
    auto pdu = smpp::make_pdu(std::move(body), req.sequence_number, status);
    send(pdu);
  }

  void reply_status(const smpp::Header& req, uint32_t status) {
    gw_.count_pdu(req.command_id, status);
    send_status_only(smpp::response_id(req.command_id), req.sequence_number, status);
  }

  bool require_transmit(const smpp::Header& h) {
    bool ok = bound_ && (bind_command_ == smpp::to_u32(smpp::CommandId::BindTransmitter) ||
                         bind_command_ == smpp::to_u32(smpp::CommandId::BindTransceiver));
    if (!ok) reply_status(h, smpp::status::ESME_RINVBNDSTS);
    return ok;
  }

  asio::awaitable<void> on_bind(const smpp::Header& h, const smpp::BindRequest& req) {
    smpp::BindResp resp;
    resp.command_id = smpp::response_id(h.command_id);
    resp.system_id = "sluice";
    resp.tlvs.set_u8(smpp::tlv::sc_interface_version, 0x34);
    if (bound_) {
      reply(h, resp, smpp::status::ESME_RALYBND);
      co_return;
    }
    if (draining_) {
      reply(h, resp, smpp::status::ESME_RBINDFAIL);
      co_return;
    }
    auto grant = co_await gw_.authenticate(req.system_id, req.password, remote_.address());
    gw_.count_bind_attempt(grant.result);
    if (grant.result != Gateway::AuthResult::ok) {
      // One answer for every refusal, so that a guesser learns nothing.
      log::info("bind refused", {{"system_id", req.system_id},
                                 {"remote", remote_.address().to_string()},
                                 {"reason", auth_reason(grant.result)}});
      reply(h, resp,
            grant.result == Gateway::AuthResult::busy ? smpp::status::ESME_RBINDFAIL
                                                      : smpp::status::ESME_RBINDFAIL);
      co_return;
    }
    bound_ = true;
    bind_command_ = h.command_id;
    customer_id_ = grant.customer->id;
    system_id_ = grant.customer->system_id;
    gw_.register_bind(*customer_id_, this);
    gw_.bind_gauge(bind_command_, +1);
    log::info("bound", {{"system_id", system_id_},
                        {"mode", smpp::command_name(h.command_id)},
                        {"remote", remote_.address().to_string()}});
    reply(h, resp);
  }

  static const char* auth_reason(Gateway::AuthResult r) {
    switch (r) {
      case Gateway::AuthResult::ok:
        return "ok";
      case Gateway::AuthResult::bad_credentials:
        return "bad credentials";
      case Gateway::AuthResult::disabled:
        return "customer disabled";
      case Gateway::AuthResult::ip_denied:
        return "source address not allowed";
      case Gateway::AuthResult::too_many_binds:
        return "bind limit reached";
      case Gateway::AuthResult::busy:
        return "too many bind attempts";
    }
    return "?";
  }

  asio::awaitable<void> on_unbind(const smpp::Header& h) {
    // Everything the customer submitted gets its final answer before unbind_resp.
    draining_ = true;
    asio::steady_timer t(stream_.get_executor());
    auto deadline = Clock::now() + gw_.options().response_timeout;
    while (outstanding_ > 0 && Clock::now() < deadline && !dead_) {
      t.expires_after(std::chrono::milliseconds(5));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    reply(h, smpp::UnbindResp{});
  }

  // The customer's config, as of now (it may have changed since the bind).
  const config::Customer* current_customer(std::shared_ptr<const config::Snapshot>& snap) {
    snap = gw_.snapshot();
    return customer_id_ ? snap->customer_by_id(*customer_id_) : nullptr;
  }

  // ---- query_sm, cancel_sm, replace_sm (see gateway/control.h) ----
  // They are rare next to submits: the reader waits for their Kafka writes
  // rather than pipelining them.

  // What the three answer from: the customer and a view that has read
  // sms.status to its end. `refusal` is non-zero when they cannot answer:
  // the command's own failure without them (or, for a change, while
  // draining), ESME_RSYSERR while the view catches up after a start (an old
  // "queued" may still hide a receipt; the customer tries again).
  struct ControlScope {
    std::shared_ptr<const config::Snapshot> snap;  // keeps `customer` alive
    const config::Customer* customer = nullptr;
    StatusView* view = nullptr;
    uint32_t refusal = smpp::status::ESME_ROK;
  };
  ControlScope control_scope(uint32_t failure, bool changes) {
    ControlScope s;
    s.customer = current_customer(s.snap);
    s.view = gw_.status_view();
    if (!s.customer || !s.view || (changes && draining_))
      s.refusal = failure;
    else if (!s.view->caught_up())
      s.refusal = smpp::status::ESME_RSYSERR;
    return s;
  }

  void on_query(const smpp::Header& h, const smpp::QuerySm& q) {
    if (!require_transmit(h)) return;
    auto scope = control_scope(smpp::status::ESME_RQUERYFAIL, false);
    if (scope.refusal) {
      reply(h, smpp::QuerySmResp{}, scope.refusal);
      return;
    }
    uint32_t status = smpp::status::ESME_ROK;
    auto resp = answer_query(q, scope.customer->id, scope.view->find(q.message_id), status);
    reply(h, std::move(resp), status);
  }

  asio::awaitable<void> on_cancel(const smpp::Header& h, const smpp::CancelSm& cs) {
    if (!require_transmit(h)) co_return;
    auto scope = control_scope(smpp::status::ESME_RCANCELFAIL, true);
    if (scope.refusal) {
      reply(h, smpp::CancelSmResp{}, scope.refusal);
      co_return;
    }
    const config::Customer* c = scope.customer;
    StatusView* view = scope.view;
    InFlight busy(*this);
    std::vector<std::string> ids;
    if (!cs.message_id.empty()) {
      if (check_waiting(view->find(cs.message_id), c->id, cs.source,
                        smpp::status::ESME_RCANCELFAIL) == smpp::status::ESME_ROK)
        ids.push_back(cs.message_id);
    } else if (!cs.source.addr.empty()) {
      // Every waiting message from this source (to this destination, if given).
      ids = view->waiting(c->id, cs.source.addr, cs.dest.addr);
      // One PDU must not hold the session for long; the customer repeats it.
      if (ids.size() > kMaxCancelsPerPdu) ids.resize(kMaxCancelsPerPdu);
    }
    if (ids.empty()) {
      reply(h, smpp::CancelSmResp{}, smpp::status::ESME_RCANCELFAIL);
      co_return;
    }
    int64_t now = wall_ms();
    for (const auto& id : ids) {
      // The control first: a "cancelled" state without it would be a lie.
      kafka::Record control{
          gw_.control_topic(), id, cancel_control(id, c->id, now).SerializeAsString(), {}};
      auto written = co_await gw_.producer().async_produce(std::move(control), asio::use_awaitable);
      if (!durable(written)) {
        reply(h, smpp::CancelSmResp{}, smpp::status::ESME_RSYSERR);
        co_return;
      }
      auto st = cancelled_status(id, c->id, cs.source, now);
      view->apply(st);
      kafka::Record state{gw_.status_topic(), id, st.SerializeAsString(), {}};
      // The cancel is durable already; a lost state record only delays what
      // query_sm on other nodes says.
      auto stated = co_await gw_.producer().async_produce(std::move(state), asio::use_awaitable);
      durable(stated);
    }
    log::info("cancel_sm recorded",
              {{"system_id", c->system_id}, {"messages", std::to_string(ids.size())}});
    reply(h, smpp::CancelSmResp{});
  }

  asio::awaitable<void> on_replace(const smpp::Header& h, const smpp::ReplaceSm& rs) {
    if (!require_transmit(h)) co_return;
    auto scope = control_scope(smpp::status::ESME_RREPLACEFAIL, true);
    if (scope.refusal) {
      reply(h, smpp::ReplaceSmResp{}, scope.refusal);
      co_return;
    }
    const config::Customer* c = scope.customer;
    StatusView* view = scope.view;
    InFlight busy(*this);
    if (uint32_t s = check_waiting(view->find(rs.message_id), c->id, rs.source,
                                   smpp::status::ESME_RREPLACEFAIL)) {
      reply(h, smpp::ReplaceSmResp{}, s);
      co_return;
    }
    records::v1::Control ctl;
    if (uint32_t s = replace_control(rs, c->id, std::chrono::system_clock::now(), ctl)) {
      reply(h, smpp::ReplaceSmResp{}, s);
      co_return;
    }
    kafka::Record control{gw_.control_topic(), rs.message_id, ctl.SerializeAsString(), {}};
    auto written = co_await gw_.producer().async_produce(std::move(control), asio::use_awaitable);
    if (!durable(written)) {
      reply(h, smpp::ReplaceSmResp{}, smpp::status::ESME_RSYSERR);
      co_return;
    }
    reply(h, smpp::ReplaceSmResp{});
  }

  // A cancel or replace in progress counts like a submit awaiting Kafka: a
  // drain must not unbind before its answer is written.
  struct InFlight {
    Session& s;
    explicit InFlight(Session& session) : s(session) { ++s.outstanding_; }
    ~InFlight() {
      --s.outstanding_;
      s.window_signal_.cancel();
      s.maybe_finish_drain();
    }
  };
  static constexpr size_t kMaxCancelsPerPdu = 100;

  // Not a coroutine of its own: gcc 12 mishandles a coroutine's by-value
  // parameter built from a temporary (a double free under ASan).
  bool durable(const kafka::DeliveryResult& r) {
    if (!r.ok()) gw_.count_produce_error(rd_kafka_err2name(r.err));
    return r.ok();
  }

  // Common path of submit_sm and data_sm: checks, then one record to Kafka,
  // and the answer only once Kafka has it.
  template <class Sm, class Resp>
  void submit_one(const smpp::Header& h, const Sm& sm, Resp resp_proto) {
    if (!require_transmit(h)) return;
    if (draining_) {
      reply(h, resp_proto, smpp::status::ESME_RTHROTTLED);
      return;
    }
    std::shared_ptr<const config::Snapshot> snap;
    const config::Customer* c = current_customer(snap);
    if (!c || !c->enabled) {
      reply(h, resp_proto, smpp::status::ESME_RSUBMITFAIL);
      return;
    }
    if (uint32_t s = validate(sm)) {
      reply(h, resp_proto, s);
      return;
    }
    if (!gw_.admit(*c, last_read_)) {
      gw_.count_throttled(c->system_id);
      reply(h, resp_proto, smpp::status::ESME_RTHROTTLED);
      return;
    }
    IngressContext ctx{c, gw_.options().node, last_read_wall_};
    std::string id = gw_.ids().next(last_read_wall_);
    // The session's one record, cleared and refilled: its strings and
    // addresses keep their buffers, a dozen allocations a message fewer.
    records::v1::Message& rec = record_;
    std::string& key = key_;
    if (uint32_t s = to_record(sm, ctx, id, rec, key)) {
      reply(h, resp_proto, s);
      return;
    }
    produce(h, std::move(id), key, rec,
            [this, h, resp_proto](uint32_t status, const std::string& mid) {
              auto r = resp_proto;
              if (status == smpp::status::ESME_ROK) r.message_id = mid;
              reply(h, r, status);
            });
  }

  using ProducedFn = std::function<void(uint32_t status, const std::string& id)>;

  // One Kafka delivery report, waiting for the session's strand.
  struct Produced {
    kafka::DeliveryResult result;
    std::string id;
    Clock::time_point started;
    ProducedFn done;
  };

  void produce(const smpp::Header& h, std::string id, const std::string& key,
               const records::v1::Message& rec, ProducedFn done) {
    (void)h;
    ++outstanding_;
    auto started = last_read_;
    // Serialized into the session's buffer, which librdkafka copies from:
    // no allocation per record once the buffer has grown.
    rec.SerializeToString(&value_);
    gw_.producer().produce_view(
        // Only the parts of a multipart message must meet on one partition.
        kafka::RecordView{gw_.submit_topic(), key, value_,
                          rec.has_concat() ? RD_KAFKA_PARTITION_UA : kafka::kAnyPartition},
        [self = this->shared_from_this(), id = std::move(id), started,
         done = std::move(done)](const kafka::DeliveryResult& r) mutable {
          self->queue_produced(Produced{r, std::move(id), started, std::move(done)});
        });
  }

  // Runs on the producer's poll thread. Reports arrive in bursts (one per
  // broker acknowledgement of a batch); a post per report made the poll
  // thread and the session's strand trade a wake-up for every message, so a
  // burst is handed over with one post.
  void queue_produced(Produced p) {
    bool first;
    {
      std::lock_guard lock(produced_mu_);
      first = produced_.empty();
      produced_.push_back(std::move(p));
    }
    if (first) {
      asio::post(stream_.get_executor(),
                 [self = this->shared_from_this()] { self->drain_produced(); });
    }
  }

  void drain_produced() {
    {
      std::lock_guard lock(produced_mu_);
      produced_batch_.swap(produced_);
    }
    const auto now = Clock::now();
    for (auto& p : produced_batch_) on_produced(p.result, p.id, p.started, now, p.done);
    produced_batch_.clear();
    window_signal_.cancel();
    maybe_finish_drain();
  }

  void on_produced(const kafka::DeliveryResult& r, const std::string& id, Clock::time_point started,
                   Clock::time_point now, ProducedFn& done) {
    --outstanding_;
    uint32_t status = smpp::status::ESME_ROK;
    if (!r.ok()) {
      gw_.count_produce_error(rd_kafka_err2name(r.err));
      // Retryable for the customer: Kafka is full, slow or away. Never a false OK.
      switch (r.err) {
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
        case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
        case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
          status = smpp::status::ESME_RTHROTTLED;
          break;
        default:
          status = smpp::status::ESME_RSYSERR;
      }
    } else {
      gw_.observe_submit(now - started);
    }
    if (!dead_) done(status, id);
  }

  void on_submit(const smpp::Header& h, const smpp::SubmitSm& sm) {
    submit_one(h, sm, smpp::SubmitSmResp{});
  }

  void on_data_sm(const smpp::Header& h, const smpp::DataSm& sm) {
    submit_one(h, sm, smpp::DataSmResp{});
  }

  void on_submit_multi(const smpp::Header& h, const smpp::SubmitMulti& multi) {
    if (!require_transmit(h)) return;
    if (draining_) {
      reply(h, smpp::SubmitMultiResp{}, smpp::status::ESME_RTHROTTLED);
      return;
    }
    std::shared_ptr<const config::Snapshot> snap;
    const config::Customer* c = current_customer(snap);
    if (!c || !c->enabled) {
      reply(h, smpp::SubmitMultiResp{}, smpp::status::ESME_RSUBMITFAIL);
      return;
    }
    if (uint32_t s = validate_multi(multi)) {
      reply(h, smpp::SubmitMultiResp{}, s);
      return;
    }
    struct MultiState {
      smpp::SubmitMultiResp resp;
      int waiting = 0;
      int ok = 0;
    };
    auto state = std::make_shared<MultiState>();
    std::string multi_id = gw_.ids().next(last_read_wall_);
    state->resp.message_id = multi_id;
    IngressContext ctx{c, gw_.options().node, last_read_wall_};
    uint32_t index = 0;
    std::vector<std::tuple<std::string, std::string, records::v1::Message>> to_send;
    for (const auto& d : multi.dests) {
      ++index;
      if (d.dest_flag != smpp::kDestFlagSme) {
        // Distribution lists live in the SMSC; Sluice keeps none.
        state->resp.unsuccess.push_back(
            {smpp::Address{0, 0, d.dl_name}, smpp::status::ESME_RINVDLNAME});
        continue;
      }
      auto sm = submit_for_destination(multi, d.addr);
      if (uint32_t s = validate(sm)) {
        state->resp.unsuccess.push_back({d.addr, s});
        continue;
      }
      if (!gw_.admit(*c, last_read_)) {
        gw_.count_throttled(c->system_id);
        state->resp.unsuccess.push_back({d.addr, smpp::status::ESME_RTHROTTLED});
        continue;
      }
      records::v1::Message rec;
      std::string key;
      std::string id = multi_id + "." + std::to_string(index);
      if (uint32_t s = to_record(sm, ctx, id, rec, key)) {
        state->resp.unsuccess.push_back({d.addr, s});
        continue;
      }
      rec.set_customer_message_id(multi_id);
      rec.set_multi_index(index);
      rec.set_source_command(smpp::to_u32(smpp::CommandId::SubmitMulti));
      to_send.emplace_back(id, key, std::move(rec));
    }
    if (to_send.empty()) {
      reply(h, state->resp, smpp::status::ESME_RSUBMITFAIL);
      return;
    }
    state->waiting = static_cast<int>(to_send.size());
    for (auto& [id, key, rec] : to_send) {
      smpp::Address dest{static_cast<uint8_t>(rec.dest().ton()),
                         static_cast<uint8_t>(rec.dest().npi()), rec.dest().addr()};
      produce(h, id, key, rec, [this, h, state, dest](uint32_t status, const std::string&) {
        if (status == smpp::status::ESME_ROK) {
          ++state->ok;
        } else {
          state->resp.unsuccess.push_back({dest, status});
        }
        if (--state->waiting == 0) {
          reply(h, state->resp,
                state->ok > 0 ? smpp::status::ESME_ROK : smpp::status::ESME_RSUBMITFAIL);
        }
      });
    }
  }

  Gateway& gw_;
  Stream stream_;
  tcp::endpoint remote_;
  asio::steady_timer write_signal_, window_signal_, watchdog_timer_;
  std::vector<uint8_t> rbuf_ = std::vector<uint8_t>(4096);
  records::v1::Message record_;  // submit_one's, reused
  std::string key_, value_;      // the record's key and bytes, reused
  size_t rpos_ = 0, rlen_ = 0;
  std::span<const uint8_t> frame_;
  std::vector<uint8_t> pending_;
  bool closing_ = false, dead_ = false, writer_done_ = false, draining_ = false;
  bool bound_ = false;
  uint32_t bind_command_ = 0;
  std::optional<int64_t> customer_id_;
  std::string system_id_;
  int outstanding_ = 0;
  uint32_t seq_ = 0;
  Clock::time_point connected_at_, last_read_;
  std::chrono::system_clock::time_point last_read_wall_;
  std::optional<Clock::time_point> enquire_sent_, unbind_sent_;
  struct Delivery {
    std::function<void(uint32_t)> done;
    Clock::time_point sent_at;
  };
  std::map<uint32_t, Delivery> deliveries_;
  std::mutex produced_mu_;
  std::vector<Produced> produced_;        // guarded by produced_mu_
  std::vector<Produced> produced_batch_;  // the strand's, while draining
};

}  // namespace sluice::gateway
