// Running the library's computations from the binding files (module.cpp, channels.cpp): the
// GIL released, Ctrl-C polled, a failed allocation named; and the arrays results are written to.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <new>
#include <span>
#include <string>

#include "convgrad/errors.hpp"
#include "convgrad/interrupt.hpp"

namespace convgrad::python {

namespace py = pybind11;

template <typename T>
std::span<T> out_span(py::array_t<T>& a) {
  return {a.mutable_data(), static_cast<std::size_t>(a.size())};
}

// Ctrl-C: the library asks this between blocks of long work (convgrad/interrupt.hpp). A
// pending signal runs Python's handler with the GIL held (SIGINT's raises KeyboardInterrupt);
// its exception stays set on this thread, the library stops with convgrad::interrupted, and
// translate_errors leaves the Python exception as it is.
inline bool python_signal_pending() {
  py::gil_scoped_acquire hold;
  return PyErr_CheckSignals() != 0;
}

// Runs the library's computation `work` with the GIL released and Ctrl-C polled. An
// allocation that fails inside it (a working buffer the library did not name itself) becomes
// MemoryError naming the call.
template <typename F>
void compute(const char* call, F&& work) {
  convgrad::InterruptScope ctrl_c(python_signal_pending);
  try {
    py::gil_scoped_release free;
    work();
  } catch (const std::bad_alloc&) {
    throw convgrad::resource_limit(std::string(call) + ": out of memory allocating a working buffer");
  }
}

}  // namespace convgrad::python
