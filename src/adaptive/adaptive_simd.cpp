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
// at a time with std::fma (MulAdd's rounding on targets with FMA); then (c0+c1)+(c2+c3), its lanes
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
  double e = c.energy, lag = c.lag, peak = c.peak;
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
    double e_q = e + enter * enter - leave * leave;
    double lag_q = lag + enter * c.buf[p - 1] - leave * c.buf[p - K - 1];
    double peak_q = std::max(peak, e_q);
    if (e_q < kRefreshRatio * peak) {  // quiet after loud: the recursions' rounding would weigh
      e_q = window_energy(window(c.q0 + i), K);
      lag_q = window_lag(window(c.q0 + i), K);
      peak_q = e_q;
    }
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
    peak = peak_q;
    return s;
  };
  std::size_t i = 0;
  auto stop = [&](std::size_t done) {
    c.energy = e;
    c.lag = lag;
    c.peak = peak;
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
// P is a factor times it, see rls_whole_impl), row by row, for a pair of samples (a, b):
//   kUpdates = 2:  P[i][j] = ((P[i][j] - ua[i] ua[j]) - ub[i] ub[j]) * scale   (the two
//                  samples' updates, two FMAs per element; scale 1, all but a few pairs in
//                  2^16, skips the multiply)
//   kProducts:     pc = P wc (and pd = P wd) with the updated P, as sums over rows
//                  w[i] P[i][:]: P is symmetric, so its rows are its columns, and the products
//                  are axpys with no lane sums
// So P is loaded and stored once per two samples. The update is exactly symmetric by
// construction: ua[i] ua[j] is one exact product inside an FMA, the same for (i, j) and (j, i).
// Against the triangle pass (symmetric_pass) it does twice the elements, but with no lane
// sums, which outweigh the arithmetic at small K. Every product has the same order of
// operations in every variant (even rows into one set of sums, odd rows into another, then
// the two added), so a chunk boundary changes nothing. NV: the vectors of a row (stride / L),
// a compile-time count up to 8 keeping the sums in registers; 0 for any other count (targets
// with narrow vectors), sums in pc and pd.
template <int kUpdates, int kProducts, int NV, typename T>
HWY_NOINLINE void whole_pass(T* HWY_RESTRICT P, std::size_t K, std::size_t stride, const T* ua, const T* ub,
                             T scale, const T* wc, const T* wd, T* HWY_RESTRICT pc, T* HWY_RESTRICT pd) {
  const hn::ScalableTag<T> d;
  using V = hn::Vec<decltype(d)>;
  const std::size_t L = hn::Lanes(d);
  const bool scaled = scale != T(1);
  const V vscale = hn::Set(d, scale);
  // Vector v of row i, updated (and stored) when kUpdates.
  auto element = [&](std::size_t i, std::size_t v, V uai, V ubi) HWY_ATTR {
    V p = hn::Load(d, P + i * stride + v * L);
    if constexpr (kUpdates == 2) {
      p = hn::NegMulAdd(uai, hn::Load(d, ua + v * L), p);
      p = hn::NegMulAdd(ubi, hn::Load(d, ub + v * L), p);
      if (scaled) p = hn::Mul(p, vscale);
      hn::Store(p, d, P + i * stride + v * L);
    }
    return p;
  };
  auto at = [&](const T* x, std::size_t i, bool used) HWY_ATTR { return hn::Set(d, used ? x[i] : T(0)); };
  if constexpr (NV > 0) {
    V ce[NV], co[NV], de[NV], dob[NV];  // products c and d, even and odd rows
    for (int v = 0; v < NV; ++v) ce[v] = co[v] = de[v] = dob[v] = hn::Zero(d);
    auto row = [&](std::size_t i, V(&cs)[NV], V(&ds)[NV]) HWY_ATTR {
      const V uai = at(ua, i, kUpdates == 2), ubi = at(ub, i, kUpdates == 2);
      const V wci = at(wc, i, kProducts >= 1), wdi = at(wd, i, kProducts >= 2);
      for (int v = 0; v < NV; ++v) {
        const V p = element(i, static_cast<std::size_t>(v), uai, ubi);
        if constexpr (kProducts >= 1) cs[v] = hn::MulAdd(wci, p, cs[v]);
        if constexpr (kProducts >= 2) ds[v] = hn::MulAdd(wdi, p, ds[v]);
      }
    };
    std::size_t i = 0;
    for (; i + 2 <= K; i += 2) {
      row(i, ce, de);
      row(i + 1, co, dob);
    }
    if (i < K) row(i, ce, de);
    for (int v = 0; v < NV; ++v) {
      if constexpr (kProducts >= 1) hn::Store(hn::Add(ce[v], co[v]), d, pc + v * L);
      if constexpr (kProducts >= 2) hn::Store(hn::Add(de[v], dob[v]), d, pd + v * L);
    }
  } else {
    const std::size_t nv = stride / L;
    if constexpr (kProducts >= 1) std::fill(pc, pc + stride, T(0));
    if constexpr (kProducts >= 2) std::fill(pd, pd + stride, T(0));
    for (std::size_t i = 0; i < K; ++i) {
      const V uai = at(ua, i, kUpdates == 2), ubi = at(ub, i, kUpdates == 2);
      const V wci = at(wc, i, kProducts >= 1), wdi = at(wd, i, kProducts >= 2);
      for (std::size_t v = 0; v < nv; ++v) {
        const V p = element(i, v, uai, ubi);
        if constexpr (kProducts >= 1) hn::Store(hn::MulAdd(wci, p, hn::Load(d, pc + v * L)), d, pc + v * L);
        if constexpr (kProducts >= 2) hn::Store(hn::MulAdd(wdi, p, hn::Load(d, pd + v * L)), d, pd + v * L);
      }
    }
  }
}

// whole_pass for this target's vectors per row: a table of the counts 1..8, then any count.
template <int kUpdates, int kProducts, typename T, std::size_t... NV>
constexpr auto whole_pass_table(std::index_sequence<NV...>) {
  return std::array<void (*)(T*, std::size_t, std::size_t, const T*, const T*, T, const T*, const T*, T*, T*),
                    sizeof...(NV)>{&whole_pass<kUpdates, kProducts, static_cast<int>(NV), T>...};
}
template <int kUpdates, int kProducts, typename T>
void whole_pass_any(T* P, std::size_t K, std::size_t stride, const T* ua, const T* ub, T scale, const T* wc,
                    const T* wd, T* pc, T* pd) {
  static constexpr auto table = whole_pass_table<kUpdates, kProducts, T>(std::make_index_sequence<9>());
  const std::size_t nv = stride / hn::Lanes(hn::ScalableTag<T>());
  table[nv < table.size() ? nv : 0](P, K, stride, ua, ub, scale, wc, wd, pc, pd);  // 0: any count
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
  TraceTerms(double trace, double pi_dot_pi) : trace_P(trace), pi_pi(pi_dot_pi) {}
  TraceTerms(const RlsChunk<T>& c, const T* pi)
      : trace_P(sum_of_terms(c.K, [&](std::size_t j) { return static_cast<double>(c.P[j * c.stride + j]); })),
        pi_pi(self_dot(pi, c.K)) {}
  // v . v in double: in float64 the vector dot product (the scalar sum was 9% of RLS's time at
  // K = 32); float32's in double, where its squares cannot overflow.
  static double self_dot(const T* v, std::size_t K) {
    if constexpr (std::is_same_v<T, double>) {
      const hn::ScalableTag<T> d;
      const std::size_t L = hn::Lanes(d);
      auto a0 = hn::Zero(d), a1 = a0;
      std::size_t k = 0;
      for (; k + 2 * L <= K; k += 2 * L) {
        const auto x0 = hn::LoadU(d, v + k), x1 = hn::LoadU(d, v + k + L);
        a0 = hn::MulAdd(x0, x0, a0);
        a1 = hn::MulAdd(x1, x1, a1);
      }
      for (; k + L <= K; k += L) a0 = hn::MulAdd(hn::LoadU(d, v + k), hn::LoadU(d, v + k), a0);
      double sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a1)));
      for (; k < K; ++k) sum = std::fma(v[k], v[k], sum);
      return sum;
    } else {
      return sum_of_terms(K, [&](std::size_t j) { return static_cast<double>(v[j]) * v[j]; });
    }
  }
  double after_update(T inv_alpha) const { return trace_P - pi_pi * static_cast<double>(inv_alpha); }
};

