// The direct channel method's inner loops with Highway (see simd.hpp for what each computes).
//
// correlate_channels keeps OB x V output vectors in registers (OB output channels, V vectors of
// samples) while it runs over the input channels and taps: one load of a window vector feeds
// OB multiply-adds, one broadcast weight feeds V. correlate_accumulate_channels keeps 4 x 4
// (output, input) channel sums of one tap in registers while it runs over the block: 8 loads
// feed 16 multiply-adds. The FFT method's per-bin products of split spectra are here too.
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
HWY_EXPORT(multiply_add_spectra_f32);
HWY_EXPORT(multiply_add_spectra_f64);
HWY_EXPORT(accumulate_conj_spectra_f32);
HWY_EXPORT(accumulate_conj_spectra_f64);

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
