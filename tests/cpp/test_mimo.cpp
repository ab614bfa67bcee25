// Multi-input, multi-output system identification (fit_mimo, block_gram_matrix): the block
// Gram matrix against the literal sums of its definition, the fit against Householder QR of
// the explicit design matrix, known filters recovered, and correlated inputs reported; the
// iterative solvers reach the exact answer, with the same bits for any thread count.
#include <gtest/gtest.h>

#include <omp.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <string>

#include "convgrad/errors.hpp"
#include "convgrad/fit.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

template <class T>
std::vector<std::span<const T>> spans(const std::vector<std::vector<T>>& vs) {
  return {vs.begin(), vs.end()};
}

// x[q], zero outside the signal.
double at(const std::vector<double>& x, std::int64_t q) {
  return q >= 0 && q < static_cast<std::int64_t>(x.size()) ? x[static_cast<std::size_t>(q)] : 0.0;
}

// The literal definition: G[c K + i][d K + j] = sum_{n=0..N-1} x_c[n-m_i] x_d[n-m_j].
std::vector<double> literal_block_gram(const std::vector<std::vector<double>>& xs, Taps taps) {
  const std::size_t C = xs.size(), K = taps.K(), n = C * K;
  const auto N = static_cast<std::int64_t>(xs[0].size());
  std::vector<double> G(n * n, 0.0);
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t d = 0; d < C; ++d)
      for (std::size_t i = 0; i < K; ++i)
        for (std::size_t j = 0; j < K; ++j) {
          double s = 0;
          for (std::int64_t t = 0; t < N; ++t)
            s += at(xs[c], t - taps.lo - static_cast<std::int64_t>(i)) *
                 at(xs[d], t - taps.lo - static_cast<std::int64_t>(j));
          G[(c * K + i) * n + d * K + j] = s;
        }
  return G;
}

// The explicit N x (C K) design matrix [X_0 ... X_{C-1}], X_c[n][j] = x_c[n - m_j].
Eigen::MatrixXd design(const std::vector<std::vector<double>>& xs, Taps taps) {
  const auto N = static_cast<Eigen::Index>(xs[0].size());
  const auto K = static_cast<Eigen::Index>(taps.K());
  Eigen::MatrixXd X(N, static_cast<Eigen::Index>(xs.size()) * K);
  for (std::size_t c = 0; c < xs.size(); ++c)
    for (Eigen::Index n = 0; n < N; ++n)
      for (Eigen::Index j = 0; j < K; ++j)
        X(n, static_cast<Eigen::Index>(c) * K + j) = at(xs[c], n - taps.lo - j);
  return X;
}

struct Shape {
  std::size_t C_in, C_out, N;
  Taps taps;
};

std::string describe(const Shape& s) {
  return "C_in " + std::to_string(s.C_in) + " C_out " + std::to_string(s.C_out) + " N " +
         std::to_string(s.N) + " taps " + std::to_string(s.taps.lo) + ".." + std::to_string(s.taps.hi);
}

// Dyadic inputs and short correlations (direct sums) make every sum exact, so the edge
// corrections must reproduce the literal sums bit for bit, K > N and one-sided ranges included.
TEST(BlockGram, EqualsTheLiteralSumsExactlyOnDyadicInputs) {
  std::uint64_t seed = 1;
  for (const Shape& s : std::vector<Shape>{{1, 1, 9, Taps::centred(2)},
                                           {2, 1, 17, Taps::centred(3)},
                                           {3, 1, 40, Taps::causal(6)},
                                           {2, 1, 5, Taps::centred(4)},
                                           {3, 1, 11, Taps::from_lo(-14, 5)},
                                           {2, 1, 30, Taps::from_lo(3, 7)},
                                           {4, 1, 23, Taps::from_lo(-30, 4)}}) {
    std::vector<std::vector<double>> xs;
    for (std::size_t c = 0; c < s.C_in; ++c) xs.push_back(dyadic<double>(s.N, ++seed));
    EXPECT_EQ(block_gram_matrix<double>(spans(xs), s.taps), literal_block_gram(xs, s.taps)) << describe(s);
  }
}

