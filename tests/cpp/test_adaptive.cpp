// The adaptive filters (convgrad/adaptive.hpp) against the library's exact answers: RLS with
// lambda = 1 is the exact ridge least-squares fit (fit.hpp), the frequency-domain filter's
// block-LMS step is mu times grad_kernel (ops.hpp); and against their own promises: the
// taps converge to a noise-free system's filter, the stream can be cut anywhere, the state
// saves and restores bit for bit, bad parameters and bad samples are refused, divergence is
// reported.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "convgrad/adaptive.hpp"
#include "convgrad/check.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/ops.hpp"
#include "adaptive/adaptive_internal.hpp"
#include "adaptive/adaptive_simd.hpp"
#include "core/simd.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

using adaptive::Algorithm;
using adaptive::Filter;
using adaptive::Options;
namespace simd = ::convgrad::detail::simd;
namespace kernels = ::convgrad::detail::adaptive;

constexpr Algorithm kAll[] = {Algorithm::lms, Algorithm::nlms, Algorithm::sign_lms, Algorithm::rls,
                              Algorithm::fdaf};

// The requirements, stated as numbers there: RLS with lambda = 1 matches the exact fit
// to 1e-9 relative in float64; every algorithm reaches misalignment 1e-8 on a noise-free system.
constexpr double kRlsMatchesExactFit = 1e-9;
constexpr double kConvergedMisalignment = 1e-8;

// y = h_true * x (causal taps lo.., the pre-windowed 'same' model) through the library.
template <std::floating_point T>
std::vector<T> system_output(const std::vector<double>& h_true, Taps taps, const std::vector<T>& x) {
  const std::vector<T> h(h_true.begin(), h_true.end());
  return conv<T>(x, h, taps, Method::direct);
}

struct Run {
  std::vector<double> yhat, r;
};

// Feeds the stream in pieces of the given sizes (cycled) and collects yhat and r.
template <std::floating_point T>
Run feed(Filter<T>& f, const std::vector<T>& x, const std::vector<T>& y,
         const std::vector<std::size_t>& cuts) {
  Run out;
  std::size_t i = 0, c = 0;
  while (i < x.size()) {
    const std::size_t n = std::min(cuts[c++ % cuts.size()], x.size() - i);
    std::vector<T> yhat(n), r(n);
    f.process(std::span<const T>(x).subspan(i, n), std::span<const T>(y).subspan(i, n), yhat, r);
    out.yhat.insert(out.yhat.end(), yhat.begin(), yhat.end());
    out.r.insert(out.r.end(), r.begin(), r.end());
    i += n;
  }
  return out;
}

std::vector<std::size_t> random_cuts(std::uint64_t seed, std::size_t count, std::int64_t largest) {
  Rng rng(seed);
  std::vector<std::size_t> cuts(count);
  for (auto& c : cuts) c = static_cast<std::size_t>(rng.integer(1, largest));
  return cuts;
}

template <class T>
class AdaptiveTyped : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(AdaptiveTyped, Types);

// ---- the exact answers --------------------------------------------------------------------------

// With lambda = 1 and P = I / delta, RLS after n samples minimises
// 1/2 sum_{i<n} r[i]^2 + delta/2 ||h||^2 over the pre-windowed model: the library's exact fit
// of the first n samples with taps lo..lo+K-1 and ridge = delta (fit.hpp's scaling).
// RLS (lambda = 1) against the library's exact ridge fit after n = 1, 2, 5, ... 400 samples.
void rls_equals_the_exact_fit(std::int64_t lo, std::size_t K) {
  const Taps taps = Taps::from_lo(lo, K);
  const double delta = 0.5;
  const auto x = gaussian<double>(400, 11);
  const auto y = gaussian<double>(400, 12);  // a target no filter explains: a real fit
  auto f = adaptive::make_filter<double>(Algorithm::rls, taps, {.delta = delta});
  std::size_t done = 0;
  for (const std::size_t n : {1, 2, 5, 13, 40, 150, 400}) {
    std::vector<double> yhat(n - done), r(n - done);
    f->process(std::span(x).subspan(done, n - done), std::span(y).subspan(done, n - done), yhat, r);
    done = n;
    NormalEquations ne(taps);
    ne.add<double>(std::span(x).first(n), std::span(y).first(n));
    const auto exact = ne.solve(delta);
    EXPECT_LE(relative_norm_diff(f->h(), exact.h), kRlsMatchesExactFit)
        << "lo = " << lo << ", K = " << K << ", n = " << n;
  }
}

// Both forms of the update (adaptive_simd.hpp, rls_whole): K = 12 and 37 keep P whole (37: a
// padded row stride, 40); K = 45, 71 and 90 update its upper triangle, with rows that start at
// every lane of a vector and padded strides (48, 72, 96).
TEST(AdaptiveRls, EqualsTheExactRidgeFitAfterEverySampleCount) {
  static_assert(kernels::rls_whole<double>(37) && !kernels::rls_whole<double>(45));
  rls_equals_the_exact_fit(0, 12);
  rls_equals_the_exact_fit(3, 12);
  rls_equals_the_exact_fit(2, 37);
  rls_equals_the_exact_fit(2, 45);
  rls_equals_the_exact_fit(1, 71);
  rls_equals_the_exact_fit(0, 90);
}

