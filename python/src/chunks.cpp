// convgrad._core's per-chunk objective for callers that distribute a fit themselves
// (python/convgrad/dask.py), beside stream.cpp's NormalEquations: one chunk of the fixed chunk
// plan (include/convgrad/stream.hpp) in, its partial sums out, computed by the library exactly
// as its own fit computes them, so that the caller's tree of additions reproduces fit()'s
// reported loss and gradient to the last bit.
//
//   chunk_objective(x_window, window_first, y_rows, begin, n, chunk_rows, h, lo)
//       -> float64 array [1/2 ||r||^2, X^T r] at h for the rows [begin, begin + |y_rows|) of a
//       pair of n rows cut into chunks of chunk_rows, r = X h - y: the plan's window
//       x[window_first, ...) (cut to the signal) and those rows of y; the leaf of fit()'s
//       loss-and-gradient pass
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

// One chunk of a pair of N samples as a data source: the window holds x[window_first, ...)
// (cut to the signal, as the plan gives it) and y_rows holds y[begin, end); the library is
// asked for that chunk of the plan ChunkPlan({N}, chunk_rows), so the leaf has its bits.
template <std::floating_point T>
class WindowSource final : public convgrad::Source<T> {
 public:
  WindowSource(std::span<const T> x_window, std::int64_t window_first, std::span<const T> y_rows,
               std::int64_t begin, std::size_t n)
      : xw_(x_window), yr_(y_rows), window_first_(window_first), begin_(begin), n_(n) {}
  std::size_t pairs() override { return 1; }
  std::size_t length(std::size_t) override { return n_; }
  void read_x(std::size_t, std::int64_t first, std::span<T> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::int64_t k = first + static_cast<std::int64_t>(i) - window_first_;  // zeros outside
      out[i] =
          (k >= 0 && k < static_cast<std::int64_t>(xw_.size())) ? xw_[static_cast<std::size_t>(k)] : T(0);
    }
  }
  void read_y(std::size_t, std::int64_t first, std::span<T> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::int64_t k = first + static_cast<std::int64_t>(i) - begin_;
      out[i] =
          (k >= 0 && k < static_cast<std::int64_t>(yr_.size())) ? yr_[static_cast<std::size_t>(k)] : T(0);
    }
  }

 private:
  std::span<const T> xw_, yr_;
  std::int64_t window_first_, begin_;
  std::size_t n_;
};

template <typename T>
py::array_t<double> chunk_objective(const In<T>& x_window, std::int64_t window_first, const In<T>& y_rows,
                                    std::int64_t begin, std::int64_t n, std::int64_t chunk_rows,
                                    const In<T>& h, std::int64_t lo) {
  const Taps taps = Taps::from_lo(lo, static_cast<std::size_t>(h.size()));
  if (n <= 0 || chunk_rows <= 0 || begin < 0 || begin >= n || begin % chunk_rows != 0)
    throw convgrad::invalid_argument("chunk_objective: begin = " + std::to_string(begin) +
                                     " is not the start of a chunk of a pair of " + std::to_string(n) +
                                     " rows");
  std::vector<convgrad::reduce::Partial> leaf;
  {
    py::gil_scoped_release free;
    WindowSource<T> source(span_of(x_window), window_first, span_of(y_rows), begin,
                           static_cast<std::size_t>(n));
    const convgrad::ChunkPlan plan({static_cast<std::size_t>(n)}, static_cast<std::size_t>(chunk_rows));
    const auto c = static_cast<std::size_t>(begin / chunk_rows);
    leaf = convgrad::objective_partials<T>(source, plan, taps, span_of(h), c, c + 1);
  }
  const std::vector<double>& v = leaf.at(0).value;
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

template <typename T>
void bind_typed(py::module_& m) {
  m.def("chunk_objective", &chunk_objective<T>, "x_window"_a.noconvert(), "window_first"_a,
        "y_rows"_a.noconvert(), "begin"_a, "n"_a, "chunk_rows"_a, "h"_a.noconvert(), "lo"_a);
}

}  // namespace

void bind_chunks(py::module_& m) {
  bind_typed<float>(m);
  bind_typed<double>(m);
}
