// Internal kernels behind ops.hpp. Callers have validated every argument: sizes agree,
// the tap range is sane and inputs are finite. Each namespace is one way of computing.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "convgrad/taps.hpp"

namespace convgrad::detail {

// Index of tap m = lo + j within h.
inline std::int64_t tap(Taps taps, std::size_t j) { return taps.lo + static_cast<std::int64_t>(j); }

// The taps that can touch a signal of N samples: m in [lo, hi] with |m| <= N - 1 (the
// others multiply only zeros). Returns false when none can.
inline bool clip_taps(Taps taps, std::int64_t N, Taps& clipped) {
  clipped.lo = std::max(taps.lo, -(N - 1));
  clipped.hi = std::min(taps.hi, N - 1);
  return clipped.lo <= clipped.hi;
}

// The seed's sums as literal loops: the algorithmic reference every fast path must match.
namespace reference {
template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat);
template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh);
template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx);
// r = yhat - y, and the loss 1/2 sum r^2 summed in double in index order.
template <std::floating_point T>
void residual(std::span<const T> yhat, std::span<const T> y, std::span<T> r);
template <std::floating_point T>
double loss(std::span<const T> r);
// dh = r * xflip, the flipped-input form of grad_kernel (docs/derivation.md section 5).
template <std::floating_point T>
void grad_kernel_flipped(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh);
}  // namespace reference

// O(N K) sums arranged for speed: blocks of the signal through register-blocked SIMD
// kernels (simd.hpp), OpenMP over chunks of blocks fixed by N (chunks.hpp: results do not
// depend on the thread count), blockwise accumulation of dh and the loss.
namespace direct {
template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat);
template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh);
template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx);
// One training step fused per block: yhat = h * x, r = yhat - y, dh; returns 1/2 sum r^2.
// yhat and r may both be empty: then they stay in per-thread block buffers (same bits).
template <std::floating_point T>
double loss_and_grad(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                     std::span<T> yhat, std::span<T> r, std::span<T> dh);
// sum_n r[n]^2 in double, blockwise in the training step's order (so loss(r) matches it).
template <std::floating_point T>
double sum_squares(std::span<const T> r);
// A training step when no tap reaches the signal (clip_taps is false): yhat = 0, r = -y,
// dh = 0 (yhat and r may both be empty). Returns the loss 1/2 sum y^2.
template <std::floating_point T>
double step_without_taps(std::span<const T> y, std::span<T> yhat, std::span<T> r, std::span<T> dh);
}  // namespace direct

// The convolution and flipped-input correlation forms through FFTW real transforms, in
// overlap-save blocks with plans cached per length (fft.cpp).
namespace fft {
template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat);
template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh);
template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx);
// One training step by overlap-save blocks: each block's transform of x serves both the
// forward and dh; dh's spectra are summed over blocks and transformed back once. yhat and r
// may both be empty (then kept per block); the loss is summed per overlap-save block.
template <std::floating_point T>
double loss_and_grad(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                     std::span<T> yhat, std::span<T> r, std::span<T> dh);
// Smallest n' >= n whose only prime factors are 2, 3, 5 and 7 (FFTW is fastest there).
std::size_t good_size(std::size_t n);
// Transform length the overlap-save route uses for a signal of n samples and k taps.
std::size_t block_transform_length(std::size_t n, std::size_t k);
// Number of FFTW plans currently cached (for tests of the cache).
std::size_t cached_plan_count();
}  // namespace fft

// Gradients as (row vector) x (Jacobian matrix), materialised within a memory budget.
namespace jacobian {
// Throws resource_limit if rows x cols values of T exceed `budget` bytes (`what` names the matrix).
template <std::floating_point T>
void require_within_budget(std::size_t rows, std::size_t cols, std::size_t budget, const char* what);
template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh, std::size_t budget);
template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx, std::size_t budget);
// yhat = J_h h: the forward pass as the same matrix times the kernel.
template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat, std::size_t budget);
}  // namespace jacobian

}  // namespace convgrad::detail
