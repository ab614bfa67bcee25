// The O(N K) sums of the scalar chain rule, arranged so the inner loops are contiguous
// (they vectorise) and the outer loops split the signal into fixed chunks (OpenMP).
//
// Determinism: the chunking depends only on N, never on the thread count, and per-chunk
// partial sums are combined in chunk order, so any number of threads gives identical bits.
// Accuracy: long sums (dh) accumulate in blocks of kBlock samples in T, and the block sums
// in double, so float32 error does not grow with N.
#include <algorithm>
#include <vector>

#include "kernels.hpp"

namespace convgrad::detail::direct {
namespace {

constexpr std::int64_t kBlock = 1024;        // samples summed in T before widening to double
constexpr std::int64_t kMinChunk = 16384;    // samples per parallel chunk, at least
constexpr std::int64_t kMaxChunks = 64;      // bound on the partial-sum storage of dh

std::int64_t chunk_length(std::int64_t N) {
  return std::max(kMinChunk, (N + kMaxChunks - 1) / kMaxChunks);
}

// out[n] = sum_j w[j] in[n - s_j],  s_j = sign * (lo + j),  over n in [n0, n1),
// in = 0 outside [0, N). conv is sign = +1 (in = x, w = h); grad_input is sign = -1 (in = r).
template <std::floating_point T>
void shifted_sums(std::span<const T> w, Taps taps, int sign, std::span<const T> in,
                  std::span<T> out, std::int64_t n0, std::int64_t n1) {
  const auto N = static_cast<std::int64_t>(in.size());
  std::fill(out.begin() + n0, out.begin() + n1, T{0});
  for (std::size_t j = 0; j < w.size(); ++j) {
    const std::int64_t s = sign * tap(taps, j);
    // valid n: 0 <= n - s < N  and  n0 <= n < n1
    const std::int64_t lo = std::max(n0, s), hi = std::min(n1, N + s);
    const T wj = w[j];
    T* o = out.data();
    const T* i = in.data();
#pragma omp simd
    for (std::int64_t n = lo; n < hi; ++n) o[n] += wj * i[n - s];
  }
}

template <std::floating_point T>
void shifted_sums_parallel(std::span<const T> w, Taps taps, int sign, std::span<const T> in,
                           std::span<T> out) {
  const auto N = static_cast<std::int64_t>(in.size());
  const std::int64_t C = chunk_length(N);
  const std::int64_t chunks = (N + C - 1) / C;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::int64_t c = 0; c < chunks; ++c)
    shifted_sums(w, taps, sign, in, out, c * C, std::min(N, (c + 1) * C));
}

// sum_{n in [lo, hi)} a[n - m] b[n], in blocks of kBlock summed in T, blocks summed in double.
template <std::floating_point T>
double shifted_dot(const T* a, const T* b, std::int64_t m, std::int64_t lo, std::int64_t hi) {
  double total = 0;
  for (std::int64_t b0 = lo; b0 < hi; b0 += kBlock) {
    const std::int64_t b1 = std::min(hi, b0 + kBlock);
    T block = 0;
#pragma omp simd reduction(+ : block)
    for (std::int64_t n = b0; n < b1; ++n) block += a[n - m] * b[n];
    total += block;
  }
  return total;
}

}  // namespace

template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat) {
  shifted_sums_parallel(h, taps, +1, x, yhat);
}

// dx[k] = sum_m h[m] r[k+m]: the same shifted sums as conv, with the shift reversed.
template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx) {
  shifted_sums_parallel(h, taps, -1, r, dx);
}

// dh[m] = sum_n x[n-m] r[n]: one dot product per tap, split over fixed chunks of n.
template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh) {
  const auto N = static_cast<std::int64_t>(x.size());
  const std::size_t K = dh.size();
  const std::int64_t C = chunk_length(N);
  const std::int64_t chunks = (N + C - 1) / C;
  std::vector<double> partial(static_cast<std::size_t>(chunks) * K);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t n0 = c * C, n1 = std::min(N, n0 + C);
    for (std::size_t j = 0; j < K; ++j) {
      const std::int64_t m = tap(taps, j);
      // valid n: 0 <= n - m < N  and  n0 <= n < n1
      const std::int64_t lo = std::max(n0, m), hi = std::min(n1, N + m);
      partial[static_cast<std::size_t>(c) * K + j] =
          lo < hi ? shifted_dot(x.data(), r.data(), m, lo, hi) : 0.0;
    }
  }
  for (std::size_t j = 0; j < K; ++j) {
    double sum = 0;
    for (std::int64_t c = 0; c < chunks; ++c) sum += partial[static_cast<std::size_t>(c) * K + j];
    dh[j] = static_cast<T>(sum);
  }
}

template void conv<float>(std::span<const float>, Taps, std::span<const float>, std::span<float>);
template void conv<double>(std::span<const double>, Taps, std::span<const double>, std::span<double>);
template void grad_kernel<float>(std::span<const float>, std::span<const float>, Taps, std::span<float>);
template void grad_kernel<double>(std::span<const double>, std::span<const double>, Taps, std::span<double>);
template void grad_input<float>(std::span<const float>, Taps, std::span<const float>, std::span<float>);
template void grad_input<double>(std::span<const double>, Taps, std::span<const double>, std::span<double>);

}  // namespace convgrad::detail::direct
