#include "smpp/frame.h"

namespace sluice::smpp {
namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 24));
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

}  // namespace

FrameCheck check_frame(std::span<const uint8_t> buf, uint32_t max_pdu) {
  if (buf.size() < 4) return {FrameState::NeedMore, 0};
  const uint32_t len = be32(buf.data());
  // Judge the length before waiting for the body, so a hostile length never
  // makes the caller buffer megabytes.
  if (len < kHeaderSize) return {FrameState::TooShort, len};
  if (len > max_pdu) return {FrameState::TooLong, len};
  if (buf.size() < len) return {FrameState::NeedMore, len};
  return {FrameState::Complete, len};
}

Header read_header(std::span<const uint8_t> b) {
  const uint8_t* p = b.data();
  return Header{be32(p), be32(p + 4), be32(p + 8), be32(p + 12)};
}

void write_header(std::vector<uint8_t>& out, const Header& h) {
  put32(out, h.command_length);
  put32(out, h.command_id);
  put32(out, h.command_status);
  put32(out, h.sequence_number);
}

}  // namespace sluice::smpp