// One sample of RLS (a priori residual r = yhat - y):
//   pi = P w,  alpha = lambda + w . pi,  kv = pi / alpha,  g -= r kv,
//   P = (P - kv pi^T) / lambda                       (the Riccati update)
// Larger K: the triangle form (symmetric_pass, P stored as it is). pi of the chunk's first
// sample comes from a pass of its own; every later one from the pass that updates P for the
// sample before it.
template <typename T>
std::size_t rls_triangle_impl(RlsChunk<T>& c) {
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
  const bool forgets = c.lambda < 1;
  const double cap = c.trace_cap * c.lambda;  // trace(P) / lambda <= trace_cap
  T yhat = step<false, true>(c.g, none, T(0), window(c.q0), K);
  std::size_t i = 0;
  for (; i < c.n; ++i) {
    const std::size_t q = c.q0 + i;
    const T* w = window(q);
    const T r = yhat - c.y[i];
    c.yhat[i] = yhat;
    c.r[i] = r;
    if (!std::isfinite(r)) break;
    if (i == 0)
      symmetric_pass<false, true>(c.P, K, stride, none, none, T(1), aligned_window(q), pi, c.row_sums);
    const TraceTerms<T> trace = forgets ? TraceTerms<T>(c, pi) : TraceTerms<T>{};
    const T alpha = static_cast<T>(c.lambda) + step<false, true>(pi, none, T(0), w, K);
    if (!(alpha > 0) || !std::isfinite(alpha)) break;  // P is no longer positive definite
    const T inv_alpha = T(1) / alpha;
    for (std::size_t j = 0; j < K; ++j) c.kv[j] = pi[j] * inv_alpha;
    // P / lambda, unless that lifts trace(P) past the cap
    const T scale = forgets && trace.after_update(inv_alpha) <= cap ? static_cast<T>(1 / c.lambda) : T(1);
    if (i + 1 < c.n) {
      yhat = step<true, true>(c.g, c.kv, -r, window(q + 1), K);  // the update, then g . w_{q+1}
      symmetric_pass<true, true>(c.P, K, stride, c.kv, pi, scale, aligned_window(q + 1), pi_next, c.row_sums);
      std::swap(pi, pi_next);
    } else {
      step<true, false>(c.g, c.kv, -r, none, K);
      symmetric_pass<true, false>(c.P, K, stride, c.kv, pi, scale, none, static_cast<T*>(nullptr),
                                  c.row_sums);
    }
  }
  return i;
}