// The diagonal blocks are the single-channel Gram matrices of gram.cpp.
TEST(BlockGram, DiagonalBlocksAreEachInputsGramMatrix) {
  const Taps taps = Taps::centred(5);
  const std::vector<std::vector<double>> xs = {dyadic<double>(60, 3), dyadic<double>(60, 4)};
  const auto G = block_gram_matrix<double>(spans(xs), taps);
  const std::size_t K = taps.K(), n = 2 * K;
  for (std::size_t c = 0; c < 2; ++c) {
    const auto Gc = gram_matrix<double>(xs[c], taps);
    for (std::size_t i = 0; i < K; ++i)
      for (std::size_t j = 0; j < K; ++j) EXPECT_EQ(G[(c * K + i) * n + c * K + j], Gc[i * K + j]);
  }
}

// Gaussian inputs with long kernels (FFT correlations): each entry is a sum of at most N
// products bounded by ||x_c|| ||x_d|| (Cauchy-Schwarz); the FFT adds eps 8 log2 L of that
// and each of up to K diagonal steps two rounded products and sums (as for gram_matrix).
TEST(BlockGram, EqualsTheLiteralSumsWithinToleranceOnLongKernels) {
  const Shape s{3, 1, 400, Taps::centred(90)};
  std::vector<std::vector<double>> xs;
  double norm = 0;
  for (std::size_t c = 0; c < s.C_in; ++c) {
    xs.push_back(gaussian<double>(s.N, 40 + c));
    norm = std::max(norm, norm2(xs.back()));
  }
  const auto G = block_gram_matrix<double>(spans(xs), s.taps);
  const auto want = literal_block_gram(xs, s.taps);
  const double L = 2.0 * s.N + s.taps.K();
  const double tol = kEps * (s.N + 8 * std::ceil(std::log2(L)) + 4.0 * s.taps.K()) * norm * norm;
  double worst = 0;
  for (std::size_t i = 0; i < G.size(); ++i) worst = std::max(worst, std::abs(G[i] - want[i]));
  EXPECT_LE(worst, tol);
}

// Random shapes against Householder QR of [X; sqrt(ridge) I] H ~ [Y; 0] with the explicit
// design matrix (never the normal equations). A backward-stable solve with condition number
// c from sums of N products is accurate to about c eps (N + 2 C K) relative; 4 covers the
// constants of Cholesky and the Gram sums (as in test_fit.cpp).
TEST(FitMimo, MatchesExplicitQrSolve) {
  std::uint64_t seed = 100;
  for (const auto& [s, ridge] :
       std::vector<std::pair<Shape, double>>{{{2, 1, 80, Taps::centred(3)}, 0.0},
                                             {{3, 2, 200, Taps::causal(8)}, 0.0},
                                             {{1, 3, 50, Taps::from_lo(-6, 4)}, 0.0},
                                             {{4, 2, 20, Taps::centred(6)}, 0.5},
                                             {{2, 2, 300, Taps::from_lo(-40, 70)}, 0.0},
                                             {{3, 1, 120, Taps::centred(2)}, 3.0}}) {
    std::vector<std::vector<double>> xs, ys;
    for (std::size_t c = 0; c < s.C_in; ++c) xs.push_back(gaussian<double>(s.N, ++seed));
    for (std::size_t o = 0; o < s.C_out; ++o) ys.push_back(gaussian<double>(s.N, ++seed));
    const MimoSolution r = fit_mimo<double>(spans(xs), spans(ys), s.taps, ridge);
    const auto K = static_cast<Eigen::Index>(s.taps.K()), n = static_cast<Eigen::Index>(s.C_in) * K;
    Eigen::MatrixXd A = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(s.N) + n, n);
    A.topRows(static_cast<Eigen::Index>(s.N)) = design(xs, s.taps);
    A.bottomRows(n) = std::sqrt(ridge) * Eigen::MatrixXd::Identity(n, n);
    const auto qr = A.colPivHouseholderQr();
    const double tol = 4 * r.condition * kEps * static_cast<double>(s.N + 2 * n);
    ASSERT_EQ(r.h.size(), s.C_out * static_cast<std::size_t>(n));
    for (std::size_t o = 0; o < s.C_out; ++o) {
      Eigen::VectorXd rhs = Eigen::VectorXd::Zero(A.rows());
      rhs.head(static_cast<Eigen::Index>(s.N)) = Eigen::Map<const Eigen::VectorXd>(ys[o].data(), s.N);
      const Eigen::VectorXd want = qr.solve(rhs);
      const Eigen::Map<const Eigen::VectorXd> got(r.h.data() + o * static_cast<std::size_t>(n), n);
      EXPECT_LE((got - want).norm(), tol * want.norm()) << describe(s) << " output " << o;
      const double loss =
          0.5 * (design(xs, s.taps) * want - rhs.head(static_cast<Eigen::Index>(s.N))).squaredNorm();
      EXPECT_NEAR(r.output_loss[o], loss, tol * 0.5 * rhs.squaredNorm()) << describe(s) << " output " << o;
    }
    EXPECT_EQ(r.inputs, s.C_in);
    EXPECT_EQ(r.outputs, s.C_out);
    EXPECT_GE(r.condition, 1.0);
  }
}

