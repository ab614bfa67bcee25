// The direct channel method's inner loops with Highway (see simd.hpp for what each computes).
//
// correlate_channels keeps OB x V output vectors in registers (OB output channels, V vectors of
// samples) while it runs over the input channels and taps: one window vector feeds OB
// multiply-adds, one broadcast weight feeds V. correlate_accumulate_channels (dW) keeps its
// sums in registers for the whole block: with dilation 1 and at least L/2 taps, 6 x 4
// (output, input) channel sums with the taps as lanes (4 loads and 6 broadcasts feed 24
// multiply-adds, no lane sums); with fewer taps, OB x CB x K sums over the sample lanes; with
// dilation, 4 x 4 sums of one tap at a time. The FFT method's per-bin products of split spectra
// are here too.
//
// Compiled once per instruction set (hwy/foreach_target.h re-includes it).
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "channels/simd.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "channels/direct_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace convgrad::detail::channels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One tap of a tile: acc[o][v] += w_k[o] win[v], each broadcast weight feeding V vectors.
template <std::size_t OB, std::size_t V, class D, typename T = hn::TFromD<D>>
HWY_INLINE void multiply_add_tap(D d, const hn::Vec<D> (&win)[V], const T* HWY_RESTRICT wk,
                                 hn::Vec<D> (&acc)[OB][V]) {
  for (std::size_t o = 0; o < OB; ++o) {
    const hn::Vec<D> wo = hn::Set(d, wk[o]);
    for (std::size_t v = 0; v < V; ++v) acc[o][v] = hn::MulAdd(wo, win[v], acc[o][v]);
  }
}

// out[o][v] = acc[o][v] (+ bias[o]).
template <std::size_t OB, std::size_t V, class D, typename T = hn::TFromD<D>>
HWY_INLINE void store_tile(D d, const hn::Vec<D> (&acc)[OB][V], const T* HWY_RESTRICT bias,
                           T* HWY_RESTRICT out, std::size_t out_stride) {
  const std::size_t L = hn::Lanes(d);
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t v = 0; v < V; ++v) {
      const hn::Vec<D> a = bias ? hn::Add(acc[o][v], hn::Set(d, bias[o])) : acc[o][v];
      hn::StoreU(a, d, out + o * out_stride + v * L);
    }
}

// One tile: OB output channels x V vectors (of the tag's width) of samples at s, out; each
// tap's window vectors loaded where they lie.
template <std::size_t OB, std::size_t V, class D, typename T = hn::TFromD<D>>
HWY_INLINE void correlate_tile(D d, const T* HWY_RESTRICT w, std::size_t C, std::size_t K, std::size_t dil,
                               const T* HWY_RESTRICT s, std::size_t s_stride, const T* HWY_RESTRICT bias,
                               T* HWY_RESTRICT out, std::size_t out_stride) {
  const std::size_t L = hn::Lanes(d);
  using Vec = hn::Vec<D>;
  Vec acc[OB][V];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t v = 0; v < V; ++v) acc[o][v] = hn::Zero(d);
  for (std::size_t c = 0; c < C; ++c) {
    const T* sc = s + c * s_stride;
    const T* wc = w + c * K * OB;
    for (std::size_t k = 0; k < K; ++k) {
      Vec win[V];
      for (std::size_t v = 0; v < V; ++v) win[v] = hn::LoadU(d, sc + k * dil + v * L);
      multiply_add_tap<OB, V>(d, win, wc + k * OB, acc);
    }
  }
  store_tile<OB, V>(d, acc, bias, out, out_stride);
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// With AVX-512, a tile's window vectors for taps k0 .. k0 + L - 1 (dilation 1) are cut from
// V + 1 vectors loaded once: tap k0 + p's vector v is lanes p .. p + L - 1 of vectors v and
// v + 1 side by side (one valignd, a shuffle, instead of a load that straddles two cache
// lines; those loads held the kernel to about 75% of the FMA peak). The same values, so the
// same sums, bit for bit.
constexpr bool kCutWindows = true;
template <int p>
HWY_INLINE hn::Vec512<float> lanes_from(hn::Vec512<float> lo, hn::Vec512<float> hi) {
  if constexpr (p == 0) return lo;
  return hn::Vec512<float>{
      _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(hi.raw), _mm512_castps_si512(lo.raw), p))};
}
template <int p>
HWY_INLINE hn::Vec512<double> lanes_from(hn::Vec512<double> lo, hn::Vec512<double> hi) {
  if constexpr (p == 0) return lo;
  return hn::Vec512<double>{
      _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(hi.raw), _mm512_castpd_si512(lo.raw), p))};
}

