// Showing that the ways agree: finite differences, tolerances and the agreement report.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "convgrad/jacobian.hpp"
#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {

// Central finite differences of the loss:
//   dh[j] ~ (L(h + s e_j) - L(h - s e_j)) / (2 s),  s = cbrt(eps_T) * max(1, |h[j]|)
// The loss is evaluated in double through the reference loops, so for this quadratic loss
// the difference quotient is exact up to rounding of the two loss values.
template <std::floating_point T>
std::vector<double> finite_difference_grad_kernel(std::span<const T> x, std::span<const T> y,
                                                  std::span<const T> h, Taps taps);
template <std::floating_point T>
std::vector<double> finite_difference_grad_input(std::span<const T> x, std::span<const T> y,
                                                 std::span<const T> h, Taps taps);

// The documented agreement tolerance between two methods for outputs that are sums of at
// most `terms` products a_i b_i, computed in T (unit round-off eps_T):
//   tol = eps_T * (terms + 8 * ceil(log2(length))) * ||a||_2 * ||b||_2
// The first part is the classical worst-case bound for a sum of n products,
// |fl(s) - s| <= n eps sum |a_i b_i| <= n eps ||a|| ||b|| (Cauchy-Schwarz); the second covers
// the FFT route, whose round-off grows with log2 of the transform length (about `length`)
// times the same norms. Both methods may err, each within the bound; the 8 leaves room.
template <std::floating_point T>
double agreement_tolerance(std::size_t terms, std::size_t length, double norm_a, double norm_b);

// Central differences of a quadratic are exact except for the rounding of the two loss
// values. Each loss is a sum over N samples of squares of K-term sums; with `loss_scale` =
// 1/2 sum_n (sum_m |h[m] x[n-m]| + |y[n]|)^2 bounding every intermediate magnitude, one loss
// evaluation in double errs by at most eps_double * (N + K + 2) * loss_scale, and the quotient
// by twice that over 2 s:
//   tol_fd = eps_double * (N + K + 2) * loss_scale / s
double finite_difference_tolerance(std::size_t n, std::size_t k, double loss_scale, double step);

struct CheckRow {
  std::string method;       // "reference", "direct", ..., "finite-difference"
  std::string quantity;     // "dh" or "dx"
  double max_abs_diff = 0;  // against the reference
  double tolerance = 0;
  bool ok = true;
  bool skipped = false;  // e.g. jacobian above its memory budget
  std::string note;
};

struct CheckReport {
  std::size_t n = 0, k = 0;
  Taps taps;
  std::string dtype;
  double loss = 0;
  std::vector<CheckRow> rows;
  bool ok() const;
};

// Runs every method (and finite differences) on one case and compares each with the
// reference loops. `jacobian_budget` bounds the Jacobian method's matrices.
template <std::floating_point T>
CheckReport check_gradients(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                            std::size_t jacobian_budget = kDefaultJacobianBudget,
                            bool finite_differences = true);

}  // namespace convgrad
