// The public operations: validate once at this boundary, then dispatch to a method.
#include "convgrad/ops.hpp"

#include <algorithm>
#include <limits>
#include <cmath>
#include <optional>
#include <string>

#include "convgrad/errors.hpp"
#include "convgrad/jacobian.hpp"
#include "kernels.hpp"
#include "simd.hpp"

namespace convgrad {
namespace {

std::string sz(std::size_t n) { return std::to_string(n); }

void require_valid_taps(Taps taps) { (void)Taps::range(taps.lo, taps.hi); }

void require_signal(std::size_t n, std::string_view what) {
  if (n == 0) throw invalid_argument(std::string(what) + " is empty: a signal needs at least one sample");
}

void require_size(std::size_t got, std::size_t want, std::string_view what, std::string_view why) {
  if (got != want)
    throw invalid_argument(std::string(what) + " has " + sz(got) + " values, expected " + sz(want) + " (" +
                           std::string(why) + ")");
}

}  // namespace

template <std::floating_point T>
void require_finite(std::span<const T> v, std::string_view what) {
  if (detail::simd::all_finite(v.data(), v.size())) return;  // the common case, scanned with SIMD
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw non_finite_input(
          std::string(what) + " has a non-finite value (" + std::to_string(v[i]) + ") at index " + sz(i), i);
}

template <std::floating_point T>
void conv(std::span<const T> x, std::span<const T> h, Taps taps, std::span<T> yhat, Method method) {
  require_valid_taps(taps);
  require_signal(x.size(), "x");
  require_size(h.size(), taps.K(), "h", "one value per tap m = lo..hi");
  require_size(yhat.size(), x.size(), "yhat", "same length as x");
  require_finite(h, "h");
  require_finite(x, "x");
  method = resolve_method<T>(method, x.size(), taps).method;
  switch (method) {
    case Method::reference:
      return detail::reference::conv(h, taps, x, yhat);
    case Method::jacobian:
      return detail::jacobian::conv(h, taps, x, yhat, kDefaultJacobianBudget);
    case Method::fft:
      return detail::fft::conv(h, taps, x, yhat);
    default:
      return detail::direct::conv(h, taps, x, yhat);
  }
}

template <std::floating_point T>
std::vector<T> conv(std::span<const T> x, std::span<const T> h, Taps taps, Method method) {
  std::vector<T> yhat(x.size());
  conv<T>(x, h, taps, yhat, method);
  return yhat;
}

template <std::floating_point T>
void residual(std::span<const T> yhat, std::span<const T> y, std::span<T> r) {
  require_size(y.size(), yhat.size(), "y", "same length as yhat");
  require_size(r.size(), yhat.size(), "r", "same length as yhat");
  for (std::size_t n = 0; n < r.size(); ++n) r[n] = yhat[n] - y[n];
}

// Summed blockwise in double, in the same order as the fused training step's loss.
template <std::floating_point T>
double loss(std::span<const T> r) {
  return 0.5 * detail::direct::sum_squares<T>(r);
}

template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh, Method method) {
  require_valid_taps(taps);
  require_signal(x.size(), "x");
  require_size(r.size(), x.size(), "r", "same length as x");
  require_size(dh.size(), taps.K(), "dh", "one value per tap m = lo..hi");
  require_finite(x, "x");
  require_finite(r, "r");
  method = resolve_method<T>(method, x.size(), taps).method;
  switch (method) {
    case Method::reference:
      return detail::reference::grad_kernel(x, r, taps, dh);
    case Method::jacobian:
      return detail::jacobian::grad_kernel(x, r, taps, dh, kDefaultJacobianBudget);
    case Method::fft:
      return detail::fft::grad_kernel(x, r, taps, dh);
    default:
      return detail::direct::grad_kernel(x, r, taps, dh);
  }
}

template <std::floating_point T>
std::vector<T> grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, Method method) {
  require_valid_taps(taps);  // before K() sizes dh: hi < lo or an absurd range would ask for terabytes
  std::vector<T> dh(taps.K());
  grad_kernel<T>(x, r, taps, dh, method);
  return dh;
}

