// Batched forms of conv, grad_kernel and grad_input: B signals of N samples, the rows of a
// row-major B x N array, filtered by ONE shared filter h (the batch of the PyTorch layer).
// Row b is X[b*N .. b*N + N-1]. Each row is exactly the single-signal operation of ops.hpp:
//
//   conv_rows:         Y[b][n]  = sum_m h[m] X[b][n-m]              (B x N)
//   grad_kernel_rows:  dh[m]    = sum_b sum_n X[b][n-m] R[b][n]     (K: h is shared, so its
//                                 gradient sums the rows' gradients, accumulated in double)
//   grad_input_rows:   DX[b][k] = sum_m h[m] R[b][k+m]              (B x N)
//
// Arguments in the order of ops.hpp: signals first (each B x N array followed by the row
// length `n`, or sharing it), then the kernel and its taps. `n` >= 1, and every B x N array
// holds a whole number of rows (B = 0 is an empty batch). Throws invalid_argument for sizes
// that disagree, and what the single-signal functions throw (naming the row). Polls the
// caller's stop check between rows (interrupt.hpp).
#pragma once

#include <concepts>
#include <cstddef>
#include <span>

#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {

template <std::floating_point T>
void conv_rows(std::span<const T> X, std::size_t n, std::span<const T> h, Taps taps, std::span<T> Y,
               Method method = Method::automatic);

template <std::floating_point T>
void grad_kernel_rows(std::span<const T> X, std::span<const T> R, std::size_t n, Taps taps, std::span<T> dh,
                      Method method = Method::automatic);

template <std::floating_point T>
void grad_input_rows(std::span<const T> R, std::size_t n, std::span<const T> h, Taps taps, std::span<T> DX,
                     Method method = Method::automatic);

}  // namespace convgrad
