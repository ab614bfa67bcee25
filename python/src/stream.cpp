// convgrad._core bindings for accumulating the normal equations in pieces
// (convgrad::NormalEquations, include/convgrad/fit.hpp) and for the fixed chunk plan
// (include/convgrad/stream.hpp) that makes pieces computed anywhere add to the same bits.
// The Python layer (python/convgrad/_fit.py) checks dtypes and shapes first; errors are
// mapped by module.cpp's translator.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <span>
#include <vector>

#include "convgrad/fit.hpp"
#include "convgrad/stream.hpp"

namespace py = pybind11;
using namespace py::literals;

namespace {

using convgrad::NormalEquations;
using convgrad::Taps;

template <typename T>
using In = py::array_t<T, py::array::c_style>;

template <typename T>
std::span<const T> span_of(const In<T>& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}

py::array_t<double> copy_out(const std::vector<double>& v, std::vector<py::ssize_t> shape) {
  py::array_t<double> out(shape);
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

template <typename T>
void bind_adds(py::class_<NormalEquations>& c) {
  c.def(
      "add",
      [](NormalEquations& ne, const In<T>& x, const In<T>& y, std::size_t rows) {
        py::gil_scoped_release free;
        ne.add<T>(span_of(x), span_of(y), rows);
      },
      "x"_a.noconvert(), "y"_a.noconvert(), "rows"_a);
  c.def(
      "add_window",
      [](NormalEquations& ne, const In<T>& x_window, const In<T>& y_rows) {
        py::gil_scoped_release free;
        ne.add_window<T>(span_of(x_window), span_of(y_rows));
      },
      "x_window"_a.noconvert(), "y_rows"_a.noconvert());
}

}  // namespace

void bind_stream(py::module_& m) {
  m.attr("fit_chunk_rows") = convgrad::kFitChunkRows;
  py::class_<NormalEquations> c(m, "NormalEquations");
  c.def(py::init([](std::int64_t lo, std::int64_t hi, std::size_t gram_budget, std::size_t first_chunk) {
          return NormalEquations(Taps::range(lo, hi), gram_budget, first_chunk);
        }),
        "lo"_a, "hi"_a, "gram_budget"_a, "first_chunk"_a);
  bind_adds<float>(c);
  bind_adds<double>(c);
  c.def("merge", &NormalEquations::merge, "other"_a);
  c.def("to_bytes", [](const NormalEquations& ne) {
    const std::vector<std::uint8_t> b = ne.to_bytes();
    return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
  });
  c.def_static(
      "from_bytes",
      [](const py::buffer& data, std::size_t gram_budget) {
        const py::buffer_info info = data.request();
        const std::span<const std::uint8_t> bytes(static_cast<const std::uint8_t*>(info.ptr),
                                                  static_cast<std::size_t>(info.size * info.itemsize));
        return NormalEquations::from_bytes(bytes, gram_budget);
      },
      "data"_a, "gram_budget"_a);
  c.def(
      "solve",
      [](const NormalEquations& ne, double ridge) {
        convgrad::ExactSolution s;
        {
          py::gil_scoped_release free;
          s = ne.solve(ridge);
        }
        return py::dict("h"_a = copy_out(s.h, {static_cast<py::ssize_t>(s.h.size())}),
                        "condition"_a = s.condition, "lambda_min"_a = s.lambda_min,
                        "lambda_max"_a = s.lambda_max, "condition_estimated"_a = s.condition_estimated);
      },
      "ridge"_a);
  c.def_property_readonly("lo", [](const NormalEquations& ne) { return ne.taps().lo; });
  c.def_property_readonly("hi", [](const NormalEquations& ne) { return ne.taps().hi; });
  c.def_property_readonly("pairs", &NormalEquations::pairs);
  c.def_property_readonly("first_chunk", &NormalEquations::first_chunk);
  c.def_property_readonly("end_chunk", &NormalEquations::end_chunk);
  c.def_property_readonly("gram", [](const NormalEquations& ne) {
    const auto K = static_cast<py::ssize_t>(ne.K());
    return copy_out(ne.gram(), {K, K});
  });
  c.def_property_readonly("rhs", [](const NormalEquations& ne) {
    return copy_out(ne.rhs(), {static_cast<py::ssize_t>(ne.K())});
  });
  c.def_property_readonly("yy", &NormalEquations::yy);

  // The fixed chunk plan: one (pair, begin, end, window_first, window_size) per chunk, in the
  // global order every piece must follow.
  m.def(
      "chunk_plan",
      [](const std::vector<std::size_t>& lengths, std::size_t rows, std::int64_t lo, std::int64_t hi) {
        const convgrad::ChunkPlan plan(lengths, rows);
        const Taps taps = Taps::range(lo, hi);
        py::list out;
        for (std::size_t c = 0; c < plan.chunks(); ++c) {
          const convgrad::Chunk ch = plan.chunk(c);
          const convgrad::Window w = convgrad::input_window(ch, taps);
          out.append(py::make_tuple(ch.pair, ch.begin, ch.end, w.first, w.size));
        }
        return out;
      },
      "lengths"_a, "rows"_a, "lo"_a, "hi"_a);
}
