// Showing that the ways agree: central finite differences against every method's dh and dx,
// check_gradients' report, and that the agreement tolerance is tight enough to catch real
// mistakes (a wrong sign, an off-by-one tap, float arithmetic posing as double).
#include <gtest/gtest.h>

#include <cmath>

#include "convgrad/check.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/ops.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

std::vector<Case> fd_cases() {
  return {{1, Taps::centred(0)},  {1, Taps::centred(3)},       {4, Taps::centred(6)},
          {9, Taps::causal(4)},   {16, Taps::from_lo(-20, 3)}, {16, Taps::from_lo(3, 6)},
          {33, Taps::centred(5)}, {64, Taps::from_lo(-5, 2)},  {200, Taps::centred(12)}};
}

template <class C>
class FiniteDifferences : public ::testing::Test {};
TYPED_TEST_SUITE(FiniteDifferences, AllConfigs, ConfigNames);

// Central differences of the loss (in double) against each method's dh and dx. The bound
// (fd_tolerances, test_util.hpp) adds the method's rounding in T, the effect of T's rounded
// residual, and finite_difference_tolerance.
TYPED_TEST(FiniteDifferences, AgreeWithEveryMethod) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  for (const Case& c : fd_cases()) {
    SCOPED_TRACE(describe(c));
    const std::size_t N = c.n, K = c.taps.K();
    const auto x = gaussian<T>(N, 61), y = gaussian<T>(N, 62), h = gaussian<T>(K, 63, 0.5);
    const auto s = loss_and_grad<T>(x, y, h, c.taps, method, true);
    const auto tol = fd_tolerances<T>(x, y, h, c.taps, s.r);
    const auto fd_dh = finite_difference_grad_kernel<T>(x, y, h, c.taps);
    const auto fd_dx = finite_difference_grad_input<T>(x, y, h, c.taps);
    ASSERT_EQ(fd_dh.size(), K);
    ASSERT_EQ(fd_dx.size(), N);
    EXPECT_TRUE(within(s.dh, fd_dh, tol.dh)) << "dh";
    EXPECT_TRUE(within(s.dx, fd_dx, tol.dx)) << "dx";
  }
}

// The difference quotient of the worked example is the exact gradient, to rounding.
TEST(FiniteDifferences, WorkedExample) {
  const std::vector<double> x = {1, 2, 3, 4, 5}, h = {1, 2, 3}, y = {0, 1, 0, -1, 2};
  const Taps taps = Taps::centred(1);
  const double scale = loss_scale(x, y, h, taps), step = std::cbrt(std::numeric_limits<double>::epsilon());
  const double tol = finite_difference_tolerance(5, 3, scale, step);
  EXPECT_LT(tol, 1e-6 * 262);  // the bound is tight enough to mean something here
  EXPECT_TRUE(
      within(finite_difference_grad_kernel<double>(x, y, h, taps), std::vector<double>{214, 262, 190}, tol));
  EXPECT_TRUE(within(finite_difference_grad_input<double>(x, y, h, taps),
                     std::vector<double>{35, 70, 110, 122, 63}, tol));
}

// A gradient with a classic mistake is far outside the finite-difference bound.
TEST(FiniteDifferences, CatchWrongGradients) {
  const std::size_t N = 40;
  const Taps taps = Taps::centred(3);
  const auto x = gaussian<double>(N, 71), y = gaussian<double>(N, 72), h = gaussian<double>(taps.K(), 73);
  const auto s = loss_and_grad<double>(x, y, h, taps, Method::reference, true);
  const auto tol = fd_tolerances<double>(x, y, h, taps, s.r);
  const auto fd = finite_difference_grad_kernel<double>(x, y, h, taps);
  ASSERT_TRUE(within(s.dh, fd, tol.dh));
  std::vector<double> wrong_sign(s.dh), off_by_one(taps.K());
  for (double& v : wrong_sign) v = -v;  // r = y - yhat instead of yhat - y
  const auto shifted =
      grad_kernel<double>(x, s.r, Taps::from_lo(taps.lo + 1, static_cast<std::int64_t>(taps.K())));
  EXPECT_FALSE(within(wrong_sign, fd, tol.dh));
  EXPECT_FALSE(within(shifted, fd, tol.dh));
}

