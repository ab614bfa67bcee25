// `convgrad explain`: the derivation of dL/dh, every step printed with numbers: the forward
// pass, the scalar chain rule for one tap, the Jacobian product, the flipped-input
// convolution, the library's methods, the input gradient, and why multiplying the two
// Jacobians element-wise cannot even be formed.
//
// The numbers are the user's (--x, --y, --h: inline lists or files) or a small random case of
// integers, whose every number is exact and can be checked by hand. A long case is printed in
// part: vectors by their first and last values, matrices by their first rows and columns, sums
// by their first terms, each saying what it leaves out.
#include <algorithm>
#include <functional>
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

// The random case's limits: small enough that a 1 x N row and an N x N matrix fit on a
// terminal. The user's own numbers have no limit: what does not fit is shown in part.
constexpr std::int64_t kMaxExplainN = 12;
constexpr std::int64_t kMaxExplainM = 5;

// How much of a long case is printed: values of a vector, rows and columns of a matrix, terms
// of a written-out sum.
constexpr std::size_t kShownValues = 16, kShownRows = 8, kShownCols = 12, kShownTerms = 12;
// The largest Jacobian formed to show the library's matmul refusing the wrong order (8 MB).
constexpr std::size_t kMaxFormedEntries = std::size_t{1} << 20;

struct ExplainOptions {
  std::int64_t n = 6, taps_m = 1, seed = 1;
  std::string x, y, h;  // the user's numbers: inline lists or files
  std::optional<std::int64_t> lo;
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

std::string row(std::span<const double> v) { return format_values(v, 6, kShownValues); }

// A matrix given by its entries: a(i, j) for i < rows, j < cols. The Jacobians of a long
// signal are never formed (J_x alone is N x N); only the entries printed are computed.
struct MatrixView {
  std::size_t rows, cols;
  std::function<double(std::size_t, std::size_t)> at;
};

// Prints a matrix with its shape and optional row/column labels, right-aligned: the first
// kShownRows rows and kShownCols columns, saying how many more there are.
void print_matrix(const MatrixView& a, const std::string& name,
                  const std::function<std::string(std::size_t)>& col_label, const std::string& row_label) {
  std::printf("   %s, shape %zu x %zu:\n", name.c_str(), a.rows, a.cols);
  const std::size_t rows = std::min(a.rows, kShownRows), cols = std::min(a.cols, kShownCols);
  std::size_t w = 3;
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) w = std::max(w, num(a.at(i, j)).size());
  if (col_label)
    for (std::size_t j = 0; j < cols; ++j) w = std::max(w, col_label(j).size());
  const std::size_t label_w = row_label.empty() ? 0 : row_label.size() + 1 + std::to_string(a.rows).size();
  const char* more_cols = cols < a.cols ? " ..." : "";
  if (col_label) {
    std::printf("      %*s  ", static_cast<int>(label_w), "");
    for (std::size_t j = 0; j < cols; ++j) std::printf(" %*s", static_cast<int>(w), col_label(j).c_str());
    std::printf("\n");
  }
  for (std::size_t i = 0; i < rows; ++i) {
    const std::string lab = row_label.empty() ? "" : row_label + "=" + std::to_string(i);
    std::printf("      %*s [", static_cast<int>(label_w), lab.c_str());
    for (std::size_t j = 0; j < cols; ++j) std::printf(" %*s", static_cast<int>(w), num(a.at(i, j)).c_str());
    std::printf("%s ]\n", more_cols);
  }
  if (rows < a.rows || cols < a.cols)
    std::printf("      (shown: the first %zu of %zu rows and %zu of %zu columns)\n", rows, a.rows, cols,
                a.cols);
}

// "t0 + t1 + ..." for the first kShownTerms of `count` terms, then how many are left out.
std::string written_sum(std::size_t count, const std::function<std::string(std::size_t)>& term,
                        const std::string& wrap = "\n               + ") {
  std::string s;
  const std::size_t shown = std::min(count, kShownTerms);
  for (std::size_t i = 0; i < shown; ++i) s += (i == 0 ? "" : (i % 6 == 0 ? wrap : " + ")) + term(i);
  if (shown < count) s += " + ... (" + std::to_string(count - shown) + " more terms)";
  return s;
}

