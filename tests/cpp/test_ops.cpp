// One test body over method x dtype x size: every method's conv, grad_kernel, grad_input and
// loss_and_grad against the reference loops.
//
// Sizes: every N in 1..64 with the centred M = 0..N+2; general tap ranges (causal, entirely
// negative or positive, even K, reaching beyond the signal or missing it); long and prime N.
// Dyadic inputs: reference, direct and jacobian agree bit for bit (fft within tolerance).
// Gaussian inputs: every method within the documented agreement tolerance.
#include <gtest/gtest.h>

#include <limits>

#include "convgrad/errors.hpp"
#include "convgrad/jacobian.hpp"
#include "convgrad/ops.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

template <class C>
class Sweep : public ::testing::Test {};
TYPED_TEST_SUITE(Sweep, AllConfigs, ConfigNames);

enum class Inputs { dyadic, gaussian };

// The loss as Method::reference sums it: 1/2 sum r^2 in double, in index order.
template <std::floating_point T>
double literal_loss(const std::vector<T>& r) {
  double sum = 0;
  for (const T v : r) sum += static_cast<double>(v) * static_cast<double>(v);
  return 0.5 * sum;
}

// A sentinel for caller storage: every primitive must overwrite every element it owns.
template <std::floating_point T>
std::vector<T> garbage(std::size_t n) {
  return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

// The largest partial sum each output can reach, for exact_sums: (|h| * |x|)[n], and
// sum_n |x[n-m]| |r[n]|, sum_m |h[m]| |r[k+m]| (computed in double by the reference loops).
struct AbsSums {
  double yhat, r, dh, dx;
};

template <std::floating_point T>
AbsSums abs_sums(const std::vector<T>& x, const std::vector<T>& y, const std::vector<T>& h,
                 const std::vector<T>& r, Taps taps) {
  const auto ax = abs_of(x), ay = abs_of(y), ah = abs_of(h), ar = abs_of(r);
  const auto yabs = conv<double>(ax, ah, taps, Method::reference);
  double rmax = 0;
  for (std::size_t n = 0; n < x.size(); ++n) rmax = std::max(rmax, yabs[n] + ay[n]);
  return {max_abs(yabs), rmax, max_abs(grad_kernel<double>(ax, ar, taps, Method::reference)),
          max_abs(grad_input<double>(ar, ah, taps, Method::reference))};
}

// Counts how many comparisons were bitwise, so a sweep cannot quietly fall back to tolerances.
struct Tally {
  std::size_t cases = 0, exact = 0;
};

// Runs `method` on one case and compares every output with the reference loops.
template <std::floating_point T>
void check_case(Method method, const Case& c, Inputs inputs, std::uint64_t seed, Tally& tally) {
  SCOPED_TRACE(describe(c) + (inputs == Inputs::dyadic ? " dyadic" : " gaussian") + " seed " +
               std::to_string(seed));
  const std::size_t N = c.n, K = c.taps.K();
  const Taps taps = c.taps;
  const bool dy = inputs == Inputs::dyadic;
  const auto x = dy ? dyadic<T>(N, seed) : gaussian<T>(N, seed);
  const auto y = dy ? dyadic<T>(N, seed + 1) : gaussian<T>(N, seed + 1);
  const auto h = dy ? dyadic<T>(K, seed + 2) : gaussian<T>(K, seed + 2);

  // The reference, and one shared residual so each gradient sees identical inputs.
  const auto yhat_ref = conv<T>(x, h, taps, Method::reference);
  std::vector<T> r(N);
  residual<T>(yhat_ref, y, r);
  const auto dh_ref = grad_kernel<T>(x, r, taps, Method::reference);
  const auto dx_ref = grad_input<T>(r, h, taps, Method::reference);
  // loss_and_grad by the reference is these same loops (test_core_invariants checks that);
  // reusing them keeps the long cases' cost at four reference passes.
  const Step<T> step_ref{yhat_ref, r, dh_ref, dx_ref, loss<T>(r)};

  // Dyadic sums are exact when every partial sum fits T's significand.
  const double q = dy ? grid_resolution<T>() : 0;
  const auto bound = dy ? abs_sums(x, y, h, r, taps) : AbsSums{};
  const bool exact = dy && sums_products<T>(method, N, K) && exact_sums<T>(bound.yhat, q * q) &&
                     exact_sums<T>(bound.r, q * q) && exact_sums<T>(bound.dh, q * q * q) &&
                     exact_sums<T>(bound.dx, q * q * q);
  ++tally.cases;
  tally.exact += exact;
  const auto tol = tolerances<T>(x, h, r);
  const auto step_tol = step_tolerances<T>(x, h, r, step_ref.loss);

  auto expect_same = [&](const std::vector<T>& got, const std::vector<T>& want, double t, const char* what) {
    if (exact)
      EXPECT_TRUE(bitwise_equal(got, want)) << what;
    else
      EXPECT_TRUE(within(got, want, t)) << what;
  };

  // The reference itself is exact on dyadic inputs: check it against the sums in double too.
  if (dy && exact_sums<T>(bound.yhat, q * q) && exact_sums<double>(bound.yhat, q * q)) {
    const auto yhat_d = conv<double>(widen(x), widen(h), taps, Method::reference);
    EXPECT_TRUE(within(yhat_ref, yhat_d, 0.0)) << "reference yhat in T vs in double";
  }

  const bool fwd = runs_forward<T>(method, N, K), inp = runs_input_grad<T>(method, N, K);
  if (fwd) {
    auto yhat = garbage<T>(N);
    conv<T>(x, h, taps, yhat, method);
    expect_same(yhat, yhat_ref, tol.yhat, "yhat");
    auto dh = garbage<T>(K);
    grad_kernel<T>(x, r, taps, dh, method);
    expect_same(dh, dh_ref, tol.dh, "dh");
  } else {
    EXPECT_THROW(conv<T>(x, h, taps, method), resource_limit);
    EXPECT_THROW(grad_kernel<T>(x, r, taps, method), resource_limit);
  }
  if (inp) {
    auto dx = garbage<T>(N);
    grad_input<T>(r, h, taps, dx, method);
    expect_same(dx, dx_ref, tol.dx, "dx");
  } else {
    EXPECT_THROW(grad_input<T>(r, h, taps, method), resource_limit);
  }

  if (fwd && inp) {
    auto yhat = garbage<T>(N), rr = garbage<T>(N), dh = garbage<T>(K), dx = garbage<T>(N);
    const double L = loss_and_grad<T>(x, y, h, taps, yhat, rr, dh, dx, method);
    if (exact) {
      EXPECT_TRUE(bitwise_equal(yhat, step_ref.yhat)) << "loss_and_grad yhat";
      EXPECT_TRUE(bitwise_equal(rr, step_ref.r)) << "loss_and_grad r";
      EXPECT_TRUE(bitwise_equal(dh, step_ref.dh)) << "loss_and_grad dh";
      EXPECT_TRUE(bitwise_equal(dx, step_ref.dx)) << "loss_and_grad dx";
      // The reference sums the loss in index order, the fast paths per block: equal exactly
      // when the sum of squares is, else each is the same correctly rounded terms in its order.
      EXPECT_EQ(L, method == Method::reference ? literal_loss(r) : step_ref.loss) << "loss_and_grad loss";
    } else {
      EXPECT_TRUE(within(yhat, step_ref.yhat, step_tol.yhat)) << "loss_and_grad yhat";
      EXPECT_TRUE(within(rr, step_ref.r, step_tol.yhat)) << "loss_and_grad r";
      EXPECT_TRUE(within(dh, step_ref.dh, step_tol.dh)) << "loss_and_grad dh";
      EXPECT_TRUE(within(dx, step_ref.dx, step_tol.dx)) << "loss_and_grad dx";
      EXPECT_TRUE(scalar_within(L, step_ref.loss, step_tol.loss)) << "loss_and_grad loss";
    }
  } else if (fwd) {  // the Jacobian method can still do dh when J_x alone is too large
    const auto s = loss_and_grad<T>(x, y, h, taps, method, false);
    EXPECT_TRUE(within(s.dh, step_ref.dh, exact ? 0.0 : step_tol.dh)) << "loss_and_grad dh";
    EXPECT_THROW(loss_and_grad<T>(x, y, h, taps, method, true), resource_limit);
  }
}

template <class C>
void sweep(const std::vector<Case>& cases, Inputs inputs, Tally& tally) {
  using T = typename C::type;
  std::uint64_t seed = 1;
  for (const Case& c : cases) {
    check_case<T>(C::method, c, inputs, seed += 3, tally);
    if (::testing::Test::HasFailure()) return;  // one failing case explains itself; stop there
  }
}

// On the dyadic grid every case of the short sweeps has exact sums (DyadicGrid), so every
// non-FFT comparison must be bitwise, in float as in double.
template <class C>
void expect_all_exact(const Tally& t) {
  if (resolved<typename C::type>(C::method, 1, 1) == Method::fft) return;
  if (C::method == Method::automatic) return;  // exact exactly where it resolves to direct
  EXPECT_EQ(t.exact, t.cases) << "cases compared bitwise";
}

TYPED_TEST(Sweep, DyadicCentredEveryShortLength) {
  Tally t;
  sweep<TypeParam>(centred_sweep(), Inputs::dyadic, t);
  expect_all_exact<TypeParam>(t);
}

TYPED_TEST(Sweep, DyadicGeneralTapRanges) {
  Tally t;
  sweep<TypeParam>(range_sweep(), Inputs::dyadic, t);
  expect_all_exact<TypeParam>(t);
}

TYPED_TEST(Sweep, DyadicLongAndPrimeLengths) {
  Tally t;
  sweep<TypeParam>(large_cases(), Inputs::dyadic, t);
  // double's grid keeps even these sums exact; float's significand cannot hold dh at this length.
  if (std::is_same_v<typename TypeParam::type, double>) expect_all_exact<TypeParam>(t);
}

TYPED_TEST(Sweep, GaussianCentredEveryShortLength) {
  Tally t;
  sweep<TypeParam>(centred_sweep(), Inputs::gaussian, t);
}

TYPED_TEST(Sweep, GaussianGeneralTapRanges) {
  Tally t;
  sweep<TypeParam>(range_sweep(), Inputs::gaussian, t);
}

TYPED_TEST(Sweep, GaussianLongAndPrimeLengths) {
  Tally t;
  sweep<TypeParam>(large_cases(), Inputs::gaussian, t);
}

// Inputs with very different scales: the tolerance scales with the norms, so a signal of
// magnitude 1e6 and a kernel of magnitude 1e-6 are no harder than unit ones.
TYPED_TEST(Sweep, GaussianBadlyScaled) {
  using T = typename TypeParam::type;
  for (const Case c :
       {Case{50, Taps::centred(7)}, Case{300, Taps::causal(64)}, Case{997, Taps::centred(40)}}) {
    SCOPED_TRACE(describe(c));
    const std::size_t N = c.n, K = c.taps.K();
    const auto x = gaussian<T>(N, 11, 1e6), y = gaussian<T>(N, 12, 1e-3), h = gaussian<T>(K, 13, 1e-6);
    const auto step_ref = loss_and_grad<T>(x, y, h, c.taps, Method::reference, true);
    const auto tol = step_tolerances<T>(x, h, step_ref.r, step_ref.loss);
    const auto s = loss_and_grad<T>(x, y, h, c.taps, TypeParam::method, true);
    EXPECT_TRUE(within(s.yhat, step_ref.yhat, tol.yhat));
    EXPECT_TRUE(within(s.dh, step_ref.dh, tol.dh));
    EXPECT_TRUE(within(s.dx, step_ref.dx, tol.dx));
    EXPECT_TRUE(scalar_within(s.loss, step_ref.loss, tol.loss));
  }
}

// Method::reference runs only the literal loops, the loss included: its loss is 1/2 the sum
// of r^2 in index order, bit for bit (the fast paths sum per block and per SIMD lane, which
// rounds differently on a long signal of non-dyadic values).
TEST(Reference, TheLossIsTheLiteralSumInIndexOrder) {
  for (const std::size_t N : {1, 7, 4099, 100003}) {
    SCOPED_TRACE(N);
    const auto x = gaussian<double>(N, 21), y = gaussian<double>(N, 22), h = gaussian<double>(5, 23);
    const auto s = loss_and_grad<double>(x, y, h, Taps::centred(2), Method::reference, false);
    EXPECT_EQ(s.loss, literal_loss(s.r));
  }
}

// The flipped-input form dh = r * xflip sums the same products in the same order as the
// reference grad_kernel: the same bits, for every tap range (taps reaching past the signal too).
template <class T>
void flipped_form_equals_the_reference(std::size_t N, Taps taps) {
  const auto x = gaussian<T>(N, 31), r = gaussian<T>(N, 32);
  EXPECT_TRUE(
      bitwise_equal(grad_kernel_flipped<T>(x, r, taps), grad_kernel<T>(x, r, taps, Method::reference)));
}

TEST(Reference, TheFlippedFormGivesTheReferenceBits) {
  for (const Case c : range_sweep()) {
    SCOPED_TRACE(describe(c));
    flipped_form_equals_the_reference<float>(c.n, c.taps);
    flipped_form_equals_the_reference<double>(c.n, c.taps);
  }
}

TEST(Reference, TheFlippedFormValidatesLikeGradKernel) {
  const std::vector<double> x(5, 1.0), r(4, 1.0),
      bad{1.0, std::numeric_limits<double>::infinity(), 1.0, 1.0, 1.0};
  EXPECT_THROW((void)grad_kernel_flipped<double>(x, r, Taps::centred(1)), invalid_argument);
  EXPECT_THROW((void)grad_kernel_flipped<double>(bad, x, Taps::centred(1)), non_finite_input);
  EXPECT_THROW((void)grad_kernel_flipped<double>(x, x, Taps{2, 1}), invalid_argument);
  EXPECT_THROW((void)grad_kernel_flipped<double>({}, {}, Taps::centred(1)), invalid_argument);
}

}  // namespace
}  // namespace convgrad::test