// FDAF without normalisation is block LMS: over one block it moves h by -mu dh, with dh the
// library's grad_kernel of the block's residual against the input, to the rounding of the
// two routes (agreement_tolerance bounds both).
TYPED_TEST(AdaptiveTyped, FdafBlockLmsStepIsMuTimesGradKernel) {
  using T = TypeParam;
  const std::size_t B = 16, P = 3, K = 40;  // taps 40..47 of the last partition held at 0
  const Taps taps = Taps::causal(K);
  const double mu = 0.01;
  const auto x = gaussian<T>(5 * B, 21);
  const auto y = gaussian<T>(5 * B, 22);
  auto f = adaptive::make_filter<T>(Algorithm::fdaf, taps,
                                    {.mu = mu, .block = B, .partitions = P, .normalise = false});
  f->set_h(gaussian<T>(K, 23));
  for (std::size_t b = 0; b < 5; ++b) {
    const auto h0 = f->h();
    std::vector<T> yhat(B), r(B);
    f->process(std::span(x).subspan(b * B, B), std::span(y).subspan(b * B, B), yhat, r);
    // The block's residual, zero before it: grad_kernel over x[0 .. n0+B) then sums the block only.
    const std::size_t end = (b + 1) * B;
    std::vector<T> r_ext(end, T(0));
    std::copy(r.begin(), r.end(), r_ext.begin() + static_cast<std::ptrdiff_t>(b * B));
    const std::vector<T> xs(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(end));
    const auto dh = grad_kernel<T>(xs, r_ext, taps, Method::reference);
    std::vector<double> want(K), step(K);
    for (std::size_t j = 0; j < K; ++j)
      want[j] = static_cast<double>(h0[j]) - mu * static_cast<double>(dh[j]);
    const auto h1 = f->h();
    const double tol = mu * agreement_tolerance<T>(B, 2 * B, norm2(xs), norm2(r)) +
                       2 * std::numeric_limits<T>::epsilon() * max_abs(h0);
    EXPECT_TRUE(within(h1, want, tol)) << "block " << b;
  }
}

// ---- convergence to the true filter -------------------------------------------------------------

struct ConvergenceCase {
  Algorithm algorithm;
  Options options;
  std::size_t samples;
};

// Noise-free system identification in float64: every algorithm reaches misalignment 1e-8.
// Sign-error LMS takes steps of fixed size mu |x| whatever the residual, so it settles within
// about mu of the answer; it gets there with a decreasing schedule of steps (a new mu per stage,
// the taps carried over by set_h).
TEST(AdaptiveConvergence, EveryAlgorithmFindsTheTrueFilter) {
  const std::size_t K = 32;
  const Taps taps = Taps::causal(K);
  const auto h_true = gaussian<double>(K, 31, 0.3);
  const auto x = gaussian<double>(60000, 32);
  const auto y = system_output(h_true, taps, x);
  const ConvergenceCase cases[] = {
      {Algorithm::lms, {.mu = 0.01}, 20000},
      {Algorithm::nlms, {.mu = 0.5}, 4000},
      {Algorithm::rls, {.delta = 1e-8}, 2000},
      {Algorithm::fdaf, {.mu = 0.5, .block = 32}, 60000},
  };
  for (const auto& c : cases) {
    auto f = adaptive::make_filter<double>(c.algorithm, taps, c.options);
    const std::vector<double> xs(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(c.samples));
    const std::vector<double> ys(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(c.samples));
    feed<double>(*f, xs, ys, {1000});
    const auto h = f->h();
    EXPECT_LE(adaptive::misalignment<double>(h, h_true), kConvergedMisalignment)
        << adaptive::to_string(c.algorithm);
  }
  // Sign-error LMS with the step shrinking tenfold per stage.
  std::vector<double> h(K, 0.0);
  double mu = 1e-3;
  for (std::size_t stage = 0; stage < 8; ++stage, mu /= 10) {
    auto f = adaptive::make_filter<double>(Algorithm::sign_lms, taps, {.mu = mu});
    f->set_h(h);
    feed<double>(*f, x, y, {6000});  // each stage sees the whole stream afresh
    h = f->h();
  }
  EXPECT_LE(adaptive::misalignment<double>(h, h_true), kConvergedMisalignment) << "sign-lms";
}

// float32 gets as close as its rounding allows: misalignment within 1000 eps_f32.
TEST(AdaptiveConvergence, Float32ReachesItsRounding) {
  const std::size_t K = 32;
  const Taps taps = Taps::causal(K);
  const auto h_true = gaussian<double>(K, 41, 0.3);
  const auto x = gaussian<float>(20000, 42);
  const auto y = system_output(h_true, taps, x);
  const double tol = 1000 * std::numeric_limits<float>::epsilon();
  for (const Algorithm a : {Algorithm::nlms, Algorithm::rls, Algorithm::fdaf}) {
    Options o;
    if (a == Algorithm::rls) o.delta = 1e-4;
    auto f = adaptive::make_filter<float>(a, taps, o);
    feed<float>(*f, x, y, {777});
    EXPECT_LE(adaptive::misalignment<float>(f->h(), h_true), tol) << adaptive::to_string(a);
  }
}

