// Internals shared by the fit room: one pass over (a subset of) the data set computing the
// objective and its gradient with reusable buffers.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
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

// The dominant eigenvalue of a symmetric positive semidefinite operator A on R^n by power
// iteration, v <- A v / ||A v||, from a random start seeded with `seed` (almost surely not
// orthogonal to the top eigenvector). `rayleigh(v, w)` is given a unit vector v, writes w = A v
// and returns the Rayleigh quotient v^T A v / v^T v (the caller computes it, so that it may first
// round v to its working type); the quotients rise towards lambda_max. Stops when one changes by
// at most `rel_tol` (relative), when A v = 0, or after `max_iter` products; `what` names the work
// for poll_interrupt. Every eigenvalue estimate of the fit room (largest_eigenvalue, the exact
// solvers' condition numbers: with A^{-1}, the reciprocal of lambda_min) is this loop.
double power_iteration(std::size_t n,
                       const std::function<double(std::span<const double>, std::span<double>)>& rayleigh,
                       double rel_tol, std::size_t max_iter, std::uint64_t seed, const char* what);

// v^T w / v^T v in double, v in its working type T (power_iteration's quotient after rounding).
template <std::floating_point T>
double rayleigh_quotient(std::span<const T> v, std::span<const double> w);

// The exact solvers' condition estimates above kExactEigenTaps unknowns (gram.cpp), for n x n
// row-major matrices: lambda_max of a symmetric positive semidefinite A by power iteration, and
// lambda_min of A = L L^T by inverse iteration through its Cholesky factor L (lower triangle read).
// `what` names the solver for poll_interrupt.
double largest_eigenvalue_dense(std::span<const double> A, std::size_t n, const char* what);
double smallest_eigenvalue_cholesky(std::span<const double> L, std::size_t n, const char* what);

// The seed of every largest-eigenvalue estimate (the same start gives the same bits everywhere).
inline constexpr std::uint64_t kPowerSeed = 0x5eed;

// What the iterative solvers (solvers.cpp) need of a least-squares problem
//
//   F(h) = sum_{p = 0..P-1} 1/2 ||r_p(h)||^2 + ridge/2 ||h||^2,   r_p(h) = A_p h - y_p,
//
// whatever h and its parts are: one filter over P recording pairs (fit), or every filter h_{o,c}
// of a multi-input, multi-output system over its P = C_out outputs (fit_mimo). gd, nesterov and
// adam, their stopping rules and history, run on this interface alone.
template <std::floating_point T>
class Objective {
 public:
  virtual ~Objective() = default;
  // The number of unknowns in h.
  virtual std::size_t unknowns() const = 0;
  // P: the parts of the loss; mini-batches draw from them, part losses have one entry each.
  virtual std::size_t parts() const = 0;
  // F_B(h) = scale * sum_{p in B} 1/2 ||r_p||^2 + ridge/2 ||h||^2 and its gradient
  //   scale * sum_{p in B} A_p^T r_p + ridge h    (into `grad`, size unknowns(), if non-empty)
  // over the parts in `batch` (all when empty); unscaled part losses into `part_loss` (size P)
  // when non-null.
  virtual double pass(std::span<const T> h, std::span<const std::size_t> batch, double ridge, double scale,
                      std::span<double> grad, std::vector<double>* part_loss) = 0;
  // The norms loss_rounding_bound takes, one entry per part: ||x|| (the inputs part p sees),
  // ||y_p|| and its length. The bound uses ||h||_1 and h's size for K: with every filter in h
  // that only over-states the rounding of each part's sums.
  virtual PairNorms norms() = 0;
  // lambda_max of sum_p A_p^T A_p (no ridge) by power_iteration.
  virtual double largest_eigenvalue(double rel_tol, std::size_t max_iter) = 0;
};

// Runs options.solver (gd, nesterov or adam; options already validated) on f from h, which it
// updates in place, filling res's iterations, stop_reason, history, lambda_max, step and
// step_halvings (not h, loss, grad_norm or pair_loss: the caller evaluates its result).
template <std::floating_point T>
void iterate(Objective<T>& f, const FitOptions& options, std::vector<T>& h, FitResult<T>& res);

// The chunk room (gram.cpp, stream.cpp).

// resource_limit "exact solver: out of memory allocating the K x K <role> (<copies K^2 doubles> MiB)".
[[noreturn]] void throw_gram_out_of_memory(std::size_t K, const char* role, int copies);

// Width of a normal-equations value: [G (K x K, row-major), b (K), yy].
std::size_t normal_width(std::size_t K);

// One chunk's normal equations, into out, from its window xw (stream.hpp's Window) and rows yr
// starting at xw's index rows_at.
void normal_leaf(std::span<const double> xw, std::span<const double> yr, std::size_t rows_at, Taps taps,
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
