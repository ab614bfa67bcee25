// Multi-input, multi-output system identification: the exact least squares of
//
//   y_o[n] ~ sum_c sum_{m=lo..hi} h_{o,c}[m] x_c[n-m]
//
// through the block normal equations (G + ridge I) H = B, G = X^T X, B = X^T Y (fit.hpp).
//
// The block G_{cd}[i][j] = sum_{n=0..N-1} x_c[n-m_i] x_d[n-m_j] is built as gram.cpp builds
// the single-channel Gram matrix, with two signals instead of one:
//
// 1. Its first row and first column are window-cut cross-correlations. With q = n - m_0
//    (q runs over the window [-lo, N-1-lo]):
//      G_{cd}[0][j] = sum_{q in window} x_c[q] x_d[q-j] =: F_{cd}[j]
//      G_{cd}[i][0] = sum_{q in window} x_d[q] x_c[q-i]  = F_{dc}[i]
//    and F_{cd}[j] is the full cross-correlation R_{cd}[j] = sum_q x_c[q] x_d[q-j] minus the
//    few products the window leaves out (or the products inside it, whichever are fewer).
// 2. Along each diagonal the window slides by one sample:
//      G_{cd}[i+1][j+1] = G_{cd}[i][j] + x_c[-1-m_i] x_d[-1-m_j] - x_c[N-1-m_i] x_d[N-1-m_j].
// Only the blocks c <= d are built; G_{dc} = G_{cd}^T.
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "convgrad/channels.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/interrupt.hpp"
#include "convgrad/numbers.hpp"
#include "fit_internal.hpp"

