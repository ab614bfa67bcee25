// The channel operations (channels.hpp): every method against the literal reference loops over
// random shapes, the single-channel case against ops.hpp, thread-count independence, and
// hostile shapes refused with invalid_argument.
#include "convgrad/channels.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "convgrad/errors.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

// One problem: a shape and seeded inputs for every operation.
template <std::floating_point T>
struct Problem {
  ChannelShape s;
  std::vector<T> x, W, bias, y, r;
  Problem(const ChannelShape& shape, std::uint64_t seed, bool with_bias = true)
      : s(shape),
        x(gaussian<T>(s.x_size(), seed)),
        W(gaussian<T>(s.w_size(), seed + 1, 1.0 / std::sqrt(double(s.in_per_group() * s.K())))),
        bias(with_bias ? gaussian<T>(s.out_channels, seed + 2) : std::vector<T>{}),
        y(gaussian<T>(s.y_size(), seed + 3)),
        r(gaussian<T>(s.y_size(), seed + 4)) {}
};

template <std::floating_point T>
struct Outputs {
  std::vector<T> y, dx, dW, dbias, step_dW, step_dbias;
  double loss = 0;
};

// Every operation by one method, outputs prefilled with NaN so that an unwritten value shows.
template <std::floating_point T>
Outputs<T> run_all(const Problem<T>& p, Method m) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  Outputs<T> o{std::vector<T>(p.s.y_size(), nan), std::vector<T>(p.s.x_size(), nan),
               std::vector<T>(p.s.w_size(), nan), std::vector<T>(p.s.out_channels, nan),
               std::vector<T>(p.s.w_size(), nan), std::vector<T>(p.s.out_channels, nan)};
  conv_channels<T>(p.x, p.W, p.bias, o.y, p.s, m);
  grad_channels<T>(p.x, p.W, p.r, o.dx, o.dW, o.dbias, p.s, m);
  o.loss = train_step_channels<T>(p.x, p.W, p.bias, p.y, o.step_dW, o.step_dbias, p.s, m);
  return o;
}

// The derived tolerances (check.hpp's agreement_tolerance, Cauchy-Schwarz on each sum):
//   y:     C_in/g K terms W x, and the bias as one more weight on an input of 1;
//   dW:    B N_out terms x r;   dx: C_out/g K terms W r;   dbias: B N_out terms r 1;
//   the training step's r differs by at most tol_y per sample, which moves dW by
//   ||x|| sqrt(#y) tol_y, dbias by #y tol_y and the loss as in test_util's step_tolerances.
template <std::floating_point T>
struct ChannelTolerances {
  double y, dW, dx, dbias, step_dW, step_dbias, loss;
};

template <std::floating_point T>
ChannelTolerances<T> channel_tolerances(const Problem<T>& p, double loss) {
  const ChannelShape& s = p.s;
  const std::size_t L = 2 * std::max(s.n_in, s.n_out) + s.dilation * s.K();
  const double nx = norm2(p.x), nW = norm2(p.W), nb = norm2(p.bias), nr = norm2(p.r);
  const double Y = double(s.y_size()), terms_b = double(s.batch * s.n_out);
  const double y =
      agreement_tolerance<T>(s.in_per_group() * s.K() + 1, L, std::hypot(nW, nb), std::hypot(nx, 1.0));
  const double dW = agreement_tolerance<T>(s.batch * s.n_out, L, nx, nr);
  const double dbias = agreement_tolerance<T>(s.batch * s.n_out, L, nr, std::sqrt(terms_b));
  const double dr = std::sqrt(Y) * y;
  const double ny = norm2(p.y), nres = std::sqrt(2 * loss);
  return {y,
          dW,
          agreement_tolerance<T>(s.out_per_group() * s.K(), L, nW, nr),
          dbias,
          agreement_tolerance<T>(s.batch * s.n_out, L, nx, nres + ny) + nx * dr,
          agreement_tolerance<T>(s.batch * s.n_out, L, nres + ny, std::sqrt(terms_b)) + Y * y,
          (nres + dr / 2) * dr + Y * std::numeric_limits<double>::epsilon() * loss};
}

// Every output of a method (run_all) within its tolerance of the reference's.
template <std::floating_point T>
void expect_outputs_within(const Outputs<T>& got, const Outputs<T>& want, const ChannelTolerances<T>& tol) {
  EXPECT_TRUE(within(got.y, want.y, tol.y));
  EXPECT_TRUE(within(got.dx, want.dx, tol.dx));
  EXPECT_TRUE(within(got.dW, want.dW, tol.dW));
  EXPECT_TRUE(within(got.dbias, want.dbias, tol.dbias));
  EXPECT_TRUE(within(got.step_dW, want.step_dW, tol.step_dW));
  EXPECT_TRUE(within(got.step_dbias, want.step_dbias, tol.step_dbias));
  EXPECT_TRUE(scalar_within(got.loss, want.loss, tol.loss));
}

std::string describe(const ChannelShape& s) {
  std::ostringstream o;
  o << "B=" << s.batch << " C_in=" << s.in_channels << " C_out=" << s.out_channels << " N_in=" << s.n_in
    << " N_out=" << s.n_out << " g=" << s.groups << " d=" << s.dilation << " taps=" << s.taps.lo << ".."
    << s.taps.hi;
  return o.str();
}

// Random shapes over every field, with the extremes drawn on purpose: groups 1 and
// depthwise, K > N, N_out != N_in, lo from far left to right of 0, dilation up to 3.
std::vector<ChannelShape> random_shapes(std::uint64_t seed, int count) {
  Rng rng(seed);
  std::vector<ChannelShape> shapes;
  for (int i = 0; i < count; ++i) {
    ChannelShape s;
    s.groups = std::size_t(rng.integer(1, 4));
    const std::size_t cig = std::size_t(rng.integer(1, 6)), cog = std::size_t(rng.integer(1, 6));
    if (i % 4 == 0) s.groups = 1;                               // dense
    if (i % 4 == 1) s.groups = std::size_t(rng.integer(2, 7));  // depthwise below
    s.in_channels = s.groups * (i % 4 == 1 ? 1 : cig);
    s.out_channels = s.groups * (i % 4 == 1 ? 1 : cog);
    s.batch = std::size_t(rng.integer(0, 4));
    s.n_in = std::size_t(rng.integer(1, 60));
    s.n_out = i % 3 == 0 ? s.n_in : std::size_t(rng.integer(1, 70));
    const std::int64_t K = rng.integer(1, i % 5 == 0 ? 90 : 16);  // every fifth K may exceed N
    s.taps = Taps::from_lo(rng.integer(-K - 3, 4), K);
    s.dilation = std::size_t(rng.integer(1, 4));
    shapes.push_back(s);
  }
  // Long signals: several direct blocks and several overlap-save blocks.
  shapes.push_back(same_shape(2, 3, 2, 9000, Taps::centred(40)));
  shapes.push_back(same_shape(1, 4, 4, 5000, Taps::causal(300), 4, 2));
  ChannelShape valid = same_shape(3, 8, 6, 700, Taps::causal(9), 2);
  valid.n_out = 700 - 8;  // PyTorch's 'valid' with the flipped weight: taps -8..0
  valid.taps = Taps::range(-8, 0);
  shapes.push_back(valid);
  return shapes;
}

constexpr Method kFast[] = {Method::direct, Method::fft, Method::automatic};

template <std::floating_point T>
void expect_methods_agree(std::uint64_t seed) {
  int index = 0;
  for (const ChannelShape& s : random_shapes(seed, 48)) {
    const Problem<T> p(s, seed + 100 * std::uint64_t(index), index % 2 == 0);
    const Outputs<T> want = run_all(p, Method::reference);
    const ChannelTolerances<T> tol = channel_tolerances(p, want.loss);
    for (const Method m : kFast) {
      SCOPED_TRACE(describe(s) + " method " + std::string(to_string(m)));
      const Outputs<T> got = run_all(p, m);
      expect_outputs_within(got, want, tol);
    }
    ++index;
  }
}

TEST(Channels, FastPathsMatchReferenceFloat) { expect_methods_agree<float>(11); }
TEST(Channels, FastPathsMatchReferenceDouble) { expect_methods_agree<double>(12); }

// The direct kernels' tiles and their edges (direct_simd.cpp): every output-block size of the
// forward and dx (1..8 channels), of dW's taps-as-lanes kernel (1..6 output by 4 or 1 input
// channels; K = 8, 15, 16, 17, 33 in float: one to three vectors of taps, the last partial) and
// of its short kernels (K = 1, 3, 7 in float, 1 and 3 in double), short signals where the
// window cuts do not fit and long ones with several blocks, and dilation 2 (no cuts).
template <std::floating_point T>
void expect_direct_tiles_agree() {
  const std::pair<std::size_t, std::size_t> channels[] = {{1, 2},  {3, 7}, {4, 6}, {5, 9},
                                                          {9, 13}, {2, 8}, {6, 1}};
  std::uint64_t seed = 300;
  for (const std::int64_t K : {1, 3, 7, 8, 15, 16, 17, 33})
    for (const auto& [cin, cout] : channels)
      for (const std::size_t n : {std::size_t(9), std::size_t(1100)}) {
        ChannelShape s = same_shape(2, cin, cout, n, Taps::from_lo(-K / 2, K));
        s.dilation = seed % 5 == 0 ? 2 : 1;
        const Problem<T> p(s, ++seed);
        const Outputs<T> want = run_all(p, Method::reference), got = run_all(p, Method::direct);
        const ChannelTolerances<T> tol = channel_tolerances(p, want.loss);
        SCOPED_TRACE(describe(s));
        expect_outputs_within(got, want, tol);
      }
}

TEST(Channels, DirectTilesMatchReferenceFloat) { expect_direct_tiles_agree<float>(); }
TEST(Channels, DirectTilesMatchReferenceDouble) { expect_direct_tiles_agree<double>(); }

// B = C_in = C_out = 1, d = 1, no bias: the single-channel operations of ops.hpp.
template <std::floating_point T>
void expect_single_channel_case() {
  for (const Taps taps : {Taps::centred(3), Taps::causal(20), Taps::range(-7, -2), Taps::range(2, 60)}) {
    for (const Method m : {Method::reference, Method::direct, Method::fft}) {
      SCOPED_TRACE(std::string(to_string(m)) + " taps " + std::to_string(taps.lo) + ".." +
                   std::to_string(taps.hi));
      const ChannelShape s = same_shape(1, 1, 1, 257, taps);
      const Problem<T> p(s, 7, false);
      const Outputs<T> got = run_all(p, m);
      const auto y = conv<T>(p.x, p.W, taps, m);
      const auto dh = grad_kernel<T>(p.x, p.r, taps, m);
      const auto dx = grad_input<T>(p.r, p.W, taps, m);
      const ChannelTolerances<T> tol = channel_tolerances(p, got.loss);
      if (m == Method::reference) {  // the same loops, term for term
        EXPECT_TRUE(bitwise_equal(got.y, y));
        EXPECT_TRUE(bitwise_equal(got.dx, dx));
      }
      EXPECT_TRUE(within(got.y, y, tol.y));
      EXPECT_TRUE(within(got.dW, dh, tol.dW));
      EXPECT_TRUE(within(got.dx, dx, tol.dx));
      std::vector<T> dh_step(taps.K());
      const double loss = loss_and_dh<T>(p.x, p.y, p.W, taps, dh_step, m);
      EXPECT_TRUE(within(got.step_dW, dh_step, tol.step_dW));
      EXPECT_TRUE(scalar_within(got.loss, loss, tol.loss));
    }
  }
}

TEST(Channels, OneChannelIsTheSingleChannelCaseFloat) { expect_single_channel_case<float>(); }
TEST(Channels, OneChannelIsTheSingleChannelCaseDouble) { expect_single_channel_case<double>(); }

// The same bits for any thread count: every method, shapes with many blocks and channels.
template <std::floating_point T>
void expect_thread_independent() {
  const std::vector<ChannelShape> shapes = {same_shape(3, 8, 8, 5000, Taps::centred(7)),
                                            same_shape(3, 9, 7, 2500, Taps::centred(1)),  // short dW kernel
                                            same_shape(2, 6, 4, 20000, Taps::causal(200), 2),
                                            same_shape(4, 12, 12, 3000, Taps::causal(64), 12, 3)};
  const int saved = omp_get_max_threads();
  for (const ChannelShape& s : shapes) {
    const Problem<T> p(s, 5);
    for (const Method m : {Method::direct, Method::fft}) {
      SCOPED_TRACE(describe(s) + " method " + std::string(to_string(m)));
      omp_set_num_threads(1);
      const Outputs<T> one = run_all(p, m);
      for (const int threads : {2, 3, 7}) {
        omp_set_num_threads(threads);
        const Outputs<T> many = run_all(p, m);
        EXPECT_TRUE(bitwise_equal(many.y, one.y));
        EXPECT_TRUE(bitwise_equal(many.dx, one.dx));
        EXPECT_TRUE(bitwise_equal(many.dW, one.dW));
        EXPECT_TRUE(bitwise_equal(many.dbias, one.dbias));
        EXPECT_TRUE(bitwise_equal(many.step_dW, one.step_dW));
        EXPECT_TRUE(bitwise_equal(many.step_dbias, one.step_dbias));
        EXPECT_EQ(many.loss, one.loss);
      }
    }
  }
  omp_set_num_threads(saved);
}

TEST(Channels, ThreadCountDoesNotChangeBitsFloat) { expect_thread_independent<float>(); }
TEST(Channels, ThreadCountDoesNotChangeBitsDouble) { expect_thread_independent<double>(); }

// An empty batch: no outputs, zero gradients, zero loss.
TEST(Channels, EmptyBatchGivesZeroGradients) {
  for (const Method m : {Method::reference, Method::direct, Method::fft}) {
    const Problem<double> p(same_shape(0, 4, 2, 50, Taps::centred(2), 2), 3);
    const Outputs<double> o = run_all(p, m);
    EXPECT_TRUE(o.y.empty());
    EXPECT_EQ(o.loss, 0.0);
    EXPECT_EQ(max_abs(o.dW), 0.0);
    EXPECT_EQ(max_abs(o.dbias), 0.0);
    EXPECT_EQ(max_abs(o.step_dW), 0.0);
  }
}

// Only the outputs asked for are written.
TEST(Channels, EmptyOutputSpansAreSkipped) {
  const Problem<double> p(same_shape(2, 3, 3, 40, Taps::centred(2)), 9);
  for (const Method m : {Method::reference, Method::direct, Method::fft}) {
    std::vector<double> dW(p.s.w_size(), 0.0), want_dW(p.s.w_size());
    grad_channels<double>(p.x, p.W, p.r, {}, dW, {}, p.s, m);
    grad_channels<double>(p.x, p.W, p.r, {}, want_dW, {}, p.s, Method::reference);
    EXPECT_TRUE(within(dW, want_dW, channel_tolerances(p, 0).dW));
  }
}

// ---- hostile shapes --------------------------------------------------------------------------

void expect_invalid(const ChannelShape& s, const char* why) {
  SCOPED_TRACE(why);
  EXPECT_THROW(validate(s), invalid_argument);
  const std::vector<double> none;
  std::vector<double> out;
  EXPECT_THROW(conv_channels<double>(none, none, none, out, s), invalid_argument);
}

TEST(Channels, HostileShapesAreRefused) {
  const ChannelShape ok = same_shape(2, 4, 6, 10, Taps::centred(1), 2);
  EXPECT_NO_THROW(validate(ok));
  ChannelShape s = ok;
  s.groups = 3;  // divides C_out = 6, not C_in = 4
  expect_invalid(s, "groups not dividing in_channels");
  s = ok, s.groups = 4;
  expect_invalid(s, "groups not dividing out_channels");
  s = ok, s.groups = 0;
  expect_invalid(s, "zero groups");
  s = ok, s.in_channels = 0;
  expect_invalid(s, "zero in_channels");
  s = ok, s.out_channels = 0;
  expect_invalid(s, "zero out_channels");
  s = ok, s.n_in = 0;
  expect_invalid(s, "zero n_in");
  s = ok, s.n_out = 0;
  expect_invalid(s, "zero n_out");
  s = ok, s.dilation = 0;
  expect_invalid(s, "zero dilation");
  s = ok, s.taps = Taps{3, 1};
  expect_invalid(s, "hi < lo");
  s = ok, s.batch = std::size_t{1} << 62;
  expect_invalid(s, "x's size overflows");
  s = ok, s.n_out = std::numeric_limits<std::size_t>::max() / 2;
  expect_invalid(s, "y's size overflows");
  s = ok, s.dilation = std::size_t{1} << 40, s.taps = Taps::centred(4);
  expect_invalid(s, "dilation times the tap offset overflows");
  s = ok, s.dilation = std::numeric_limits<std::size_t>::max();
  expect_invalid(s, "absurd dilation");
}

TEST(Channels, WrongSizesAndValuesAreRefused) {
  const Problem<double> p(same_shape(2, 3, 3, 40, Taps::centred(2)), 9);
  std::vector<double> y(p.s.y_size()), dW(p.s.w_size()), shortv(5);
  EXPECT_THROW(conv_channels<double>(shortv, p.W, p.bias, y, p.s), invalid_argument);
  EXPECT_THROW(conv_channels<double>(p.x, shortv, p.bias, y, p.s), invalid_argument);
  EXPECT_THROW(conv_channels<double>(p.x, p.W, shortv, y, p.s), invalid_argument);
  EXPECT_THROW(conv_channels<double>(p.x, p.W, p.bias, shortv, p.s), invalid_argument);
  EXPECT_THROW(grad_channels<double>(p.x, p.W, shortv, {}, dW, {}, p.s), invalid_argument);
  EXPECT_THROW(grad_channels<double>(p.x, p.W, p.r, shortv, {}, {}, p.s), invalid_argument);
  EXPECT_THROW(train_step_channels<double>(p.x, p.W, p.bias, p.y, shortv, {}, p.s), invalid_argument);
  EXPECT_THROW(conv_channels<double>(p.x, p.W, p.bias, y, p.s, Method::jacobian), invalid_argument);
  std::vector<double> bad = p.x;
  bad[17] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(conv_channels<double>(bad, p.W, p.bias, y, p.s), non_finite_input);
}

// The cost model picks direct for short kernels and fft for long ones.
TEST(Channels, CostModelChoosesByKernelLength) {
  EXPECT_EQ(choose_channel_method(same_shape(32, 64, 64, 1024, Taps::centred(1)), 4), Method::direct);
  EXPECT_EQ(choose_channel_method(same_shape(8, 16, 16, 65536, Taps::causal(1023)), 4), Method::fft);
  EXPECT_EQ(choose_channel_method(same_shape(8, 256, 256, 4096, Taps::causal(4096), 256), 4), Method::fft);
}

}  // namespace
}  // namespace convgrad::test
