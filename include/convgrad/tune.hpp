// The measured choice between the direct and FFT methods (`--tune`): time both once for a
// problem size, remember the faster, and let Method::automatic use it (resolve_method).
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>

#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {

// The measured choice for a signal of n samples with these taps, when tuning is on;
// std::nullopt when it is off (then the cost model, choose_method, decides).
template <std::floating_point T>
std::optional<Method> tuned_method(std::size_t n, Taps taps);

}  // namespace convgrad
