// Learning filters: the Gram matrix against the explicit X^T X, the exact solver against the
// known answers and an independent QR solve of the explicit least-squares problem, and every
// iterative solver against the exact answer.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "convgrad/errors.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/jacobian.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// The explicit N x K design matrix of the 'same' model, X[n][j] = x[n - m_j] (zero outside).
Eigen::MatrixXd design(const std::vector<double>& x, Taps taps) {
  const auto N = static_cast<std::int64_t>(x.size());
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(N, static_cast<Eigen::Index>(taps.K()));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::size_t j = 0; j < taps.K(); ++j) {
      const std::int64_t q = n - (taps.lo + static_cast<std::int64_t>(j));
      if (q >= 0 && q < N) X(n, static_cast<Eigen::Index>(j)) = x[q];
    }
  return X;
}

// The explicit ridge least-squares solution by Householder QR of [X; sqrt(ridge) I] h ~ [y; 0]:
// independent of the normal equations (it never forms X^T X).
std::vector<double> qr_solution(const std::vector<std::vector<double>>& xs,
                                const std::vector<std::vector<double>>& ys, Taps taps, double ridge) {
  const auto K = static_cast<Eigen::Index>(taps.K());
  Eigen::Index rows = K;
  for (const auto& x : xs) rows += static_cast<Eigen::Index>(x.size());
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(rows, K);
  Eigen::VectorXd rhs = Eigen::VectorXd::Zero(rows);
  Eigen::Index at = 0;
  for (std::size_t p = 0; p < xs.size(); ++p) {
    const auto N = static_cast<Eigen::Index>(xs[p].size());
    A.block(at, 0, N, K) = design(xs[p], taps);
    rhs.segment(at, N) = Eigen::Map<const Eigen::VectorXd>(ys[p].data(), N);
    at += N;
  }
  A.block(at, 0, K, K) = std::sqrt(ridge) * Eigen::MatrixXd::Identity(K, K);
  const Eigen::VectorXd h = A.colPivHouseholderQr().solve(rhs);
  return std::vector<double>(h.data(), h.data() + K);
}

template <std::floating_point T>
std::vector<Pair<T>> pairs_of(const std::vector<std::vector<T>>& xs, const std::vector<std::vector<T>>& ys) {
  std::vector<Pair<T>> d;
  for (std::size_t p = 0; p < xs.size(); ++p) d.push_back({xs[p], ys[p]});
  return d;
}

// ---- the Gram matrix --------------------------------------------------------------------

TEST(Gram, WorkedExampleDiagonalIsNotToeplitz) {
  const std::vector<double> x = {1, 2, 3, 4, 5};
  const auto G = gram_matrix<double>(x, Taps::centred(1));
  EXPECT_EQ(G[0], 54);
  EXPECT_EQ(G[4], 55);
  EXPECT_EQ(G[8], 30);
}

// Dyadic inputs make every product and every partial sum exact (|sum| stays far below 2^53
// grid units), and short kernels take the direct autocorrelation, so the O(1) edge
// corrections must reproduce the explicit X^T X bit for bit, on every tap range of the sweep.
TEST(Gram, EqualsExplicitGramExactlyOnDyadicInputs) {
  std::size_t checked = 0;
  for (const auto& c : range_sweep()) {
    if (choose_method(c.n, std::min(c.taps.K(), c.n)) == Method::fft) continue;
    const auto x = dyadic<double>(c.n, 11 + c.n);
    const auto G = gram_matrix<double>(x, c.taps);
    const Eigen::MatrixXd X = design(x, c.taps);
    const Eigen::MatrixXd want = X.transpose() * X;
    const auto K = c.taps.K();
    for (std::size_t i = 0; i < K; ++i)
      for (std::size_t j = 0; j < K; ++j)
        ASSERT_EQ(G[i * K + j], want(i, j)) << describe(c) << " at (" << i << ", " << j << ")";
    ++checked;
  }
  EXPECT_GT(checked, 500u);
}

