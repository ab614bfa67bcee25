// The tap range of a filter h: taps m = lo..hi, K = hi - lo + 1, stored as h[j] = h[m = lo + j].
#pragma once

#include <cstddef>
#include <cstdint>

namespace convgrad {

// Largest kernel the library accepts (2^24 taps = 128 MiB of doubles). Larger counts are
// almost always a typo; they are refused before anything is allocated.
inline constexpr std::int64_t kMaxTaps = std::int64_t{1} << 24;
// Largest |m| accepted, far beyond any signal length that fits in memory, and small enough
// that n - m never overflows.
inline constexpr std::int64_t kMaxTapOffset = std::int64_t{1} << 40;

struct Taps {
  std::int64_t lo = 0;  // first tap m
  std::int64_t hi = 0;  // last tap m (inclusive)

  std::size_t K() const { return static_cast<std::size_t>(hi - lo + 1); }

  // Taps m = lo..hi; throws invalid_argument if hi < lo or the range is absurd.
  static Taps range(std::int64_t lo, std::int64_t hi);
  // The seed's centred filter m = -M..M (K = 2M+1).
  static Taps centred(std::int64_t M);
  // The centred range for K taps; an even K has no centre and is refused.
  static Taps centred_for(std::int64_t K);
  // A causal impulse response m = 0..K-1.
  static Taps causal(std::int64_t K);
  // K taps starting at lo.
  static Taps from_lo(std::int64_t lo, std::int64_t K);

  friend bool operator==(const Taps&, const Taps&) = default;
};

}  // namespace convgrad