// A noise-free system of known filters, y_o = sum_c h_{o,c} * x_c, white independent inputs.
// The seeds are far apart: test_util's generator from seed s + 1 is the one from s a step
// later, so neighbouring seeds give inputs that are nearly shifted copies (ill-conditioned).
struct KnownSystem {
  std::vector<std::vector<double>> xs, ys;
  std::vector<double> h_true;
  KnownSystem(std::size_t C_in, std::size_t C_out, std::size_t N, Taps taps) {
    const std::size_t K = taps.K();
    for (std::size_t c = 0; c < C_in; ++c) xs.push_back(gaussian<double>(N, 7 + 104729 * c));
    h_true = gaussian<double>(C_out * C_in * K, 99);
    ys.assign(C_out, std::vector<double>(N, 0.0));
    for (std::size_t o = 0; o < C_out; ++o)
      for (std::size_t c = 0; c < C_in; ++c) {
        const auto part = conv<double>(xs[c], std::span(h_true).subspan((o * C_in + c) * K, K), taps);
        for (std::size_t t = 0; t < N; ++t) ys[o][t] += part[t];
      }
  }
};

// Noiseless data from known filters give the filters back: y_o = sum_c h_{o,c} * x_c.
TEST(FitMimo, RecoversKnownFiltersFromNoiselessData) {
  const Taps taps = Taps::from_lo(-2, 9);
  const std::size_t C_in = 3, C_out = 2, N = 2000, K = taps.K();
  const KnownSystem sys(C_in, C_out, N, taps);
  const MimoSolution r = fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps);
  // White independent inputs: the block Gram matrix is close to N times the identity, so the
  // bound below is a few hundred eps, not a large condition number times it.
  EXPECT_LT(r.condition, 2.0) << "white independent inputs are well conditioned";
  EXPECT_TRUE(mimo_advice(r).empty()) << r.condition;
  EXPECT_LE(relative_norm_diff(r.h, sys.h_true),
            4 * r.condition * kEps * static_cast<double>(N + 2 * C_in * K));
  // float data: the same sums in double of the float values.
  std::vector<std::vector<float>> xf, yf;
  for (const auto& x : sys.xs) xf.emplace_back(x.begin(), x.end());
  for (const auto& y : sys.ys) yf.emplace_back(y.begin(), y.end());
  const MimoSolution rf = fit_mimo<float>(spans(xf), spans(yf), taps);
  EXPECT_LE(relative_norm_diff(rf.h, sys.h_true),
            4 * rf.condition * std::numeric_limits<float>::epsilon() * K);
}

