// The adaptive filters' per-sample loops with Highway (see adaptive_simd.hpp for the layout).
//
// NLMS and its kin spend their time in two passes over K taps per sample: the prediction
// g . w_q and the update g += s w_q. `step` does both in one pass: it updates the taps for
// sample q and, with the new taps still in registers, forms the next sample's prediction
// g . w_{q+1} (the windows overlap, one sample apart). One pass instead of two halves the
// loads of g. The last sample of a chunk updates without predicting, and the first predicts
// without updating: the three variants are one template, so their order of operations is the
// same and the taps come out bit for bit the same however the stream is cut into chunks.
//
// This file is compiled once per instruction set (hwy/foreach_target.h re-includes it);
// HWY_DYNAMIC_DISPATCH calls the best one this CPU supports, once per chunk.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

#include "adaptive/adaptive_simd.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "adaptive/adaptive_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace convgrad::detail::adaptive {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The window one sample later from two consecutive vectors of this one: lanes k+1..k+L of
// w_q are lanes k..k+L-1 of w_{q+1}. With AVX-512 one lane rotation (valign) replaces an
// unaligned load, which straddles two cache lines whenever the window is not aligned (nearly
// always: windows start at every offset). kShifts says whether this target has it.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr bool kShifts = true;
template <class D, class V>
HWY_INLINE V shifted_by_one(D d, V hi, V lo) {
  const hn::RebindToSigned<D> di;
  const auto h = hn::BitCast(di, hi).raw, l = hn::BitCast(di, lo).raw;
  if constexpr (sizeof(hn::TFromD<D>) == 4)
    return hn::BitCast(d, hn::VFromD<decltype(di)>{_mm512_alignr_epi32(h, l, 1)});
  else
    return hn::BitCast(d, hn::VFromD<decltype(di)>{_mm512_alignr_epi64(h, l, 1)});
}
#else
constexpr bool kShifts = false;
template <class D, class V>
HWY_INLINE V shifted_by_one(D, V, V lo) {
  return lo;  // never called: kShifts is false
}
#endif

