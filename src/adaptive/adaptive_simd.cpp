// The adaptive filters' per-sample loops with Highway (see adaptive_simd.hpp for the layout).
//
// NLMS and its kin spend their time in passes over the K taps: the prediction g . w_q and the
// update g += s w_q. Samples go in pairs (q, q+1), and one pass (`pair_pass`, fused) applies
// both updates of a pair and forms both predictions of the next, the second corrected for
// the first's update by the lag-1 window correlation (adaptive_simd.hpp): one load and store
// of g per two samples. A pass at a chunk's start only predicts and one at its end only
// updates; all are one template with one order of operations, so the taps and predictions come
// out bit for bit the same however the stream is cut into chunks and calls.
//
// This file is compiled once per instruction set (hwy/foreach_target.h re-includes it);
// HWY_DYNAMIC_DISPATCH calls the best one this CPU supports, once per chunk.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
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

// The order of every dot product here, the same in every variant of a pass (so a chunk
// boundary, which splits a fused pass into an update and a separate dot, changes no bits):
// the taps in blocks of 8 vectors, vector u of a block into chain u mod 4 (whole_blocks), the
// last whole vectors (fewer than 8) into chains 0, 1, ... in order, the last K mod L taps one
// at a time with std::fma (the same fused rounding as MulAdd); then (c0+c1)+(c2+c3), its lanes
// summed, plus the scalar tail. Updates are element by element: the same bits in any
// grouping. (Four chains measured faster than eight, and than two for the pair pass below.)
template <class At>
HWY_INLINE std::size_t whole_blocks(std::size_t K, std::size_t L, const At& at) {
  std::size_t k = 0;
  for (; k + 8 * L <= K; k += 8 * L) {
    at(k, std::integral_constant<int, 0>{});
    at(k + L, std::integral_constant<int, 1>{});
    at(k + 2 * L, std::integral_constant<int, 2>{});
    at(k + 3 * L, std::integral_constant<int, 3>{});
    at(k + 4 * L, std::integral_constant<int, 0>{});
    at(k + 5 * L, std::integral_constant<int, 1>{});
    at(k + 6 * L, std::integral_constant<int, 2>{});
    at(k + 7 * L, std::integral_constant<int, 3>{});
  }
  return k;
}

// The leftover whole vectors from k (at most 7): at(k, chain) into chains 0, 1, 2, ...
template <class At>
HWY_INLINE std::size_t leftover_vectors(std::size_t k, std::size_t K, std::size_t L, const At& at) {
  for (std::size_t u = 0; k + L <= K; ++u, k += L) {
    switch (u) {
      case 0:
      case 4:
        at(k, std::integral_constant<int, 0>{});
        break;
      case 1:
      case 5:
        at(k, std::integral_constant<int, 1>{});
        break;
      case 2:
      case 6:
        at(k, std::integral_constant<int, 2>{});
        break;
      default:
        at(k, std::integral_constant<int, 3>{});
    }
  }
  return k;
}

// The four chains of a dot product summed: (c0+c1)+(c2+c3), its lanes, plus the scalar tail
// when there is one (K not a whole number of vectors): adding a tail of 0 would cost the step
// from one sample to the next an addition.
template <class D, class V = hn::VFromD<D>>
HWY_INLINE hn::TFromD<D> chains_sum(D d, const V (&c)[4], hn::TFromD<D> tail, bool has_tail) {
  const auto sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(c[0], c[1]), hn::Add(c[2], c[3]))));
  return has_tail ? sum + tail : sum;
}