double max_diff(std::span<const double> a, std::span<const double> b) {
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

// The numbers the derivation runs on, and where they came from.
struct ExplainCase {
  std::vector<double> x, y, h;
  Taps taps;
  std::string origin;  // one line: "your numbers" or the random case's size and seed
};

// The random case of small integers (--n, --half-width, --seed).
ExplainCase random_case(const ExplainOptions& o) {
  require_option_range("--n", o.n, 1, kMaxExplainN, "the random case prints N x N matrices");
  require_option_range("--half-width", o.taps_m, 0, kMaxExplainM,
                       "the random case prints N x (2M+1) matrices");
  const Taps taps = Taps::centred(o.taps_m);
  Case c = random_integer_case(static_cast<std::size_t>(o.n), taps, static_cast<std::uint64_t>(o.seed));
  return {std::move(c.x), std::move(c.y), std::move(c.h), taps,
          "a small random case (seed " + std::to_string(o.seed) +
              "): small integers, so every sum below is exact"};
}

// The user's numbers: --x and --y, and --h (or zeros of the tap options' range: the gradient
// at the start of learning). The range: --lo L for the first tap, else centred (odd K).
ExplainCase user_case(const ExplainOptions& o) {
  if (o.x.empty() || o.y.empty()) throw usage_error("give --x and --y together (inline lists or files)");
  ExplainCase c;
  c.x = read_values(o.x, "--x");
  c.y = read_values(o.y, "--y");
  if (c.x.size() != c.y.size())
    throw usage_error("--y has " + std::to_string(c.y.size()) + " values but --x has " +
                      std::to_string(c.x.size()) + "; yhat has the N samples of x, so y needs as many");
  if (!o.h.empty()) {
    c.h = read_values(o.h, "--h");
    const auto K = static_cast<std::int64_t>(c.h.size());
    if (K > kMaxTaps) throw usage_error("--h: " + std::to_string(K) + " taps exceed the limit");
    if (o.lo) {
      require_option_range("--lo", *o.lo, -kMaxTapOffset, kMaxTapOffset, "the first tap m");
      c.taps = Taps::from_lo(*o.lo, K);
    } else if (K % 2 == 0) {
      throw usage_error("--h has " + std::to_string(K) +
                        " taps, an even number, so no centre tap: give --lo L, the first tap m");
    } else {
      c.taps = Taps::centred_for(K);
    }
  } else {
    require_option_range("--half-width", o.taps_m, 0, (kMaxTaps - 1) / 2, "K = 2M+1 taps");
    c.taps = o.lo ? Taps::from_lo(*o.lo, 2 * o.taps_m + 1) : Taps::centred(o.taps_m);
    c.h.assign(c.taps.K(), 0.0);
  }
  c.origin = "your numbers" + std::string(o.h.empty() ? " (no --h: h = 0, the start of learning)" : "");
  return c;
}

int run_explain(const ExplainCase& c) {
  const Taps taps = c.taps;
  const std::span<const double> x(c.x), y(c.y), h(c.h);
  const std::size_t N = x.size(), K = h.size();
  const auto Ns = static_cast<std::int64_t>(N);
  auto x_at = [&](std::int64_t i) { return (i >= 0 && i < Ns) ? x[static_cast<std::size_t>(i)] : 0.0; };
  auto has_tap = [&](std::int64_t m) { return taps.lo <= m && m <= taps.hi; };
  auto h_at = [&](std::int64_t m) { return has_tap(m) ? h[static_cast<std::size_t>(m - taps.lo)] : 0.0; };
  auto m_of = [&](std::size_t j) { return taps.lo + static_cast<std::int64_t>(j); };
  const bool partial = N > kShownRows || K > kShownCols;

  std::printf("The learnable filter, its loss and its gradient, worked on %s.\n", c.origin.c_str());
  std::printf("N = %zu samples, K = %zu taps m = %lld..%lld.\n", N, K, static_cast<long long>(taps.lo),
              static_cast<long long>(taps.hi));
  std::printf("Indices are 0-based, as in the code: n = 0..%zu, and x[n] = 0 outside the signal.\n", N - 1);
  if (partial)
    std::printf(
        "A long case: vectors show their first and last %zu values, matrices their first %zu rows and\n"
        "%zu columns, sums their first %zu terms; each says what it leaves out.\n",
        kShownValues / 2, kShownRows, kShownCols, kShownTerms);
  std::printf("\n   x = %s\n   y = %s\n   h = %s   (h[m] for m = %lld..%lld)\n\n", row(x).c_str(),
              row(y).c_str(), row(h).c_str(), static_cast<long long>(taps.lo),
              static_cast<long long>(taps.hi));

  // 1. Forward.
  const Step<double> s = loss_and_grad<double>(x, y, h, taps, Method::reference, true);
  const std::size_t n_ex = std::min<std::size_t>(N / 2, kShownRows - 1);
  std::printf("1. Forward: prediction, residual, loss\n");
  std::printf("   yhat[n] = sum_{m=%lld..%lld} h[m] x[n-m]; for example\n", static_cast<long long>(taps.lo),
              static_cast<long long>(taps.hi));
  const auto n_ex_s = static_cast<std::int64_t>(n_ex);
  std::printf(
      "   yhat[%zu] = %s\n           = %s = %s\n", n_ex,
      written_sum(
          K,
          [&](std::size_t j) { return tap_name(m_of(j)) + " x[" + std::to_string(n_ex_s - m_of(j)) + "]"; })
          .c_str(),
      written_sum(K, [&](std::size_t j) { return factor(h[j]) + factor(x_at(n_ex_s - m_of(j))); }).c_str(),
      num(s.yhat[n_ex]).c_str());
  std::printf("   yhat = h * x = %s\n", row(s.yhat).c_str());
  std::printf("   r = yhat - y  = %s\n", row(s.r).c_str());
  std::printf("   L = 1/2 sum_n r[n]^2 = 1/2 (%s) = %s\n\n",
              written_sum(
                  N, [&](std::size_t n) { return num(s.r[n] * s.r[n]); }, " + ")
                  .c_str(),
              num(s.loss).c_str());

  // 2. Scalar chain rule for one tap.
  const std::int64_t m0 = has_tap(1) ? 1 : taps.lo;
  const std::size_t j0 = static_cast<std::size_t>(m0 - taps.lo);
  std::printf("2. The scalar chain rule, for one tap (m = %lld)\n", static_cast<long long>(m0));
  std::printf("   L depends on %s only through every yhat[n], so\n", tap_name(m0).c_str());
  std::printf("   dL/dh[%lld] = sum_n dL/dyhat[n] * dyhat[n]/dh[%lld] = sum_n r[n] x[n-%lld]\n",
              static_cast<long long>(m0), static_cast<long long>(m0), static_cast<long long>(m0));
  double chain_sum = 0;
  for (std::size_t n = 0; n < N; ++n) chain_sum += s.r[n] * x_at(static_cast<std::int64_t>(n) - m0);
  std::printf(
      "             = %s\n             = %s\n\n",
      written_sum(
          N, [&](std::size_t n) { return factor(s.r[n]) + factor(x_at(static_cast<std::int64_t>(n) - m0)); })
          .c_str(),
      num(chain_sum).c_str());

  // 3. The Jacobian way: dL/dyhat = r^T (1 x N), J_h[n][j] = x[n - m] (N x K).
  const MatrixView Jr{1, N, [&](std::size_t, std::size_t n) { return s.r[n]; }};
  const MatrixView Jh{
      N, K, [&](std::size_t n, std::size_t j) { return x_at(static_cast<std::int64_t>(n) - m_of(j)); }};
  std::vector<double> dh_jac(K, 0.0);  // r^T J_h: entry j sums r[n] J_h[n][j] over the shared index n
  for (std::size_t j = 0; j < K; ++j)
    for (std::size_t n = 0; n < N; ++n) dh_jac[j] += s.r[n] * Jh.at(n, j);
  std::printf("3. The Jacobian way: a row vector times a matrix\n");
  print_matrix(Jr, "dL/dyhat = r^T", nullptr, "");
  print_matrix(
      Jh, "dyhat/dh = J_h, J_h[n][m] = x[n-m]", [&](std::size_t j) { return "m=" + std::to_string(m_of(j)); },
      "n");
  std::printf("   dL/dh = r^T J_h: (1 x %zu)(%zu x %zu) = 1 x %zu; entry m sums over the shared index n:\n",
              N, N, K, K);
  std::printf("      %s\n\n", row(dh_jac).c_str());

  // 4. Flipped-input convolution, as docs/derivation.md section 5 writes it:
  //    xflip[s] = x[N-1-s] (s = 0..N-1), dh[m] = (xflip * r)[m + N - 1],
  // by the library's literal loops (grad_kernel_flipped), and one entry written out.
  const std::vector<double> dh_flip = grad_kernel_flipped<double>(x, s.r, taps);
  std::vector<double> xflip(N);
  for (std::size_t k = 0; k < N; ++k) xflip[k] = x[N - 1 - k];
  const std::int64_t t0 = m0 + Ns - 1;  // (xflip * r)[t0] = sum_s xflip[s] r[t0 - s]
  auto r_at = [&](std::int64_t i) { return (i >= 0 && i < Ns) ? s.r[static_cast<std::size_t>(i)] : 0.0; };
  std::printf("4. The flipped-input convolution\n");
  std::printf("   xflip[s] = x[N-1-s] (s = 0..%zu): %s\n", N - 1, row(xflip).c_str());
  std::printf(
      "   dL/dh[m] = sum_n x[n-m] r[n] = sum_s xflip[s] r[m+N-1-s] = (xflip * r)[m + N - 1]; for m = %lld:\n",
      static_cast<long long>(m0));
  std::printf("   (xflip * r)[%lld] = %s\n                  = %s\n", static_cast<long long>(t0),
              written_sum(N,
                          [&](std::size_t k) {
                            return factor(xflip[k]) + factor(r_at(t0 - static_cast<std::int64_t>(k)));
                          })
                  .c_str(),
              num(dh_flip[j0]).c_str());
  std::printf("   all m = %lld..%lld (grad_kernel_flipped):\n      %s\n\n", static_cast<long long>(taps.lo),
              static_cast<long long>(taps.hi), row(dh_flip).c_str());

  // 5. All equal, and equal to every library method.
  std::printf("5. All the same gradient\n");
  const std::string chain_label = "chain rule, tap m = " + std::to_string(m0);
  std::printf("   %-30s %s\n", chain_label.c_str(), num(chain_sum).c_str());
  std::printf("   %-30s %s\n", "Jacobian product r^T J_h", row(dh_jac).c_str());
  std::printf("   %-30s %s\n", "(xflip * r)[m + N - 1]", row(dh_flip).c_str());
  double worst = std::max({max_diff(dh_jac, s.dh), max_diff(dh_flip, s.dh), std::abs(chain_sum - s.dh[j0])});
  for (const Method m : {Method::reference, Method::direct, Method::fft, Method::jacobian}) {
    const std::string label = "grad_kernel, method " + std::string(to_string(m));
    try {
      const std::vector<double> r_dh = grad_kernel<double>(x, s.r, taps, m);
      worst = std::max(worst, max_diff(r_dh, s.dh));
      std::printf("   %-30s %s\n", label.c_str(), row(r_dh).c_str());
    } catch (const convgrad::resource_limit& e) {  // the Jacobian of a long signal is too big to form
      std::printf("   %-30s not run: %s\n", label.c_str(), e.what());
    }
  }
  std::printf("   largest difference between any two: %s%s\n\n", num(worst).c_str(),
              worst == 0 ? " (exact)" : " (rounding: the sums are added in different orders)");

  // 6. The input gradient, the same way: J_x[n][k] = h[n-k], a band of K diagonals.
  const MatrixView Jx{N, N, [&](std::size_t n, std::size_t k) {
                        return h_at(static_cast<std::int64_t>(n) - static_cast<std::int64_t>(k));
                      }};
  std::vector<double> dx_jac(N, 0.0);  // r^T J_x, over the band only: n = k + m
  for (std::size_t k = 0; k < N; ++k)
    for (std::int64_t m = taps.lo; m <= taps.hi; ++m)
      dx_jac[k] += r_at(static_cast<std::int64_t>(k) + m) * h_at(m);
  std::printf("6. The input gradient, the same way: dL/dx = r^T J_x\n");
  print_matrix(
      Jx, "dyhat/dx = J_x, J_x[n][k] = h[n-k] (0 where n-k is not a tap)",
      [](std::size_t k) { return "k=" + std::to_string(k); }, "n");
  std::printf("   r^T J_x: (1 x %zu)(%zu x %zu) = 1 x %zu: %s\n", N, N, N, N, row(dx_jac).c_str());
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
  // The library's matmul, asked for it, on the Jacobians themselves (formed when small enough).
  if (N * K <= kMaxFormedEntries) {
    try {
      const Matrix<double> wrong = matmul(jacobian_yhat_h<double>(x, taps), jacobian_loss_yhat<double>(s.r));
      if (N == 1)
        std::printf("   here N = K = 1, so every form coincides.\n");
      else
        std::printf("   here K = 1, so it runs, but gives a %zu x %zu matrix, not the 1 x %zu gradient.\n",
                    wrong.rows, wrong.cols, K);
    } catch (const convgrad::invalid_argument& e) {
      std::printf("   matmul(J_h, r^T) -> %s\n", e.what());
    }
  } else if (K != 1) {
    std::printf("   the inner sizes %zu and 1 differ, so no product exists.\n", K);
  } else {
    std::printf("   here K = 1, so it runs, but gives a %zu x %zu matrix, not the 1 x 1 gradient.\n", N, N);
  }
  std::printf("   (NumPy's broadcasting would accept (1, N) * (N, K) when K = N or K = 1 and silently\n");
  std::printf("   return an N x N table, not a gradient: check shapes, not just that the code runs.)\n");
  return 0;
}

}  // namespace

