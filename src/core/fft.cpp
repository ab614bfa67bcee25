// The convolution forms of the derivation, computed through FFTW real transforms:
//
//   yhat = h * x                      yhat[n] = c[n - lo],          c = h * x (full)
//   dh   = r * xflip                  dh[j]   = c[lo + j + N - 1],  c = xflip * r
//   dx   = r * hflip                  dx[k]   = c[k + hi],          c = hflip * r
//
// (xflip[s] = x[N-1-s]: "the residual convolved with the flipped input".)
// Taps with |m| >= N never touch the signal; they are clipped away first (their yhat
// contribution and their dh are zero), so a kernel far longer than the signal costs nothing.
#include <fftw3.h>

#include <algorithm>
#include <complex>
#include <memory>
#include <mutex>
#include <vector>

#include "convgrad/errors.hpp"
#include "kernels.hpp"

namespace convgrad::detail::fft {
namespace {

// FFTW's planner is not thread-safe; executing a plan is.
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

// FFTW's float and double APIs behind one name.
template <std::floating_point T>
struct Fftw;
template <>
struct Fftw<double> {
  using plan = fftw_plan;
  using complex = fftw_complex;
  static void* malloc(std::size_t bytes) { return fftw_malloc(bytes); }
  static void free(void* p) { fftw_free(p); }
  static plan r2c(int n, double* in, complex* out) { return fftw_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE); }
  static plan c2r(int n, complex* in, double* out) { return fftw_plan_dft_c2r_1d(n, in, out, FFTW_ESTIMATE); }
  static void execute(plan p) { fftw_execute(p); }
  static void destroy(plan p) { fftw_destroy_plan(p); }
};
template <>
struct Fftw<float> {
  using plan = fftwf_plan;
  using complex = fftwf_complex;
  static void* malloc(std::size_t bytes) { return fftwf_malloc(bytes); }
  static void free(void* p) { fftwf_free(p); }
  static plan r2c(int n, float* in, complex* out) { return fftwf_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE); }
  static plan c2r(int n, complex* in, float* out) { return fftwf_plan_dft_c2r_1d(n, in, out, FFTW_ESTIMATE); }
  static void execute(plan p) { fftwf_execute(p); }
  static void destroy(plan p) { fftwf_destroy_plan(p); }
};

template <std::floating_point T>
struct FftwBuffer {
  explicit FftwBuffer(std::size_t count) : ptr(static_cast<T*>(Fftw<T>::malloc(count * sizeof(T)))) {
    if (!ptr) throw resource_limit("fft: cannot allocate " + std::to_string(count * sizeof(T)) + " bytes");
  }
  ~FftwBuffer() { Fftw<T>::free(ptr); }
  FftwBuffer(const FftwBuffer&) = delete;
  FftwBuffer& operator=(const FftwBuffer&) = delete;
  T* ptr;
};

// out[i] = (a * b)[first + i], the full linear convolution (length Na + Nb - 1, zero
// outside), through length-L real transforms with L >= Na + Nb - 1 so nothing wraps.
template <std::floating_point T>
void convolve_range(std::span<const T> a, std::span<const T> b, std::int64_t first, std::span<T> out) {
  using F = Fftw<T>;
  const std::size_t full = a.size() + b.size() - 1;
  const std::size_t L = good_size(full);
  const std::size_t bins = L / 2 + 1;
  FftwBuffer<T> ra(L), rb(L), spec_a(2 * bins), spec_b(2 * bins);
  auto* A = reinterpret_cast<typename F::complex*>(spec_a.ptr);
  auto* B = reinterpret_cast<typename F::complex*>(spec_b.ptr);
  typename F::plan fa, fb, inv;
  {
    std::lock_guard lock(planner_mutex());
    fa = F::r2c(static_cast<int>(L), ra.ptr, A);
    fb = F::r2c(static_cast<int>(L), rb.ptr, B);
    inv = F::c2r(static_cast<int>(L), A, ra.ptr);
  }
  std::fill(std::copy(a.begin(), a.end(), ra.ptr), ra.ptr + L, T{0});
  std::fill(std::copy(b.begin(), b.end(), rb.ptr), rb.ptr + L, T{0});
  F::execute(fa);
  F::execute(fb);
  for (std::size_t k = 0; k < bins; ++k) {  // A <- A B (complex product)
    const T re = A[k][0] * B[k][0] - A[k][1] * B[k][1];
    const T im = A[k][0] * B[k][1] + A[k][1] * B[k][0];
    A[k][0] = re;
    A[k][1] = im;
  }
  F::execute(inv);  // unnormalised: scale by 1/L
  const T scale = T{1} / static_cast<T>(L);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::int64_t c = first + static_cast<std::int64_t>(i);
    out[i] = (c >= 0 && c < static_cast<std::int64_t>(full)) ? ra.ptr[c] * scale : T{0};
  }
  {
    std::lock_guard lock(planner_mutex());
    F::destroy(fa);
    F::destroy(fb);
    F::destroy(inv);
  }
}

// The taps that can touch a signal of N samples: m in [lo, hi] with |m| <= N - 1.
// Returns false when none can.
bool clip_taps(Taps taps, std::int64_t N, Taps& clipped) {
  clipped.lo = std::max(taps.lo, -(N - 1));
  clipped.hi = std::min(taps.hi, N - 1);
  return clipped.lo <= clipped.hi;
}

template <std::floating_point T>
std::span<const T> sub_kernel(std::span<const T> h, Taps taps, Taps clipped) {
  return h.subspan(static_cast<std::size_t>(clipped.lo - taps.lo), clipped.K());
}

}  // namespace

std::size_t good_size(std::size_t n) {
  for (std::size_t m = std::max<std::size_t>(n, 1);; ++m) {
    std::size_t r = m;
    for (std::size_t p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat) {
  const auto N = static_cast<std::int64_t>(x.size());
  Taps c;
  if (!clip_taps(taps, N, c)) return std::fill(yhat.begin(), yhat.end(), T{0});
  convolve_range(sub_kernel(h, taps, c), x, -c.lo, yhat);
}

template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh) {
  const auto N = static_cast<std::int64_t>(x.size());
  std::fill(dh.begin(), dh.end(), T{0});
  Taps c;
  if (!clip_taps(taps, N, c)) return;
  const std::vector<T> xflip(x.rbegin(), x.rend());
  convolve_range<T>(xflip, r, c.lo + N - 1, dh.subspan(static_cast<std::size_t>(c.lo - taps.lo), c.K()));
}

template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx) {
  const auto N = static_cast<std::int64_t>(r.size());
  Taps c;
  if (!clip_taps(taps, N, c)) return std::fill(dx.begin(), dx.end(), T{0});
  const auto hc = sub_kernel(h, taps, c);
  const std::vector<T> hflip(hc.rbegin(), hc.rend());
  convolve_range<T>(hflip, r, c.hi, dx);
}

template void conv<float>(std::span<const float>, Taps, std::span<const float>, std::span<float>);
template void conv<double>(std::span<const double>, Taps, std::span<const double>, std::span<double>);
template void grad_kernel<float>(std::span<const float>, std::span<const float>, Taps, std::span<float>);
template void grad_kernel<double>(std::span<const double>, std::span<const double>, Taps, std::span<double>);
template void grad_input<float>(std::span<const float>, Taps, std::span<const float>, std::span<float>);
template void grad_input<double>(std::span<const double>, Taps, std::span<const double>, std::span<double>);

}  // namespace convgrad::detail::fft