// Small K: the whole form. P = factor S with S the stored matrix, so that the division by
// lambda is one scalar multiply (factor /= lambda) instead of one per element; S's update is
// S -= v v^T with v = (S w) sqrt(factor / alpha) (= kv pi^T / factor). When the factor passes
// kFoldFactor (adaptive_simd.hpp) a pass folds it into S (S = (S - ...) factor, factor = 1): a
// value the stream decides, so every cut folds at the same sample.
//
// Samples go in pairs (a, b), formed by absolute index as in the LMS family, so that one pass
// over S applies both updates and forms both products of the next pair (whole_pass): S is
// stored once per two samples. b's product is corrected for a's update:
//   S' w_b = (S - v_a v_a^T) w_b = S w_b - v_a (v_a . w_b)
// and trace(S') = trace(S) - v_a . v_a. A chunk (or a call) ending between a and b leaves S
// as it was before a, with a pending (RlsChunk::pending: its S w_a in c.pi and its root; the
// state saves them), and the next chunk forms S w_b with a pass of its own: the same bits as
// the pass of the pair.
template <typename T>
std::size_t rls_whole_impl(RlsChunk<T>& c) {
  const std::size_t K = c.K, lo = c.lo, stride = c.stride, n = c.n;
  auto window = [&](std::size_t i) { return c.buf + (c.q0 + i - lo - (K - 1)); };  // sample i's
  const T* none = nullptr;
  T* nowhere = nullptr;
  const bool forgets = c.lambda < 1;
  const double cap = c.trace_cap * c.lambda;  // trace(P) / lambda <= trace_cap
  const T forget = static_cast<T>(1 / c.lambda);
  T factor = c.factor;
  bool pending = c.pending;
  T* va = c.u;  // v of the pair's first sample
  T* vb = c.u_b;
  T* pa = c.pi;       // S w of the pair's first sample (while pending, part of the state)
  T* pb = c.pi_next;  // S w of its second
  T root_a = c.root;  // the first sample's sqrt(f / alpha): v_a = root_a pa
  if (n == 0) return 0;
  if (pending)
    for (std::size_t j = 0; j < K; ++j) va[j] = pa[j] * root_a;  // as the first sample formed it
  auto trace_of_S = [&] {
    return sum_of_terms(K, [&](std::size_t j) { return static_cast<double>(c.P[j * stride + j]); });
  };
  T yhat = step<false, true>(c.g, none, T(0), window(0), K);
  if (pending)
    whole_pass_any<0, 1>(c.P, K, stride, none, none, T(1), window(0), none, pb, nowhere);
  else if (n >= 2)
    whole_pass_any<0, 2>(c.P, K, stride, none, none, T(1), window(0), window(1), pa, pb);
  else
    whole_pass_any<0, 1>(c.P, K, stride, none, none, T(1), window(0), none, pa, nowhere);
  // Sample i with pi = S w_i (S as updated by the samples before it), P = f S and trace(S)
  // given: its residual, v (into v), the taps' update (and the next prediction) and the factor
  // it leaves (into f_after). False when it diverged, before it changed anything but yhat, r.
  auto sample = [&](std::size_t i, const T* pi, T f, double trace_S, T* v, T& root, T& f_after) {
    const T r = yhat - c.y[i];
    c.yhat[i] = yhat;
    c.r[i] = r;
    if (!std::isfinite(r)) return false;
    const TraceTerms<T> trace =
        forgets ? TraceTerms<T>(f * trace_S, f * f * TraceTerms<T>::self_dot(pi, K)) : TraceTerms<T>{};
    const T alpha =
        static_cast<T>(c.lambda) + f * step<false, true>(const_cast<T*>(pi), none, T(0), window(i), K);
    if (!(alpha > 0) || !std::isfinite(alpha)) return false;  // P is no longer positive definite
    const T inv_alpha = T(1) / alpha;
    const T gain = f * inv_alpha;  // kv = P w / alpha = (S w) f / alpha
    // sqrt(f / alpha) as sqrt(f) sqrt(alpha) / alpha: the root and the division side by side
    root = (std::sqrt(f) * std::sqrt(alpha)) * inv_alpha;
    for (std::size_t j = 0; j < K; ++j) {
      c.kv[j] = pi[j] * gain;
      v[j] = pi[j] * root;
    }
    // P / lambda, unless that lifts trace(P) past the cap
    f_after = forgets && trace.after_update(inv_alpha) <= cap ? f * forget : f;
    if (i + 1 < n)
      yhat = step<true, true>(c.g, c.kv, -r, window(i + 1), K);  // the update, then g . w_{i+1}
    else
      step<true, false>(c.g, c.kv, -r, none, K);
    return true;
  };
  std::size_t i = 0;
  double trace_S = 0;  // trace(S) before the pair, for the forgetting cap
  while (i < n) {
    if (!pending || i == 0) trace_S = forgets ? trace_of_S() : 0.0;
    if (!pending) {  // the first sample of a pair
      T f_after;
      if (!sample(i, pa, factor, trace_S, va, root_a, f_after)) break;
      factor = f_after;
      pending = true;
      if (++i == n) break;  // the pair is finished by the next chunk
    }
    // S' w_b = S w_b - v_a (v_a . w_b), v_a . w_b as root_a (pa . w_b): pa . w_b needs only
    // the pass, so it is summed while the first sample's alpha is
    const T t = root_a * step<false, true>(pa, none, T(0), window(i), K);
    for (std::size_t j = 0; j < K; ++j) pb[j] = std::fma(-va[j], t, pb[j]);
    T f_after, root_b;
    const double trace_after_a = forgets ? trace_S - TraceTerms<T>::self_dot(va, K) : 0.0;
    if (!sample(i, pb, factor, trace_after_a, vb, root_b, f_after)) break;  // a stays pending
    pending = false;
    ++i;
    const bool fold = f_after > static_cast<T>(kFoldFactor);
    const T scale = fold ? f_after : T(1);
    factor = fold ? T(1) : f_after;
    if (n - i >= 2)
      whole_pass_any<2, 2>(c.P, K, stride, va, vb, scale, window(i), window(i + 1), pa, pb);
    else if (n - i == 1)
      whole_pass_any<2, 1>(c.P, K, stride, va, vb, scale, window(i), none, pa, nowhere);
    else
      whole_pass_any<2, 0>(c.P, K, stride, va, vb, scale, none, none, nowhere, nowhere);
  }
  c.factor = factor;
  c.pending = pending;
  c.root = pending ? root_a : T(0);
  return i;
}

template <typename T>
std::size_t rls_chunk_impl(RlsChunk<T>& c) {
  return rls_whole<T>(c.K) ? rls_whole_impl(c) : rls_triangle_impl(c);
}

// out = g + s w with the pair pass's own multiply-adds: whole vectors by MulAdd, the last K mod L
// taps by std::fma. MulAdd is fused where the target has FMA and two roundings where it has none
// (SSE2 to SSE4), so the taps read mid-pair are the pass's on every target.
template <typename T>
void apply_step_impl(T* HWY_RESTRICT out, const T* g, const T* w, T s, std::size_t K) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d);
  const auto vs = hn::Set(d, s);
  std::size_t k = 0;
  for (; k + L <= K; k += L) hn::StoreU(hn::MulAdd(vs, hn::LoadU(d, w + k), hn::LoadU(d, g + k)), d, out + k);
  for (; k < K; ++k) out[k] = std::fma(s, w[k], g[k]);
}
void apply_step_f32(float* out, const float* g, const float* w, float s, std::size_t K) {
  apply_step_impl(out, g, w, s, K);
}
void apply_step_f64(double* out, const double* g, const double* w, double s, std::size_t K) {
  apply_step_impl(out, g, w, s, K);
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
HWY_EXPORT(apply_step_f32);
HWY_EXPORT(apply_step_f64);

std::size_t lms_chunk(LmsChunk<float>& c) { return HWY_DYNAMIC_DISPATCH(lms_chunk_f32)(c); }
std::size_t lms_chunk(LmsChunk<double>& c) { return HWY_DYNAMIC_DISPATCH(lms_chunk_f64)(c); }
std::size_t rls_chunk(RlsChunk<float>& c) { return HWY_DYNAMIC_DISPATCH(rls_chunk_f32)(c); }
std::size_t rls_chunk(RlsChunk<double>& c) { return HWY_DYNAMIC_DISPATCH(rls_chunk_f64)(c); }
float dot(const float* g, const float* w, std::size_t K) { return HWY_DYNAMIC_DISPATCH(dot_f32)(g, w, K); }
double dot(const double* g, const double* w, std::size_t K) { return HWY_DYNAMIC_DISPATCH(dot_f64)(g, w, K); }
void apply_step(float* out, const float* g, const float* w, float s, std::size_t K) {
  HWY_DYNAMIC_DISPATCH(apply_step_f32)(out, g, w, s, K);
}
void apply_step(double* out, const double* g, const double* w, double s, std::size_t K) {
  HWY_DYNAMIC_DISPATCH(apply_step_f64)(out, g, w, s, K);
}

}  // namespace convgrad::detail::adaptive
#endif  // HWY_ONCE