// Tap k0 + p of the tile when p < taps: its window vectors cut from A, then its multiply-adds.
template <int p, std::size_t OB, std::size_t V, class D, typename T = hn::TFromD<D>>
HWY_INLINE void multiply_add_cut_tap(D d, const hn::Vec<D> (&A)[V + 1], const T* HWY_RESTRICT wk,
                                     std::size_t taps, hn::Vec<D> (&acc)[OB][V]) {
  if (std::size_t(p) >= taps) return;
  hn::Vec<D> win[V];
  for (std::size_t v = 0; v < V; ++v) win[v] = lanes_from<p>(A[v], A[v + 1]);
  multiply_add_tap<OB, V>(d, win, wk + std::size_t(p) * OB, acc);
}
template <std::size_t OB, std::size_t V, class D, int... p, typename T = hn::TFromD<D>>
HWY_INLINE void multiply_add_cut_taps(D d, const hn::Vec<D> (&A)[V + 1], const T* HWY_RESTRICT wk,
                                      std::size_t taps, hn::Vec<D> (&acc)[OB][V],
                                      std::integer_sequence<int, p...>) {
  (multiply_add_cut_tap<p, OB, V>(d, A, wk, taps, acc), ...);
}

// correlate_tile for dilation 1 with the window vectors cut from aligned-or-not loads of
// V + 1 vectors per L taps. Reads s[c s_stride + 0 .. (K - 1) / L L + (V + 1) L - 1].
template <std::size_t OB, std::size_t V, class D, typename T = hn::TFromD<D>>
HWY_INLINE void correlate_tile_cut(D d, const T* HWY_RESTRICT w, std::size_t C, std::size_t K,
                                   const T* HWY_RESTRICT s, std::size_t s_stride, const T* HWY_RESTRICT bias,
                                   T* HWY_RESTRICT out, std::size_t out_stride) {
  constexpr std::size_t L = 64 / sizeof(T);
  using Vec = hn::Vec<D>;
  Vec acc[OB][V];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t v = 0; v < V; ++v) acc[o][v] = hn::Zero(d);
  for (std::size_t c = 0; c < C; ++c) {
    const T* sc = s + c * s_stride;
    const T* wc = w + c * K * OB;
    for (std::size_t k0 = 0; k0 < K; k0 += L) {
      Vec A[V + 1];
      for (std::size_t v = 0; v <= V; ++v) A[v] = hn::LoadU(d, sc + k0 + v * L);
      multiply_add_cut_taps<OB, V>(d, A, wc + k0 * OB, K - k0, acc,
                                   std::make_integer_sequence<int, int(L)>());
    }
  }
  store_tile<OB, V>(d, acc, bias, out, out_stride);
}
#else
constexpr bool kCutWindows = false;
// Lanes p.. of lo and hi side by side, through memory (unused: kCutWindows is false here).
template <int p, class V>
HWY_INLINE V lanes_from(V lo, V hi) {
  using D = hn::DFromV<V>;
  const D d;
  HWY_ALIGN hn::TFromD<D> both[2 * HWY_MAX_BYTES / sizeof(hn::TFromD<D>)];
  hn::StoreU(lo, d, both);
  hn::StoreU(hi, d, both + hn::Lanes(d));
  return hn::LoadU(d, both + p);
}
#endif

// The V-vector tile at sample i of a block of P: cut windows where they apply, the kernel has
// at least L / 2 taps and the reads stay within the window (i + (K - 1) / L L + (V + 1) L <=
// P + K - 1), else loaded windows. (With fewer taps the V + 1 loads save few loads, and the
// cuts measured slower than the loads: at K = 3, 64 channels, 3.8 ms against 3.5 ms.)
template <std::size_t OB, std::size_t V, class D, typename T = hn::TFromD<D>>
HWY_INLINE void correlate_tile_at(D d, const T* w, std::size_t C, std::size_t K, std::size_t dil, const T* s,
                                  std::size_t s_stride, const T* bias, T* out, std::size_t out_stride,
                                  std::size_t i, std::size_t P) {
  if constexpr (kCutWindows) {
    const std::size_t L = hn::Lanes(d);
    if (dil == 1 && L == 64 / sizeof(T) && 2 * K >= L && i + (K - 1) / L * L + (V + 1) * L <= P + K - 1)
      return correlate_tile_cut<OB, V>(d, w, C, K, s + i, s_stride, bias, out + i, out_stride);
  }
  correlate_tile<OB, V>(d, w, C, K, dil, s + i, s_stride, bias, out + i, out_stride);
}

// The block of P samples: V-vector tiles, then single vectors, then single lanes.
template <std::size_t OB, std::size_t V, typename T>
void correlate_rows(const T* w, std::size_t C, std::size_t K, std::size_t dil, const T* s,
                    std::size_t s_stride, const T* bias, T* out, std::size_t out_stride, std::size_t P) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 1> d1;
  const std::size_t L = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + V * L <= P; i += V * L)
    correlate_tile_at<OB, V>(d, w, C, K, dil, s, s_stride, bias, out, out_stride, i, P);
  for (; i + L <= P; i += L)
    correlate_tile_at<OB, 1>(d, w, C, K, dil, s, s_stride, bias, out, out_stride, i, P);
  for (; i < P; ++i) correlate_tile<OB, 1>(d1, w, C, K, dil, s + i, s_stride, bias, out + i, out_stride);
}

template <typename T>
void correlate_channels_impl(const T* w, std::size_t OB, std::size_t C, std::size_t K, std::size_t dil,
                             const T* s, std::size_t s_stride, const T* bias, T* out, std::size_t out_stride,
                             std::size_t P) {
  switch (OB) {  // OB V accumulators, at most 24 of the 32 vector registers
    case 8:
      return correlate_rows<8, 3>(w, C, K, dil, s, s_stride, bias, out, out_stride, P);
    case 7:
      return correlate_rows<7, 3>(w, C, K, dil, s, s_stride, bias, out, out_stride, P);
    case 6:
      return correlate_rows<6, 4>(w, C, K, dil, s, s_stride, bias, out, out_stride, P);
    case 5:
      return correlate_rows<5, 4>(w, C, K, dil, s, s_stride, bias, out, out_stride, P);
    case 4:
      return correlate_rows<4, 4>(w, C, K, dil, s, s_stride, bias, out, out_stride, P);
    case 3:
      return correlate_rows<3, 4>(w, C, K, dil, s, s_stride, bias, out, out_stride, P);
    case 2:
      return correlate_rows<2, 6>(w, C, K, dil, s, s_stride, bias, out, out_stride, P);
    default:
      return correlate_rows<1, 8>(w, C, K, dil, s, s_stride, bias, out, out_stride, P);
  }
}

// acc[o][c] += s[c][i + off] r[o][i] over the vectors of [i0, i1) (the tag's width).
template <std::size_t OB, std::size_t CB, class D, typename T = hn::TFromD<D>>
HWY_INLINE void accumulate_tile(D d, const T* HWY_RESTRICT s, std::size_t s_stride, const T* HWY_RESTRICT r,
                                std::size_t r_stride, std::size_t i0, std::size_t i1,
                                hn::Vec<D> (&acc)[OB][CB]) {
  const std::size_t L = hn::Lanes(d);
  for (std::size_t i = i0; i + L <= i1; i += L) {
    hn::Vec<D> rv[OB], sv[CB];
    for (std::size_t o = 0; o < OB; ++o) rv[o] = hn::LoadU(d, r + o * r_stride + i);
    for (std::size_t c = 0; c < CB; ++c) sv[c] = hn::LoadU(d, s + c * s_stride + i);
    for (std::size_t o = 0; o < OB; ++o)
      for (std::size_t c = 0; c < CB; ++c) acc[o][c] = hn::MulAdd(sv[c], rv[o], acc[o][c]);
  }
}

// G[(o C + c) K + k] += the block's sums for OB x CB channels at (o0, c0) and one tap k.
template <std::size_t OB, std::size_t CB, typename T>
void accumulate_channels_tap(const T* s, std::size_t s_stride, const T* r, std::size_t r_stride,
                             std::size_t P, std::size_t C, std::size_t K, std::size_t k, double* G) {
  const hn::ScalableTag<T> d;
  const hn::CappedTag<T, 1> d1;
  const std::size_t L = hn::Lanes(d), Pv = P / L * L;
  hn::Vec<decltype(d)> acc[OB][CB];
  hn::Vec<decltype(d1)> tail[OB][CB];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t c = 0; c < CB; ++c) acc[o][c] = hn::Zero(d), tail[o][c] = hn::Zero(d1);
  accumulate_tile<OB, CB>(d, s, s_stride, r, r_stride, 0, Pv, acc);
  accumulate_tile<OB, CB>(d1, s, s_stride, r, r_stride, Pv, P, tail);
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t c = 0; c < CB; ++c)
      G[(o * C + c) * K + k] +=
          static_cast<double>(hn::GetLane(hn::SumOfLanes(d, acc[o][c])) + hn::GetLane(tail[o][c]));
}

template <std::size_t OB, typename T>
void accumulate_channels_rows(const T* s, std::size_t s_stride, std::size_t C, const T* r,
                              std::size_t r_stride, std::size_t P, std::size_t K, std::size_t dil,
                              double* G) {
  std::size_t c = 0;
  for (; c + 4 <= C; c += 4)
    for (std::size_t k = 0; k < K; ++k)
      accumulate_channels_tap<OB, 4>(s + c * s_stride + k * dil, s_stride, r, r_stride, P, C, K, k,
                                     G + c * K);
  for (; c < C; ++c)
    for (std::size_t k = 0; k < K; ++k)
      accumulate_channels_tap<OB, 1>(s + c * s_stride + k * dil, s_stride, r, r_stride, P, C, K, k,
                                     G + c * K);
}

