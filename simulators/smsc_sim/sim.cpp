#include "simulators/smsc_sim/sim.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <functional>

#include "common/log.h"
#include "simulators/simkit/args.h"
#include "smpp/receipt.h"
#include "smpp/status.h"
#include "smpp/text.h"
#include "smpp/udh.h"

namespace sluice::sim::smsc {

using asio::ip::tcp;
using smpp::CommandId;
using smpp::to_u32;
namespace status = smpp::status;

namespace {

constexpr size_t kOutboxHighWater = 1 << 20;
constexpr size_t kOutboxLowWater = 256 << 10;
constexpr auto kStuckWrite = std::chrono::seconds(10);
constexpr size_t kMaxDestinations = 10000;
// Answers held back by --latency, per connection. Only a peer that ignores
// any sane window gets near it.
constexpr size_t kMaxDelayed = 1'000'000;

uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t hash_bytes(std::span<const uint8_t> b) {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::string yymmddhhmm(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02d%02d%02d%02d%02d", tm.tm_year % 100, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min);
  return buf;
}

const char* err_of(uint8_t state) {
  switch (state) {
    case smpp::message_state::UNDELIVERABLE:
      return "001";
    case smpp::message_state::REJECTED:
      return "002";
    case smpp::message_state::EXPIRED:
      return "003";
    case smpp::message_state::DELETED:
      return "004";
    case smpp::message_state::UNKNOWN:
      return "005";
    default:
      return "000";
  }
}

// Receipts carry "the first 20 characters" of the message. They go out in
// data_coding 0, so anything outside printable ASCII becomes '?' rather than
// bytes the receiver would misread.
std::string receipt_text(uint8_t data_coding, std::span<const uint8_t> user_data) {
  std::string out;
  auto utf8 = smpp::to_utf8(data_coding, user_data);
  if (!utf8) return out;
  for (size_t i = 0; i < utf8->size() && out.size() < 20; ++i) {
    auto c = static_cast<unsigned char>((*utf8)[i]);
    if (c >= 0x80) {
      while (i + 1 < utf8->size() && (static_cast<unsigned char>((*utf8)[i + 1]) & 0xC0) == 0x80)
        ++i;
      out += '?';
    } else {
      out += (c >= 0x20 && c < 0x7F) ? static_cast<char>(c) : '?';
    }
  }
  return out;
}

std::string hex_code(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%02" PRIX32, v);
  return buf;
}

}  // namespace

bool parse_id_format(std::string_view s, IdFormat& out) {
  if (s == "hex")
    out = IdFormat::Hex;
  else if (s == "dec")
    out = IdFormat::Dec;
  else if (s == "dec0")
    out = IdFormat::Dec0;
  else
    return false;
  return true;
}

std::string format_id(uint64_t n, IdFormat f) {
  char buf[32];
  switch (f) {
    case IdFormat::Hex:
      std::snprintf(buf, sizeof buf, "%" PRIx64, n);
      break;
    case IdFormat::Dec:
      std::snprintf(buf, sizeof buf, "%" PRIu64, n);
      break;
    case IdFormat::Dec0:
      std::snprintf(buf, sizeof buf, "%010" PRIu64, n);
      break;
  }
  return buf;
}

bool parse_dlr_mix(std::string_view s, std::vector<StateWeight>& out) {
  static constexpr std::string_view kFinal[] = {"DELIVRD", "EXPIRED", "DELETED", "UNDELIV",
                                                "ACCEPTD", "UNKNOWN", "REJECTD"};
  std::vector<std::pair<std::string, double>> w;
  if (!parse_weights(s, w)) return false;
  out.clear();
  double total = 0;
  for (auto& [name, weight] : w) {
    std::string up = name;
    for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (std::find(std::begin(kFinal), std::end(kFinal), up) == std::end(kFinal)) return false;
    out.push_back(StateWeight{up, smpp::message_state_of(up), weight});
    total += weight;
  }
  return total > 0;
}

// ---------------------------------------------------------------- RateHistory

int64_t RateHistory::slot_of(Clock::time_point t) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - start_).count() /
         (1000 / kSlotsPerSecond);
}

void RateHistory::advance(int64_t slot) {
  if (slot <= head_) return;
  if (slot - head_ >= kSlots) {
    slots_.fill(0);
  } else {
    for (int64_t s = head_ + 1; s <= slot; ++s) slots_[static_cast<size_t>(s % kSlots)] = 0;
  }
  head_ = slot;
}

uint64_t RateHistory::sum(int64_t from, int64_t to) const {
  from = std::max({from, head_ - kSlots + 1, first_});
  to = std::min(to, head_);
  uint64_t n = 0;
  for (int64_t s = from; s <= to; ++s) n += slots_[static_cast<size_t>(s % kSlots)];
  return n;
}

void RateHistory::add(Clock::time_point now) {
  const int64_t s = slot_of(now);
  advance(s);
  ++slots_[static_cast<size_t>(s % kSlots)];
}

uint64_t RateHistory::this_second(Clock::time_point now) {
  const int64_t s = slot_of(now);
  advance(s);
  return sum(s - s % kSlotsPerSecond, s);
}

uint64_t RateHistory::last_second(Clock::time_point now) {
  const int64_t s = slot_of(now);
  advance(s);
  return sum(s - kSlotsPerSecond + 1, s);
}

std::vector<uint64_t> RateHistory::per_second(Clock::time_point now) {
  const int64_t s = slot_of(now);
  advance(s);
  const int64_t cur = s / kSlotsPerSecond;
  const int64_t oldest = std::max(first_ / kSlotsPerSecond, cur - kSeconds + 1);
  std::vector<uint64_t> out;
  for (int64_t sec = oldest; sec <= cur; ++sec) {
    out.push_back(sum(sec * kSlotsPerSecond, sec * kSlotsPerSecond + kSlotsPerSecond - 1));
  }
  return out;
}