// kUpdate: g[k] += s * wu[k].  kDot: returns sum_k g[k] wd[k] with the (updated) taps. (RLS's
// passes over K: the gain's update of the taps, and the dots g . w and pi . w.)
template <bool kUpdate, bool kDot, typename T>
HWY_INLINE T step(T* HWY_RESTRICT g, const T* wu, T s, const T* wd, std::size_t K) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const std::size_t L = hn::Lanes(d);
  const auto vs = hn::Set(d, s);
  V acc[4] = {hn::Zero(d), hn::Zero(d), hn::Zero(d), hn::Zero(d)};
  // Tap vector k into chain c.
  auto plain = [&](std::size_t k, auto c) HWY_ATTR {
    auto gv = hn::LoadU(d, g + k);
    if constexpr (kUpdate) {
      gv = hn::MulAdd(vs, hn::LoadU(d, wu + k), gv);
      hn::StoreU(gv, d, g + k);
    }
    if constexpr (kDot)
      acc[decltype(c)::value] = hn::MulAdd(gv, hn::LoadU(d, wd + k), acc[decltype(c)::value]);
  };
  std::size_t k = leftover_vectors(whole_blocks(K, L, plain), K, L, plain);
  T tail = 0;
  for (; k < K; ++k) {
    T gk = g[k];
    if constexpr (kUpdate) g[k] = gk = std::fma(s, wu[k], gk);
    if constexpr (kDot) tail = std::fma(gk, wd[k], tail);
  }
  return kDot ? chains_sum(d, acc, tail, K % L != 0) : T(0);
}

// Lanes Off..Off+L-1 of the three consecutive aligned vectors v0 v1 v2 (Off = 0..2L-1, a
// compile-time count): a window vector that starts Off lanes into v0. v2 is read only when
// Off > L.
template <int Off, class D, class V>
HWY_INLINE V lanes_from(D d, V v0, V v1, V v2) {
  constexpr int L = static_cast<int>(64 / sizeof(hn::TFromD<D>));
  if constexpr (Off < L)
    return rotated<Off>(d, v1, v0);
  else
    return rotated<Off - L>(d, v2, v1);
}

// The LMS family's pass over the taps for a pair of samples (adaptive_simd.hpp):
//   kUpdate:   g += s0 wu; g += s1 (wu + 1)       (element by element, two FMAs, in that order)
//   kDots:     dots[j] = g . (wd + j), j < kDots, with the (updated) taps
// The fused pass (kUpdate, two dots, wd = wu + 2) finishes one pair and predicts the next:
// per vector of taps 1 load and 1 store of g and 4 FMAs, i.e. half the loads and stores of
// g per sample that a pass per sample needs. Each dot has its own four chains in the order
// above (whole_blocks), so every variant gives the same bits for the same taps and window.
//
// With AVX-512 (kM >= 0: wu starts kM lanes into an aligned vector) three of the four windows'
// vectors come from one aligned load per vector of taps (the next one is read too when
// w_{q+3} reaches into it, kM + 3 > L) and lane rotations, and w_{q+1}'s from an unaligned
// load; every load is of a vector holding a lane the windows use, so none leaves the buffer's
// last cache line. Why this mix (Zen 5 of bench/ADAPTIVE_RESULTS.md, K = 1024): the pass is
// bound by the rotations (one per cycle) more than by the loads; four rotations per vector
// took 4.5 cycles per vector of taps and pair, three rotations and one unaligned load 4.1
// (two and two: 4.8). Of that, about 95 cycles per pair are the step from one pair to the
// next (the dots' reductions, the two residuals and steps), so the pass itself runs at about
// 3 cycles per vector of 4 FMAs, two thirds of the FMA peak.
template <bool kUpdate, int kDots, int kM = -1, typename T>
HWY_INLINE std::array<T, 2> pair_pass(T* HWY_RESTRICT g, const T* wu, T s0, T s1, const T* wd,
                                      std::size_t K) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const std::size_t L = hn::Lanes(d);
  const auto vs0 = hn::Set(d, s0), vs1 = hn::Set(d, s1);
  V acc_a[4] = {hn::Zero(d), hn::Zero(d), hn::Zero(d), hn::Zero(d)};
  V acc_b[4] = {acc_a[0], acc_a[0], acc_a[0], acc_a[0]};
  // Tap vector k, chain c, with the update windows' vectors x0, x1 and the dot windows' x2, x3.
  auto one = [&](std::size_t k, auto c, V x0, V x1, V x2, V x3) HWY_ATTR {
    constexpr int C = decltype(c)::value;
    auto gv = hn::LoadU(d, g + k);
    if constexpr (kUpdate) {
      gv = hn::MulAdd(vs0, x0, gv);
      gv = hn::MulAdd(vs1, x1, gv);
      hn::StoreU(gv, d, g + k);
    }
    if constexpr (kDots >= 1) acc_a[C] = hn::MulAdd(gv, x2, acc_a[C]);
    if constexpr (kDots >= 2) acc_b[C] = hn::MulAdd(gv, x3, acc_b[C]);
  };
  auto plain = [&](std::size_t k, auto c) HWY_ATTR {
    const V zero = hn::Zero(d);
    one(k, c, kUpdate ? hn::LoadU(d, wu + k) : zero, kUpdate ? hn::LoadU(d, wu + 1 + k) : zero,
        kDots >= 1 ? hn::LoadU(d, wd + k) : zero, kDots >= 2 ? hn::LoadU(d, wd + 1 + k) : zero);
  };
  std::size_t k = 0;
  if constexpr (kM >= 0) {
    static_assert(kUpdate && kDots == 2 && kRotates);
    constexpr bool kThird = kM + 3 > static_cast<int>(64 / sizeof(T));  // w_{q+3} reaches a third vector
    const T* a = wu - kM;  // aligned; the windows start kM, kM+1, kM+2, kM+3 lanes into it
    V v0 = hn::Zero(d), v1 = v0, v2 = v0;
    if (K >= 8 * L) {
      v0 = hn::Load(d, a);
      if constexpr (kThird) v1 = hn::Load(d, a + L);
    }
    k = whole_blocks(K, L, [&](std::size_t k, auto c) HWY_ATTR {
      if constexpr (kThird)
        v2 = hn::Load(d, a + k + 2 * L);
      else
        v1 = hn::Load(d, a + k + L);
      one(k, c, lanes_from<kM>(d, v0, v1, v2), hn::LoadU(d, wu + 1 + k), lanes_from<kM + 2>(d, v0, v1, v2),
          lanes_from<kM + 3>(d, v0, v1, v2));
      v0 = v1;
      if constexpr (kThird) v1 = v2;
    });
  } else {
    k = whole_blocks(K, L, plain);
  }
  k = leftover_vectors(k, K, L, plain);
  T tail_a = 0, tail_b = 0;
  for (; k < K; ++k) {
    T gk = g[k];
    if constexpr (kUpdate) g[k] = gk = std::fma(s1, wu[k + 1], std::fma(s0, wu[k], gk));
    if constexpr (kDots >= 1) tail_a = std::fma(gk, wd[k], tail_a);
    if constexpr (kDots >= 2) tail_b = std::fma(gk, wd[k + 1], tail_b);
  }
  std::array<T, 2> dots{T(0), T(0)};
  if constexpr (kDots >= 1) dots[0] = chains_sum(d, acc_a, tail_a, K % L != 0);
  if constexpr (kDots >= 2) dots[1] = chains_sum(d, acc_b, tail_b, K % L != 0);
  return dots;
}

// The fused pass for windows starting M lanes into an aligned vector.
template <int M, typename T>
HWY_NOINLINE std::array<T, 2> fused_at(T* HWY_RESTRICT g, const T* w, T s0, T s1, std::size_t K) {
  return pair_pass<true, 2, M>(g, w, s0, s1, w + 2, K);
}

template <typename T, std::size_t... M>
constexpr auto fused_table(std::index_sequence<M...>) {
  return std::array<std::array<T, 2> (*)(T*, const T*, T, T, std::size_t), sizeof...(M)>{
      &fused_at<static_cast<int>(M), T>...};
}

// g += s0 w_q; g += s1 w_{q+1}; then returns g . w_{q+2} and g . w_{q+3} (w = w_q).
template <typename T>
HWY_INLINE std::array<T, 2> update_then_predict(T* HWY_RESTRICT g, const T* w, T s0, T s1, std::size_t K) {
  if constexpr (kRotates) {
    constexpr std::size_t kLanes = 64 / sizeof(T);  // a 512-bit vector
    static constexpr auto table = fused_table<T>(std::make_index_sequence<kLanes>());
    return table[(reinterpret_cast<std::uintptr_t>(w) % 64) / sizeof(T)](g, w, s0, s1, K);
  } else {
    return pair_pass<true, 2>(g, w, s0, s1, w + 2, K);
  }
}

