// `convgrad explain`: the derivation of dL/dh, run on a small random case, every step printed
// with numbers: the forward pass, the scalar chain rule for one tap, the Jacobian product,
// the flipped-input convolution, the library's methods, the input gradient, and why
// multiplying the two Jacobians element-wise cannot even be formed.
//
// The case uses small integers, so every number below is exact and can be checked by hand.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/jacobian.hpp"

namespace convgrad::cli {
namespace {

// Small enough that a 1 x N row and an N x N matrix fit on a terminal.
constexpr std::int64_t kMaxExplainN = 12;
constexpr std::int64_t kMaxExplainM = 5;

struct ExplainOptions {
  std::int64_t n = 6, taps_m = 1, seed = 1;
};

// A number as a person writes it: integers without a decimal point, others with up to 6 digits.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v == 0 ? 0.0 : v);
  return buf;
}

// "(v)" for a factor in a written-out product, so "(4)(-1)" reads unambiguously.
std::string factor(double v) { return "(" + num(v) + ")"; }

std::string tap_name(std::int64_t m) { return "h[" + std::to_string(m) + "]"; }

std::string row(std::span<const double> v) { return format_values(v, 6, 64); }

// Prints a matrix with its shape, and optional column/row labels, right-aligned.
void print_matrix(const Matrix<double>& a, const std::string& name,
                  const std::vector<std::string>& col_labels, const std::string& row_label) {
  std::printf("   %s, shape %zu x %zu:\n", name.c_str(), a.rows, a.cols);
  std::size_t w = 3;
  for (const double v : a.data) w = std::max(w, num(v).size());
  for (const std::string& l : col_labels) w = std::max(w, l.size());
  const std::size_t label_w = row_label.empty() ? 0 : row_label.size() + 4;
  if (!col_labels.empty()) {
    std::printf("      %*s  ", static_cast<int>(label_w), "");
    for (const std::string& l : col_labels) std::printf(" %*s", static_cast<int>(w), l.c_str());
    std::printf("\n");
  }
  for (std::size_t i = 0; i < a.rows; ++i) {
    std::string lab = row_label.empty() ? "" : row_label + "=" + std::to_string(i);
    std::printf("      %*s [", static_cast<int>(label_w), lab.c_str());
    for (std::size_t j = 0; j < a.cols; ++j) std::printf(" %*s", static_cast<int>(w), num(a(i, j)).c_str());
    std::printf(" ]\n");
  }
}

double max_diff(std::span<const double> a, std::span<const double> b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

int run_explain(const ExplainOptions& o) {
  const Taps taps = Taps::centred(o.taps_m);
  const Case c = random_integer_case(static_cast<std::size_t>(o.n), taps, static_cast<std::uint64_t>(o.seed));
  const std::span<const double> x(c.x), y(c.y), h(c.h);
  const std::size_t N = x.size(), K = h.size();
  const auto Ns = static_cast<std::int64_t>(N);
  const std::int64_t M = o.taps_m;
  auto x_at = [&](std::int64_t i) { return (i >= 0 && i < Ns) ? x[static_cast<std::size_t>(i)] : 0.0; };
  std::vector<std::string> tap_labels;
  for (std::int64_t m = taps.lo; m <= taps.hi; ++m) tap_labels.push_back("m=" + std::to_string(m));

  std::printf("The learnable filter, its loss and its gradient, worked on a small random case\n");
  std::printf("N = %zu samples, M = %lld: K = 2M+1 = %zu taps m = %lld..%lld, seed %lld.\n", N,
              static_cast<long long>(M), K, static_cast<long long>(taps.lo), static_cast<long long>(taps.hi),
              static_cast<long long>(o.seed));
  std::printf("Small integers, so every sum below is exact. Indices are 0-based, as in the code:\n");
  std::printf("n = 0..%zu, and x[n] = 0 outside the signal.\n\n", N - 1);
  std::printf("   x = %s\n   y = %s\n   h = %s   (h[m] for m = %lld..%lld)\n\n", row(x).c_str(),
              row(y).c_str(), row(h).c_str(), static_cast<long long>(taps.lo),
              static_cast<long long>(taps.hi));

  // 1. Forward.
  const Step<double> s = loss_and_grad<double>(x, y, h, taps, Method::reference, true);
  const std::size_t n_ex = N / 2;
  std::printf("1. Forward: prediction, residual, loss\n");
  std::printf("   yhat[n] = sum_{m=%lld..%lld} h[m] x[n-m]; for example\n", static_cast<long long>(taps.lo),
              static_cast<long long>(taps.hi));
  std::string terms, numbers;
  for (std::int64_t m = taps.lo; m <= taps.hi; ++m) {
    const std::int64_t i = static_cast<std::int64_t>(n_ex) - m;
    terms += (terms.empty() ? "" : " + ") + tap_name(m) + " x[" + std::to_string(i) + "]";
    numbers +=
        (numbers.empty() ? "" : " + ") + factor(h[static_cast<std::size_t>(m - taps.lo)]) + factor(x_at(i));
  }
  std::printf("   yhat[%zu] = %s\n           = %s = %s\n", n_ex, terms.c_str(), numbers.c_str(),
              num(s.yhat[n_ex]).c_str());
  std::printf("   yhat = h * x = %s\n", row(s.yhat).c_str());
  std::printf("   r = yhat - y  = %s\n", row(s.r).c_str());
  std::string squares;
  for (const double v : s.r) squares += (squares.empty() ? "" : " + ") + num(v * v);
  std::printf("   L = 1/2 sum_n r[n]^2 = 1/2 (%s) = %s\n\n", squares.c_str(), num(s.loss).c_str());

  // 2. Scalar chain rule for one tap.
  const std::int64_t m0 = std::min<std::int64_t>(1, M);
  const std::size_t j0 = static_cast<std::size_t>(m0 - taps.lo);
  std::printf("2. The scalar chain rule, for one tap (m = %lld)\n", static_cast<long long>(m0));
  std::printf("   L depends on %s only through every yhat[n], so\n", tap_name(m0).c_str());
  std::printf("   dL/dh[%lld] = sum_n dL/dyhat[n] * dyhat[n]/dh[%lld] = sum_n r[n] x[n-%lld]\n",
              static_cast<long long>(m0), static_cast<long long>(m0), static_cast<long long>(m0));
  std::string chain;
  double chain_sum = 0;
  for (std::size_t n = 0; n < N; ++n) {
    const double xv = x_at(static_cast<std::int64_t>(n) - m0);
    chain += (n == 0 ? "" : (n % 6 == 0 ? "\n               + " : " + ")) + factor(s.r[n]) + factor(xv);
    chain_sum += s.r[n] * xv;
  }
  std::printf("             = %s\n             = %s\n\n", chain.c_str(), num(chain_sum).c_str());

  // 3. The Jacobian way.
  const Matrix<double> Jr = jacobian_loss_yhat<double>(s.r);
  const Matrix<double> Jh = jacobian_yhat_h<double>(x, taps);
  const Matrix<double> dh_jac = matmul(Jr, Jh);
  std::printf("3. The Jacobian way: a row vector times a matrix\n");
  print_matrix(Jr, "dL/dyhat = r^T", {}, "");
  print_matrix(Jh, "dyhat/dh = J_h, J_h[n][m] = x[n-m]", tap_labels, "n");
  std::printf("   dL/dh = r^T J_h: (1 x %zu)(%zu x %zu) = 1 x %zu; entry m sums over the shared index n:\n",
              N, N, K, K);
  std::printf("      %s\n\n", row(dh_jac.data).c_str());

  // 4. Flipped-input convolution: xflip[k] = x[-k], dh[m] = sum_n r[n] xflip[m-n] = (r * xflip)[m],
  // by the library's literal loops (grad_kernel_flipped).
  const std::vector<double> dh_flip = grad_kernel_flipped<double>(x, s.r, taps);
  std::vector<double> xflip(N);
  for (std::size_t k = 0; k < N; ++k) xflip[k] = x[N - 1 - k];
  std::printf("4. The flipped-input convolution\n");
  std::printf("   xflip[k] = x[-k] (k = -%zu..0): %s\n", N - 1, row(xflip).c_str());
  std::printf("   dL/dh[m] = sum_n r[n] xflip[m-n] = (r * xflip)[m], m = %lld..%lld:\n",
              static_cast<long long>(taps.lo), static_cast<long long>(taps.hi));
  std::printf("      %s\n\n", row(dh_flip).c_str());

  // 5. All equal, and equal to every library method.
  std::printf("5. All the same gradient\n");
  const std::string chain_label = "chain rule, tap m = " + std::to_string(m0);
  std::printf("   %-30s %s\n", chain_label.c_str(), num(chain_sum).c_str());
  std::printf("   %-30s %s\n", "Jacobian product r^T J_h", row(dh_jac.data).c_str());
  std::printf("   %-30s %s\n", "r * xflip", row(dh_flip).c_str());
  double worst =
      std::max({max_diff(dh_jac.data, s.dh), max_diff(dh_flip, s.dh), std::abs(chain_sum - s.dh[j0])});
  for (const Method m : {Method::reference, Method::direct, Method::fft, Method::jacobian}) {
    const std::vector<double> r_dh = grad_kernel<double>(x, s.r, taps, m);
    worst = std::max(worst, max_diff(r_dh, s.dh));
    const std::string label = "grad_kernel, method " + std::string(to_string(m));
    std::printf("   %-30s %s\n", label.c_str(), row(r_dh).c_str());
  }
  std::printf("   largest difference between any two: %s%s\n\n", num(worst).c_str(),
              worst == 0 ? " (exact: integer data)" : " (rounding in the fft route)");

  // 6. The input gradient, the same way.
  const Matrix<double> Jx = jacobian_yhat_x<double>(h, taps, N);
  const Matrix<double> dx_jac = matmul(Jr, Jx);
  std::vector<std::string> k_labels;
  for (std::size_t k = 0; k < N; ++k) k_labels.push_back("k=" + std::to_string(k));
  std::printf("6. The input gradient, the same way: dL/dx = r^T J_x\n");
  print_matrix(Jx, "dyhat/dx = J_x, J_x[n][k] = h[n-k] (0 where n-k is not a tap)", k_labels, "n");
  std::printf("   r^T J_x: (1 x %zu)(%zu x %zu) = 1 x %zu: %s\n", N, N, N, N, row(dx_jac.data).c_str());
  std::printf("   grad_input (dx[k] = sum_m h[m] r[k+m]):   %s\n\n", row(s.dx).c_str());

  // 7. The common mistake.
  std::printf("7. The common mistake: multiplying the two Jacobians element-wise\n");
  std::printf(
      "   dL/dyhat is 1 x %zu and dyhat/dh is %zu x %zu. An element-wise product pairs entry (i, j)\n", N, N,
      K);
  std::printf("   of one with entry (i, j) of the other, so it needs equal shapes; ");
  if (N == 1 && K == 1) {
    std::printf(
        "here both happen to be 1 x 1,\n   so it coincides with the matrix product. With N > 1 it cannot be "
        "formed.\n");
  } else {
    std::printf("1 x %zu and %zu x %zu differ:\n   the \"product\" cannot be formed at all.\n", N, N, K);
  }
  std::printf("   The chain rule sums over the index the two share, n (the %zu outputs yhat[n]):\n", N);
  std::printf("   dL/dh[m] = sum_n dL/dyhat[n] dyhat[n]/dh[m], which is exactly the matrix product,\n");
  std::printf("   whose inner sizes (%zu and %zu) must match.\n", N, N);
  std::printf("   Even as matrices, the wrong order J_h r^T, (%zu x %zu)(1 x %zu), fails unless K = 1:\n", N,
              K, N);
  try {
    const Matrix<double> wrong = matmul(Jh, Jr);
    if (N == 1)
      std::printf("   here N = K = 1, so every form coincides.\n");
    else
      std::printf("   here K = 1, so it runs, but gives a %zu x %zu matrix, not the 1 x %zu gradient.\n",
                  wrong.rows, wrong.cols, K);
  } catch (const convgrad::invalid_argument& e) {
    std::printf("   matmul(J_h, r^T) -> %s\n", e.what());
  }
  std::printf("   (NumPy's broadcasting would accept (1, N) * (N, K) when K = N or K = 1 and silently\n");
  std::printf("   return an N x N table, not a gradient: check shapes, not just that the code runs.)\n");
  return 0;
}

}  // namespace

Run add_explain(CLI::App& app) {
  auto o = std::make_shared<ExplainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "explain", "the derivation of dL/dh, every step printed with numbers on a small case");
  cmd->footer("Small integers drawn from --seed, so every number can be checked by hand. N <= " +
              std::to_string(kMaxExplainN) + ", M <= " + std::to_string(kMaxExplainM) + " keep it readable.");
  cmd->add_option("--n", o->n, "samples N (default 6)");
  // explain derives the centred filter only, so of the tap options it takes the half-width.
  CLI::Option* half = cmd->add_option("--half-width", o->taps_m, "K = 2M+1 taps m = -M..M (default 1)");
  half->type_name("M");
  deprecated_alias(
      cmd->add_option("--taps", o->taps_m, "deprecated spelling of --half-width M")->excludes(half),
      "--half-width M (K = 2M+1 taps m = -M..M)");
  cmd->add_option("--seed", o->seed, "seed of the random case (default 1)");
  return [o] {
    require_option_range("--n", o->n, 1, kMaxExplainN, "explain prints N x N matrices");
    require_option_range("--half-width", o->taps_m, 0, kMaxExplainM, "explain prints N x (2M+1) matrices");
    return run_report([&] { return run_explain(*o); });
  };
}

}  // namespace convgrad::cli