uint64_t RateHistory::max_sliding_second(Clock::time_point now) {
  const int64_t s = slot_of(now);
  advance(s);
  uint64_t best = 0;
  for (int64_t end = std::max(first_, head_ - kSlots + 1); end <= head_; ++end) {
    best = std::max(best, sum(end - kSlotsPerSecond + 1, end));
  }
  return best;
}

void RateHistory::reset(Clock::time_point now) {
  slots_.fill(0);
  head_ = slot_of(now);
  first_ = head_;
}

// ------------------------------------------------------------- FingerprintSet

FingerprintSet::Result FingerprintSet::insert(uint64_t h) {
  if (h == 0) h = 1;  // 0 marks an empty slot
  if (table_.empty()) grow();
  const size_t mask = table_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    if (table_[i] == h) return Result::Seen;
    if (table_[i] == 0) {
      if (size_ >= limit_) return Result::Full;
      table_[i] = h;
      if (++size_ * 2 > table_.size()) grow();
      return Result::New;
    }
  }
}

void FingerprintSet::grow() {
  std::vector<uint64_t> old = std::move(table_);
  table_.assign(std::max<size_t>(1 << 16, old.size() * 2), 0);
  const size_t mask = table_.size() - 1;
  for (uint64_t h : old) {
    if (h == 0) continue;
    size_t i = h & mask;
    while (table_[i] != 0) i = (i + 1) & mask;
    table_[i] = h;
  }
}

void FingerprintSet::clear() {
  table_ = {};
  size_ = 0;
}

// -------------------------------------------------------------------- Session

Session::Session(Sim& sim, tcp::socket socket, uint64_t id)
    : sim_(sim),
      socket_(std::move(socket)),
      id_(id),
      out_(socket_.get_executor()),
      delayed_signal_(socket_.get_executor()) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  opened_ = last_enquire_ = Clock::now();
}

uint32_t Session::next_seq() {
  // SMPP sequence numbers run 1..0x7FFFFFFF.
  seq_ = seq_ >= 0x7FFFFFFF ? 1 : seq_ + 1;
  return seq_;
}

asio::awaitable<void> Session::run(std::shared_ptr<Session> self) {
  sim_.session_opened(this);
  auto ex = socket_.get_executor();
  asio::co_spawn(ex, writer(self), asio::detached);
  asio::co_spawn(ex, delayed_responder(self), asio::detached);
  try {
    co_await reader();
  } catch (const std::exception& e) {
    log::debug("smsc-sim: session error", {{"remote", remote_}, {"why", e.what()}});
  }
  if (open_) {
    // An unbind_resp, a failed bind_resp or a last generic_nack may be queued;
    // a peer that does not read is cut off by tick()'s stuck-write check.
    out_.close_after_flush();
    co_await out_.wait_below(0);
  }
  close();
  std::vector<Job> unanswered;
  unanswered.reserve(in_flight_.size());
  for (auto& [seq, f] : in_flight_) unanswered.push_back(std::move(f.job));
  in_flight_.clear();
  sim_.session_closed(this, std::move(unanswered), bound_ && receive_);
}

asio::awaitable<void> Session::writer(std::shared_ptr<Session> self) {
  co_await out_.run(socket_);
  // A failed write ends the session; a clean close_after_flush() ends here too.
  self->close();
}

void Session::close() {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  delayed_signal_.cancel();
  out_.abort();
}

asio::awaitable<void> Session::reader() {
  while (open_ && !closing_) {
    auto [ec, n] =
        co_await socket_.async_read_some(in_.space(), asio::as_tuple(asio::use_awaitable));
    if (ec || !open_) break;
    in_.commit(n);
    for (;;) {
      std::span<const uint8_t> frame;
      auto st = in_.next(frame);
      if (st == smpp::FrameState::NeedMore) break;
      if (st != smpp::FrameState::Complete) {
        // The stream cannot be resynchronised: say why, then hang up.
        ++sim_.stats_.bad_frames;
        ++sim_.stats_.generic_nack_sent;
        append_header_only(out_.buf(), to_u32(CommandId::GenericNack), status::ESME_RINVCMDLEN, 0);
        closing_ = true;
        break;
      }
      handle(frame);
      if (!open_ || closing_) break;
    }
    out_.flush();
    if (system_ && !system_->ready.empty()) sim_.dispatch(system_);
    // Backpressure: stop reading while the peer does not read our answers.
    if (out_.queued() > kOutboxHighWater) co_await out_.wait_below(kOutboxLowWater);
  }
}

asio::awaitable<void> Session::delayed_responder(std::shared_ptr<Session> self) {
  while (self->open_) {
    if (delayed_.empty()) {
      co_await delayed_signal_.wait();
      continue;
    }
    auto now = Clock::now();
    if (delayed_.front().due > now) {
      co_await delayed_signal_.wait_until(delayed_.front().due);
      continue;
    }
    while (!delayed_.empty() && delayed_.front().due <= now) {
      auto& d = delayed_.front();
      emit_submit_resp(d.command_id, d.seq, d.status, d.message_id);
      delayed_.pop_front();
    }
    out_.flush();
  }
}

