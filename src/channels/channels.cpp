// The public channel operations: validate the shape and the spans once, here, then dispatch
// to a method (channels_internal.hpp).
#include "convgrad/channels.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "channels/channels_internal.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/ops.hpp"

namespace convgrad {
namespace {

std::string sz(std::size_t n) { return std::to_string(n); }

void require_positive(std::size_t v, const char* field) {
  if (v == 0) throw invalid_argument(std::string("channels: ") + field + " = 0; it must be at least 1");
}

// a * b, or invalid_argument naming `what` when it does not fit in a signed 64-bit index.
std::size_t checked_product(std::size_t a, std::size_t b, const char* what) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  std::size_t p = 0;
  if (__builtin_mul_overflow(a, b, &p) || p > kMax)
    throw invalid_argument(std::string("channels: the size of ") + what + " overflows");
  return p;
}

void require_size(std::size_t got, std::size_t want, const char* what, const char* layout) {
  if (got != want)
    throw invalid_argument(std::string("channels: ") + what + " has " + sz(got) + " values, expected " +
                           sz(want) + " (" + layout + ")");
}

// An output that may be left empty (not wanted) or has its full size.
void require_optional_size(std::size_t got, std::size_t want, const char* what, const char* layout) {
  if (got != 0) require_size(got, want, what, layout);
}

Method resolve(Method method, const ChannelShape& s, std::size_t element_size) {
  if (method == Method::jacobian)
    throw invalid_argument(
        "channels: method 'jacobian' is single-channel only; use reference, direct, fft or auto");
  return method == Method::automatic ? choose_channel_method(s, element_size) : method;
}

template <std::floating_point T>
void require_inputs(std::span<const T> x, std::span<const T> W, std::span<const T> bias,
                    const ChannelShape& s) {
  validate(s);
  require_size(x.size(), s.x_size(), "x", "B x C_in x N_in");
  require_size(W.size(), s.w_size(), "W", "C_out x C_in/groups x K");
  require_optional_size(bias.size(), s.out_channels, "bias", "C_out, or empty");
  require_finite(x, "x");
  require_finite(W, "W");
  require_finite(bias, "bias");
}

}  // namespace

ChannelShape same_shape(std::size_t batch, std::size_t in_channels, std::size_t out_channels, std::size_t n,
                        Taps taps, std::size_t groups, std::size_t dilation) {
  ChannelShape s;
  s.batch = batch;
  s.in_channels = in_channels;
  s.out_channels = out_channels;
  s.n_in = s.n_out = n;
  s.groups = groups;
  s.dilation = dilation;
  s.taps = taps;
  return s;
}

void validate(const ChannelShape& s) {
  require_positive(s.in_channels, "in_channels");
  require_positive(s.out_channels, "out_channels");
  require_positive(s.n_in, "n_in");
  require_positive(s.n_out, "n_out");
  require_positive(s.groups, "groups");
  require_positive(s.dilation, "dilation");
  if (s.in_channels % s.groups != 0 || s.out_channels % s.groups != 0)
    throw invalid_argument("channels: groups = " + sz(s.groups) + " must divide in_channels = " +
                           sz(s.in_channels) + " and out_channels = " + sz(s.out_channels));
  (void)Taps::range(s.taps.lo, s.taps.hi);
  const auto reach = static_cast<std::size_t>(std::max(s.taps.hi, -s.taps.lo));
  if (s.dilation > static_cast<std::size_t>(kMaxTapOffset) ||
      reach > static_cast<std::size_t>(kMaxTapOffset) / s.dilation)
    throw invalid_argument("channels: dilation = " + sz(s.dilation) + " times the tap offset " + sz(reach) +
                           " exceeds " + sz(static_cast<std::size_t>(kMaxTapOffset)));
  (void)checked_product(checked_product(s.batch, s.in_channels, "x"), s.n_in, "x");
  (void)checked_product(checked_product(s.batch, s.out_channels, "y"), s.n_out, "y");
  (void)checked_product(checked_product(s.out_channels, s.in_per_group(), "W"), s.K(), "W");
}

template <std::floating_point T>
void conv_channels(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<T> y,
                   const ChannelShape& s, Method method) {
  require_inputs(x, W, bias, s);
  require_size(y.size(), s.y_size(), "y", "B x C_out x N_out");
  switch (resolve(method, s, sizeof(T))) {
    case Method::reference:
      return detail::channels::reference::conv(x, W, bias, y, s);
    case Method::fft:
      return detail::channels::fft::conv(x, W, bias, y, s);
    default:
      return detail::channels::direct::conv(x, W, bias, y, s);
  }
}

template <std::floating_point T>
void grad_channels(std::span<const T> x, std::span<const T> W, std::span<const T> r, std::span<T> dx,
                   std::span<T> dW, std::span<T> dbias, const ChannelShape& s, Method method) {
  require_inputs(x, W, std::span<const T>{}, s);
  require_size(r.size(), s.y_size(), "r", "B x C_out x N_out");
  require_optional_size(dx.size(), s.x_size(), "dx", "B x C_in x N_in, or empty");
  require_optional_size(dW.size(), s.w_size(), "dW", "C_out x C_in/groups x K, or empty");
  require_optional_size(dbias.size(), s.out_channels, "dbias", "C_out, or empty");
  require_finite(r, "r");
  switch (resolve(method, s, sizeof(T))) {
    case Method::reference:
      return detail::channels::reference::grad(x, W, r, dx, dW, dbias, s);
    case Method::fft:
      return detail::channels::fft::grad(x, W, r, dx, dW, dbias, s);
    default:
      return detail::channels::direct::grad(x, W, r, dx, dW, dbias, s);
  }
}

template <std::floating_point T>
double train_step_channels(std::span<const T> x, std::span<const T> W, std::span<const T> bias,
                           std::span<const T> y, std::span<T> dW, std::span<T> dbias, const ChannelShape& s,
                           Method method) {
  require_inputs(x, W, bias, s);
  require_size(y.size(), s.y_size(), "y", "B x C_out x N_out");
  require_size(dW.size(), s.w_size(), "dW", "C_out x C_in/groups x K");
  require_optional_size(dbias.size(), s.out_channels, "dbias", "C_out, or empty");
  require_finite(y, "y");
  switch (resolve(method, s, sizeof(T))) {
    case Method::reference:
      return detail::channels::reference::train_step(x, W, bias, y, dW, dbias, s);
    case Method::fft:
      return detail::channels::fft::train_step(x, W, bias, y, dW, dbias, s);
    default:
      return detail::channels::direct::train_step(x, W, bias, y, dW, dbias, s);
  }
}

#define CONVGRAD_INSTANTIATE(T)                                                                            \
  template void conv_channels<T>(std::span<const T>, std::span<const T>, std::span<const T>, std::span<T>, \
                                 const ChannelShape&, Method);                                             \
  template void grad_channels<T>(std::span<const T>, std::span<const T>, std::span<const T>, std::span<T>, \
                                 std::span<T>, std::span<T>, const ChannelShape&, Method);                 \
  template double train_step_channels<T>(std::span<const T>, std::span<const T>, std::span<const T>,       \
                                         std::span<const T>, std::span<T>, std::span<T>,                   \
                                         const ChannelShape&, Method);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad
