// Many channels: the batched multi-channel filter of a convolutional layer and its gradients.
//
// Shapes, all row-major and contiguous:
//   x: B x C_in x N_in,   W: C_out x (C_in / groups) x K,   bias: C_out (or empty),
//   y, r: B x C_out x N_out.
// Taps m = lo..hi (K = hi - lo + 1, W[o, c', j] is tap m = lo + j), dilation d >= 1, and
// `groups` g dividing C_in and C_out: output channel o sees the input channels of its group,
// c = group(o) * C_in/g + c' for c' = 0..C_in/g - 1 (g = 1: every input; g = C_in = C_out:
// depthwise, one filter per channel).
//
//   y[b, o, n]  = bias[o] + sum_{c'} sum_j W[o, c', j] x[b, c, n - d (lo + j)]    n < N_out
//   dW[o, c', j] = sum_b sum_n x[b, c, n - d (lo + j)] r[b, o, n]      (summed over the batch)
//   dx[b, c, k]  = sum_{o in group(c)} sum_j W[o, c', j] r[b, o, k + d (lo + j)]    k < N_in
//   dbias[o]     = sum_b sum_n r[b, o, n]
//
// with x = 0 outside [0, N_in) and r = 0 outside [0, N_out). N_out = N_in is the library's
// 'same' length; any N_out >= 1 is allowed, so a 'valid' or padded layer maps onto it. With
// C_in = C_out = B = 1 this is conv / grad_kernel / grad_input of ops.hpp (DESIGN.md section 2).
//
// Every function validates the shape and the spans' sizes and throws invalid_argument (or
// non_finite_input for a NaN or infinity in an input) before it writes anything. Method::reference
// runs the literal loops of the formulas above; direct and fft are the fast paths (automatic
// picks one by the cost model, channel_method_cost in method.hpp); every method gives the same bits for any
// OMP_NUM_THREADS. Gradients over the batch are summed in double per block, blocks in a fixed
// order (chunks.hpp's rule), whatever T is.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>

#include "convgrad/method.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {

struct ChannelShape {
  std::size_t batch = 1;         // B (0: an empty batch; outputs empty, gradients zero)
  std::size_t in_channels = 1;   // C_in
  std::size_t out_channels = 1;  // C_out
  std::size_t n_in = 0;          // N_in >= 1, samples per input channel
  std::size_t n_out = 0;         // N_out >= 1, samples per output channel (N_in for 'same')
  std::size_t groups = 1;        // g, dividing C_in and C_out
  std::size_t dilation = 1;      // d >= 1: tap m reaches d m samples back
  Taps taps;                     // lo..hi

  std::size_t K() const { return taps.K(); }
  std::size_t in_per_group() const { return in_channels / groups; }    // C_in / g
  std::size_t out_per_group() const { return out_channels / groups; }  // C_out / g
  std::size_t x_size() const { return batch * in_channels * n_in; }
  std::size_t w_size() const { return out_channels * in_per_group() * K(); }
  std::size_t y_size() const { return batch * out_channels * n_out; }
};

// The shape of a 'same' layer: N_out = N_in = n.
ChannelShape same_shape(std::size_t batch, std::size_t in_channels, std::size_t out_channels, std::size_t n,
                        Taps taps, std::size_t groups = 1, std::size_t dilation = 1);

// Throws invalid_argument naming the field when the shape describes no valid problem: zero
// channels, samples, groups or dilation; groups not dividing both channel counts; an invalid
// tap range; d |m| beyond kMaxTapOffset; or an array size that overflows std::size_t.
void validate(const ChannelShape& shape);

// y = bias + W * x (bias may be empty: no bias).
template <std::floating_point T>
void conv_channels(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<T> y,
                   const ChannelShape& shape, Method method = Method::automatic);

// The gradients for a residual r = dL/dy: dx (B x C_in x N_in), dW (C_out x C_in/g x K) and
// dbias (C_out). An empty output span is not computed (x is then not read for dW alone, W not
// for dx; both must still have their sizes).
template <std::floating_point T>
void grad_channels(std::span<const T> x, std::span<const T> W, std::span<const T> r, std::span<T> dx,
                   std::span<T> dW, std::span<T> dbias, const ChannelShape& shape,
                   Method method = Method::automatic);

// The fused training step for the target y (B x C_out x N_out): yhat = bias + W * x,
// r = yhat - y, returns loss = 1/2 sum r^2 (in double) and writes dW and dbias (dbias may be
// empty), without storing yhat or r beyond one block.
template <std::floating_point T>
double train_step_channels(std::span<const T> x, std::span<const T> W, std::span<const T> bias,
                           std::span<const T> y, std::span<T> dW, std::span<T> dbias,
                           const ChannelShape& shape, Method method = Method::automatic);

}  // namespace convgrad
