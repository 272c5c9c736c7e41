// Splitting a TCP byte stream into SMPP PDUs.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sluice::smpp {

inline constexpr uint32_t kHeaderSize = 16;
inline constexpr uint32_t kDefaultMaxPdu = 4096 * 2;

struct Header {
  uint32_t command_length = 0;
  uint32_t command_id = 0;
  uint32_t command_status = 0;
  uint32_t sequence_number = 0;
  bool operator==(const Header&) const = default;
};

enum class FrameState {
  NeedMore,  // fewer bytes than the PDU announces (or than 4): read more
  Complete,  // buf starts with a whole PDU of `length` bytes
  TooShort,  // command_length < 16: the stream cannot be resynchronised
  TooLong,   // command_length > max_pdu: refuse rather than buffer it
};

struct FrameCheck {
  FrameState state;
  uint32_t length;  // the announced command_length once 4 bytes are there, else 0
};

// Looks at the start of buf. TooShort and TooLong mean the connection is lost
// for framing purposes: answer generic_nack ESME_RINVCMDLEN and close.
FrameCheck check_frame(std::span<const uint8_t> buf, uint32_t max_pdu = kDefaultMaxPdu);

// Precondition: at_least_16.size() >= 16.
Header read_header(std::span<const uint8_t> at_least_16);

// Appends the 16 header octets as given (command_length is not computed).
void write_header(std::vector<uint8_t>& out, const Header& h);

}  // namespace sluice::smpp