Run add_explain(CLI::App& app) {
  auto o = std::make_shared<ExplainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "explain", "the derivation of dL/dh, every step printed with numbers: yours, or a small random case");
  cmd->footer(
      "With --x, --y (and --h), the derivation runs on your numbers, of any length: a long case is\n"
      "printed in part, saying what it leaves out. Without them, a random case of small integers\n"
      "drawn from --seed (N <= " +
      std::to_string(kMaxExplainN) + ", M <= " + std::to_string(kMaxExplainM) +
      "), so every number can be checked by hand.");
  cmd->add_option("--x", o->x, "the input signal: an inline list (1,2,3) or a file")->type_name("LIST|FILE");
  cmd->add_option("--y", o->y, "the target, as many values as x: a list or a file")->type_name("LIST|FILE");
  cmd->add_option("--h", o->h, "the taps h[m], m = lo..hi: a list or a file (default: zeros)")
      ->type_name("LIST|FILE");
  cmd->add_option("--lo", o->lo, "the first tap m of --h (default: centred, which needs an odd K)")
      ->type_name("L");
  cmd->add_option("--n", o->n, "random case: samples N (default 6)");
  // explain derives the centred filter only, so of the tap options it takes the half-width.
  CLI::Option* half = cmd->add_option("--half-width", o->taps_m, "K = 2M+1 taps m = -M..M (default 1)");
  half->type_name("M");
  deprecated_alias(
      cmd->add_option("--taps", o->taps_m, "deprecated spelling of --half-width M")->excludes(half),
      "--half-width M (K = 2M+1 taps m = -M..M)");
  cmd->add_option("--seed", o->seed, "random case: its seed (default 1)");
  add_var_option(*cmd);
  return [o] {
    const bool yours = !o->x.empty() || !o->y.empty() || !o->h.empty();
    if (!yours && o->lo) throw usage_error("--lo goes with your numbers (--x, --y, --h)");
    return run_report([&] { return run_explain(yours ? user_case(*o) : random_case(*o)); });
  };
}

}  // namespace convgrad::cli
