// SIMD inner kernels of the direct channel method (Highway, dynamic dispatch, as core/simd.hpp).
//
// Both kernels work on one block of P samples whose windows the caller has laid out so that
// no bounds check is needed: channel c's window is s + c * s_stride and covers every index the
// block touches. The channel sum is a small matrix product: up to 8 output channels (OB) are
// formed together, so each window vector loaded feeds OB multiply-adds held in registers. The
// order of operations depends only on the sizes, never on the thread that runs the block.
#pragma once

#include <cstddef>

namespace convgrad::detail::channels::simd {

// out[o * out_stride + i] = sum_{c < C} sum_{k < K} w[(c K + k) OB + o] s[c s_stride + i + dil k]
//                           (+ bias[o] when bias is not null, added last),   o < OB, i < P.
// OB is 1..8. Reads s[c s_stride + 0 .. P - 1 + dil (K - 1)].
void correlate_channels(const float* w, std::size_t OB, std::size_t C, std::size_t K, std::size_t dil,
                        const float* s, std::size_t s_stride, const float* bias, float* out,
                        std::size_t out_stride, std::size_t P);
void correlate_channels(const double* w, std::size_t OB, std::size_t C, std::size_t K, std::size_t dil,
                        const double* s, std::size_t s_stride, const double* bias, double* out,
                        std::size_t out_stride, std::size_t P);

// G[(o C + c) K + k] += sum_{i < P} s[c s_stride + i + dil k] r[o r_stride + i],
//                       o < O, c < C, k < K (any O and C).
// Each sum is formed in T over the block (over the sample lanes, then the lanes added; or, with
// dilation 1 and at least half a vector of taps, each tap's sum in one lane sample by sample),
// then added to the double G: blockwise accumulation, as core/simd.hpp's correlate_accumulate.
// The order of the sums depends only on the sizes and the instruction set.
void correlate_accumulate_channels(const float* s, std::size_t s_stride, std::size_t C, const float* r,
                                   std::size_t r_stride, std::size_t O, std::size_t P, std::size_t K,
                                   std::size_t dil, double* G);
void correlate_accumulate_channels(const double* s, std::size_t s_stride, std::size_t C, const double* r,
                                   std::size_t r_stride, std::size_t O, std::size_t P, std::size_t K,
                                   std::size_t dil, double* G);

// sum_{i < n} v[i] in double (vector lanes, then the lanes added): dbias's sums.
double sum(const float* v, std::size_t n);
double sum(const double* v, std::size_t n);

// Spectra kept split (real parts, imaginary parts), bin by bin over n bins:
//   y += a b   (conj_a: y += conj(a) b)
void multiply_add_spectra(const float* ar, const float* ai, const float* br, const float* bi, float* yr,
                          float* yi, std::size_t n, bool conj_a);
void multiply_add_spectra(const double* ar, const double* ai, const double* br, const double* bi, double* yr,
                          double* yi, std::size_t n, bool conj_a);
//   g += conj(r) x, the product formed in T and added in double.
void accumulate_conj_spectra(const float* rr, const float* ri, const float* xr, const float* xi, double* gr,
                             double* gi, std::size_t n);
void accumulate_conj_spectra(const double* rr, const double* ri, const double* xr, const double* xi,
                             double* gr, double* gi, std::size_t n);

}  // namespace convgrad::detail::channels::simd
