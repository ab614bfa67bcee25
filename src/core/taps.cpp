#include "convgrad/taps.hpp"

#include <string>

#include "convgrad/errors.hpp"

namespace convgrad {

Taps Taps::range(std::int64_t lo, std::int64_t hi) {
  if (lo < -kMaxTapOffset || lo > kMaxTapOffset)
    throw invalid_argument("tap range: lo = " + std::to_string(lo) +
                           " is out of bounds (|lo| <= " + std::to_string(kMaxTapOffset) + ")");
  if (hi < -kMaxTapOffset || hi > kMaxTapOffset)
    throw invalid_argument("tap range: hi = " + std::to_string(hi) +
                           " is out of bounds (|hi| <= " + std::to_string(kMaxTapOffset) + ")");
  if (hi < lo)
    throw invalid_argument("tap range: hi = " + std::to_string(hi) + " is below lo = " + std::to_string(lo) +
                           "; a filter needs at least one tap");
  if (hi - lo + 1 > kMaxTaps)
    throw invalid_argument("tap range: " + std::to_string(hi - lo + 1) + " taps exceed the limit of " +
                           std::to_string(kMaxTaps));
  return Taps{lo, hi};
}

Taps Taps::centred(std::int64_t M) {
  if (M < 0) throw invalid_argument("taps: M = " + std::to_string(M) + " must be >= 0");
  if (M > (kMaxTaps - 1) / 2)
    throw invalid_argument("taps: M = " + std::to_string(M) + " gives more than " + std::to_string(kMaxTaps) +
                           " taps");
  return range(-M, M);
}

Taps Taps::centred_for(std::int64_t K) {
  if (K <= 0) throw invalid_argument("kernel: K = " + std::to_string(K) + " taps; need at least one");
  // Checked here in K, the caller's number: centred() would name the half-width M instead.
  if (K > kMaxTaps)
    throw invalid_argument("kernel: K = " + std::to_string(K) + " taps exceed the limit of " +
                           std::to_string(kMaxTaps));
  if (K % 2 == 0)
    throw invalid_argument("kernel: K = " + std::to_string(K) +
                           " taps is even, so it has no centre tap; give the first tap "
                           "explicitly (lo) to use an even-length kernel");
  return centred((K - 1) / 2);
}

Taps Taps::causal(std::int64_t K) { return from_lo(0, K); }

Taps Taps::from_lo(std::int64_t lo, std::int64_t K) {
  if (K <= 0) throw invalid_argument("kernel: K = " + std::to_string(K) + " taps; need at least one");
  if (K > kMaxTaps)
    throw invalid_argument("kernel: K = " + std::to_string(K) + " taps exceed the limit of " +
                           std::to_string(kMaxTaps));
  if (lo < -kMaxTapOffset || lo > kMaxTapOffset)
    throw invalid_argument("tap range: lo = " + std::to_string(lo) + " is out of bounds");
  return range(lo, lo + K - 1);
}

}  // namespace convgrad
