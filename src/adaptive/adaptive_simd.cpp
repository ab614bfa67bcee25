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
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
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

// Lanes M..M+L-1 of the two vectors lo:hi (M = 0..L; a compile-time count): a window that
// starts M lanes into an aligned vector, from two aligned loads. With AVX-512 this is one
// lane rotation (valign); kRotates says whether this target has it.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr bool kRotates = true;
template <int M, class D, class V>
HWY_INLINE V rotated(D d, V hi, V lo) {
  if constexpr (M == 0) return lo;
  if constexpr (M * sizeof(hn::TFromD<D>) == 64) return hi;
  const hn::RebindToSigned<D> di;
  const auto h = hn::BitCast(di, hi).raw, l = hn::BitCast(di, lo).raw;
  if constexpr (sizeof(hn::TFromD<D>) == 4)
    return hn::BitCast(d, hn::VFromD<decltype(di)>{_mm512_alignr_epi32(h, l, M % 16)});
  else
    return hn::BitCast(d, hn::VFromD<decltype(di)>{_mm512_alignr_epi64(h, l, M % 8)});
}
#else
constexpr bool kRotates = false;
template <int M, class D, class V>
HWY_INLINE V rotated(D, V, V lo) {
  return lo;  // never called: kRotates is false
}
#endif

// kUpdate: g[k] += s * wu[k].  kDot: returns sum_k g[k] wd[k] with the (updated) taps.
// When both (the fused pass), wd must be wu + 1 (the next sample's window).
//
// The order of the dot product, the same in every variant (so a chunk boundary, which turns
// one fused pass into an update-only and a dot-only pass, changes no bits): the taps in
// blocks of 8 vectors, vector u of a block into accumulator a_(u mod 4), the last whole
// vectors (fewer than 8) likewise from a_0, the last K mod L taps one at a time with std::fma
// (the same fused rounding as MulAdd); then (a0+a1)+(a2+a3), its lanes summed, plus the
// scalar tail. The update is element by element: the same bits in any grouping. (Four chains
// measured faster than eight here, K = 1024: 152 against 169 cycles per sample in float32:
// the dot is on the critical path from one sample's residual to the next, but four chains
// already cover the FMA latency at the pass's throughput.)
//
// The fused pass with AVX-512 (kM >= 0: w_q starts kM lanes into an aligned vector): both
// windows' vectors come from one aligned load per vector of taps and two rotations, so per
// vector of taps: 2 aligned loads (g, the input), 1 store (g), 2 rotations, 2 FMAs. With two
// 512-bit loads and one store per cycle that would be one cycle for two FMAs, the FMA peak,
// before the per-sample work (the dot's reduction and the scalar step, a dependency chain).
// Measured on the Zen 5 of bench/ADAPTIVE_RESULTS.md: about 2 cycles per vector (K = 1024 to
// 4096), and a bare loop of these instructions on aligned data takes 1.7-2.1; so this pass
// runs at about half the FMA peak, and the unaligned loads it replaces (every window vector
// straddles two cache lines: the windows start at every offset) took 2.5-2.7. The aligned loads read up to L
// - 1 elements past w_{q+1} within its last cache line (CacheAligned allocates whole lines).
template <bool kUpdate, bool kDot, int kM = -1, typename T>
HWY_INLINE T step(T* HWY_RESTRICT g, const T* wu, T s, const T* wd, std::size_t K) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const std::size_t L = hn::Lanes(d);
  const auto vs = hn::Set(d, s);
  V a0 = hn::Zero(d), a1 = a0, a2 = a0, a3 = a0;
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
  if constexpr (kM >= 0) {
    static_assert(kUpdate && kDot && kRotates);
    const T* a = wu - kM;  // aligned; wd = wu + 1 starts kM + 1 lanes into it
    auto rot = [&](std::size_t k, V& lo, V& acc) HWY_ATTR {
      const V hi = hn::Load(d, a + k + L);
      one(k, rotated<kM>(d, hi, lo), rotated<kM + 1>(d, hi, lo), acc);
      lo = hi;
    };
    V lo = K >= 8 * L ? hn::Load(d, a) : hn::Zero(d);
    for (; k + 8 * L <= K; k += 8 * L) {
      rot(k, lo, a0);
      rot(k + L, lo, a1);
      rot(k + 2 * L, lo, a2);
      rot(k + 3 * L, lo, a3);
      rot(k + 4 * L, lo, a0);
      rot(k + 5 * L, lo, a1);
      rot(k + 6 * L, lo, a2);
      rot(k + 7 * L, lo, a3);
    }
  } else {
    for (; k + 8 * L <= K; k += 8 * L) {
      plain(k, a0);
      plain(k + L, a1);
      plain(k + 2 * L, a2);
      plain(k + 3 * L, a3);
      plain(k + 4 * L, a0);
      plain(k + 5 * L, a1);
      plain(k + 6 * L, a2);
      plain(k + 7 * L, a3);
    }
  }
  // The last whole vectors (at most 7) into a0, a1, ... in order.
  auto rest = [&](V& acc) HWY_ATTR {
    if (k + L > K) return;
    plain(k, acc);
    k += L;
  };
  rest(a0), rest(a1), rest(a2), rest(a3), rest(a0), rest(a1), rest(a2);
  T tail = 0;
  for (; k < K; ++k) {
    T gk = g[k];
    if constexpr (kUpdate) g[k] = gk = std::fma(s, wu[k], gk);
    if constexpr (kDot) tail = std::fma(gk, wd[k], tail);
  }
  if constexpr (kDot) {
    const V sum = hn::Add(hn::Add(a0, a1), hn::Add(a2, a3));
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

// The fused pass for a window w that starts M lanes into an aligned vector.
template <int M, typename T>
HWY_NOINLINE T fused_at(T* HWY_RESTRICT g, const T* w, T s, std::size_t K) {
  return step<true, true, M>(g, w, s, w + 1, K);
}

template <typename T, std::size_t... M>
constexpr auto fused_table(std::index_sequence<M...>) {
  return std::array<T (*)(T*, const T*, T, std::size_t), sizeof...(M)>{&fused_at<static_cast<int>(M), T>...};
}

// g += s w_q, then returns g . w_{q+1} (w = w_q; w_{q+1} = w + 1).
template <typename T>
HWY_INLINE T update_then_predict(T* HWY_RESTRICT g, const T* w, T s, std::size_t K) {
  if constexpr (kRotates) {
    constexpr std::size_t kLanes = 64 / sizeof(T);  // a 512-bit vector
    static constexpr auto table = fused_table<T>(std::make_index_sequence<kLanes>());
    return table[(reinterpret_cast<std::uintptr_t>(w) % 64) / sizeof(T)](g, w, s, K);
  } else {
    return step<true, true>(g, w, s, w + 1, K);
  }
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
      yhat = update_then_predict(c.g, window(q), s, K);
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
// The bound (float64, K = 256: the triangle is 263 KB, in L2, and is read and written once
// per sample). Rows go in pairs (below): per vector of a pair, 5 loads (two rows of P, pi, w,
// pi_next), 3 stores (two rows of P, pi_next) and 6 FMAs, i.e. per vector of one row 2.5
// loads, 1.5 stores and 3 FMAs = 1.5 cycles at two 512-bit FMAs per cycle. Those 3 FMAs carry
// 4 flops x L lanes x 1.5 of the count (4 K^2 flops per sample over K^2 / 2
// elements), so the FMA-bound pass would run at 133% of the peak by that count; the stores
// (one per cycle) allow the same. Measured (bench/ADAPTIVE_RESULTS.md): about 3 cycles per
// vector of a row, i.e. 60% of the peak in float64 (the NLMS pass, which has the same
// load-FMA-store shape, also runs at about half its paper bound on this core).
template <bool kUpdate, bool kMatvec, typename T>
HWY_INLINE void symmetric_pass(T* HWY_RESTRICT P, std::size_t K, std::size_t stride, const T* kv, const T* pi,
                               T scale, const T* w, T* pi_next, T* row_sums) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const std::size_t L = hn::Lanes(d);
  const bool scaled = scale != T(1);
  const auto vscale = hn::Set(d, scale);
  if constexpr (kMatvec) std::fill(pi_next, pi_next + stride, T(0));
  // Row i's part of the pass: its element j's update, and its terms of the two products.
  struct Row {
    T* p;
    V ki, wi, head;  // head: the row's product terms from its first vector
  };
  auto row_at = [&](std::size_t i) HWY_ATTR {
    const V zero = hn::Zero(d);
    return Row{P + i * stride, hn::Set(d, kUpdate ? kv[i] : T(0)), hn::Set(d, kMatvec ? w[i] : T(0)), zero};
  };
  auto updated = [&](const Row& row, V p, V piv) HWY_ATTR {
    p = hn::NegMulAdd(row.ki, piv, p);
    return scaled ? hn::Mul(p, vscale) : p;
  };
  // Rows i and, when kPair, i + 1 (i even, so both start in the vector holding column i: L is
  // even). A pair shares the loads of pi, w and pi_next and stores pi_next once; every element
  // sees the same operations in the same order as row by row (pi_next[j] takes row i's term,
  // then row i+1's), so pairing changes no bits.
  auto rows = [&](auto pair, std::size_t i) HWY_ATTR {
    constexpr bool kPair = decltype(pair)::value;
    Row A = row_at(i), B = row_at(kPair ? i + 1 : i);
    // The vector holding column i: lanes j >= i take part, j > i in the symmetric product.
    const std::size_t j0 = i - i % L;
    auto head = [&](Row& row, std::size_t c, V piv, V wv, V& pn) HWY_ATTR {
      const auto from = hn::Not(hn::FirstN(d, c - j0)), past = hn::Not(hn::FirstN(d, c - j0 + 1));
      V p = hn::Load(d, row.p + j0);
      if constexpr (kUpdate) {
        p = hn::IfThenElse(from, updated(row, p, piv), p);
        hn::Store(p, d, row.p + j0);
      }
      if constexpr (kMatvec) {
        row.head = hn::Mul(hn::IfThenElseZero(from, p), wv);
        pn = hn::MulAdd(hn::IfThenElseZero(past, p), row.wi, pn);
      }
    };
    auto body = [&](Row& row, std::size_t j, V piv, V wv, V& pn, V& acc) HWY_ATTR {
      V p = hn::Load(d, row.p + j);
      if constexpr (kUpdate) {
        p = updated(row, p, piv);
        hn::Store(p, d, row.p + j);
      }
      if constexpr (kMatvec) {
        acc = hn::MulAdd(p, wv, acc);
        pn = hn::MulAdd(p, row.wi, pn);
      }
    };
    // Vector j of the row(s): the head vector (j = j0), or one into accumulators accA, accB.
    auto at = [&](std::size_t j, auto is_head, V& accA, V& accB) HWY_ATTR {
      const V piv = kUpdate ? hn::Load(d, pi + j) : hn::Zero(d);
      const V wv = kMatvec ? hn::Load(d, w + j) : hn::Zero(d);
      V pn = kMatvec ? hn::Load(d, pi_next + j) : hn::Zero(d);
      if constexpr (decltype(is_head)::value) {
        head(A, i, piv, wv, pn);
        if constexpr (kPair) head(B, i + 1, piv, wv, pn);
      } else {
        body(A, j, piv, wv, pn, accA);
        if constexpr (kPair) body(B, j, piv, wv, pn, accB);
      }
      if constexpr (kMatvec) hn::Store(pn, d, pi_next + j);
    };
    V a0 = hn::Zero(d), a1 = a0, b0 = a0, b1 = a0;
    at(j0, std::true_type{}, a0, b0);
    a0 = A.head, b0 = B.head;
    std::size_t j = j0 + L;
    for (; j + 2 * L <= stride; j += 2 * L) {
      at(j, std::false_type{}, a1, b1);
      at(j + L, std::false_type{}, a0, b0);
    }
    if (j < stride) at(j, std::false_type{}, a1, b1);  // stride is a multiple of L
    if constexpr (kMatvec) {
      row_sums[i] = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
      if constexpr (kPair) row_sums[i + 1] = hn::GetLane(hn::SumOfLanes(d, hn::Add(b0, b1)));
    }
  };
  std::size_t i = 0;
  if (L % 2 == 0)  // pairs need rows i and i+1 in one vector (not so with one lane: HWY_SCALAR)
    for (; i + 2 <= K; i += 2) rows(std::true_type{}, i);
  for (; i < K; ++i) rows(std::false_type{}, i);
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
