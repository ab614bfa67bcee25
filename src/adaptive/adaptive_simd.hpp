// The per-sample inner loops of the adaptive filters (Highway, dynamic dispatch; see
// adaptive_simd.cpp). Each loop runs over a chunk of consecutive samples whose input history
// lies contiguously in `buf` in time order, so every window is one contiguous array:
//
//   w_q[k] = buf[q - lo - (K-1) + k],   k = 0..K-1      (w_q[K-1-j] = x[n - lo - j])
//
// The taps are held reversed, g[k] = h[K-1-k], so that yhat[n] = sum_j h[j] x[n-lo-j] is the
// plain dot product g . w_q. Every loop stops early at the first sample whose residual is
// not finite (or whose LMS-family step is too large, see kLargestStep in adaptive_simd.cpp;
// or, for RLS, whose alpha is not positive), before that sample touches the state, and returns
// how many samples it completed; the caller reports the divergence.
#pragma once

#include <cstddef>

namespace convgrad::detail::adaptive {

enum class Rule { lms, nlms, sign_lms };

// One chunk of the LMS family, processed in pairs of samples (q, q+1) by absolute index, q even
// counting from the stream's start, so that one pass over the taps serves two samples:
//
//   yhat[q]   = g . w_q
//   yhat[q+1] = g . w_{q+1} + s_q c_{q+1}        (c_{q+1} = w_q . w_{q+1}; = (g + s_q w_q) . w_{q+1})
//   g += s_q w_q;  g += s_{q+1} w_{q+1}          (two FMAs per tap: the bits of two updates)
//
// with g the taps before the pair. A chunk (or a call) may end between the two samples of a
// pair: then `pending` is set, g is still the taps before sample q and `s_pending` holds s_q;
// the taps after sample q are g[k] + s_pending w_q[k] by the multiply-add the pair's update will do
// (apply_step). q0 is the buffer position of the chunk's first sample. `energy` carries ||w_q||^2 and `lag`
// c_q = w_{q-1} . w_q (both in double) from sample to sample (p = q - lo, the newest input):
//   e_q = e_{q-1} + buf[p]^2 - buf[p-K]^2,   c_q = c_{q-1} + buf[p] buf[p-1] - buf[p-K] buf[p-K-1]
// Each step of these recursions rounds at the scale of the largest energy they have held since
// they were last summed afresh (`peak`), so after a loud stretch they can be far off a quiet
// window's true sums (cancellation): when e_q falls below kRefreshRatio peak, e_q and c_q are
// summed afresh (window_energy, window_lag), which bounds their error by about
// n eps / kRefreshRatio of e_q after n steps (n < the history's length: it is refreshed at
// every slide too).
inline constexpr double kRefreshRatio = 0x1p-16;
template <typename T>
double window_energy(const T* w, std::size_t K) {  // ||w||^2, in double, oldest input first
  double e = 0;
  for (std::size_t k = 0; k < K; ++k) e += static_cast<double>(w[k]) * w[k];
  return e;
}
template <typename T>
double window_lag(const T* w, std::size_t K) {  // w_{q-1} . w_q for w = w_q (w - 1 = w_{q-1})
  double c = 0;
  const T* w_before = w - 1;  // the history keeps the input before the window
  for (std::size_t k = 0; k < K; ++k) c += static_cast<double>(w_before[k]) * w[k];
  return c;
}
template <typename T>
struct LmsChunk {
  T* g;
  std::size_t K, lo;
  const T* buf;
  std::size_t q0, n;
  const T* y;
  T* yhat;
  T* r;
  Rule rule;
  double mu, delta;
  double energy;  // in: e_{q0-1}; out: e of the last completed sample
  double lag;     // in: c_{q0-1}; out: c of the last completed sample
  double peak;    // in and out: the largest e since e and c were last summed afresh
  bool pending;   // in and out: the last completed sample opened a pair
  T s_pending;    // its step, when pending
};
std::size_t lms_chunk(LmsChunk<float>& c);
std::size_t lms_chunk(LmsChunk<double>& c);
// out = g + s w as the pair pass updates the taps (the same multiply-add, tap by tap): the taps
// after a pair's first sample, read while the pair is pending.
void apply_step(float* out, const float* g, const float* w, float s, std::size_t K);
void apply_step(double* out, const double* g, const double* w, double s, std::size_t K);

// One chunk of exponentially weighted RLS. P is K x K, row-major with rows `stride` apart
// (stride = rls_stride(K), rows on 64-byte boundaries); columns K..stride-1 are zero. For
// small K (rls_whole(K)) P is kept whole, as `factor` times the stored matrix, and updated in
// a form symmetric by construction;
// otherwise only its upper triangle (j >= i) is read and written, so it stays exactly
// symmetric (its lower triangle is left as it was). Either way it is exactly symmetric.
// pi, pi_next, kv, u, u_b, w and row_sums are scratch of `stride` elements on 64-byte
// boundaries, zero past K (the padding stays zero because P's does).
// P's growth is capped: the division by lambda is skipped when it would lift trace(P) above
// trace_cap (its starting value K / delta), so silence cannot blow P up.
template <typename T>
struct RlsChunk {
  T* g;
  T* P;
  T* pi;  // whole form: S w of a pair's first sample; while `pending`, part of the state
  T* pi_next;
  T* kv;
  T* u;    // whole form: v of a pair's first sample
  T* u_b;  // whole form: v of a pair's second sample
  T* w;
  T* row_sums;
  std::size_t K, stride, lo;
  const T* buf;
  std::size_t q0, n;
  const T* y;
  T* yhat;
  T* r;
  double lambda, trace_cap;
  T factor;      // in and out: P is factor times the stored matrix (whole form; 1 for the triangle)
  bool pending;  // in and out (whole form): the last sample opened a pair, not yet in P
  T root;        // in and out (whole form, pending): that sample's sqrt(factor / alpha)
};
// The row stride of P for K taps: K rounded up to a whole cache line (64 bytes), which is a
// whole number of vectors on every target.
template <typename T>
constexpr std::size_t rls_stride(std::size_t K) {
  constexpr std::size_t kLine = 64 / sizeof(T);
  return (K + kLine - 1) / kLine * kLine;
}
// Whether RLS keeps P whole (K taps of T within kWholeRowBytes, i.e. K <= 40 in float64 and 80
// in float32): at small K the pass over the triangle costs more in its per-row lane sums than
// a whole P costs in its doubled elements (adaptive_simd.cpp, whole_pass). Measured on the
// Zen 5 of bench/ADAPTIVE_RESULTS.md, lambda = 0.9999, ns per sample (triangle -> whole, one
// sample per pass): float64 K = 32 130 -> 101, 40 165 -> 142, 48 197 -> 201, 56 236 -> 264;
// float32 K = 32 120 -> 60, 64 226 -> 168, 80 295 -> 246, 96 366 -> 357, 128 560 -> 556. With
// pairs of samples per pass (what whole_pass does now) float64 K = 32 and 40 take 84-87 and
// 114 ns, float32 K = 64 and 80 136-139 and 198-201; the crossover was not measured again and
// may lie higher. It depends on K and T only, never on the instruction set, so a saved state
// moves between CPUs.
constexpr std::size_t kWholeRowBytes = 320;
template <typename T>
constexpr bool rls_whole(std::size_t K) {
  return K * sizeof(T) <= kWholeRowBytes;
}
// The largest factor (RlsChunk) kept apart from the stored matrix before it is folded in.
constexpr double kFoldFactor = 65536.0;
std::size_t rls_chunk(RlsChunk<float>& c);
std::size_t rls_chunk(RlsChunk<double>& c);

// g . w (the LMS family's prediction, in its order of operations).
float dot(const float* g, const float* w, std::size_t K);
double dot(const double* g, const double* w, std::size_t K);

}  // namespace convgrad::detail::adaptive