// kUpdate: g[k] += s * wu[k].  kDot: returns sum_k g[k] wd[k] with the (updated) taps.
// When both (the fused pass), wd must be wu + 1 (the next sample's window).
//
// The order of the dot product, the same in every variant (so a chunk boundary, which turns
// one fused pass into an update-only and a dot-only pass, changes no bits): the taps in
// blocks of 8 vectors, vector u of a block into accumulator a_u (8 chains hide the FMA
// latency: the dot is on the critical path from one sample's residual to the next), the last
// whole vectors (fewer than 8) into a_0, a_1, ..., the last K mod L taps one at a time with
// std::fma (the same fused rounding as MulAdd); then ((a0+a1)+(a2+a3))+((a4+a5)+(a6+a7)),
// its lanes summed, plus the scalar tail. The update is element by element: the same bits in
// any grouping.
//
// The bound (AVX-512, two 512-bit loads and one store per cycle): per vector of taps the fused
// pass loads g and one window vector (the other comes from the rotation) and stores g, for
// two FMAs; the window load straddles two lines, so 3 load slots per 2 FMAs: 67% of the FMA
// peak at best, before the per-sample reduction and scalar step.
template <bool kUpdate, bool kDot, typename T>
HWY_INLINE T step(T* HWY_RESTRICT g, const T* wu, T s, const T* wd, std::size_t K) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const std::size_t L = hn::Lanes(d);
  constexpr bool kFused = kUpdate && kDot && kShifts;
  const auto vs = hn::Set(d, s);
  V a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  // Tap vector k with the window vectors xu (update) and xd (dot).
  auto one = [&](std::size_t k, V xu, V xd, V& acc) HWY_ATTR {
    auto gv = hn::LoadU(d, g + k);
    if constexpr (kUpdate) {
      gv = hn::MulAdd(vs, xu, gv);
      hn::StoreU(gv, d, g + k);
    }
    if constexpr (kDot) acc = hn::MulAdd(gv, xd, acc);
  };
  auto plain = [&](std::size_t k, V& acc) HWY_ATTR {
    V xu = hn::Zero(d), xd = hn::Zero(d);
    if constexpr (kUpdate) xu = hn::LoadU(d, wu + k);
    if constexpr (kDot) xd = hn::LoadU(d, wd + k);
    one(k, xu, xd, acc);
  };
  std::size_t k = 0;
  if constexpr (kFused) {
    // wu's vectors u0..u8 of a block; the dot's are their rotations. u8 is the next block's
    // u0; when it would run past w_{q+1}'s last element the block's last dot vector is loaded.
    V u0 = K >= L ? hn::LoadU(d, wu) : hn::Zero(d);
    for (; k + 8 * L <= K; k += 8 * L) {
      const V u1 = hn::LoadU(d, wu + k + L), u2 = hn::LoadU(d, wu + k + 2 * L);
      const V u3 = hn::LoadU(d, wu + k + 3 * L), u4 = hn::LoadU(d, wu + k + 4 * L);
      const V u5 = hn::LoadU(d, wu + k + 5 * L), u6 = hn::LoadU(d, wu + k + 6 * L);
      const V u7 = hn::LoadU(d, wu + k + 7 * L);
      const bool more = k + 9 * L <= K + 1;  // wu[k+8L .. k+9L) lies within w_{q+1}
      const V u8 = more ? hn::LoadU(d, wu + k + 8 * L) : u7;
      const V d7 = more ? shifted_by_one(d, u8, u7) : hn::LoadU(d, wd + k + 7 * L);
      one(k, u0, shifted_by_one(d, u1, u0), a0);
      one(k + L, u1, shifted_by_one(d, u2, u1), a1);
      one(k + 2 * L, u2, shifted_by_one(d, u3, u2), a2);
      one(k + 3 * L, u3, shifted_by_one(d, u4, u3), a3);
      one(k + 4 * L, u4, shifted_by_one(d, u5, u4), a4);
      one(k + 5 * L, u5, shifted_by_one(d, u6, u5), a5);
      one(k + 6 * L, u6, shifted_by_one(d, u7, u6), a6);
      one(k + 7 * L, u7, d7, a7);
      u0 = u8;
    }
  } else {
    for (; k + 8 * L <= K; k += 8 * L) {
      plain(k, a0);
      plain(k + L, a1);
      plain(k + 2 * L, a2);
      plain(k + 3 * L, a3);
      plain(k + 4 * L, a4);
      plain(k + 5 * L, a5);
      plain(k + 6 * L, a6);
      plain(k + 7 * L, a7);
    }
  }
  // The last whole vectors (at most 7) into a0, a1, ... in order.
  auto rest = [&](V& acc) HWY_ATTR {
    if (k + L > K) return;
    plain(k, acc);
    k += L;
  };
  rest(a0), rest(a1), rest(a2), rest(a3), rest(a4), rest(a5), rest(a6);
  T tail = 0;
  for (; k < K; ++k) {
    T gk = g[k];
    if constexpr (kUpdate) g[k] = gk = std::fma(s, wu[k], gk);
    if constexpr (kDot) tail = std::fma(gk, wd[k], tail);
  }
  if constexpr (kDot) {
    const V sum =
        hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)), hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)));
    return hn::GetLane(hn::SumOfLanes(d, sum)) + tail;
  }
  return T(0);
}

// The step of one sample: -mu r (LMS), -mu sign(r) (sign-error LMS), -mu r / (delta + e)
// (NLMS; no step at all when delta + e is 0, i.e. silence with delta = 0).
inline double step_size(Rule rule, double mu, double delta, double r, double energy) {
  switch (rule) {
    case Rule::lms:
      return -mu * r;
    case Rule::sign_lms:
      return -mu * static_cast<double>((r > 0) - (r < 0));
    case Rule::nlms: {
      const double denominator = delta + std::max(energy, 0.0);
      return denominator > 0 ? -r * (mu / denominator)
                             : 0.0;  // mu / (delta + e) needs no r: off the critical path
    }
  }
  return 0.0;
}

template <typename T>
std::size_t lms_chunk_impl(LmsChunk<T>& c) {
  const std::size_t K = c.K, lo = c.lo;
  auto window = [&](std::size_t q) { return c.buf + (q - lo - (K - 1)); };
  double e = c.energy;
  T yhat = step<false, true>(c.g, static_cast<const T*>(nullptr), T(0), window(c.q0), K);
  for (std::size_t i = 0; i < c.n; ++i) {
    const std::size_t q = c.q0 + i;
    const double enter = c.buf[q - lo], leave = c.buf[q - lo - K];
    const double e_q = e + enter * enter - leave * leave;
    const T r = yhat - c.y[i];
    c.yhat[i] = yhat;
    c.r[i] = r;
    const T s = static_cast<T>(step_size(c.rule, c.mu, c.delta, r, e_q));
    if (!std::isfinite(r) || !std::isfinite(s)) {
      c.energy = e;
      return i;  // diverged: sample i leaves the state untouched
    }
    e = e_q;
    if (i + 1 < c.n)
      yhat = step<true, true>(c.g, window(q), s, window(q + 1), K);
    else
      step<true, false>(c.g, window(q), s, static_cast<const T*>(nullptr), K);
  }
  c.energy = e;
  return c.n;
}

// One pass over the upper triangle of P, row by row, doing either or both of
//   kUpdate:  P[i][j] = (P[i][j] - kv[i] pi[j]) * scale        (the Riccati update; scale 1
//             skips the product)
//   kMatvec:  pi_next = P w   with the (updated) P: row i gives sum_{j>=i} P[i][j] w[j] (into
//             row_sums[i]) and, by symmetry, pi_next[j] += P[i][j] w[i] for j > i
// One load of P[i][j] feeds the update and both products, so RLS reads P once per sample: the
// update of sample n and the product P w_{n+1} of the next run together. The update is
// element by element (the same bits in any grouping) and the product's order of operations is
// the same in every variant, so a chunk boundary changes nothing.
//
// Layout (see RlsChunk): rows of `stride` elements on cache-line boundaries; kv, pi, w,
// pi_next and row_sums hold `stride` elements with zeros past K, so every access is a whole
// aligned vector: row i starts at the vector holding column i, whose lanes left of i (the
// lower triangle, never used) are masked off, and runs to the padded end (zeros times zeros).
// A row's own sum is kept apart and added at the end: written into pi_next[i] at once it
// would be reread by the next row's first vector, a narrow store feeding a wide load, which
// the CPU cannot forward.
//
// The bound (float64, K = 256: the triangle is 263 KB, in L2): per vector of a row, 4 loads
// (P, pi, w, pi_next), 2 stores (P, pi_next) and 3 FMAs (4 flops x 8 lanes x 1.5 = 48 flops at
// the count of 4 K^2 flops per sample for K^2 / 2 elements); with two 512-bit loads
// and one store per cycle the stores set the pace at 2 cycles per vector, the FMAs need 1.5:
// about 75% of the FMA peak at the count before the per-row and per-sample work.
template <bool kUpdate, bool kMatvec, typename T>
HWY_INLINE void symmetric_pass(T* HWY_RESTRICT P, std::size_t K, std::size_t stride, const T* kv, const T* pi,
                               T scale, const T* w, T* pi_next, T* row_sums) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const std::size_t L = hn::Lanes(d);
  const bool scaled = scale != T(1);
  const auto vscale = hn::Set(d, scale);
  if constexpr (kMatvec) std::fill(pi_next, pi_next + stride, T(0));
  for (std::size_t i = 0; i < K; ++i) {
    T* row = P + i * stride;
    const auto ki = hn::Set(d, kUpdate ? kv[i] : T(0));
    const auto wi = hn::Set(d, kMatvec ? w[i] : T(0));
    auto updated = [&](V p, std::size_t j) HWY_ATTR {
      p = hn::NegMulAdd(ki, hn::Load(d, pi + j), p);
      return scaled ? hn::Mul(p, vscale) : p;
    };
    // The vector holding column i: lanes j >= i take part, j > i in the symmetric product.
    const std::size_t j0 = i - i % L;
    const auto from_i = hn::Not(hn::FirstN(d, i - j0)), past_i = hn::Not(hn::FirstN(d, i - j0 + 1));
    V p = hn::Load(d, row + j0);
    if constexpr (kUpdate) {
      p = hn::IfThenElse(from_i, updated(p, j0), p);
      hn::Store(p, d, row + j0);
    }
    V a0 = hn::Zero(d), a1 = hn::Zero(d);
    if constexpr (kMatvec) {
      a0 = hn::Mul(hn::IfThenElseZero(from_i, p), hn::Load(d, w + j0));
      hn::Store(hn::MulAdd(hn::IfThenElseZero(past_i, p), wi, hn::Load(d, pi_next + j0)), d, pi_next + j0);
    }
    auto one = [&](std::size_t j, V& acc) HWY_ATTR {
      V pj = hn::Load(d, row + j);
      if constexpr (kUpdate) {
        pj = updated(pj, j);
        hn::Store(pj, d, row + j);
      }
      if constexpr (kMatvec) {
        acc = hn::MulAdd(pj, hn::Load(d, w + j), acc);
        hn::Store(hn::MulAdd(pj, wi, hn::Load(d, pi_next + j)), d, pi_next + j);
      }
    };
    std::size_t j = j0 + L;
    for (; j + 2 * L <= stride; j += 2 * L) {
      one(j, a1);
      one(j + L, a0);
    }
    if (j < stride) one(j, a1);  // stride is a multiple of L
    if constexpr (kMatvec) row_sums[i] = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
  }
  if constexpr (kMatvec)
    for (std::size_t j = 0; j < K; ++j) pi_next[j] += row_sums[j];
}

// trace(P - kv pi^T), exactly as the update will leave it (before the division by lambda),
// summed in double in four interleaved partial sums (the sum is a chain of additions; it
// decides only whether P may grow, see RlsChunk::trace_cap).
template <typename T>
double trace_after_update(const RlsChunk<T>& c, const T* pi) {
  double part[4] = {0, 0, 0, 0};
  for (std::size_t j = 0; j < c.K; ++j)
    part[j % 4] += static_cast<double>(std::fma(-c.kv[j], pi[j], c.P[j * c.stride + j]));
  return (part[0] + part[1]) + (part[2] + part[3]);
}

