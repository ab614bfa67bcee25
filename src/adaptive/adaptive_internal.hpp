// Pieces shared by the adaptive filters' sources: the byte format of saved states and the
// frequency-domain filter's constructor (fdaf.cpp).
#pragma once

#include <concepts>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "convgrad/adaptive.hpp"
#include "convgrad/errors.hpp"

namespace convgrad::adaptive::detail {

// Saved states are the raw bytes of each field in order (native byte order: a state moves
// between processes on one machine, e.g. a pickle, not between architectures).
template <class V>
void put(std::string& out, const V& v) {
  static_assert(std::is_trivially_copyable_v<V>);
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class Vector>
void put_vector(std::string& out, const Vector& v) {
  put(out, static_cast<std::uint64_t>(v.size()));
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(v[0]));
}

inline void require_bytes(std::string_view in, std::size_t n) {
  if (in.size() < n)
    throw invalid_argument("adaptive filter state: the saved bytes end too early (truncated)");
}

template <class V>
V get(std::string_view& in) {
  require_bytes(in, sizeof(V));
  V v;
  std::memcpy(&v, in.data(), sizeof v);
  in.remove_prefix(sizeof v);
  return v;
}

// A vector that must have `expected` elements (the state's shapes follow from K and options).
template <class V>
std::vector<V> get_vector(std::string_view& in, std::size_t expected) {
  const auto n = get<std::uint64_t>(in);
  if (n != expected)
    throw invalid_argument("adaptive filter state: an array has " + std::to_string(n) + " elements where " +
                           std::to_string(expected) + " were expected");
  require_bytes(in, n * sizeof(V));
  std::vector<V> v(n);
  std::memcpy(v.data(), in.data(), n * sizeof(V));
  in.remove_prefix(n * sizeof(V));
  return v;
}

// Storage on cache-line boundaries: the taps are loaded and stored once per sample, and
// vectors that straddle two lines cost two accesses. Allocations are whole lines, so an
// aligned vector load that starts inside the storage stays inside it (the NLMS kernel reads
// the input's last line whole).
template <class V>
struct CacheAligned {
  using value_type = V;
  static constexpr std::align_val_t kAlign{64};
  CacheAligned() = default;
  template <class U>
  CacheAligned(const CacheAligned<U>&) {}
  static std::size_t bytes(std::size_t n) { return (n * sizeof(V) + 63) / 64 * 64; }
  V* allocate(std::size_t n) { return static_cast<V*>(::operator new(bytes(n), kAlign)); }
  // Unsized: clang declares the sized aligned delete only with -fsized-deallocation.
  void deallocate(V* p, std::size_t) { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheAligned<U>&) const {
    return true;
  }
};
template <class V>
using aligned_vector = std::vector<V, CacheAligned<V>>;

template <std::floating_point T>
std::unique_ptr<Filter<T>> make_fdaf(Taps taps, const Options& options);

}  // namespace convgrad::adaptive::detail
