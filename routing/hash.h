#pragma once
// A hash that is the same on every node, build and run, so that a replayed
// message (or the next part of a multipart message) makes the same weighted
// choice. std::hash gives no such promise.
#include <cstdint>
#include <string_view>

namespace sluice::routing {

inline uint64_t stable_hash(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  // FNV's low bits follow the last bytes closely (ids that differ only in a
  // trailing counter); the splitmix64 finaliser spreads them over all bits
  // before the result is used modulo a small total weight.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

}  // namespace sluice::routing