// The same sums with the vector lanes over the taps instead of the samples (dilation 1):
// for each sample i, the CB window vectors s_c[i + k0 .. i + k0 + L - 1] (taps k0.. as lanes)
// times the OB broadcast residuals r_o[i] go into OB x CB accumulators of L taps each, kept in
// registers over the whole block: CB loads and OB broadcasts feed OB CB multiply-adds, and no
// lanes are ever added together (each lane is one tap's sum, formed sample by sample in T).
// The last `pad` samples are done one lane at a time, so that no load reads past tap Kc - 1.
template <std::size_t OB, std::size_t CB, typename T>
void accumulate_taps_tile(const T* HWY_RESTRICT s, std::size_t s_stride, const T* HWY_RESTRICT r,
                          std::size_t r_stride, std::size_t P, std::size_t C, std::size_t K, std::size_t k0,
                          double* HWY_RESTRICT G) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d), lanes = std::min(L, K - k0), pad = std::min(P, L - lanes);
  using Vec = hn::Vec<decltype(d)>;
  Vec acc[OB][CB];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t c = 0; c < CB; ++c) acc[o][c] = hn::Zero(d);
  for (std::size_t i = 0; i < P - pad; ++i) {
    Vec sv[CB];
    for (std::size_t c = 0; c < CB; ++c) sv[c] = hn::LoadU(d, s + c * s_stride + i + k0);
    for (std::size_t o = 0; o < OB; ++o) {
      const Vec ro = hn::Set(d, r[o * r_stride + i]);
      for (std::size_t c = 0; c < CB; ++c) acc[o][c] = hn::MulAdd(sv[c], ro, acc[o][c]);
    }
  }
  HWY_ALIGN T sums[OB * CB * (HWY_MAX_BYTES / sizeof(T))];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t c = 0; c < CB; ++c) hn::Store(acc[o][c], d, sums + (o * CB + c) * L);
  for (std::size_t i = P - pad; i < P; ++i)
    for (std::size_t o = 0; o < OB; ++o)
      for (std::size_t c = 0; c < CB; ++c)
        for (std::size_t k = 0; k < lanes; ++k)
          sums[(o * CB + c) * L + k] += s[c * s_stride + i + k0 + k] * r[o * r_stride + i];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t c = 0; c < CB; ++c)
      for (std::size_t k = 0; k < lanes; ++k)
        G[(o * C + c) * K + k0 + k] += static_cast<double>(sums[(o * CB + c) * L + k]);
}

// Output channels (up to 6, OB) by input channels (4, then one at a time) by chunks of L taps.
template <std::size_t OB, typename T>
void accumulate_taps_rows(const T* s, std::size_t s_stride, std::size_t C, const T* r, std::size_t r_stride,
                          std::size_t P, std::size_t K, double* G) {
  const std::size_t L = hn::Lanes(hn::ScalableTag<T>());
  std::size_t c = 0;
  for (; c + 4 <= C; c += 4)
    for (std::size_t k0 = 0; k0 < K; k0 += L)
      accumulate_taps_tile<OB, 4>(s + c * s_stride, s_stride, r, r_stride, P, C, K, k0, G + c * K);
  for (; c < C; ++c)
    for (std::size_t k0 = 0; k0 < K; k0 += L)
      accumulate_taps_tile<OB, 1>(s + c * s_stride, s_stride, r, r_stride, P, C, K, k0, G + c * K);
}

// Whether the taps-as-lanes kernel applies and wastes at most half of its lanes on taps that
// do not exist (the last chunk of L lanes holds K mod L taps).
template <typename T>
bool taps_as_lanes(std::size_t K, std::size_t dil) {
  const std::size_t L = hn::Lanes(hn::ScalableTag<T>());
  return dil == 1 && (K + L - 1) / L * L <= 2 * K;
}

template <typename T>
void accumulate_taps(const T* s, std::size_t s_stride, std::size_t C, const T* r, std::size_t r_stride,
                     std::size_t O, std::size_t P, std::size_t K, double* G) {
  std::size_t o = 0;
  for (; o + 6 <= O; o += 6)
    accumulate_taps_rows<6>(s, s_stride, C, r + o * r_stride, r_stride, P, K, G + o * C * K);
  switch (O - o) {
    case 5:
      return accumulate_taps_rows<5>(s, s_stride, C, r + o * r_stride, r_stride, P, K, G + o * C * K);
    case 4:
      return accumulate_taps_rows<4>(s, s_stride, C, r + o * r_stride, r_stride, P, K, G + o * C * K);
    case 3:
      return accumulate_taps_rows<3>(s, s_stride, C, r + o * r_stride, r_stride, P, K, G + o * C * K);
    case 2:
      return accumulate_taps_rows<2>(s, s_stride, C, r + o * r_stride, r_stride, P, K, G + o * C * K);
    case 1:
      return accumulate_taps_rows<1>(s, s_stride, C, r + o * r_stride, r_stride, P, K, G + o * C * K);
    default:
      return;
  }
}

