// convgrad._core's multi-channel filters (include/convgrad/channels.hpp), for convgrad's
// conv_channels / grad_channels / train_step_channels and convgrad.torch.Conv1d:
//
//   x: B x C_in x N_in,  W: C_out x C_in/groups x K,  bias: C_out (or empty),  y, r: B x C_out x N_out
//   y[b, o, n] = bias[o] + sum_{c'} sum_j W[o, c', j] x[b, c, n - d (lo + j)]
//
// Arrays arrive C-contiguous and of one float type (python/convgrad/_channels.py checks them;
// every binding is registered per dtype with conversion off). Shapes are read from the arrays;
// the library checks that they agree and throws invalid_argument naming the field. The GIL is
// released around every computation (compute.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "compute.hpp"
#include "convgrad/channels.hpp"
#include "convgrad/errors.hpp"

namespace py = pybind11;
using namespace py::literals;

namespace {

using convgrad::ChannelShape;
using convgrad::Method;
using convgrad::python::compute;
using convgrad::python::In;
using convgrad::python::out_span;
using convgrad::python::span_of;

// The dimensions of a 3-D array (x, r, W); anything else is refused naming the array.
template <typename T>
std::array<std::size_t, 3> dims3(const In<T>& a, const char* name, const char* layout) {
  if (a.ndim() != 3)
    throw convgrad::invalid_argument(std::string(name) + " must be 3-D (" + layout + "), got " +
                                     std::to_string(a.ndim()) + "-D");
  return {static_cast<std::size_t>(a.shape(0)), static_cast<std::size_t>(a.shape(1)),
          static_cast<std::size_t>(a.shape(2))};
}

// The layer's shape from x (B x C_in x N_in), the filter's C_out and K, N_out and the options.
ChannelShape shape_of(std::array<std::size_t, 3> x, std::size_t C_out, std::size_t K, std::size_t n_out,
                      std::int64_t lo, std::size_t dilation, std::size_t groups) {
  ChannelShape s;
  s.batch = x[0];
  s.in_channels = x[1];
  s.n_in = x[2];
  s.out_channels = C_out;
  s.n_out = n_out;
  s.groups = groups;
  s.dilation = dilation;
  s.taps = convgrad::Taps::from_lo(lo, static_cast<std::int64_t>(K));
  return s;
}

template <typename T>
py::array_t<T> empty3(std::size_t a, std::size_t b, std::size_t c) {
  return py::array_t<T>(
      {static_cast<py::ssize_t>(a), static_cast<py::ssize_t>(b), static_cast<py::ssize_t>(c)});
}

// y = bias + W * x, N_out samples per output channel.
template <typename T>
py::array_t<T> conv_channels(const In<T>& x, const In<T>& W, const In<T>& bias, std::int64_t lo,
                             std::size_t dilation, std::size_t groups, std::size_t n_out,
                             const std::string& method) {
  const Method how = convgrad::parse_method(method);
  const auto w = dims3(W, "W", "C_out x C_in/groups x K");
  const ChannelShape s = shape_of(dims3(x, "x", "B x C_in x N_in"), w[0], w[2], n_out, lo, dilation, groups);
  convgrad::validate(s);
  auto y = empty3<T>(s.batch, s.out_channels, s.n_out);
  auto out = out_span(y);
  compute("conv_channels",
          [&] { convgrad::conv_channels<T>(span_of(x), span_of(W), span_of(bias), out, s, how); });
  return y;
}

// (dx, dW, dbias) for the residual r; each only when asked for (None otherwise).
template <typename T>
py::tuple grad_channels(const In<T>& x, const In<T>& W, const In<T>& r, std::int64_t lo, std::size_t dilation,
                        std::size_t groups, bool want_dx, bool want_dW, bool want_dbias,
                        const std::string& method) {
  const Method how = convgrad::parse_method(method);
  const auto w = dims3(W, "W", "C_out x C_in/groups x K");
  const auto rr = dims3(r, "r", "B x C_out x N_out");
  const ChannelShape s = shape_of(dims3(x, "x", "B x C_in x N_in"), w[0], w[2], rr[2], lo, dilation, groups);
  convgrad::validate(s);
  py::array_t<T> dx = want_dx ? empty3<T>(s.batch, s.in_channels, s.n_in) : py::array_t<T>(0);
  py::array_t<T> dW = want_dW ? empty3<T>(s.out_channels, s.in_per_group(), s.K()) : py::array_t<T>(0);
  py::array_t<T> dbias(static_cast<py::ssize_t>(want_dbias ? s.out_channels : 0));
  auto dx_out = out_span(dx), dW_out = out_span(dW), dbias_out = out_span(dbias);
  compute("grad_channels", [&] {
    convgrad::grad_channels<T>(span_of(x), span_of(W), span_of(r), dx_out, dW_out, dbias_out, s, how);
  });
  const auto maybe = [](bool want, py::array_t<T>& a) {
    return want ? py::object(a) : py::object(py::none());
  };
  return py::make_tuple(maybe(want_dx, dx), maybe(want_dW, dW), maybe(want_dbias, dbias));
}

// dx alone, from W and r (B x C_out x N_out) and N_in: the library's grad_channels wants an x of
// its size, which dx does not read; zeros stand in for it.
template <typename T>
py::array_t<T> grad_input_channels(const In<T>& W, const In<T>& r, std::size_t n_in, std::int64_t lo,
                                   std::size_t dilation, std::size_t groups, const std::string& method) {
  const Method how = convgrad::parse_method(method);
  const auto w = dims3(W, "W", "C_out x C_in/groups x K");
  const auto rr = dims3(r, "r", "B x C_out x N_out");
  const ChannelShape s = shape_of({rr[0], w[1] * groups, n_in}, w[0], w[2], rr[2], lo, dilation, groups);
  convgrad::validate(s);
  auto dx = empty3<T>(s.batch, s.in_channels, s.n_in);
  auto out = out_span(dx);
  compute("grad_input_channels", [&] {
    const std::vector<T> no_x(s.x_size(), T(0));
    convgrad::grad_channels<T>(no_x, span_of(W), span_of(r), out, {}, {}, s, how);
  });
  return dx;
}

// dW alone (C_out x C_in/groups x K), from x and r: W is not read for dW; zeros stand in for it.
template <typename T>
py::array_t<T> grad_weight_channels(const In<T>& x, const In<T>& r, std::size_t K, std::int64_t lo,
                                    std::size_t dilation, std::size_t groups, const std::string& method) {
  const Method how = convgrad::parse_method(method);
  const auto rr = dims3(r, "r", "B x C_out x N_out");
  const ChannelShape s = shape_of(dims3(x, "x", "B x C_in x N_in"), rr[1], K, rr[2], lo, dilation, groups);
  convgrad::validate(s);
  auto dW = empty3<T>(s.out_channels, s.in_per_group(), s.K());
  auto out = out_span(dW);
  compute("grad_weight_channels", [&] {
    const std::vector<T> no_W(s.w_size(), T(0));
    convgrad::grad_channels<T>(span_of(x), no_W, span_of(r), {}, out, {}, s, how);
  });
  return dW;
}

// (loss, dW, dbias or None) of the fused training step for the target y (B x C_out x N_out).
template <typename T>
py::tuple train_step_channels(const In<T>& x, const In<T>& W, const In<T>& bias, const In<T>& y,
                              std::int64_t lo, std::size_t dilation, std::size_t groups,
                              const std::string& method) {
  const Method how = convgrad::parse_method(method);
  const auto w = dims3(W, "W", "C_out x C_in/groups x K");
  const auto yy = dims3(y, "y", "B x C_out x N_out");
  const ChannelShape s = shape_of(dims3(x, "x", "B x C_in x N_in"), w[0], w[2], yy[2], lo, dilation, groups);
  convgrad::validate(s);
  auto dW = empty3<T>(s.out_channels, s.in_per_group(), s.K());
  py::array_t<T> dbias(static_cast<py::ssize_t>(bias.size() ? s.out_channels : 0));
  auto dW_out = out_span(dW), dbias_out = out_span(dbias);
  double loss = 0;
  compute("train_step_channels", [&] {
    loss = convgrad::train_step_channels<T>(span_of(x), span_of(W), span_of(bias), span_of(y), dW_out,
                                            dbias_out, s, how);
  });
  return py::make_tuple(loss, dW, bias.size() ? py::object(dbias) : py::object(py::none()));
}

template <typename T>
void bind_dtype(py::module_& m) {
  m.def("conv_channels", &conv_channels<T>, "x"_a.noconvert(), "W"_a.noconvert(), "bias"_a.noconvert(),
        "lo"_a, "dilation"_a, "groups"_a, "n_out"_a, "method"_a);
  m.def("grad_channels", &grad_channels<T>, "x"_a.noconvert(), "W"_a.noconvert(), "r"_a.noconvert(), "lo"_a,
        "dilation"_a, "groups"_a, "dx"_a, "dW"_a, "dbias"_a, "method"_a);
  m.def("grad_input_channels", &grad_input_channels<T>, "W"_a.noconvert(), "r"_a.noconvert(), "n_in"_a,
        "lo"_a, "dilation"_a, "groups"_a, "method"_a);
  m.def("grad_weight_channels", &grad_weight_channels<T>, "x"_a.noconvert(), "r"_a.noconvert(), "K"_a, "lo"_a,
        "dilation"_a, "groups"_a, "method"_a);
  m.def("train_step_channels", &train_step_channels<T>, "x"_a.noconvert(), "W"_a.noconvert(),
        "bias"_a.noconvert(), "y"_a.noconvert(), "lo"_a, "dilation"_a, "groups"_a, "method"_a);
}

}  // namespace

void bind_channels(py::module_& m) {
  bind_dtype<float>(m);
  bind_dtype<double>(m);
}
