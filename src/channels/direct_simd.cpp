// The direct channel method's inner loops with Highway (see simd.hpp for what each computes).
//
// correlate_channels keeps OB x V output vectors in registers (OB output channels, V vectors of
// samples) while it runs over the input channels and taps: one load of a window vector feeds
// OB multiply-adds, one broadcast weight feeds V. correlate_accumulate_channels keeps 4 x 4
// (output, input) channel sums of one tap in registers while it runs over the block: 8 loads
// feed 16 multiply-adds.
//
// Compiled once per instruction set (hwy/foreach_target.h re-includes it).
#include <cstddef>

#include "channels/simd.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "channels/direct_simd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace convgrad::detail::channels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// One tile: OB output channels x V vectors (of the tag's width) of samples at s, out.
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
      const T* p = sc + k * dil;
      Vec win[V];
      for (std::size_t v = 0; v < V; ++v) win[v] = hn::LoadU(d, p + v * L);
      for (std::size_t o = 0; o < OB; ++o) {
        const Vec wo = hn::Set(d, wc[k * OB + o]);
        for (std::size_t v = 0; v < V; ++v) acc[o][v] = hn::MulAdd(wo, win[v], acc[o][v]);
      }
    }
  }
  for (std::size_t o = 0; o < OB; ++o)
    for (std::size_t v = 0; v < V; ++v) {
      const Vec a = bias ? hn::Add(acc[o][v], hn::Set(d, bias[o])) : acc[o][v];
      hn::StoreU(a, d, out + o * out_stride + v * L);
    }
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
    correlate_tile<OB, V>(d, w, C, K, dil, s + i, s_stride, bias, out + i, out_stride);
  for (; i + L <= P; i += L)
    correlate_tile<OB, 1>(d, w, C, K, dil, s + i, s_stride, bias, out + i, out_stride);
  for (; i < P; ++i) correlate_tile<OB, 1>(d1, w, C, K, dil, s + i, s_stride, bias, out + i, out_stride);
}

template <typename T>
void correlate_channels_impl(const T* w, std::size_t OB, std::size_t C, std::size_t K, std::size_t dil,
                             const T* s, std::size_t s_stride, const T* bias, T* out, std::size_t out_stride,
                             std::size_t P) {
  switch (OB) {
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

template <typename T>
void correlate_accumulate_channels_impl(const T* s, std::size_t s_stride, std::size_t C, const T* r,
                                        std::size_t r_stride, std::size_t O, std::size_t P, std::size_t K,
                                        std::size_t dil, double* G) {
  std::size_t o = 0;
  for (; o + 4 <= O; o += 4)
    accumulate_channels_rows<4>(s, s_stride, C, r + o * r_stride, r_stride, P, K, dil, G + o * C * K);
  for (; o < O; ++o)
    accumulate_channels_rows<1>(s, s_stride, C, r + o * r_stride, r_stride, P, K, dil, G + o * C * K);
}

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

HWY_EXPORT(correlate_channels_f32);
HWY_EXPORT(correlate_channels_f64);
HWY_EXPORT(correlate_accumulate_channels_f32);
HWY_EXPORT(correlate_accumulate_channels_f64);

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