// agreement_tolerance is the documented formula, no more: eps_T (terms + 8 ceil(log2 length)) ||a|| ||b||.
TEST(Tolerance, IsTheDocumentedFormula) {
  EXPECT_EQ(agreement_tolerance<double>(10, 100, 2.0, 3.0),
            std::numeric_limits<double>::epsilon() * (10 + 8 * 7) * 6.0);
  EXPECT_EQ(agreement_tolerance<float>(10, 100, 2.0, 3.0),
            static_cast<double>(std::numeric_limits<float>::epsilon()) * (10 + 8 * 7) * 6.0);
  EXPECT_EQ(agreement_tolerance<double>(1, 1, 1.0, 1.0), std::numeric_limits<double>::epsilon() * (1 + 8));
  EXPECT_EQ(agreement_tolerance<double>(5, 64, 0.0, 7.0), 0.0);  // zero input, exact zero output
}

// The tolerance is meaningful: on Gaussian cases it stays far below the gradient's size, and
// each of these wrong answers exceeds it: the reference perturbed in one entry by 300 units of
// eps_T ||x|| ||r||, the gradient computed in float for a double check, the gradient of the
// wrong sign convention, and the gradient for the tap range shifted by one.
template <class T>
class ToleranceT : public ::testing::Test {};
using Dtypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ToleranceT, Dtypes);

TYPED_TEST(ToleranceT, CatchesRealMistakes) {
  using T = TypeParam;
  const double eps = std::numeric_limits<T>::epsilon();
  for (const Case c : {Case{8, Taps::centred(1)}, Case{16, Taps::causal(5)}, Case{64, Taps::centred(7)},
                       Case{64, Taps::from_lo(-40, 9)}}) {
    SCOPED_TRACE(describe(c));
    const std::size_t N = c.n, K = c.taps.K();
    const auto x = gaussian<T>(N, 81), y = gaussian<T>(N, 82), h = gaussian<T>(K, 83);
    const auto s = loss_and_grad<T>(x, y, h, c.taps, Method::reference, true);
    const auto tol = tolerances<T>(x, h, s.r);
    // Relative to the Cauchy-Schwarz scale the tolerance is (N + 8 log2 L) units, below 300 here.
    EXPECT_LT(tol.dh / (eps * norm2(x) * norm2(s.r)), 300.0);
    EXPECT_LT(tol.dh, 1e-3 * max_abs(s.dh)) << "tolerance is not small against dh";

    std::vector<T> bumped = s.dh;
    bumped[K / 2] += static_cast<T>(300 * eps * norm2(x) * norm2(s.r));
    EXPECT_FALSE(within(bumped, s.dh, tol.dh)) << "a 300-unit error in one entry";

    std::vector<T> negated = s.dh;
    for (T& v : negated) v = -v;
    EXPECT_FALSE(within(negated, s.dh, tol.dh)) << "residual sign";

    const Taps shifted = Taps::from_lo(c.taps.lo + 1, static_cast<std::int64_t>(K));
    EXPECT_FALSE(within(grad_kernel<T>(x, s.r, shifted, Method::reference), s.dh, tol.dh))
        << "taps off by one";
    EXPECT_FALSE(within(grad_input<T>(s.r, h, shifted, Method::reference), s.dx, tol.dx))
        << "taps off by one (dx)";

    if constexpr (std::is_same_v<T, double>) {
      // float arithmetic cannot pass a double check
      std::vector<float> xf(x.begin(), x.end()), rf(s.r.begin(), s.r.end());
      const auto dh_float = grad_kernel<float>(xf, rf, c.taps, Method::reference);
      EXPECT_FALSE(within(dh_float, s.dh, tol.dh)) << "dh computed in float";
    }
  }
}

// ---------------------------------------------------------------------------------------
// check_gradients

