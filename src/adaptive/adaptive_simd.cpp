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

#include "adaptive/adaptive_simd.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "adaptive/adaptive_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace convgrad::detail::adaptive {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// kUpdate: g[k] += s * wu[k].  kDot: returns sum_k g[k] wd[k] with the (updated) taps.
// Four accumulators over consecutive vectors hide the multiply-add latency; the last
// K mod L taps go one at a time with std::fma (the same fused rounding as MulAdd).
template <bool kUpdate, bool kDot, typename T>
HWY_INLINE T step(T* HWY_RESTRICT g, const T* wu, T s, const T* wd, std::size_t K) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d);
  const auto vs = hn::Set(d, s);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  auto one = [&](std::size_t k, auto& acc) HWY_ATTR {
    auto gv = hn::LoadU(d, g + k);
    if constexpr (kUpdate) {
      gv = hn::MulAdd(vs, hn::LoadU(d, wu + k), gv);
      hn::StoreU(gv, d, g + k);
    }
    if constexpr (kDot) acc = hn::MulAdd(gv, hn::LoadU(d, wd + k), acc);
  };
  std::size_t k = 0;
  for (; k + 4 * L <= K; k += 4 * L) {
    one(k, a0);
    one(k + L, a1);
    one(k + 2 * L, a2);
    one(k + 3 * L, a3);
  }
  for (; k + L <= K; k += L) one(k, a0);
  T tail = 0;
  for (; k < K; ++k) {
    T gk = g[k];
    if constexpr (kUpdate) g[k] = gk = std::fma(s, wu[k], gk);
    if constexpr (kDot) tail = std::fma(gk, wd[k], tail);
  }
  if constexpr (kDot) return hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)))) + tail;
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
      return denominator > 0 ? -mu * r / denominator : 0.0;
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

// pi = P w from the upper triangle: row i gives pi[i] += sum_{j>=i} P[i][j] w[j] and, by
// symmetry, pi[j] += P[i][j] w[i] for j > i; one load of P[i][j] feeds both.
template <typename T>
HWY_INLINE void symmetric_matvec(const T* HWY_RESTRICT P, std::size_t K, const T* HWY_RESTRICT w,
                                 T* HWY_RESTRICT pi) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d);
  std::fill(pi, pi + K, T(0));
  for (std::size_t i = 0; i < K; ++i) {
    const T* row = P + i * K;
    const auto wi = hn::Set(d, w[i]);
    auto a0 = hn::Zero(d), a1 = hn::Zero(d);
    std::size_t j = i + 1;
    for (; j + 2 * L <= K; j += 2 * L) {
      const auto p0 = hn::LoadU(d, row + j), p1 = hn::LoadU(d, row + j + L);
      a0 = hn::MulAdd(p0, hn::LoadU(d, w + j), a0);
      a1 = hn::MulAdd(p1, hn::LoadU(d, w + j + L), a1);
      hn::StoreU(hn::MulAdd(p0, wi, hn::LoadU(d, pi + j)), d, pi + j);
      hn::StoreU(hn::MulAdd(p1, wi, hn::LoadU(d, pi + j + L)), d, pi + j + L);
    }
    T tail = row[i] * w[i];
    for (; j < K; ++j) {
      tail = std::fma(row[j], w[j], tail);
      pi[j] = std::fma(row[j], w[i], pi[j]);
    }
    pi[i] += hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1))) + tail;
  }
}

// P[i][j] = (P[i][j] - kv[i] pi[j]) * scale on the upper triangle (scale 1 skips the product).
template <typename T>
HWY_INLINE void symmetric_rank1_update(T* HWY_RESTRICT P, std::size_t K, const T* HWY_RESTRICT kv,
                                       const T* HWY_RESTRICT pi, T scale) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d);
  const auto vscale = hn::Set(d, scale);
  for (std::size_t i = 0; i < K; ++i) {
    T* row = P + i * K;
    const auto ki = hn::Set(d, kv[i]);
    std::size_t j = i;
    if (scale == T(1)) {
      for (; j + L <= K; j += L)
        hn::StoreU(hn::NegMulAdd(ki, hn::LoadU(d, pi + j), hn::LoadU(d, row + j)), d, row + j);
    } else {
      for (; j + L <= K; j += L)
        hn::StoreU(hn::Mul(hn::NegMulAdd(ki, hn::LoadU(d, pi + j), hn::LoadU(d, row + j)), vscale), d,
                   row + j);
    }
    for (; j < K; ++j) row[j] = std::fma(-kv[i], pi[j], row[j]) * scale;
  }
}

// One sample of RLS (a priori residual r = yhat - y):
//   pi = P w,  alpha = lambda + w . pi,  kv = pi / alpha,  g -= r kv,
//   P = (P - kv pi^T) / lambda                       (the Riccati update, upper triangle)
template <typename T>
std::size_t rls_chunk_impl(RlsChunk<T>& c) {
  const std::size_t K = c.K, lo = c.lo;
  for (std::size_t i = 0; i < c.n; ++i) {
    const std::size_t q = c.q0 + i;
    const T* w = c.buf + (q - lo - (K - 1));
    const T yhat = step<false, true>(c.g, static_cast<const T*>(nullptr), T(0), w, K);
    const T r = yhat - c.y[i];
    c.yhat[i] = yhat;
    c.r[i] = r;
    if (!std::isfinite(r)) return i;
    symmetric_matvec(c.P, K, w, c.pi);
    const T alpha =
        static_cast<T>(c.lambda) + step<false, true>(c.pi, static_cast<const T*>(nullptr), T(0), w, K);
    if (!(alpha > 0) || !std::isfinite(alpha)) return i;  // P is no longer positive definite
    const T inv_alpha = T(1) / alpha;
    double trace = 0;  // trace(P - kv pi^T), exactly as the update will leave it
    for (std::size_t j = 0; j < K; ++j) {
      c.kv[j] = c.pi[j] * inv_alpha;
      trace += static_cast<double>(std::fma(-c.kv[j], c.pi[j], c.P[j * K + j]));
    }
    const bool grow = c.lambda < 1 && trace / c.lambda <= c.trace_cap;
    const T scale = grow ? static_cast<T>(1 / c.lambda) : T(1);
    step<true, false>(c.g, c.kv, -r, static_cast<const T*>(nullptr), K);
    symmetric_rank1_update(c.P, K, c.kv, c.pi, scale);
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
