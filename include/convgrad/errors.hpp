// Typed errors thrown by the library. Every message names the argument and the bad value,
// so a caller (the CLI, the Python package) can pass it on to a person unchanged.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace convgrad {

// Base of everything convgrad throws.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A caller passed arguments that cannot describe a valid problem: sizes that disagree,
// an even kernel without a tap range, an empty signal, an absurd tap count.
struct invalid_argument : error {
  using error::error;
};

// A NaN or infinity in an input; `index` is the first bad sample.
struct non_finite_input : invalid_argument {
  non_finite_input(const std::string& what, std::size_t index) : invalid_argument(what), index(index) {}
  std::size_t index;
};

// The work would need more memory than the caller's budget allows (the Jacobian method).
struct resource_limit : error {
  using error::error;
};

// The normal equations have no unique solution (singular or numerically singular Gram matrix).
struct singular_system : error {
  using error::error;
};

// The caller asked the work to stop (a stop check installed with InterruptScope said so,
// interrupt.hpp); nothing was returned.
struct interrupted : error {
  using error::error;
};

// Reading or writing a file failed, or its contents are not valid data.
struct io_error : error {
  using error::error;
};

}  // namespace convgrad
