// convgrad._core's adaptive filters (include/convgrad/adaptive.hpp): one class per sample type,
// AdaptiveFilter32 / AdaptiveFilter64, over the library's Filter<T>. python/convgrad/adaptive.py
// checks arguments and dtypes first; here arrays move in and out, the GIL is released while
// a block is processed, and adaptive::diverged becomes convgrad._core.DivergedError (a
// RuntimeError subclass with the stream index in .sample). The other errors are translated
// as module.cpp says (ValueError for bad parameters and NaN samples).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "convgrad/adaptive.hpp"

namespace py = pybind11;
using namespace py::literals;

namespace {

namespace ad = convgrad::adaptive;

template <typename T>
using In = py::array_t<T, py::array::c_style>;

template <typename T>
struct PyFilter {
  std::unique_ptr<ad::Filter<T>> f;

  py::tuple process(const In<T>& x, const In<T>& y) {
    const auto n = static_cast<std::size_t>(x.size());
    py::array_t<T> yhat(static_cast<py::ssize_t>(n)), r(static_cast<py::ssize_t>(n));
    {
      py::gil_scoped_release free;
      f->process({x.data(), n}, {y.data(), static_cast<std::size_t>(y.size())}, {yhat.mutable_data(), n},
                 {r.mutable_data(), n});
    }
    return py::make_tuple(yhat, r);
  }
  py::array_t<T> h() const {
    const auto v = f->h();
    py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
  }
  void set_h(const In<T>& h) { f->set_h({h.data(), static_cast<std::size_t>(h.size())}); }
};

template <typename T>
void bind_filter(py::module_& m, const char* name) {
  using F = PyFilter<T>;
  py::class_<F>(m, name)
      .def(
          py::init([](const std::string& algorithm, std::int64_t K, std::int64_t lo, std::optional<double> mu,
                      std::optional<double> delta, double lambda, std::size_t block, std::size_t partitions,
                      bool normalise, std::size_t divergence_window, double divergence_ratio) {
            ad::Options o;
            o.mu = mu;
            o.delta = delta;
            o.lambda = lambda;
            o.block = block;
            o.partitions = partitions;
            o.normalise = normalise;
            o.divergence_window = divergence_window;
            o.divergence_ratio = divergence_ratio;
            return F{ad::make_filter<T>(ad::parse_algorithm(algorithm), convgrad::Taps::from_lo(lo, K), o)};
          }),
          "algorithm"_a, "K"_a, "lo"_a, "mu"_a, "delta"_a, "lam"_a, "block"_a, "partitions"_a, "normalise"_a,
          "divergence_window"_a, "divergence_ratio"_a)
      .def("process", &F::process, "x"_a.noconvert(), "y"_a.noconvert())
      .def("h", &F::h)
      .def("set_h", &F::set_h, "h"_a.noconvert())
      .def("save", [](const F& self) { return py::bytes(self.f->save()); })
      .def_static(
          "restore", [](const py::bytes& b) { return F{ad::restore_filter<T>(std::string(b))}; }, "state"_a)
      .def("clone", [](const F& self) { return F{self.f->clone()}; })
      .def_property_readonly("samples", [](const F& self) { return self.f->samples(); })
      .def_property_readonly("algorithm",
                             [](const F& self) { return std::string(ad::to_string(self.f->algorithm())); })
      .def_property_readonly("lo", [](const F& self) { return self.f->taps().lo; })
      .def_property_readonly("K", [](const F& self) { return self.f->K(); })
      .def_property_readonly("options", [](const F& self) {
        const ad::Options& o = self.f->options();
        py::dict d("lam"_a = o.lambda);
        if (o.mu) d["mu"] = *o.mu;
        if (o.delta) d["delta"] = *o.delta;
        if (self.f->algorithm() == ad::Algorithm::fdaf) {
          const auto g = ad::fdaf_geometry(self.f->K(), o);
          d["block"] = g.block;
          d["partitions"] = g.partitions;
        }
        return d;
      });
}

}  // namespace

// Called by module.cpp's PYBIND11_MODULE after its own error translation is registered (so this
// translator, registered later, sees adaptive::diverged first).
void bind_adaptive(py::module_& m) {
  static py::exception<ad::diverged> diverged_error(m, "DivergedError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ad::diverged& e) {
      py::object err = py::handle(diverged_error.ptr())(e.what());  // an instance, to carry .sample
      err.attr("sample") = e.sample;
      PyErr_SetObject(diverged_error.ptr(), err.ptr());
    }
  });
  bind_filter<float>(m, "AdaptiveFilter32");
  bind_filter<double>(m, "AdaptiveFilter64");
}
