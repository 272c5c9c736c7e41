// smsc-sim: an SMSC (provider) that speaks SMPP 3.4 server side, answers
// submits with its own ids, sends delivery receipts and MO messages, and can
// misbehave on request (throttling, errors, latency, silence, dropped
// connections) so that the gateway's sender can be tested against it.
//
// One io thread: every connection is a coroutine and all state below is
// touched only from that thread.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "simulators/simkit/http.h"
#include "simulators/simkit/io.h"
#include "smpp/pdu.h"

namespace sluice::sim::smsc {

enum class IdFormat { Hex, Dec, Dec0 };
bool parse_id_format(std::string_view s, IdFormat& out);
std::string format_id(uint64_t n, IdFormat f);

struct StateWeight {
  std::string stat;  // DELIVRD, UNDELIV, ...
  uint8_t state = 0;
  double weight = 0;
};
// "DELIVRD=90,UNDELIV=5" -> weights; false on an unknown stat or a zero total.
bool parse_dlr_mix(std::string_view s, std::vector<StateWeight>& out);

// What can change at runtime through POST /mode.
struct Mode {
  bool silent = false;
  uint32_t latency_ms = 0;
  uint64_t max_rate = 0;  // accepted submits per second; 0 = unlimited
  double temp_error_rate = 0, perm_error_rate = 0, drop_rate = 0;
  uint32_t dlr_delay_ms = 100, dlr_delay_jitter_ms = 0;
  double mo_rate = 0;  // MO messages per second
};

struct Credential {
  std::string system_id, password;
  bool any_password = false;
};

struct Config {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 2776;
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 8081;
  bool http_enabled = true;
  std::vector<Credential> credentials;  // empty: any system_id and password bind
  std::string server_system_id = "smsc-sim";
  uint32_t enquire_link_s = 30;
  uint32_t bind_timeout_s = 60;
  IdFormat id_format = IdFormat::Hex;
  std::optional<IdFormat> dlr_id_format;  // the id as it appears in receipts
  std::optional<uint64_t> id_start;
  bool dlr_tlvs = true;
  std::vector<StateWeight> dlr_mix;
  bool sliding_rate_window = false;
  std::vector<std::string> mo_dest{"12345"};
  std::string mo_source = "447700900001";
  std::string mo_system_id;
  uint32_t deliver_window = 1000;  // unanswered deliver_sm per connection
  uint32_t dlr_resp_timeout_s = 10;
  uint32_t dlr_max_retries = 3;
  size_t max_pending_deliveries = 1'000'000;
  size_t dedup_capacity = 4'000'000;
  size_t top_destinations = 20;
  uint64_t seed = 0;  // 0: from the clock
  Mode mode;
};

// Accepted submits in 100 ms slots over the last 120 s, for the rate limit and
// for the history tests check ("never more than R in a second").
class RateHistory {
 public:
  static constexpr int kSlotsPerSecond = 10;
  static constexpr int kSeconds = 120;
  explicit RateHistory(Clock::time_point start) : start_(start) {}
  void add(Clock::time_point now);
  // In the calendar second (since start) that now falls in.
  uint64_t this_second(Clock::time_point now);
  // In the 1 s ending now, at slot resolution.
  uint64_t last_second(Clock::time_point now);
  // Counts per whole second since start, oldest first, the current one last.
  std::vector<uint64_t> per_second(Clock::time_point now);
  uint64_t max_sliding_second(Clock::time_point now);
  void reset(Clock::time_point now);

 private:
  void advance(int64_t slot);
  int64_t slot_of(Clock::time_point t) const;
  uint64_t sum(int64_t from, int64_t to) const;  // inclusive slots, clamped to what is kept
  static constexpr int kSlots = kSlotsPerSecond * kSeconds;
  Clock::time_point start_;
  std::array<uint32_t, kSlots> slots_{};
  int64_t head_ = 0;   // the newest slot number kept
  int64_t first_ = 0;  // the oldest slot number with meaning (after start or reset)
};

// Seen-message fingerprints: an open-addressing table of 64-bit hashes,
// 16 bytes per entry at most, with a hard entry limit.
class FingerprintSet {
 public:
  explicit FingerprintSet(size_t limit) : limit_(limit) {}
  enum class Result { New, Seen, Full };
  Result insert(uint64_t h);
  void clear();
  size_t size() const { return size_; }