template <std::floating_point T>
std::vector<T> grad_kernel_flipped(std::span<const T> x, std::span<const T> r, Taps taps) {
  require_valid_taps(taps);
  require_signal(x.size(), "x");
  require_size(r.size(), x.size(), "r", "same length as x");
  require_finite(x, "x");
  require_finite(r, "r");
  std::vector<T> dh(taps.K());
  detail::reference::grad_kernel_flipped<T>(x, r, taps, dh);
  return dh;
}

template <std::floating_point T>
void grad_input(std::span<const T> r, std::span<const T> h, Taps taps, std::span<T> dx, Method method) {
  require_valid_taps(taps);
  require_signal(r.size(), "r");
  require_size(h.size(), taps.K(), "h", "one value per tap m = lo..hi");
  require_size(dx.size(), r.size(), "dx", "same length as r");
  require_finite(h, "h");
  require_finite(r, "r");
  method = resolve_method<T>(method, r.size(), taps).method;
  switch (method) {
    case Method::reference:
      return detail::reference::grad_input(h, taps, r, dx);
    case Method::jacobian:
      return detail::jacobian::grad_input(h, taps, r, dx, kDefaultJacobianBudget);
    case Method::fft:
      return detail::fft::grad_input(h, taps, r, dx);
    default:
      return detail::direct::grad_input(h, taps, r, dx);
  }
}

template <std::floating_point T>
std::vector<T> grad_input(std::span<const T> r, std::span<const T> h, Taps taps, Method method) {
  std::vector<T> dx(r.size());
  grad_input<T>(r, h, taps, dx, method);
  return dx;
}

// x[k] reaches the outputs n = k + m, m = lo..hi, inside [0, N): k in [-hi, N - 1 - lo].
// A non-finite sample outside that range (one no tap reaches) cannot show in the loss, so
// those samples are scanned here; the error names the first non-finite index of x.
template <std::floating_point T>
void require_finite_where_unreached(std::span<const T> x, Taps taps) {
  const auto N = static_cast<std::int64_t>(x.size());
  Taps c;
  if (!detail::clip_taps(taps, N, c)) return require_finite(x, "x");
  const auto head = static_cast<std::size_t>(std::max<std::int64_t>(0, -c.hi));
  const auto tail = static_cast<std::size_t>(std::min(N - 1, N - 1 - c.lo) + 1);
  if (!detail::simd::all_finite(x.data(), head) ||
      !detail::simd::all_finite(x.data() + tail, x.size() - tail))
    require_finite(x, "x");
}

