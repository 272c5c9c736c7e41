// esme-load: a customer (ESME) load generator. It binds N times, pushes
// submit_sm at a rate or as fast as the windows allow, answers deliver_sm,
// matches delivery receipts to the ids it got in submit_sm_resp, and reports
// counts and latencies.
//
// Single io thread. Each message is a number; its destination, text and
// multipart layout are derived from that number and the run's seed, so a
// message can be rebuilt for a retry without storing it.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "simulators/simkit/histogram.h"
#include "simulators/simkit/io.h"
#include "smpp/pdu.h"

namespace sluice::sim::load {

enum class Kind : uint8_t { Gsm7 = 0, Ucs2 = 1, Multipart = 2 };
inline constexpr int kMultipartParts = 3;

struct Config {
  std::string host = "127.0.0.1";
  uint16_t port = 2775;
  std::string system_id = "test", password = "test", system_type;
  uint32_t binds = 1;
  bool tx_rx = false;  // separate transmitter and receiver binds instead of transceivers
  uint64_t count = 1000;
  double rate = 0;  // submit_sm per second over all binds; 0 = as fast as the windows allow
  uint32_t window = 100;
  std::array<double, 3> mix{70, 20, 10};  // gsm7, ucs2, multipart
  uint8_t registered_delivery = 1;
  uint32_t dlr_timeout_s = 30;
  std::string dest_prefix = "4479";
  uint32_t dest_length = 12;
  std::string source = "447700900000";
  bool unique_text = true;
  bool json = false;
  bool progress = false;
  bool retry_throttled = true;
  uint32_t throttle_backoff_ms = 100;
  uint32_t max_throttle_retries = 1000;
  uint32_t submit_timeout_s = 30;
  uint32_t enquire_link_s = 30;
  uint32_t connect_timeout_s = 10;
  uint32_t reconnects = 5;
  uint64_t seed = 0;
};

// One submit_sm: a part of a message (part 0 for single messages).
struct PartRef {
  uint32_t msg = 0;
  uint8_t part = 0;
  uint16_t attempt = 0;
};

class Load;

// One TCP connection and SMPP session. Replaced, not reused, on reconnect.
struct Conn {
  explicit Conn(const asio::any_io_executor& ex) : socket(ex), out(ex), window(ex), ticker(ex) {}
  struct Pending {
    PartRef ref;
    int64_t sent_ns;
  };
  asio::ip::tcp::socket socket;
  FrameBuffer in;
  Outbox out;
  Signal window;  // a submit was answered, or the connection is going away
  Signal ticker;
  std::unordered_map<uint32_t, Pending> pending;
  bool open = true, bound = false, unbinding = false;
  bool stop_reading = false;  // unbind or unbind_resp seen: only flushing remains
  Clock::time_point last_enquire{}, unbind_at{};
};

class Bind : public std::enable_shared_from_this<Bind> {
 public:
  enum class Role { Trx, Tx, Rx };
  Bind(Load& load, int index, Role role);
  asio::awaitable<void> run(std::shared_ptr<Bind> self);
  void request_unbind();
  bool finished() const { return finished_; }
  size_t pending() const { return conn_ ? conn_->pending.size() : 0; }
  bool sends() const { return role_ != Role::Rx; }

 private:
  friend class Load;
  asio::awaitable<bool> connect_and_bind(std::shared_ptr<Conn> c);
  asio::awaitable<void> reader(std::shared_ptr<Conn> c);
  asio::awaitable<void> sender(std::shared_ptr<Conn> c);
  asio::awaitable<void> writer(std::shared_ptr<Conn> c);
  asio::awaitable<void> ticker(std::shared_ptr<Conn> c);
  void handle(Conn& c, std::span<const uint8_t> frame, bool& freed);
  void emit_submit(Conn& c, PartRef ref, int64_t now_ns);
  uint32_t next_seq();
  static void close(Conn& c);

  Load& load_;
  int index_;
  Role role_;
  std::shared_ptr<Conn> conn_;
  uint32_t seq_ = 0;
  smpp::Pdu submit_;  // reused so that building a submit allocates nothing after warm-up
  std::optional<uint32_t> multipart_msg_;
  uint8_t multipart_next_ = 0;
  bool finished_ = false;
};

class Load {
 public:
  Load(asio::io_context& io, Config cfg);
  // Runs to completion (or stop()); the caller then reads report().
  asio::awaitable<void> run();
  void stop(const std::string& why);
  nlohmann::json report() const;
  std::string report_text() const;
  bool ok() const;

 private:
  friend class Bind;

  struct Record {
    int64_t sent_ns;
    uint32_t dlrs = 0;
  };
  struct EarlyDlr {
    uint8_t state;
    int64_t at_ns;
  };
  struct Retry {
    Clock::time_point due;
    PartRef ref;
  };

  int64_t now_ns() const;
  Kind kind_of(uint32_t msg) const;
  void fill_submit(smpp::SubmitSm& sm, PartRef ref);
  std::optional<PartRef> next_part(Bind& b, Clock::time_point now);
  // How many submits the rate allows now; SIZE_MAX without a rate.
  size_t credit(Clock::time_point now);
  Clock::time_point next_credit_at() const;
  void take_credit(size_t n);
  bool generation_done() const;
  void on_submit_resp(const Conn::Pending& p, uint32_t status, const std::string& id,
                      int64_t now_ns);
  void on_receipt(const std::string& id, uint8_t state, int64_t now_ns);
  std::optional<uint32_t> find_record(const std::string& id) const;
  void print_progress(Clock::time_point now);
  bool track_receipts() const { return (cfg_.registered_delivery & 0x03) != 0; }
  bool expect_all_receipts() const {
    const uint8_t rd = cfg_.registered_delivery & 0x03;
    return rd == 1 || rd == 3;
  }

  asio::io_context& io_;
  Config cfg_;
  std::string run_id_;
  std::vector<uint8_t> gsm7_body_, ucs2_body_, filler_;
  std::vector<std::shared_ptr<Bind>> binds_;
  Clock::time_point started_, first_submit_{}, last_resp_{}, submits_done_at_{};
  bool any_submit_ = false;
  bool stopping_ = false, fatal_ = false;
  std::string stop_reason_;

  // Generation and pacing.
  uint64_t next_msg_ = 0;
  std::deque<Retry> retries_;
  double tokens_ = 1;
  Clock::time_point refilled_{};

  // Counters.
  uint64_t messages_started_ = 0, parts_sent_ = 0, submits_ = 0, acked_ = 0, rejected_total_ = 0,
           throttled_ = 0, timed_out_ = 0, lost_ = 0, unexpected_resp_ = 0, duplicate_ids_ = 0;
  std::map<uint32_t, uint64_t> rejected_;
  uint64_t dlr_matched_ = 0, dlr_duplicated_ = 0, dlr_intermediate_ = 0, dlr_total_ = 0,
           mo_received_ = 0, enquire_link_received_ = 0;
  std::array<uint64_t, 9> dlr_by_state_{};
  uint64_t connects_ = 0, bind_failures_ = 0, disconnects_ = 0;
  uint32_t last_bind_status_ = 0;
  Histogram submit_latency_us_, dlr_latency_us_;
  uint64_t progress_last_submits_ = 0;
  Clock::time_point progress_last_{};

  // Without receipts only uniqueness is checked, at the end: a sort of
  // hashes costs far less per response than a node-based map insert.
  std::vector<uint64_t> plain_ids_;
  uint64_t duplicate_ids() const;

  // Receipt correlation: id hash -> record.
  std::vector<Record> records_;
  std::unordered_map<uint64_t, uint32_t> by_id_;
  std::unordered_map<uint64_t, EarlyDlr> early_;
};

}  // namespace sluice::sim::load
