// libFuzzer target: the input is taken as one whole PDU frame.
#include <cstddef>
#include <cstdint>

#include "fuzz/roundtrip.h"

using namespace sluice::smpp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  const FrameCheck fc = check_frame(in, 0xFFFFFFFFu);
  // decode() gets the raw input even when the length does not match; it must
  // refuse it without reading outside the span.
  const DecodeResult r = decode(in);
  if (r.ok()) {
    if (fc.state != FrameState::Complete || fc.length != size) fuzz::fail();
    fuzz::check_roundtrip(*r);
    fuzz::exercise(*r);
  } else if (r.error().status == status::ESME_ROK) {
    fuzz::fail();
  }
  return 0;
}