void Session::handle(std::span<const uint8_t> frame) {
  const smpp::Header h = smpp::read_header(frame);
  auto r = smpp::decode(frame);
  auto& stats = sim_.stats_;
  if (!r.ok()) {
    ++stats.decode_errors;
    const auto& e = r.error();
    if (e.generic_nack) {
      ++stats.generic_nack_sent;
      append_header_only(out_.buf(), to_u32(CommandId::GenericNack), e.status, h.sequence_number);
    } else if (!smpp::is_response(h.command_id)) {
      if (uint32_t rid = smpp::response_id(h.command_id); rid != 0) {
        if (h.command_id == to_u32(CommandId::SubmitSm) ||
            h.command_id == to_u32(CommandId::DataSm)) {
          ++stats.submits_received;
          ++stats.errors_by_status[e.status];
        }
        append_header_only(out_.buf(), rid, e.status, h.sequence_number);
      }
    }
    return;
  }
  const smpp::Pdu& pdu = *r;
  const uint32_t seq = h.sequence_number;
  switch (static_cast<CommandId>(h.command_id)) {
    case CommandId::BindTransmitter:
    case CommandId::BindReceiver:
    case CommandId::BindTransceiver:
      on_bind(h, std::get<smpp::BindRequest>(pdu.body));
      break;
    case CommandId::SubmitSm: {
      const auto& sm = std::get<smpp::SubmitSm>(pdu.body);
      on_submit(h, sm.source, sm.dest, sm.esm_class, sm.data_coding, sm.registered_delivery,
                sm.short_message, sm.tlvs, false);
      break;
    }
    case CommandId::DataSm: {
      const auto& sm = std::get<smpp::DataSm>(pdu.body);
      on_submit(h, sm.source, sm.dest, sm.esm_class, sm.data_coding, sm.registered_delivery, {},
                sm.tlvs, true);
      break;
    }
    case CommandId::EnquireLink:
      ++stats.enquire_link_received;
      append_header_only(out_.buf(), to_u32(CommandId::EnquireLinkResp), 0, seq);
      break;
    case CommandId::EnquireLinkResp:
      ++stats.enquire_link_resp;
      break;
    case CommandId::Unbind:
      ++stats.unbinds;
      append_header_only(out_.buf(), to_u32(CommandId::UnbindResp), 0, seq);
      closing_ = true;
      break;
    case CommandId::UnbindResp:
      closing_ = true;
      break;
    case CommandId::DeliverSmResp:
      on_delivery_resp(seq, h.command_status);
      break;
    case CommandId::GenericNack:
      // A nack of one of our deliver_sm answers it (with an error).
      if (in_flight_.count(seq)) on_delivery_resp(seq, h.command_status);
      break;
    case CommandId::QuerySm:
    case CommandId::CancelSm:
    case CommandId::ReplaceSm:
    case CommandId::SubmitMulti: {
      // Not simulated; answered with the command's own failure status.
      uint32_t st = status::ESME_RINVCMDID;
      if (!bound_)
        st = status::ESME_RINVBNDSTS;
      else if (h.command_id == to_u32(CommandId::QuerySm))
        st = status::ESME_RQUERYFAIL;
      else if (h.command_id == to_u32(CommandId::CancelSm))
        st = status::ESME_RCANCELFAIL;
      else if (h.command_id == to_u32(CommandId::ReplaceSm))
        st = status::ESME_RREPLACEFAIL;
      append_header_only(out_.buf(), smpp::response_id(h.command_id), st, seq);
      break;
    }
    case CommandId::DeliverSm:
      // An ESME has no business sending deliver_sm to an SMSC.
      append_header_only(out_.buf(), to_u32(CommandId::DeliverSmResp), status::ESME_RINVCMDID, seq);
      break;
    default:
      // outbind, alert_notification and stray responses need no answer.
      break;
  }
}

void Session::on_bind(const smpp::Header& h, const smpp::BindRequest& b) {
  auto& stats = sim_.stats_;
  const uint32_t resp_id = smpp::response_id(h.command_id);
  if (bound_) {
    append_header_only(out_.buf(), resp_id, status::ESME_RALYBND, h.sequence_number);
    return;
  }
  if (!sim_.check_credentials(b)) {
    ++stats.bind_failures;
    log::info("smsc-sim: bind refused", {{"remote", remote_}, {"system_id", b.system_id}});
    append_header_only(out_.buf(), resp_id, status::ESME_RBINDFAIL, h.sequence_number);
    closing_ = true;
    return;
  }
  bound_ = true;
  system_id_ = b.system_id;
  switch (static_cast<CommandId>(h.command_id)) {
    case CommandId::BindTransmitter:
      transmit_ = true;
      bind_type_ = "transmitter";
      break;
    case CommandId::BindReceiver:
      receive_ = true;
      bind_type_ = "receiver";
      break;
    default:
      transmit_ = receive_ = true;
      bind_type_ = "transceiver";
      break;
  }
  ++stats.binds_total;
  ++stats.binds_by_type[bind_type_];
  last_enquire_ = Clock::now();
  smpp::BindResp resp;
  resp.command_id = resp_id;
  resp.system_id = sim_.cfg_.server_system_id;
  resp.tlvs.set_u8(smpp::tlv::sc_interface_version, 0x34);
  smpp::encode_to(out_.buf(), smpp::make_pdu(std::move(resp), h.sequence_number));
  log::debug("smsc-sim: bound",
             {{"remote", remote_}, {"system_id", system_id_}, {"type", bind_type_}});
  system_ = sim_.system(system_id_);
  sim_.session_bound(this, system_, receive_);
}

void Session::on_submit(const smpp::Header& h, const smpp::Address& source,
                        const smpp::Address& dest, uint8_t esm_class, uint8_t data_coding,
                        uint8_t registered_delivery, std::span<const uint8_t> short_message,
                        const smpp::TlvList& tlvs, bool data_sm) {
  auto& stats = sim_.stats_;
  ++stats.submits_received;
  if (data_sm) ++stats.data_sm_received;
  const uint32_t resp_id = to_u32(data_sm ? CommandId::DataSmResp : CommandId::SubmitSmResp);
  if (!bound_ || !transmit_) {
    ++stats.not_bound;
    ++stats.errors_by_status[status::ESME_RINVBNDSTS];
    append_header_only(out_.buf(), resp_id, status::ESME_RINVBNDSTS, h.sequence_number);
    return;
  }
  ++submits_;
  std::span<const uint8_t> payload;
  if (const auto* p = tlvs.find(smpp::tlv::message_payload)) payload = p->value;
  auto d = sim_.decide(*this, source, dest, esm_class, data_coding, registered_delivery,
                       short_message, payload);
  if (d.drop) {
    ++stats.dropped_connections;
    log::info("smsc-sim: dropping connection (fault injection)", {{"remote", remote_}});
    close();
    return;
  }
  ++outstanding_;
  max_outstanding_ = std::max(max_outstanding_, outstanding_);
  stats.max_outstanding = std::max(stats.max_outstanding, outstanding_);
  if (d.silent) return;
  answer_submit(resp_id, h.sequence_number, d.status, std::move(d.id));
}