namespace convgrad {
namespace {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Signals = std::vector<std::span<const double>>;

// v[q], zero outside [0, N).
double sample(std::span<const double> v, std::int64_t q) {
  return (q >= 0 && q < static_cast<std::int64_t>(v.size())) ? v[static_cast<std::size_t>(q)] : 0.0;
}

// sum_{q in [a, b]} u[q] v[q-j], clipped to where both factors are inside the signals.
double cross_products(std::span<const double> u, std::span<const double> v, std::int64_t j, std::int64_t a,
                      std::int64_t b) {
  a = std::max(a, j);
  b = std::min(b, static_cast<std::int64_t>(u.size()) - 1);
  double s = 0;
  for (std::int64_t q = a; q <= b; ++q) s += u[q] * v[q - j];
  return s;
}

// F[j] = sum_{q in [-lo, N-1-lo]} u[q] v[q-j] for j = 0..K-1 (the first row of the block of
// u against v), from the cross-correlation R[j] = sum_q u[q] v[q-j], which grad_kernel
// computes (its dh[j] = sum_n v[n-j] u[n]) by whichever method is fastest.
std::vector<double> window_correlation(std::span<const double> u, std::span<const double> v, Taps taps) {
  const auto N = static_cast<std::int64_t>(u.size());
  const auto K = static_cast<std::int64_t>(taps.K());
  const std::int64_t D = std::min(K, N), w0 = -taps.lo, w1 = N - 1 - taps.lo;
  const std::vector<double> R = grad_kernel<double>(v, u, Taps::range(0, D - 1));
  std::vector<double> F(static_cast<std::size_t>(K), 0.0);
  for (std::int64_t j = 0; j < D; ++j) {
    const std::int64_t inside = std::max<std::int64_t>(0, std::min(w1, N - 1) - std::max(w0, j) + 1);
    if (inside <= N - j - inside)
      F[j] = cross_products(u, v, j, w0, w1);
    else
      F[j] = R[j] - cross_products(u, v, j, j, w0 - 1) - cross_products(u, v, j, w1 + 1, N - 1);
  }
  return F;
}

// The block G_{cd} into rows c K.. and columns d K.. of G (row stride C K), and its transpose
// into the block (d, c).
void fill_block(Mat& G, const Signals& xs, std::size_t c, std::size_t d, Taps taps) {
  const auto K = static_cast<Eigen::Index>(taps.K());
  const auto N = static_cast<std::int64_t>(xs[c].size());
  const std::span<const double> u = xs[c], v = xs[d];
  auto B = G.block(static_cast<Eigen::Index>(c) * K, static_cast<Eigen::Index>(d) * K, K, K);
  const std::vector<double> row = window_correlation(u, v, taps), col = window_correlation(v, u, taps);
  for (Eigen::Index j = 0; j < K; ++j) B(0, j) = row[j];
  for (Eigen::Index i = 1; i < K; ++i) B(i, 0) = col[i];
  for (Eigen::Index i = 0; i + 1 < K; ++i) {
    const std::int64_t mi = taps.lo + i;
    const double enter = sample(u, -1 - mi), leave = sample(u, N - 1 - mi);
    for (Eigen::Index j = 0; j + 1 < K; ++j) {
      const std::int64_t mj = taps.lo + j;
      B(i + 1, j + 1) = B(i, j) + enter * sample(v, -1 - mj) - leave * sample(v, N - 1 - mj);
    }
  }
  if (c != d)
    G.block(static_cast<Eigen::Index>(d) * K, static_cast<Eigen::Index>(c) * K, K, K) = B.transpose();
}

void require_budget(std::size_t unknowns, std::size_t budget) {
  const double bytes = static_cast<double>(unknowns) * static_cast<double>(unknowns) * sizeof(double);
  if (bytes > static_cast<double>(budget))
    throw resource_limit("exact solver: the " + std::to_string(unknowns) + " x " + std::to_string(unknowns) +
                         " block Gram matrix (inputs x taps squared) needs " +
                         format_number(bytes / (1 << 20), 3) + " MiB, above the budget of " +
                         format_number(static_cast<double>(budget) / (1 << 20), 3) +
                         " MiB; use fewer taps or inputs");
}

Mat block_gram(const Signals& xs, Taps taps, std::size_t budget) {
  const std::size_t C = xs.size(), n = C * taps.K();
  require_budget(n, budget);
  Mat G;
  try {
    G.resize(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
  } catch (const std::bad_alloc&) {
    throw resource_limit("exact solver: out of memory allocating the " + std::to_string(n) + " x " +
                         std::to_string(n) + " block Gram matrix");
  }
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t d = c; d < C; ++d) {
      poll_interrupt("exact solver (block Gram matrix)");
      fill_block(G, xs, c, d, taps);
    }
  return G;
}

// Every signal as doubles: float data widened into `storage`, double data used in place.
template <std::floating_point T>
Signals in_double(std::span<const std::span<const T>> vs, std::vector<std::vector<double>>& storage) {
  Signals out;
  for (const auto v : vs) {
    if constexpr (std::is_same_v<T, double>) {
      out.push_back(v);
    } else {
      storage.emplace_back(v.begin(), v.end());
      out.push_back(storage.back());
    }
  }
  return out;
}

// One length N >= 1 for every signal, all finite; `role` is "x" or "y".
template <std::floating_point T>
void require_channels(std::span<const std::span<const T>> vs, const char* role, std::size_t N) {
  for (std::size_t c = 0; c < vs.size(); ++c) {
    const std::string name = std::string(role) + "[" + std::to_string(c) + "]";
    if (vs[c].size() != N)
      throw invalid_argument(name + " has " + std::to_string(vs[c].size()) + " samples but x[0] has " +
                             std::to_string(N) + " (every channel must be the same length)");
    require_finite<T>(vs[c], name);
  }
}

template <std::floating_point T>
void validate_mimo(std::span<const std::span<const T>> xs, std::span<const std::span<const T>> ys) {
  if (xs.empty()) throw invalid_argument("x: no input channels (need at least one)");
  if (ys.empty()) throw invalid_argument("y: no output channels (need at least one)");
  const std::size_t N = xs[0].size();
  if (N == 0) throw invalid_argument("x[0] is empty: a signal needs at least one sample");
  require_channels<T>(xs, "x", N);
  require_channels<T>(ys, "y", N);
}

[[noreturn]] void throw_singular(const std::string& why, double suggested_ridge) {
  throw singular_system("exact solver: " + why +
                        "; the data do not determine every tap of every input (an input that is zero, or a "
                        "copy or filtered copy of another, does that). Add a ridge penalty (ridge = " +
                        format_number(suggested_ridge, 3) +
                        ", for example), drop an input or use fewer taps");
}

// lambda_min and lambda_max of A (exactly up to kExactEigenTaps unknowns, else by power and
// inverse iteration through the Cholesky factor), checked against singularity: a solve is
// accurate to about n eps cond(A), so cond(A) >= 1 / (n eps) leaves no correct digit.
void condition_of(const Mat& A, const Eigen::LLT<Mat>& llt, double suggest, MimoSolution& out) {
  const Eigen::Index n = A.rows();
  if (static_cast<std::size_t>(n) <= kExactEigenTaps) {
    const Eigen::VectorXd lambda =
        Eigen::SelfAdjointEigenSolver<Mat>(A, Eigen::EigenvaluesOnly).eigenvalues();
    out.lambda_min = lambda[0];
    out.lambda_max = lambda[n - 1];
  } else {
    const auto size = static_cast<std::size_t>(n);
    out.lambda_max = detail::fit::largest_eigenvalue_dense({A.data(), size * size}, size, "exact solver");
    // matrixLLT(): L in the lower triangle (the upper one is not read).
    out.lambda_min = detail::fit::smallest_eigenvalue_cholesky({llt.matrixLLT().data(), size * size}, size,
                                                               "exact solver");
    out.condition_estimated = true;
  }
  const double limit = 1.0 / (static_cast<double>(n) * std::numeric_limits<double>::epsilon());
  if (!(out.lambda_min > out.lambda_max / limit))
    throw_singular("the block normal equations are singular (smallest eigenvalue " +
                       format_number(out.lambda_min, 3) + ", largest " + format_number(out.lambda_max, 3) +
                       ")",
                   suggest);
  out.condition = out.lambda_max / out.lambda_min;
}

// 1/2 ||sum_c h_{o,c} * x_c - y_o||^2 for every output o.
std::vector<double> output_losses(const Signals& xs, const Signals& ys, const std::vector<double>& h,
                                  Taps taps) {
  const std::size_t C_in = xs.size(), K = taps.K(), N = xs[0].size();
  std::vector<double> loss(ys.size());
  for (std::size_t o = 0; o < ys.size(); ++o) {
    poll_interrupt("exact solver (losses)");
    std::vector<double> r(ys[o].begin(), ys[o].end());
    for (double& v : r) v = -v;
    for (std::size_t c = 0; c < C_in; ++c) {
      const std::vector<double> yhat = conv<double>(xs[c], std::span(h).subspan((o * C_in + c) * K, K), taps);
      for (std::size_t n = 0; n < N; ++n) r[n] += yhat[n];
    }
    const double norm = norm2(r);
    loss[o] = 0.5 * norm * norm;
  }
  return loss;
}

// The objective of the iterative solvers (fit_internal.hpp's Objective) for one recording of
// C_in inputs and C_out outputs, h = W (C_out x C_in x K) and one part per output o:
//   F(W) = sum_o 1/2 ||r_o||^2 + ridge/2 ||W||^2,   r_o = sum_c W[o, c] * x_c - y_o,
//   dF/dW[o, c, j] = sum_n x_c[n - m_j] r_o[n] + ridge W[o, c, j],
// through the multi-channel kernels with a batch of one: conv_channels gives yhat, and
// grad_channels the channel sums of dW.
template <std::floating_point T>
class MimoObjective final : public detail::fit::Objective<T> {
 public:
  MimoObjective(std::span<const std::span<const T>> xs, std::span<const std::span<const T>> ys, Taps taps,
                Method method)
      : shape_(same_shape(1, xs.size(), ys.size(), xs[0].size(), taps)),
        gram_shape_(same_shape(1, xs.size(), 1, xs[0].size(), taps)),
        method_(method),
        x_(stacked(xs)),
        y_(stacked(ys)),
        yhat_(shape_.y_size()),
        dW_(shape_.w_size()) {}

