#include "simulators/simkit/io.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

namespace sluice::sim {

Signal::Signal(const asio::any_io_executor& ex) : timer_(ex) {
  timer_.expires_at(Clock::time_point::max());
}

void Signal::notify() {
  pending_ = true;
  if (waiting_) timer_.cancel();
}

asio::awaitable<void> Signal::wait() {
  co_await wait_until(Clock::time_point::max());
}

asio::awaitable<bool> Signal::wait_until(Clock::time_point deadline) {
  if (pending_) {
    pending_ = false;
    co_return true;
  }
  timer_.expires_at(deadline);
  waiting_ = true;
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  waiting_ = false;
  bool notified = pending_;
  pending_ = false;
  co_return notified;
}

asio::mutable_buffer FrameBuffer::space() {
  constexpr size_t kMinRead = 16 * 1024;
  if (begin_ == end_) begin_ = end_ = 0;
  const size_t want = std::max(kMinRead, need_ > buffered() ? need_ - buffered() : 0);
  if (buf_.size() - end_ < want) {
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < want) buf_.resize(end_ + want);
  }
  return asio::buffer(buf_.data() + end_, buf_.size() - end_);
}

smpp::FrameState FrameBuffer::next(std::span<const uint8_t>& frame, uint32_t max_pdu) {
  std::span<const uint8_t> avail(buf_.data() + begin_, end_ - begin_);
  auto fc = smpp::check_frame(avail, max_pdu);
  if (fc.state == smpp::FrameState::Complete) {
    frame = avail.first(fc.length);
    begin_ += fc.length;
    need_ = 0;
  } else if (fc.state == smpp::FrameState::NeedMore) {
    need_ = fc.length;
  }
  return fc.state;
}

asio::awaitable<void> Outbox::run(asio::ip::tcp::socket& socket) {
  constexpr size_t kKeepCapacity = 4 * 1024 * 1024;
  while (!stopped_) {
    if (pending_.empty()) {
      if (closing_) break;
      co_await wake_.wait();
      continue;
    }
    std::swap(pending_, writing_);
    write_started_ = Clock::now();
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(writing_),
                                              asio::as_tuple(asio::use_awaitable));
    bytes_written_ += n;
    writing_.clear();
    // A burst can grow the buffer a lot; give it back instead of keeping it for
    // the connection's whole life.
    if (writing_.capacity() > kKeepCapacity) writing_.shrink_to_fit();
    drained_.notify();
    if (ec) break;
  }
  stopped_ = true;
  drained_.notify();
}

asio::awaitable<void> Outbox::wait_below(size_t limit) {
  while (!stopped_ && queued() > limit) co_await drained_.wait();
}

void append_header_only(std::vector<uint8_t>& out, uint32_t command_id, uint32_t status,
                        uint32_t seq) {
  smpp::write_header(out, smpp::Header{smpp::kHeaderSize, command_id, status, seq});
}

void patch_sequence(std::span<uint8_t> pdu, uint32_t seq) {
  pdu[12] = static_cast<uint8_t>(seq >> 24);
  pdu[13] = static_cast<uint8_t>(seq >> 16);
  pdu[14] = static_cast<uint8_t>(seq >> 8);
  pdu[15] = static_cast<uint8_t>(seq);
}

}  // namespace sluice::sim