void Session::answer_submit(uint32_t command_id, uint32_t seq, uint32_t status, std::string id) {
  const uint32_t latency = sim_.mode_.latency_ms;
  if (latency == 0) {
    emit_submit_resp(command_id, seq, status, id);
    return;
  }
  if (delayed_.size() >= kMaxDelayed) {
    ++sim_.stats_.overload_drops;
    log::info("smsc-sim: dropping a peer with too many unanswered submits", {{"remote", remote_}});
    close();
    return;
  }
  delayed_.push_back(DelayedResp{Clock::now() + std::chrono::milliseconds(latency), command_id, seq,
                                 status, std::move(id)});
  if (delayed_.size() == 1) delayed_signal_.notify();
}

void Session::emit_submit_resp(uint32_t command_id, uint32_t seq, uint32_t status,
                               const std::string& id) {
  if (outstanding_ > 0) --outstanding_;
  if (command_id == to_u32(CommandId::SubmitSmResp)) {
    smpp::encode_to(out_.buf(), smpp::make_pdu(smpp::SubmitSmResp{id}, seq, status));
  } else {
    smpp::encode_to(out_.buf(), smpp::make_pdu(smpp::DataSmResp{id, {}}, seq, status));
  }
}

bool Session::can_take_delivery() const {
  return open_ && !closing_ && bound_ && receive_ && in_flight_.size() < sim_.cfg_.deliver_window &&
         out_.queued() < kOutboxHighWater;
}

void Session::deliver(Job&& job) {
  auto& stats = sim_.stats_;
  const uint32_t seq = next_seq();
  patch_sequence(job.pdu, seq);
  auto& buf = out_.buf();
  buf.insert(buf.end(), job.pdu.begin(), job.pdu.end());
  ++job.sends;
  if (job.mo) {
    if (job.sends == 1) ++stats.mo_sent;
  } else if (job.sends == 1) {
    ++stats.dlr_sent;
    ++stats.dlr_by_state[smpp::stat_of(job.state)];
  } else {
    ++stats.dlr_resent;
  }
  in_flight_.insert_or_assign(seq, InFlight{std::move(job), Clock::now()});
  out_.flush();
}

void Session::on_delivery_resp(uint32_t seq, uint32_t status) {
  auto it = in_flight_.find(seq);
  if (it == in_flight_.end()) return;  // late: already timed out and resent
  auto& stats = sim_.stats_;
  ++stats.deliver_sm_resp;
  if (status != 0) ++stats.deliver_sm_resp_errors[status];
  in_flight_.erase(it);
  sim_.job_done();
}

void Session::tick(Clock::time_point now, std::vector<Job>& expired) {
  if (!open_) return;
  const auto& cfg = sim_.cfg_;
  if (!bound_ && now - opened_ > std::chrono::seconds(cfg.bind_timeout_s)) {
    ++sim_.stats_.bind_timeouts;
    close();
    return;
  }
  if (out_.stuck(kStuckWrite)) {
    ++sim_.stats_.slow_consumer_drops;
    log::info("smsc-sim: dropping a peer that does not read", {{"remote", remote_}});
    close();
    return;
  }
  if (bound_ && !closing_ && cfg.enquire_link_s > 0 &&
      now - last_enquire_ >= std::chrono::seconds(cfg.enquire_link_s)) {
    last_enquire_ = now;
    ++sim_.stats_.enquire_link_sent;
    append_header_only(out_.buf(), to_u32(CommandId::EnquireLink), 0, next_seq());
    out_.flush();
  }
  const auto timeout = std::chrono::seconds(cfg.dlr_resp_timeout_s);
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (now - it->second.sent >= timeout) {
      expired.push_back(std::move(it->second.job));
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
}

nlohmann::json Session::describe() const {
  return nlohmann::json{{"id", id_},
                        {"remote", remote_},
                        {"system_id", system_id_},
                        {"bind", bound_ ? bind_type_ : std::string("none")},
                        {"submits", submits_},
                        {"outstanding", outstanding_},
                        {"max_outstanding", max_outstanding_},
                        {"deliveries_in_flight", in_flight_.size()},
                        {"queued_bytes", out_.queued()}};
}

// ------------------------------------------------------------------------ Sim

Sim::Sim(asio::io_context& io, Config cfg)
    : io_(io),
      cfg_(std::move(cfg)),
      mode_(cfg_.mode),
      started_(Clock::now()),
      rng_(cfg_.seed ? cfg_.seed
                     : static_cast<uint64_t>(
                           std::chrono::system_clock::now().time_since_epoch().count())),
      pump_signal_(io.get_executor()),
      housekeeping_timer_(io),
      mo_timer_(io),
      rate_(started_),
      seen_(cfg_.dedup_capacity) {
  if (cfg_.dlr_mix.empty()) parse_dlr_mix("DELIVRD=90,UNDELIV=5,REJECTD=3,EXPIRED=2", cfg_.dlr_mix);
  double total = 0;
  for (const auto& w : cfg_.dlr_mix) {
    total += w.weight;
    mix_cumulative_.push_back(total);
  }
  // Ids differ between runs (a restarted simulator must not reuse the ids of
  // receipts the gateway may still be waiting for) yet stay below 10^9, so
  // that dec0 ids keep a leading zero for the normalisation they exist to test.
  next_id_ = cfg_.id_start.value_or(static_cast<uint64_t>(std::time(nullptr) % 100000) * 10000 + 1);
}

Sim::~Sim() = default;

void Sim::start() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(cfg_.listen_host, ec);
  if (ec) throw std::runtime_error("bad listen address " + cfg_.listen_host);
  tcp::endpoint ep(addr, cfg_.listen_port);
  acceptor_ = std::make_unique<tcp::acceptor>(io_);
  acceptor_->open(ep.protocol());
  acceptor_->set_option(tcp::acceptor::reuse_address(true));
  acceptor_->bind(ep, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + cfg_.listen_host + ":" +
                             std::to_string(cfg_.listen_port) + ": " + ec.message());
  }
  acceptor_->listen(asio::socket_base::max_listen_connections);
  smpp_port_ = acceptor_->local_endpoint().port();
  if (cfg_.http_enabled) {
    http_ = std::make_unique<HttpEndpoint>(io_,
                                           [this](const HttpRequest& r) { return handle_http(r); });
    http_->start(cfg_.http_host, cfg_.http_port);
  }
  for (const auto& c : cfg_.credentials) system(c.system_id);
  asio::co_spawn(io_, accept_loop(), asio::detached);
  asio::co_spawn(io_, receipt_pump(), asio::detached);
  asio::co_spawn(io_, housekeeping(), asio::detached);
  asio::co_spawn(io_, mo_generator(), asio::detached);
}

void Sim::stop() {
  if (stopping_) return;
  stopping_ = true;
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  if (http_) http_->stop();
  for (auto* s : sessions_) s->close();
  pump_signal_.notify();
  housekeeping_timer_.cancel();
  mo_timer_.cancel();
}

bool Sim::check_credentials(const smpp::BindRequest& b) const {
  if (cfg_.credentials.empty()) return true;
  for (const auto& c : cfg_.credentials) {
    if (c.system_id == b.system_id && (c.any_password || c.password == b.password)) return true;
  }
  return false;
}

SystemState* Sim::system(const std::string& system_id) {
  auto& slot = systems_[system_id];
  if (!slot) {
    slot = std::make_unique<SystemState>();
    slot->system_id = system_id;
  }
  return slot.get();
}

void Sim::session_opened(Session* s) {
  sessions_.insert(s);
}

void Sim::session_bound(Session* s, SystemState* sys, bool receive) {
  if (receive) {
    sys->receivers.push_back(s);
    dispatch(sys);
  }
}

void Sim::session_closed(Session* s, std::vector<Job>&& unanswered, bool was_receiver) {
  sessions_.erase(s);
  SystemState* sys = s->system_;
  if (sys && was_receiver) {
    auto& r = sys->receivers;
    r.erase(std::remove(r.begin(), r.end(), s), r.end());
    if (sys->rr >= r.size()) sys->rr = 0;
  }
  // Deliveries the peer never answered go to another bind (or wait for the
  // next one), as an SMSC redelivers; they keep their send count.
  for (auto it = unanswered.rbegin(); it != unanswered.rend(); ++it) requeue_front(std::move(*it));
  dispatch_dirty();
}

void Sim::requeue_front(Job&& job) {
  SystemState* sys = job.system;
  sys->ready.push_front(std::move(job));
  sys->dirty = true;
}

void Sim::dispatch(SystemState* sys) {
  sys->dirty = false;
  auto& r = sys->receivers;
  while (!sys->ready.empty() && !r.empty()) {
    Session* target = nullptr;
    for (size_t i = 0; i < r.size(); ++i) {
      Session* s = r[(sys->rr + i) % r.size()];
      if (s->can_take_delivery()) {
        target = s;
        sys->rr = (sys->rr + i + 1) % r.size();
        break;
      }
    }
    if (!target) break;
    target->deliver(std::move(sys->ready.front()));
    sys->ready.pop_front();
  }
}

void Sim::dispatch_dirty() {
  for (auto& [name, sys] : systems_) {
    if (sys->dirty || !sys->ready.empty()) dispatch(sys.get());
  }
}

Sim::Decision Sim::decide(Session& s, const smpp::Address& source, const smpp::Address& dest,
                          uint8_t esm_class, uint8_t data_coding, uint8_t registered_delivery,
                          std::span<const uint8_t> short_message,
                          std::span<const uint8_t> payload) {
  Decision d;
  const auto now = Clock::now();
  if (mode_.drop_rate > 0 && uniform() < mode_.drop_rate) {
    d.drop = true;
    return d;
  }
  if (mode_.silent) {
    ++stats_.ignored_silent;
    d.silent = true;
    return d;
  }
  if (mode_.max_rate > 0) {
    const uint64_t n = cfg_.sliding_rate_window ? rate_.last_second(now) : rate_.this_second(now);
    if (n >= mode_.max_rate) {
      ++stats_.throttled;
      d.status = status::ESME_RTHROTTLED;
    }
  }
  if (d.status == 0 && mode_.temp_error_rate > 0 && uniform() < mode_.temp_error_rate) {
    d.status = status::ESME_RMSGQFUL;
  }
  if (d.status == 0 && mode_.perm_error_rate > 0 && uniform() < mode_.perm_error_rate) {
    d.status = status::ESME_RINVDSTADR;
  }
  if (d.status != 0) {
    ++stats_.errors_by_status[d.status];
    return d;
  }

  ++stats_.accepted;
  rate_.add(now);
  // The same destination and the same octets as an accepted submit before:
  // a duplicate, since the load generator makes every text unique.
  uint64_t fp = mix64(std::hash<std::string_view>{}(dest.addr));
  fp = mix64(fp ^ hash_bytes(short_message));
  fp = mix64(fp ^ (hash_bytes(payload) + 0x9e3779b97f4a7c15ULL));
  switch (seen_.insert(fp)) {
    case FingerprintSet::Result::Seen:
      ++stats_.duplicates;
      break;
    case FingerprintSet::Result::Full:
      ++stats_.dedup_full;
      break;
    case FingerprintSet::Result::New:
      break;
  }
  if (auto it = stats_.by_dest.find(dest.addr); it != stats_.by_dest.end()) {
    ++it->second;
  } else if (stats_.by_dest.size() < kMaxDestinations) {
    stats_.by_dest.emplace(dest.addr, 1);
  } else {
    ++stats_.by_dest_other;
  }
  const uint64_t numeric = next_id_++;
  d.id = format_id(numeric, cfg_.id_format);
  if (registered_delivery & 0x03) {
    schedule_receipt(s.system_, numeric, source, dest, esm_class, data_coding, registered_delivery,
                     short_message.empty() ? payload : short_message);
  }
  return d;
}

