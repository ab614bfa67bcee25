// The objective over a data set of (x, y) pairs and its gradient, the largest eigenvalue of
// the Gram matrix by power iteration, and the rounding bound of one objective evaluation.
//
//   F(h)  = sum_p 1/2 ||X_p h - y_p||^2 + ridge/2 ||h||^2
//   dF/dh = sum_p grad_kernel(x_p, r_p) + ridge h,     r_p = conv(x_p, h) - y_p
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "convgrad/errors.hpp"
#include "convgrad/interrupt.hpp"
#include "fit_internal.hpp"

namespace convgrad {
namespace detail::fit {

template <std::floating_point T>
Workspace<T>::Workspace(std::size_t K) : dh(K) {}

void require_ridge(double ridge) {
  if (!(ridge >= 0) || !std::isfinite(ridge))
    throw invalid_argument("ridge: " + format_number(ridge) + " must be a finite number >= 0");
}

template <std::floating_point T>
double pass(std::span<const Pair<T>> data, std::span<const std::size_t> batch, std::span<const T> h,
            Taps taps, double ridge, double scale, std::span<double> grad, std::vector<double>* pair_loss,
            Method method, Workspace<T>& work) {
  const std::size_t K = taps.K();
  std::fill(grad.begin(), grad.end(), 0.0);
  if (pair_loss && pair_loss->size() != data.size()) pair_loss->assign(data.size(), 0.0);
  double sum = 0;
  auto one = [&](std::size_t p) {
    poll_interrupt("fit");  // a data set of many pairs is long work between iterations
    const auto& [x, y] = data[p];
    const double L = loss_and_dh<T>(x, y, h, taps, work.dh, method);  // yhat and r are not needed
    if (pair_loss) (*pair_loss)[p] = L;
    sum += L;
    if (!grad.empty())
      for (std::size_t j = 0; j < K; ++j) grad[j] += scale * static_cast<double>(work.dh[j]);
  };
  if (batch.empty())
    for (std::size_t p = 0; p < data.size(); ++p) one(p);
  else
    for (const std::size_t p : batch) one(p);
  double hh = 0;
  for (std::size_t j = 0; j < K; ++j) {
    const double hj = h[j];
    hh += hj * hj;
    if (!grad.empty()) grad[j] += ridge * hj;
  }
  return scale * sum + 0.5 * ridge * hh;
}

double power_iteration(std::size_t n,
                       const std::function<double(std::span<const double>, std::span<double>)>& rayleigh,
                       double rel_tol, std::size_t max_iter, std::uint64_t seed, const char* what) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<double> v(n), w(n);
  for (auto& a : v) a = normal(rng);
  double lambda = 0;
  for (std::size_t it = 0; it < std::max<std::size_t>(max_iter, 1); ++it) {
    poll_interrupt(what);
    const double nv = norm2(v);
    if (nv == 0) break;  // A v = 0 for every direction tried: A is zero
    for (double& a : v) a /= nv;
    const double next = rayleigh(v, w);
    const bool settled = it > 0 && std::abs(next - lambda) <= rel_tol * std::abs(next);
    lambda = next;
    if (settled) break;
    v.swap(w);
  }
  return lambda;
}

template <std::floating_point T>
double rayleigh_quotient(std::span<const T> v, std::span<const double> w) {
  double vw = 0, vv = 0;
  for (std::size_t j = 0; j < v.size(); ++j) {
    vw += static_cast<double>(v[j]) * w[j];
    vv += static_cast<double>(v[j]) * v[j];
  }
  return vw / vv;
}
template double rayleigh_quotient<float>(std::span<const float>, std::span<const double>);
template double rayleigh_quotient<double>(std::span<const double>, std::span<const double>);

template <std::floating_point T>
PairNorms pair_norms(std::span<const Pair<T>> data) {
  PairNorms out;
  for (const auto& p : data) {
    double xx = 0, yy = 0;
    for (const T v : p.x) xx += static_cast<double>(v) * v;
    for (const T v : p.y) yy += static_cast<double>(v) * v;
    out.x.push_back(std::sqrt(xx));
    out.y.push_back(std::sqrt(yy));
    out.n.push_back(p.x.size());
  }
  return out;
}

template <std::floating_point T>
double loss_rounding_bound(const PairNorms& norms, std::span<const T> h, std::span<const double> pair_loss) {
  constexpr double eps_T = std::numeric_limits<T>::epsilon() / 2;  // unit round-off
  constexpr double eps_d = std::numeric_limits<double>::epsilon() / 2;
  double h1 = 0;
  for (const T v : h) h1 += std::abs(static_cast<double>(v));
  const double K = static_cast<double>(h.size());
  double total = 0;
  for (std::size_t p = 0; p < norms.n.size(); ++p) {
    const double L = pair_loss[p];
    const double dr = eps_T * ((K + 1) * h1 * norms.x[p] + norms.y[p]);
    total += std::sqrt(2 * L) * dr + dr * dr / 2 + eps_d * static_cast<double>(norms.n[p]) * L;
  }
  return total;
}

template PairNorms pair_norms<float>(std::span<const Pair<float>>);
template PairNorms pair_norms<double>(std::span<const Pair<double>>);
template double loss_rounding_bound<float>(const PairNorms&, std::span<const float>, std::span<const double>);
template double loss_rounding_bound<double>(const PairNorms&, std::span<const double>,
                                            std::span<const double>);
template struct Workspace<float>;
template struct Workspace<double>;
template double pass<float>(std::span<const Pair<float>>, std::span<const std::size_t>,
                            std::span<const float>, Taps, double, double, std::span<double>,
                            std::vector<double>*, Method, Workspace<float>&);
template double pass<double>(std::span<const Pair<double>>, std::span<const std::size_t>,
                             std::span<const double>, Taps, double, double, std::span<double>,
                             std::vector<double>*, Method, Workspace<double>&);

}  // namespace detail::fit

template <std::floating_point T>
void validate_pairs(std::span<const Pair<T>> data) {
  if (data.empty()) throw invalid_argument("data set: no (x, y) pairs; need at least one");
  for (std::size_t p = 0; p < data.size(); ++p) {
    const std::string name = "pair " + std::to_string(p);
    if (data[p].x.empty()) throw invalid_argument(name + ": x is empty: a signal needs at least one sample");
    if (data[p].y.size() != data[p].x.size())
      throw invalid_argument(name + ": x has " + std::to_string(data[p].x.size()) + " samples but y has " +
                             std::to_string(data[p].y.size()) + " (they must be the same length)");
    require_finite<T>(data[p].x, name + ": x");
    require_finite<T>(data[p].y, name + ": y");
  }
}

template <std::floating_point T>
double objective(std::span<const Pair<T>> data, std::span<const T> h, Taps taps, double ridge,
                 std::span<T> grad, std::vector<double>* pair_loss, Method method) {
  validate_pairs(data);
  detail::fit::require_ridge(ridge);
  if (h.size() != taps.K())
    throw invalid_argument("h has " + std::to_string(h.size()) + " values, expected " +
                           std::to_string(taps.K()) + " (one per tap m = lo..hi)");
  if (!grad.empty() && grad.size() != taps.K())
    throw invalid_argument("grad has " + std::to_string(grad.size()) + " values, expected " +
                           std::to_string(taps.K()) + " or none");
  if (pair_loss) pair_loss->assign(data.size(), 0.0);
  detail::fit::Workspace<T> work(taps.K());
  std::vector<double> g(grad.empty() ? 0 : taps.K());
  const double F = detail::fit::pass<T>(data, {}, h, taps, ridge, 1.0, g, pair_loss, method, work);
  for (std::size_t j = 0; j < g.size(); ++j) grad[j] = static_cast<T>(g[j]);
  return F;
}

// Power iteration on G = sum_p X_p^T X_p, each product G v = sum_p X_p^T (X_p v) without
// forming X, v rounded to T first.
template <std::floating_point T>
double largest_eigenvalue(std::span<const Pair<T>> data, Taps taps, double rel_tol, std::size_t max_iter,
                          Method method) {
  validate_pairs(data);
  const std::size_t K = taps.K();
  std::vector<T> vt(K), yhat, dh(K);
  auto rayleigh = [&](std::span<const double> v, std::span<double> w) {
    for (std::size_t j = 0; j < K; ++j) vt[j] = static_cast<T>(v[j]);
    std::fill(w.begin(), w.end(), 0.0);
    for (const auto& p : data) {
      poll_interrupt("power iteration (largest eigenvalue)");
      yhat.resize(p.x.size());
      conv<T>(p.x, vt, taps, yhat, method);  // X v
      // An FFT's sums can overflow where the direct sums do not: NaN here, not later as a "residual".
      if (!std::all_of(yhat.begin(), yhat.end(), [](T a) { return std::isfinite(a); }))
        throw invalid_argument(detail::fit::data_too_large<T>());
      grad_kernel<T>(p.x, yhat, taps, dh, method);  // X^T (X v)
      for (std::size_t j = 0; j < K; ++j) w[j] += dh[j];
    }
    const double q = detail::fit::rayleigh_quotient<T>(vt, w);
    if (!std::isfinite(q))  // v is a unit vector: only x x products beyond T's range get here
      throw invalid_argument(detail::fit::data_too_large<T>());
    return q;
  };
  return detail::fit::power_iteration(K, rayleigh, rel_tol, max_iter, detail::fit::kPowerSeed,
                                      "power iteration (largest eigenvalue)");
}

template <std::floating_point T>
double loss_rounding(std::span<const Pair<T>> data, std::span<const T> h, std::span<const double> pair_loss) {
  return detail::fit::loss_rounding_bound<T>(detail::fit::pair_norms<T>(data), h, pair_loss);
}

#define CONVGRAD_INSTANTIATE(T)                                                                          \
  template void validate_pairs<T>(std::span<const Pair<T>>);                                             \
  template double objective<T>(std::span<const Pair<T>>, std::span<const T>, Taps, double, std::span<T>, \
                               std::vector<double>*, Method);                                            \
  template double largest_eigenvalue<T>(std::span<const Pair<T>>, Taps, double, std::size_t, Method);    \
  template double loss_rounding<T>(std::span<const Pair<T>>, std::span<const T>, std::span<const double>);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad
