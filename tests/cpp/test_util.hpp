// Shared helpers for the C++ tests: seeded inputs, the method x dtype grid, norms, the
// comparisons (bitwise and within a derived tolerance) and the tolerances themselves.
//
// Two kinds of input:
//  - dyadic: small integers over a power of two. Every product and every partial sum of the
//    methods is then an exact binary fraction as long as it fits in T's significand, so
//    reference, direct and jacobian must agree bit for bit: any mismatch is a bug, not
//    rounding. `exact_sums` decides from the data whether that precondition holds.
//  - gaussian: the general case, compared within convgrad::agreement_tolerance (check.hpp).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "convgrad/check.hpp"
#include "convgrad/jacobian.hpp"
#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"

namespace convgrad::test {

// True when built with AddressSanitizer: the sweeps then skip their most expensive sizes
// (the reference loops run ~20x slower in a sanitised Debug build). Every code path is
// still exercised; only the largest N x K products are left to the normal build.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// ---------------------------------------------------------------------------------------
// Seeded random numbers, identical on every platform (no std::*_distribution, whose output
// the standard leaves to the library).

// splitmix64: a 64-bit state advanced by a constant and mixed.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform integer in [lo, hi).
  std::int64_t integer(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo));
  }
  // Uniform in (0, 1): 53 random bits, never exactly 0.
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  // Standard normal by Box-Muller.
  double normal() {
    const double u = uniform(), v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * v);
  }

 private:
  std::uint64_t state_;
};

// The dyadic grid each dtype draws from: integers in [-range, range) over `denominator`.
// double uses the grid ((int in [-512, 512)) / 64). float has only 24 significand bits, and
// dh sums N products x * r whose resolution is 2^-18 on that grid, so float draws from the
// coarser ((int in [-16, 16)) / 16): products resolve at 2^-8 and dh at 2^-12, and the sums
// of the sweep's sizes stay exact. exact_sums() checks the precondition case by case.
template <std::floating_point T>
struct DyadicGrid {
  static constexpr std::int64_t range = std::is_same_v<T, double> ? 512 : 16;
  static constexpr double denominator = std::is_same_v<T, double> ? 64.0 : 16.0;
};

template <std::floating_point T>
std::vector<T> dyadic(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<T> v(n);
  for (T& a : v)
    a = static_cast<T>(static_cast<double>(rng.integer(-DyadicGrid<T>::range, DyadicGrid<T>::range)) /
                       DyadicGrid<T>::denominator);
  return v;
}

template <std::floating_point T>
std::vector<T> gaussian(std::size_t n, std::uint64_t seed, double sigma = 1.0) {
  Rng rng(seed);
  std::vector<T> v(n);
  for (T& a : v) a = static_cast<T>(sigma * rng.normal());
  return v;
}

// ---------------------------------------------------------------------------------------
// Norms and differences, in double.

template <class T>
double norm2(std::span<const T> v) {
  double s = 0;
  for (const T a : v) s += static_cast<double>(a) * static_cast<double>(a);
  return std::sqrt(s);
}
template <class T>
double norm2(const std::vector<T>& v) {
  return norm2(std::span<const T>(v));
}

template <class T>
double norm1(const std::vector<T>& v) {
  double s = 0;
  for (const T a : v) s += std::abs(static_cast<double>(a));
  return s;
}

template <class T>
double max_abs(const std::vector<T>& v) {
  double m = 0;
  for (const T a : v) m = std::max(m, std::abs(static_cast<double>(a)));
  return m;
}

template <class A, class B>
double max_abs_diff(const std::vector<A>& a, const std::vector<B>& b) {
  double d = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    d = std::max(d, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return d;
}

// ||a - b||_2 / ||b||_2 (and ||a||_2 when b is zero).
template <class A, class B>
double relative_norm_diff(const std::vector<A>& a, const std::vector<B>& b) {
  double d = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double e = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    d += e * e;
  }
  const double nb = norm2(b);
  return nb > 0 ? std::sqrt(d) / nb : std::sqrt(d);
}

// |a| element-wise, widened to double.
template <class T>
std::vector<double> abs_of(const std::vector<T>& v) {
  std::vector<double> a(v.size());
  std::transform(v.begin(), v.end(), a.begin(), [](T e) { return std::abs(static_cast<double>(e)); });
  return a;
}

template <class T>
std::vector<double> widen(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// ---------------------------------------------------------------------------------------
// Comparisons that say where and by how much they fail.

// Bit-for-bit equality (so -0.0 != +0.0 would show; the methods never produce -0 differently
// on dyadic inputs because every partial sum is exact).
template <std::floating_point T>
::testing::AssertionResult bitwise_equal(const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << want.size();
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i]) || std::signbit(got[i]) != std::signbit(want[i]))
      return ::testing::AssertionFailure()
             << "first difference at index " << i << ": got " << got[i] << ", want " << want[i] << " (diff "
             << static_cast<double>(got[i]) - static_cast<double>(want[i]) << ")";
  return ::testing::AssertionSuccess();
}

// max_i |got[i] - want[i]| <= tol.
template <class A, class B>
::testing::AssertionResult within(const std::vector<A>& got, const std::vector<B>& want, double tol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << want.size();
  std::size_t worst = 0;
  double d = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double e = std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    if (std::isnan(e))  // an unwritten output (the sweeps prefill NaN) or a NaN result
      return ::testing::AssertionFailure()
             << "NaN at index " << i << " (got " << got[i] << ", want " << want[i] << ")";
    if (e > d) d = e, worst = i;
  }
  if (d <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max |diff| = " << d << " at index " << worst << " (got " << got[worst] << ", want "
         << want[worst] << ") exceeds the tolerance " << tol;
}

inline ::testing::AssertionResult scalar_within(double got, double want, double tol) {
  if (std::abs(got - want) <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want << ", |diff| "
                                       << std::abs(got - want) << " exceeds the tolerance " << tol;
}

// ---------------------------------------------------------------------------------------
// Exactness of dyadic sums.

// Every partial sum of terms that are integer multiples of `resolution`, with absolute
// values summing to at most `abs_sum`, is exactly representable in T when
// abs_sum / resolution <= 2^digits (all the integers up to 2^digits are representable).
template <std::floating_point T>
bool exact_sums(double abs_sum, double resolution) {
  return abs_sum / resolution <= std::ldexp(1.0, std::numeric_limits<T>::digits);
}

// Resolution of the dyadic grid for T.
template <std::floating_point T>
constexpr double grid_resolution() {
  return 1.0 / DyadicGrid<T>::denominator;
}

// ---------------------------------------------------------------------------------------
// The method x dtype grid as types, so one TYPED_TEST body runs over all of them.

template <Method M, std::floating_point T>
struct Config {
  static constexpr Method method = M;
  using type = T;
};

using AllConfigs = ::testing::Types<Config<Method::reference, float>, Config<Method::direct, float>,
                                    Config<Method::fft, float>, Config<Method::jacobian, float>,
                                    Config<Method::automatic, float>, Config<Method::reference, double>,
                                    Config<Method::direct, double>, Config<Method::fft, double>,
                                    Config<Method::jacobian, double>, Config<Method::automatic, double>>;

// Test names read "direct_float", "fft_double", ...
struct ConfigNames {
  template <class C>
  static std::string GetName(int) {
    return std::string(to_string(C::method) == "auto" ? "automatic" : to_string(C::method)) + "_" +
           (std::is_same_v<typename C::type, float> ? "float" : "double");
  }
};

inline constexpr Method kAllMethods[] = {Method::reference, Method::direct, Method::fft, Method::jacobian,
                                         Method::automatic};

// The method actually run on T: automatic resolves by N, K and the element size (tuning is
// off in the tests).
template <std::floating_point T>
Method resolved(Method m, std::size_t n, std::size_t k) {
  return m == Method::automatic ? choose_method(n, k, sizeof(T)) : m;
}

// Whether a method's arithmetic is a plain ordered sum of the exact products (so dyadic
// inputs give bitwise-identical results): everything but the FFT route.
template <std::floating_point T>
bool sums_products(Method m, std::size_t n, std::size_t k) {
  return resolved<T>(m, n, k) != Method::fft;
}

// ---------------------------------------------------------------------------------------
// Cases: a signal length and a tap range.

struct Case {
  std::size_t n;
  Taps taps;
};

inline std::string describe(const Case& c) {
  std::ostringstream s;
  s << "N=" << c.n << " taps m=" << c.taps.lo << ".." << c.taps.hi << " (K=" << c.taps.K() << ")";
  return s.str();
}

// Every N in 1..64 with the centred M = 0..N+2 (kernels longer than the signal). The
// sanitised build keeps every N but only the M at the edges (0, 1, 2, N/2, N-2..N+2), where
// an index error would show.
inline std::vector<Case> centred_sweep() {
  std::vector<Case> cases;
  for (std::int64_t n = 1; n <= 64; ++n)
    for (std::int64_t M = 0; M <= n + 2; ++M)
      if (!kSanitized || M <= 2 || M == n / 2 || M >= n - 2)
        cases.push_back({static_cast<std::size_t>(n), Taps::centred(M)});
  return cases;
}

// General tap ranges [lo, lo+K-1] on a set of short signals: causal (lo = 0), entirely
// negative, entirely positive, even K, ranges that only partly overlap the signal and ranges
// that miss it altogether (|m| >= N on every tap).
inline std::vector<Case> range_sweep() {
  std::vector<Case> cases;
  for (const std::int64_t N : {1, 2, 3, 5, 8, 13, 17, 32, 63, 64}) {
    for (const std::int64_t K : {std::int64_t{1}, std::int64_t{2}, std::int64_t{3}, std::int64_t{4},
                                 std::int64_t{7}, N, N + 1, 2 * N + 3}) {
      std::vector<std::int64_t> los = {-(N + K + 1), -(N + K), -(N + K) + 1, -N - 1, -N, -N + 1,
                                       -K,           -K + 1,   -1,           0,      1,  N / 2,
                                       N - 1,        N,        N + 1};
      std::sort(los.begin(), los.end());
      los.erase(std::unique(los.begin(), los.end()), los.end());
      for (const std::int64_t lo : los) cases.push_back({static_cast<std::size_t>(N), Taps::from_lo(lo, K)});
    }
  }
  return cases;
}

// A few long and prime signals with short and long kernels, centred, causal and one-sided.
// The reference loops cost N K per call and the Jacobian method N^2 for dx; the sanitised
// build keeps both products small.
inline std::vector<Case> large_cases() {
  std::vector<Case> cases = {
      {997, Taps::centred(0)},        {997, Taps::centred(127)}, {997, Taps::causal(1023)},
      {997, Taps::from_lo(-600, 41)}, {1000, Taps::centred(24)},
  };
  if (kSanitized) {
    cases.push_back({2053, Taps::causal(255)});
    cases.push_back({65537, Taps::centred(2)});
    return cases;
  }
  for (const Case c :
       {Case{4099, Taps::centred(1)}, Case{4099, Taps::causal(255)}, Case{4099, Taps::from_lo(-300, 64)},
        Case{4099, Taps::centred(511)}, Case{4099, Taps::from_lo(-5000, 1023)}, Case{65537, Taps::centred(1)},
        Case{65537, Taps::from_lo(-200, 255)}, Case{65537, Taps::centred(511)}})
    cases.push_back(c);
  return cases;
}

// ---------------------------------------------------------------------------------------
// Running a method and computing the derived tolerances.

// Bytes the Jacobian method would materialise for one product (rows x cols of T).
template <std::floating_point T>
std::size_t jacobian_bytes(std::size_t rows, std::size_t cols) {
  return rows * cols * sizeof(T);
}

// Whether `method` can run conv/grad_kernel (J_h: N x K) and grad_input (J_x: N x N) on this case.
template <std::floating_point T>
bool runs_forward(Method m, std::size_t n, std::size_t k) {
  return resolved<T>(m, n, k) != Method::jacobian || jacobian_bytes<T>(n, k) <= kDefaultJacobianBudget;
}
template <std::floating_point T>
bool runs_input_grad(Method m, std::size_t n, std::size_t k) {
  return resolved<T>(m, n, k) != Method::jacobian || jacobian_bytes<T>(n, n) <= kDefaultJacobianBudget;
}

// The tolerances check_gradients documents, for the three outputs (check.hpp):
// yhat: K terms h x;  dh: N terms x r;  dx: K terms h r;  transform length L = 2N + K.
template <std::floating_point T>
struct Tolerances {
  double yhat, dh, dx;
};

template <std::floating_point T>
Tolerances<T> tolerances(const std::vector<T>& x, const std::vector<T>& h, const std::vector<T>& r) {
  const std::size_t N = x.size(), K = h.size(), L = 2 * N + K;
  return {agreement_tolerance<T>(K, L, norm2(h), norm2(x)), agreement_tolerance<T>(N, L, norm2(x), norm2(r)),
          agreement_tolerance<T>(K, L, norm2(h), norm2(r))};
}

// When two methods each compute yhat and then r from it, their residuals differ by at most
// tol_yhat per sample, so the gradients they go on to compute differ by one more term:
// |sum_n x[n-m] (r1 - r2)[n]| <= ||x||_2 ||r1 - r2||_2 <= ||x||_2 sqrt(N) tol_yhat,
// and likewise ||h||_2 sqrt(N) tol_yhat for dx. The losses differ by at most
// |r1 + r2| . |r1 - r2| / 2 <= (||r||_2 + sqrt(N) tol_yhat / 2) sqrt(N) tol_yhat, plus the
// rounding of the double sum (N eps_double L).
template <std::floating_point T>
struct StepTolerances {
  double yhat, dh, dx, loss;
};

template <std::floating_point T>
StepTolerances<T> step_tolerances(const std::vector<T>& x, const std::vector<T>& h, const std::vector<T>& r,
                                  double loss) {
  const auto t = tolerances<T>(x, h, r);
  const double N = static_cast<double>(x.size());
  const double dr = std::sqrt(N) * t.yhat;
  return {t.yhat, t.dh + norm2(x) * dr, t.dx + norm2(h) * dr,
          (norm2(r) + dr / 2) * dr + N * std::numeric_limits<double>::epsilon() * loss};
}

// 1/2 sum_n (sum_m |h[m] x[n-m]| + |y[n]|)^2: the bound on every intermediate of the loss
// that finite_difference_tolerance (check.hpp) takes as its loss_scale.
template <class T>
double loss_scale(const std::vector<T>& x, const std::vector<T>& y, const std::vector<T>& h, Taps taps) {
  const auto ax = abs_of(x), ah = abs_of(h);
  const auto yabs = conv<double>(ax, ah, taps, Method::reference);
  double s = 0;
  for (std::size_t n = 0; n < x.size(); ++n) {
    const double e = yabs[n] + std::abs(static_cast<double>(y[n]));
    s += e * e;
  }
  return 0.5 * s;
}

// How far a gradient computed in T may be from the exact gradient of the exact inputs.
// Its residual r_T = fl(fl(h * x) - y) errs by at most eps_T (K + 1) (|h| * |x| + |y|)[n] per
// sample (K-term sum, one subtraction), which moves dh by at most ||x||_2 times the norm of
// that error, and dx by ||h||_2 times it; the sums of dh and dx themselves err within
// Tolerances. Finite differences add finite_difference_tolerance.
template <std::floating_point T>
struct FdTolerances {
  double dh, dx;
};

template <std::floating_point T>
FdTolerances<T> fd_tolerances(const std::vector<T>& x, const std::vector<T>& y, const std::vector<T>& h,
                              Taps taps, const std::vector<T>& r) {
  const double eps = std::numeric_limits<T>::epsilon();
  const std::size_t N = x.size(), K = h.size();
  const auto t = tolerances<T>(x, h, r);
  const double scale = loss_scale(x, y, h, taps);
  const double r_error =
      eps * static_cast<double>(K + 1) * std::sqrt(2 * scale);  // ||(|h|*|x| + |y|)||_2 = sqrt(2 scale)
  const double step = std::cbrt(std::numeric_limits<double>::epsilon());  // the smallest step FD takes
  const double fd = finite_difference_tolerance(N, K, scale, step);
  return {t.dh + norm2(x) * r_error + fd, t.dx + norm2(h) * r_error + fd};
}

}  // namespace convgrad::test