  std::size_t unknowns() const override { return shape_.w_size(); }
  std::size_t parts() const override { return shape_.out_channels; }

  // Every output at once (mini-batches are refused by fit_mimo: `batch` is empty).
  double pass(std::span<const T> h, std::span<const std::size_t> /*batch*/, double ridge, double scale,
              std::span<double> grad, std::vector<double>* part_loss) override {
    const std::size_t N = shape_.n_in;
    conv_channels<T>(x_, h, {}, yhat_, shape_, method_);
    std::vector<T>& r = yhat_;  // r = yhat - y, in place
    double sum = 0;
    if (part_loss) part_loss->assign(parts(), 0.0);
    for (std::size_t o = 0; o < parts(); ++o) {
      double rr = 0;
      for (std::size_t n = o * N; n < (o + 1) * N; ++n) {
        r[n] -= y_[n];
        rr += static_cast<double>(r[n]) * r[n];
      }
      if (part_loss) (*part_loss)[o] = 0.5 * rr;
      sum += 0.5 * rr;
    }
    double hh = 0;
    for (const T v : h) hh += static_cast<double>(v) * v;
    if (!grad.empty()) {
      grad_channels<T>(x_, h, r, {}, dW_, {}, shape_, method_);
      for (std::size_t i = 0; i < grad.size(); ++i)
        grad[i] = scale * static_cast<double>(dW_[i]) + ridge * h[i];
    }
    return scale * sum + 0.5 * ridge * hh;
  }