// The step of one sample is s = -f r with f = mu (LMS) or mu / (delta + e) (NLMS; f = 0, no step,
// when delta + e is 0: silence with delta = 0), or s = -mu sign(r) (sign-error LMS). f needs
// only the input, so it is ready before r: from one residual to its step is one multiply in T.
inline double step_factor(Rule rule, double mu, double delta, double energy) {
  if (rule != Rule::nlms) return mu;
  const double denominator = delta + std::max(energy, 0.0);
  return denominator > 0 ? mu / denominator : 0.0;
}
// (Given -f, so that the negation is off that path too.)
template <typename T>
T step_size(Rule rule, T r, T minus_factor) {
  if (rule == Rule::sign_lms) return minus_factor * static_cast<T>((r > 0) - (r < 0));
  return r * minus_factor;
}

// The largest step size |s| ||w_q|| accepted (a bound on |s w_q[k]|, the change of any tap):
// 2^-16 of T's largest value. A step past it comes only from a filter blowing up, whose taps
// would overflow within a few more samples; it is reported as divergence before it touches
// them, so the taps stay finite.
template <typename T>
constexpr double kLargestStep = static_cast<double>(std::numeric_limits<T>::max()) / 65536.0;

// Samples in pairs (adaptive_simd.hpp): the predictions of a pair come from one pass over the
// taps as they were before it, which is also the pass that applies the previous pair's two
// updates. A pair cut by the chunk's end is finished by the next chunk (c.pending).
template <typename T>
std::size_t lms_chunk_impl(LmsChunk<T>& c) {
  const std::size_t K = c.K, lo = c.lo, n = c.n;
  auto window = [&](std::size_t q) { return c.buf + (q - lo - (K - 1)); };
  const T* none = nullptr;
  double e = c.energy, lag = c.lag;
  bool pending = c.pending;
  T s0 = c.s_pending;
  // g . w_q and g . w_{q+1} for the next pair (q, q+1), or g . w_q alone for its second sample.
  std::array<T, 2> dots{T(0), T(0)};
  if (pending)
    dots[1] = pair_pass<false, 1>(c.g, none, T(0), T(0), window(c.q0), K)[0];
  else if (n >= 2)
    dots = pair_pass<false, 2>(c.g, none, T(0), T(0), window(c.q0), K);
  else if (n == 1)
    dots[0] = pair_pass<false, 1>(c.g, none, T(0), T(0), window(c.q0), K)[0];
  // Sample q = c.q0 + i, the first or the second of its pair: returns its step, or NaN when it
  // diverged (its residual is not finite or its step too large, see kLargestStep), leaving e
  // and lag at the sample before. The second's prediction folds in the first's update:
  // g . w_q + s0 (w_{q-1} . w_q), one FMA in T.
  auto sample = [&](std::size_t i, bool second) {
    const std::size_t p = c.q0 + i - lo;  // the newest input of w_q
    const double enter = c.buf[p], leave = c.buf[p - K];
    const double e_q = e + enter * enter - leave * leave;
    const double lag_q = lag + enter * c.buf[p - 1] - leave * c.buf[p - K - 1];
    const T minus_factor = -static_cast<T>(step_factor(c.rule, c.mu, c.delta, e_q));
    const T yhat = second ? std::fma(s0, static_cast<T>(lag_q), dots[1]) : dots[0];
    const T r = yhat - c.y[i];
    c.yhat[i] = yhat;
    c.r[i] = r;
    const T s = step_size(c.rule, r, minus_factor);
    if (!std::isfinite(r) ||
        !(std::abs(static_cast<double>(s)) * std::sqrt(std::max(e_q, 0.0)) <= kLargestStep<T>))
      return std::numeric_limits<T>::quiet_NaN();
    e = e_q;
    lag = lag_q;
    return s;
  };
  std::size_t i = 0;
  auto stop = [&](std::size_t done) {
    c.energy = e;
    c.lag = lag;
    c.pending = pending;
    c.s_pending = pending ? s0 : T(0);
    return done;
  };
  while (i < n) {
    if (!pending) {  // the first sample of a pair
      const T s = sample(i, false);
      if (std::isnan(s)) return stop(i);  // diverged: sample i leaves the state untouched
      s0 = s;
      pending = true;
      if (++i == n) break;  // the pair is finished by the next chunk
    }
    const T s1 = sample(i, true);
    if (std::isnan(s1)) return stop(i);  // diverged: the first's step stays pending
    pending = false;
    const T* w = window(c.q0 + i - 1);  // w_q of the pair
    ++i;
    if (n - i >= 2) {
      dots = update_then_predict(c.g, w, s0, s1, K);
    } else {
      pair_pass<true, 0>(c.g, w, s0, s1, none, K);
      if (n - i == 1) dots[0] = pair_pass<false, 1>(c.g, none, T(0), T(0), w + 2, K)[0];
    }
  }
  return stop(i);
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

// The pass of small K (rls_whole): over the whole of the stored matrix, here P (the filter's
// P is a factor times it, see rls_chunk_impl), row by row, doing either or both of
//   kUpdate:  P[i][j] = (P[i][j] - u[i] u[j]) * scale    (scale 1, all but a few samples in
//             2^16, skips the multiply: one FMA per element)
//   kMatvec:  pi_next = P w  with the (updated) P, as sum_i w[i] P[i][:]: P is symmetric, so
//             its rows are its columns, and the product is axpys with no lane sums
// The update is exactly symmetric by construction: u[i] u[j] is one exact product inside an
// FMA, the same for (i, j) and (j, i). Against the triangle pass (symmetric_pass) it does twice
// the elements, but its per-element work is 2-3 operations with no reduction, where the
// triangle's K rows each end in a lane sum (at K = 32 in float64 those sums outweigh the
// arithmetic). The product's order of operations is the same in every variant (even rows into
// one set of sums, odd rows into another, then the two added), so a chunk boundary changes
// nothing. NV: the vectors of a row (stride / L), a compile-time count up to 8 keeping the
// sums in registers; 0 for any other count (targets with narrow vectors), sums in pi_next.
template <bool kUpdate, bool kMatvec, int NV, typename T>
HWY_NOINLINE void whole_pass(T* HWY_RESTRICT P, std::size_t K, std::size_t stride, const T* u, T scale,
                             const T* w, T* HWY_RESTRICT pi_next) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const std::size_t L = hn::Lanes(d);
  const bool scaled = scale != T(1);
  const V vscale = hn::Set(d, scale);
  // Vector v of row i, updated (and stored) when kUpdate.
  auto element = [&](std::size_t i, std::size_t v, V ui) HWY_ATTR {
    V p = hn::Load(d, P + i * stride + v * L);
    if constexpr (kUpdate) {
      p = hn::NegMulAdd(ui, hn::Load(d, u + v * L), p);
      if (scaled) p = hn::Mul(p, vscale);
      hn::Store(p, d, P + i * stride + v * L);
    }
    return p;
  };
  auto u_of = [&](std::size_t i) HWY_ATTR { return hn::Set(d, kUpdate ? u[i] : T(0)); };
  auto w_of = [&](std::size_t i) HWY_ATTR { return hn::Set(d, kMatvec ? w[i] : T(0)); };
  if constexpr (NV > 0) {
    V even[NV], odd[NV];
    for (int v = 0; v < NV; ++v) even[v] = odd[v] = hn::Zero(d);
    auto row = [&](std::size_t i, V(&sums)[NV]) HWY_ATTR {
      const V ui = u_of(i), wi = w_of(i);
      for (int v = 0; v < NV; ++v) {
        const V p = element(i, static_cast<std::size_t>(v), ui);
        if constexpr (kMatvec) sums[v] = hn::MulAdd(wi, p, sums[v]);
      }
    };
    std::size_t i = 0;
    for (; i + 2 <= K; i += 2) {
      row(i, even);
      row(i + 1, odd);
    }
    if (i < K) row(i, even);
    if constexpr (kMatvec)
      for (int v = 0; v < NV; ++v) hn::Store(hn::Add(even[v], odd[v]), d, pi_next + v * L);
  } else {
    const std::size_t nv = stride / L;
    if constexpr (kMatvec) std::fill(pi_next, pi_next + stride, T(0));
    for (std::size_t i = 0; i < K; ++i) {
      const V ui = u_of(i), wi = w_of(i);
      for (std::size_t v = 0; v < nv; ++v) {
        const V p = element(i, v, ui);
        if constexpr (kMatvec) hn::Store(hn::MulAdd(wi, p, hn::Load(d, pi_next + v * L)), d, pi_next + v * L);
      }
    }
  }
}

// whole_pass for this target's vectors per row: a table of the counts 1..8, then any count.
template <bool kUpdate, bool kMatvec, typename T, std::size_t... NV>
constexpr auto whole_pass_table(std::index_sequence<NV...>) {
  return std::array<void (*)(T*, std::size_t, std::size_t, const T*, T, const T*, T*), sizeof...(NV)>{
      &whole_pass<kUpdate, kMatvec, static_cast<int>(NV), T>...};
}
template <bool kUpdate, bool kMatvec, typename T>
void whole_pass_any(T* P, std::size_t K, std::size_t stride, const T* u, T scale, const T* w, T* pi_next) {
  static constexpr auto table = whole_pass_table<kUpdate, kMatvec, T>(std::make_index_sequence<9>());
  const std::size_t nv = stride / hn::Lanes(hn::ScalableTag<T>());
  table[nv < table.size() ? nv : 0](P, K, stride, u, scale, w, pi_next);  // 0: any count
}

// sum_{j<K} term(j) in double, in four interleaved partial sums (term j into sum j mod 4), then
// (s0 + s1) + (s2 + s3). The sums are named locals: an array indexed by j mod 4 stayed in
// memory, each addition waiting on the store of the one before.
template <class Term>
double sum_of_terms(std::size_t K, const Term& term) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t j = 0;
  for (; j + 4 <= K; j += 4) {
    s0 += term(j);
    s1 += term(j + 1);
    s2 += term(j + 2);
    s3 += term(j + 3);
  }
  if (j < K) s0 += term(j++);
  if (j < K) s1 += term(j++);
  if (j < K) s2 += term(j);
  return (s0 + s1) + (s2 + s3);
}

