// convgrad._core: thin pybind11 bindings over the library (include/convgrad/*.hpp).
//
// The Python layer (python/convgrad/_checks.py) checks dtypes and shapes and hands over
// C-contiguous, aligned, native-endian arrays of ONE float type; every function here is
// registered twice, for float32 and float64, with conversion switched off, so nothing is
// ever cast silently. The math lives in the library: this file only moves arrays in and
// out, releases the GIL around the compute, and maps the library's typed errors onto
// Python exceptions:
//
//   convgrad::invalid_argument, non_finite_input -> ValueError
//   convgrad::resource_limit                     -> MemoryError
//   convgrad::singular_system                    -> numpy.linalg.LinAlgError
//   convgrad::io_error                           -> OSError
//   convgrad::interrupted (Ctrl-C)               -> the signal handler's exception (KeyboardInterrupt)
//   any other convgrad::error                    -> RuntimeError
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "arrays.hpp"
#include "convgrad/batch.hpp"
#include "convgrad/check.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/interrupt.hpp"
#include "convgrad/jacobian.hpp"
#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"
#include "convgrad/taps_file.hpp"
#include "convgrad/tune.hpp"
#include "convgrad/version.hpp"
#include "compute.hpp"

namespace py = pybind11;
using namespace py::literals;

void bind_channels(py::module_& m);  // channels.cpp: the multi-channel filter

