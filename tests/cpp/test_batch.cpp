// The batched operations (convgrad/batch.hpp) against the single-signal functions they loop
// over: every row of conv_rows and grad_input_rows is bitwise the single-signal result, and
// grad_kernel_rows is the sum of the rows' dh accumulated in double, rounded once.
#include <gtest/gtest.h>

#include <vector>

#include "convgrad/batch.hpp"
#include "convgrad/errors.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

template <typename T>
class Batch : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Batch, Types);

// Shapes at the edges: one row, one sample, K > N, a long kernel on the FFT path.
struct Shape {
  std::size_t B, N, K;
  std::int64_t lo;
};
const Shape kShapes[] = {{1, 1, 1, 0}, {3, 7, 3, -1}, {4, 5, 9, -4}, {2, 200, 31, 0}, {3, 3000, 257, -128}};

template <typename T>
std::vector<T> row(const std::vector<T>& a, std::size_t b, std::size_t N) {
  return {a.begin() + static_cast<std::ptrdiff_t>(b * N),
          a.begin() + static_cast<std::ptrdiff_t>((b + 1) * N)};
}

TYPED_TEST(Batch, EveryRowIsTheSingleSignalResult) {
  using T = TypeParam;
  for (const Shape& s : kShapes) {
    const Taps taps = Taps::from_lo(s.lo, static_cast<std::int64_t>(s.K));
    const auto X = gaussian<T>(s.B * s.N, 1 + s.N), R = gaussian<T>(s.B * s.N, 2 + s.N);
    const auto h = gaussian<T>(s.K, 3 + s.K);
    std::vector<T> Y(X.size()), DX(R.size()), dh(s.K);
    conv_rows<T>(X, s.N, h, taps, Y);
    grad_input_rows<T>(R, s.N, h, taps, DX);
    grad_kernel_rows<T>(X, R, s.N, taps, dh);
    std::vector<double> sum(s.K, 0.0);
    for (std::size_t b = 0; b < s.B; ++b) {
      const auto x = row(X, b, s.N), r = row(R, b, s.N);
      EXPECT_EQ(row(Y, b, s.N), conv<T>(x, h, taps)) << "conv row " << b << " N = " << s.N;
      EXPECT_EQ(row(DX, b, s.N), grad_input<T>(r, h, taps)) << "grad_input row " << b << " N = " << s.N;
      const auto dh_b = grad_kernel<T>(x, r, taps);
      for (std::size_t j = 0; j < s.K; ++j) sum[j] += static_cast<double>(dh_b[j]);
    }
    for (std::size_t j = 0; j < s.K; ++j) EXPECT_EQ(dh[j], static_cast<T>(sum[j])) << "dh[" << j << "]";
  }
}

TYPED_TEST(Batch, AnEmptyBatchGivesEmptyRowsAndAZeroGradient) {
  using T = TypeParam;
  const Taps taps = Taps::centred(1);
  const std::vector<T> h{1, 2, 3}, none;
  std::vector<T> out, dh(3, T{7});
  conv_rows<T>(none, 4, h, taps, out);
  grad_kernel_rows<T>(none, none, 4, taps, dh);
  EXPECT_EQ(dh, (std::vector<T>{0, 0, 0}));
}

TYPED_TEST(Batch, SizesThatDisagreeAreRefusedWithTheRowNamed) {
  using T = TypeParam;
  const Taps taps = Taps::centred(1);
  const std::vector<T> h{1, 2, 3}, X(12, T{1});
  std::vector<T> Y(12), short_Y(11), dh(3), wrong_dh(2);
  EXPECT_THROW(conv_rows<T>(X, 0, h, taps, Y), invalid_argument);        // rows of 0 samples
  EXPECT_THROW(conv_rows<T>(X, 5, h, taps, Y), invalid_argument);        // 12 is not whole rows of 5
  EXPECT_THROW(conv_rows<T>(X, 4, h, taps, short_Y), invalid_argument);  // output of another size
  EXPECT_THROW(grad_kernel_rows<T>(X, std::vector<T>(8), 4, taps, dh), invalid_argument);
  EXPECT_THROW(grad_kernel_rows<T>(X, X, 4, taps, wrong_dh), invalid_argument);
  EXPECT_THROW(grad_input_rows<T>(X, 4, h, taps, short_Y), invalid_argument);
  std::vector<T> bad = X;
  bad[9] = std::numeric_limits<T>::quiet_NaN();  // row 2, sample 1
  try {
    conv_rows<T>(bad, 4, h, taps, Y);
    FAIL() << "a NaN in row 2 was accepted";
  } catch (const non_finite_input& e) {
    EXPECT_NE(std::string(e.what()).find("row 2"), std::string::npos) << e.what();
    EXPECT_EQ(e.index, 1u);
  }
}

}  // namespace
}  // namespace convgrad::test