 private:
  void grow();
  std::vector<uint64_t> table_;
  size_t size_ = 0, limit_;
};

struct SystemState;
class Session;
class Sim;

// A deliver_sm (receipt or MO) waiting for, or on its way to, a receiver bind.
struct Job {
  std::vector<uint8_t> pdu;  // encoded; the sequence number is patched per send
  SystemState* system = nullptr;
  uint8_t state = 0;  // message_state of a receipt; 0 for MO
  uint8_t sends = 0;
  bool mo = false;
};

struct SystemState {
  std::string system_id;
  std::deque<Job> ready;
  std::vector<Session*> receivers;
  size_t rr = 0;
  bool dirty = false;
};

struct Stats {
  uint64_t connections_total = 0, binds_total = 0, bind_failures = 0;
  std::map<std::string, uint64_t> binds_by_type;
  uint64_t submits_received = 0, data_sm_received = 0, accepted = 0, duplicates = 0, dedup_full = 0,
           throttled = 0, ignored_silent = 0, dropped_connections = 0, not_bound = 0;
  std::map<uint32_t, uint64_t> errors_by_status;  // every non-ROK answer to a submit
  uint64_t dlr_scheduled = 0, dlr_sent = 0, dlr_resent = 0, dlr_given_up = 0,
           deliveries_dropped = 0, deliver_sm_resp = 0;
  std::map<uint32_t, uint64_t> deliver_sm_resp_errors;
  std::map<std::string, uint64_t> dlr_by_state;
  uint64_t mo_sent = 0, mo_skipped_no_receiver = 0;
  uint64_t enquire_link_received = 0, enquire_link_sent = 0, enquire_link_resp = 0;
  uint64_t generic_nack_sent = 0, decode_errors = 0, bad_frames = 0, slow_consumer_drops = 0,
           bind_timeouts = 0, unbinds = 0, overload_drops = 0;
  uint64_t max_outstanding = 0;
  std::unordered_map<std::string, uint64_t> by_dest;
  uint64_t by_dest_other = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Sim& sim, asio::ip::tcp::socket socket, uint64_t id);
  asio::awaitable<void> run(std::shared_ptr<Session> self);

  bool can_take_delivery() const;
  void deliver(Job&& job);
  // Periodic duties; timed-out deliveries are appended to expired.
  void tick(Clock::time_point now, std::vector<Job>& expired);
  void close();
  void reset_counters() {
    max_outstanding_ = outstanding_;
    submits_ = 0;
  }
  nlohmann::json describe() const;

 private:
  friend class Sim;
  struct DelayedResp {
    Clock::time_point due;
    uint32_t command_id, seq, status;
    std::string message_id;
  };
  struct InFlight {
    Job job;
    Clock::time_point sent;
  };

  asio::awaitable<void> reader();
  asio::awaitable<void> writer(std::shared_ptr<Session> self);
  asio::awaitable<void> delayed_responder(std::shared_ptr<Session> self);
  void handle(std::span<const uint8_t> frame);
  void on_bind(const smpp::Header& h, const smpp::BindRequest& b);
  void on_submit(const smpp::Header& h, const smpp::Address& source, const smpp::Address& dest,
                 uint8_t esm_class, uint8_t data_coding, uint8_t registered_delivery,
                 std::span<const uint8_t> short_message, const smpp::TlvList& tlvs, bool data_sm);
  void on_delivery_resp(uint32_t seq, uint32_t status);
  void answer_submit(uint32_t command_id, uint32_t seq, uint32_t status, std::string id);
  void emit_submit_resp(uint32_t command_id, uint32_t seq, uint32_t status, const std::string& id);
  uint32_t next_seq();

