// The seed's sums, literally. Short and obvious on purpose: every fast path in this
// library is tested against these loops, and Method::reference runs only these (the
// residual and the loss included), so the reference shares no code with what it checks.
#include <vector>

#include "kernels.hpp"

namespace convgrad::detail::reference {

// yhat[n] = sum_{m=lo..hi} h[m] x[n-m], x = 0 outside [0, N).
template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat) {
  const auto N = static_cast<std::int64_t>(x.size());
  for (std::int64_t n = 0; n < N; ++n) {
    T sum = 0;
    for (std::int64_t m = taps.lo; m <= taps.hi; ++m) {
      const std::int64_t i = n - m;
      if (i >= 0 && i < N) sum += h[m - taps.lo] * x[i];
    }
    yhat[n] = sum;
  }
}

// dh[m] = dL/dh[m] = sum_n dL/dyhat[n] * dyhat[n]/dh[m] = sum_n r[n] x[n-m].
template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh) {
  const auto N = static_cast<std::int64_t>(x.size());
  for (std::int64_t m = taps.lo; m <= taps.hi; ++m) {
    T sum = 0;
    for (std::int64_t n = 0; n < N; ++n) {
      const std::int64_t i = n - m;
      if (i >= 0 && i < N) sum += x[i] * r[n];
    }
    dh[m - taps.lo] = sum;
  }
}

// r[n] = yhat[n] - y[n]: the prediction minus the target.
template <std::floating_point T>
void residual(std::span<const T> yhat, std::span<const T> y, std::span<T> r) {
  for (std::size_t n = 0; n < r.size(); ++n) r[n] = yhat[n] - y[n];
}

// L = 1/2 sum_n r[n]^2, summed in double in index order. (Its derivative dL/dyhat[n] = r[n]
// is where the chain rule below starts.)
template <std::floating_point T>
double loss(std::span<const T> r) {
  double sum = 0;
  for (const T v : r) sum += static_cast<double>(v) * static_cast<double>(v);
  return 0.5 * sum;
}

// The same dh, read as a convolution of the residual with the flipped input:
//   xflip[s] = x[N-1-s]  (s = 0..N-1: x reversed in time),
//   (r * xflip)[p] = sum_n r[n] xflip[p-n]  (the full convolution, p = 0..2N-2),
//   dh[m] = (r * xflip)[m + N - 1]: there xflip[m + N-1 - n] = x[n-m], so this is
//   sum_n r[n] x[n-m] = dL/dh[m] term by term, in the same order as grad_kernel's sum.
template <std::floating_point T>
void grad_kernel_flipped(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh) {
  const auto N = static_cast<std::int64_t>(x.size());
  const std::vector<T> xflip(x.rbegin(), x.rend());
  for (std::int64_t m = taps.lo; m <= taps.hi; ++m) {
    const std::int64_t p = m + N - 1;
    T sum = 0;
    for (std::int64_t n = 0; n < N; ++n) {
      const std::int64_t s = p - n;
      if (s >= 0 && s < N) sum += xflip[s] * r[n];
    }
    dh[m - taps.lo] = sum;
  }
}

// dx[k] = dL/dx[k] = sum_n r[n] dyhat[n]/dx[k] = sum_m h[m] r[k+m]  (yhat[n] holds x[k] at m = n-k).
template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx) {
  const auto N = static_cast<std::int64_t>(r.size());
  for (std::int64_t k = 0; k < N; ++k) {
    T sum = 0;
    for (std::int64_t m = taps.lo; m <= taps.hi; ++m) {
      const std::int64_t n = k + m;
      if (n >= 0 && n < N) sum += h[m - taps.lo] * r[n];
    }
    dx[k] = sum;
  }
}

#define CONVGRAD_INSTANTIATE(T)                                                                     \
  template void conv<T>(std::span<const T>, Taps, std::span<const T>, std::span<T>);                \
  template void residual<T>(std::span<const T>, std::span<const T>, std::span<T>);                  \
  template double loss<T>(std::span<const T>);                                                      \
  template void grad_kernel<T>(std::span<const T>, std::span<const T>, Taps, std::span<T>);         \
  template void grad_kernel_flipped<T>(std::span<const T>, std::span<const T>, Taps, std::span<T>); \
  template void grad_input<T>(std::span<const T>, Taps, std::span<const T>, std::span<T>);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad::detail::reference