  // Output o sees every input: ||x|| = sqrt(sum_c ||x_c||^2).
  detail::fit::PairNorms norms() override {
    const std::size_t N = shape_.n_in;
    detail::fit::PairNorms out;
    const double xx = norm_of(x_);
    for (std::size_t o = 0; o < parts(); ++o) {
      out.x.push_back(xx);
      out.y.push_back(norm_of(std::span<const T>(y_).subspan(o * N, N)));
      out.n.push_back(N);
    }
    return out;
  }

  // The Hessian is G = X^T X on every output: power iteration on G v = X^T (X v), v one
  // output's filters (C_in x K), with the kernels for a single output.
  double largest_eigenvalue(double rel_tol, std::size_t max_iter) override {
    std::vector<T> vt(gram_shape_.w_size()), u(gram_shape_.y_size()), Gv(gram_shape_.w_size());
    auto rayleigh = [&](std::span<const double> v, std::span<double> w) {
      std::copy(v.begin(), v.end(), vt.begin());
      conv_channels<T>(x_, vt, {}, u, gram_shape_, method_);  // X v
      if (!std::all_of(u.begin(), u.end(), [](T a) { return std::isfinite(a); }))
        throw invalid_argument(detail::fit::data_too_large<T>());
      grad_channels<T>(x_, vt, u, {}, Gv, {}, gram_shape_, method_);  // X^T (X v)
      std::copy(Gv.begin(), Gv.end(), w.begin());
      const double q = detail::fit::rayleigh_quotient<T>(vt, w);
      if (!std::isfinite(q)) throw invalid_argument(detail::fit::data_too_large<T>());
      return q;
    };
    return detail::fit::power_iteration(vt.size(), rayleigh, rel_tol, max_iter, detail::fit::kPowerSeed,
                                        "power iteration (largest eigenvalue)");
  }