// The trace the update leaves before the division by lambda, up to rounding:
//   trace(P - kv pi^T) = trace(P) - (pi . pi) / alpha          (kv = pi / alpha)
// It decides only whether P may grow (RlsChunk::trace_cap). trace(P) and pi . pi need only P and
// pi, so they are summed while alpha and 1 / alpha are formed; only the last multiply waits for
// 1 / alpha. (Summing fma(-kv[j], pi[j], P[j][j]) waited for kv: 23 of the 151 ns per sample
// of RLS at K = 32.)
template <typename T>
struct TraceTerms {
  double trace_P = 0, pi_pi = 0;
  TraceTerms() = default;
  // P = factor S with S the stored matrix, pi = factor (S w) with S w given.
  TraceTerms(const RlsChunk<T>& c, const T* S_w, double factor)
      : trace_P(factor *
                sum_of_terms(c.K, [&](std::size_t j) { return static_cast<double>(c.P[j * c.stride + j]); })),
        pi_pi(factor * factor * self_dot(S_w, c.K)) {}
  // v . v in double: in float64 the vector dot product (the scalar sum was 9% of RLS's time at
  // K = 32); float32's in double, where its squares cannot overflow.
  static double self_dot(const T* v, std::size_t K) {
    if constexpr (std::is_same_v<T, double>)
      return step<false, true>(const_cast<T*>(v), static_cast<const T*>(nullptr), T(0), v, K);
    else
      return sum_of_terms(K, [&](std::size_t j) { return static_cast<double>(v[j]) * v[j]; });
  }
  double after_update(T inv_alpha) const { return trace_P - pi_pi * static_cast<double>(inv_alpha); }
};

// The whole form keeps P as factor times the stored matrix S, so that the division by lambda
// is one scalar multiply (factor /= lambda) instead of one per element: S's update is then one
// FMA per element, S -= v v^T with v = (S w) sqrt(factor / alpha). When the factor passes
// kFoldFactor (adaptive_simd.hpp) the pass folds it into S (S = (S - v v^T) factor, factor =
// 1): a value the stream decides, so every cut folds at the same sample.

// One sample of RLS (a priori residual r = yhat - y):
//   pi = P w,  alpha = lambda + w . pi,  kv = pi / alpha,  g -= r kv,
//   P = (P - kv pi^T) / lambda                       (the Riccati update)
// in the triangle form (symmetric_pass: P stored as it is, the factor stays 1) or, for small
// K, the whole form (whole_pass: P = factor S, kv pi^T / factor = v v^T). The stored
// matrix's product S w of the chunk's first sample comes from a pass of its own; every later
// one from the pass that updates S for the sample before it.
template <typename T>
std::size_t rls_chunk_impl(RlsChunk<T>& c) {
  const std::size_t K = c.K, lo = c.lo, stride = c.stride;
  const bool whole = rls_whole<T>(K);
  auto window = [&](std::size_t q) { return c.buf + (q - lo - (K - 1)); };
  // The window copied to aligned scratch (zeros past K) for symmetric_pass.
  auto aligned_window = [&](std::size_t q) {
    std::copy(window(q), window(q) + K, c.w);
    return static_cast<const T*>(c.w);
  };
  // The stored matrix's update for the sample whose S w was pi (kUpdate), times scale, and
  // the product S w_q with the updated S (kMatvec) into pi_next.
  auto pass = [&](auto update, auto matvec, const T* pi, T scale, std::size_t q, T* pi_next) {
    constexpr bool kUpdate = decltype(update)::value, kMatvec = decltype(matvec)::value;
    if (whole)
      whole_pass_any<kUpdate, kMatvec>(c.P, K, stride, c.u, scale, kMatvec ? window(q) : nullptr, pi_next);
    else
      symmetric_pass<kUpdate, kMatvec>(c.P, K, stride, c.kv, pi, scale, kMatvec ? aligned_window(q) : nullptr,
                                       pi_next, c.row_sums);
  };
  const T* none = nullptr;
  T* pi = c.pi;  // S w of the current sample
  T* pi_next = c.pi_next;
  T factor = c.factor;
  const bool forgets = c.lambda < 1;
  const double cap = c.trace_cap * c.lambda;  // trace(P) / lambda <= trace_cap
  const T forget = static_cast<T>(1 / c.lambda);
  T yhat = step<false, true>(c.g, none, T(0), window(c.q0), K);
  std::size_t i = 0;
  for (; i < c.n; ++i) {
    const std::size_t q = c.q0 + i;
    const T* w = window(q);
    const T r = yhat - c.y[i];
    c.yhat[i] = yhat;
    c.r[i] = r;
    if (!std::isfinite(r)) break;
    if (i == 0) pass(std::false_type{}, std::true_type{}, none, T(1), q, pi);
    const TraceTerms<T> trace = forgets ? TraceTerms<T>(c, pi, factor) : TraceTerms<T>{};
    const T alpha = static_cast<T>(c.lambda) + factor * step<false, true>(pi, none, T(0), w, K);
    if (!(alpha > 0) || !std::isfinite(alpha)) break;  // P is no longer positive definite
    const T inv_alpha = T(1) / alpha;
    const T gain = factor * inv_alpha;  // kv = pi / alpha = (S w) factor / alpha
    for (std::size_t j = 0; j < K; ++j) c.kv[j] = pi[j] * gain;
    if (whole) {
      // sqrt(factor / alpha) as sqrt(factor) sqrt(alpha) / alpha: the root and the division
      // run side by side.
      const T root = (std::sqrt(factor) * std::sqrt(alpha)) * inv_alpha;
      for (std::size_t j = 0; j < K; ++j) c.u[j] = pi[j] * root;
    }
    // P / lambda, unless that lifts trace(P) past the cap
    const T grown = forgets && trace.after_update(inv_alpha) <= cap ? factor * forget : factor;
    const bool fold = !whole || grown > static_cast<T>(kFoldFactor);
    const T scale = fold ? grown : T(1);
    factor = fold ? T(1) : grown;
    if (i + 1 < c.n) {
      yhat = step<true, true>(c.g, c.kv, -r, window(q + 1), K);  // the update, then g . w_{q+1}
      pass(std::true_type{}, std::true_type{}, pi, scale, q + 1, pi_next);
      std::swap(pi, pi_next);
    } else {
      step<true, false>(c.g, c.kv, -r, none, K);
      pass(std::true_type{}, std::false_type{}, pi, scale, q + 1, nullptr);
    }
  }
  c.factor = factor;  // of the samples completed: a sample that stops the chunk changes nothing
  return i;
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
