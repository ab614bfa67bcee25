// Batched conv / grad_kernel / grad_input over the rows of a B x N array (batch.hpp): a loop
// over rows calling the single-signal kernels, so every row is bitwise what ops.hpp gives.
#include "convgrad/batch.hpp"

#include <string>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/interrupt.hpp"

namespace convgrad {
namespace {

// B, the number of rows of length n in a B x N array of `size` values named `what`.
std::size_t rows_of(std::size_t size, std::size_t n, const char* what) {
  if (n == 0) throw invalid_argument(std::string(what) + " is empty: a signal needs at least one sample");
  if (size % n != 0)
    throw invalid_argument(std::string(what) + ": " + std::to_string(size) +
                           " values are not whole rows of " + std::to_string(n));
  return size / n;
}

void require_same_size(std::size_t got, std::size_t want, const char* what, const char* like) {
  if (got != want)
    throw invalid_argument(std::string(what) + " has " + std::to_string(got) + " values but " + like +
                           " has " + std::to_string(want) + " (they must have the same shape)");
}

// Runs `one` on each row, naming the row in the library's message when a row is refused.
template <typename F>
void each_row(std::size_t B, const char* what, F&& one) {
  for (std::size_t b = 0; b < B; ++b) {
    poll_interrupt(what);
    try {
      one(b);
    } catch (const non_finite_input& e) {
      throw non_finite_input("row " + std::to_string(b) + ": " + e.what(), e.index);
    } catch (const invalid_argument& e) {
      throw invalid_argument("row " + std::to_string(b) + ": " + e.what());
    }
  }
}

}  // namespace

template <std::floating_point T>
void conv_rows(std::span<const T> X, std::size_t n, std::span<const T> h, Taps taps, std::span<T> Y,
               Method method) {
  const std::size_t B = rows_of(X.size(), n, "x");
  require_same_size(Y.size(), X.size(), "yhat", "x");
  each_row(B, "conv_rows", [&](std::size_t b) {
    conv<T>(X.subspan(b * n, n), h, taps, Y.subspan(b * n, n), method);  // Y[b] = h * X[b]
  });
}

template <std::floating_point T>
void grad_kernel_rows(std::span<const T> X, std::span<const T> R, std::size_t n, Taps taps, std::span<T> dh,
                      Method method) {
  const std::size_t B = rows_of(X.size(), n, "x");
  require_same_size(R.size(), X.size(), "r", "x");
  require_same_size(dh.size(), taps.K(), "dh", "the taps");
  // dh = sum_b dh_b: each row's dh_b exact to rounding in T, the sum over rows in double.
  std::vector<double> sum(taps.K(), 0.0);
  std::vector<T> row(taps.K());
  each_row(B, "grad_kernel_rows", [&](std::size_t b) {
    grad_kernel<T>(X.subspan(b * n, n), R.subspan(b * n, n), taps, row, method);
    for (std::size_t j = 0; j < row.size(); ++j) sum[j] += static_cast<double>(row[j]);
  });
  for (std::size_t j = 0; j < dh.size(); ++j) dh[j] = static_cast<T>(sum[j]);
}

template <std::floating_point T>
void grad_input_rows(std::span<const T> R, std::size_t n, std::span<const T> h, Taps taps, std::span<T> DX,
                     Method method) {
  const std::size_t B = rows_of(R.size(), n, "r");
  require_same_size(DX.size(), R.size(), "dx", "r");
  each_row(B, "grad_input_rows", [&](std::size_t b) {
    grad_input<T>(R.subspan(b * n, n), h, taps, DX.subspan(b * n, n),
                  method);  // DX[b][k] = sum_m h[m] R[b][k+m]
  });
}

#define CONVGRAD_INSTANTIATE(T)                                                                              \
  template void conv_rows<T>(std::span<const T>, std::size_t, std::span<const T>, Taps, std::span<T>,        \
                             Method);                                                                        \
  template void grad_kernel_rows<T>(std::span<const T>, std::span<const T>, std::size_t, Taps, std::span<T>, \
                                    Method);                                                                 \
  template void grad_input_rows<T>(std::span<const T>, std::size_t, std::span<const T>, Taps, std::span<T>,  \
                                   Method);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad
