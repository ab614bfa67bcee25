// Hostile arguments get typed exceptions naming the argument and the bad value, never a crash
// or an allocation sized by garbage: sizes that disagree, empty signals, broken tap ranges,
// NaN and infinity (with the index of the first), unknown method names. Every method.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "convgrad/errors.hpp"
#include "convgrad/ops.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

// Runs f, expects an exception of type E whose message contains every one of `parts`, and
// returns it (default-constructed markers when none was thrown).
template <class E, class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "nothing thrown";
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& p : parts)
      EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

// Expects non_finite_input naming `what` with the index of the first bad value.
template <class F>
void expect_non_finite(F&& f, const std::string& what, std::size_t index) {
  try {
    f();
    ADD_FAILURE() << "nothing thrown";
  } catch (const non_finite_input& e) {
    EXPECT_EQ(e.index, index);
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(what, 0), 0u) << msg;  // the message starts with the argument's name
    EXPECT_NE(msg.find("index " + std::to_string(index)), std::string::npos) << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

template <class C>
class Validation : public ::testing::Test {};
TYPED_TEST_SUITE(Validation, AllConfigs, ConfigNames);

TYPED_TEST(Validation, Conv) {
  using T = typename TypeParam::type;
  const Method m = TypeParam::method;
  const Taps taps = Taps::centred(1);
  const std::vector<T> x(5, T(1)), h(3, T(1)), empty;
  std::vector<T> yhat(5);
  expect_error<invalid_argument>([&] { conv<T>(empty, h, taps, m); }, {"x is empty"});
  expect_error<invalid_argument>([&] { conv<T>(x, std::vector<T>(2, T(1)), taps, m); },
                                 {"h has 2 values, expected 3"});
  expect_error<invalid_argument>([&] { conv<T>(x, h, taps, std::span<T>(yhat).first(4), m); },
                                 {"yhat has 4 values, expected 5"});
  expect_error<invalid_argument>([&] { conv<T>(x, h, Taps{1, -1}, m); }, {"hi = -1", "lo = 1"});
  auto bad = x;
  bad[3] = std::numeric_limits<T>::quiet_NaN();
  bad[4] = std::numeric_limits<T>::infinity();
  expect_non_finite([&] { conv<T>(bad, h, taps, m); }, "x", 3);
  auto bad_h = h;
  bad_h[2] = -std::numeric_limits<T>::infinity();
  expect_non_finite([&] { conv<T>(x, bad_h, taps, m); }, "h", 2);
}

TYPED_TEST(Validation, GradKernel) {
  using T = typename TypeParam::type;
  const Method m = TypeParam::method;
  const Taps taps = Taps::centred(2);
  const std::vector<T> x(6, T(1)), r(6, T(1)), empty;
  std::vector<T> dh(5);
  expect_error<invalid_argument>([&] { grad_kernel<T>(empty, empty, taps, m); }, {"x is empty"});
  expect_error<invalid_argument>([&] { grad_kernel<T>(x, std::vector<T>(7, T(1)), taps, m); },
                                 {"r has 7 values, expected 6"});
  expect_error<invalid_argument>([&] { grad_kernel<T>(x, r, taps, std::span<T>(dh).first(4), m); },
                                 {"dh has 4 values, expected 5"});
  auto bad = r;
  bad[0] = std::numeric_limits<T>::quiet_NaN();
  expect_non_finite([&] { grad_kernel<T>(x, bad, taps, m); }, "r", 0);
  expect_non_finite([&] { grad_kernel<T>(bad, r, taps, m); }, "x", 0);
}

TYPED_TEST(Validation, GradInput) {
  using T = typename TypeParam::type;
  const Method m = TypeParam::method;
  const Taps taps = Taps::causal(2);
  const std::vector<T> h(2, T(1)), r(4, T(1)), empty;
  std::vector<T> dx(4);
  expect_error<invalid_argument>([&] { grad_input<T>(empty, h, taps, m); }, {"r is empty"});
  expect_error<invalid_argument>([&] { grad_input<T>(r, std::vector<T>(3, T(1)), taps, m); },
                                 {"h has 3 values, expected 2"});
  expect_error<invalid_argument>([&] { grad_input<T>(r, h, taps, std::span<T>(dx).first(3), m); },
                                 {"dx has 3 values, expected 4"});
  auto bad = r;
  bad[2] = std::numeric_limits<T>::infinity();
  expect_non_finite([&] { grad_input<T>(bad, h, taps, m); }, "r", 2);
  auto bad_h = h;
  bad_h[1] = std::numeric_limits<T>::quiet_NaN();
  expect_non_finite([&] { grad_input<T>(r, bad_h, taps, m); }, "h", 1);
}

TYPED_TEST(Validation, LossAndGrad) {
  using T = typename TypeParam::type;
  const Method m = TypeParam::method;
  const Taps taps = Taps::centred(1);
  const std::vector<T> x(5, T(1)), y(5, T(2)), h(3, T(1)), empty;
  std::vector<T> yhat(5), r(5), dh(3), dx(5);
  auto call = [&](std::span<T> a, std::span<T> b, std::span<T> c, std::span<T> d) {
    return loss_and_grad<T>(x, y, h, taps, a, b, c, d, m);
  };
  expect_error<invalid_argument>([&] { loss_and_grad<T>(empty, empty, h, taps, m); }, {"x is empty"});
  expect_error<invalid_argument>([&] { loss_and_grad<T>(x, std::vector<T>(4, T(0)), h, taps, m); },
                                 {"y has 4 values, expected 5"});
  expect_error<invalid_argument>([&] { loss_and_grad<T>(x, y, std::vector<T>(5, T(0)), taps, m); },
                                 {"h has 5 values, expected 3"});
  expect_error<invalid_argument>([&] { call(std::span<T>(yhat).first(4), r, dh, dx); },
                                 {"yhat has 4 values"});
  expect_error<invalid_argument>([&] { call(yhat, std::span<T>(r).first(4), dh, dx); }, {"r has 4 values"});
  expect_error<invalid_argument>([&] { call(yhat, r, std::span<T>(dh).first(2), dx); }, {"dh has 2 values"});
  expect_error<invalid_argument>([&] { call(yhat, r, dh, std::span<T>(dx).first(4)); },
                                 {"dx has 4 values", "or empty"});
  EXPECT_NO_THROW(call(yhat, r, dh, std::span<T>{}));
  auto bad = y;
  bad[4] = std::numeric_limits<T>::quiet_NaN();
  expect_non_finite([&] { loss_and_grad<T>(x, bad, h, taps, m); }, "y", 4);
  expect_non_finite([&] { loss_and_grad<T>(bad, y, h, taps, m); }, "x", 4);
  auto bad_h = h;
  bad_h[0] = -std::numeric_limits<T>::infinity();
  expect_non_finite([&] { loss_and_grad<T>(x, y, bad_h, taps, m, true); }, "h", 0);
}

// The training step finds non-finite x and y through its result (ops.cpp): a NaN or an
// infinity anywhere must still be refused, naming its index, whichever tap reaches it or
// none does, for a zero kernel too (0 * inf is NaN), with yhat and r kept or not. Sizes up
// to 300 reach the SIMD kernels' register-blocked groups; taps one-sided, longer than the
// signal, and out of reach entirely.
TYPED_TEST(Validation, LossAndGradFindsEveryNonFiniteSample) {
  using T = typename TypeParam::type;
  const Method m = TypeParam::method;
  const T bads[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                    -std::numeric_limits<T>::infinity()};
  for (const std::size_t N : {1, 2, 3, 5, 8, 13, 40, 300})
    for (const Taps taps : {Taps::centred(0), Taps::centred(2), Taps::range(-6, -2), Taps::range(2, 6),
                            Taps::centred(25), Taps::range(310, 312), Taps::range(-312, -310)})
      for (const bool zero_h : {false, true}) {
        const auto x = gaussian<T>(N, 31), y = gaussian<T>(N, 32);
        const auto h = zero_h ? std::vector<T>(taps.K(), T(0)) : gaussian<T>(taps.K(), 33);
        std::vector<T> dh(taps.K());
        std::vector<std::size_t> where;  // every sample of short signals; a comb and both ends of long
        for (std::size_t k = 0; k<N; k += N> 40 ? 7 : 1) where.push_back(k);
        where.push_back(N - 1);
        for (const std::size_t k : where)
          for (const T bad : bads) {
            SCOPED_TRACE("N=" + std::to_string(N) + " taps " + std::to_string(taps.lo) + ".." +
                         std::to_string(taps.hi) + " k=" + std::to_string(k) + " bad=" + std::to_string(bad) +
                         (zero_h ? " h=0" : ""));
            auto bx = x, by = y;
            bx[k] = bad;
            by[k] = bad;
            expect_non_finite([&] { loss_and_grad<T>(bx, y, h, taps, m); }, "x", k);
            expect_non_finite([&] { loss_and_dh<T>(bx, y, h, taps, dh, m); }, "x", k);
            expect_non_finite([&] { loss_and_grad<T>(x, by, h, taps, m); }, "y", k);
            expect_non_finite([&] { loss_and_dh<T>(x, by, h, taps, dh, m); }, "y", k);
          }
      }
}

// Finite inputs whose products overflow are not non-finite input: the step returns an
// non-finite loss (the caller decides; inf, or NaN where the FFT's sums meet inf - inf), as
// it did when inputs were scanned beforehand.
TYPED_TEST(Validation, LossAndGradOverflowIsNotNonFiniteInput) {
  using T = typename TypeParam::type;
  const T big = std::numeric_limits<T>::max() / 4;
  const std::vector<T> x(6, big), y(6, T(0)), h(3, T(8));
  std::vector<T> dh(3);
  double L = 0;
  EXPECT_NO_THROW(L = loss_and_dh<T>(x, y, h, Taps::centred(1), dh, TypeParam::method));
  EXPECT_FALSE(std::isfinite(L)) << L;
}

// With dx asked for too: the fused FFT step overflows to a NaN residual where the other
// methods overflow to inf; either way the loss reports it and dx is NaN, never an error about
// a residual the caller did not pass ("r has a non-finite value", fft only, before).
TYPED_TEST(Validation, LossAndGradOverflowWithDxIsTheLossForEveryMethod) {
  using T = typename TypeParam::type;
  const T big = std::numeric_limits<T>::max() / 4;
  std::vector<T> x(64);
  for (std::size_t n = 0; n < x.size(); ++n) x[n] = n % 2 ? big : -big;
  const std::vector<T> y(64, T(0)), h(3, T(8));
  Step<T> s;
  EXPECT_NO_THROW(s = loss_and_grad<T>(x, y, h, Taps::centred(1), TypeParam::method, true));
  EXPECT_FALSE(std::isfinite(s.loss)) << s.loss;
  ASSERT_EQ(s.dx.size(), x.size());
  for (const T v : s.dx) EXPECT_FALSE(std::isfinite(v));
}

// A broken tap range is refused before anything is sized by it (K() of hi < lo or of an
// absurd range would be a gigantic allocation).
TYPED_TEST(Validation, BrokenTapRangesBeforeAllocation) {
  using T = typename TypeParam::type;
  const Method m = TypeParam::method;
  const std::vector<T> x(4, T(1)), r(4, T(1)), h(3, T(1));
  for (const Taps taps :
       {Taps{5, 2}, Taps{0, kMaxTaps}, Taps{-(kMaxTapOffset + 1), 0},
        Taps{0, std::numeric_limits<std::int64_t>::max()},
        Taps{std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}}) {
    SCOPED_TRACE("lo=" + std::to_string(taps.lo) + " hi=" + std::to_string(taps.hi));
    expect_error<invalid_argument>([&] { conv<T>(x, h, taps, m); }, {"tap range"});
    expect_error<invalid_argument>([&] { grad_kernel<T>(x, r, taps, m); }, {"tap range"});
    expect_error<invalid_argument>([&] { grad_input<T>(r, h, taps, m); }, {"tap range"});
    expect_error<invalid_argument>([&] { loss_and_grad<T>(x, r, h, taps, m, true); }, {"tap range"});
  }
}

TEST(Validation, Residual) {
  const std::vector<double> a(3, 1.0), b(2, 1.0);
  std::vector<double> r(3);
  expect_error<invalid_argument>([&] { residual<double>(a, b, r); }, {"y has 2 values, expected 3"});
  expect_error<invalid_argument>([&] { residual<double>(a, a, std::span<double>(r).first(2)); },
                                 {"r has 2 values"});
}

TEST(Validation, NonFiniteIsAnInvalidArgument) {
  const std::vector<float> v = {1.0f, 2.0f, std::numeric_limits<float>::signaling_NaN()};
  try {
    require_finite<float>(v, "signal");
    ADD_FAILURE() << "nothing thrown";
  } catch (const invalid_argument& e) {  // catchable as its base, still carrying the index
    const auto* nf = dynamic_cast<const non_finite_input*>(&e);
    ASSERT_NE(nf, nullptr);
    EXPECT_EQ(nf->index, 2u);
  }
  EXPECT_NO_THROW(require_finite<double>(std::vector<double>{std::numeric_limits<double>::max(),
                                                             std::numeric_limits<double>::denorm_min(), -0.0},
                                         "ok"));
  static_assert(std::is_base_of_v<error, invalid_argument> && std::is_base_of_v<error, resource_limit>);
}

TEST(Validation, MethodNames) {
  for (const Method m : kAllMethods) EXPECT_EQ(parse_method(to_string(m)), m);
  EXPECT_EQ(parse_method("automatic"), Method::automatic);
  EXPECT_EQ(parse_method("auto"), Method::automatic);
  for (const char* bad : {"", "Direct", "fast", "fft ", "refer"})
    expect_error<invalid_argument>([&] { parse_method(bad); },
                                   {"method", std::string("'") + bad + "'", "reference"});
}

TEST(Validation, AutomaticResolvesToDirectOrFft) {
  for (const std::size_t n : {1, 2, 64, 1000, 100000, 10000000})
    for (const std::size_t k : {1, 3, 49, 255, 1023, 65537}) {
      const Method m = choose_method(n, k);
      EXPECT_TRUE(m == Method::direct || m == Method::fft) << "n=" << n << " k=" << k;
    }
  EXPECT_EQ(choose_method(1000000, 1), Method::direct);  // one tap: a scaled copy
}

}  // namespace
}  // namespace convgrad::test
