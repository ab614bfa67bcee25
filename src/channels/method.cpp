// The cost model of the channel operations: Method::automatic's choice between direct and fft.
#include <algorithm>
#include <cmath>

#include "channels/channels_internal.hpp"
#include "convgrad/method.hpp"
#include "core/kernels.hpp"

namespace convgrad {

// One layer step with channels (the forward, then dW and dx) on one core, calibrated on the
// benchmark machine (bench/CHANNELS_RESULTS.md, one thread, process CPU time):
//   direct: 3 B C_out (C_in/g) N_out Kc multiply-adds at 0.0102 ns (float) or 0.020 ns
//           (double) each with 4 or more output channels per group (measured, chan-dw:
//           B=8 16->16 N=65536 K=15 and B=32 64->64 N=1024 K=3, the whole step, about 80% of
//           the FMA peak), and 0.018 ns / 0.036 ns with one (depthwise: the single-channel
//           kernels, 37% of the peak), in between by 4/min(C_out/g, 4) - 1 over 3: with fewer
//           output channels each load feeds fewer multiply-adds;
//   fft:    per overlap-save block of length L, 3 B (C_in + C_out) transforms (x twice: once
//           for the forward, once for dW; r for dW and for dx; y and dx back) at
//           0.10 ns (float) or 0.15 ns (double) per L log2 L, and 3 B (C_out C_in/g) products
//           of spectra at 0.7 ns (float) or 1.0 ns (double) per bin; plus the filter spectra.
// Kc counts only the taps that reach the signal.
double channel_method_cost(Method method, const ChannelShape& s, std::size_t element_size) {
  const bool single = element_size <= 4;
  const double B = double(s.batch), Cin = double(s.in_channels), Cout = double(s.out_channels),
               pairs = Cout * double(s.in_per_group());
  const std::size_t n = std::max(s.n_in, s.n_out);
  const std::size_t kc = std::min(s.K(), 2 * n / s.dilation + 1);
  if (method == Method::direct) {
    const double dense = single ? 0.0102e-9 : 0.020e-9, depthwise = single ? 0.018e-9 : 0.036e-9;
    const double fewer = (4.0 / double(std::min<std::size_t>(s.out_per_group(), 4)) - 1.0) / 3.0;
    const double per_fma = dense + (depthwise - dense) * fewer;
    return per_fma * 3 * B * pairs * double(s.n_out) * double(kc) + 1e-6;
  }
  const std::size_t span = s.dilation * (kc - 1) + 1;  // the dilated filter's length
  const std::size_t L = detail::fft::block_transform_length(n, span);
  const double blocks = std::ceil(double(n) / double(L - std::min(L - 1, span - 1)));
  const double transform = (single ? 0.10e-9 : 0.15e-9) * double(L) * std::log2(double(L));
  const double product = (single ? 0.7e-9 : 1.0e-9) * double(L / 2 + 1);
  return blocks * (3 * B * (Cin + Cout) * transform + 3 * B * pairs * product) + 2 * pairs * transform + 1e-5;
}

Method choose_channel_method(const ChannelShape& s, std::size_t element_size) {
  return channel_method_cost(Method::fft, s, element_size) <
                 channel_method_cost(Method::direct, s, element_size)
             ? Method::fft
             : Method::direct;
}

}  // namespace convgrad