template <std::floating_point T>
double loss_and_grad(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                     std::span<T> yhat, std::span<T> r, std::span<T> dh, std::span<T> dx, Method method) {
  require_valid_taps(taps);
  require_signal(x.size(), "x");
  const std::size_t N = x.size();
  require_size(y.size(), N, "y", "same length as x");
  require_size(h.size(), taps.K(), "h", "one value per tap m = lo..hi");
  const bool keep = !yhat.empty() || !r.empty();
  if (keep) {
    require_size(yhat.size(), N, "yhat", "same length as x, or both yhat and r empty");
    require_size(r.size(), N, "r", "same length as x, or both yhat and r empty");
  }
  require_size(dh.size(), taps.K(), "dh", "one value per tap m = lo..hi");
  if (!dx.empty()) require_size(dx.size(), N, "dx", "same length as x, or empty");
  // Finite values are checked by the result: a non-finite sample of y, or of x where a tap
  // reaches it, makes the loss non-finite (inf and NaN survive every product and sum on the
  // way), so x and y are scanned only then, to name the index. h and the few samples of x
  // that no tap reaches are checked first. This saves two passes over memory per step.
  require_finite(h, "h");
  require_finite_where_unreached(x, taps);
  method = resolve_method<T>(method, N, taps).method;
  std::vector<T> own_yhat, own_r;  // the fused steps can do without yhat and r in full
  const bool fused = method == Method::direct || method == Method::fft;
  if (!keep && (!fused || !dx.empty())) {
    own_yhat.resize(N), own_r.resize(N);
    yhat = own_yhat, r = own_r;
  }
  double L = 0;
  const std::span<const T> rc(r);
  switch (method) {
    case Method::direct:  // fused: each block's x window serves both yhat and dh
      L = detail::direct::loss_and_grad<T>(x, y, h, taps, yhat, r, dh);
      break;
    case Method::fft:  // fused: each block's spectrum of x serves both yhat and dh
      L = detail::fft::loss_and_grad<T>(x, y, h, taps, yhat, r, dh);
      break;
    case Method::reference:  // the literal loops only, the loss included
      detail::reference::conv<T>(h, taps, x, yhat);
      detail::reference::residual<T>(yhat, y, r);
      L = detail::reference::loss<T>(r);
      detail::reference::grad_kernel<T>(x, rc, taps, dh);
      break;
    default:
      detail::jacobian::conv<T>(h, taps, x, yhat, kDefaultJacobianBudget);
      residual<T>(yhat, y, r);
      L = loss<T>(r);
      detail::jacobian::grad_kernel<T>(x, rc, taps, dh, kDefaultJacobianBudget);
  }
  if (!std::isfinite(L)) {  // a non-finite input, or finite inputs whose squares overflow
    require_finite(x, "x");
    require_finite(y, "y");
    // Finite inputs too large for T: the loss says so, whichever method overflowed (the fused
    // FFT step as NaN from its sums, the others as inf). dx from that residual would be NaN
    // too; grad_input would refuse the residual as if the caller had passed it.
    if (!dx.empty()) std::fill(dx.begin(), dx.end(), std::numeric_limits<T>::quiet_NaN());
    return L;
  }
  if (!dx.empty()) grad_input<T>(rc, h, taps, dx, method);
  return L;
}

template <std::floating_point T>
double loss_and_dh(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                   std::span<T> dh, Method method) {
  return loss_and_grad<T>(x, y, h, taps, {}, {}, dh, {}, method);
}

template <std::floating_point T>
Step<T> loss_and_grad(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                      Method method, bool input_grad) {
  Step<T> s;
  s.yhat.resize(x.size());
  s.r.resize(x.size());
  s.dh.resize(h.size());
  if (input_grad) s.dx.resize(x.size());
  s.loss = loss_and_grad<T>(x, y, h, taps, s.yhat, s.r, s.dh, s.dx, method);
  return s;
}

#define CONVGRAD_INSTANTIATE(T)                                                                       \
  template void require_finite<T>(std::span<const T>, std::string_view);                              \
  template void conv<T>(std::span<const T>, std::span<const T>, Taps, std::span<T>, Method);          \
  template std::vector<T> conv<T>(std::span<const T>, std::span<const T>, Taps, Method);              \
  template void residual<T>(std::span<const T>, std::span<const T>, std::span<T>);                    \
  template double loss<T>(std::span<const T>);                                                        \
  template void grad_kernel<T>(std::span<const T>, std::span<const T>, Taps, std::span<T>, Method);   \
  template std::vector<T> grad_kernel<T>(std::span<const T>, std::span<const T>, Taps, Method);       \
  template std::vector<T> grad_kernel_flipped<T>(std::span<const T>, std::span<const T>, Taps);       \
  template void grad_input<T>(std::span<const T>, std::span<const T>, Taps, std::span<T>, Method);    \
  template std::vector<T> grad_input<T>(std::span<const T>, std::span<const T>, Taps, Method);        \
  template double loss_and_grad<T>(std::span<const T>, std::span<const T>, std::span<const T>, Taps,  \
                                   std::span<T>, std::span<T>, std::span<T>, std::span<T>, Method);   \
  template Step<T> loss_and_grad<T>(std::span<const T>, std::span<const T>, std::span<const T>, Taps, \
                                    Method, bool);                                                    \
  template double loss_and_dh<T>(std::span<const T>, std::span<const T>, std::span<const T>, Taps,    \
                                 std::span<T>, Method);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad
