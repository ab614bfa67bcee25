// The learnable filter, its loss and its gradients (DESIGN.md section 2).
//
//   yhat[n] = sum_{m=lo..hi} h[m] x[n-m]        n = 0..N-1, x = 0 outside [0, N)
//   r[n]    = yhat[n] - y[n]
//   loss    = 1/2 sum_n r[n]^2
//   dh[m]   = dL/dh[m] = sum_n x[n-m] r[n]      m = lo..hi
//   dx[k]   = dL/dx[k] = sum_m h[m] r[k+m]      r = 0 outside [0, N)
//
// Every function validates its arguments once, at this boundary (sizes, tap range, finite
// values), and throws convgrad::invalid_argument / non_finite_input with a message naming
// the argument. Primitives write into caller storage; overloads return vectors.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "convgrad/method.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {

// Throws non_finite_input naming `what` and the index of the first NaN or infinity.
template <std::floating_point T>
void require_finite(std::span<const T> v, std::string_view what);

// yhat = h * x ('same' length N).
template <std::floating_point T>
void conv(std::span<const T> x, std::span<const T> h, Taps taps, std::span<T> yhat,
          Method method = Method::automatic);
template <std::floating_point T>
std::vector<T> conv(std::span<const T> x, std::span<const T> h, Taps taps, Method method = Method::automatic);

// r = yhat - y (prediction minus target).
template <std::floating_point T>
void residual(std::span<const T> yhat, std::span<const T> y, std::span<T> r);

// loss = 1/2 sum r^2, accumulated in double whatever T is.
template <std::floating_point T>
double loss(std::span<const T> r);

// dh[m] = sum_n x[n-m] r[n]: the residual correlated with the input.
template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh,
                 Method method = Method::automatic);
template <std::floating_point T>
std::vector<T> grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps,
                           Method method = Method::automatic);

// The same dh read as a convolution of the residual with the flipped input,
// dh[m] = (r * xflip)[m + N - 1] with xflip[s] = x[N-1-s] (docs/derivation.md section 5), as
// literal O(N K) loops: for teaching and checking, not for speed.
template <std::floating_point T>
std::vector<T> grad_kernel_flipped(std::span<const T> x, std::span<const T> r, Taps taps);

// dx[k] = sum_m h[m] r[k+m]: the residual correlated with the kernel.
template <std::floating_point T>
void grad_input(std::span<const T> r, std::span<const T> h, Taps taps, std::span<T> dx,
                Method method = Method::automatic);
template <std::floating_point T>
std::vector<T> grad_input(std::span<const T> r, std::span<const T> h, Taps taps,
                          Method method = Method::automatic);

// The older argument order, kernel before signal: conv(h, taps, x) and grad_input(h, taps, r).
// The API has one order (docs/derivation.md, "Words"): signals first, then the kernel, then its
// tap range, then the method, as in grad_kernel(x, r, taps), loss_and_grad(x, y, h, taps) and
// Python's conv(x, h, lo). These forwarders keep existing callers compiling, with a warning.
template <std::floating_point T>
[[deprecated("use conv(x, h, taps): signals first")]] void conv(std::span<const T> h, Taps taps,
                                                                std::span<const T> x, std::span<T> yhat,
                                                                Method method = Method::automatic) {
  conv<T>(x, h, taps, yhat, method);
}
template <std::floating_point T>
[[deprecated("use conv(x, h, taps): signals first")]] std::vector<T> conv(std::span<const T> h, Taps taps,
                                                                          std::span<const T> x,
                                                                          Method method = Method::automatic) {
  return conv<T>(x, h, taps, method);
}
template <std::floating_point T>
[[deprecated("use grad_input(r, h, taps): signals first")]] void grad_input(
    std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx,
    Method method = Method::automatic) {
  grad_input<T>(r, h, taps, dx, method);
}
template <std::floating_point T>
[[deprecated("use grad_input(r, h, taps): signals first")]] std::vector<T> grad_input(
    std::span<const T> h, Taps taps, std::span<const T> r, Method method = Method::automatic) {
  return grad_input<T>(r, h, taps, method);
}

// One training step, computed together: yhat, r, loss, dh and (if `dx` is non-empty) dx.
// Returns the loss. dh has size K; yhat and r have size N, or are both empty when the caller
// does not keep them (see loss_and_dh); dx is empty or of size N.
// x and y are checked for non-finite values through the result (a non-finite sample that a
// tap reaches makes the loss non-finite); when one is found the outputs hold partial results
// and non_finite_input names the first bad index, as for the other operations.
template <std::floating_point T>
double loss_and_grad(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                     std::span<T> yhat, std::span<T> r, std::span<T> dh, std::span<T> dx,
                     Method method = Method::automatic);

// The training step that keeps only what training needs: writes dh, returns the loss.
// By the direct and fft methods yhat and r then never leave the cache (per-block buffers): the
// step reads x and y once and writes K values; the loss and dh bits equal loss_and_grad's.
template <std::floating_point T>
double loss_and_dh(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                   std::span<T> dh, Method method = Method::automatic);

template <std::floating_point T>
struct Step {
  std::vector<T> yhat, r, dh, dx;  // dx is empty unless input_grad was asked for
  double loss = 0;
};

template <std::floating_point T>
Step<T> loss_and_grad(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                      Method method = Method::automatic, bool input_grad = false);

}  // namespace convgrad
