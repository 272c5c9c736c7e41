// Connection plumbing shared by smsc-sim and esme-load: a wake-up signal for
// coroutines, a receive buffer that yields whole PDUs, and an outbox whose
// writer sends everything queued since its last write in one syscall. All of
// it lives on one io thread; nothing here locks.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "smpp/frame.h"

namespace sluice::sim {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Level-triggered: a notify() while nobody waits is remembered, so a waker
// never has to know whether the waiter is already parked.
class Signal {
 public:
  explicit Signal(const asio::any_io_executor& ex);
  void notify();
  asio::awaitable<void> wait();
  // True when notified, false on timeout.
  asio::awaitable<bool> wait_until(Clock::time_point deadline);
  asio::awaitable<bool> wait_for(Clock::duration d) { return wait_until(Clock::now() + d); }
  // Wakes a waiter so it can see that its connection is closing.
  void cancel() { notify(); }

 private:
  asio::steady_timer timer_;
  bool pending_ = false;
  bool waiting_ = false;
};

class FrameBuffer {
 public:
  explicit FrameBuffer(size_t initial = 64 * 1024) : buf_(initial) {}
  // Room to read into; spans from next() stay valid until the next call.
  asio::mutable_buffer space();
  void commit(size_t n) { end_ += n; }
  // Complete: frame is set and consumed. TooShort/TooLong: the stream is lost.
  smpp::FrameState next(std::span<const uint8_t>& frame, uint32_t max_pdu = smpp::kDefaultMaxPdu);
  size_t buffered() const { return end_ - begin_; }

 private:
  std::vector<uint8_t> buf_;
  size_t begin_ = 0, end_ = 0;
  size_t need_ = 0;  // the announced length of the incomplete frame at begin_
};

class Outbox {
 public:
  explicit Outbox(const asio::any_io_executor& ex) : wake_(ex), drained_(ex) {}
  // Append encoded PDUs here, then call flush().
  std::vector<uint8_t>& buf() { return pending_; }
  void flush() {
    if (!pending_.empty()) wake_.notify();
  }
  // Bytes queued or being written.
  size_t queued() const { return pending_.size() + writing_.size(); }
  // Runs until the socket fails or close_after_flush() and everything is out.
  asio::awaitable<void> run(asio::ip::tcp::socket& socket);
  // Waits until queued() <= limit or the writer stops.
  asio::awaitable<void> wait_below(size_t limit);
  void close_after_flush() {
    closing_ = true;
    wake_.notify();
  }
  void abort() {
    stopped_ = true;
    wake_.notify();
    drained_.notify();
  }
  bool stopped() const { return stopped_; }
  // True when one write has been blocked for longer than d: the peer is not reading.
  bool stuck(Clock::duration d) const {
    return !writing_.empty() && Clock::now() - write_started_ > d;
  }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  Signal wake_, drained_;
  std::vector<uint8_t> pending_, writing_;
  Clock::time_point write_started_{};
  bool closing_ = false, stopped_ = false;
  uint64_t bytes_written_ = 0;
};

// Writes a bare response header (command_length 16): the answer SMPP 3.4 gives
// for an error status, and all that unbind_resp/enquire_link_resp/generic_nack
// ever need.
void append_header_only(std::vector<uint8_t>& out, uint32_t command_id, uint32_t status,
                        uint32_t seq);
// Rewrites the sequence_number of an encoded PDU in place.
void patch_sequence(std::span<uint8_t> pdu, uint32_t seq);

}  // namespace sluice::sim