// Short kernels (dilation 1, KC taps, fewer than half a vector): the sums of KC taps of OB x CB
// channels, OB CB KC vector accumulators over the samples as lanes, held over the block and
// their lanes added once at its end. Per vector of samples: OB residual loads and, per input
// channel, the window vectors of all KC taps cut from two loads (kCutWindows) or loaded.
template <int k, std::size_t KC, std::size_t OB, std::size_t CB, class D, typename T = hn::TFromD<D>>
HWY_INLINE void accumulate_short_tap(D d, const T* HWY_RESTRICT sc, const hn::Vec<D> (&rv)[OB],
                                     const hn::Vec<D> (&A)[2], std::size_t c, hn::Vec<D> (&acc)[OB][CB][KC]) {
  const hn::Vec<D> sv = kCutWindows ? lanes_from<k>(A[0], A[1]) : hn::LoadU(d, sc + k);
  for (std::size_t o = 0; o < OB; ++o) acc[o][c][k] = hn::MulAdd(sv, rv[o], acc[o][c][k]);
}
template <std::size_t KC, std::size_t OB, std::size_t CB, class D, int... k, typename T = hn::TFromD<D>>
HWY_INLINE void accumulate_short_step(D d, const T* HWY_RESTRICT s, std::size_t s_stride,
                                      const T* HWY_RESTRICT r, std::size_t r_stride, std::size_t i,
                                      hn::Vec<D> (&acc)[OB][CB][KC], std::integer_sequence<int, k...>) {
  const std::size_t L = hn::Lanes(d);
  hn::Vec<D> rv[OB];
  for (std::size_t o = 0; o < OB; ++o) rv[o] = hn::LoadU(d, r + o * r_stride + i);
  for (std::size_t c = 0; c < CB; ++c) {
    const T* sc = s + c * s_stride + i;
    hn::Vec<D> A[2] = {hn::LoadU(d, sc), hn::Zero(d)};
    if (kCutWindows) A[1] = hn::LoadU(d, sc + L);
    (accumulate_short_tap<k, KC, OB, CB>(d, sc, rv, A, c, acc), ...);
  }
}

// G[(o C + c) K + k] += sum_{i < P} s_c[i + k] r_o[i] for OB x CB channels, k < KC.
template <std::size_t KC, std::size_t OB, std::size_t CB, typename T>
void accumulate_short_tile(const T* s, std::size_t s_stride, const T* r, std::size_t r_stride, std::size_t P,
                           std::size_t C, double* G) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d);
  hn::Vec<decltype(d)> acc[OB][CB][KC];
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t c = 0; c < CB; ++c)
      for (std::size_t k = 0; k < KC; ++k) acc[o][c][k] = hn::Zero(d);
  // Cut windows read s_c[i + 2 L - 1], within the window while i + 2 L <= P + KC - 1.
  const std::size_t cut_end = kCutWindows ? (P + KC - 1 >= 2 * L ? P + KC - 1 - 2 * L + 1 : 0) : P;
  std::size_t i = 0;
  for (; i + L <= P && i < cut_end; i += L)
    accumulate_short_step<KC, OB, CB>(d, s, s_stride, r, r_stride, i, acc,
                                      std::make_integer_sequence<int, int(KC)>());
  for (; i + L <= P; i += L)  // the last vectors, loaded where they lie
    for (std::size_t o = 0; o < OB; ++o)
      for (std::size_t c = 0; c < CB; ++c)
        for (std::size_t k = 0; k < KC; ++k)
          acc[o][c][k] = hn::MulAdd(hn::LoadU(d, s + c * s_stride + i + k),
                                    hn::LoadU(d, r + o * r_stride + i), acc[o][c][k]);
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t c = 0; c < CB; ++c)
      for (std::size_t k = 0; k < KC; ++k) {
        T tail = 0;  // the last P mod L samples
        for (std::size_t j = i; j < P; ++j) tail += s[c * s_stride + j + k] * r[o * r_stride + j];
        G[(o * C + c) * KC + k] += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, acc[o][c][k])) + tail);
      }
}

// Output channels by OB (then one at a time), input channels by CB (then one at a time):
// OB CB KC <= 24 accumulators.
template <std::size_t KC, typename T>
void accumulate_short(const T* s, std::size_t s_stride, std::size_t C, const T* r, std::size_t r_stride,
                      std::size_t O, std::size_t P, double* G) {
  constexpr std::size_t OB = KC <= 6 ? 4 : 3, CB = std::max<std::size_t>(1, 24 / (OB * KC));
  const auto rows = [&](auto ob, const T* ro, double* Go) {
    std::size_t c = 0;
    for (; c + CB <= C; c += CB)
      accumulate_short_tile<KC, decltype(ob)::value, CB>(s + c * s_stride, s_stride, ro, r_stride, P, C,
                                                         Go + c * KC);
    for (; c < C; ++c)
      accumulate_short_tile<KC, decltype(ob)::value, 1>(s + c * s_stride, s_stride, ro, r_stride, P, C,
                                                        Go + c * KC);
  };
  std::size_t o = 0;
  for (; o + OB <= O; o += OB)
    rows(std::integral_constant<std::size_t, OB>(), r + o * r_stride, G + o * C * KC);
  for (; o < O; ++o) rows(std::integral_constant<std::size_t, 1>(), r + o * r_stride, G + o * C * KC);
}

// The short kernels for K < L / 2 taps (those the taps-as-lanes kernel would waste over half
// its lanes on), dilation 1; false when they do not apply.
template <typename T>
bool accumulate_short_taps(const T* s, std::size_t s_stride, std::size_t C, const T* r, std::size_t r_stride,
                           std::size_t O, std::size_t P, std::size_t K, std::size_t dil, double* G) {
  if (dil != 1) return false;
  switch (K) {
    case 1:
      return accumulate_short<1>(s, s_stride, C, r, r_stride, O, P, G), true;
    case 2:
      return accumulate_short<2>(s, s_stride, C, r, r_stride, O, P, G), true;
    case 3:
      return accumulate_short<3>(s, s_stride, C, r, r_stride, O, P, G), true;
    case 4:
      return accumulate_short<4>(s, s_stride, C, r, r_stride, O, P, G), true;
    case 5:
      return accumulate_short<5>(s, s_stride, C, r, r_stride, O, P, G), true;
    case 6:
      return accumulate_short<6>(s, s_stride, C, r, r_stride, O, P, G), true;
    case 7:
      return accumulate_short<7>(s, s_stride, C, r, r_stride, O, P, G), true;
    default:
      return false;
  }
}

template <typename T>
void correlate_accumulate_channels_impl(const T* s, std::size_t s_stride, std::size_t C, const T* r,
                                        std::size_t r_stride, std::size_t O, std::size_t P, std::size_t K,
                                        std::size_t dil, double* G) {
  if (taps_as_lanes<T>(K, dil)) return accumulate_taps(s, s_stride, C, r, r_stride, O, P, K, G);
  if (accumulate_short_taps(s, s_stride, C, r, r_stride, O, P, K, dil, G)) return;
  std::size_t o = 0;
  for (; o + 4 <= O; o += 4)
    accumulate_channels_rows<4>(s, s_stride, C, r + o * r_stride, r_stride, P, K, dil, G + o * C * K);
  for (; o < O; ++o)
    accumulate_channels_rows<1>(s, s_stride, C, r + o * r_stride, r_stride, P, K, dil, G + o * C * K);
}

// sum v[i] in double: two vectors of double lanes (v widened), then the lanes, then the rest.
template <typename T>
double sum_impl(const T* HWY_RESTRICT v, std::size_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<T, decltype(dd)> d;  // as many T as dd has doubles
  const std::size_t L = hn::Lanes(dd);
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd);
  std::size_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    if constexpr (sizeof(T) == sizeof(double)) {
      acc0 = hn::Add(acc0, hn::LoadU(d, v + i));
      acc1 = hn::Add(acc1, hn::LoadU(d, v + i + L));
    } else {
      acc0 = hn::Add(acc0, hn::PromoteTo(dd, hn::LoadU(d, v + i)));
      acc1 = hn::Add(acc1, hn::PromoteTo(dd, hn::LoadU(d, v + i + L)));
    }
  }
  double total = hn::GetLane(hn::SumOfLanes(dd, hn::Add(acc0, acc1)));
  for (; i < n; ++i) total += static_cast<double>(v[i]);
  return total;
}

