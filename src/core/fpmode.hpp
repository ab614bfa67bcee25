// The floating-point control bits behind FlushDenormals (convgrad/fpenv.hpp): reading the
// calling thread's mode and setting it for a scope, which the chunked loop (chunks.hpp) uses
// to run every OpenMP worker in its caller's mode. Internal: the public API is FlushDenormals.
#pragma once

#if defined(__SSE__) || defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
#define CONVGRAD_HAVE_MXCSR 1
#else
#define CONVGRAD_HAVE_MXCSR 0
#endif

namespace convgrad::detail {

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

}  // namespace convgrad::detail
