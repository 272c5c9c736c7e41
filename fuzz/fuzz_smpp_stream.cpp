// libFuzzer target: the input is a TCP byte stream. It is framed twice, once
// whole and once arriving in uneven chunks; both must yield the same frames
// and the same end state. Every frame that decodes must survive
// encode -> decode unchanged.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/roundtrip.h"

using namespace sluice::smpp;

namespace {

struct Outcome {
  std::vector<std::vector<uint8_t>> frames;
  FrameState end = FrameState::NeedMore;
  bool operator==(const Outcome&) const = default;
};

// Reads frames until the stream runs dry or the framer gives up on it (a
// real connection would send generic_nack and close there).
bool drain(std::vector<uint8_t>& buf, Outcome& out) {
  size_t off = 0;
  for (;;) {
    const FrameCheck fc = check_frame(std::span(buf).subspan(off));
    if (fc.state == FrameState::NeedMore) break;
    if (fc.state != FrameState::Complete) {
      out.end = fc.state;
      return false;
    }
    out.frames.emplace_back(buf.begin() + static_cast<std::ptrdiff_t>(off),
                            buf.begin() + static_cast<std::ptrdiff_t>(off + fc.length));
    off += fc.length;
  }
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(off));
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Outcome whole;
  {
    std::vector<uint8_t> buf(data, data + size);
    drain(buf, whole);
  }

  Outcome chunked;
  {
    std::vector<uint8_t> buf;
    uint32_t x = static_cast<uint32_t>(size) * 2654435761u + 1;  // chunk sizes: any fixed PRNG
    size_t pos = 0;
    while (pos < size) {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      const size_t n = std::min<size_t>(size - pos, 1 + x % 97);
      buf.insert(buf.end(), data + pos, data + pos + n);
      pos += n;
      if (!drain(buf, chunked)) break;
    }
  }
  if (!(whole == chunked)) fuzz::fail();

  for (const auto& frame : whole.frames) {
    const DecodeResult r = decode(frame);
    if (!r.ok()) continue;
    fuzz::check_roundtrip(*r);
    fuzz::exercise(*r);
  }
  return 0;
}