// A delay lo: taps m = lo..lo+K-1 predict yhat[n] = sum_m h[m] x[n-m], the library's model.
// With 300 taps the prediction runs through every path of the kernels' dot product (blocks of
// 8 vectors, leftover vectors, leftover taps; adaptive_simd.cpp), whose order of operations
// is the one the fused passes use (ResultsDoNotDependOnTheCuts holds them to the same bits).
TEST(AdaptiveTaps, DelayedTapsPredictWithTheLibrarysModel) {
  for (const Taps taps : {Taps::from_lo(5, 7), Taps::from_lo(3, 300)}) {
    const std::size_t K = taps.K(), N = K + 50;
    const auto x = gaussian<double>(N, 51);
    const auto y = gaussian<double>(N, 52);
    for (const Algorithm a : kAll) {
      auto f = adaptive::make_filter<double>(a, taps, {.block = a == Algorithm::fdaf ? 1 : 0});
      f->set_h(gaussian<double>(K, 53));
      for (std::size_t n = 0; n < x.size(); ++n) {
        const auto h = f->h();
        const std::vector<double> head(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n + 1));
        const double want = conv<double>(head, h, taps, Method::reference)[n];
        double yhat = 0, r = 0;
        f->process(std::span(x).subspan(n, 1), std::span(y).subspan(n, 1), std::span(&yhat, 1),
                   std::span(&r, 1));
        EXPECT_NEAR(yhat, want, agreement_tolerance<double>(K, 16, norm2(head), norm2(h)))
            << adaptive::to_string(a) << " K = " << K << " n = " << n;
        EXPECT_EQ(r, yhat - y[n]);
      }
    }
  }
}

// ---- streaming: cuts, save/restore --------------------------------------------------------------

template <std::floating_point T>
void results_do_not_depend_on_the_cuts(Taps taps) {
  const auto x = gaussian<T>(3000, 61);
  const auto y = gaussian<T>(3000, 62);
  SCOPED_TRACE("K = " + std::to_string(taps.K()));
  for (const Algorithm a : kAll) {
    Options o{.block = 8};
    if (a == Algorithm::lms) o.mu = 0.002;
    auto whole = adaptive::make_filter<T>(a, taps, o);
    const Run want = feed(*whole, x, y, {x.size()});
    auto cut = adaptive::make_filter<T>(a, taps, o);
    const Run got = feed(*cut, x, y, random_cuts(63, 50, 150));
    EXPECT_TRUE(bitwise_equal(cut->h(), whole->h())) << adaptive::to_string(a);
    if (a != Algorithm::fdaf) {
      EXPECT_TRUE(bitwise_equal(got.yhat, want.yhat)) << adaptive::to_string(a);
      EXPECT_TRUE(bitwise_equal(got.r, want.r)) << adaptive::to_string(a);
    } else {
      EXPECT_TRUE(
          within(got.yhat, want.yhat, agreement_tolerance<T>(taps.K(), 16, norm2(x), norm2(whole->h()))));
      auto blocks = adaptive::make_filter<T>(a, taps, o);
      const Run by_blocks = feed(*blocks, x, y, {8, 24, 800, 16});
      EXPECT_TRUE(bitwise_equal(by_blocks.yhat, want.yhat));
      EXPECT_TRUE(bitwise_equal(by_blocks.r, want.r));
    }
  }
}

// The sample-by-sample algorithms give the same bits however the stream is cut; the FDAF does
// for cuts at multiples of its block, and for any cut its taps do (its yhat within rounding).
//
// The tap counts reach every path of the kernels (adaptive_simd.cpp) for float32 (16 lanes
// with AVX-512) and float64 (8): fewer taps than one block of 8 vectors (24); a block whose
// last window vector is exactly the last one the rotation may read (143 = 9 * 16 - 1,
// 71 = 9 * 8 - 1); blocks, leftover whole vectors and leftover taps (300); RLS's rows of P
// start at every lane of their first vector.
TYPED_TEST(AdaptiveTyped, ResultsDoNotDependOnTheCuts) {
  using T = TypeParam;
  for (const Taps taps : {Taps::from_lo(2, 24), Taps::causal(71), Taps::causal(143), Taps::from_lo(1, 300)})
    results_do_not_depend_on_the_cuts<T>(taps);
}

// Saving mid-stream (mid-block for the FDAF; after an odd and an even number of samples, i.e.
// between the two samples of an LMS-family pair and between pairs), restoring and continuing
// gives the bits of the uninterrupted run; a clone does too, and both read the same taps.
TYPED_TEST(AdaptiveTyped, SavedStateContinuesBitForBit) {
  using T = TypeParam;
  const Taps taps = Taps::from_lo(1, 20);
  const auto x = gaussian<T>(2500, 71);
  const auto y = gaussian<T>(2500, 72);
  for (const std::ptrdiff_t split : {1203, 1204}) {
    SCOPED_TRACE("saved after " + std::to_string(split) + " samples");
    const std::vector<T> x1(x.begin(), x.begin() + split), y1(y.begin(), y.begin() + split);
    const std::vector<T> x2(x.begin() + split, x.end()), y2(y.begin() + split, y.end());
    for (const Algorithm a : kAll) {
      Options o{.block = 16};
      if (a == Algorithm::lms) o.mu = 0.002;
      auto whole = adaptive::make_filter<T>(a, taps, o);
      feed(*whole, x1, y1, {100});
      const Run want = feed(*whole, x2, y2, {100});
      auto first = adaptive::make_filter<T>(a, taps, o);
      feed(*first, x1, y1, {100});
      const std::string bytes = first->save();
      auto copy = first->clone();
      auto restored = adaptive::restore_filter<T>(bytes);
      EXPECT_EQ(restored->samples(), static_cast<std::uint64_t>(split));
      EXPECT_EQ(restored->save(), bytes);
      EXPECT_TRUE(bitwise_equal(restored->h(), first->h())) << adaptive::to_string(a);
      EXPECT_TRUE(bitwise_equal(copy->h(), first->h())) << adaptive::to_string(a);
      const Run got = feed(*restored, x2, y2, {100});
      const Run got_copy = feed(*copy, x2, y2, {100});
      EXPECT_TRUE(bitwise_equal(got.r, want.r)) << adaptive::to_string(a);
      EXPECT_TRUE(bitwise_equal(got_copy.r, want.r)) << adaptive::to_string(a);
      EXPECT_TRUE(bitwise_equal(restored->h(), whole->h())) << adaptive::to_string(a);
    }
  }
  EXPECT_THROW(adaptive::restore_filter<T>("not a state"), invalid_argument);
  auto f = adaptive::make_filter<T>(Algorithm::nlms, taps);
  const std::string bytes = f->save();
  EXPECT_THROW(adaptive::restore_filter<T>(bytes.substr(0, bytes.size() - 3)), invalid_argument);
  // A state of another format version (version 1 had no pending pair) is named as such.
  std::string old_version = bytes;
  old_version[7] = '1';
  try {
    (void)adaptive::restore_filter<T>(old_version);
    ADD_FAILURE() << "a state of format version 1 must be refused";
  } catch (const invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("state format version 1, saved by another convgrad release"),
              std::string::npos)
        << e.what();
  }
  using Other = std::conditional_t<std::is_same_v<T, float>, double, float>;
  EXPECT_THROW(adaptive::restore_filter<Other>(bytes), invalid_argument);
}

// ---- the LMS family's pairs of samples (adaptive_simd.hpp) ---------------------------------------

constexpr Algorithm kLmsFamily[] = {Algorithm::lms, Algorithm::nlms, Algorithm::sign_lms};

Options lms_family_options(Algorithm a) {
  return {.mu = a == Algorithm::lms ? 0.002 : a == Algorithm::sign_lms ? 1e-3 : 0.5};
}

// K for the AVX-512 fused pass: 9 vectors less one tap (blocks of 8 vectors, a leftover vector
// and leftover taps), as in ResultsDoNotDependOnTheCuts.
template <std::floating_point T>
constexpr std::size_t kPairTestTaps = sizeof(T) == 4 ? 143 : 71;

// One call against two calls cut at every offset, odd (between the two samples of a pair) and
// even (between pairs), bit for bit; the stream is long enough for the input history to
// slide (after about 1024 samples), so a pair also straddles a slide. And against calls of
// 1, 2 and 3 samples.
TYPED_TEST(AdaptiveTyped, LmsFamilyCutAtEveryOffsetGivesTheBitsOfOneCall) {
  using T = TypeParam;
  const Taps taps = Taps::from_lo(1, kPairTestTaps<T>);
  const std::size_t N = 1100, every = kSanitized ? 37 : 1;
  const auto x = gaussian<T>(N, 65);
  const auto y = gaussian<T>(N, 66);
  for (const Algorithm a : kLmsFamily) {
    SCOPED_TRACE(std::string(adaptive::to_string(a)));
    auto whole = adaptive::make_filter<T>(a, taps, lms_family_options(a));
    const Run want = feed(*whole, x, y, {N});
    for (std::size_t cut = 1; cut < N; cut += every) {
      auto f = adaptive::make_filter<T>(a, taps, lms_family_options(a));
      const Run got = feed(*f, x, y, {cut, N - cut});
      ASSERT_TRUE(bitwise_equal(got.yhat, want.yhat)) << "cut at " << cut;
      ASSERT_TRUE(bitwise_equal(got.r, want.r)) << "cut at " << cut;
      ASSERT_TRUE(bitwise_equal(f->h(), whole->h())) << "cut at " << cut;
    }
    for (const std::size_t piece : {1, 2, 3}) {
      auto f = adaptive::make_filter<T>(a, taps, lms_family_options(a));
      const Run got = feed(*f, x, y, {piece});
      EXPECT_TRUE(bitwise_equal(got.yhat, want.yhat)) << "pieces of " << piece;
      EXPECT_TRUE(bitwise_equal(f->h(), whole->h())) << "pieces of " << piece;
    }
  }
}

// The taps read between the two samples of a pair are the taps the pair's update will leave
// when its second sample changes nothing: fed the prediction itself as its target (r = 0, a
// zero step), the second sample leaves exactly the taps h() showed before it. Between pairs
// the same holds for a pair's first sample. Taps set mid-pair read back as set, and the next
// prediction uses them.
template <std::floating_point T>
void taps_read_mid_pair_are_the_taps_the_pair_leaves() {
  const Taps taps = Taps::causal(kPairTestTaps<T>);
  const auto x = gaussian<T>(700, 67);
  const auto y = gaussian<T>(700, 68);
  for (const Algorithm a : kLmsFamily) {
    for (const std::size_t n0 : {601, 602}) {
      SCOPED_TRACE(std::string(adaptive::to_string(a)) + " after " + std::to_string(n0) + " samples");
      auto f = adaptive::make_filter<T>(a, taps, lms_family_options(a));
      feed(*f, std::vector<T>(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n0)),
           std::vector<T>(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(n0)), {n0});
      const auto h_before = f->h();
      const auto next = std::span(x).subspan(n0, 1);
      T yhat = 0, r = 0, target = 0;
      f->clone()->process(next, std::span(y).subspan(n0, 1), std::span(&target, 1), std::span(&r, 1));
      f->process(next, std::span(&target, 1), std::span(&yhat, 1), std::span(&r, 1));
      EXPECT_EQ(r, T(0));
      EXPECT_TRUE(bitwise_equal(f->h(), h_before));

      auto g = adaptive::make_filter<T>(a, taps, lms_family_options(a));
      feed(*g, std::vector<T>(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n0)),
           std::vector<T>(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(n0)), {n0});
      const auto h_set = gaussian<T>(taps.K(), 69);
      g->set_h(h_set);
      EXPECT_TRUE(bitwise_equal(g->h(), h_set));
      g->process(next, std::span(y).subspan(n0, 1), std::span(&yhat, 1), std::span(&r, 1));
      const std::vector<T> head(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n0 + 1));
      const T want = conv<T>(head, h_set, taps, Method::reference)[n0];
      EXPECT_NEAR(yhat, want, agreement_tolerance<T>(taps.K(), 16, norm2(head), norm2(h_set)));
    }
  }
}

TYPED_TEST(AdaptiveTyped, LmsFamilyTapsReadMidPairAreTheTapsThePairLeaves) {
  taps_read_mid_pair_are_the_taps_the_pair_leaves<TypeParam>();
}

// A non-finite residual stops the filter before that sample touches the state, whether it is
// the first or the second of its pair: the taps are those of a filter fed only the samples
// before it (LMS with a step far too large, float64 and float32; the power test is off, so
// the non-finite residual is what stops it). Leading silent samples shift where the pairs
// fall; both parities are reached.
TYPED_TEST(AdaptiveTyped, LmsDivergesAtEitherSampleOfAPairWithTheTapsBeforeIt) {
  using T = TypeParam;
  const auto x0 = gaussian<T>(100000, 103);
  const auto y0 = gaussian<T>(100000, 104);
  const Options o{.mu = 0.5, .divergence_window = 0};
  bool seen[2] = {false, false};
  for (const std::size_t silent : {0, 1, 2, 3}) {
    std::vector<T> x(silent, T(0)), y(silent, T(0));
    x.insert(x.end(), x0.begin(), x0.end());
    y.insert(y.end(), y0.begin(), y0.end());
    auto f = adaptive::make_filter<T>(Algorithm::lms, Taps::causal(16), o);
    std::vector<T> yhat(x.size()), r(x.size());
    std::uint64_t at = 0;
    try {
      f->process(x, y, yhat, r);
      ADD_FAILURE() << "no divergence reported";
      continue;
    } catch (const adaptive::diverged& e) {
      at = e.sample;
    }
    seen[at % 2] = true;
    EXPECT_EQ(f->samples(), at);
    auto g = adaptive::make_filter<T>(Algorithm::lms, Taps::causal(16), o);
    const auto n = static_cast<std::ptrdiff_t>(at);
    feed(*g, std::vector<T>(x.begin(), x.begin() + n), std::vector<T>(y.begin(), y.begin() + n), {x.size()});
    EXPECT_TRUE(bitwise_equal(f->h(), g->h())) << "diverged at " << at;
    for (const T h : f->h()) EXPECT_TRUE(std::isfinite(h));
  }
  EXPECT_TRUE(seen[0] && seen[1]) << "the divergence fell at one parity only";
}

// Quiet input after a loud stretch: the window sums kept by recursion (the energy, the lag-1
// correlation that corrects a pair's second prediction; adaptive_simd.hpp) round at the loud
// scale, which would swamp a quiet window's sums; they are summed afresh when the energy falls
// far below its peak. Every prediction stays the library's model to the rounding of a quiet
// window. (Found in review: LMS's residual reached 2e16 here.) Loud input with y = 0 and zero
// taps leaves the taps at zero (every residual is 0), so only the sums see it.
TYPED_TEST(AdaptiveTyped, QuietInputAfterALoudStretchIsPredictedToItsOwnRounding) {
  using T = TypeParam;
  const Taps taps = Taps::causal(4);
  const std::size_t K = taps.K(), loud = 400, silent = 10, quiet = 300, N = loud + silent + quiet;
  std::vector<T> x(N, T(0));
  const auto big = gaussian<T>(loud, 91, 1e9);
  const auto small = gaussian<T>(quiet, 92);
  std::copy(big.begin(), big.end(), x.begin());
  std::copy(small.begin(), small.end(), x.begin() + static_cast<std::ptrdiff_t>(loud + silent));
  std::vector<T> y = system_output<T>({0.5, -0.25, 0.125, 0.0625}, taps, x);
  std::fill(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(loud + silent), T(0));
  for (const Algorithm a : {Algorithm::lms, Algorithm::nlms, Algorithm::sign_lms}) {
    auto f = adaptive::make_filter<T>(a, taps, lms_family_options(a));
    for (std::size_t n = 0; n < N; ++n) {
      const auto h = f->h();
      const std::size_t first = n + 1 >= K ? n + 1 - K : 0;  // the window x[n-K+1 .. n]
      const std::vector<T> w(x.begin() + static_cast<std::ptrdiff_t>(first),
                             x.begin() + static_cast<std::ptrdiff_t>(n + 1));
      double want = 0;
      for (std::size_t m = 0; m < w.size(); ++m) want += static_cast<double>(h[m]) * w[w.size() - 1 - m];
      T yhat = 0, r = 0;
      f->process(std::span(x).subspan(n, 1), std::span(y).subspan(n, 1), std::span(&yhat, 1),
                 std::span(&r, 1));
      if (n < loud) continue;  // the loud stretch: taps at 0, nothing to predict
      ASSERT_NEAR(yhat, want, agreement_tolerance<T>(K, 16, norm2(w), norm2(h)))
          << adaptive::to_string(a) << " n = " << n;
    }
  }
}

TEST(AdaptiveTaps, SetAndReadBack) {
  const auto h = gaussian<double>(9, 81);
  for (const Algorithm a : kAll) {
    auto f = adaptive::make_filter<double>(a, Taps::causal(9));
    EXPECT_TRUE(bitwise_equal(f->h(), std::vector<double>(9, 0.0)));
    f->set_h(h);
    EXPECT_TRUE(bitwise_equal(f->h(), h)) << adaptive::to_string(a);
    EXPECT_THROW(f->set_h(std::vector<double>(8, 0.0)), invalid_argument);
    auto bad = h;
    bad[4] = std::numeric_limits<double>::quiet_NaN();
    EXPECT_THROW(f->set_h(bad), non_finite_input);
    EXPECT_TRUE(bitwise_equal(f->h(), h));
  }
}

// ---- bad input ----------------------------------------------------------------------------------

::testing::AssertionResult refused(Algorithm a, const Options& o, const std::string& name,
                                   const std::string& range) {
  try {
    adaptive::make_filter<double>(a, Taps::causal(8), o);
  } catch (const invalid_argument& e) {
    const std::string what = e.what();
    if (what.find(name) != std::string::npos && what.find(range) != std::string::npos)
      return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "message lacks '" << name << "' or '" << range << "': " << what;
  }
  return ::testing::AssertionFailure() << "not refused";
}

TEST(AdaptiveErrors, ParametersOutsideTheirRangesAreRefusedByName) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(refused(Algorithm::nlms, {.mu = 2}, "mu", "(0, 2)"));
  EXPECT_TRUE(refused(Algorithm::nlms, {.mu = 0}, "mu", "(0, 2)"));
  EXPECT_TRUE(refused(Algorithm::nlms, {.mu = nan}, "mu", "(0, 2)"));
  EXPECT_TRUE(refused(Algorithm::lms, {.mu = 0}, "mu", "(0, inf)"));
  EXPECT_TRUE(
      refused(Algorithm::sign_lms, {.mu = std::numeric_limits<double>::infinity()}, "mu", "(0, inf)"));
  EXPECT_TRUE(refused(Algorithm::rls, {.lambda = 0}, "lambda", "(0, 1]"));
  EXPECT_TRUE(refused(Algorithm::rls, {.lambda = 1.0000001}, "lambda", "(0, 1]"));
  EXPECT_TRUE(refused(Algorithm::rls, {.delta = 0}, "delta", "(0, inf)"));
  EXPECT_TRUE(refused(Algorithm::fdaf, {.mu = 1.5}, "mu", "(0, 1]"));
  EXPECT_TRUE(refused(Algorithm::fdaf, {.delta = 0}, "delta", "(0, inf)"));
  EXPECT_TRUE(refused(Algorithm::nlms, {.lambda = 0.9}, "lambda", "only RLS"));
  EXPECT_TRUE(refused(Algorithm::nlms, {.mu = -0.5}, "mu", "(0, 2)"));
  EXPECT_TRUE(refused(Algorithm::rls, {.mu = 0.5}, "mu", "RLS has no step size"));
  EXPECT_TRUE(refused(Algorithm::lms, {.delta = 1.0}, "delta", "only NLMS"));
  EXPECT_TRUE(refused(Algorithm::fdaf, {.block = 2, .partitions = 2}, "block", "covers fewer"));
  EXPECT_THROW(adaptive::make_filter<double>(Algorithm::nlms, Taps::range(-1, 3)), invalid_argument);
  EXPECT_THROW(adaptive::parse_algorithm("kalman"), invalid_argument);
}

// A NaN or infinity in a block is refused with its index, and the filter is left exactly as it
// was: the stream continues as if the bad block had never come. The bad sample falls at an odd
// and an even position, after an odd and an even number of samples (the LMS family's pairs).
TYPED_TEST(AdaptiveTyped, NonFiniteSamplesAreRefusedAndTheStateIsUnchanged) {
  using T = TypeParam;
  const auto x = gaussian<T>(300, 91);
  const auto y = gaussian<T>(300, 92);
  for (const Algorithm a : kAll) {
    for (const std::ptrdiff_t n0 : {100, 101}) {
      auto f = adaptive::make_filter<T>(a, Taps::causal(10), {.block = 8});
      const std::vector<T> x1(x.begin(), x.begin() + n0), y1(y.begin(), y.begin() + n0);
      const std::vector<T> x2(x.begin() + n0, x.end()), y2(y.begin() + n0, y.end());
      feed(*f, x1, y1, {x1.size()});
      const std::string before = f->save();
      for (const std::size_t at : {36, 37}) {
        for (const bool in_y : {false, true}) {
          std::vector<T> bx = x2, by = y2;
          (in_y ? by : bx)[at] =
              in_y ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::quiet_NaN();
          std::vector<T> yhat(bx.size()), r(bx.size());
          try {
            f->process(bx, by, yhat, r);
            ADD_FAILURE() << "accepted a non-finite sample";
          } catch (const non_finite_input& e) {
            EXPECT_EQ(e.index, at);
            EXPECT_NE(std::string(e.what()).find(in_y ? "y" : "x"), std::string::npos);
          }
          EXPECT_EQ(f->save(), before) << adaptive::to_string(a);
        }
      }
      auto clean = adaptive::make_filter<T>(a, Taps::causal(10), {.block = 8});
      feed(*clean, x1, y1, {x1.size()});
      const Run want = feed(*clean, x2, y2, {x2.size()});
      const Run got = feed(*f, x2, y2, {x2.size()});
      EXPECT_TRUE(bitwise_equal(got.r, want.r)) << adaptive::to_string(a);
      EXPECT_TRUE(bitwise_equal(f->h(), clean->h())) << adaptive::to_string(a);
    }
    auto f = adaptive::make_filter<T>(a, Taps::causal(10), {.block = 8});
    std::vector<T> yhat(3), r(2);
    EXPECT_THROW(f->process(std::span(x).first(3), std::span(y).first(3), yhat, r), invalid_argument);
  }
}

// LMS with a step far too large for the input's power blows up; it is caught at the first
// non-finite residual (or by the power test), with finite taps, and named as divergence.
TEST(AdaptiveErrors, DivergenceIsReportedNotTurnedIntoNaNTaps) {
  const auto x = gaussian<double>(200000, 101);
  const auto y = gaussian<double>(200000, 102);
  auto f = adaptive::make_filter<double>(Algorithm::lms, Taps::causal(16), {.mu = 0.5});
  std::vector<double> yhat(x.size()), r(x.size());
  try {
    f->process(x, y, yhat, r);
    ADD_FAILURE() << "no divergence reported";
  } catch (const adaptive::diverged& e) {
    EXPECT_LT(e.sample, x.size());
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos);
  }
  for (const double h : f->h()) EXPECT_TRUE(std::isfinite(h));
  // The power test alone (no overflow within a window): a short window catches the growth early.
  auto g =
      adaptive::make_filter<double>(Algorithm::lms, Taps::causal(16), {.mu = 0.2, .divergence_window = 64});
  EXPECT_THROW(g->process(x, y, yhat, r), adaptive::diverged);
}

// RLS forgetting over silence: without a cap P would grow as lambda^-n and overflow. After a
// long all-zero stretch the filter is still finite and still learns.
TEST(AdaptiveRls, SilenceDoesNotBlowUpP) {
  const std::size_t K = 8;
  const Taps taps = Taps::causal(K);
  auto f = adaptive::make_filter<double>(Algorithm::rls, taps, {.delta = 1e-2, .lambda = 0.99});
  const std::vector<double> zeros(200000, 0.0);
  feed<double>(*f, zeros, zeros, {4096});  // 0.99^-200000 would overflow double many times over
  const auto h_true = gaussian<double>(K, 111);
  const auto x = gaussian<double>(2000, 112);
  const auto y = system_output(h_true, taps, x);
  feed<double>(*f, x, y, {100});
  EXPECT_LE(adaptive::misalignment<double>(f->h(), h_true), kConvergedMisalignment);
}