// Gaussian inputs, long kernels (FFT autocorrelation): each entry is a sum of at most N
// products with |sum| <= ||x||^2 (Cauchy-Schwarz), the FFT adds eps (8 log2 L) ||x||^2, and
// each of up to K diagonal steps adds two rounded products and sums, so
//   |G - X^T X| <= eps (N + 8 log2 L + 4 K) ||x||^2.
TEST(Gram, EqualsExplicitGramWithinToleranceOnLongKernels) {
  for (const auto& c : std::vector<Case>{{997, Taps::centred(127)},
                                         {600, Taps::causal(301)},
                                         {300, Taps::from_lo(-500, 400)},
                                         {1000, Taps::centred(24)}}) {
    const auto x = gaussian<double>(c.n, 5 + c.n);
    const auto G = gram_matrix<double>(x, c.taps);
    const Eigen::MatrixXd X = design(x, c.taps);
    const Eigen::MatrixXd want = X.transpose() * X;
    const double L = 2.0 * c.n + c.taps.K();
    const double tol = kEps * (c.n + 8 * std::ceil(std::log2(L)) + 4.0 * c.taps.K()) * std::pow(norm2(x), 2);
    const auto K = c.taps.K();
    double worst = 0;
    for (std::size_t i = 0; i < K; ++i)
      for (std::size_t j = 0; j < K; ++j) worst = std::max(worst, std::abs(G[i * K + j] - want(i, j)));
    EXPECT_LE(worst, tol) << describe(c);
  }
}

// float data are widened to double before any sum (double data are used in place): the
// Gram matrix and X^T y of float data are those of the same values given as double.
TEST(Gram, FloatDataGiveTheSumsOfTheirValuesInDouble) {
  for (const auto& c : std::vector<Case>{{997, Taps::centred(127)}, {300, Taps::causal(20)}}) {
    const auto xf = gaussian<float>(c.n, 3), yf = gaussian<float>(c.n, 4);
    const std::vector<double> xd(xf.begin(), xf.end()), yd(yf.begin(), yf.end());
    EXPECT_EQ(gram_matrix<float>(xf, c.taps), gram_matrix<double>(xd, c.taps)) << describe(c);
    NormalEquations from_float(c.taps), from_double(c.taps);
    from_float.add<float>(xf, yf);
    from_double.add<double>(xd, yd);
    EXPECT_EQ(from_float.gram(), from_double.gram()) << describe(c);
    EXPECT_EQ(from_float.rhs(), from_double.rhs()) << describe(c);
    EXPECT_EQ(from_float.yy(), from_double.yy()) << describe(c);
  }
}

TEST(NormalEquations, AddAcrossPairsSumsGramsAndCorrelations) {
  const Taps taps = Taps::from_lo(-2, 6);
  const std::vector<std::vector<double>> xs = {dyadic<double>(40, 1), dyadic<double>(3, 2),
                                               dyadic<double>(17, 3)};
  const std::vector<std::vector<double>> ys = {dyadic<double>(40, 4), dyadic<double>(3, 5),
                                               dyadic<double>(17, 6)};
  NormalEquations ne(taps);
  Eigen::MatrixXd G = Eigen::MatrixXd::Zero(6, 6);
  Eigen::VectorXd b = Eigen::VectorXd::Zero(6);
  double yy = 0;
  for (std::size_t p = 0; p < xs.size(); ++p) {
    ne.add<double>(xs[p], ys[p]);
    const Eigen::MatrixXd X = design(xs[p], taps);
    const Eigen::Map<const Eigen::VectorXd> y(ys[p].data(), static_cast<Eigen::Index>(ys[p].size()));
    G += X.transpose() * X;
    b += X.transpose() * y;
    yy += y.squaredNorm();
  }
  EXPECT_EQ(ne.pairs(), 3u);
  for (Eigen::Index i = 0; i < 6; ++i) {
    EXPECT_EQ(ne.rhs()[i], b[i]);  // dyadic: exact
    for (Eigen::Index j = 0; j < 6; ++j) EXPECT_EQ(ne.gram()[i * 6 + j], G(i, j));
  }
  EXPECT_EQ(ne.yy(), yy);
}

// ---- the exact solver ---------------------------------------------------------------------

// A backward-stable solve of a system with condition number c, built from sums of N
// products, is accurate to about c eps (N + 2 K) relative (perturbation theory of linear
// systems: relative error <= cond * relative backward error); the factor 4 covers the
// constants of Cholesky and the Gram sums.
double exact_tolerance(const FitResult<double>& r, std::size_t N, std::size_t K) {
  return 4 * *r.condition * kEps * static_cast<double>(N + 2 * K);
}

nlohmann::json known_answers() {
  std::ifstream in(std::string(CONVGRAD_TEST_DATA) + "/known_answers.json");
  return nlohmann::json::parse(in);
}

