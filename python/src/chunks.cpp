// convgrad._core's per-chunk objective for callers that distribute a fit themselves
// (python/convgrad/dask.py), beside stream.cpp's NormalEquations: one chunk of the fixed chunk
// plan (include/convgrad/stream.hpp) in, its partial sums out, computed by the library exactly
// as its own fit computes them, so that the caller's tree of additions reproduces fit()'s
// reported loss and gradient to the last bit.
//
//   chunk_objective(x_window, y_rows, h, lo) -> float64 array [1/2 ||r||^2, X^T r]
//       at h for the chunk's rows, r = X h - y: the window x[a - hi, b - lo) (zeros outside
//       the signal) and y[a, b), the leaf of fit()'s loss-and-gradient pass
//
// Errors are translated as module.cpp says (ValueError for NaN samples and bad sizes). The
// GIL is released while the library computes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/stream.hpp"

namespace py = pybind11;
using namespace py::literals;

namespace {

using convgrad::Taps;
using convgrad::python::In;
using convgrad::python::span_of;

// One chunk as a data source: pair 0 has the chunk's rows [0, rows), and reading x anywhere in
// [-hi, rows - lo) gives the window's samples (the halo included), as the whole signal would.
template <std::floating_point T>
class WindowSource final : public convgrad::Source<T> {
 public:
  WindowSource(std::span<const T> x_window, std::span<const T> y_rows, Taps taps)
      : xw_(x_window), yr_(y_rows), hi_(taps.hi) {}
  std::size_t pairs() override { return 1; }
  std::size_t length(std::size_t) override { return yr_.size(); }
  void read_x(std::size_t, std::int64_t first, std::span<T> out) override {
    std::copy_n(xw_.begin() + (first + hi_), out.size(), out.begin());
  }
  void read_y(std::size_t, std::int64_t first, std::span<T> out) override {
    std::copy_n(yr_.begin() + first, out.size(), out.begin());
  }

 private:
  std::span<const T> xw_, yr_;
  std::int64_t hi_;
};

template <typename T>
py::array_t<double> chunk_objective(const In<T>& x_window, const In<T>& y_rows, const In<T>& h,
                                    std::int64_t lo) {
  const Taps taps = Taps::from_lo(lo, static_cast<std::size_t>(h.size()));
  const std::size_t rows = static_cast<std::size_t>(y_rows.size());
  if (rows == 0 || static_cast<std::size_t>(x_window.size()) != rows + taps.K() - 1)
    throw convgrad::invalid_argument(
        "chunk_objective: the window of x has " + std::to_string(x_window.size()) + " samples; " +
        std::to_string(rows) + " rows of y with " + std::to_string(taps.K()) + " taps need rows + K - 1");
  std::vector<convgrad::reduce::Partial> leaf;
  {
    py::gil_scoped_release free;
    WindowSource<T> source(span_of(x_window), span_of(y_rows), taps);
    const convgrad::ChunkPlan plan({rows}, rows);  // the one chunk
    leaf = convgrad::objective_partials<T>(source, plan, taps, span_of(h), 0, 1);
  }
  const std::vector<double>& v = leaf.at(0).value;
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

template <typename T>
void bind_typed(py::module_& m) {
  m.def("chunk_objective", &chunk_objective<T>, "x_window"_a.noconvert(), "y_rows"_a.noconvert(),
        "h"_a.noconvert(), "lo"_a);
}

}  // namespace

void bind_chunks(py::module_& m) {
  bind_typed<float>(m);
  bind_typed<double>(m);
}
