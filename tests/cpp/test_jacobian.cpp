// The Jacobian way: the materialised matrices hold the entries the derivation gives, their
// products are the gradients, the adjoint identity <J v, w> = <v, J^T w> holds for both
// Jacobians (as matrices and as the operators conv / grad_kernel / grad_input of every
// method), the element-wise "product" of the two Jacobians cannot be formed, and the memory
// budget refuses work it cannot hold, naming the size.
#include <gtest/gtest.h>

#include "convgrad/errors.hpp"
#include "convgrad/jacobian.hpp"
#include "convgrad/ops.hpp"
#include "core/kernels.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

template <std::floating_point T>
Matrix<T> column(const std::vector<T>& v) {
  return Matrix<T>{v.size(), 1, v};
}
template <std::floating_point T>
Matrix<T> row(const std::vector<T>& v) {
  return Matrix<T>{1, v.size(), v};
}

// <a, b> in double. On the dyadic grid in double every product and partial sum is exact.
template <class T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

std::vector<Case> jacobian_cases() {
  std::vector<Case> cases;
  for (const std::size_t N : {1, 2, 3, 7, 16, 33}) {
    const auto Ns = static_cast<std::int64_t>(N);
    for (const Taps taps : {Taps::centred(0), Taps::centred(2), Taps::centred(Ns + 2), Taps::causal(3),
                            Taps::from_lo(-Ns - 1, 3), Taps::from_lo(1, Ns), Taps::from_lo(Ns, 2)})
      cases.push_back({N, taps});
  }
  return cases;
}

template <class T>
class JacobianT : public ::testing::Test {};
using Dtypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(JacobianT, Dtypes);

TYPED_TEST(JacobianT, EntriesAndShapes) {
  using T = TypeParam;
  for (const Case& c : jacobian_cases()) {
    SCOPED_TRACE(describe(c));
    const std::size_t N = c.n, K = c.taps.K();
    const auto x = dyadic<T>(N, 1), h = dyadic<T>(K, 2), r = dyadic<T>(N, 3);
    const auto Jl = jacobian_loss_yhat<T>(r);  // dL/dyhat = r^T, 1 x N
    EXPECT_EQ(Jl.rows, 1u);
    EXPECT_EQ(Jl.cols, N);
    EXPECT_TRUE(bitwise_equal(Jl.data, r));
    const auto Jh = jacobian_yhat_h<T>(x, c.taps);  // dyhat/dh, N x K
    ASSERT_EQ(Jh.rows, N);
    ASSERT_EQ(Jh.cols, K);
    ASSERT_EQ(Jh.data.size(), N * K);
    const auto Jx = jacobian_yhat_x<T>(h, c.taps, N);  // dyhat/dx, N x N
    ASSERT_EQ(Jx.rows, N);
    ASSERT_EQ(Jx.cols, N);
    ASSERT_EQ(Jx.data.size(), N * N);
    const auto Ns = static_cast<std::int64_t>(N);
    for (std::int64_t n = 0; n < Ns; ++n) {
      for (std::size_t j = 0; j < K; ++j) {  // J_h[n][j] = x[n - m], m = lo + j
        const std::int64_t i = n - (c.taps.lo + static_cast<std::int64_t>(j));
        const T want = (i >= 0 && i < Ns) ? x[static_cast<std::size_t>(i)] : T{0};
        ASSERT_EQ(Jh(static_cast<std::size_t>(n), j), want) << "J_h[" << n << "][" << j << "]";
      }
      for (std::int64_t k = 0; k < Ns; ++k) {  // J_x[n][k] = h[n - k] where n - k is a tap
        const std::int64_t m = n - k;
        const T want = (m >= c.taps.lo && m <= c.taps.hi) ? h[static_cast<std::size_t>(m - c.taps.lo)] : T{0};
        ASSERT_EQ(Jx(static_cast<std::size_t>(n), static_cast<std::size_t>(k)), want)
            << "J_x[" << n << "][" << k << "]";
      }
    }
  }
}

// yhat = J_h h, dh = r^T J_h, dx = r^T J_x, and yhat = J_x x as well: bitwise equal to the
// reference loops on dyadic inputs.
TYPED_TEST(JacobianT, ProductsAreTheReferenceSums) {
  using T = TypeParam;
  for (const Case& c : jacobian_cases()) {
    SCOPED_TRACE(describe(c));
    const std::size_t N = c.n, K = c.taps.K();
    const auto x = dyadic<T>(N, 4), h = dyadic<T>(K, 5), r = dyadic<T>(N, 6);
    const auto Jh = jacobian_yhat_h<T>(x, c.taps);
    const auto Jx = jacobian_yhat_x<T>(h, c.taps, N);
    EXPECT_TRUE(bitwise_equal(matmul(Jh, column(h)).data, conv<T>(x, h, c.taps, Method::reference)))
        << "J_h h";
    EXPECT_TRUE(bitwise_equal(matmul(Jx, column(x)).data, conv<T>(x, h, c.taps, Method::reference)))
        << "J_x x";
    const auto dh_row = matmul(jacobian_loss_yhat<T>(r), Jh);
    EXPECT_EQ(dh_row.rows, 1u);
    EXPECT_EQ(dh_row.cols, K);
    EXPECT_TRUE(bitwise_equal(dh_row.data, grad_kernel<T>(x, r, c.taps, Method::reference))) << "r^T J_h";
    const auto dx_row = matmul(jacobian_loss_yhat<T>(r), Jx);
    EXPECT_EQ(dx_row.cols, N);
    EXPECT_TRUE(bitwise_equal(dx_row.data, grad_input<T>(r, h, c.taps, Method::reference))) << "r^T J_x";
    if (::testing::Test::HasFailure()) return;
  }
}

// <J v, w> = <v, J^T w> with the materialised matrices, for any v and w (not only r).
// Dyadic double: both sides are exact sums, so they are equal bit for bit.
TEST(Jacobian, AdjointIdentityOfTheMatrices) {
  using T = double;
  for (const Case& c : jacobian_cases()) {
    SCOPED_TRACE(describe(c));
    const std::size_t N = c.n, K = c.taps.K();
    const auto x = dyadic<T>(N, 7), h = dyadic<T>(K, 8), v = dyadic<T>(K, 9), u = dyadic<T>(N, 10),
               w = dyadic<T>(N, 11);
    const auto Jh = jacobian_yhat_h<T>(x, c.taps), Jx = jacobian_yhat_x<T>(h, c.taps, N);
    // dyhat/dh: J_h v (N x 1) against w;  v against w^T J_h (1 x K).
    EXPECT_EQ(dot(matmul(Jh, column(v)).data, w), dot(v, matmul(row(w), Jh).data)) << "dyhat/dh";
    // dyhat/dx: J_x u against w;  u against w^T J_x.
    EXPECT_EQ(dot(matmul(Jx, column(u)).data, w), dot(u, matmul(row(w), Jx).data)) << "dyhat/dx";
  }
}

// The same identity through the operators of every method: J_h v = conv(x, v) and
// J_h^T w = grad_kernel(x, w); J_x u = conv(u, h) and J_x^T w = grad_input(w, h).
template <class C>
class Adjoint : public ::testing::Test {};
TYPED_TEST_SUITE(Adjoint, AllConfigs, ConfigNames);

TYPED_TEST(Adjoint, OperatorsAreAdjoint) {
  using T = typename TypeParam::type;
  const Method method = TypeParam::method;
  auto cases = jacobian_cases();
  cases.push_back({997, Taps::centred(30)});
  cases.push_back({1000, Taps::from_lo(-1200, 300)});
  for (const bool dy : {true, false}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(describe(c) + (dy ? " dyadic" : " gaussian"));
      const std::size_t N = c.n, K = c.taps.K();
      auto draw = [&](std::size_t n, std::uint64_t seed) {
        return dy ? dyadic<T>(n, seed) : gaussian<T>(n, seed);
      };
      const auto x = draw(N, 12), h = draw(K, 13), v = draw(K, 14), u = draw(N, 15), w = draw(N, 16);
      const auto Jv = conv<T>(x, v, c.taps, method), JTw = grad_kernel<T>(x, w, c.taps, method);
      const auto Ju = conv<T>(u, h, c.taps, method), JxTw = grad_input<T>(w, h, c.taps, method);
      if (dy && std::is_same_v<T, double> && sums_products<T>(method, N, K)) {
        EXPECT_EQ(dot(Jv, w), dot(v, JTw)) << "dyhat/dh";
        EXPECT_EQ(dot(Ju, w), dot(u, JxTw)) << "dyhat/dx";
      } else {
        // Each side is an inner product of a computed vector with an exact one: the vector
        // errs within its agreement tolerance per entry (sqrt(length) of it in norm), the
        // double inner product within length * eps_double * ||a|| ||b||.
        const double eps_d = std::numeric_limits<double>::epsilon();
        const double sN = std::sqrt(static_cast<double>(N)), sK = std::sqrt(static_cast<double>(K));
        const auto th = tolerances<T>(x, v, w), tx = tolerances<T>(u, h, w);
        const double tol_h = norm2(w) * sN * th.yhat + norm2(v) * sK * th.dh +
                             eps_d * (N * norm2(Jv) * norm2(w) + K * norm2(v) * norm2(JTw));
        const double tol_x = norm2(w) * sN * tx.yhat + norm2(u) * sN * tx.dx +
                             eps_d * N * (norm2(Ju) * norm2(w) + norm2(u) * norm2(JxTw));
        EXPECT_TRUE(scalar_within(dot(Jv, w), dot(v, JTw), tol_h)) << "dyhat/dh";
        EXPECT_TRUE(scalar_within(dot(Ju, w), dot(u, JxTw), tol_x)) << "dyhat/dx";
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

// The common mistake: multiplying dL/dyhat (1 x N) and dyhat/dh (N x K) element-wise. Their
// shapes differ, and the only matrix product that exists is r^T J_h; J_h r^T does not fit.
TEST(Jacobian, TheElementWiseProductCannotBeFormed) {
  const std::vector<double> x = {1, 2, 3, 4, 5}, r = {4, 9, 16, 23, 20};
  const auto Jl = jacobian_loss_yhat<double>(r);                         // 1 x 5
  const auto Jh = jacobian_yhat_h<double>(x, Taps::centred(1));          // 5 x 3
  EXPECT_EQ(matmul(Jl, Jh).data, (std::vector<double>{214, 262, 190}));  // the worked example's dh
  try {
    matmul(Jh, Jl);  // (5 x 3)(1 x 5): inner sizes 3 and 1
    ADD_FAILURE() << "a 5 x 3 times 1 x 5 product was formed";
  } catch (const invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("5 x 3"), std::string::npos) << what;
    EXPECT_NE(what.find("1 x 5"), std::string::npos) << what;
  }
  EXPECT_THROW(matmul(Jl, Jl), invalid_argument);  // (1 x 5)(1 x 5)
}

// The budget: exactly at it is allowed, one byte over is refused, and the message names the
// matrix, its shape and the MiB it would need.
TEST(Jacobian, BudgetRefusesAndNamesTheSize) {
  EXPECT_NO_THROW(
      detail::jacobian::require_within_budget<double>(4, 8, 256, "dyhat/dh"));  // 4 * 8 * 8 = 256 bytes
  EXPECT_THROW(detail::jacobian::require_within_budget<double>(4, 8, 255, "dyhat/dh"), resource_limit);
  EXPECT_NO_THROW(detail::jacobian::require_within_budget<float>(4, 8, 128, "dyhat/dh"));
  EXPECT_THROW(detail::jacobian::require_within_budget<float>(4, 8, 127, "dyhat/dh"), resource_limit);
  // Shapes whose byte count overflows 64 bits are refused, not wrapped around to small.
  EXPECT_THROW(detail::jacobian::require_within_budget<double>(std::size_t{1} << 40, std::size_t{1} << 40,
                                                               kDefaultJacobianBudget, "dyhat/dx"),
               resource_limit);

  try {
    jacobian_yhat_x<double>(std::vector<double>(3, 1.0), Taps::centred(1), 10000);  // 800 MB
    ADD_FAILURE() << "a 10000 x 10000 Jacobian was materialised";
  } catch (const resource_limit& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("dyhat/dx"), std::string::npos) << what;
    EXPECT_NE(what.find("10000 x 10000"), std::string::npos) << what;
    EXPECT_NE(what.find("763 MiB"), std::string::npos) << what;  // 8e8 bytes, rounded up
    EXPECT_NE(what.find("256 MiB"), std::string::npos) << what;
  }
  const std::vector<float> x(100, 1.0f);
  EXPECT_THROW(jacobian_yhat_h<float>(x, Taps::centred(2), 100 * 5 * 4 - 1), resource_limit);
  EXPECT_EQ(jacobian_yhat_h<float>(x, Taps::centred(2), 100 * 5 * 4).data.size(), 500u);
}

// Through the public operations: method jacobian refuses a signal whose J_x (N x N) would
// exceed 256 MiB, before allocating it, and says which method to use instead.
TEST(Jacobian, MethodJacobianRefusesLongSignals) {
  const std::size_t N = 6000;  // 6000^2 doubles = 288 MB
  const auto h = gaussian<double>(5, 1), r = gaussian<double>(N, 2), x = gaussian<double>(N, 3);
  try {
    grad_input<double>(r, h, Taps::centred(2), Method::jacobian);
    ADD_FAILURE() << "no resource_limit";
  } catch (const resource_limit& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("6000 x 6000"), std::string::npos) << what;
    EXPECT_NE(what.find("275 MiB"), std::string::npos) << what;
    EXPECT_NE(what.find("direct"), std::string::npos) << what;
  }
  EXPECT_THROW(loss_and_grad<double>(x, r, h, Taps::centred(2), Method::jacobian, true), resource_limit);
  // dh alone needs only J_h (6000 x 5): fine.
  EXPECT_NO_THROW(loss_and_grad<double>(x, r, h, Taps::centred(2), Method::jacobian, false));
  // J_h above the budget: N x K = 2^20 x 33 doubles = 264 MiB.
  const std::vector<double> long_x(std::size_t{1} << 20, 0.5), k33(33, 0.25);
  EXPECT_THROW(conv<double>(long_x, k33, Taps::centred(16), Method::jacobian), resource_limit);
}

}  // namespace
}  // namespace convgrad::test
