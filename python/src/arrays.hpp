// The arrays of convgrad._core's bindings (module.cpp, chunks.cpp): how a NumPy array reaches
// the library.
#pragma once

#include <pybind11/numpy.h>

#include <cstddef>
#include <span>

namespace convgrad::python {

// An input array as the library wants it: C order; pybind11 refuses anything else because
// every binding is registered with .noconvert().
template <typename T>
using In = pybind11::array_t<T, pybind11::array::c_style>;

template <typename T>
std::span<const T> span_of(const In<T>& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}

}  // namespace convgrad::python