 private:
  // The channels one after another (C x N, row-major): the kernels' layout for a batch of one.
  static std::vector<T> stacked(std::span<const std::span<const T>> vs) {
    std::vector<T> out;
    out.reserve(vs.size() * vs[0].size());
    for (const auto v : vs) out.insert(out.end(), v.begin(), v.end());
    return out;
  }

  // ||v||_2, summed in double.
  static double norm_of(std::span<const T> v) {
    double s = 0;
    for (const T a : v) s += static_cast<double>(a) * a;
    return std::sqrt(s);
  }

  ChannelShape shape_, gram_shape_;
  Method method_;
  std::vector<T> x_, y_, yhat_, dW_;
};

}  // namespace

template <std::floating_point T>
std::vector<double> block_gram_matrix(std::span<const std::span<const T>> xs, Taps taps) {
  taps = Taps::range(taps.lo, taps.hi);
  if (xs.empty()) throw invalid_argument("x: no input channels (need at least one)");
  if (xs[0].empty()) throw invalid_argument("x[0] is empty: a signal needs at least one sample");
  require_channels<T>(xs, "x", xs[0].size());
  std::vector<std::vector<double>> storage;
  const Mat G = block_gram(in_double(xs, storage), taps, kDefaultGramBudget);
  return {G.data(), G.data() + G.size()};
}

template <std::floating_point T>
MimoSolution fit_mimo(std::span<const std::span<const T>> xs, std::span<const std::span<const T>> ys,
                      Taps taps, double ridge, std::size_t gram_budget) {
  const auto start = std::chrono::steady_clock::now();
  taps = Taps::range(taps.lo, taps.hi);
  detail::fit::require_ridge(ridge);
  validate_mimo<T>(xs, ys);
  std::vector<std::vector<double>> x_storage, y_storage;
  const Signals x = in_double(xs, x_storage), y = in_double(ys, y_storage);
  const std::size_t C_in = x.size(), C_out = y.size(), K = taps.K();
  const auto n = static_cast<Eigen::Index>(C_in * K);

  Mat A = block_gram(x, taps, gram_budget);
  // B = X^T Y: column o, block c holds (X_c^T y_o)[j] = sum_n x_c[n-m_j] y_o[n].
  Mat B(n, static_cast<Eigen::Index>(C_out));
  for (std::size_t o = 0; o < C_out; ++o)
    for (std::size_t c = 0; c < C_in; ++c) {
      poll_interrupt("exact solver (X^T y)");
      const std::vector<double> b = grad_kernel<double>(x[c], y[o], taps);
      for (std::size_t j = 0; j < K; ++j)
        B(static_cast<Eigen::Index>(c * K + j), static_cast<Eigen::Index>(o)) = b[j];
    }
  const double trace = A.trace();
  A.diagonal().array() += ridge;
  if (!A.allFinite() || !B.allFinite())
    throw invalid_argument(
        "exact solver: X^T X or X^T y overflows the float64 range: the data are too large "
        "(their products exceed 1.8e308); scale x and y down");
  const double suggest = std::max(1e-8 * trace / static_cast<double>(n), 1e-300);
  if (trace == 0 && ridge == 0)
    throw_singular("the block Gram matrix X^T X is zero (every input is all zero)", 1.0);

  MimoSolution out;
  out.inputs = C_in;
  out.outputs = C_out;
  out.taps = taps;
  out.ridge = ridge;
  poll_interrupt("exact solver (Cholesky)");
  const Eigen::LLT<Mat> llt(A);
  if (llt.info() != Eigen::Success)
    throw_singular("the block normal equations are not positive definite (Cholesky failed)", suggest);
  condition_of(A, llt, suggest, out);
  // One factor, every output: H = A^{-1} B, then one step of iterative refinement.
  Mat H = llt.solve(B);
  H += llt.solve(B - A * H);
  out.h.resize(C_out * C_in * K);
  for (std::size_t o = 0; o < C_out; ++o)
    for (std::size_t r = 0; r < C_in * K; ++r)
      out.h[o * C_in * K + r] = H(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(o));
  out.output_loss = output_losses(x, y, out.h, taps);
  const double h_norm = norm2(out.h);
  out.loss = 0.5 * ridge * h_norm * h_norm;
  for (const double l : out.output_loss) out.loss += l;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

template <std::floating_point T>
MimoSolution fit_mimo(std::span<const std::span<const T>> xs, std::span<const std::span<const T>> ys,
                      Taps taps, const FitOptions& options, std::span<const T> h0) {
  if (options.batch)
    throw invalid_argument(
        "batch: the multi-input fit takes its one recording whole at every step (mini-batches are over "
        "pairs); leave it unset");
  validate(options, 1);
  if (options.solver == Solver::exact) return fit_mimo<T>(xs, ys, taps, options.ridge);
  const auto start = std::chrono::steady_clock::now();
  taps = Taps::range(taps.lo, taps.hi);
  validate_mimo<T>(xs, ys);
  MimoObjective<T> f(xs, ys, taps, options.method);
  const std::size_t n = f.unknowns();
  if (!h0.empty()) {
    if (h0.size() != n)
      throw invalid_argument("initial h has " + std::to_string(h0.size()) + " taps, expected " +
                             std::to_string(n) + " (outputs x inputs x K = " + std::to_string(ys.size()) +
                             " x " + std::to_string(xs.size()) + " x " + std::to_string(taps.K()) + ")");
    require_finite<T>(h0, "initial h");
  }
  std::vector<T> h = h0.empty() ? std::vector<T>(n, T{0}) : std::vector<T>(h0.begin(), h0.end());
  FitResult<T> run;
  detail::fit::iterate<T>(f, options, h, run);

  MimoSolution out;
  out.inputs = xs.size();
  out.outputs = ys.size();
  out.taps = taps;
  out.ridge = options.ridge;
  out.solver = options.solver;
  out.iterations = run.iterations;
  out.stop_reason = std::move(run.stop_reason);
  out.lambda_max = run.lambda_max;
  out.step = run.step;
  out.step_halvings = run.step_halvings;
  out.history = std::move(run.history);
  // The reported losses and gradient norm: one full pass at the result.
  std::vector<double> g(n);
  out.loss = f.pass(h, {}, options.ridge, 1.0, g, &out.output_loss);
  out.grad_norm = norm2(g);
  out.h.assign(h.begin(), h.end());
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::string mimo_advice(const MimoSolution& solution) {
  if (!(solution.condition > kIllConditioned)) return {};
  // ridge = lambda_max / kIllConditioned caps the condition number near kIllConditioned.
  return "the condition number " + format_number(solution.condition, 3) +
         " is large: the inputs are strongly correlated (or do not excite every tap), so the taps are "
         "poorly determined and sensitive to noise; a ridge penalty would steady them (ridge = " +
         format_number(solution.lambda_max / kIllConditioned, 3) +
         " keeps the condition number below about " + format_number(kIllConditioned, 2) + ")";
}

template std::vector<double> block_gram_matrix<float>(std::span<const std::span<const float>>, Taps);
template std::vector<double> block_gram_matrix<double>(std::span<const std::span<const double>>, Taps);
template MimoSolution fit_mimo<float>(std::span<const std::span<const float>>,
                                      std::span<const std::span<const float>>, Taps, double, std::size_t);
template MimoSolution fit_mimo<double>(std::span<const std::span<const double>>,
                                       std::span<const std::span<const double>>, Taps, double, std::size_t);
template MimoSolution fit_mimo<float>(std::span<const std::span<const float>>,
                                      std::span<const std::span<const float>>, Taps, const FitOptions&,
                                      std::span<const float>);
template MimoSolution fit_mimo<double>(std::span<const std::span<const double>>,
                                       std::span<const std::span<const double>>, Taps, const FitOptions&,
                                       std::span<const double>);

}  // namespace convgrad
