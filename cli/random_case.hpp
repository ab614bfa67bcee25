// A seeded random case (check, explain, tests): x, y, h from a fixed, portable generator
// (splitmix64 + Box-Muller), so a seed gives the same case on every machine and compiler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "convgrad/taps.hpp"

namespace convgrad::cli {

struct Case {
  std::vector<double> x, y, h;
  Taps taps;
};

// x, y, h with standard normal entries.
Case random_case(std::size_t n, Taps taps, std::uint64_t seed);

// The same with small integers in [-amplitude, amplitude]: every sum is exact, which makes a
// printed derivation easy to follow by hand (explain).
Case random_integer_case(std::size_t n, Taps taps, std::uint64_t seed, int amplitude = 3);

}  // namespace convgrad::cli
