// Denormal flushing for iterative loops.
//
// An optimiser that drives a residual or a gradient towards zero produces subnormal numbers
// (|v| < 2^-126 in float, 2^-1022 in double). x86 cores handle those in microcode, a hundred
// times slower than normal numbers, so a fit can slow down sharply just as it converges.
// Flushing them to zero (FTZ: results; DAZ: inputs) changes values only below the smallest
// normal number, far under every tolerance this library uses.
//
// The mode is per thread. FlushDenormals sets it for the calling thread for one scope and
// restores what was there before; the library's kernels copy the caller's mode into their
// OpenMP worker threads (ScopedFpMode), so a fit loop wrapped in FlushDenormals flushes
// everywhere. Outside such a scope nothing is flushed: the default IEEE behaviour stays.
#pragma once

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define CONVGRAD_HAVE_MXCSR 1
#else
#define CONVGRAD_HAVE_MXCSR 0
#endif

namespace convgrad {

// The floating-point control bits that matter here (on x86: MXCSR's FTZ and DAZ).
struct FpMode {
  unsigned bits = 0;
  bool flushes_denormals() const { return bits != 0; }
};

inline constexpr unsigned kFtzDazBits = 0x8040u;  // MXCSR bit 15 (FTZ) and bit 6 (DAZ)

// The calling thread's current mode.
inline FpMode current_fp_mode() {
#if CONVGRAD_HAVE_MXCSR
  return FpMode{_mm_getcsr() & kFtzDazBits};
#else
  return FpMode{};
#endif
}

// Sets the calling thread's FTZ/DAZ bits to `mode` for this scope, then restores them.
class ScopedFpMode {
 public:
  explicit ScopedFpMode(FpMode mode) {
#if CONVGRAD_HAVE_MXCSR
    saved_ = _mm_getcsr();
    _mm_setcsr((saved_ & ~kFtzDazBits) | (mode.bits & kFtzDazBits));
#else
    (void)mode;
#endif
  }
  ~ScopedFpMode() {
#if CONVGRAD_HAVE_MXCSR
    _mm_setcsr(saved_);
#endif
  }
  ScopedFpMode(const ScopedFpMode&) = delete;
  ScopedFpMode& operator=(const ScopedFpMode&) = delete;

 private:
  unsigned saved_ = 0;
};

// Flush denormals to zero on the calling thread (and, through the kernels, their workers)
// for this scope. Use around iterative loops: `convgrad::FlushDenormals guard;`
class FlushDenormals : public ScopedFpMode {
 public:
  FlushDenormals() : ScopedFpMode(FpMode{kFtzDazBits}) {}
};

}  // namespace convgrad