template <std::floating_point T>
void expect_consistent_report(const CheckReport& rep, bool with_fd) {
  // direct, fft and jacobian each report yhat, dh and dx; finite differences dh and dx.
  std::size_t compared = 0;
  for (const auto& row : rep.rows) {
    SCOPED_TRACE(row.method + " " + row.quantity + " " + row.note);
    EXPECT_TRUE(row.ok) << "diff " << row.max_abs_diff << " tol " << row.tolerance;
    if (row.skipped) continue;
    ++compared;
    EXPECT_EQ(row.ok, row.max_abs_diff <= row.tolerance);
    EXPECT_GE(row.tolerance, 0.0);
    EXPECT_TRUE(std::isfinite(row.tolerance));
  }
  for (const char* m : {"direct", "fft", "jacobian"})
    for (const char* q : {"yhat", "dh", "dx"})
      EXPECT_EQ(std::count_if(rep.rows.begin(), rep.rows.end(),
                              [&](const CheckRow& r) { return r.method == m && r.quantity == q; }),
                1)
          << m << " " << q;
  EXPECT_EQ(std::count_if(rep.rows.begin(), rep.rows.end(),
                          [&](const CheckRow& r) { return r.method == "finite-difference" && !r.skipped; }),
            with_fd ? 2 : 0);
  EXPECT_EQ(rep.rows.size(), 11u);
  EXPECT_GE(compared, with_fd ? 5u : 3u);
  EXPECT_TRUE(rep.ok());
}

template <class T>
class CheckGradients : public ::testing::Test {};
TYPED_TEST_SUITE(CheckGradients, Dtypes);

TYPED_TEST(CheckGradients, OkOnRandomCases) {
  using T = TypeParam;
  for (const Case& c : fd_cases()) {
    SCOPED_TRACE(describe(c));
    const auto x = gaussian<T>(c.n, 91), y = gaussian<T>(c.n, 92), h = gaussian<T>(c.taps.K(), 93);
    const auto rep = check_gradients<T>(x, y, h, c.taps);
    EXPECT_EQ(rep.n, c.n);
    EXPECT_EQ(rep.k, c.taps.K());
    EXPECT_EQ(rep.taps, c.taps);
    EXPECT_EQ(rep.dtype, (std::is_same_v<T, float> ? "float32" : "float64"));
    const auto ref = loss_and_grad<T>(x, y, h, c.taps, Method::reference, false);
    EXPECT_EQ(rep.loss, ref.loss);
    expect_consistent_report<T>(rep, true);
  }
}

// Near the optimum the residual is rounding noise: y is the model's own float prediction.
// The finite differences (in double) then see the exact residual of the rounded data while
// the reference in T sees its own rounded one; the check must still call that agreement.
TYPED_TEST(CheckGradients, OkAtTheOptimum) {
  using T = TypeParam;
  for (const Case c : {Case{16, Taps::centred(2)}, Case{64, Taps::causal(9)}, Case{200, Taps::centred(12)}}) {
    SCOPED_TRACE(describe(c));
    const auto x = gaussian<T>(c.n, 94), h = gaussian<T>(c.taps.K(), 95);
    const auto y = conv<T>(x, h, c.taps, Method::reference);
    expect_consistent_report<T>(check_gradients<T>(x, y, h, c.taps), true);
  }
}

// Large but finite data near the range limits of T (x up to 1e160 in double, where ||x||^2 and
// the loss bound overflow, and up to a sixteenth of the float32 maximum): every output is exact
// or within its bound, so every row agrees, and every tolerance is finite. A zero kernel and
// y = 0 make every output exactly zero; y = 1 makes dh = -sum x nonzero and large.
TYPED_TEST(CheckGradients, FiniteTolerancesNearTheRangeLimits) {
  using T = TypeParam;
  const double big = std::is_same_v<T, float> ? std::numeric_limits<float>::max() / 16 : 1e160;
  for (const double y_value : {0.0, 1.0}) {
    for (const double scale : {big, big / 1e3, big * 1e-30}) {
      SCOPED_TRACE("x = " + std::to_string(scale) + ", y = " + std::to_string(y_value));
      const Case c{8, Taps::centred(1)};
      std::vector<T> x(c.n), y(c.n, static_cast<T>(y_value)), h(c.taps.K(), T{0});
      for (std::size_t n = 0; n < c.n; ++n) x[n] = static_cast<T>(scale * (n % 2 ? -1.0 : 0.5));
      expect_consistent_report<T>(check_gradients<T>(x, y, h, c.taps), true);
    }
  }
}

// The tolerance is the documented formula where that is finite, and saturates at the largest
// double, never inf or NaN, where the product of the norms is beyond the double range.
TEST(Tolerance, FiniteForAllFiniteNorms) {
  const double max = std::numeric_limits<double>::max();
  EXPECT_EQ(agreement_tolerance<double>(10, 100, 1e200, 1e200), max);
  EXPECT_EQ(agreement_tolerance<double>(10, 100, max, 0.0), 0.0);
  EXPECT_EQ(agreement_tolerance<double>(10, 100, 0.0, max), 0.0);
  EXPECT_EQ(agreement_tolerance<double>(10, 100, 1e150, 1e150),
            std::numeric_limits<double>::epsilon() * (10 + 8 * 7) * 1e150 * 1e150);
}

// Above its budget the Jacobian method's rows are skipped, each saying why; the table keeps
// its yhat, dh and dx rows. Between the two sizes (J_h fits, J_x does not) only dx is skipped.
TEST(CheckGradients, JacobianAboveItsBudgetIsSkippedNotFailed) {
  const auto x = gaussian<double>(300, 1), y = gaussian<double>(300, 2), h = gaussian<double>(11, 3);
  for (const std::size_t budget : {std::size_t{1024}, std::size_t{300 * 11 * 8}}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    const auto rep = check_gradients<double>(x, y, h, Taps::centred(5), budget);
    expect_consistent_report<double>(rep, true);
    std::size_t skipped = 0;
    for (const auto& row : rep.rows)
      if (row.method == "jacobian") {
        EXPECT_EQ(row.skipped, budget == 1024 || row.quantity == "dx") << row.quantity;
        if (row.skipped) {
          EXPECT_NE(row.note.find("300 x"), std::string::npos) << row.note;
        }
        skipped += row.skipped;
      }
    EXPECT_EQ(skipped, budget == 1024 ? 3u : 1u);
  }
}

TEST(CheckGradients, FiniteDifferencesOnlyWhenAskedAndAffordable) {
  const auto x = gaussian<double>(50, 4), y = gaussian<double>(50, 5), h = gaussian<double>(5, 6);
  expect_consistent_report<double>(
      check_gradients<double>(x, y, h, Taps::centred(2), kDefaultJacobianBudget, false), false);
  // 2 (N + K) loss evaluations of N K each: skipped above the work limit, with a note.
  const std::size_t N = kSanitized ? 20000 : 60000;
  const auto bx = gaussian<double>(N, 7), by = gaussian<double>(N, 8), bh = gaussian<double>(201, 9);
  const auto rep = check_gradients<double>(bx, by, bh, Taps::centred(100), kDefaultJacobianBudget, true);
  EXPECT_TRUE(rep.ok());
  for (const auto& row : rep.rows)
    if (row.method == "finite-difference") {
      EXPECT_TRUE(row.skipped);
      EXPECT_NE(row.note.find("skipped"), std::string::npos);
    }
}

// The report is not ok as soon as one row is not ok; skipped rows never fail it.
TEST(CheckGradients, ReportFailsOnAnyFailingRow) {
  CheckReport rep;
  EXPECT_TRUE(rep.ok());
  rep.rows.push_back({"direct", "dh", 1e-18, 1e-15, true, false, ""});
  rep.rows.push_back({"jacobian", "dx", 0, 0, true, true, "over budget"});
  EXPECT_TRUE(rep.ok());
  rep.rows.push_back({"fft", "dx", 2e-15, 1e-15, false, false, ""});
  EXPECT_FALSE(rep.ok());
}

// Finite inputs whose products overflow: every method's outputs are inf, their differences
// NaN. The report used to read "all agree" (std::max drops NaN); now the rows fail.
TEST(CheckGradients, OverflowedOutputsDoNotAgree) {
  const std::vector<double> x = {1e200, 2e200, -1e200, 3e200, 1e200}, h = {1, 2, 3};
  const CheckReport rep = check_gradients<double>(x, x, h, Taps::centred(1));
  EXPECT_FALSE(rep.ok());
  bool nan_row = false;
  for (const CheckRow& row : rep.rows) nan_row = nan_row || (!row.skipped && std::isnan(row.max_abs_diff));
  EXPECT_TRUE(nan_row);
}

// check_gradients validates like the operations it calls.
TEST(CheckGradients, RejectsInvalidInput) {
  const std::vector<double> x = {1, 2, 3}, y = {1, 2}, h = {1, 2, 3};
  EXPECT_THROW(check_gradients<double>(x, y, h, Taps::centred(1)), invalid_argument);
  const std::vector<double> y3 = {1, std::numeric_limits<double>::quiet_NaN(), 3};
  EXPECT_THROW(check_gradients<double>(x, y3, h, Taps::centred(1)), non_finite_input);
  EXPECT_THROW(check_gradients<double>(x, x, h, Taps::centred(2)), invalid_argument);
}

}  // namespace
}  // namespace convgrad::test