// Two inputs that are nearly the same signal: the condition number is large and the advice
// names correlation and ridge; exact copies are singular, refused with the ridge hint; a
// ridge makes both well posed.
TEST(FitMimo, CorrelatedInputsAreReportedAndCopiesRefused) {
  const std::size_t N = 500;
  const Taps taps = Taps::centred(2);
  const auto x0 = gaussian<double>(N, 1), wiggle = gaussian<double>(N, 2, 1e-5), y = gaussian<double>(N, 3);
  std::vector<double> x1 = x0;
  for (std::size_t t = 0; t < N; ++t) x1[t] += wiggle[t];
  const std::vector<std::vector<double>> close = {x0, x1}, same = {x0, x0}, ys = {y};
  const MimoSolution r = fit_mimo<double>(spans(close), spans(ys), taps);
  EXPECT_GT(r.condition, kIllConditioned);
  const std::string advice = mimo_advice(r);
  EXPECT_NE(advice.find("correlated"), std::string::npos) << advice;
  EXPECT_NE(advice.find("ridge"), std::string::npos) << advice;
  try {
    fit_mimo<double>(spans(same), spans(ys), taps);
    ADD_FAILURE() << "two equal inputs must be singular";
  } catch (const singular_system& e) {
    EXPECT_NE(std::string(e.what()).find("ridge"), std::string::npos) << e.what();
  }
  // ridge = 2 lambda_max / kIllConditioned: condition = (lambda_max + ridge) / (0 + ridge) ~ kIllConditioned
  // / 2.
  const MimoSolution steady =
      fit_mimo<double>(spans(same), spans(ys), taps, 2 * r.lambda_max / kIllConditioned);
  EXPECT_LE(steady.condition, kIllConditioned);
}

// Above kExactEigenTaps unknowns the condition number comes from power and inverse
// iteration; both Rayleigh quotients approach the extreme eigenvalues from inside the
// spectrum, so the estimate can only be low, and within a few percent here (the standard of
// test_fit.cpp's single-channel estimate). The answer still satisfies the normal equations.
TEST(FitMimo, ConditionEstimateAboveTheEigenSolverLimit) {
  const std::size_t N = 3000, C = 3;
  const Taps taps = Taps::causal(kExactEigenTaps / C + 10);
  std::vector<std::vector<double>> xs;
  for (std::size_t c = 0; c < C; ++c) xs.push_back(gaussian<double>(N, 60 + c));
  const std::vector<std::vector<double>> ys = {gaussian<double>(N, 70)};
  const MimoSolution r = fit_mimo<double>(spans(xs), spans(ys), taps);
  EXPECT_TRUE(r.condition_estimated);
  const auto G = block_gram_matrix<double>(spans(xs), taps);
  const auto n = static_cast<Eigen::Index>(C * taps.K());
  const Eigen::Map<const Eigen::MatrixXd> A(G.data(), n, n);
  const Eigen::VectorXd lambda =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(A, Eigen::EigenvaluesOnly).eigenvalues();
  const double cond = lambda[n - 1] / lambda[0];
  EXPECT_LE(r.condition, cond * (1 + 1e-9));
  EXPECT_GE(r.condition, 0.9 * cond) << "estimated " << r.condition << ", true " << cond;
  Eigen::VectorXd b(n);
  for (std::size_t c = 0; c < C; ++c) {
    const auto bc = grad_kernel<double>(xs[c], ys[0], taps);
    for (std::size_t j = 0; j < taps.K(); ++j) b[static_cast<Eigen::Index>(c * taps.K() + j)] = bc[j];
  }
  const Eigen::Map<const Eigen::VectorXd> h(r.h.data(), n);
  EXPECT_LE((A * h - b).norm(), 4 * cond * kEps * static_cast<double>(N + 2 * n) * b.norm());
}

FitOptions solver_options(Solver s, double ridge = 0) {
  FitOptions o;
  o.solver = s;
  o.ridge = ridge;
  return o;
}

// gd and nesterov stop at ||dF/dH|| <= grad_tol ||X^T Y||; F is quadratic with Hessian
// G + ridge I (eigenvalues >= lambda_min) on every output, so ||H - H*|| <= ||dF/dH|| / lambda_min,
// plus the exact solve's own error (the bound of RecoversKnownFiltersFromNoiselessData).
TEST(FitMimoIterative, GdAndNesterovReachTheExactSolution) {
  const Taps taps = Taps::from_lo(-2, 9);
  const std::size_t C_in = 3, C_out = 2, N = 2000, K = taps.K();
  const KnownSystem sys(C_in, C_out, N, taps);
  for (const double ridge : {0.0, 50.0}) {
    const MimoSolution exact = fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps, ridge);
    const double exact_error = 4 * exact.condition * kEps * static_cast<double>(N + 2 * C_in * K);
    for (const Solver s : {Solver::gd, Solver::nesterov}) {
      SCOPED_TRACE(std::string(to_string(s)) + " ridge " + std::to_string(ridge));
      const MimoSolution r = fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps, solver_options(s, ridge));
      EXPECT_EQ(r.solver, s);
      EXPECT_EQ(r.stop_reason, "gradient tolerance");
      ASSERT_EQ(r.h.size(), C_out * C_in * K);
      ASSERT_EQ(r.history.size(), r.iterations + 1);
      // The stopping rule held at the reported point: ||g|| <= grad_tol ||g(0)||, g(0) = -X^T Y.
      EXPECT_LE(r.grad_norm, r.history.back().grad_target);
      EXPECT_EQ(r.history.back().grad_target, 1e-10 * r.history.front().grad_norm);
      const double tol = r.grad_norm / exact.lambda_min / norm2(exact.h) + exact_error;
      EXPECT_LE(relative_norm_diff(r.h, exact.h), tol);
      // The loss: at h = 0 it is sum_o 1/2 ||y_o||^2; at the end that of the exact answer, to
      // the loss's own change within ||H - H*|| (F(H) - F(H*) <= ||g||^2 / (2 lambda_min)).
      double yy = 0;
      for (const auto& y : sys.ys) yy += 0.5 * norm2(y) * norm2(y);
      EXPECT_DOUBLE_EQ(r.history.front().loss, yy);
      EXPECT_LE(r.loss - exact.loss,
                r.grad_norm * r.grad_norm / (2 * exact.lambda_min) + exact_error * exact.loss + 1e-12 * yy);
      EXPECT_EQ(r.output_loss.size(), C_out);
      EXPECT_GT(r.lambda_max, 0.0);
      EXPECT_EQ(r.condition, 0.0) << "not computed by the iterative solvers";
      EXPECT_LT(exact.condition, 10.0) << "independent white inputs";
    }
  }
}

// Adam's fixed learning rate makes it hover at a distance set by lr; on a noise-free system
// the gradient vanishes at the answer, so it too reaches the gradient tolerance, and the same
// bound ||H - H*|| <= ||dF/dH|| / lambda_min holds.
TEST(FitMimoIterative, AdamReachesTheExactSolutionOfANoiseFreeSystem) {
  const Taps taps = Taps::centred(3);
  const std::size_t N = 1000;
  const KnownSystem sys(2, 2, N, taps);
  const MimoSolution exact = fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps);
  FitOptions o = solver_options(Solver::adam);
  o.lr = 0.05;
  const MimoSolution r = fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps, o);
  EXPECT_EQ(r.stop_reason, "gradient tolerance");
  EXPECT_EQ(r.lambda_max, 0.0) << "adam needs no step size";
  const double exact_error = 4 * exact.condition * kEps * static_cast<double>(N + 2 * 2 * taps.K());
  EXPECT_LE(relative_norm_diff(r.h, exact.h), r.grad_norm / exact.lambda_min / norm2(exact.h) + exact_error);
}

// The exact solver through the options is the exact fit itself.
TEST(FitMimoIterative, ExactThroughOptionsIsTheExactFit) {
  const Taps taps = Taps::centred(2);
  const KnownSystem sys(2, 1, 300, taps);
  const MimoSolution a = fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps, 0.5);
  const MimoSolution b =
      fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps, solver_options(Solver::exact, 0.5));
  EXPECT_TRUE(bitwise_equal(b.h, a.h));
  EXPECT_EQ(b.stop_reason, "solved");
}

