// Showing that the ways agree: every method against the reference loops, and the reference
// against central finite differences of the loss.
#include "convgrad/check.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>

#include "convgrad/errors.hpp"
#include "convgrad/jacobian.hpp"
#include "kernels.hpp"

namespace convgrad {
namespace {

// Above this many multiply-adds the finite-difference columns are skipped: they cost
// 2 K (or 2 N) full loss evaluations.
constexpr double kFiniteDifferenceWork = 2e8;

template <std::floating_point T>
double max_abs(std::span<const T> v) {
  double m = 0;
  for (const T a : v) m = std::max(m, std::abs(static_cast<double>(a)));
  return m;
}

// ||v||_2 = m sqrt(sum (v_i / m)^2) with m = max |v_i|: the squares of the scaled entries are at
// most 1, so nothing overflows on the way (the plain sum of squares does from |v_i| ~ 1e154
// on); the result is inf only where the norm itself is beyond the double range.
template <std::floating_point T>
double norm2(std::span<const T> v) {
  const double m = max_abs(v);
  if (m == 0) return 0;
  double s = 0;
  for (const T a : v) {
    const double q = static_cast<double>(a) / m;
    s += q * q;
  }
  return m * std::sqrt(s);
}

// a * b for bounds a, b >= 0: 0 when either is 0 (even against inf: a zero factor makes the
// bounded quantity exactly zero), the largest double where the product is beyond the range.
// A bound saturated at the largest double still rejects exactly what the true bound would:
// a difference of two doubles is either finite (at most the largest double) or inf or NaN.
double bound_product(double a, double b) {
  if (a == 0 || b == 0) return 0;
  return std::min(a * b, std::numeric_limits<double>::max());
}
double bound_sum(double a, double b) { return std::min(a + b, std::numeric_limits<double>::max()); }

// NaN as soon as one difference is NaN (inf - inf where both overflowed): std::max would drop
// it, and a table of overflowed outputs would read "agrees".
template <std::floating_point T>
double max_abs_diff(std::span<const T> a, std::span<const T> b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double e = std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (std::isnan(e)) return e;
    d = std::max(d, e);
  }
  return d;
}

// 1/2 ||y - h * x||^2 in double, through the reference loops.
double loss_in_double(std::span<const double> x, std::span<const double> y, std::span<const double> h,
                      Taps taps) {
  std::vector<double> yhat(x.size()), r(x.size());
  detail::reference::conv<double>(h, taps, x, yhat);
  for (std::size_t n = 0; n < r.size(); ++n) r[n] = yhat[n] - y[n];
  return loss<double>(r);
}

// The bound on every intermediate of the loss: 1/2 sum_n (sum_m |h[m] x[n-m]| + |y[n]|)^2.
double loss_scale(std::span<const double> x, std::span<const double> y, std::span<const double> h,
                  Taps taps) {
  std::vector<double> ax(x.size()), ah(h.size()), yabs(x.size());
  std::transform(x.begin(), x.end(), ax.begin(), [](double v) { return std::abs(v); });
  std::transform(h.begin(), h.end(), ah.begin(), [](double v) { return std::abs(v); });
  detail::reference::conv<double>(ah, taps, ax, yabs);
  double s = 0;
  for (std::size_t n = 0; n < x.size(); ++n) s += (yabs[n] + std::abs(y[n])) * (yabs[n] + std::abs(y[n]));
  return 0.5 * s;
}

template <std::floating_point T>
std::vector<double> widen(std::span<const T> v) {
  return std::vector<double>(v.begin(), v.end());
}

// Finite differences of data far from unit scale. The step s = cbrt(eps) max(1, |v|) assumes
// entries of order one: with x ~ 1e160 the perturbed loss overflows the double range, and with
// x ~ 1e37, y ~ 1 the term s^2 ||x||^2 swamps the change it is meant to reveal. So the
// differences are taken on the same problem in units where x and the outputs are of order one:
//   x = 2^ex x',  y = 2^ey y',  h = 2^(ey-ex) h',  so  L(h; x, y) = 4^ey L'(h'; x', y'),
//   dL/dh = 2^(ex+ey) dL'/dh',  dL/dx = 2^(2 ey-ex) dL'/dx'
// exactly, since only exponents change. ex is the exponent of max |x|, ey that of the largest
// output, max(|y|, |h| |x|). Data within 2^+-32 of unit scale are taken as they are.
struct UnitProblem {
  int ex = 0, ey = 0;
  std::vector<double> x, y, h;  // x', y', h'
};

template <std::floating_point T>
UnitProblem in_units(std::span<const T> x, std::span<const T> y, std::span<const T> h) {
  constexpr int kNear = 32;
  const double mx = max_abs(x), my = max_abs(y), mh = max_abs(h);
  UnitProblem p;
  if (mx > 0 && (my > 0 || mh > 0)) {
    p.ex = std::ilogb(mx);
    p.ey = std::max(my > 0 ? std::ilogb(my) : INT_MIN, mh > 0 ? std::ilogb(mh) + p.ex : INT_MIN);
  } else if (mx > 0) {
    p.ex = std::ilogb(mx);  // y = 0 and h = 0: every output is zero, only x needs units
  }
  if (std::abs(p.ex) <= kNear && std::abs(p.ey) <= kNear) p.ex = p.ey = 0;
  const auto scaled = [](std::span<const T> v, int e) {
    std::vector<double> out(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out[i] = std::ldexp(static_cast<double>(v[i]), e);
    return out;
  };
  p.x = scaled(x, -p.ex);
  p.y = scaled(y, -p.ey);
  p.h = scaled(h, p.ex - p.ey);
  return p;
}

// A bound computed in the units of UnitProblem, in the caller's units (2^e times it).
double from_units(double bound, int e) {
  return std::min(std::ldexp(bound, e), std::numeric_limits<double>::max());
}

double fd_step(double v) {
  return std::cbrt(std::numeric_limits<double>::epsilon()) * std::max(1.0, std::abs(v));
}

// d/dv[i] of L by central differences, perturbing one entry of `v` (which aliases x or h).
template <class Loss>
std::vector<double> central_differences(std::vector<double>& v, Loss&& L) {
  std::vector<double> g(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double v0 = v[i], s = fd_step(v0);
    v[i] = v0 + s;
    const double up = L();
    v[i] = v0 - s;
    const double down = L();
    v[i] = v0;
    g[i] = (up - down) / (2 * s);
  }
  return g;
}

}  // namespace

template <std::floating_point T>
std::vector<double> finite_difference_grad_kernel(std::span<const T> x, std::span<const T> y,
                                                  std::span<const T> h, Taps taps) {
  UnitProblem p = in_units(x, y, h);
  std::vector<double> g = central_differences(p.h, [&] { return loss_in_double(p.x, p.y, p.h, taps); });
  for (double& v : g) v = std::ldexp(v, p.ex + p.ey);  // dL/dh = 2^(ex+ey) dL'/dh'
  return g;
}

template <std::floating_point T>
std::vector<double> finite_difference_grad_input(std::span<const T> x, std::span<const T> y,
                                                 std::span<const T> h, Taps taps) {
  UnitProblem p = in_units(x, y, h);
  std::vector<double> g = central_differences(p.x, [&] { return loss_in_double(p.x, p.y, p.h, taps); });
  for (double& v : g) v = std::ldexp(v, 2 * p.ey - p.ex);  // dL/dx = 2^(2 ey-ex) dL'/dx'
  return g;
}

template <std::floating_point T>
double agreement_tolerance(std::size_t terms, std::size_t length, double norm_a, double norm_b) {
  const double eps = std::numeric_limits<T>::epsilon();
  const double log_len = std::ceil(std::log2(static_cast<double>(std::max<std::size_t>(length, 2))));
  return bound_product(bound_product(eps * (static_cast<double>(terms) + 8 * log_len), norm_a), norm_b);
}

double finite_difference_tolerance(std::size_t n, std::size_t k, double scale, double step) {
  return std::numeric_limits<double>::epsilon() * static_cast<double>(n + k + 2) * scale / step;
}

bool CheckReport::ok() const {
  return std::all_of(rows.begin(), rows.end(), [](const CheckRow& r) { return r.ok || r.skipped; });
}

template <std::floating_point T>
CheckReport check_gradients(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                            std::size_t jacobian_budget, bool finite_differences) {
  CheckReport rep;
  rep.n = x.size();
  rep.k = h.size();
  rep.taps = taps;
  rep.dtype = sizeof(T) == 4 ? "float32" : "float64";
  const std::size_t N = x.size(), K = h.size();
  // One shared residual: each method's gradient is compared on identical inputs.
  const Step<T> ref = loss_and_grad<T>(x, y, h, taps, Method::reference, true);  // validates
  rep.loss = ref.loss;
  const std::span<const T> r(ref.r);
  const std::size_t L = 2 * N + K;
  const double tol_yhat = agreement_tolerance<T>(K, L, norm2(h), norm2(x));
  const double tol_dh = agreement_tolerance<T>(N, L, norm2(x), norm2(r));
  const double tol_dx = agreement_tolerance<T>(K, L, norm2(h), norm2(r));

  auto add = [&](std::string method, std::string quantity, const std::vector<T>& got,
                 const std::vector<T>& want, double tol) {
    const double d = max_abs_diff<T>(got, want);
    rep.rows.push_back({std::move(method), std::move(quantity), d, tol, d <= tol, false, ""});
  };
  // One row per method and output; a method that refuses the size (the Jacobian above its
  // budget) gets a skipped row saying why, so every table has the same rows.
  auto compare = [&](const std::string& method, const char* quantity, const std::vector<T>& want, double tol,
                     auto&& compute) {
    std::vector<T> got(want.size());
    try {
      compute(std::span<T>(got));
      add(method, quantity, got, want, tol);
    } catch (const resource_limit& e) {
      rep.rows.push_back({method, quantity, 0, tol, true, true, e.what()});
    }
  };
  for (const Method m : {Method::direct, Method::fft, Method::jacobian}) {
    const std::string name(to_string(m));
    const bool jac = m == Method::jacobian;  // the one method with a caller-set memory budget
    compare(name, "yhat", ref.yhat, tol_yhat, [&](std::span<T> yhat) {
      if (jac)
        detail::jacobian::conv<T>(h, taps, x, yhat, jacobian_budget);
      else
        conv<T>(x, h, taps, yhat, m);
    });
    compare(name, "dh", ref.dh, tol_dh, [&](std::span<T> dh) {
      if (jac)
        detail::jacobian::grad_kernel<T>(x, r, taps, dh, jacobian_budget);
      else
        grad_kernel<T>(x, r, taps, dh, m);
    });
    compare(name, "dx", ref.dx, tol_dx, [&](std::span<T> dx) {
      if (jac)
        detail::jacobian::grad_input<T>(h, taps, r, dx, jacobian_budget);
      else
        grad_input<T>(r, h, taps, dx, m);
    });
  }
  const double work = static_cast<double>(N) * static_cast<double>(K) * static_cast<double>(N + K);
  if (!finite_differences || work > kFiniteDifferenceWork) {
    const std::string why =
        finite_differences ? "skipped: too large for 2 (N + K) loss evaluations" : "not asked for";
    rep.rows.push_back({"finite-difference", "dh", 0, 0, true, true, why});
    rep.rows.push_back({"finite-difference", "dx", 0, 0, true, true, why});
    return rep;
  }
  // The differences are taken in the units of in_units (unit-scale data), so the rounding
  // bound is computed there and carried back: 2^(ex+ey) for dh, 2^(2 ey-ex) for dx. Every step
  // is at least fd_step(0), so the bound holds with that step; the compared value (the
  // reference in T) carries its own tolerance too.
  const UnitProblem p = in_units(x, y, h);
  const double scale = loss_scale(p.x, p.y, p.h, taps);  // of order N K^2 at most: no overflow
  const double tol_fd = finite_difference_tolerance(N, K, scale, fd_step(0.0));
  // The reference's gradient is also that of its own residual, rounded in T: each r[n] =
  // fl(fl(sum_m h[m] x[n-m]) - y[n]) errs by at most eps_T (K + 1) (|h| * |x| + |y|)[n], whose
  // 2-norm is eps_T (K + 1) sqrt(2 scale) in the units of y (2^ey); by Cauchy-Schwarz that moves
  // every dh[m] by at most ||x||_2 times it and every dx[k] by ||h||_2 times it. Finite
  // differences see the exact residual, so near the optimum (r all rounding noise) this term
  // is the whole difference.
  const double r_error =
      from_units(std::numeric_limits<T>::epsilon() * static_cast<double>(K + 1) * std::sqrt(2 * scale), p.ey);
  auto add_fd = [&](std::string quantity, const std::vector<double>& fd, const std::vector<T>& want,
                    double tol_ref, double tol_fd_here) {
    const double d = max_abs_diff<double>(fd, widen(std::span<const T>(want)));
    const double tol = bound_sum(tol_ref, tol_fd_here);
    rep.rows.push_back({"finite-difference", std::move(quantity), d, tol, d <= tol, false, ""});
  };
  add_fd("dh", finite_difference_grad_kernel<T>(x, y, h, taps), ref.dh,
         bound_sum(tol_dh, bound_product(norm2(x), r_error)), from_units(tol_fd, p.ex + p.ey));
  add_fd("dx", finite_difference_grad_input<T>(x, y, h, taps), ref.dx,
         bound_sum(tol_dx, bound_product(norm2(h), r_error)), from_units(tol_fd, 2 * p.ey - p.ex));
  return rep;
}

#define CONVGRAD_INSTANTIATE(T)                                                                             \
  template std::vector<double> finite_difference_grad_kernel<T>(std::span<const T>, std::span<const T>,     \
                                                                std::span<const T>, Taps);                  \
  template std::vector<double> finite_difference_grad_input<T>(std::span<const T>, std::span<const T>,      \
                                                               std::span<const T>, Taps);                   \
  template double agreement_tolerance<T>(std::size_t, std::size_t, double, double);                         \
  template CheckReport check_gradients<T>(std::span<const T>, std::span<const T>, std::span<const T>, Taps, \
                                          std::size_t, bool);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad
