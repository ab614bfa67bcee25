// Invariants every method must keep, for both dtypes: a delta kernel at m = 0 is the identity,
// a delta at m = s shifts by s with zero fill, the model is linear in h and in x (and the
// gradients linear in r), loss_and_grad equals the separate calls, dx is computed only when
// asked, and results do not depend on the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include <thread>

#include "convgrad/ops.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

template <class C>
class Invariants : public ::testing::Test {};
TYPED_TEST_SUITE(Invariants, AllConfigs, ConfigNames);

// Exact for the methods that sum products in order (delta kernels multiply by 0 and 1 only);
// the FFT route within the agreement tolerance.
template <std::floating_point T>
::testing::AssertionResult agrees(Method m, std::size_t n, std::size_t k, const std::vector<T>& got,
                                  const std::vector<T>& want, double tol) {
  return sums_products<T>(m, n, k) ? bitwise_equal(got, want) : within(got, want, tol);
}

// A unit impulse at tap s within `taps`.
template <std::floating_point T>
std::vector<T> delta(Taps taps, std::int64_t s) {
  std::vector<T> h(taps.K(), T{0});
  h[static_cast<std::size_t>(s - taps.lo)] = T{1};
  return h;
}

TYPED_TEST(Invariants, DeltaAtZeroIsTheIdentity) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  for (const std::size_t N : {1, 2, 5, 17, 64, 997}) {
    const auto Ns = static_cast<std::int64_t>(N);
    for (const Taps taps : {Taps::centred(0), Taps::centred(1), Taps::centred(Ns + 2), Taps::causal(4),
                            Taps::from_lo(-5, 6), Taps::from_lo(-Ns - 3, Ns + 7)}) {
      SCOPED_TRACE(describe({N, taps}));
      const auto x = gaussian<T>(N, 3 * N), r = gaussian<T>(N, 3 * N + 1);
      const auto h = delta<T>(taps, 0);
      const auto tol = tolerances<T>(x, h, r);
      // yhat[n] = sum_m delta[m] x[n-m] = x[n]
      EXPECT_TRUE(agrees(method, N, taps.K(), conv<T>(x, h, taps, method), x, tol.yhat)) << "yhat = x";
      // dx[k] = sum_m delta[m] r[k+m] = r[k]
      EXPECT_TRUE(agrees(method, N, taps.K(), grad_input<T>(r, h, taps, method), r, tol.dx)) << "dx = r";
    }
  }
}

TYPED_TEST(Invariants, ShiftedDeltaShiftsWithZeroFill) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  for (const std::size_t N : {1, 3, 8, 31}) {
    const auto Ns = static_cast<std::int64_t>(N);
    const auto x = gaussian<T>(N, 7 * N), r = gaussian<T>(N, 7 * N + 1);
    for (std::int64_t s = -Ns - 2; s <= Ns + 2; ++s) {
      for (const Taps taps : {Taps::range(s, s), Taps::range(s - 2, s + 1),
                              Taps::range(std::min<std::int64_t>(s, 0), std::max<std::int64_t>(s, 0))}) {
        SCOPED_TRACE(describe({N, taps}) + " shift s=" + std::to_string(s));
        const auto h = delta<T>(taps, s);
        std::vector<T> shifted_x(N, T{0}), shifted_r(N, T{0});
        for (std::int64_t n = 0; n < Ns; ++n) {
          if (n - s >= 0 && n - s < Ns)
            shifted_x[static_cast<std::size_t>(n)] = x[static_cast<std::size_t>(n - s)];
          if (n + s >= 0 && n + s < Ns)
            shifted_r[static_cast<std::size_t>(n)] = r[static_cast<std::size_t>(n + s)];
        }
        const auto tol = tolerances<T>(x, h, r);
        // yhat[n] = x[n - s], 0 where n - s falls outside the signal
        EXPECT_TRUE(agrees(method, N, taps.K(), conv<T>(x, h, taps, method), shifted_x, tol.yhat)) << "yhat";
        // dx[k] = r[k + s], 0 outside
        EXPECT_TRUE(agrees(method, N, taps.K(), grad_input<T>(r, h, taps, method), shifted_r, tol.dx))
            << "dx";
        // dh[m] = sum_n x[n-m] r[n]; at m = s that is <shifted x, r>
        const auto dh = grad_kernel<T>(x, r, taps, method);
        double dot = 0;
        for (std::size_t n = 0; n < N; ++n) dot += static_cast<double>(shifted_x[n]) * r[n];
        EXPECT_TRUE(scalar_within(dh[static_cast<std::size_t>(s - taps.lo)], dot, tol.dh))
            << "dh at the shift";
        if (::testing::Test::HasFailure()) return;
      }
    }
  }
}

// f(a u + b v) against a f(u) + b f(v) for a linear f. Both sides carry rounding: the left
// within tol(a u + b v), the right within |a| tol(u) + |b| tol(v) plus the rounding of the
// combination itself (eps_T per term).
template <std::floating_point T>
std::vector<T> combine(T a, const std::vector<T>& u, T b, const std::vector<T>& v) {
  std::vector<T> w(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) w[i] = a * u[i] + b * v[i];
  return w;
}

TYPED_TEST(Invariants, LinearInKernelInputAndResidual) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  const T a = T(0.75), b = T(-2.5);  // dyadic: a u + b v stays exact on the dyadic grid
  const double eps = std::numeric_limits<T>::epsilon();
  for (const Case c : {Case{1, Taps::centred(0)}, Case{6, Taps::centred(4)}, Case{40, Taps::causal(9)},
                       Case{64, Taps::from_lo(-70, 5)}, Case{513, Taps::centred(60)}}) {
    SCOPED_TRACE(describe(c));
    const std::size_t N = c.n, K = c.taps.K();
    const Taps taps = c.taps;
    const auto x1 = dyadic<T>(N, 1), x2 = dyadic<T>(N, 2), h1 = dyadic<T>(K, 3), h2 = dyadic<T>(K, 4),
               r1 = dyadic<T>(N, 5), r2 = dyadic<T>(N, 6);
    const auto xc = combine(a, x1, b, x2), hc = combine(a, h1, b, h2), rc = combine(a, r1, b, r2);
    // Exact in double on this grid (every sum stays far below 2^53 times the resolution); the
    // FFT route and float compare within the derived bound.
    const bool exact = std::is_same_v<T, double> && sums_products<T>(method, N, K);
    auto expect_linear = [&](const std::vector<T>& whole, const std::vector<T>& p1, const std::vector<T>& p2,
                             double tol_whole, double tol1, double tol2, const char* what) {
      const auto parts = combine(a, p1, b, p2);
      if (exact) {
        EXPECT_TRUE(bitwise_equal(whole, parts)) << what;
      } else {
        const double tol = tol_whole + std::abs(a) * tol1 + std::abs(b) * tol2 +
                           2 * eps * (std::abs(a) * max_abs(p1) + std::abs(b) * max_abs(p2));
        EXPECT_TRUE(within(whole, parts, tol)) << what;
      }
    };
    // yhat is linear in h ...
    expect_linear(conv<T>(x1, hc, taps, method), conv<T>(x1, h1, taps, method), conv<T>(x1, h2, taps, method),
                  tolerances<T>(x1, hc, r1).yhat, tolerances<T>(x1, h1, r1).yhat,
                  tolerances<T>(x1, h2, r1).yhat, "conv linear in h");
    // ... and in x
    expect_linear(conv<T>(xc, h1, taps, method), conv<T>(x1, h1, taps, method), conv<T>(x2, h1, taps, method),
                  tolerances<T>(xc, h1, r1).yhat, tolerances<T>(x1, h1, r1).yhat,
                  tolerances<T>(x2, h1, r1).yhat, "conv linear in x");
    // dh is linear in r and in x
    expect_linear(grad_kernel<T>(x1, rc, taps, method), grad_kernel<T>(x1, r1, taps, method),
                  grad_kernel<T>(x1, r2, taps, method), tolerances<T>(x1, h1, rc).dh,
                  tolerances<T>(x1, h1, r1).dh, tolerances<T>(x1, h1, r2).dh, "grad_kernel linear in r");
    expect_linear(grad_kernel<T>(xc, r1, taps, method), grad_kernel<T>(x1, r1, taps, method),
                  grad_kernel<T>(x2, r1, taps, method), tolerances<T>(xc, h1, r1).dh,
                  tolerances<T>(x1, h1, r1).dh, tolerances<T>(x2, h1, r1).dh, "grad_kernel linear in x");
    // dx is linear in r and in h
    expect_linear(grad_input<T>(rc, h1, taps, method), grad_input<T>(r1, h1, taps, method),
                  grad_input<T>(r2, h1, taps, method), tolerances<T>(x1, h1, rc).dx,
                  tolerances<T>(x1, h1, r1).dx, tolerances<T>(x1, h1, r2).dx, "grad_input linear in r");
    expect_linear(grad_input<T>(r1, hc, taps, method), grad_input<T>(r1, h1, taps, method),
                  grad_input<T>(r1, h2, taps, method), tolerances<T>(x1, hc, r1).dx,
                  tolerances<T>(x1, h1, r1).dx, tolerances<T>(x1, h2, r1).dx, "grad_input linear in h");
  }
}

// loss_and_grad computes yhat, r, loss, dh and dx together; it must equal conv, residual,
// loss, grad_kernel and grad_input called one after another with the same method.
TYPED_TEST(Invariants, LossAndGradEqualsTheSeparateCalls) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  for (const bool dy : {true, false}) {
    for (const Case c :
         {Case{1, Taps::centred(0)}, Case{2, Taps::centred(3)}, Case{33, Taps::centred(5)},
          Case{64, Taps::from_lo(-10, 4)}, Case{997, Taps::causal(100)}, Case{2053, Taps::centred(200)}}) {
      SCOPED_TRACE(describe(c) + (dy ? " dyadic" : " gaussian"));
      const std::size_t N = c.n, K = c.taps.K();
      const auto x = dy ? dyadic<T>(N, 21) : gaussian<T>(N, 21),
                 y = dy ? dyadic<T>(N, 22) : gaussian<T>(N, 22),
                 h = dy ? dyadic<T>(K, 23) : gaussian<T>(K, 23);
      const auto s = loss_and_grad<T>(x, y, h, c.taps, method, true);
      const auto yhat = conv<T>(x, h, c.taps, method);
      std::vector<T> r(N);
      residual<T>(yhat, y, r);
      const double L = loss<T>(r);
      const auto dh = grad_kernel<T>(x, r, c.taps, method), dx = grad_input<T>(r, h, c.taps, method);
      // On the dyadic grid the summing methods are exact (as the sweep shows), so equal bitwise
      // in double; otherwise the two routes may round differently within the step tolerances.
      if (dy && std::is_same_v<T, double> && sums_products<T>(method, N, K)) {
        EXPECT_TRUE(bitwise_equal(s.yhat, yhat));
        EXPECT_TRUE(bitwise_equal(s.r, r));
        EXPECT_TRUE(bitwise_equal(s.dh, dh));
        EXPECT_TRUE(bitwise_equal(s.dx, dx));
        EXPECT_EQ(s.loss, L);
      } else {
        const auto tol = step_tolerances<T>(x, h, r, L);
        EXPECT_TRUE(within(s.yhat, yhat, tol.yhat));
        EXPECT_TRUE(within(s.r, r, tol.yhat));
        EXPECT_TRUE(within(s.dh, dh, tol.dh));
        EXPECT_TRUE(within(s.dx, dx, tol.dx));
        EXPECT_TRUE(scalar_within(s.loss, L, tol.loss));
      }
      // r = yhat - y exactly as returned (one rounding of the subtraction, both sides the same).
      for (std::size_t n = 0; n < N; ++n) ASSERT_EQ(s.r[n], s.yhat[n] - y[n]) << "n=" << n;
      // loss = 1/2 sum r^2, accumulated in double.
      double half_sum = 0;
      for (const T v : s.r) half_sum += static_cast<double>(v) * v;
      EXPECT_TRUE(scalar_within(s.loss, 0.5 * half_sum, N * std::numeric_limits<double>::epsilon() * s.loss));
    }
  }
}

TYPED_TEST(Invariants, InputGradientOnlyWhenAsked) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  const std::size_t N = 20;
  const Taps taps = Taps::centred(3);
  const auto x = gaussian<T>(N, 31), y = gaussian<T>(N, 32), h = gaussian<T>(taps.K(), 33);
  const auto without = loss_and_grad<T>(x, y, h, taps, method, false);
  EXPECT_TRUE(without.dx.empty());
  EXPECT_EQ(without.dh.size(), taps.K());
  const auto with = loss_and_grad<T>(x, y, h, taps, method, true);
  EXPECT_EQ(with.dx.size(), N);
  EXPECT_TRUE(bitwise_equal(without.dh, with.dh)) << "asking for dx must not change dh";
  EXPECT_EQ(without.loss, with.loss);
  // The primitive with an empty dx span computes everything else.
  std::vector<T> yhat(N), r(N), dh(taps.K());
  const double L = loss_and_grad<T>(x, y, h, taps, yhat, r, dh, std::span<T>{}, method);
  EXPECT_EQ(L, without.loss);
  EXPECT_TRUE(bitwise_equal(dh, without.dh));
}

// A zero kernel predicts nothing: yhat = 0, r = -y, loss = 1/2 ||y||^2, dx = 0.
TYPED_TEST(Invariants, ZeroKernel) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  for (const Case c : {Case{1, Taps::centred(2)}, Case{50, Taps::causal(8)}, Case{300, Taps::centred(60)}}) {
    SCOPED_TRACE(describe(c));
    const auto x = gaussian<T>(c.n, 41), y = gaussian<T>(c.n, 42);
    const std::vector<T> h(c.taps.K(), T{0});
    const auto s = loss_and_grad<T>(x, y, h, c.taps, method, true);
    std::vector<T> minus_y(y.size());
    for (std::size_t n = 0; n < y.size(); ++n) minus_y[n] = -y[n];
    EXPECT_TRUE(within(s.yhat, std::vector<T>(c.n, T{0}), 0.0));
    EXPECT_TRUE(within(s.r, minus_y, 0.0));
    EXPECT_TRUE(within(s.dx, std::vector<T>(c.n, T{0}), 0.0));
    double half = 0;
    for (const T v : y) half += 0.5 * static_cast<double>(v) * v;
    EXPECT_TRUE(scalar_within(s.loss, half, c.n * std::numeric_limits<double>::epsilon() * half));
  }
}

// DESIGN.md: results identical whatever the thread count. Long enough that the parallel
// methods split the work (reference and jacobian are single-threaded loops).
template <class C>
class ThreadCount : public ::testing::Test {};
using ParallelConfigs = ::testing::Types<Config<Method::direct, float>, Config<Method::fft, float>,
                                         Config<Method::automatic, float>, Config<Method::direct, double>,
                                         Config<Method::fft, double>, Config<Method::automatic, double>>;
TYPED_TEST_SUITE(ThreadCount, ParallelConfigs, ConfigNames);

TYPED_TEST(ThreadCount, SameBitsWhateverTheThreadCount) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  const std::size_t N = kSanitized ? 70000 : 300000;
  for (const Taps taps : {Taps::centred(7), Taps::causal(200)}) {
    SCOPED_TRACE(describe({N, taps}));
    const auto x = gaussian<T>(N, 51), y = gaussian<T>(N, 52), h = gaussian<T>(taps.K(), 53);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto one = loss_and_grad<T>(x, y, h, taps, method, true);
    omp_set_num_threads(4);
    const auto four = loss_and_grad<T>(x, y, h, taps, method, true);
    omp_set_num_threads(saved);
    EXPECT_TRUE(bitwise_equal(one.yhat, four.yhat));
    EXPECT_TRUE(bitwise_equal(one.dh, four.dh));
    EXPECT_TRUE(bitwise_equal(one.dx, four.dx));
    EXPECT_EQ(one.loss, four.loss);
  }
}

// The library may be called from several threads at once (the Python module releases the
// GIL): concurrent calls on different lengths, each planning its own transforms, give the
// bits a lone call gives.
TYPED_TEST(Invariants, ConcurrentCallsGiveTheSameBits) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  const std::vector<Case> cases = {{257, Taps::centred(9)},
                                   {1000, Taps::causal(70)},
                                   {3001, Taps::centred(100)},
                                   {77, Taps::from_lo(-90, 40)}};
  std::vector<Step<T>> alone(cases.size()), together(cases.size());
  auto run = [&](std::size_t i, std::vector<Step<T>>& out) {
    const Case& c = cases[i];
    const auto x = gaussian<T>(c.n, 100 + i), y = gaussian<T>(c.n, 200 + i),
               h = gaussian<T>(c.taps.K(), 300 + i);
    out[i] = loss_and_grad<T>(x, y, h, c.taps, method, true);
  };
  {  // together first, so any planning and caching happens concurrently
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < cases.size(); ++i) threads.emplace_back([&, i] { run(i, together); });
  }
  for (std::size_t i = 0; i < cases.size(); ++i) run(i, alone);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(describe(cases[i]));
    EXPECT_TRUE(bitwise_equal(together[i].yhat, alone[i].yhat));
    EXPECT_TRUE(bitwise_equal(together[i].dh, alone[i].dh));
    EXPECT_TRUE(bitwise_equal(together[i].dx, alone[i].dx));
    EXPECT_EQ(together[i].loss, alone[i].loss);
  }
}

}  // namespace
}  // namespace convgrad::test