// One sample of RLS (a priori residual r = yhat - y):
//   pi = P w,  alpha = lambda + w . pi,  kv = pi / alpha,  g -= r kv,
//   P = (P - kv pi^T) / lambda                       (the Riccati update, upper triangle)
// pi of the chunk's first sample comes from a pass of its own; every later one from the pass
// that updates P for the sample before it.
template <typename T>
std::size_t rls_chunk_impl(RlsChunk<T>& c) {
  const std::size_t K = c.K, lo = c.lo, stride = c.stride;
  auto window = [&](std::size_t q) { return c.buf + (q - lo - (K - 1)); };
  // The window copied to aligned scratch (zeros past K) for symmetric_pass.
  auto aligned_window = [&](std::size_t q) {
    std::copy(window(q), window(q) + K, c.w);
    return static_cast<const T*>(c.w);
  };
  const T* none = nullptr;
  T* pi = c.pi;
  T* pi_next = c.pi_next;
  T yhat = step<false, true>(c.g, none, T(0), window(c.q0), K);
  for (std::size_t i = 0; i < c.n; ++i) {
    const std::size_t q = c.q0 + i;
    const T* w = window(q);
    const T r = yhat - c.y[i];
    c.yhat[i] = yhat;
    c.r[i] = r;
    if (!std::isfinite(r)) return i;
    if (i == 0)
      symmetric_pass<false, true>(c.P, K, stride, none, none, T(1), aligned_window(q), pi, c.row_sums);
    const T alpha = static_cast<T>(c.lambda) + step<false, true>(pi, none, T(0), w, K);
    if (!(alpha > 0) || !std::isfinite(alpha)) return i;  // P is no longer positive definite
    const T inv_alpha = T(1) / alpha;
    for (std::size_t j = 0; j < K; ++j) c.kv[j] = pi[j] * inv_alpha;
    const bool grow = c.lambda < 1 && trace_after_update(c, pi) / c.lambda <= c.trace_cap;
    const T scale = grow ? static_cast<T>(1 / c.lambda) : T(1);
    step<true, false>(c.g, c.kv, -r, none, K);
    if (i + 1 < c.n) {
      yhat = step<false, true>(c.g, none, T(0), window(q + 1), K);
      symmetric_pass<true, true>(c.P, K, stride, c.kv, pi, scale, aligned_window(q + 1), pi_next, c.row_sums);
      std::swap(pi, pi_next);
    } else {
      symmetric_pass<true, false>(c.P, K, stride, c.kv, pi, scale, none, static_cast<T*>(nullptr),
                                  c.row_sums);
    }
  }
  return c.n;
}

std::size_t lms_chunk_f32(LmsChunk<float>& c) { return lms_chunk_impl(c); }
std::size_t lms_chunk_f64(LmsChunk<double>& c) { return lms_chunk_impl(c); }
std::size_t rls_chunk_f32(RlsChunk<float>& c) { return rls_chunk_impl(c); }
std::size_t rls_chunk_f64(RlsChunk<double>& c) { return rls_chunk_impl(c); }
float dot_f32(const float* g, const float* w, std::size_t K) {
  return step<false, true>(const_cast<float*>(g), static_cast<const float*>(nullptr), 0.0f, w, K);
}
double dot_f64(const double* g, const double* w, std::size_t K) {
  return step<false, true>(const_cast<double*>(g), static_cast<const double*>(nullptr), 0.0, w, K);
}

}  // namespace HWY_NAMESPACE
}  // namespace convgrad::detail::adaptive
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace convgrad::detail::adaptive {

HWY_EXPORT(lms_chunk_f32);
HWY_EXPORT(lms_chunk_f64);
HWY_EXPORT(rls_chunk_f32);
HWY_EXPORT(rls_chunk_f64);
HWY_EXPORT(dot_f32);
HWY_EXPORT(dot_f64);

std::size_t lms_chunk(LmsChunk<float>& c) { return HWY_DYNAMIC_DISPATCH(lms_chunk_f32)(c); }
std::size_t lms_chunk(LmsChunk<double>& c) { return HWY_DYNAMIC_DISPATCH(lms_chunk_f64)(c); }
std::size_t rls_chunk(RlsChunk<float>& c) { return HWY_DYNAMIC_DISPATCH(rls_chunk_f32)(c); }
std::size_t rls_chunk(RlsChunk<double>& c) { return HWY_DYNAMIC_DISPATCH(rls_chunk_f64)(c); }
float dot(const float* g, const float* w, std::size_t K) { return HWY_DYNAMIC_DISPATCH(dot_f32)(g, w, K); }
double dot(const double* g, const double* w, std::size_t K) { return HWY_DYNAMIC_DISPATCH(dot_f64)(g, w, K); }

}  // namespace convgrad::detail::adaptive
#endif  // HWY_ONCE
