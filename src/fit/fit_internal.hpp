// Internals shared by the fit room: one pass over (a subset of) the data set computing the
// objective and its gradient with reusable buffers.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "convgrad/fit.hpp"
#include "convgrad/numbers.hpp"
#include "convgrad/stream.hpp"

namespace convgrad::detail::fit {

// Buffers for one pass, allocated once: the gradient of one pair (the training step,
// loss_and_dh, keeps yhat and r in its own block buffers).
template <std::floating_point T>
struct Workspace {
  std::vector<T> dh;
  explicit Workspace(std::size_t K);
};

// F_B(h) = scale * sum_{p in B} 1/2 ||X_p h - y_p||^2 + ridge/2 ||h||^2 and its gradient
//   g = scale * sum_{p in B} X_p^T r_p + ridge h       (into `grad`, size K, if non-empty)
// over the pairs listed in `batch` (all pairs when empty). Per-pair losses (unscaled) go to
// `pair_loss` (size P) when it is non-null. Sums accumulate in double in pair order.
// The pairs must have been validated.
template <std::floating_point T>
double pass(std::span<const Pair<T>> data, std::span<const std::size_t> batch, std::span<const T> h,
            Taps taps, double ridge, double scale, std::span<double> grad, std::vector<double>* pair_loss,
            Method method, Workspace<T>& work);

using convgrad::norm2;  // convgrad/numbers.hpp

// The one check of a ridge penalty: invalid_argument "ridge: ..." unless finite and >= 0.
void require_ridge(double ridge);

// The one message for finite data whose products overflow T, whichever solver, method or
// quantity met the overflow first (the FFT's sums as NaN, direct sums as inf).
template <std::floating_point T>
std::string data_too_large();

// ||x_p||_2 and ||y_p||_2 of every pair, computed once for loss_rounding's bound.
struct PairNorms {
  std::vector<double> x, y;
  std::vector<std::size_t> n;
};
template <std::floating_point T>
PairNorms pair_norms(std::span<const Pair<T>> data);

// The bound of loss_rounding (fit.hpp) from precomputed norms: sum over pairs of
//   ||r_p|| dr_p + dr_p^2 / 2 + eps_double N_p L_p,   dr_p = eps_T ((K+1) ||h||_1 ||x_p|| + ||y_p||).
template <std::floating_point T>
double loss_rounding_bound(const PairNorms& norms, std::span<const T> h, std::span<const double> pair_loss);

// The chunk room (gram.cpp, stream.cpp).

// resource_limit "exact solver: out of memory allocating the K x K <role> (<copies K^2 doubles> MiB)".
[[noreturn]] void throw_gram_out_of_memory(std::size_t K, const char* role, int copies);

// Width of a normal-equations value: [G (K x K, row-major), b (K), yy].
std::size_t normal_width(std::size_t K);

// One chunk's normal equations from its window xw (rows + K - 1 samples) and rows yr, into out.
void normal_leaf(std::span<const double> xw, std::span<const double> yr, std::size_t K,
                 std::span<double> out);

// Threads for computing chunks [a, b) side by side: OpenMP's maximum (0) when the chunks are
// long enough to pay for waking a team, else 1 (short chunks: each kernel call decides alone).
// Any choice gives the same bits.
int chunk_threads(const ChunkPlan& plan, std::size_t a, std::size_t b);

// Chunk c of `plan` read from `source` (finite values checked, naming the pair), then normal_leaf.
template <std::floating_point T>
void source_normal_leaf(Source<T>& source, const ChunkPlan& plan, Taps taps, std::size_t c,
                        std::span<double> out);

}  // namespace convgrad::detail::fit

namespace convgrad {
// out[i] = v[first + i], zero outside [0, |v|).
template <std::floating_point T>
void copy_window(std::span<const T> v, std::int64_t first, std::span<T> out);
}  // namespace convgrad