  Sim& sim_;
  asio::ip::tcp::socket socket_;
  uint64_t id_;
  std::string remote_;
  FrameBuffer in_;
  Outbox out_;
  Signal delayed_signal_;
  std::deque<DelayedResp> delayed_;
  std::unordered_map<uint32_t, InFlight> in_flight_;
  bool open_ = true, closing_ = false;
  bool bound_ = false, transmit_ = false, receive_ = false;
  std::string system_id_, bind_type_;
  SystemState* system_ = nullptr;
  uint32_t seq_ = 0;
  uint64_t outstanding_ = 0, max_outstanding_ = 0, submits_ = 0;
  Clock::time_point opened_, last_enquire_;
};

class Sim {
 public:
  Sim(asio::io_context& io, Config cfg);
  ~Sim();
  // Binds the SMPP and HTTP ports (throws std::runtime_error on failure) and
  // starts the background loops.
  void start();
  void stop();
  uint16_t smpp_port() const { return smpp_port_; }
  uint16_t http_port() const { return http_ ? http_->port() : 0; }

  nlohmann::json stats_json();
  void reset_stats();
  nlohmann::json mode_json() const;

 private:
  friend class Session;

  struct Decision {
    uint32_t status = 0;
    std::string id;
    bool drop = false, silent = false;
  };
  Decision decide(Session& s, const smpp::Address& source, const smpp::Address& dest,
                  uint8_t esm_class, uint8_t data_coding, uint8_t registered_delivery,
                  std::span<const uint8_t> short_message, std::span<const uint8_t> payload);
  void schedule_receipt(SystemState* sys, uint64_t numeric_id, const smpp::Address& source,
                        const smpp::Address& dest, uint8_t esm_class, uint8_t data_coding,
                        uint8_t registered_delivery, std::span<const uint8_t> text);
  bool queue_mo(SystemState* sys, const std::string& from, const std::string& to,
                const std::string& utf8_text);
  SystemState* system(const std::string& system_id);
  SystemState* pick_mo_system();
  bool check_credentials(const smpp::BindRequest& b) const;
  void session_opened(Session* s);
  void session_bound(Session* s, SystemState* sys, bool receive);
  void session_closed(Session* s, std::vector<Job>&& unanswered, bool was_receiver);
  void requeue_front(Job&& job);
  void job_done() { --jobs_alive_; }
  void dispatch(SystemState* sys);
  void dispatch_dirty();
  double uniform() { return unit_(rng_); }

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> receipt_pump();
  asio::awaitable<void> housekeeping();
  asio::awaitable<void> mo_generator();
  HttpResponse handle_http(const HttpRequest& req);
  std::string metrics_text();

  asio::io_context& io_;
  Config cfg_;
  Mode& mode_;
  Clock::time_point started_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> unit_{0.0, 1.0};
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  std::unique_ptr<HttpEndpoint> http_;
  uint16_t smpp_port_ = 0;
  bool stopping_ = false;

  std::unordered_set<Session*> sessions_;
  uint64_t next_session_id_ = 1;
  std::unordered_map<std::string, std::unique_ptr<SystemState>> systems_;

  struct Scheduled {
    Clock::time_point due;
    uint64_t order;
    Job job;
  };
  std::vector<Scheduled> schedule_;  // a min-heap on (due, order)
  uint64_t schedule_order_ = 0;
  Signal pump_signal_;
  asio::steady_timer housekeeping_timer_, mo_timer_;
  size_t jobs_alive_ = 0;
  uint64_t next_id_;
  uint64_t mo_counter_ = 0;
  size_t mo_rr_ = 0;
  std::vector<double> mix_cumulative_;

  Stats stats_;
  RateHistory rate_;
  FingerprintSet seen_;
};

}  // namespace sluice::sim::smsc
