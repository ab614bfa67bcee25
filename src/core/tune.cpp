// The measured choice between direct and fft (tune.hpp).
#include "convgrad/tune.hpp"

namespace convgrad {

template <std::floating_point T>
std::optional<Method> tuned_method(std::size_t, Taps) {
  return std::nullopt;  // tuning is off
}

template std::optional<Method> tuned_method<float>(std::size_t, Taps);
template std::optional<Method> tuned_method<double>(std::size_t, Taps);

}  // namespace convgrad
