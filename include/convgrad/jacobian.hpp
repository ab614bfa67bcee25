// "The Jacobian way": the gradient as a row vector times a matrix.
//
//   dL/dyhat  = r^T                         1 x N
//   dyhat/dh  = J_h,  J_h[n][j] = x[n - m]  N x K   (m = lo + j, x = 0 outside the signal)
//   dyhat/dx  = J_x,  J_x[n][k] = h[n - k]  N x N   (zero where n - k is not a tap)
//   dh = r^T J_h   (1 x N times N x K = 1 x K)
//   dx = r^T J_x   (1 x N times N x N = 1 x N)
//
// The matrices are materialised, so the method refuses work whose matrices would exceed
// a memory budget, naming the size it would need.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <vector>

#include "convgrad/taps.hpp"

namespace convgrad {

// The memory the Jacobian method may use for its matrices unless told otherwise (check.hpp,
// the Python package and the command use it too): 256 MiB.
inline constexpr std::size_t kDefaultJacobianBudget = std::size_t{256} << 20;

// A dense row-major matrix, small enough to print for teaching.
template <std::floating_point T>
struct Matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<T> data;  // rows * cols, row-major
  T operator()(std::size_t i, std::size_t j) const { return data[i * cols + j]; }
};

// dL/dyhat as a 1 x N matrix: r^T.
template <std::floating_point T>
Matrix<T> jacobian_loss_yhat(std::span<const T> r);

// dyhat/dh, N x K.
template <std::floating_point T>
Matrix<T> jacobian_yhat_h(std::span<const T> x, Taps taps, std::size_t budget = kDefaultJacobianBudget);

// dyhat/dx, N x N.
template <std::floating_point T>
Matrix<T> jacobian_yhat_x(std::span<const T> h, Taps taps, std::size_t n,
                          std::size_t budget = kDefaultJacobianBudget);

// a (p x q) times b (q x s): the plain triple loop. Throws invalid_argument when q differs,
// which is exactly why the element-wise "product" of the two Jacobians cannot be formed.
template <std::floating_point T>
Matrix<T> matmul(const Matrix<T>& a, const Matrix<T>& b);

}  // namespace convgrad