void Sim::schedule_receipt(SystemState* sys, uint64_t numeric_id, const smpp::Address& source,
                           const smpp::Address& dest, uint8_t esm_class, uint8_t data_coding,
                           uint8_t registered_delivery, std::span<const uint8_t> text) {
  const double pick = uniform() * mix_cumulative_.back();
  size_t k = 0;
  while (k + 1 < mix_cumulative_.size() && pick >= mix_cumulative_[k]) ++k;
  const StateWeight& w = cfg_.dlr_mix[k];
  // registered_delivery 2: receipts for failures only.
  if ((registered_delivery & 0x03) == 2 && w.state == smpp::message_state::DELIVERED) return;
  if (jobs_alive_ >= cfg_.max_pending_deliveries) {
    ++stats_.deliveries_dropped;
    return;
  }
  if (esm_class & smpp::kEsmUdhi) {
    if (auto n = smpp::udh_size(text)) text = text.subspan(*n);
  }
  auto delay = std::chrono::milliseconds(mode_.dlr_delay_ms);
  if (mode_.dlr_delay_jitter_ms > 0) {
    delay += std::chrono::milliseconds(static_cast<int64_t>(uniform() * mode_.dlr_delay_jitter_ms));
  }
  const auto wall = std::chrono::system_clock::now();
  smpp::Receipt r;
  r.id = format_id(numeric_id, cfg_.dlr_id_format.value_or(cfg_.id_format));
  r.sub = 1;
  r.dlvrd = w.state == smpp::message_state::DELIVERED ? 1 : 0;
  r.submit_date = yymmddhhmm(wall);
  r.done_date = yymmddhhmm(wall + delay);
  r.stat = w.stat;
  r.err = err_of(w.state);
  r.text = receipt_text(data_coding, text);
  const std::string body = smpp::format_receipt(r);

  smpp::DeliverSm dm;
  dm.source = dest;
  dm.dest = source;
  dm.esm_class = 0x04;  // SMSC delivery receipt
  dm.short_message.assign(body.begin(), body.end());
  if (cfg_.dlr_tlvs) {
    dm.tlvs.set_cstr(smpp::tlv::receipted_message_id, r.id);
    dm.tlvs.set_u8(smpp::tlv::message_state, w.state);
  }
  Job job;
  job.pdu.reserve(64 + body.size() + dest.addr.size() + source.addr.size() + r.id.size());
  smpp::encode_to(job.pdu, smpp::make_pdu(std::move(dm), 0));
  job.system = sys;
  job.state = w.state;
  ++jobs_alive_;
  ++stats_.dlr_scheduled;

  const auto due = Clock::now() + delay;
  const bool earlier = schedule_.empty() || due < schedule_.front().due;
  schedule_.push_back(Scheduled{due, schedule_order_++, std::move(job)});
  std::push_heap(schedule_.begin(), schedule_.end(), [](const Scheduled& a, const Scheduled& b) {
    return a.due != b.due ? a.due > b.due : a.order > b.order;
  });
  if (earlier) pump_signal_.notify();
}

bool Sim::queue_mo(SystemState* sys, const std::string& from, const std::string& to,
                   const std::string& utf8_text) {
  if (jobs_alive_ >= cfg_.max_pending_deliveries) {
    ++stats_.deliveries_dropped;
    return false;
  }
  smpp::DeliverSm dm;
  dm.source = smpp::Address{1, 1, from};
  dm.dest = smpp::Address{1, 1, to};
  dm.esm_class = 0;
  std::optional<std::vector<uint8_t>> octets;
  if (smpp::gsm7_septet_length(utf8_text) != smpp::kNotGsm7) {
    octets = smpp::from_utf8(utf8_text, smpp::Charset::Gsm7);
    dm.data_coding = 0;
  } else {
    octets = smpp::from_utf8(utf8_text, smpp::Charset::Ucs2);
    dm.data_coding = 8;
  }
  if (!octets) return false;
  if (octets->size() <= 254) {
    dm.short_message = std::move(*octets);
  } else {
    dm.tlvs.set_bytes(smpp::tlv::message_payload, *octets);
  }
  Job job;
  smpp::encode_to(job.pdu, smpp::make_pdu(std::move(dm), 0));
  job.system = sys;
  job.mo = true;
  ++jobs_alive_;
  sys->ready.push_back(std::move(job));
  dispatch(sys);
  return true;
}

SystemState* Sim::pick_mo_system() {
  if (!cfg_.mo_system_id.empty()) return system(cfg_.mo_system_id);
  std::vector<SystemState*> bound;
  for (auto& [name, sys] : systems_) {
    if (!sys->receivers.empty()) bound.push_back(sys.get());
  }
  if (bound.empty()) return nullptr;
  std::sort(bound.begin(), bound.end(),
            [](const SystemState* a, const SystemState* b) { return a->system_id < b->system_id; });
  return bound[mo_rr_++ % bound.size()];
}

