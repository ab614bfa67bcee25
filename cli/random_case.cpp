// Seeded random cases (see random_case.hpp).
#include "random_case.hpp"

#include <cmath>
#include <numbers>

namespace convgrad::cli {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): a tiny generator whose output is fully specified,
// unlike std::normal_distribution, so seeds reproduce across standard libraries.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1): 53 random bits, offset by half a step so 0 never occurs (log below).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  // Standard normal by Box-Muller: sqrt(-2 ln u1) cos(2 pi u2).
  double normal() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Uniform integer in [-a, a].
  int integer(int a) { return static_cast<int>(next() % static_cast<std::uint64_t>(2 * a + 1)) - a; }
};

template <class Draw>
Case make_case(std::size_t n, Taps taps, Draw&& draw) {
  Case c;
  c.taps = taps;
  c.x.resize(n);
  c.y.resize(n);
  c.h.resize(taps.K());
  for (double& v : c.x) v = draw();
  for (double& v : c.h) v = draw();
  for (double& v : c.y) v = draw();
  return c;
}

}  // namespace

Case random_case(std::size_t n, Taps taps, std::uint64_t seed) {
  SplitMix64 g{seed};
  return make_case(n, taps, [&] { return g.normal(); });
}

Case random_integer_case(std::size_t n, Taps taps, std::uint64_t seed, int amplitude) {
  SplitMix64 g{seed};
  return make_case(n, taps, [&] { return static_cast<double>(g.integer(amplitude)); });
}

}  // namespace convgrad::cli