// y += a b or conj(a) b, split complex, whole vectors then one bin at a time.
template <typename T>
void multiply_add_spectra_impl(const T* HWY_RESTRICT ar, const T* HWY_RESTRICT ai, const T* HWY_RESTRICT br,
                               const T* HWY_RESTRICT bi, T* HWY_RESTRICT yr, T* HWY_RESTRICT yi,
                               std::size_t n, bool conj_a) {
  const hn::ScalableTag<T> d;
  const std::size_t L = hn::Lanes(d);
  std::size_t f = 0;
  if (conj_a) {
    for (; f + L <= n; f += L) {
      const auto a_r = hn::LoadU(d, ar + f), a_i = hn::LoadU(d, ai + f);
      const auto b_r = hn::LoadU(d, br + f), b_i = hn::LoadU(d, bi + f);
      hn::StoreU(hn::MulAdd(a_i, b_i, hn::MulAdd(a_r, b_r, hn::LoadU(d, yr + f))), d, yr + f);
      hn::StoreU(hn::NegMulAdd(a_i, b_r, hn::MulAdd(a_r, b_i, hn::LoadU(d, yi + f))), d, yi + f);
    }
    for (; f < n; ++f) {
      yr[f] += ar[f] * br[f] + ai[f] * bi[f];
      yi[f] += ar[f] * bi[f] - ai[f] * br[f];
    }
  } else {
    for (; f + L <= n; f += L) {
      const auto a_r = hn::LoadU(d, ar + f), a_i = hn::LoadU(d, ai + f);
      const auto b_r = hn::LoadU(d, br + f), b_i = hn::LoadU(d, bi + f);
      hn::StoreU(hn::NegMulAdd(a_i, b_i, hn::MulAdd(a_r, b_r, hn::LoadU(d, yr + f))), d, yr + f);
      hn::StoreU(hn::MulAdd(a_i, b_r, hn::MulAdd(a_r, b_i, hn::LoadU(d, yi + f))), d, yi + f);
    }
    for (; f < n; ++f) {
      yr[f] += ar[f] * br[f] - ai[f] * bi[f];
      yi[f] += ar[f] * bi[f] + ai[f] * br[f];
    }
  }
}

// g += conj(r) x: the product in T (as many lanes of T as a double vector has), widened and
// added in double.
template <typename T>
void accumulate_conj_spectra_impl(const T* HWY_RESTRICT rr, const T* HWY_RESTRICT ri,
                                  const T* HWY_RESTRICT xr, const T* HWY_RESTRICT xi, double* HWY_RESTRICT gr,
                                  double* HWY_RESTRICT gi, std::size_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<T, decltype(dd)> d;
  const std::size_t L = hn::Lanes(dd);
  std::size_t f = 0;
  for (; f + L <= n; f += L) {
    const auto r_r = hn::LoadU(d, rr + f), r_i = hn::LoadU(d, ri + f);
    const auto x_r = hn::LoadU(d, xr + f), x_i = hn::LoadU(d, xi + f);
    const auto re = hn::MulAdd(r_r, x_r, hn::Mul(r_i, x_i)), im = hn::MulSub(r_r, x_i, hn::Mul(r_i, x_r));
    if constexpr (sizeof(T) == sizeof(double)) {
      hn::StoreU(hn::Add(hn::LoadU(dd, gr + f), re), dd, gr + f);
      hn::StoreU(hn::Add(hn::LoadU(dd, gi + f), im), dd, gi + f);
    } else {
      hn::StoreU(hn::Add(hn::LoadU(dd, gr + f), hn::PromoteTo(dd, re)), dd, gr + f);
      hn::StoreU(hn::Add(hn::LoadU(dd, gi + f), hn::PromoteTo(dd, im)), dd, gi + f);
    }
  }
  for (; f < n; ++f) {
    gr[f] += static_cast<double>(rr[f] * xr[f] + ri[f] * xi[f]);
    gi[f] += static_cast<double>(rr[f] * xi[f] - ri[f] * xr[f]);
  }
}

void multiply_add_spectra_f32(const float* ar, const float* ai, const float* br, const float* bi, float* yr,
                              float* yi, std::size_t n, bool conj_a) {
  multiply_add_spectra_impl(ar, ai, br, bi, yr, yi, n, conj_a);
}
void multiply_add_spectra_f64(const double* ar, const double* ai, const double* br, const double* bi,
                              double* yr, double* yi, std::size_t n, bool conj_a) {
  multiply_add_spectra_impl(ar, ai, br, bi, yr, yi, n, conj_a);
}
void accumulate_conj_spectra_f32(const float* rr, const float* ri, const float* xr, const float* xi,
                                 double* gr, double* gi, std::size_t n) {
  accumulate_conj_spectra_impl(rr, ri, xr, xi, gr, gi, n);
}
void accumulate_conj_spectra_f64(const double* rr, const double* ri, const double* xr, const double* xi,
                                 double* gr, double* gi, std::size_t n) {
  accumulate_conj_spectra_impl(rr, ri, xr, xi, gr, gi, n);
}

double sum_f32(const float* v, std::size_t n) { return sum_impl(v, n); }
double sum_f64(const double* v, std::size_t n) { return sum_impl(v, n); }

void correlate_channels_f32(const float* w, std::size_t OB, std::size_t C, std::size_t K, std::size_t dil,
                            const float* s, std::size_t s_stride, const float* bias, float* out,
                            std::size_t out_stride, std::size_t P) {
  correlate_channels_impl(w, OB, C, K, dil, s, s_stride, bias, out, out_stride, P);
}
void correlate_channels_f64(const double* w, std::size_t OB, std::size_t C, std::size_t K, std::size_t dil,
                            const double* s, std::size_t s_stride, const double* bias, double* out,
                            std::size_t out_stride, std::size_t P) {
  correlate_channels_impl(w, OB, C, K, dil, s, s_stride, bias, out, out_stride, P);
}
void correlate_accumulate_channels_f32(const float* s, std::size_t s_stride, std::size_t C, const float* r,
                                       std::size_t r_stride, std::size_t O, std::size_t P, std::size_t K,
                                       std::size_t dil, double* G) {
  correlate_accumulate_channels_impl(s, s_stride, C, r, r_stride, O, P, K, dil, G);
}
void correlate_accumulate_channels_f64(const double* s, std::size_t s_stride, std::size_t C, const double* r,
                                       std::size_t r_stride, std::size_t O, std::size_t P, std::size_t K,
                                       std::size_t dil, double* G) {
  correlate_accumulate_channels_impl(s, s_stride, C, r, r_stride, O, P, K, dil, G);
}

}  // namespace HWY_NAMESPACE
}  // namespace convgrad::detail::channels::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace convgrad::detail::channels::simd {

HWY_EXPORT(sum_f32);
HWY_EXPORT(sum_f64);
HWY_EXPORT(correlate_channels_f32);
HWY_EXPORT(correlate_channels_f64);
HWY_EXPORT(correlate_accumulate_channels_f32);
HWY_EXPORT(correlate_accumulate_channels_f64);
HWY_EXPORT(multiply_add_spectra_f32);
HWY_EXPORT(multiply_add_spectra_f64);
HWY_EXPORT(accumulate_conj_spectra_f32);
HWY_EXPORT(accumulate_conj_spectra_f64);

double sum(const float* v, std::size_t n) { return HWY_DYNAMIC_DISPATCH(sum_f32)(v, n); }
double sum(const double* v, std::size_t n) { return HWY_DYNAMIC_DISPATCH(sum_f64)(v, n); }

void multiply_add_spectra(const float* ar, const float* ai, const float* br, const float* bi, float* yr,
                          float* yi, std::size_t n, bool conj_a) {
  HWY_DYNAMIC_DISPATCH(multiply_add_spectra_f32)(ar, ai, br, bi, yr, yi, n, conj_a);
}
void multiply_add_spectra(const double* ar, const double* ai, const double* br, const double* bi, double* yr,
                          double* yi, std::size_t n, bool conj_a) {
  HWY_DYNAMIC_DISPATCH(multiply_add_spectra_f64)(ar, ai, br, bi, yr, yi, n, conj_a);
}
void accumulate_conj_spectra(const float* rr, const float* ri, const float* xr, const float* xi, double* gr,
                             double* gi, std::size_t n) {
  HWY_DYNAMIC_DISPATCH(accumulate_conj_spectra_f32)(rr, ri, xr, xi, gr, gi, n);
}
void accumulate_conj_spectra(const double* rr, const double* ri, const double* xr, const double* xi,
                             double* gr, double* gi, std::size_t n) {
  HWY_DYNAMIC_DISPATCH(accumulate_conj_spectra_f64)(rr, ri, xr, xi, gr, gi, n);
}

void correlate_channels(const float* w, std::size_t OB, std::size_t C, std::size_t K, std::size_t dil,
                        const float* s, std::size_t s_stride, const float* bias, float* out,
                        std::size_t out_stride, std::size_t P) {
  HWY_DYNAMIC_DISPATCH(correlate_channels_f32)(w, OB, C, K, dil, s, s_stride, bias, out, out_stride, P);
}
void correlate_channels(const double* w, std::size_t OB, std::size_t C, std::size_t K, std::size_t dil,
                        const double* s, std::size_t s_stride, const double* bias, double* out,
                        std::size_t out_stride, std::size_t P) {
  HWY_DYNAMIC_DISPATCH(correlate_channels_f64)(w, OB, C, K, dil, s, s_stride, bias, out, out_stride, P);
}
void correlate_accumulate_channels(const float* s, std::size_t s_stride, std::size_t C, const float* r,
                                   std::size_t r_stride, std::size_t O, std::size_t P, std::size_t K,
                                   std::size_t dil, double* G) {
  HWY_DYNAMIC_DISPATCH(correlate_accumulate_channels_f32)(s, s_stride, C, r, r_stride, O, P, K, dil, G);
}
void correlate_accumulate_channels(const double* s, std::size_t s_stride, std::size_t C, const double* r,
                                   std::size_t r_stride, std::size_t O, std::size_t P, std::size_t K,
                                   std::size_t dil, double* G) {
  HWY_DYNAMIC_DISPATCH(correlate_accumulate_channels_f64)(s, s_stride, C, r, r_stride, O, P, K, dil, G);
}

}  // namespace convgrad::detail::channels::simd
#endif  // HWY_ONCE