asio::awaitable<void> Sim::accept_loop() {
  while (!stopping_) {
    auto [ec, socket] = co_await acceptor_->async_accept(asio::as_tuple(asio::use_awaitable));
    if (stopping_) co_return;
    if (ec) {
      // Out of descriptors and the like: back off rather than spin.
      asio::steady_timer t(io_, std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    ++stats_.connections_total;
    auto s = std::make_shared<Session>(*this, std::move(socket), next_session_id_++);
    asio::co_spawn(io_, s->run(s), asio::detached);
  }
}

asio::awaitable<void> Sim::receipt_pump() {
  const auto later = [](const Scheduled& a, const Scheduled& b) {
    return a.due != b.due ? a.due > b.due : a.order > b.order;
  };
  while (!stopping_) {
    if (schedule_.empty()) {
      co_await pump_signal_.wait();
      continue;
    }
    const auto now = Clock::now();
    if (schedule_.front().due > now) {
      co_await pump_signal_.wait_until(schedule_.front().due);
      continue;
    }
    while (!schedule_.empty() && schedule_.front().due <= now) {
      std::pop_heap(schedule_.begin(), schedule_.end(), later);
      Job job = std::move(schedule_.back().job);
      schedule_.pop_back();
      SystemState* sys = job.system;
      sys->ready.push_back(std::move(job));
      sys->dirty = true;
    }
    dispatch_dirty();
  }
}

asio::awaitable<void> Sim::housekeeping() {
  std::vector<Job> expired;
  while (!stopping_) {
    housekeeping_timer_.expires_after(std::chrono::seconds(1));
    co_await housekeeping_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) co_return;
    const auto now = Clock::now();
    for (auto* s : sessions_) s->tick(now, expired);
    for (auto& job : expired) {
      if (job.sends > cfg_.dlr_max_retries) {
        ++stats_.dlr_given_up;
        job_done();
      } else {
        requeue_front(std::move(job));
      }
    }
    expired.clear();
    dispatch_dirty();
  }
}

asio::awaitable<void> Sim::mo_generator() {
  constexpr int kTicksPerSecond = 10;
  double due = 0;
  while (!stopping_) {
    mo_timer_.expires_after(std::chrono::milliseconds(1000 / kTicksPerSecond));
    co_await mo_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (stopping_) co_return;
    if (mode_.mo_rate <= 0 || cfg_.mo_dest.empty()) {
      due = 0;
      continue;
    }
    due += mode_.mo_rate / kTicksPerSecond;
    while (due >= 1) {
      due -= 1;
      SystemState* sys = pick_mo_system();
      if (!sys) {
        ++stats_.mo_skipped_no_receiver;
        continue;
      }
      const uint64_t n = ++mo_counter_;
      queue_mo(sys, cfg_.mo_source, cfg_.mo_dest[n % cfg_.mo_dest.size()],
               "MO " + std::to_string(n) + " from smsc-sim");
    }
  }
}

nlohmann::json Sim::mode_json() const {
  return nlohmann::json{{"silent", mode_.silent},
                        {"latency_ms", mode_.latency_ms},
                        {"max_rate", mode_.max_rate},
                        {"temp_error_rate", mode_.temp_error_rate},
                        {"perm_error_rate", mode_.perm_error_rate},
                        {"drop_rate", mode_.drop_rate},
                        {"dlr_delay_ms", mode_.dlr_delay_ms},
                        {"dlr_delay_jitter_ms", mode_.dlr_delay_jitter_ms},
                        {"mo_rate", mode_.mo_rate}};
}

nlohmann::json Sim::stats_json() {
  using nlohmann::json;
  const auto now = Clock::now();
  const auto& s = stats_;
  auto by_status = [](const std::map<uint32_t, uint64_t>& m, bool hex) {
    json j = json::object();
    for (auto [code, n] : m) {
      const std::string key = hex ? hex_code(code) : smpp::status_name(code);
      j[key] = j.value(key, uint64_t{0}) + n;
    }
    return j;
  };
  size_t bound = 0, ready = 0, in_flight = 0;
  json binds = json::array();
  for (auto* sess : sessions_) {
    if (sess->bound_) ++bound;
    in_flight += sess->in_flight_.size();
    if (binds.size() < 100) binds.push_back(sess->describe());
  }
  for (auto& [name, sys] : systems_) ready += sys->ready.size();

  std::vector<std::pair<std::string, uint64_t>> top(s.by_dest.begin(), s.by_dest.end());
  const size_t n_top = std::min(cfg_.top_destinations, top.size());
  std::partial_sort(top.begin(), top.begin() + static_cast<std::ptrdiff_t>(n_top), top.end(),
                    [](const auto& a, const auto& b) {
                      return a.second != b.second ? a.second > b.second : a.first < b.first;
                    });
  json top_json = json::array();
  for (size_t i = 0; i < n_top; ++i) {
    top_json.push_back({{"dest", top[i].first}, {"count", top[i].second}});
  }
  auto per_second = rate_.per_second(now);
  const uint64_t max_per_second =
      per_second.empty() ? 0 : *std::max_element(per_second.begin(), per_second.end());

  return json{
      {"uptime_s", std::chrono::duration<double>(now - started_).count()},
      {"connections",
       {{"current", sessions_.size()},
        {"total", s.connections_total},
        {"dropped_by_fault", s.dropped_connections},
        {"slow_consumer_drops", s.slow_consumer_drops},
        {"overload_drops", s.overload_drops},
        {"bind_timeouts", s.bind_timeouts}}},
      {"binds",
       {{"current", bound},
        {"total", s.binds_total},
        {"failed", s.bind_failures},
        {"by_type", s.binds_by_type},
        {"unbinds", s.unbinds}}},
      {"submits",
       {{"received", s.submits_received},
        {"data_sm", s.data_sm_received},
        {"accepted", s.accepted},
        {"unique", s.accepted - s.duplicates},
        {"duplicates", s.duplicates},
        {"dedup_full", s.dedup_full},
        {"throttled", s.throttled},
        {"silent_ignored", s.ignored_silent},
        {"not_bound", s.not_bound},
        {"errors", by_status(s.errors_by_status, false)},
        {"errors_by_code", by_status(s.errors_by_status, true)}}},
      {"destinations",
       {{"distinct", s.by_dest.size()}, {"other", s.by_dest_other}, {"top", top_json}}},
      {"dlr",
       {{"scheduled", s.dlr_scheduled},
        {"sent", s.dlr_sent},
        {"resent", s.dlr_resent},
        {"given_up", s.dlr_given_up},
        {"by_state", s.dlr_by_state},
        {"deliver_sm_resp", s.deliver_sm_resp},
        {"deliver_sm_resp_errors", by_status(s.deliver_sm_resp_errors, false)},
        {"dropped_overflow", s.deliveries_dropped},
        {"waiting", schedule_.size()},
        {"ready", ready},
        {"in_flight", in_flight}}},
      {"mo", {{"sent", s.mo_sent}, {"skipped_no_receiver", s.mo_skipped_no_receiver}}},
      {"enquire_link",
       {{"received", s.enquire_link_received},
        {"sent", s.enquire_link_sent},
        {"resp_received", s.enquire_link_resp}}},
      {"protocol",
       {{"generic_nack_sent", s.generic_nack_sent},
        {"decode_errors", s.decode_errors},
        {"bad_frames", s.bad_frames}}},
      {"window", {{"max_outstanding", s.max_outstanding}, {"binds", binds}}},
      {"rate",
       {{"max_rate", mode_.max_rate},
        {"window", cfg_.sliding_rate_window ? "sliding" : "fixed"},
        {"per_second", per_second},
        {"max_per_second", max_per_second},
        {"max_sliding_1s", rate_.max_sliding_second(now)}}},
      {"mode", mode_json()},
  };
}

void Sim::reset_stats() {
  stats_ = Stats{};
  rate_.reset(Clock::now());
  seen_.clear();
  for (auto* s : sessions_) {
    s->reset_counters();
    stats_.max_outstanding = std::max(stats_.max_outstanding, s->outstanding_);
  }
}

std::string Sim::metrics_text() {
  std::string out;
  auto line = [&out](const std::string& name, const std::string& labels, uint64_t v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += " " + std::to_string(v) + "\n";
  };
  const auto& s = stats_;
  size_t bound = 0;
  for (auto* sess : sessions_) bound += sess->bound_ ? 1 : 0;
  out += "# TYPE smsc_sim_submits_total counter\n";
  line("smsc_sim_submits_total", "", s.submits_received);
  out += "# TYPE smsc_sim_accepted_total counter\n";
  line("smsc_sim_accepted_total", "", s.accepted);
  out += "# TYPE smsc_sim_duplicates_total counter\n";
  line("smsc_sim_duplicates_total", "", s.duplicates);
  out += "# TYPE smsc_sim_throttled_total counter\n";
  line("smsc_sim_throttled_total", "", s.throttled);
  out += "# TYPE smsc_sim_submit_errors_total counter\n";
  for (auto [code, n] : s.errors_by_status) {
    line("smsc_sim_submit_errors_total", "status=\"" + hex_code(code) + "\"", n);
  }
  out += "# TYPE smsc_sim_dlr_sent_total counter\n";
  for (const auto& [stat, n] : s.dlr_by_state) {
    line("smsc_sim_dlr_sent_total", "stat=\"" + stat + "\"", n);
  }
  out += "# TYPE smsc_sim_mo_sent_total counter\n";
  line("smsc_sim_mo_sent_total", "", s.mo_sent);
  out += "# TYPE smsc_sim_binds gauge\n";
  line("smsc_sim_binds", "", bound);
  out += "# TYPE smsc_sim_max_outstanding gauge\n";
  line("smsc_sim_max_outstanding", "", s.max_outstanding);
  return out;
}

HttpResponse Sim::handle_http(const HttpRequest& req) {
  auto error = [](int code, const std::string& msg) {
    return HttpResponse{code, "application/json", nlohmann::json{{"error", msg}}.dump() + "\n"};
  };
  auto ok = [](const nlohmann::json& j) {
    return HttpResponse{200, "application/json", j.dump(2) + "\n"};
  };
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  if (req.path == "/stats" && get) return ok(stats_json());
  if (req.path == "/reset" && (get || post)) {
    reset_stats();
    return ok({{"reset", true}});
  }
  if (req.path == "/metrics" && get)
    return HttpResponse{200, "text/plain; version=0.0.4", metrics_text()};
  if (req.path == "/healthz" && get) return ok({{"ok", true}});
  if (req.path == "/mode" && get) return ok(mode_json());
  if (req.path == "/mode" && post) {
    // Validate everything before changing anything, so a bad request leaves
    // the simulator as it was.
    Mode m = mode_;
    for (const auto& [k, v] : req.params) {
      bool good = true;
      if (k == "silent")
        good = parse_bool(v, m.silent);
      else if (k == "latency")
        good = parse_u32(v, m.latency_ms);
      else if (k == "max_rate")
        good = parse_u64(v, m.max_rate);
      else if (k == "temp_error_rate")
        good = parse_fraction(v, m.temp_error_rate);
      else if (k == "perm_error_rate")
        good = parse_fraction(v, m.perm_error_rate);
      else if (k == "drop_rate")
        good = parse_fraction(v, m.drop_rate);
      else if (k == "dlr_delay")
        good = parse_u32(v, m.dlr_delay_ms);
      else if (k == "dlr_delay_jitter")
        good = parse_u32(v, m.dlr_delay_jitter_ms);
      else if (k == "mo_rate")
        good = parse_double(v, m.mo_rate) && m.mo_rate >= 0;
      else
        return error(400, "unknown parameter " + k);
      if (!good) return error(400, "bad value for " + k);
    }
    mode_ = m;
    log::info("smsc-sim: mode changed", {{"mode", mode_json().dump()}});
    return ok(mode_json());
  }
  if (req.path == "/mo" && post) {
    auto param = [&req](const char* k, std::string def) {
      auto it = req.params.find(k);
      return it == req.params.end() ? def : it->second;
    };
    const std::string to = param("to", cfg_.mo_dest.empty() ? "12345" : cfg_.mo_dest.front());
    const std::string from = param("from", cfg_.mo_source);
    const std::string text = param("text", "MO from smsc-sim");
    std::string sid = param("system_id", "");
    SystemState* sys = nullptr;
    if (!sid.empty()) {
      sys = system(sid);
    } else if ((sys = pick_mo_system()) == nullptr) {
      // Nobody bound yet: queue for the first configured account.
      if (cfg_.credentials.empty()) return error(409, "no receiver bound; pass system_id");
      sys = system(cfg_.credentials.front().system_id);
    }
    if (!queue_mo(sys, from, to, text)) return error(503, "cannot queue (text or queue full)");
    return ok(
        {{"queued", true}, {"system_id", sys->system_id}, {"receivers", sys->receivers.size()}});
  }
  return error(404, "not found: GET /stats /reset /mode /metrics /healthz, POST /mode /mo /reset");
}

}  // namespace sluice::sim::smsc
