// The Jacobian way: materialise dL/dyhat (1 x N), dyhat/dh (N x K), dyhat/dx (N x N)
// and multiply them as matrices.
#include "convgrad/jacobian.hpp"

#include <cmath>
#include <cstdio>
#include <string>

#include "convgrad/errors.hpp"
#include "kernels.hpp"

namespace convgrad {

namespace detail::jacobian {
template <std::floating_point T>
void require_within_budget(std::size_t rows, std::size_t cols, std::size_t budget, const char* what) {
  const long double bytes = static_cast<long double>(rows) * cols * sizeof(T);
  if (bytes > static_cast<long double>(budget)) {
    // MiB rounded up for people, and the exact bytes so that two nearby sizes never read alike.
    auto size = [](long double b) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%.0Lf MiB (%.0Lf bytes)", std::ceil(b / (1 << 20)), b);
      return std::string(buf);
    };
    throw resource_limit(std::string("jacobian: ") + what + " is " + std::to_string(rows) + " x " +
                         std::to_string(cols) + " and would need " + size(bytes) + ", above the budget of " +
                         size(budget) + "; use method direct or fft for signals this long");
  }
}
}  // namespace detail::jacobian

// r^T: the derivative of 1/2 sum r^2 with respect to yhat is r, written as a row.
template <std::floating_point T>
Matrix<T> jacobian_loss_yhat(std::span<const T> r) {
  return Matrix<T>{1, r.size(), std::vector<T>(r.begin(), r.end())};
}

// J_h[n][j] = d yhat[n] / d h[m] = x[n - m], m = lo + j (0 outside the signal).
template <std::floating_point T>
Matrix<T> jacobian_yhat_h(std::span<const T> x, Taps taps, std::size_t budget) {
  const std::size_t N = x.size(), K = taps.K();
  detail::jacobian::require_within_budget<T>(N, K, budget, "dyhat/dh");
  Matrix<T> J{N, K, std::vector<T>(N * K, T{0})};
  const auto Ns = static_cast<std::int64_t>(N);
  for (std::int64_t n = 0; n < Ns; ++n)
    for (std::size_t j = 0; j < K; ++j) {
      const std::int64_t i = n - detail::tap(taps, j);
      if (i >= 0 && i < Ns) J.data[static_cast<std::size_t>(n) * K + j] = x[i];
    }
  return J;
}

// J_x[n][k] = d yhat[n] / d x[k] = h[n - k] when n - k is a tap, else 0 (a banded Toeplitz matrix).
template <std::floating_point T>
Matrix<T> jacobian_yhat_x(std::span<const T> h, Taps taps, std::size_t n, std::size_t budget) {
  detail::jacobian::require_within_budget<T>(n, n, budget, "dyhat/dx");
  Matrix<T> J{n, n, std::vector<T>(n * n, T{0})};
  const auto N = static_cast<std::int64_t>(n);
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t k = 0; k < N; ++k) {
      const std::int64_t m = i - k;
      if (m >= taps.lo && m <= taps.hi) J.data[static_cast<std::size_t>(i * N + k)] = h[m - taps.lo];
    }
  return J;
}

// (a b)[i][j] = sum_q a[i][q] b[q][j]: defined only when a's columns match b's rows.
template <std::floating_point T>
Matrix<T> matmul(const Matrix<T>& a, const Matrix<T>& b) {
  if (a.cols != b.rows)
    throw invalid_argument("matmul: shapes " + std::to_string(a.rows) + " x " + std::to_string(a.cols) +
                           " and " + std::to_string(b.rows) + " x " + std::to_string(b.cols) +
                           " do not fit: the inner sizes " + std::to_string(a.cols) + " and " +
                           std::to_string(b.rows) + " differ");
  Matrix<T> c{a.rows, b.cols, std::vector<T>(a.rows * b.cols, T{0})};
  for (std::size_t i = 0; i < a.rows; ++i)
    for (std::size_t q = 0; q < a.cols; ++q)
      for (std::size_t j = 0; j < b.cols; ++j) c.data[i * b.cols + j] += a(i, q) * b(q, j);
  return c;
}

namespace detail::jacobian {

template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh, std::size_t budget) {
  const Matrix<T> dh_row = matmul(jacobian_loss_yhat(r), jacobian_yhat_h(x, taps, budget));  // 1 x K
  std::copy(dh_row.data.begin(), dh_row.data.end(), dh.begin());
}

template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx, std::size_t budget) {
  const Matrix<T> dx_row =
      matmul(jacobian_loss_yhat(r), jacobian_yhat_x(h, taps, r.size(), budget));  // 1 x N
  std::copy(dx_row.data.begin(), dx_row.data.end(), dx.begin());
}

// yhat = J_h h (N x K times K x 1): the model is linear in h, so its Jacobian is the model.
template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat, std::size_t budget) {
  const Matrix<T> column{h.size(), 1, std::vector<T>(h.begin(), h.end())};
  const Matrix<T> y = matmul(jacobian_yhat_h(x, taps, budget), column);
  std::copy(y.data.begin(), y.data.end(), yhat.begin());
}

}  // namespace detail::jacobian

#define CONVGRAD_INSTANTIATE(T)                                                                              \
  template void detail::jacobian::require_within_budget<T>(std::size_t, std::size_t, std::size_t,            \
                                                           const char*);                                     \
  template Matrix<T> jacobian_loss_yhat<T>(std::span<const T>);                                              \
  template Matrix<T> jacobian_yhat_h<T>(std::span<const T>, Taps, std::size_t);                              \
  template Matrix<T> jacobian_yhat_x<T>(std::span<const T>, Taps, std::size_t, std::size_t);                 \
  template Matrix<T> matmul<T>(const Matrix<T>&, const Matrix<T>&);                                          \
  template void detail::jacobian::grad_kernel<T>(std::span<const T>, std::span<const T>, Taps, std::span<T>, \
                                                 std::size_t);                                               \
  template void detail::jacobian::grad_input<T>(std::span<const T>, Taps, std::span<const T>, std::span<T>,  \
                                                std::size_t);                                                \
  template void detail::jacobian::conv<T>(std::span<const T>, Taps, std::span<const T>, std::span<T>,        \
                                          std::size_t);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad
