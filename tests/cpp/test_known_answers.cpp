// The independently computed answers in tests/data/known_answers.json (hand-derived small
// integer cases, SciPy/NumPy forward results, a PyTorch autograd case), for every method and
// both dtypes. Small-integer cases are exact in both dtypes for every method that sums the
// products in order; the FFT route and the non-integer case are compared within the derived
// tolerances.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "convgrad/ops.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

const nlohmann::json& answers() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(CONVGRAD_TEST_DATA) + "/known_answers.json");
    if (!in)
      throw std::runtime_error("cannot open " + std::string(CONVGRAD_TEST_DATA) + "/known_answers.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

template <class T>
std::vector<T> values(const nlohmann::json& a) {
  std::vector<T> v;
  for (const auto& e : a) v.push_back(static_cast<T>(e.get<double>()));
  return v;
}

// Whether every value is a small integer (so the whole computation is exact in float too).
bool small_integers(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double a) { return a == std::round(a) && std::abs(a) < 4096; });
}

template <class C>
class KnownAnswers : public ::testing::Test {};
TYPED_TEST_SUITE(KnownAnswers, AllConfigs, ConfigNames);

TYPED_TEST(KnownAnswers, EveryCaseEveryOutput) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  ASSERT_GE(answers().at("cases").size(), 6u);
  for (const auto& c : answers().at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const Taps taps = Taps::range(c.at("lo").get<std::int64_t>(), c.at("hi").get<std::int64_t>());
    const auto x = values<T>(c.at("x")), y = values<T>(c.at("y")), h = values<T>(c.at("h"));
    const auto yhat_want = values<double>(c.at("yhat")), dh_want = values<double>(c.at("dh")),
               dx_want = values<double>(c.at("dx"));
    const double loss_want = c.at("loss").get<double>();
    const std::size_t N = x.size();
    ASSERT_EQ(y.size(), N);
    ASSERT_EQ(h.size(), taps.K());

    const bool integers = small_integers(values<double>(c.at("x"))) &&
                          small_integers(values<double>(c.at("h"))) &&
                          small_integers(values<double>(c.at("y")));
    const bool exact = integers && sums_products<T>(method, N, taps.K());

    // Tolerances: the agreement tolerance of each output against the exact answer, plus, for
    // a case whose inputs are not representable in T, the effect of rounding the inputs
    // (each product h x off by at most 2 eps_T relative: 2 eps_T ||h|| ||x|| per output; the
    // residual then moves dh by ||x|| ||r_T - r||, and x's own rounding moves it by 2 eps_T ||x|| ||r||).
    const double eps = std::numeric_limits<T>::epsilon();
    const double in_round = integers ? 0.0 : 2 * eps * norm2(h) * norm2(x);
    std::vector<T> r_t(N);
    for (std::size_t n = 0; n < N; ++n)
      r_t[n] = static_cast<T>(yhat_want[n] - static_cast<double>(y[n]));  // r in T, for the norms only
    const auto tol = tolerances<T>(x, h, r_t);
    // ||r_T - r||_2: sqrt(N) times the per-sample yhat bound, plus y's own rounding (eps_T/2 ||y||).
    const double dr =
        std::sqrt(static_cast<double>(N)) * (tol.yhat + in_round) + (integers ? 0.0 : eps * norm2(y));
    const double tol_yhat = exact ? 0 : tol.yhat + in_round;
    const double tol_dh = exact ? 0 : tol.dh + norm2(x) * dr + 2 * eps * norm2(x) * norm2(r_t);
    const double tol_dx = exact ? 0 : tol.dx + norm2(h) * dr + 2 * eps * norm2(h) * norm2(r_t);
    const double tol_loss =
        exact ? 0 : (norm2(r_t) + dr) * dr + N * std::numeric_limits<double>::epsilon() * loss_want;

    const auto s = loss_and_grad<T>(x, y, h, taps, method, true);
    EXPECT_TRUE(within(s.yhat, yhat_want, tol_yhat)) << "yhat";
    if (c.contains("r")) {
      EXPECT_TRUE(within(s.r, values<double>(c.at("r")), tol_yhat)) << "r";
    }
    EXPECT_TRUE(scalar_within(s.loss, loss_want, tol_loss)) << "loss";
    EXPECT_TRUE(within(s.dh, dh_want, tol_dh)) << "dh";
    EXPECT_TRUE(within(s.dx, dx_want, tol_dx)) << "dx";

    // The separate calls, fed the exact residual.
    EXPECT_TRUE(within(conv<T>(x, h, taps, method), yhat_want, tol_yhat)) << "conv";
    if (integers) {
      const auto r_int = values<T>(c.at("r"));
      EXPECT_TRUE(within(grad_kernel<T>(x, r_int, taps, method), dh_want, tol_dh)) << "grad_kernel";
      EXPECT_TRUE(within(grad_input<T>(r_int, h, taps, method), dx_want, tol_dx)) << "grad_input";
    }
  }
}

// Forward-only answers from SciPy's and NumPy's own tests and docs: yhat = h * x, 'same' length.
TYPED_TEST(KnownAnswers, ForwardOnly) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  ASSERT_GE(answers().at("forward_only").size(), 4u);
  for (const auto& c : answers().at("forward_only")) {
    SCOPED_TRACE(c.at("source").get<std::string>());
    const auto x = values<T>(c.at("x")), h = values<T>(c.at("h"));
    const auto want = values<double>(c.at("yhat"));
    const Taps taps = Taps::from_lo(c.at("lo").get<std::int64_t>(), static_cast<std::int64_t>(h.size()));
    // Every value here is a multiple of 1/2 below 100: exact for the summing methods.
    const bool exact = sums_products<T>(method, x.size(), h.size());
    const double tol = exact ? 0 : tolerances<T>(x, h, x).yhat;
    EXPECT_TRUE(within(conv<T>(x, h, taps, method), want, tol));
  }
}

// The least-squares filters the file lists make the gradient vanish: dh(h_ls) = X^T (X h_ls - y) = 0.
// h_ls is rounded to T, and X^T X times that rounding error is at most K ||x||^2 * eps_T ||h_ls||
// (||X||_2 <= sqrt(K) ||x||_2); the gradient's own rounding is the dh agreement tolerance.
// With ridge weight lambda the gradient of L + lambda/2 ||h||^2 vanishes instead: dh + lambda h = 0.
TYPED_TEST(KnownAnswers, GradientVanishesAtTheLeastSquaresFilter) {
  using T = typename TypeParam::type;
  std::size_t checked = 0;
  for (const auto& c : answers().at("cases")) {
    for (const char* key : {"h_least_squares", "h_ridge"}) {
      if (!c.contains(key)) continue;
      SCOPED_TRACE(c.at("name").get<std::string>() + " " + key);
      const Taps taps = Taps::range(c.at("lo").get<std::int64_t>(), c.at("hi").get<std::int64_t>());
      const auto x = values<T>(c.at("x")), y = values<T>(c.at("y")), h = values<T>(c.at(key));
      const double lambda = std::string(key) == "h_ridge" ? c.at("ridge_lambda").get<double>() : 0.0;
      const auto s = loss_and_grad<T>(x, y, h, taps, TypeParam::method, false);
      std::vector<double> g(h.size());
      for (std::size_t j = 0; j < h.size(); ++j)
        g[j] = static_cast<double>(s.dh[j]) + lambda * static_cast<double>(h[j]);
      const double eps = std::numeric_limits<T>::epsilon();
      const double K = static_cast<double>(h.size());
      const double tol = step_tolerances<T>(x, h, s.r, s.loss).dh +
                         (K * norm2(x) * norm2(x) + lambda) * eps * norm2(h) + lambda * eps * norm2(h);
      EXPECT_TRUE(within(g, std::vector<double>(h.size(), 0.0), tol));
      ++checked;
    }
  }
  EXPECT_GE(checked, 4u);
}

// The flipped-input form (dh = r * xflip, grad_kernel_flipped) fed each integer case's exact
// residual gives its known dh exactly, in both dtypes.
template <class T>
std::size_t flipped_form_cases() {
  std::size_t checked = 0;
  for (const auto& c : answers().at("cases")) {
    if (!c.contains("r") || !small_integers(values<double>(c.at("x"))) ||
        !small_integers(values<double>(c.at("r"))))
      continue;
    SCOPED_TRACE(c.at("name").get<std::string>());
    const Taps taps = Taps::range(c.at("lo").get<std::int64_t>(), c.at("hi").get<std::int64_t>());
    const auto x = values<T>(c.at("x")), r = values<T>(c.at("r"));
    EXPECT_TRUE(within(grad_kernel_flipped<T>(x, r, taps), values<double>(c.at("dh")), 0.0));
    ++checked;
  }
  return checked;
}

TEST(KnownAnswersFlipped, IntegerCasesExactly) {
  EXPECT_GE(flipped_form_cases<float>(), 4u);
  EXPECT_GE(flipped_form_cases<double>(), 4u);
}

}  // namespace
}  // namespace convgrad::test
