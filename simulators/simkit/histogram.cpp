#include "simulators/simkit/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sluice::sim {

int Histogram::index_of(uint64_t v) {
  if (v < 2 * kSub) return static_cast<int>(v);
  // v has bit_width w >= 8; keep its top 7 bits (64..127) as the sub-bucket.
  const int shift = std::bit_width(v) - 7;
  const auto mantissa = static_cast<int>(v >> shift);
  return std::min(2 * kSub + (shift - 1) * kSub + (mantissa - kSub), kBuckets - 1);
}

uint64_t Histogram::value_of(int idx) {
  if (idx < 2 * kSub) return static_cast<uint64_t>(idx);
  const int shift = (idx - 2 * kSub) / kSub + 1;
  const uint64_t mantissa = static_cast<uint64_t>((idx - 2 * kSub) % kSub + kSub);
  // The middle of the bucket.
  return (mantissa << shift) + (uint64_t{1} << (shift - 1));
}

void Histogram::record(uint64_t v) {
  ++buckets_[static_cast<size_t>(index_of(v))];
  ++count_;
  sum_ += v;
  max_ = std::max(max_, v);
  min_ = std::min(min_, v);
}

uint64_t Histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 1.0);
  const auto rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(p * static_cast<double>(count_))));
  if (rank >= count_) return max_;  // the top is known exactly
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[static_cast<size_t>(i)];
    if (seen >= rank) return std::clamp(value_of(i), min(), max_);
  }
  return max_;
}

}  // namespace sluice::sim
