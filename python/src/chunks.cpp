// convgrad._core's per-chunk partial sums for callers that distribute a fit themselves
// (python/convgrad/dask.py): one chunk of the fixed chunk plan (include/convgrad/stream.hpp)
// in, its partial sums out, computed by the library exactly as its own fit computes them, so
// that the caller's tree of additions reproduces fit() to the last bit.
//
//   chunk_normal_equations(x_window, y_rows, lo, hi, chunk) -> bytes
//       NormalEquations of chunk `chunk` (its window x[a - hi, b - lo), zeros outside the
//       signal, and y[a, b)), serialised (NormalEquations::to_bytes)
//   merge_normal_equations(left, right) -> bytes      left + right, the tree's one addition
//   solve_normal_equations(blob, ridge) -> dict        h (float64), condition, ...
//   chunk_objective(x_window, y_rows, h, lo) -> float64 array [1/2 ||r||^2, X^T r]
//       at h for the chunk's rows, r = X h - y (the leaf of fit()'s loss and gradient pass)
//
// Errors are translated as module.cpp says (ValueError for NaN samples and bad sizes,
// LinAlgError for singular systems). The GIL is released while the library computes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/stream.hpp"

namespace py = pybind11;
using namespace py::literals;

namespace {

using convgrad::NormalEquations;
using convgrad::Taps;
using convgrad::python::In;
using convgrad::python::span_of;

std::span<const std::uint8_t> bytes_of(const py::bytes& b) {
  const std::string_view v = b;
  return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size()};
}

py::bytes to_python(const NormalEquations& ne) {
  std::vector<std::uint8_t> blob;
  {
    py::gil_scoped_release free;
    blob = ne.to_bytes();
  }
  return {reinterpret_cast<const char*>(blob.data()), blob.size()};
}

NormalEquations from_python(const py::bytes& b) {
  const std::span<const std::uint8_t> blob = bytes_of(b);
  py::gil_scoped_release free;
  return NormalEquations::from_bytes(blob);
}

template <typename T>
py::bytes chunk_normal_equations(const In<T>& x_window, const In<T>& y_rows, std::int64_t lo, std::int64_t hi,
                                 std::size_t chunk) {
  NormalEquations ne(Taps::range(lo, hi), convgrad::kDefaultGramBudget, chunk);
  {
    py::gil_scoped_release free;
    ne.add_window<T>(span_of(x_window), span_of(y_rows));
  }
  return to_python(ne);
}

py::bytes merge_normal_equations(const py::bytes& left, const py::bytes& right) {
  NormalEquations sum = from_python(left);
  const NormalEquations other = from_python(right);
  {
    py::gil_scoped_release free;
    sum.merge(other);
  }
  return to_python(sum);
}

py::dict solve_normal_equations(const py::bytes& blob, double ridge) {
  const NormalEquations ne = from_python(blob);
  convgrad::ExactSolution s;
  {
    py::gil_scoped_release free;
    s = ne.solve(ridge);
  }
  py::array_t<double> h(static_cast<py::ssize_t>(s.h.size()));
  std::copy(s.h.begin(), s.h.end(), h.mutable_data());
  return py::dict("h"_a = h, "condition"_a = s.condition, "condition_estimated"_a = s.condition_estimated,
                  "lambda_max"_a = s.lambda_max, "lambda_min"_a = s.lambda_min);
}

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
  m.def("chunk_normal_equations", &chunk_normal_equations<T>, "x_window"_a.noconvert(),
        "y_rows"_a.noconvert(), "lo"_a, "hi"_a, "chunk"_a);
  m.def("chunk_objective", &chunk_objective<T>, "x_window"_a.noconvert(), "y_rows"_a.noconvert(),
        "h"_a.noconvert(), "lo"_a);
}

}  // namespace

void bind_chunks(py::module_& m) {
  bind_typed<float>(m);
  bind_typed<double>(m);
  m.def("merge_normal_equations", &merge_normal_equations, "left"_a, "right"_a);
  m.def("solve_normal_equations", &solve_normal_equations, "blob"_a, "ridge"_a);
  m.attr("FIT_CHUNK_ROWS") = convgrad::kFitChunkRows;
}