TEST(Exact, KnownAnswers) {
  std::size_t checked = 0;
  const nlohmann::json answers = known_answers();
  for (const auto& c : answers["cases"]) {
    if (!c.contains("h_least_squares")) continue;
    const auto x = c["x"].get<std::vector<double>>(), y = c["y"].get<std::vector<double>>();
    const Taps taps = Taps::range(c["lo"].get<std::int64_t>(), c["hi"].get<std::int64_t>());
    const std::vector<Pair<double>> data = {{x, y}};
    auto check = [&](double ridge, const std::vector<double>& want) {
      FitOptions o;
      o.solver = Solver::exact;
      o.ridge = ridge;
      const auto r = fit<double>(data, taps, o);
      ASSERT_TRUE(r.condition.has_value());
      EXPECT_TRUE(within(r.h, want, exact_tolerance(r, x.size(), taps.K()) * norm2(want)))
          << c["name"] << " ridge " << ridge;
      // The float path: the same normal equations in double from float data (exact here).
      const std::vector<float> xf(x.begin(), x.end()), yf(y.begin(), y.end());
      const std::vector<Pair<float>> dataf = {{xf, yf}};
      const auto rf = fit<float>(dataf, taps, o);
      const double tol_f = std::numeric_limits<float>::epsilon() * norm2(want) +
                           exact_tolerance(r, x.size(), taps.K()) * norm2(want);
      EXPECT_TRUE(within(rf.h, want, tol_f)) << c["name"] << " float, ridge " << ridge;
      ++checked;
    };
    check(0.0, c["h_least_squares"].get<std::vector<double>>());
    if (c.contains("h_ridge"))
      check(c["ridge_lambda"].get<double>(), c["h_ridge"].get<std::vector<double>>());
  }
  EXPECT_EQ(checked, 4u);
}

// Seeded random problems, several pairs of different lengths, centred, causal and one-sided
// taps, with and without ridge, K > N included (only with ridge: without it the problem has
// no unique answer), against Householder QR of the explicit problem.
TEST(Exact, MatchesExplicitQrSolve) {
  struct Problem {
    std::vector<std::size_t> lengths;
    Taps taps;
    double ridge;
  };
  const std::vector<Problem> problems = {
      {{50}, Taps::centred(3), 0},         {{50, 31}, Taps::centred(3), 2.5},
      {{200, 7, 90}, Taps::causal(12), 0}, {{64}, Taps::from_lo(-9, 4), 0},
      {{5}, Taps::centred(6), 0.5},        {{9, 4}, Taps::causal(20), 1e-3},
      {{400}, Taps::centred(60), 0},       {{1000, 800}, Taps::causal(100), 10},
      {{3}, Taps::from_lo(1, 2), 0},
  };
  std::uint64_t seed = 100;
  for (const auto& pb : problems) {
    std::vector<std::vector<double>> xs, ys;
    std::size_t N = 0;
    for (const auto n : pb.lengths) {
      xs.push_back(gaussian<double>(n, ++seed));
      ys.push_back(gaussian<double>(n, ++seed));
      N += n;
    }
    const auto data = pairs_of(xs, ys);
    FitOptions o;
    o.solver = Solver::exact;
    o.ridge = pb.ridge;
    const auto r = fit<double>(data, pb.taps, o);
    const auto want = qr_solution(xs, ys, pb.taps, pb.ridge);
    EXPECT_LE(relative_norm_diff(r.h, want), exact_tolerance(r, N, pb.taps.K()))
        << "taps " << pb.taps.lo << ".." << pb.taps.hi << " ridge " << pb.ridge << " cond " << *r.condition;
    // At the optimum the gradient vanishes to rounding: |dF/dh| <= tolerance of the
    // grad_kernel sums (N products of x and r) plus ridge h.
    double gtol = 0;
    for (std::size_t p = 0; p < xs.size(); ++p)
      gtol += agreement_tolerance<double>(xs[p].size(), 2 * xs[p].size() + pb.taps.K(), norm2(xs[p]),
                                          std::sqrt(2 * r.pair_loss[p])) +
              kEps * (pb.taps.K() + 1) * norm1(r.h) * norm2(xs[p]) * norm2(xs[p]);
    EXPECT_LE(r.grad_norm,
              std::sqrt(static_cast<double>(pb.taps.K())) * gtol + pb.ridge * norm2(r.h) * kEps * 4);
  }
}

