// Internal kernels behind channels.hpp. Callers have validated the shape and every span's size
// and checked the inputs for non-finite values; an empty output span means "not wanted".
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "convgrad/channels.hpp"

namespace convgrad::detail::channels {

using I = std::int64_t;

// The sizes of a validated shape as signed indices, with the taps clipped to those that can
// reach: tap m touches the signal when some n < N_out has 0 <= n - d m < N_in, that is
// -(N_in - 1) <= d m <= N_out - 1. The others multiply only zeros (their dW is 0); with K > N
// most taps are such. W[o, c', j0 + j] is the clipped tap j (j < Kc).
struct Dims {
  I B, Cin, Cout, Nin, Nout, groups, Cig, Cog, K, d;
  I lo, hi, Kc, j0;  // the clipped taps lo..hi, Kc = hi - lo + 1 of them, from W's tap j0
  bool any;          // whether any tap reaches
  explicit Dims(const ChannelShape& s)
      : B(I(s.batch)),
        Cin(I(s.in_channels)),
        Cout(I(s.out_channels)),
        Nin(I(s.n_in)),
        Nout(I(s.n_out)),
        groups(I(s.groups)),
        Cig(I(s.in_per_group())),
        Cog(I(s.out_per_group())),
        K(I(s.K())),
        d(I(s.dilation)) {
    lo = std::max(s.taps.lo, -((Nin - 1) / d));
    hi = std::min(s.taps.hi, (Nout - 1) / d);
    any = lo <= hi;
    Kc = any ? hi - lo + 1 : 0;
    j0 = lo - s.taps.lo;
  }
  I w_size() const { return Cout * Cig * K; }
};

// Fills y[b, o, n] = bias[o] (0 without bias): the forward when no tap reaches.
template <std::floating_point T>
void fill_bias(std::span<const T> bias, std::span<T> y, const Dims& D) {
  for (I b = 0; b < D.B; ++b)
    for (I o = 0; o < D.Cout; ++o) {
      T* row = y.data() + (b * D.Cout + o) * D.Nout;
      std::fill(row, row + D.Nout, bias.empty() ? T{0} : bias[std::size_t(o)]);
    }
}

// Every method's three entry points, declared alike in the method's namespace (channels.cpp
// dispatches among them): the forward, the gradients and the fused training step of channels.hpp.
#define CONVGRAD_CHANNEL_METHOD_ENTRY_POINTS                                                     \
  template <std::floating_point T>                                                               \
  void conv(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<T> y, \
            const ChannelShape& s);                                                              \
  template <std::floating_point T>                                                               \
  void grad(std::span<const T> x, std::span<const T> W, std::span<const T> r, std::span<T> dx,   \
            std::span<T> dW, std::span<T> dbias, const ChannelShape& s);                         \
  template <std::floating_point T>                                                               \
  double train_step(std::span<const T> x, std::span<const T> W, std::span<const T> bias,         \
                    std::span<const T> y, std::span<T> dW, std::span<T> dbias, const ChannelShape& s);

// The literal loops of the formulas in channels.hpp: what every fast path is tested against.
namespace reference {
CONVGRAD_CHANNEL_METHOD_ENTRY_POINTS
}  // namespace reference

// O(B C_out C_in/g N K) sums for speed: blocks of the signal, the channel sum in registers
// (simd.hpp), OpenMP over (batch, group, block) units, gradients summed per task in a fixed
// order (chunks.hpp's rule). direct.cpp.
namespace direct {
CONVGRAD_CHANNEL_METHOD_ENTRY_POINTS
}  // namespace direct

// Overlap-save blocks through FFTW with the channel sums per frequency bin (fft.cpp).
namespace fft {
CONVGRAD_CHANNEL_METHOD_ENTRY_POINTS
}  // namespace fft

#undef CONVGRAD_CHANNEL_METHOD_ENTRY_POINTS

// The float and double instances of those entry points, written once at the end of each
// method's .cpp, inside its namespace.
#define CONVGRAD_CHANNEL_METHOD_INSTANCES_OF(T)                                                   \
  template void conv<T>(std::span<const T>, std::span<const T>, std::span<const T>, std::span<T>, \
                        const ChannelShape&);                                                     \
  template void grad<T>(std::span<const T>, std::span<const T>, std::span<const T>, std::span<T>, \
                        std::span<T>, std::span<T>, const ChannelShape&);                         \
  template double train_step<T>(std::span<const T>, std::span<const T>, std::span<const T>,       \
                                std::span<const T>, std::span<T>, std::span<T>, const ChannelShape&);
#define CONVGRAD_CHANNEL_METHOD_INSTANCES     \
  CONVGRAD_CHANNEL_METHOD_INSTANCES_OF(float) \
  CONVGRAD_CHANNEL_METHOD_INSTANCES_OF(double)

}  // namespace convgrad::detail::channels
