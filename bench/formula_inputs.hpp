// The benchmarks' inputs: a fixed function of the index, so that the Python comparison
// scripts rebuild them exactly in NumPy (bench/compare.py, bench/channels_compare.py):
//   u(seed, i) = splitmix64(seed * 2^32 + i) >> 40     (24 random bits)
//   v          = (u / 2^24 - 1/2) * scale              (exact in float32 for a power-of-two scale)
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace convgrad::bench {

inline std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <class T>
std::vector<T> signal(std::uint64_t seed, std::size_t n, double scale) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double u = static_cast<double>(splitmix64((seed << 32) + i) >> 40) / 16777216.0 - 0.5;
    v[i] = static_cast<T>(u * scale);
  }
  return v;
}

}  // namespace convgrad::bench
