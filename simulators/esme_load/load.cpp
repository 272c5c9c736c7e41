#include "simulators/esme_load/load.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <random>

#include "smpp/receipt.h"
#include "smpp/status.h"
#include "smpp/text.h"
#include "smpp/udh.h"

namespace sluice::sim::load {

using asio::ip::tcp;
using smpp::CommandId;
using smpp::to_u32;
namespace status = smpp::status;

namespace {

constexpr auto kStuckWrite = std::chrono::seconds(10);
constexpr auto kUnbindGrace = std::chrono::seconds(2);
constexpr size_t kMultipartSeptets = 153;  // 160 minus the 7 septets a 6-octet UDH takes

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t id_hash(std::string_view id) {
  return std::hash<std::string_view>{}(id);
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}
bool is_dec(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// SMSCs are known to give an id in hex in submit_sm_resp and in decimal in
// the receipt (or zero-padded, or upper case). When the exact id is unknown,
// these are the other spellings of the same number worth trying.
std::vector<std::string> other_spellings(std::string_view id) {
  std::vector<std::string> out;
  char buf[32];
  if (all_of(id, is_dec) && id.size() <= 19) {
    uint64_t v = 0;
    std::from_chars(id.data(), id.data() + id.size(), v);
    out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%" PRIu64, v)));
    out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%010" PRIu64, v)));
    out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%" PRIx64, v)));
    out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%" PRIX64, v)));
  }
  if (all_of(id, is_hex) && id.size() <= 16) {
    uint64_t v = 0;
    std::from_chars(id.data(), id.data() + id.size(), v, 16);
    out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%" PRIu64, v)));
    out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%010" PRIu64, v)));
    out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%" PRIx64, v)));
    out.emplace_back(buf, static_cast<size_t>(std::snprintf(buf, sizeof buf, "%" PRIX64, v)));
  }
  return out;
}

std::vector<uint8_t> encode_or_die(std::string_view utf8, smpp::Charset cs) {
  auto v = smpp::from_utf8(utf8, cs);
  if (!v) throw std::logic_error("esme-load: built-in text does not encode");
  return *v;
}

}  // namespace

// ----------------------------------------------------------------------- Bind

Bind::Bind(Load& load, int index, Role role) : load_(load), index_(index), role_(role) {
  smpp::SubmitSm sm;
  const auto& src = load_.cfg_.source;
  const bool numeric = all_of(src, is_dec);
  // Alphanumeric senders are TON 5 / NPI 0, numbers international E.164.
  sm.source = smpp::Address{static_cast<uint8_t>(numeric ? 1 : 5),
                            static_cast<uint8_t>(numeric ? 1 : 0), src};
  sm.dest = smpp::Address{1, 1, {}};
  sm.dest.addr.reserve(24);
  sm.short_message.reserve(256);
  submit_ = smpp::make_pdu(std::move(sm), 0);
}

uint32_t Bind::next_seq() {
  seq_ = seq_ >= 0x7FFFFFFF ? 1 : seq_ + 1;
  return seq_;
}

void Bind::close(Conn& c) {
  c.open = false;
  if (c.socket.is_open()) {
    boost::system::error_code ec;
    c.socket.shutdown(tcp::socket::shutdown_both, ec);
    c.socket.close(ec);
  }
  c.out.abort();
  c.window.notify();
  c.ticker.notify();
}

void Bind::request_unbind() {
  auto c = conn_;
  if (!c || !c->open) return;
  if (!c->bound) {
    close(*c);
    return;
  }
  if (c->unbinding) return;
  c->unbinding = true;
  c->unbind_at = Clock::now();
  append_header_only(c->out.buf(), to_u32(CommandId::Unbind), 0, next_seq());
  c->out.flush();
  c->window.notify();
}

asio::awaitable<void> Bind::run(std::shared_ptr<Bind> self) {
  auto ex = co_await asio::this_coro::executor;
  uint32_t failures = 0;
  asio::steady_timer pause(ex);
  while (!load_.stopping_) {
    auto c = std::make_shared<Conn>(ex);
    conn_ = c;
    const bool ok = co_await connect_and_bind(c);
    if (!ok) {
      close(*c);
      if (load_.fatal_ || load_.stopping_) break;
      if (++failures > load_.cfg_.reconnects) {
        load_.fatal_ = true;
        load_.stop("bind " + std::to_string(index_) + ": cannot connect to " + load_.cfg_.host +
                   ":" + std::to_string(load_.cfg_.port));
        break;
      }
      pause.expires_after(std::chrono::seconds(1));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    failures = 0;
    asio::co_spawn(ex, writer(c), asio::detached);
    asio::co_spawn(ex, ticker(c), asio::detached);
    if (sends()) asio::co_spawn(ex, sender(c), asio::detached);
    co_await reader(c);
    if (c->open && !c->out.stopped()) {
      // Let a last unbind_resp go out; ticker() bounds the wait.
      c->out.close_after_flush();
      co_await c->out.wait_below(0);
    }
    close(*c);
    // Submits in flight on a dead connection have no known outcome.
    load_.lost_ += c->pending.size();
    c->pending.clear();
    if (c->unbinding || load_.stopping_) break;
    ++load_.disconnects_;
    pause.expires_after(std::chrono::seconds(1));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  finished_ = true;
  (void)self;
}

asio::awaitable<bool> Bind::connect_and_bind(std::shared_ptr<Conn> c) {
  const auto& cfg = load_.cfg_;
  auto ex = c->socket.get_executor();
  tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(cfg.host, std::to_string(cfg.port),
                                                          asio::as_tuple(asio::use_awaitable));
  if (rec) co_return false;
  // One deadline for connect and bind; a plain handler, so that nothing
  // awaits a temporary coroutine.
  asio::steady_timer deadline(ex);
  deadline.expires_after(std::chrono::seconds(cfg.connect_timeout_s));
  deadline.async_wait([c](boost::system::error_code ec) {
    if (!ec && !c->bound) close(*c);
  });
  auto [cec, ep] =
      co_await asio::async_connect(c->socket, endpoints, asio::as_tuple(asio::use_awaitable));
  if (cec) co_return false;
  boost::system::error_code ignored;
  c->socket.set_option(tcp::no_delay(true), ignored);
  ++load_.connects_;

  smpp::BindRequest req;
  req.command_id = to_u32(role_ == Role::Trx  ? CommandId::BindTransceiver
                          : role_ == Role::Tx ? CommandId::BindTransmitter
                                              : CommandId::BindReceiver);
  req.system_id = cfg.system_id;
  req.password = cfg.password;
  req.system_type = cfg.system_type;
  const uint32_t bind_seq = next_seq();
  auto bytes = smpp::encode(smpp::make_pdu(std::move(req), bind_seq));
  auto [wec, wn] = co_await asio::async_write(c->socket, asio::buffer(bytes),
                                              asio::as_tuple(asio::use_awaitable));
  if (wec) co_return false;

  for (;;) {
    std::span<const uint8_t> frame;
    auto st = c->in.next(frame);
    if (st == smpp::FrameState::NeedMore) {
      auto [ec, n] =
          co_await c->socket.async_read_some(c->in.space(), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return false;
      c->in.commit(n);
      continue;
    }
    if (st != smpp::FrameState::Complete) co_return false;
    const auto h = smpp::read_header(frame);
    if (h.command_id == smpp::response_id(to_u32(CommandId::BindTransceiver)) ||
        h.command_id == smpp::response_id(to_u32(CommandId::BindTransmitter)) ||
        h.command_id == smpp::response_id(to_u32(CommandId::BindReceiver)) ||
        h.command_id == to_u32(CommandId::GenericNack)) {
      if (h.sequence_number != bind_seq) continue;
      if (h.command_status != 0 || h.command_id == to_u32(CommandId::GenericNack)) {
        ++load_.bind_failures_;
        load_.last_bind_status_ = h.command_status;
        load_.fatal_ = true;
        load_.stop(std::string("bind refused: ") + smpp::status_name(h.command_status));
        co_return false;
      }
      c->bound = true;
      deadline.cancel();
      c->last_enquire = Clock::now();
      co_return true;
    }
    if (h.command_id == to_u32(CommandId::EnquireLink)) {
      append_header_only(c->out.buf(), to_u32(CommandId::EnquireLinkResp), 0, h.sequence_number);
    }
  }
}

asio::awaitable<void> Bind::writer(std::shared_ptr<Conn> c) {
  co_await c->out.run(c->socket);
  close(*c);
}

asio::awaitable<void> Bind::ticker(std::shared_ptr<Conn> c) {
  const auto& cfg = load_.cfg_;
  while (c->open) {
    co_await c->ticker.wait_for(std::chrono::seconds(1));
    if (!c->open) break;
    const auto now = Clock::now();
    if (c->out.stuck(kStuckWrite) || (c->unbinding && now - c->unbind_at > kUnbindGrace)) {
      close(*c);
      break;
    }
    const auto timeout = std::chrono::seconds(cfg.submit_timeout_s);
    const int64_t limit_ns = load_.now_ns() - std::chrono::nanoseconds(timeout).count();
    bool freed = false;
    for (auto it = c->pending.begin(); it != c->pending.end();) {
      if (it->second.sent_ns < limit_ns) {
        ++load_.timed_out_;
        it = c->pending.erase(it);
        freed = true;
      } else {
        ++it;
      }
    }
    if (freed) c->window.notify();
    if (!c->unbinding && cfg.enquire_link_s > 0 &&
        now - c->last_enquire >= std::chrono::seconds(cfg.enquire_link_s)) {
      c->last_enquire = now;
      append_header_only(c->out.buf(), to_u32(CommandId::EnquireLink), 0, next_seq());
      c->out.flush();
    }
  }
}

asio::awaitable<void> Bind::sender(std::shared_ptr<Conn> c) {
  auto& L = load_;
  const size_t window = L.cfg_.window;
  while (c->open && !c->unbinding && !L.stopping_) {
    if (c->pending.size() >= window) {
      co_await c->window.wait();
      continue;
    }
    const auto now = Clock::now();
    const size_t credit = L.credit(now);
    if (credit == 0) {
      co_await c->window.wait_until(L.next_credit_at());
      continue;
    }
    const size_t budget = std::min(window - c->pending.size(), credit);
    const int64_t now_ns = L.now_ns();
    size_t made = 0;
    while (made < budget) {
      auto ref = L.next_part(*this, now);
      if (!ref) break;
      emit_submit(*c, *ref, now_ns);
      ++made;
    }
    if (made > 0) {
      L.take_credit(made);
      c->out.flush();
      continue;
    }
    // Nothing due: retries are backing off, or all is sent and the run is
    // waiting for answers and receipts.
    auto wake = now + std::chrono::milliseconds(50);
    if (!L.retries_.empty()) wake = std::min(wake, L.retries_.front().due);
    co_await c->window.wait_until(wake);
  }
}

void Bind::emit_submit(Conn& c, PartRef ref, int64_t now_ns) {
  auto& sm = std::get<smpp::SubmitSm>(submit_.body);
  load_.fill_submit(sm, ref);
  const uint32_t seq = next_seq();
  submit_.header.sequence_number = seq;
  smpp::encode_to(c.out.buf(), submit_);
  c.pending.insert_or_assign(seq, Conn::Pending{ref, now_ns});
  ++load_.submits_;
  if (ref.attempt == 0) ++load_.parts_sent_;
  if (!load_.any_submit_) {
    load_.any_submit_ = true;
    load_.first_submit_ = Clock::now();
  }
}

asio::awaitable<void> Bind::reader(std::shared_ptr<Conn> c) {
  for (;;) {
    bool freed = false;
    for (;;) {
      std::span<const uint8_t> frame;
      auto st = c->in.next(frame);
      if (st == smpp::FrameState::NeedMore) break;
      if (st != smpp::FrameState::Complete) {
        close(*c);
        break;
      }
      handle(*c, frame, freed);
      if (!c->open || c->stop_reading) break;
    }
    if (freed) c->window.notify();
    c->out.flush();
    if (!c->open || c->stop_reading) break;
    auto [ec, n] =
        co_await c->socket.async_read_some(c->in.space(), asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    c->in.commit(n);
  }
  c->window.notify();
  c->ticker.notify();
}

void Bind::handle(Conn& c, std::span<const uint8_t> frame, bool& freed) {
  const auto h = smpp::read_header(frame);
  auto& out = c.out.buf();
  switch (static_cast<CommandId>(h.command_id)) {
    case CommandId::SubmitSmResp:
    case CommandId::GenericNack: {
      auto it = c.pending.find(h.sequence_number);
      if (it == c.pending.end()) {
        if (h.command_id == to_u32(CommandId::SubmitSmResp)) ++load_.unexpected_resp_;
        return;
      }
      const Conn::Pending p = it->second;
      c.pending.erase(it);
      freed = true;
      std::string id;
      uint32_t st = h.command_status;
      if (st == 0) {
        auto r = smpp::decode(frame);
        if (r.ok() && std::holds_alternative<smpp::SubmitSmResp>(r->body)) {
          id = std::move(std::get<smpp::SubmitSmResp>(r->body).message_id);
        } else {
          st = status::ESME_RSYSERR;  // an OK without a usable id is no acknowledgement
        }
      }
      load_.on_submit_resp(p, st, id, load_.now_ns());
      return;
    }
    case CommandId::DeliverSm: {
      auto r = smpp::decode(frame);
      if (!r.ok()) {
        append_header_only(out, to_u32(CommandId::DeliverSmResp), r.error().status,
                           h.sequence_number);
        return;
      }
      smpp::encode_to(out, smpp::make_pdu(smpp::DeliverSmResp{}, h.sequence_number));
      const auto& dm = std::get<smpp::DeliverSm>(r->body);
      const uint8_t type = dm.esm_class & 0x3C;
      auto tlv_id = dm.tlvs.cstr(smpp::tlv::receipted_message_id);
      const bool receipt = type == 0x04 || type == 0x08 || type == 0x10 || type == 0x20 || tlv_id;
      if (!receipt) {
        ++load_.mo_received_;
        return;
      }
      std::optional<smpp::Receipt> parsed;
      auto tlv_state = dm.tlvs.u8(smpp::tlv::message_state);
      if (!tlv_id || !tlv_state) {
        std::span<const uint8_t> text = dm.short_message;
        if (text.empty()) {
          if (const auto* p = dm.tlvs.find(smpp::tlv::message_payload)) text = p->value;
        }
        parsed = smpp::parse_receipt(
            std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
      }
      const std::string id = tlv_id ? *tlv_id : parsed ? parsed->id : std::string();
      const uint8_t state = tlv_state ? *tlv_state
                            : parsed  ? smpp::message_state_of(parsed->stat)
                                      : smpp::message_state::UNKNOWN;
      load_.on_receipt(id, state, load_.now_ns());
      return;
    }
    case CommandId::EnquireLink:
      ++load_.enquire_link_received_;
      append_header_only(out, to_u32(CommandId::EnquireLinkResp), 0, h.sequence_number);
      return;
    case CommandId::Unbind:
      // The server ends the session; run() reconnects unless we are finishing.
      append_header_only(out, to_u32(CommandId::UnbindResp), 0, h.sequence_number);
      c.stop_reading = true;
      return;
    case CommandId::UnbindResp:
      c.stop_reading = true;
      return;
    case CommandId::EnquireLinkResp:
      return;
    default:
      if (!smpp::is_response(h.command_id)) {
        const uint32_t rid = smpp::response_id(h.command_id);
        append_header_only(out, rid ? rid : to_u32(CommandId::GenericNack), status::ESME_RINVCMDID,
                           h.sequence_number);
      }
      return;
  }
}

// ----------------------------------------------------------------------- Load

Load::Load(asio::io_context& io, Config cfg) : io_(io), cfg_(std::move(cfg)) {
  if (cfg_.seed == 0) cfg_.seed = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06" PRIx64, mix64(cfg_.seed) & 0xFFFFFF);
  run_id_ = buf;
  // '€' is a GSM extension character (two septets): worth exercising.
  gsm7_body_ = encode_or_die("Hello from esme-load: GSM 7-bit text, 5 EUR = 5 \xE2\x82\xAC @ ok",
                             smpp::Charset::Gsm7);
  ucs2_body_ = encode_or_die(
      "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 esme-load \xE2\x9C\x93 "
      "\xE4\xBD\xA0\xE5\xA5\xBD",
      smpp::Charset::Ucs2);
  std::string filler;
  while (filler.size() < kMultipartSeptets) {
    filler += "The quick brown fox jumps over the lazy dog; a long message in three parts. ";
  }
  filler_ = encode_or_die(filler, smpp::Charset::Gsm7);
  const uint64_t expected_parts = std::min<uint64_t>(cfg_.count * 2, 4'000'000);
  if (track_receipts()) {
    records_.reserve(expected_parts);
    by_id_.reserve(expected_parts);
  } else {
    plain_ids_.reserve(expected_parts);
  }
}

int64_t Load::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started_).count();
}

Kind Load::kind_of(uint32_t msg) const {
  const double total = cfg_.mix[0] + cfg_.mix[1] + cfg_.mix[2];
  const double u =
      static_cast<double>(mix64(cfg_.seed ^ (uint64_t{msg} * 0x2545F4914F6CDD1DULL)) >> 11) *
      0x1.0p-53 * total;
  if (u < cfg_.mix[0]) return Kind::Gsm7;
  if (u < cfg_.mix[0] + cfg_.mix[1]) return Kind::Ucs2;
  return Kind::Multipart;
}

void Load::fill_submit(smpp::SubmitSm& sm, PartRef ref) {
  const Kind kind = kind_of(ref.msg);
  // Destination: the prefix and a per-message pseudo-random suffix.
  auto& dest = sm.dest.addr;
  dest.assign(cfg_.dest_prefix);
  if (cfg_.dest_length > dest.size()) {
    const size_t digits = std::min<size_t>(cfg_.dest_length - dest.size(), 18);
    uint64_t v = mix64(cfg_.seed + 0x51ed27 + uint64_t{ref.msg} * 0x9E3779B97F4A7C15ULL);
    char buf[24];
    for (size_t i = digits; i-- > 0;) {
      buf[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    dest.append(buf, digits);
  }
  sm.registered_delivery = cfg_.registered_delivery;

  char prefix[48];
  size_t plen = 0;
  if (cfg_.unique_text) {
    std::memcpy(prefix, run_id_.data(), run_id_.size());
    plen = run_id_.size();
    prefix[plen++] = '-';
    plen = static_cast<size_t>(
        std::to_chars(prefix + plen, prefix + sizeof prefix - 2, ref.msg).ptr - prefix);
    prefix[plen++] = ' ';
  }
  auto& sm_bytes = sm.short_message;
  sm_bytes.clear();
  switch (kind) {
    case Kind::Gsm7:
      // Digits, letters, '-' and ' ' are the same octets in GSM 7-bit as in ASCII.
      sm.esm_class = 0;
      sm.data_coding = 0;
      sm_bytes.insert(sm_bytes.end(), prefix, prefix + plen);
      sm_bytes.insert(sm_bytes.end(), gsm7_body_.begin(), gsm7_body_.end());
      break;
    case Kind::Ucs2:
      sm.esm_class = 0;
      sm.data_coding = 8;
      for (size_t i = 0; i < plen; ++i) {
        sm_bytes.push_back(0);
        sm_bytes.push_back(static_cast<uint8_t>(prefix[i]));
      }
      sm_bytes.insert(sm_bytes.end(), ucs2_body_.begin(), ucs2_body_.end());
      break;
    case Kind::Multipart: {
      sm.esm_class = smpp::kEsmUdhi;
      sm.data_coding = 0;
      const uint8_t udh[] = {0x05,
                             0x00,
                             0x03,
                             static_cast<uint8_t>(ref.msg & 0xFF),
                             kMultipartParts,
                             static_cast<uint8_t>(ref.part + 1)};
      sm_bytes.insert(sm_bytes.end(), std::begin(udh), std::end(udh));
      char tag[8] = {'p', static_cast<char>('1' + ref.part), '/', '0' + kMultipartParts, ' '};
      sm_bytes.insert(sm_bytes.end(), prefix, prefix + plen);
      sm_bytes.insert(sm_bytes.end(), tag, tag + 5);
      const size_t used = plen + 5;
      sm_bytes.insert(sm_bytes.end(), filler_.begin(),
                      filler_.begin() + static_cast<std::ptrdiff_t>(kMultipartSeptets - used));
      break;
    }
  }
}

std::optional<PartRef> Load::next_part(Bind& b, Clock::time_point now) {
  if (!retries_.empty() && retries_.front().due <= now) {
    PartRef r = retries_.front().ref;
    retries_.pop_front();
    return r;
  }
  if (b.multipart_msg_) {
    PartRef r{*b.multipart_msg_, b.multipart_next_, 0};
    if (++b.multipart_next_ >= kMultipartParts) b.multipart_msg_.reset();
    return r;
  }
  if (next_msg_ < cfg_.count) {
    const auto m = static_cast<uint32_t>(next_msg_++);
    ++messages_started_;
    if (kind_of(m) == Kind::Multipart) {
      b.multipart_msg_ = m;
      b.multipart_next_ = 1;
    }
    return PartRef{m, 0, 0};
  }
  return std::nullopt;
}

size_t Load::credit(Clock::time_point now) {
  if (cfg_.rate <= 0) return SIZE_MAX;
  // A token bucket holding at most 50 ms of traffic: smooth, yet able to
  // catch up after a timer fires late.
  const double cap = std::max(1.0, cfg_.rate / 20);
  tokens_ =
      std::min(cap, tokens_ + cfg_.rate * std::chrono::duration<double>(now - refilled_).count());
  refilled_ = now;
  return tokens_ >= 1 ? static_cast<size_t>(tokens_) : 0;
}

Clock::time_point Load::next_credit_at() const {
  // Wake for a millisecond's worth of traffic, not for each message: at
  // 10,000/s a wake-up per message (a timer, a send, and on the gateway a
  // read, each a context switch) cost this machine more CPU than the
  // messages themselves. Arrivals are still spread over every millisecond.
  const double quantum = std::max(1.0, cfg_.rate / 1000);  // never above the bucket's cap
  const double wait_s = std::max(0.0, (quantum - tokens_) / cfg_.rate);
  return refilled_ +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_s));
}

void Load::take_credit(size_t n) {
  if (cfg_.rate > 0) tokens_ -= static_cast<double>(n);
}

bool Load::generation_done() const {
  if (next_msg_ < cfg_.count || !retries_.empty()) return false;
  for (const auto& b : binds_) {
    if (b->multipart_msg_) return false;
  }
  return true;
}

void Load::on_submit_resp(const Conn::Pending& p, uint32_t st, const std::string& id, int64_t now) {
  last_resp_ = Clock::now();
  submit_latency_us_.record(static_cast<uint64_t>(std::max<int64_t>(0, now - p.sent_ns)) / 1000);
  if (st == status::ESME_ROK) {
    ++acked_;
    const uint64_t h = id_hash(id);
    if (!track_receipts()) {
      plain_ids_.push_back(h);
      return;
    }
    const auto idx = static_cast<uint32_t>(records_.size());
    records_.push_back(Record{p.sent_ns, 0});
    auto [it, inserted] = by_id_.emplace(h, idx);
    if (!inserted) {
      ++duplicate_ids_;
      it->second = idx;
    }
    // The receipt overtook the response (possible over a separate receiver bind).
    if (auto e = early_.find(h); e != early_.end()) {
      records_[idx].dlrs = 1;
      ++dlr_matched_;
      ++dlr_by_state_[std::min<size_t>(e->second.state, 8)];
      dlr_latency_us_.record(
          static_cast<uint64_t>(std::max<int64_t>(0, e->second.at_ns - p.sent_ns)) / 1000);
      early_.erase(e);
    }
    return;
  }
  if (st == status::ESME_RTHROTTLED) {
    ++throttled_;
    if (cfg_.retry_throttled && p.ref.attempt < cfg_.max_throttle_retries) {
      PartRef again = p.ref;
      ++again.attempt;
      retries_.push_back(
          Retry{Clock::now() + std::chrono::milliseconds(cfg_.throttle_backoff_ms), again});
      return;
    }
  }
  ++rejected_[st];
  ++rejected_total_;
}

std::optional<uint32_t> Load::find_record(const std::string& id) const {
  if (auto it = by_id_.find(id_hash(id)); it != by_id_.end()) return it->second;
  for (const auto& alt : other_spellings(id)) {
    if (alt == id) continue;
    if (auto it = by_id_.find(id_hash(alt)); it != by_id_.end()) return it->second;
  }
  return std::nullopt;
}

void Load::on_receipt(const std::string& id, uint8_t state, int64_t now) {
  ++dlr_total_;
  if (!smpp::is_final_state(state)) {
    ++dlr_intermediate_;
    return;
  }
  auto idx = find_record(id);
  if (!idx) {
    auto [it, inserted] = early_.emplace(id_hash(id), EarlyDlr{state, now});
    if (!inserted) ++dlr_duplicated_;
    return;
  }
  Record& r = records_[*idx];
  if (r.dlrs++ > 0) {
    ++dlr_duplicated_;
    return;
  }
  ++dlr_matched_;
  ++dlr_by_state_[std::min<size_t>(state, 8)];
  dlr_latency_us_.record(static_cast<uint64_t>(std::max<int64_t>(0, now - r.sent_ns)) / 1000);
}

void Load::stop(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  stop_reason_ = why;
}

void Load::print_progress(Clock::time_point now) {
  const double dt = std::chrono::duration<double>(now - progress_last_).count();
  const double rate = dt > 0 ? static_cast<double>(submits_ - progress_last_submits_) / dt : 0;
  progress_last_ = now;
  progress_last_submits_ = submits_;
  size_t outstanding = 0;
  for (const auto& b : binds_) outstanding += b->pending();
  std::fprintf(stderr,
               "esme-load: t=%.1fs rate=%.0f/s sent=%" PRIu64 " acked=%" PRIu64
               " outstanding=%zu throttled=%" PRIu64 " rejected=%" PRIu64 " dlrs=%" PRIu64 "\n",
               std::chrono::duration<double>(now - started_).count(), rate, submits_, acked_,
               outstanding, throttled_, rejected_total_, dlr_matched_);
}

asio::awaitable<void> Load::run() {
  started_ = refilled_ = progress_last_ = Clock::now();
  auto ex = co_await asio::this_coro::executor;
  int index = 0;
  for (uint32_t i = 0; i < cfg_.binds; ++i) {
    binds_.push_back(
        std::make_shared<Bind>(*this, index++, cfg_.tx_rx ? Bind::Role::Tx : Bind::Role::Trx));
  }
  if (cfg_.tx_rx) {
    for (uint32_t i = 0; i < cfg_.binds; ++i)
      binds_.push_back(std::make_shared<Bind>(*this, index++, Bind::Role::Rx));
  }
  for (auto& b : binds_) asio::co_spawn(ex, b->run(b), asio::detached);

  asio::steady_timer tick(ex);
  auto progress_at = started_ + std::chrono::seconds(1);
  bool waiting_receipts = false;
  while (!stopping_) {
    tick.expires_after(std::chrono::milliseconds(20));
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto now = Clock::now();
    if (cfg_.progress && now >= progress_at) {
      print_progress(now);
      progress_at += std::chrono::seconds(1);
    }
    bool any_sender = false, all_finished = true;
    size_t pending = 0;
    for (const auto& b : binds_) {
      all_finished = all_finished && b->finished();
      any_sender = any_sender || (b->sends() && !b->finished());
      pending += b->pending();
    }
    if (all_finished) {
      stop("all binds closed");
      break;
    }
    if (!waiting_receipts) {
      if (!any_sender) {
        stop("no transmitter bind left");
        break;
      }
      if (generation_done() && pending == 0) {
        waiting_receipts = true;
        submits_done_at_ = now;
      }
      continue;
    }
    const uint8_t rd = cfg_.registered_delivery & 0x03;
    const auto waited = now - submits_done_at_;
    if (expect_all_receipts()) {
      if (dlr_matched_ >= acked_)
        stop("done");
      else if (waited >= std::chrono::seconds(cfg_.dlr_timeout_s))
        stop("receipt timeout");
    } else if (rd == 2) {
      // Failure-only receipts: there is no count to wait for, so wait a little.
      if (waited >= std::min<Clock::duration>(std::chrono::seconds(cfg_.dlr_timeout_s),
                                              std::chrono::seconds(2))) {
        stop("done");
      }
    } else {
      stop("done");
    }
  }
  if (cfg_.progress) print_progress(Clock::now());
  for (auto& b : binds_) b->request_unbind();
  const auto give_up = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < give_up) {
    bool all = true;
    for (const auto& b : binds_) all = all && b->finished();
    if (all) break;
    tick.expires_after(std::chrono::milliseconds(10));
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  io_.stop();
}

bool Load::ok() const {
  if (fatal_ || messages_started_ < cfg_.count) return false;
  if (acked_ != parts_sent_) return false;
  if (expect_all_receipts() && dlr_matched_ < acked_) return false;
  return true;
}

uint64_t Load::duplicate_ids() const {
  if (plain_ids_.empty()) return duplicate_ids_;
  std::vector<uint64_t> sorted = plain_ids_;
  std::sort(sorted.begin(), sorted.end());
  uint64_t dups = 0;
  for (size_t i = 1; i < sorted.size(); ++i) dups += sorted[i] == sorted[i - 1];
  return duplicate_ids_ + dups;
}

nlohmann::json Load::report() const {
  using nlohmann::json;
  auto latency = [](const Histogram& h) {
    auto ms = [](uint64_t us) { return static_cast<double>(us) / 1000.0; };
    return json{{"count", h.count()},
                {"p50", ms(h.percentile(0.50))},
                {"p90", ms(h.percentile(0.90))},
                {"p99", ms(h.percentile(0.99))},
                {"max", ms(h.max())}};
  };
  json rejected = json::object();
  for (auto [st, n] : rejected_) {
    const std::string key = smpp::status_name(st);
    rejected[key] = rejected.value(key, uint64_t{0}) + n;
  }
  json by_stat = json::object();
  for (uint8_t s = 1; s < dlr_by_state_.size(); ++s) {
    if (dlr_by_state_[s]) by_stat[smpp::stat_of(s)] = dlr_by_state_[s];
  }
  const double busy =
      any_submit_
          ? std::chrono::duration<double>(std::max(last_resp_, first_submit_) - first_submit_)
                .count()
          : 0;
  const uint64_t expected = expect_all_receipts() ? acked_ : 0;
  size_t outstanding = 0;
  for (const auto& b : binds_) outstanding += b->pending();
  return json{
      {"ok", ok()},
      {"stop_reason", stop_reason_},
      {"run_id", run_id_},
      {"elapsed_s", std::chrono::duration<double>(Clock::now() - started_).count()},
      {"binds", binds_.size()},
      {"messages", cfg_.count},
      {"messages_started", messages_started_},
      {"sent", parts_sent_},
      {"submits", submits_},
      {"acknowledged", acked_},
      {"rejected", rejected},
      {"rejected_total", rejected_total_},
      {"throttled", throttled_},
      {"timed_out", timed_out_},
      {"lost", lost_},
      {"outstanding", outstanding},
      {"unexpected_responses", unexpected_resp_},
      {"duplicate_message_ids", duplicate_ids()},
      {"throughput", busy > 0 ? static_cast<double>(acked_) / busy : 0.0},
      {"dlr",
       {{"expected", expected},
        {"received", dlr_total_},
        {"matched", dlr_matched_},
        {"by_stat", by_stat},
        {"missing", expected > dlr_matched_ ? expected - dlr_matched_ : 0},
        {"duplicated", dlr_duplicated_},
        {"unknown", early_.size()},
        {"intermediate", dlr_intermediate_}}},
      {"mo_received", mo_received_},
      {"enquire_link_received", enquire_link_received_},
      {"connections",
       {{"connects", connects_}, {"disconnects", disconnects_}, {"bind_failures", bind_failures_}}},
      {"bind_status", last_bind_status_ ? smpp::status_name(last_bind_status_) : "ESME_ROK"},
      {"latency_ms", {{"submit", latency(submit_latency_us_)}, {"dlr", latency(dlr_latency_us_)}}},
  };
}

std::string Load::report_text() const {
  const auto j = report();
  std::string out;
  char buf[256];
  auto line = [&](const char* key, const std::string& value) {
    std::snprintf(buf, sizeof buf, "  %-22s %s\n", key, value.c_str());
    out += buf;
  };
  auto num = [](const nlohmann::json& v) { return v.dump(); };
  out += "esme-load: " + std::string(j["ok"].get<bool>() ? "OK" : "FAILED") + " (" +
         j["stop_reason"].get<std::string>() + ")\n";
  line("messages", num(j["messages_started"]) + " of " + num(j["messages"]));
  line("submit_sm sent", num(j["sent"]) + " (" + num(j["submits"]) + " with retries)");
  line("acknowledged", num(j["acknowledged"]));
  line("rejected", num(j["rejected_total"]) + " " + j["rejected"].dump());
  line("throttled", num(j["throttled"]));
  line("timed out / lost", num(j["timed_out"]) + " / " + num(j["lost"]));
  std::snprintf(buf, sizeof buf, "%.0f msg/s", j["throughput"].get<double>());
  line("throughput", buf);
  const auto& d = j["dlr"];
  line("dlr matched", num(d["matched"]) + " of " + num(d["expected"]) + " " + d["by_stat"].dump());
  line("dlr missing", num(d["missing"]));
  line("dlr duplicated", num(d["duplicated"]));
  line("dlr unknown", num(d["unknown"]));
  line("mo received", num(j["mo_received"]));
  for (const char* k : {"submit", "dlr"}) {
    const auto& l = j["latency_ms"][k];
    std::snprintf(buf, sizeof buf, "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f", l["p50"].get<double>(),
                  l["p90"].get<double>(), l["p99"].get<double>(), l["max"].get<double>());
    line((std::string(k) + " latency ms").c_str(), buf);
  }
  std::snprintf(buf, sizeof buf, "%.2f s", j["elapsed_s"].get<double>());
  line("elapsed", buf);
  return out;
}

}  // namespace sluice::sim::load