TEST(Exact, SingularSystemsAreRefusedWithAHintAtRidge) {
  const std::vector<double> zero(20, 0.0), y = gaussian<double>(20, 3);
  const std::vector<Pair<double>> zeros = {{zero, y}};
  FitOptions o;
  o.solver = Solver::exact;
  try {
    fit<double>(zeros, Taps::centred(2), o);
    ADD_FAILURE() << "x all zero must be singular";
  } catch (const singular_system& e) {
    EXPECT_NE(std::string(e.what()).find("ridge"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("zero"), std::string::npos) << e.what();
  }
  // More taps than samples: rank <= N < K.
  const auto x = gaussian<double>(6, 4), yy = gaussian<double>(6, 5);
  const std::vector<Pair<double>> short_data = {{x, yy}};
  EXPECT_THROW(fit<double>(short_data, Taps::centred(5), o), singular_system);
  // The same with a ridge penalty is well posed.
  o.ridge = 0.1;
  EXPECT_NO_THROW(fit<double>(short_data, Taps::centred(5), o));
  EXPECT_NO_THROW(fit<double>(zeros, Taps::centred(2), o));
  // Gradient descent on all-zero x with no ridge has nothing to learn either.
  FitOptions g;
  EXPECT_THROW(fit<double>(zeros, Taps::centred(2), g), singular_system);
}

// ---- iterative solvers ---------------------------------------------------------------------

// A well-conditioned system-identification problem: white inputs through a known filter plus
// noise, three pairs of different lengths.
template <std::floating_point T>
struct Problem {
  std::vector<std::vector<T>> xs, ys;
  std::vector<Pair<T>> data;
  Taps taps = Taps::centred(7);
  explicit Problem(double noise = 0.1, std::vector<std::size_t> lengths = {700, 500, 300}) {
    const auto h_true = gaussian<T>(taps.K(), 77);
    std::uint64_t seed = 1;
    for (const auto n : lengths) {
      xs.push_back(gaussian<T>(n, ++seed));
      auto y = conv<T>(xs.back(), h_true, taps);
      const auto e = gaussian<T>(n, ++seed, noise);
      for (std::size_t i = 0; i < n; ++i) y[i] += e[i];
      ys.push_back(y);
    }
    data = pairs_of(xs, ys);
  }
};

FitResult<double> solve(const Problem<double>& p, Solver s, double ridge = 0, std::size_t max_iter = 100000) {
  FitOptions o;
  o.solver = s;
  o.ridge = ridge;
  o.max_iter = max_iter;
  return fit<double>(p.data, p.taps, o);
}

TEST(Iterative, GdAndNesterovReachTheExactAnswer) {
  const Problem<double> p;
  for (const double ridge : {0.0, 30.0}) {
    const auto exact = solve(p, Solver::exact, ridge);
    for (const Solver s : {Solver::gd, Solver::nesterov}) {
      const auto r = solve(p, s, ridge);
      EXPECT_EQ(r.stop_reason, "gradient tolerance") << to_string(s);
      EXPECT_LE(relative_norm_diff(r.h, exact.h), 1e-8) << to_string(s) << " ridge " << ridge;
      EXPECT_LE(r.loss, exact.loss * (1 + 1e-12)) << to_string(s);
    }
  }
}

TEST(Iterative, NesterovNeedsFewerIterationsOnAnIllConditionedProblem) {
  // Smooth (low-pass) inputs make X^T X ill-conditioned: gd crawls, acceleration helps.
  Problem<double> p(0.1, {800});
  for (auto& x : p.xs)
    for (std::size_t n = x.size() - 1; n >= 3; --n) x[n] = (x[n] + x[n - 1] + x[n - 2] + x[n - 3]) / 4;
  p.data = pairs_of(p.xs, p.ys);
  const auto exact = solve(p, Solver::exact);
  const auto gd = solve(p, Solver::gd), nag = solve(p, Solver::nesterov);
  EXPECT_LE(relative_norm_diff(nag.h, exact.h), 1e-7);
  EXPECT_LT(nag.iterations, gd.iterations);
}

// gd never increases the loss: every accepted step satisfies F_new <= F_old + rounding.
// Stopped long before convergence, the loss is far above rounding, so here it must decrease
// strictly at every step.
TEST(Iterative, GdNeverIncreasesTheLoss) {
  Problem<double> p(0.1, {800});
  for (auto& x : p.xs)
    for (std::size_t n = x.size() - 1; n >= 3; --n) x[n] = (x[n] + x[n - 1] + x[n - 2] + x[n - 3]) / 4;
  p.data = pairs_of(p.xs, p.ys);
  const auto exact = solve(p, Solver::exact);
  const auto r = solve(p, Solver::gd, 0, 300);
  ASSERT_EQ(r.history.size(), 301u);
  EXPECT_EQ(r.stop_reason, "max iterations");
  for (std::size_t k = 1; k < r.history.size(); ++k) {
    EXPECT_LT(r.history[k].loss, r.history[k - 1].loss) << "iteration " << k;
    EXPECT_GE(r.history[k].loss, exact.loss * (1 - 1e-12)) << "below the minimum at iteration " << k;
  }
  // The power-iteration step is within a hair of 1/lambda_max (Eigen on the explicit Gram).
  NormalEquations ne(p.taps);
  ne.add<double>(p.xs[0], p.ys[0]);
  const Eigen::Map<const Eigen::MatrixXd> G(ne.gram().data(), 15, 15);
  const double lmax = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(G).eigenvalues().maxCoeff();
  EXPECT_LE(std::abs(largest_eigenvalue<double>(p.data, p.taps) - lmax), 1e-5 * lmax);
}

TEST(Iterative, AdamGetsClose) {
  const Problem<double> p;
  const auto exact = solve(p, Solver::exact);
  FitOptions o;
  o.solver = Solver::adam;
  o.max_iter = 5000;
  const auto r = fit<double>(p.data, p.taps, o);
  EXPECT_LE(relative_norm_diff(r.h, exact.h), 1e-3);
  EXPECT_LE(r.loss, exact.loss * (1 + 1e-4));
}

TEST(Iterative, FloatReachesTheExactAnswerToFloatAccuracy) {
  const Problem<float> p;
  const Problem<double> pd;
  FitOptions o;
  o.solver = Solver::exact;
  const auto exact = fit<double>(pd.data, pd.taps, o);
  for (const Solver s : {Solver::gd, Solver::nesterov}) {
    o.solver = s;
    o.max_iter = 2000;
    const auto r = fit<float>(p.data, p.taps, o);
    // float data are the double data rounded: h moves by about cond * eps_float relative.
    EXPECT_LE(relative_norm_diff(r.h, exact.h), 100 * std::numeric_limits<float>::epsilon()) << to_string(s);
  }
}

// Noise-free data share one optimum, so stochastic mini-batch steps converge to it too.
TEST(Iterative, MiniBatchesConvergeOnConsistentData) {
  const Problem<double> p(0.0, {400, 400, 400, 400});
  const auto exact = solve(p, Solver::exact);
  for (const Solver s : {Solver::gd, Solver::adam}) {
    FitOptions o;
    o.solver = s;
    o.batch = 1;
    o.max_iter = s == Solver::adam ? 4000 : 3000;
    o.lr = 1e-2;
    const auto r = fit<double>(p.data, p.taps, o);
    EXPECT_LE(relative_norm_diff(r.h, exact.h), s == Solver::adam ? 1e-3 : 1e-8) << to_string(s);
  }
}

TEST(FitOptionsDefaults, TheSolverIsExactAsOnTheCommandLineAndInPython) {
  EXPECT_EQ(FitOptions{}.solver, Solver::exact);
  const Problem<double> p;
  EXPECT_EQ(fit<double>(p.data, p.taps, FitOptions{}).stop_reason, "solved");
}

TEST(Iterative, StoppingRulesAndWarmStart) {
  const Problem<double> p;
  FitOptions o;
  o.solver = Solver::gd;  // the default is exact
  o.max_iter = 5;
  auto r = fit<double>(p.data, p.taps, o);
  EXPECT_EQ(r.iterations, 5u);
  EXPECT_EQ(r.stop_reason, "max iterations");
  EXPECT_EQ(r.history.size(), 6u);  // the start and five steps

  o.max_iter = 100000;
  std::size_t calls = 0;
  o.progress = [&](const Progress& pr) { return ++calls < 3 && pr.iteration < 100; };
  r = fit<double>(p.data, p.taps, o);
  EXPECT_EQ(r.stop_reason, "stopped by caller");
  EXPECT_EQ(calls, 3u);

  o.progress = {};
  o.loss_tol = 1e-3;
  r = fit<double>(p.data, p.taps, o);
  EXPECT_EQ(r.stop_reason, "loss change");
  ASSERT_GE(r.history.size(), 2u);
  const double a = r.history[r.history.size() - 2].loss, b = r.history.back().loss;
  EXPECT_LE(std::abs(a - b), 1e-3 * b);

  o.loss_tol = 0;
  o.time_limit = 1e-9;
  r = fit<double>(p.data, p.taps, o);
  EXPECT_EQ(r.stop_reason, "time limit");

  // Warm start from the exact answer: already within tolerance before the first step.
  o.time_limit = 0;
  const auto exact = solve(p, Solver::exact);
  r = fit<double>(p.data, p.taps, o, exact.h);
  EXPECT_EQ(r.iterations, 0u);
  EXPECT_EQ(r.stop_reason, "gradient tolerance");
}

TEST(Iterative, BadOptionsAreRefused) {
  const Problem<double> p;
  auto bad = [&](auto&& change) {
    FitOptions o;
    change(o);
    return fit<double>(p.data, p.taps, o);
  };
  EXPECT_THROW(bad([](FitOptions& o) { o.ridge = -1; }), invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) { o.ridge = std::nan(""); }), invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) { o.max_iter = 0; }), invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) { o.loss_tol = -1; }), invalid_argument);
  // grad_tol is a value or nothing (the dtype's default); a negative one is no longer "default".
  EXPECT_THROW(bad([](FitOptions& o) { o.grad_tol = -1; }), invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) { o.grad_tol = std::numeric_limits<double>::infinity(); }),
               invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) { o.time_limit = -1; }), invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) { o.batch = 4; }), invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) { o.batch = 0; }), invalid_argument);  // one rule for every caller
  EXPECT_THROW(bad([](FitOptions& o) {
                 o.solver = Solver::adam;
                 o.lr = 0;
               }),
               invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) {
                 o.solver = Solver::adam;
                 o.beta1 = 1;
               }),
               invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) {
                 o.solver = Solver::adam;
                 o.beta2 = -0.1;
               }),
               invalid_argument);
  EXPECT_THROW(bad([](FitOptions& o) {
                 o.solver = Solver::adam;
                 o.eps = 0;
               }),
               invalid_argument);
  const std::vector<double> h0(3, 0.0);
  EXPECT_THROW(fit<double>(p.data, p.taps, FitOptions{}, h0), invalid_argument);
  EXPECT_THROW(parse_solver("sgd"), invalid_argument);
  EXPECT_EQ(parse_solver("nesterov"), Solver::nesterov);

  const std::vector<double> x = {1, 2, 3}, y2 = {1, 2}, ynan = {1, std::nan(""), 3};
  EXPECT_THROW(fit<double>(std::vector<Pair<double>>{}, p.taps, FitOptions{}), invalid_argument);
  EXPECT_THROW(fit<double>(std::vector<Pair<double>>{{x, y2}}, p.taps, FitOptions{}), invalid_argument);
  try {
    fit<double>(std::vector<Pair<double>>{{x, x}, {x, ynan}}, p.taps, FitOptions{});
    ADD_FAILURE();
  } catch (const non_finite_input& e) {
    EXPECT_EQ(e.index, 1u);
    EXPECT_NE(std::string(e.what()).find("pair 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(NormalEquations(Taps::centred(20000)), resource_limit);
}

}  // namespace
}  // namespace convgrad::test