// The kernels and every sum in the solvers have a fixed order: one thread or several, the
// iterates are the same bits, direct and FFT kernels both, float and double.
template <std::floating_point T>
void expect_iterates_thread_independent() {
  const Taps taps = Taps::causal(40);
  const std::size_t N = 30000;
  std::vector<std::vector<T>> xs, ys;
  for (std::size_t c = 0; c < 3; ++c) xs.push_back(gaussian<T>(N, 20 + c));
  for (std::size_t o = 0; o < 2; ++o) ys.push_back(gaussian<T>(N, 30 + o));
  const int saved = omp_get_max_threads();
  for (const Method m : {Method::direct, Method::fft})
    for (const Solver s : {Solver::gd, Solver::nesterov, Solver::adam}) {
      SCOPED_TRACE(std::string(to_string(s)) + " " + std::string(to_string(m)));
      FitOptions o = solver_options(s, 0.1);
      o.method = m;
      o.max_iter = 15;
      omp_set_num_threads(1);
      const MimoSolution one = fit_mimo<T>(spans(xs), spans(ys), taps, o);
      omp_set_num_threads(2);
      const MimoSolution two = fit_mimo<T>(spans(xs), spans(ys), taps, o);
      EXPECT_TRUE(bitwise_equal(two.h, one.h));
      EXPECT_EQ(two.loss, one.loss);
      EXPECT_EQ(two.iterations, one.iterations);
    }
  omp_set_num_threads(saved);
}

TEST(FitMimoIterative, SameBitsForAnyThreadCountDouble) { expect_iterates_thread_independent<double>(); }
TEST(FitMimoIterative, SameBitsForAnyThreadCountFloat) { expect_iterates_thread_independent<float>(); }

TEST(FitMimoIterative, BadOptionsAreRefusedWithOneClearError) {
  const Taps taps = Taps::centred(1);
  const KnownSystem sys(2, 2, 50, taps);
  const auto message = [&](const FitOptions& o, std::span<const double> h0 = {}) -> std::string {
    try {
      fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps, o, h0);
    } catch (const invalid_argument& e) {
      return e.what();
    }
    return "(no error)";
  };
  FitOptions batched = solver_options(Solver::gd);
  batched.batch = 1;
  EXPECT_TRUE(message(batched).starts_with("batch:")) << message(batched);
  FitOptions bad_lr = solver_options(Solver::adam);
  bad_lr.lr = 0;
  EXPECT_TRUE(message(bad_lr).starts_with("lr:")) << message(bad_lr);
  const std::vector<double> short_h0(5, 0.0);
  EXPECT_NE(message(solver_options(Solver::gd), short_h0).find("expected 12"), std::string::npos)
      << message(solver_options(Solver::gd), short_h0);
  // A warm start at the answer stops at once.
  const MimoSolution at =
      fit_mimo<double>(spans(sys.xs), spans(sys.ys), taps, solver_options(Solver::gd), sys.h_true);
  EXPECT_LE(at.iterations, 1u);
}

TEST(FitMimo, BadInputsAreRefusedWithOneClearError) {
  const Taps taps = Taps::centred(1);
  const std::vector<std::vector<double>> none, one = {gaussian<double>(10, 1)},
                                               shorter = {gaussian<double>(9, 2)};
  std::vector<double> nan_x = gaussian<double>(10, 3);
  nan_x[4] = std::nan("");
  const std::vector<std::vector<double>> with_nan = {nan_x};
  EXPECT_THROW(fit_mimo<double>(spans(none), spans(one), taps), invalid_argument);
  EXPECT_THROW(fit_mimo<double>(spans(one), spans(none), taps), invalid_argument);
  EXPECT_THROW(fit_mimo<double>(spans(one), spans(shorter), taps), invalid_argument);
  EXPECT_THROW(fit_mimo<double>(spans(with_nan), spans(one), taps), non_finite_input);
  EXPECT_THROW(fit_mimo<double>(spans(one), spans(one), taps, -1.0), invalid_argument);
  EXPECT_THROW(fit_mimo<double>(spans(one), spans(one), Taps::causal(100), 0.0, 1000), resource_limit);
}

}  // namespace
}  // namespace convgrad::test
