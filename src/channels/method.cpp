// The cost model of the channel operations: Method::automatic's choice between direct and fft.
#include <algorithm>
#include <cmath>

#include "channels/channels_internal.hpp"
#include "core/kernels.hpp"

namespace convgrad {

// One training step with channels (forward, dW and dx) on one core:
//   direct: B C_out (C_in/g) N_out Kc multiply-adds per pass, three passes, at half the
//           single-channel model's per-tap time (that counts two multiply-adds per tap);
//   fft:    per overlap-save block, 2 B (C_in + C_out) transforms of length L (x and r
//           forward, y and dx back) at a third of the single-channel step's per-block cost
//           (which has three transforms), plus three complex multiply-adds per spectral bin
//           and channel pair.
// Kc counts only the taps that reach the signal.
double channel_method_cost(Method method, const ChannelShape& s, std::size_t element_size) {
  const bool single = element_size <= 4;
  const double B = double(s.batch), Cin = double(s.in_channels), Cout = double(s.out_channels),
               pairs = Cout * double(s.in_per_group());
  const std::size_t n = std::max(s.n_in, s.n_out);
  const std::size_t kc = std::min(s.K(), 2 * n / s.dilation + 1);
  if (method == Method::direct)
    return (single ? 0.020e-9 : 0.040e-9) * 3 * B * pairs * double(s.n_out) * double(kc) + 1e-6;
  const std::size_t span = s.dilation * (kc - 1) + 1;  // the dilated filter's length
  const std::size_t L = detail::fft::block_transform_length(n, span);
  const double blocks = std::ceil(double(n) / double(L - std::min(L - 1, span - 1)));
  const double transform = (single ? 0.13e-9 : 0.18e-9) * double(L) * std::log2(double(L));
  const double product = (single ? 0.5e-9 : 1.0e-9) * double(L / 2 + 1);
  return blocks * (2 * B * (Cin + Cout) * transform + 3 * B * pairs * product) + pairs * transform + 1e-5;
}

Method choose_channel_method(const ChannelShape& s, std::size_t element_size) {
  return channel_method_cost(Method::fft, s, element_size) <
                 channel_method_cost(Method::direct, s, element_size)
             ? Method::fft
             : Method::direct;
}

}  // namespace convgrad
