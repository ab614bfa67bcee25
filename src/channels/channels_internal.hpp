// Internal kernels behind channels.hpp. Callers have validated the shape and every span's size
// and checked the inputs for non-finite values; an empty output span means "not wanted".
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

#include "convgrad/channels.hpp"

namespace convgrad::detail::channels {

// The literal loops of the formulas in channels.hpp: what every fast path is tested against.
namespace reference {
template <std::floating_point T>
void conv(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<T> y,
          const ChannelShape& s);
template <std::floating_point T>
void grad(std::span<const T> x, std::span<const T> W, std::span<const T> r, std::span<T> dx, std::span<T> dW,
          std::span<T> dbias, const ChannelShape& s);
template <std::floating_point T>
double train_step(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<const T> y,
                  std::span<T> dW, std::span<T> dbias, const ChannelShape& s);
}  // namespace reference

}  // namespace convgrad::detail::channels