// RLS over 10^7 samples with forgetting stays well behaved (the horizon; 10^6 under a
// sanitizer): P stays symmetric positive definite (exactly symmetric by construction, see
// RlsWholeFormKeepsPExactlySymmetric, and alpha > 0 is checked every sample, else `diverged`), and the taps
// still track the system after it changes half way. The stream is generated block by block (y through the
// system's taps with the library's conv on each block plus the previous K - 1 inputs).
TEST(AdaptiveRls, TracksOverTenMillionSamples) {
  const std::size_t K = 4, N = kSanitized ? 1000000 : 10000000, B = 1 << 16;
  const Taps taps = Taps::causal(K);
  auto f = adaptive::make_filter<double>(Algorithm::rls, taps, {.lambda = 0.999});
  std::vector<double> h_true = gaussian<double>(K, 121);
  std::vector<double> window(K - 1 + B, 0.0), yhat(B), r(B);
  for (std::size_t done = 0, b = 0; done < N; done += B, ++b) {
    if (done >= N / 2 && done - B < N / 2) h_true = gaussian<double>(K, 123);  // the room changes
    std::copy(window.end() - static_cast<std::ptrdiff_t>(K - 1), window.end(), window.begin());
    const auto xb = gaussian<double>(B, 1000 + b);
    std::copy(xb.begin(), xb.end(), window.begin() + static_cast<std::ptrdiff_t>(K - 1));
    const auto yw = conv<double>(window, h_true, taps, Method::direct);
    const std::vector<double> yb(yw.begin() + static_cast<std::ptrdiff_t>(K - 1), yw.end());
    f->process(xb, yb, yhat, r);
  }
  EXPECT_EQ(f->samples(), (N + B - 1) / B * B);
  EXPECT_LE(adaptive::misalignment<double>(f->h(), h_true), kConvergedMisalignment);
}

// The whole form of RLS's update (small K: adaptive_simd.cpp, whole_pass) keeps both triangles
// of P, equal bit for bit: after 20000 samples of forgetting (lambda = 0.999: P's factor grows
// by 1 / lambda a sample and is folded into the stored matrix, a scaled pass, every 11,000 or
// so), S[i][j] == S[j][i] for every pair and the diagonal is positive. Run on the kernel
// itself: the saved state shows only one triangle (filters.cpp, write_state). K = 5: a row of
// one vector (or part of one); 33: padded rows of several; the largest whole K (5 AVX-512
// vectors).
TYPED_TEST(AdaptiveTyped, RlsWholeFormKeepsPExactlySymmetric) {
  using T = TypeParam;
  for (const std::size_t K : {std::size_t{5}, std::size_t{33}, kernels::kWholeRowBytes / sizeof(T)}) {
    SCOPED_TRACE("K = " + std::to_string(K));
    ASSERT_TRUE(kernels::rls_whole<T>(K));
    const std::size_t stride = kernels::rls_stride<T>(K), n = 20000;
    using Storage = adaptive::detail::aligned_vector<T>;
    Storage P(K * stride, T(0)), g(K, T(0)), pi(stride, T(0)), pi_next(stride, T(0)), kv(stride, T(0)),
        u(stride, T(0)), u_b(stride, T(0)), w(stride, T(0)), row_sums(stride, T(0));
    for (std::size_t i = 0; i < K; ++i) P[i * stride + i] = T(100);
    const auto x = gaussian<T>(K + n, 131);  // the history: window q is x[q - K + 1 .. q]
    const auto y = gaussian<T>(n, 132);
    std::vector<T> yhat(n), r(n);
    kernels::RlsChunk<T> chunk{g.data(),
                               P.data(),
                               pi.data(),
                               pi_next.data(),
                               kv.data(),
                               u.data(),
                               u_b.data(),
                               w.data(),
                               row_sums.data(),
                               K,
                               stride,
                               0,
                               x.data(),
                               K,
                               n,
                               y.data(),
                               yhat.data(),
                               r.data(),
                               0.999,
                               100.0 * static_cast<double>(K),
                               T(1),
                               false,
                               T(0)};
    ASSERT_EQ(kernels::rls_chunk(chunk), n);
    EXPECT_GT(chunk.factor, T(1));  // forgetting since the last fold
    std::size_t asymmetric = 0, not_positive = 0;
    for (std::size_t i = 0; i < K; ++i) {
      not_positive += !(P[i * stride + i] > 0);
      for (std::size_t j = 0; j < i; ++j) asymmetric += P[i * stride + j] != P[j * stride + i];
    }
    EXPECT_EQ(asymmetric, 0u);
    EXPECT_EQ(not_positive, 0u);
  }
}

// ---- every instruction set ---------------------------------------------------------------------

// The kernels are compiled for several instruction sets (Highway dispatches to the CPU's best;
// their vectors hold 1 to 16 lanes, and the NLMS pass has a variant of its own for AVX-512).
// On every one this CPU runs, RLS equals the exact fit and cutting the stream changes no bits.
TEST(AdaptiveTargets, EveryCompiledInstructionSetKeepsThePromises) {
  struct Restore {
    ~Restore() { simd::force_target(""); }  // even when an assertion fails mid-loop
  } restore;
  for (const std::string& target : simd::available_targets()) {
    SCOPED_TRACE("target " + target);
    simd::force_target(target);
    rls_equals_the_exact_fit(2, 37);  // P whole
    rls_equals_the_exact_fit(2, 45);  // P's upper triangle
    results_do_not_depend_on_the_cuts<float>(Taps::causal(143));
    results_do_not_depend_on_the_cuts<double>(Taps::causal(71));  // 71, 143: see the cut test
    // h() mid-pair applies the pending step with std::fma: the SIMD pass must fuse it too.
    taps_read_mid_pair_are_the_taps_the_pair_leaves<float>();
    taps_read_mid_pair_are_the_taps_the_pair_leaves<double>();
  }
}

}  // namespace
}  // namespace convgrad::test