namespace convgrad::test {
namespace {

// Above kExactEigenTaps the condition number comes from power and inverse iteration; both
// Rayleigh quotients approach the extreme eigenvalues from inside the spectrum, so the
// estimate can only be low, and 300 iterations bring it within a few percent here.
TEST(Exact, ConditionNumberEstimateAboveTheEigenSolverLimit) {
  const Taps taps = Taps::causal(static_cast<std::int64_t>(kExactEigenTaps) + 52);
  const auto x = gaussian<double>(6000, 41), y = gaussian<double>(6000, 42);
  NormalEquations ne(taps);
  ne.add<double>(x, y);
  const ExactSolution s = ne.solve(0.0);
  EXPECT_TRUE(s.condition_estimated);
  const auto K = static_cast<Eigen::Index>(taps.K());
  const Eigen::Map<const Eigen::MatrixXd> G(ne.gram().data(), K, K);
  const Eigen::VectorXd ev =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(G, Eigen::EigenvaluesOnly).eigenvalues();
  const double cond = ev[K - 1] / ev[0];
  EXPECT_LE(s.condition, cond * (1 + 1e-9));
  EXPECT_GE(s.condition, 0.9 * cond) << "estimated " << s.condition << ", true " << cond;
  // And the solution still satisfies the normal equations to rounding.
  const Eigen::Map<const Eigen::VectorXd> h(s.h.data(), K), b(ne.rhs().data(), K);
  EXPECT_LE((G * h - b).norm(), 4 * cond * kEps * static_cast<double>(x.size() + 2 * taps.K()) * b.norm());
}

// ---- far more taps than samples -------------------------------------------------------------

// Pairs of N white samples each, for problems with far more taps than samples.
struct ShortPairs {
  std::vector<std::vector<double>> xs, ys;
  std::vector<Pair<double>> data;
  explicit ShortPairs(std::size_t N, std::size_t pairs = 1) {
    for (std::size_t p = 0; p < pairs; ++p) {
      xs.push_back(gaussian<double>(N, 31 + 2 * p));
      ys.push_back(gaussian<double>(N, 32 + 2 * p));
    }
    data = pairs_of(xs, ys);
  }
};

// Only taps |m| <= N - 1 reach a sample; every other tap has gradient ridge h[m], zero here
// (ridge 0), so it stays at its start value. Four pairs of 40 samples determine the 79 reached
// taps (160 equations), so gd and nesterov reach the exact answer over the reached range
// there, and every solver leaves the unreached taps exactly where they started.
TEST(Underdetermined, IterativeSolversGiveTheFullRangeAnswer) {
  const ShortPairs p(40, 4);
  FitOptions exact;
  exact.solver = Solver::exact;
  for (const Taps taps : {Taps::causal(300), Taps::centred(200), Taps::range(-45, 10)}) {
    const Taps sub = Taps::range(std::max<std::int64_t>(taps.lo, -39), std::min<std::int64_t>(taps.hi, 39));
    const auto at = static_cast<std::size_t>(sub.lo - taps.lo);
    const FitResult<double> solved = fit<double>(p.data, sub, exact);
    const std::vector<double>& want = solved.h;
    const double lambda_min = solved.lambda_max / *solved.condition;
    for (const Solver s : {Solver::gd, Solver::nesterov, Solver::adam}) {
      SCOPED_TRACE(std::string(to_string(s)) + " m = " + std::to_string(taps.lo) + ".." +
                   std::to_string(taps.hi));
      FitOptions o;
      o.solver = s;
      o.max_iter = s == Solver::adam ? 100 : 100000;
      const std::vector<double> h0 = gaussian<double>(taps.K(), 33, 0.1);
      const FitResult<double> r = fit<double>(p.data, taps, o, h0);
      ASSERT_EQ(r.h.size(), taps.K());
      if (s != Solver::adam) {
        EXPECT_EQ(r.stop_reason, "gradient tolerance");
        const std::vector<double> got(r.h.begin() + static_cast<std::ptrdiff_t>(at),
                                      r.h.begin() + static_cast<std::ptrdiff_t>(at + sub.K()));
        // F is quadratic with Hessian G (eigenvalues >= lambda_min) on the reached taps:
        // ||h - h*|| <= ||dF/dh|| / lambda_min, plus the exact solve's own error.
        const double tol = r.grad_norm / lambda_min / norm2(want) + exact_tolerance(solved, 160, sub.K());
        EXPECT_LE(relative_norm_diff(got, want), tol);
      }
      for (std::size_t j = 0; j < taps.K(); ++j)
        if (j < at || j >= at + sub.K()) ASSERT_EQ(r.h[j], h0[j]) << "unreached tap " << j;
    }
  }
}

// Far more taps than samples under the default solver (64 samples, 100000 taps): the work
// per iteration is that of the 64 reached taps, so the run takes the time of the 64-tap fit
// (0.2 s here; it took 77 s when every iteration swept all 100000 taps).
TEST(Underdetermined, GradientDescentTakesTheTimeOfTheReachedTaps) {
  const ShortPairs p(64);
  FitOptions gd;
  gd.solver = Solver::gd;
  const FitResult<double> r = fit<double>(p.data, Taps::causal(100000), gd);
  const FitResult<double> want = fit<double>(p.data, Taps::causal(64), gd);
  EXPECT_LT(r.seconds, 10 * want.seconds + 2.0);
  EXPECT_LE(relative_norm_diff(std::vector<double>(r.h.begin(), r.h.begin() + 64), want.h), 1e-8);
}

// With a ridge and a non-zero start, an unreached tap's gradient ridge h[m] is not zero: it
// decays towards zero, as in the full-range iteration.
TEST(Underdetermined, WithARidgeUnreachedTapsDecayFromANonZeroStart) {
  const ShortPairs p(40);
  const Taps taps = Taps::causal(100);
  FitOptions o;
  o.ridge = 1.0;
  o.max_iter = 200;
  const std::vector<double> h0(taps.K(), 1.0);
  const FitResult<double> r = fit<double>(p.data, taps, o, h0);
  for (std::size_t j = 40; j < taps.K(); ++j) {
    EXPECT_LT(std::abs(r.h[j]), 1.0) << j;
    EXPECT_NEAR(r.h[j], r.h[99], 1e-12) << j;  // every unreached tap decays alike
  }
}

// The exact solver with a ridge solves 100000 taps from 64 samples (its Gram matrix would be
// 80 GB): the unreached taps are zero, the reached ones the ridge solution over their range,
// which on a smaller case is the explicit QR solution over the full range.
TEST(Underdetermined, ExactWithARidgeSolvesFarMoreTapsThanSamples) {
  FitOptions o;
  o.solver = Solver::exact;
  o.ridge = 1e-3;
  {
    const ShortPairs p(64);
    const FitResult<double> r = fit<double>(p.data, Taps::causal(100000), o);
    const FitResult<double> want = fit<double>(p.data, Taps::causal(64), o);
    ASSERT_EQ(r.h.size(), 100000u);
    EXPECT_EQ(std::vector<double>(r.h.begin(), r.h.begin() + 64), want.h);
    EXPECT_TRUE(std::all_of(r.h.begin() + 64, r.h.end(), [](double v) { return v == 0; }));
    EXPECT_EQ(r.loss, want.loss);
    ASSERT_TRUE(r.condition.has_value());
    EXPECT_GE(*r.condition, *want.condition);
  }
  const ShortPairs p(30);
  const Taps taps = Taps::centred(50);
  const FitResult<double> r = fit<double>(p.data, taps, o);
  const std::vector<double> qr = qr_solution(p.xs, p.ys, taps, o.ridge);
  EXPECT_LE(relative_norm_diff(r.h, qr), exact_tolerance(r, 30, taps.K()));
}

// Up front, the warning: how many taps, how few samples, the taps no sample reaches, and the
// exact solver with a ridge as the tool; nothing when there are enough samples or the exact
// solver is chosen.
TEST(Underdetermined, TheWarningNamesTheProblemAndTheRightSolver) {
  const ShortPairs p(64);
  FitOptions o;
  o.solver = Solver::gd;
  const std::string w = underdetermined_warning<double>(p.data, Taps::causal(100000), o);
  for (const char* part : {"100000 taps", "64 samples", "underdetermined", "99936 taps reach no sample",
                           "(solver = exact, ridge = "})
    EXPECT_NE(w.find(part), std::string::npos) << part << " not in: " << w;
  EXPECT_EQ(underdetermined_warning<double>(p.data, Taps::causal(64), o), "");
  o.solver = Solver::exact;
  EXPECT_EQ(underdetermined_warning<double>(p.data, Taps::causal(65), o), "");  // it refuses, naming --ridge
  o.ridge = 1e-3;
  EXPECT_EQ(underdetermined_warning<double>(p.data, Taps::causal(100000), o), "");
}

// ---- one message for one cause --------------------------------------------------------------

// The message of `f`'s error of type E (empty and a failure if none).
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// Options for each of `solvers` with each method.
std::vector<FitOptions> every_method(std::initializer_list<Solver> solvers) {
  std::vector<FitOptions> out;
  for (const Solver s : solvers)
    for (const Method m :
         {Method::direct, Method::fft, Method::reference, Method::jacobian, Method::automatic}) {
      out.emplace_back();
      out.back().solver = s;
      out.back().method = m;
    }
  return out;
}

// float32 data whose products overflow: every method (the FFT's sums overflow first, as NaN)
// and every iterative solver give the same message, with the float64 advice.
TEST(OneMessage, Float32OverflowIsTheSameForEveryMethodAndSolver) {
  std::vector<float> x(64), y(64, 0.0f);
  for (std::size_t n = 0; n < x.size(); ++n) x[n] = n % 2 ? 3e37f : -3e37f;
  const std::vector<Pair<float>> data = {{x, y}};
  const std::vector<float> h0(3, 1e-30f);
  const std::string want =
      "fit: the data are too large for float32 (their products overflow its range); "
      "scale x and y down or use float64";
  for (const FitOptions& o : every_method({Solver::gd, Solver::nesterov, Solver::adam})) {
    SCOPED_TRACE(std::string(to_string(o.solver)) + " " + std::string(to_string(o.method)));
    EXPECT_EQ(message_of<invalid_argument>([&] { (void)fit<float>(data, Taps::centred(1), o, h0); }), want);
  }
}

// Subnormal data are not zero data: X^T X underflows to zero in float32 for every method, and
// the message says so (it said "every x is all zero"); all-zero data keep their own message.
TEST(OneMessage, SubnormalDataAreNotReportedAsZero) {
  std::vector<float> x(64), y(64);
  for (std::size_t n = 0; n < x.size(); ++n) x[n] = y[n] = 1e-41f * static_cast<float>(n % 3 + 1);
  const std::vector<float> zeros(64, 0.0f);
  for (const FitOptions& o : every_method({Solver::gd, Solver::nesterov})) {
    SCOPED_TRACE(std::string(to_string(o.solver)) + " " + std::string(to_string(o.method)));
    const std::vector<Pair<float>> tiny = {{x, y}}, zero = {{zeros, y}};
    const std::string w = message_of<singular_system>([&] { (void)fit<float>(tiny, Taps::centred(2), o); });
    EXPECT_NE(w.find("not all zero"), std::string::npos) << w;
    EXPECT_NE(w.find("underflow"), std::string::npos) << w;
    EXPECT_NE(w.find("float64"), std::string::npos) << w;
    const std::string z = message_of<singular_system>([&] { (void)fit<float>(zero, Taps::centred(2), o); });
    EXPECT_NE(z.find("every x is all zero"), std::string::npos) << z;
  }
}

}  // namespace
}  // namespace convgrad::test
