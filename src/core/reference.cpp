// The seed's sums, literally. Short and obvious on purpose: every fast path in this
// library is tested against these loops.
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

template void conv<float>(std::span<const float>, Taps, std::span<const float>, std::span<float>);
template void conv<double>(std::span<const double>, Taps, std::span<const double>, std::span<double>);
template void grad_kernel<float>(std::span<const float>, std::span<const float>, Taps, std::span<float>);
template void grad_kernel<double>(std::span<const double>, std::span<const double>, Taps, std::span<double>);
template void grad_input<float>(std::span<const float>, Taps, std::span<const float>, std::span<float>);
template void grad_input<double>(std::span<const double>, Taps, std::span<const double>, std::span<double>);

}  // namespace convgrad::detail::reference