namespace {

using convgrad::Method;
using convgrad::Taps;
using convgrad::python::In;
using convgrad::python::span_of;

// Taps for K values: m = lo..lo+K-1, or the centred range -(K-1)/2..(K-1)/2 when lo is not
// given (the library refuses an even K there, with a message saying to pass lo).
Taps taps_for(std::int64_t K, std::optional<std::int64_t> lo) {
  return lo ? Taps::from_lo(*lo, K) : Taps::centred_for(K);
}

// A 1-D numpy array of n values for the library to write into.
template <typename T>
py::array_t<T> empty_1d(std::size_t n) {
  return py::array_t<T>(static_cast<py::ssize_t>(n));
}

template <typename T>
std::span<T> out_span(py::array_t<T>& a) {
  return {a.mutable_data(), static_cast<std::size_t>(a.size())};
}

// Hands a library-owned buffer to numpy without copying it (the Jacobians can be large).
template <typename T>
py::array_t<T> adopt(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(std::move(shape), owned->data(), free_when_done);
}

using convgrad::python::compute;  // compute.hpp: the GIL released, Ctrl-C polled

// yhat = h * x.
template <typename T>
py::array_t<T> conv(const In<T>& h, const In<T>& x, std::optional<std::int64_t> lo,
                    const std::string& method) {
  const Method how = convgrad::parse_method(method);
  const Taps taps = taps_for(h.size(), lo);
  auto yhat = empty_1d<T>(x.size());
  auto out = out_span(yhat);
  compute("conv", [&] { convgrad::conv<T>(span_of(x), span_of(h), taps, out, how); });
  return yhat;
}

// (loss, dh) or (loss, dh, dx) for L = 1/2 ||h * x - y||^2.
template <typename T>
py::tuple loss_and_grad(const In<T>& x, const In<T>& y, const In<T>& h, std::optional<std::int64_t> lo,
                        const std::string& method, bool input_grad) {
  const Method how = convgrad::parse_method(method);
  const Taps taps = taps_for(h.size(), lo);
  const std::span<T> yhat, r;  // not returned: the library keeps them in its block buffers
  auto dh = empty_1d<T>(h.size());
  auto dx = empty_1d<T>(input_grad ? x.size() : 0);
  auto dh_out = out_span(dh);
  auto dx_out = out_span(dx);
  double loss = 0;
  compute("loss_and_grad", [&] {
    loss = convgrad::loss_and_grad<T>(span_of(x), span_of(y), span_of(h), taps, yhat, r, dh_out, dx_out, how);
  });
  if (input_grad) return py::make_tuple(loss, dh, dx);
  return py::make_tuple(loss, dh);
}

// dh[m] = sum_n x[n-m] r[n], m = lo..lo+K-1.
template <typename T>
py::array_t<T> grad_kernel(const In<T>& x, const In<T>& r, std::int64_t K, std::optional<std::int64_t> lo,
                           const std::string& method) {
  const Method how = convgrad::parse_method(method);
  const Taps taps = taps_for(K, lo);
  auto dh = empty_1d<T>(taps.K());
  auto out = out_span(dh);
  compute("grad_kernel", [&] { convgrad::grad_kernel<T>(span_of(x), span_of(r), taps, out, how); });
  return dh;
}

// dx[k] = sum_m h[m] r[k+m].
template <typename T>
py::array_t<T> grad_input(const In<T>& h, const In<T>& r, std::optional<std::int64_t> lo,
                          const std::string& method) {
  const Method how = convgrad::parse_method(method);
  const Taps taps = taps_for(h.size(), lo);
  auto dx = empty_1d<T>(r.size());
  auto out = out_span(dx);
  compute("grad_input", [&] { convgrad::grad_input<T>(span_of(r), span_of(h), taps, out, how); });
  return dx;
}

// (dL/dyhat = r^T as 1 x N, dyhat/dh as N x K): the two factors of dh = r^T J_h.
template <typename T>
py::tuple jacobians(const In<T>& x, const In<T>& y, const In<T>& h, std::optional<std::int64_t> lo,
                    std::size_t budget) {
  const Taps taps = taps_for(h.size(), lo);
  convgrad::Matrix<T> dl_dyhat, dyhat_dh;
  compute("jacobians", [&] {
    // The residual from the reference loops: the Jacobians are for teaching, not speed.
    const auto step =
        convgrad::loss_and_grad<T>(span_of(x), span_of(y), span_of(h), taps, Method::reference, false);
    dl_dyhat = convgrad::jacobian_loss_yhat<T>(step.r);
    dyhat_dh = convgrad::jacobian_yhat_h<T>(span_of(x), taps, budget);
  });
  const auto rows = [](const auto& m) { return static_cast<py::ssize_t>(m.rows); };
  const auto cols = [](const auto& m) { return static_cast<py::ssize_t>(m.cols); };
  return py::make_tuple(adopt(std::move(dl_dyhat.data), {rows(dl_dyhat), cols(dl_dyhat)}),
                        adopt(std::move(dyhat_dh.data), {rows(dyhat_dh), cols(dyhat_dh)}));
}

// The agreement report of every method against the reference loops, as plain Python data.
template <typename T>
py::dict check(const In<T>& x, const In<T>& y, const In<T>& h, std::optional<std::int64_t> lo,
               std::size_t jacobian_budget, bool finite_differences) {
  const Taps taps = taps_for(h.size(), lo);
  convgrad::CheckReport rep;
  compute("check", [&] {
    rep = convgrad::check_gradients<T>(span_of(x), span_of(y), span_of(h), taps, jacobian_budget,
                                       finite_differences);
  });
  py::list rows;
  for (const auto& row : rep.rows)
    rows.append(py::dict("method"_a = row.method, "quantity"_a = row.quantity,
                         "max_abs_diff"_a = row.max_abs_diff, "tolerance"_a = row.tolerance, "ok"_a = row.ok,
                         "skipped"_a = row.skipped, "note"_a = row.note));
  return py::dict("ok"_a = rep.ok(), "n"_a = rep.n, "k"_a = rep.k, "lo"_a = rep.taps.lo, "hi"_a = rep.taps.hi,
                  "dtype"_a = rep.dtype, "loss"_a = rep.loss, "rows"_a = rows);
}

// ---- Batched forms for convgrad.torch: B signals (rows of a C-order B x N array) share one h;
// the arithmetic is the library's (convgrad/batch.hpp).

template <typename T>
std::size_t row_length(const In<T>& a, const char* what) {
  if (a.ndim() != 2)
    throw convgrad::invalid_argument(std::string(what) + " must be 2-D (B x N), got " +
                                     std::to_string(a.ndim()) + "-D");
  return static_cast<std::size_t>(a.shape(1));
}

template <typename T>
py::array_t<T> like_rows(const In<T>& a) {
  return py::array_t<T>({a.shape(0), a.shape(1)});
}

// Y[b] = h * X[b] for every row b.
template <typename T>
py::array_t<T> conv_rows(const In<T>& h, const In<T>& X, std::int64_t lo) {
  const std::size_t N = row_length(X, "x");
  const Taps taps = Taps::from_lo(lo, static_cast<std::int64_t>(h.size()));
  auto Y = like_rows(X);
  auto out = out_span(Y);
  compute("conv_rows", [&] { convgrad::conv_rows<T>(span_of(X), N, span_of(h), taps, out); });
  return Y;
}

// dh[m] = sum_b sum_n X[b][n-m] R[b][n]: the shared filter's gradient sums over the batch.
template <typename T>
py::array_t<T> grad_kernel_rows(const In<T>& X, const In<T>& R, std::int64_t K, std::int64_t lo) {
  const std::size_t N = row_length(X, "x");
  if (row_length(R, "r") != N || R.shape(0) != X.shape(0))
    throw convgrad::invalid_argument("r must have the shape of x");
  const Taps taps = Taps::from_lo(lo, K);
  auto dh = empty_1d<T>(taps.K());
  auto out = out_span(dh);
  compute("grad_kernel_rows", [&] { convgrad::grad_kernel_rows<T>(span_of(X), span_of(R), N, taps, out); });
  return dh;
}

// DX[b][k] = sum_m h[m] R[b][k+m] for every row b.
template <typename T>
py::array_t<T> grad_input_rows(const In<T>& h, const In<T>& R, std::int64_t lo) {
  const std::size_t N = row_length(R, "r");
  const Taps taps = Taps::from_lo(lo, static_cast<std::int64_t>(h.size()));
  auto DX = like_rows(R);
  auto out = out_span(DX);
  compute("grad_input_rows", [&] { convgrad::grad_input_rows<T>(span_of(R), N, span_of(h), taps, out); });
  return DX;
}

// ---- Learning a filter from (x, y) pairs: convgrad::fit (include/convgrad/fit.hpp).

// Everything FitOptions holds, as the Python layer passes it (already type-checked there).
struct FitArgs {
  std::string solver, method;
  double ridge;
  std::optional<double> grad_tol;  // unset: the dtype's default
  double loss_tol, time_limit, lr, beta1, beta2, eps;
  std::size_t max_iter;
  std::optional<std::size_t> batch;  // unset: all pairs
  std::uint64_t seed;
  bool keep_history;
  std::size_t chunk_rows = convgrad::kFitChunkRows;
};

// The library's options from the Python layer's, with `progress` (or None) called after every
// iteration with (iteration, loss, grad_norm, seconds); the fit stops when it returns False.
// The caller keeps `progress` alive while the options are used.
convgrad::FitOptions fit_options(const FitArgs& a, const py::object& progress) {
  convgrad::FitOptions o;
  o.solver = convgrad::parse_solver(a.solver);
  o.method = convgrad::parse_method(a.method);
  o.ridge = a.ridge;
  o.max_iter = a.max_iter;
  o.grad_tol = a.grad_tol;  // unset: the dtype's default
  o.loss_tol = a.loss_tol;
  o.time_limit = a.time_limit;
  o.lr = a.lr;
  o.beta1 = a.beta1;
  o.beta2 = a.beta2;
  o.eps = a.eps;
  o.batch = a.batch;
  o.seed = a.seed;
  o.keep_history = a.keep_history;
  o.chunk_rows = a.chunk_rows;
  if (!progress.is_none())
    o.progress = [&progress](const convgrad::Progress& pr) {
      py::gil_scoped_acquire hold;
      py::object keep = progress(pr.iteration, pr.loss, pr.grad_norm, pr.seconds);
      // Python truth, as `if progress(...)` would test it: 0 or "" stop the fit like False
      // (cast<bool> accepted only True/False and raised a bare RuntimeError for anything else).
      return keep.is_none() || static_cast<bool>(py::bool_(keep));
    };
  return o;
}

// The iterative solvers' history as a dict of arrays: iteration, loss, grad_norm, seconds.
py::dict history_dict(const std::vector<convgrad::Progress>& history) {
  const std::size_t n_hist = history.size();
  std::vector<double> it(n_hist), loss(n_hist), gnorm(n_hist), secs(n_hist);
  for (std::size_t i = 0; i < n_hist; ++i) {
    it[i] = static_cast<double>(history[i].iteration);
    loss[i] = history[i].loss;
    gnorm[i] = history[i].grad_norm;
    secs[i] = history[i].seconds;
  }
  const auto n = static_cast<py::ssize_t>(n_hist);
  return py::dict("iteration"_a = adopt(std::move(it), {n}), "loss"_a = adopt(std::move(loss), {n}),
                  "grad_norm"_a = adopt(std::move(gnorm), {n}), "seconds"_a = adopt(std::move(secs), {n}));
}

// Minimises sum_p 1/2 ||X_p h - y_p||^2 + ridge/2 ||h||^2 over taps lo..hi. `progress`
// (or None) is called after every iteration with (iteration, loss, grad_norm, seconds) and
// stops the fit when it returns False. The GIL is released during the fit and re-taken for
// each call back and for each Ctrl-C poll (compute): a pending signal stops every solver,
// the exact one included, with KeyboardInterrupt.
template <typename T>
py::dict fit(const std::vector<In<T>>& xs, const std::vector<In<T>>& ys, std::int64_t lo, std::int64_t hi,
             const FitArgs& a, std::optional<In<T>> h0, py::object progress) {
  if (xs.size() != ys.size())
    throw convgrad::invalid_argument("pairs: " + std::to_string(xs.size()) + " inputs but " +
                                     std::to_string(ys.size()) + " targets");
  const Taps taps = Taps::range(lo, hi);
  std::vector<convgrad::Pair<T>> data;
  for (std::size_t p = 0; p < xs.size(); ++p) data.push_back({span_of(xs[p]), span_of(ys[p])});
  const convgrad::FitOptions o = fit_options(a, progress);
  const std::span<const T> h_start = h0 ? span_of(*h0) : std::span<const T>{};
  convgrad::FitResult<T> res;
  compute("fit", [&] { res = convgrad::fit<T>(data, taps, o, h_start); });
  py::dict history = history_dict(res.history);
  const auto K = static_cast<py::ssize_t>(res.h.size());
  const auto P = static_cast<py::ssize_t>(res.pair_loss.size());
  py::object condition = res.condition ? py::object(py::float_(*res.condition)) : py::none();
  return py::dict("h"_a = adopt(std::move(res.h), {K}), "lo"_a = taps.lo, "hi"_a = taps.hi,
                  "solver"_a = std::string(convgrad::to_string(res.solver)), "iterations"_a = res.iterations,
                  "seconds"_a = res.seconds, "loss"_a = res.loss, "grad_norm"_a = res.grad_norm,
                  "pair_loss"_a = adopt(std::move(res.pair_loss), {P}), "stop_reason"_a = res.stop_reason,
                  "lambda_max"_a = res.lambda_max, "step"_a = res.step, "step_halvings"_a = res.step_halvings,
                  "condition"_a = condition, "condition_estimated"_a = res.condition_estimated,
                  "ridge"_a = a.ridge, "history"_a = history);
}

// Multi-input, multi-output fit (convgrad::fit_mimo), by any solver: x is C_in x N, y is
// C_out x N (2-D, C order); h (and h0, when given) is C_out x C_in x K. Options and progress as
// for fit().
template <typename T>
py::dict fit_mimo(const In<T>& x, const In<T>& y, std::int64_t lo, std::int64_t hi, const FitArgs& a,
                  std::optional<In<T>> h0, py::object progress) {
  if (x.ndim() != 2 || y.ndim() != 2)
    throw convgrad::invalid_argument("x and y must be 2-D (channels x samples)");
  const Taps taps = Taps::range(lo, hi);
  const auto rows = [](const In<T>& a) {
    std::vector<std::span<const T>> v;
    const auto N = static_cast<std::size_t>(a.shape(1));
    for (py::ssize_t c = 0; c < a.shape(0); ++c) v.push_back({a.data() + c * a.shape(1), N});
    return v;
  };
  const auto xs = rows(x), ys = rows(y);
  const convgrad::FitOptions o = fit_options(a, progress);
  const std::span<const T> h_start = h0 ? span_of(*h0) : std::span<const T>{};
  convgrad::MimoSolution r;
  compute("fit", [&] { r = convgrad::fit_mimo<T>(xs, ys, taps, o, h_start); });
  std::vector<T> h(r.h.begin(), r.h.end());
  const std::string advice = convgrad::mimo_advice(r);
  const auto C_out = static_cast<py::ssize_t>(r.outputs), C_in = static_cast<py::ssize_t>(r.inputs);
  const bool exact = r.solver == convgrad::Solver::exact;  // else no condition number
  const auto or_none = [exact](double v) { return exact ? py::object(py::float_(v)) : py::none(); };
  return py::dict("h"_a = adopt(std::move(h), {C_out, C_in, static_cast<py::ssize_t>(taps.K())}),
                  "output_loss"_a = adopt(std::move(r.output_loss), {C_out}), "loss"_a = r.loss,
                  "condition"_a = or_none(r.condition), "condition_estimated"_a = r.condition_estimated,
                  "lambda_min"_a = or_none(r.lambda_min), "lambda_max"_a = r.lambda_max,
                  "seconds"_a = r.seconds, "advice"_a = advice,
                  "solver"_a = std::string(convgrad::to_string(r.solver)), "iterations"_a = r.iterations,
                  "stop_reason"_a = r.stop_reason, "grad_norm"_a = r.grad_norm, "step"_a = r.step,
                  "step_halvings"_a = r.step_halvings, "history"_a = history_dict(r.history));
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("conv", &conv<T>, "h"_a.noconvert(), "x"_a.noconvert(), "lo"_a, "method"_a);
  m.def("loss_and_grad", &loss_and_grad<T>, "x"_a.noconvert(), "y"_a.noconvert(), "h"_a.noconvert(), "lo"_a,
        "method"_a, "input_grad"_a);
  m.def("grad_kernel", &grad_kernel<T>, "x"_a.noconvert(), "r"_a.noconvert(), "K"_a, "lo"_a, "method"_a);
  m.def("grad_input", &grad_input<T>, "h"_a.noconvert(), "r"_a.noconvert(), "lo"_a, "method"_a);
  m.def("jacobians", &jacobians<T>, "x"_a.noconvert(), "y"_a.noconvert(), "h"_a.noconvert(), "lo"_a,
        "budget"_a);
  m.def("check", &check<T>, "x"_a.noconvert(), "y"_a.noconvert(), "h"_a.noconvert(), "lo"_a,
        "jacobian_budget"_a, "finite_differences"_a);
  m.def("conv_rows", &conv_rows<T>, "h"_a.noconvert(), "x"_a.noconvert(), "lo"_a);
  m.def("grad_kernel_rows", &grad_kernel_rows<T>, "x"_a.noconvert(), "r"_a.noconvert(), "K"_a, "lo"_a);
  m.def("grad_input_rows", &grad_input_rows<T>, "h"_a.noconvert(), "r"_a.noconvert(), "lo"_a);
  m.def("fit", &fit<T>, "xs"_a.noconvert(), "ys"_a.noconvert(), "lo"_a, "hi"_a, "options"_a,
        "h0"_a.noconvert(), "progress"_a);
  m.def("fit_mimo", &fit_mimo<T>, "x"_a.noconvert(), "y"_a.noconvert(), "lo"_a, "hi"_a, "options"_a,
        "h0"_a.noconvert(), "progress"_a);
}

void translate_errors() {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const convgrad::invalid_argument& e) {  // includes non_finite_input
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const convgrad::resource_limit& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const convgrad::singular_system& e) {
      py::object lin_alg_error = py::module_::import("numpy.linalg").attr("LinAlgError");
      PyErr_SetString(lin_alg_error.ptr(), e.what());
    } catch (const convgrad::io_error& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const convgrad::interrupted& e) {
      // Python's signal handler has set the exception (KeyboardInterrupt for Ctrl-C); keep it.
      if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    } catch (const convgrad::error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

}  // namespace

void bind_adaptive(py::module_& m);  // adaptive.cpp
void bind_stream(py::module_& m);    // stream.cpp
void bind_chunks(py::module_& m);    // chunks.cpp

PYBIND11_MODULE(_core, m) {
  m.doc() = "convgrad's compiled core; use the `convgrad` package, which checks arguments first.";
  m.attr("__version__") = convgrad::version;  // from project(VERSION), as the library and the command
  translate_errors();
  py::class_<FitArgs>(m, "FitOptions")
      .def(py::init([](std::string solver, std::string method, double ridge, std::optional<double> grad_tol,
                       double loss_tol, double time_limit, double lr, double beta1, double beta2, double eps,
                       std::size_t max_iter, std::optional<std::size_t> batch, std::uint64_t seed,
                       bool keep_history, std::size_t chunk_rows) {
             return FitArgs{std::move(solver),
                            std::move(method),
                            ridge,
                            grad_tol,
                            loss_tol,
                            time_limit,
                            lr,
                            beta1,
                            beta2,
                            eps,
                            max_iter,
                            batch,
                            seed,
                            keep_history,
                            chunk_rows};
           }),
           "solver"_a, "method"_a, "ridge"_a, "grad_tol"_a, "loss_tol"_a, "time_limit"_a, "lr"_a, "beta1"_a,
           "beta2"_a, "eps"_a, "max_iter"_a, "batch"_a, "seed"_a, "keep_history"_a,
           "chunk_rows"_a = convgrad::kFitChunkRows);
  bind_dtype<float>(m);
  bind_dtype<double>(m);
  bind_adaptive(m);
  bind_stream(m);
  bind_chunks(m);

  // (lo, hi) for K taps: the centred range unless lo is given; ValueError for an even K
  // without lo, with the library's message.
  m.def(
      "tap_range",
      [](std::int64_t K, std::optional<std::int64_t> lo) {
        const Taps taps = taps_for(K, lo);
        return py::make_tuple(taps.lo, taps.hi);
      },
      "K"_a, "lo"_a);
  // ---- taps files (convgrad/taps_file.hpp) ----------------------------------------------------
  // (h as float64, lo or None, sample_rate or None): lo None means the file records no range.
  m.def(
      "read_taps",
      [](const std::string& path) {
        convgrad::io::TapsFile t;
        {
          py::gil_scoped_release release;
          t = convgrad::io::read_taps(path);
        }
        const auto K = static_cast<py::ssize_t>(t.h.size());
        return py::make_tuple(adopt(std::move(t.h), {K}), t.lo, t.sample_rate);
      },
      "path"_a);
  // Writes h (taps m = lo.., or centred when lo is None) with its range and sample rate.
  m.def(
      "write_taps",
      [](const std::string& path, const In<double>& h, std::optional<std::int64_t> lo,
         std::optional<double> sample_rate) {
        const Taps taps = taps_for(h.size(), lo);
        py::gil_scoped_release release;
        convgrad::io::write_taps(path, span_of(h), taps, sample_rate);
      },
      "path"_a, "h"_a.noconvert(), "lo"_a, "sample_rate"_a);
  m.def(
      "parse_method",
      [](const std::string& name) { return std::string(convgrad::to_string(convgrad::parse_method(name))); },
      "name"_a);
  // The documented agreement tolerance (check.hpp), for tests: dtype is "float32" or "float64".
  m.def(
      "agreement_tolerance",
      [](const std::string& dtype, std::size_t terms, std::size_t length, double norm_a, double norm_b) {
        if (dtype == "float32") return convgrad::agreement_tolerance<float>(terms, length, norm_a, norm_b);
        if (dtype == "float64") return convgrad::agreement_tolerance<double>(terms, length, norm_a, norm_b);
        throw convgrad::invalid_argument("dtype: '" + dtype + "' is not float32 or float64");
      },
      "dtype"_a, "terms"_a, "length"_a, "norm_a"_a, "norm_b"_a);
  m.attr("default_jacobian_budget") = convgrad::kDefaultJacobianBudget;

  // ---- the measured choice of method="auto" (convgrad/tune.hpp) ----------------------------
  // cache "" means the default location.
  m.def(
      "set_tuning", [](bool enabled, const std::string& cache) { convgrad::set_tuning(enabled, cache); },
      "enabled"_a, "cache"_a);
  m.def("tuning_enabled", &convgrad::tuning_enabled);
  // Measures taps lo..hi at n samples now: (the record as the cache file's JSON text, the file
  // it was saved to or "", the cache's last warning not yet reported or "").
  m.def(
      "tune",
      [](const std::string& dtype, std::size_t n, std::int64_t lo, std::int64_t hi) {
        const Taps taps = Taps::range(lo, hi);
        convgrad::TuneRecord r;
        {
          py::gil_scoped_release release;
          r = dtype == "float32" ? convgrad::tune<float>(n, taps) : convgrad::tune<double>(n, taps);
        }
        return py::make_tuple(convgrad::to_json(r), convgrad::last_tune_save().string(),
                              convgrad::take_tune_warning());
      },
      "dtype"_a, "n"_a, "lo"_a, "hi"_a);
  // The tuning cache's last problem not reported yet (str), or None: the Python layer warns
  // with it after every call that may have resolved method="auto".
  m.def("take_tune_warning", []() -> std::optional<std::string> {
    std::string warning = convgrad::take_tune_warning();
    if (warning.empty()) return std::nullopt;
    return warning;
  });
  bind_channels(m);
}
