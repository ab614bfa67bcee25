// The API's one argument order (signals, kernel, tap range, method: docs/derivation.md,
// "Words") computes exactly what the older orders compute, for every method.
#include <gtest/gtest.h>

#include <vector>

#include "convgrad/ops.hpp"

namespace {

using convgrad::Method;
using convgrad::Taps;

template <class T>
void same_bits_in_both_orders() {
  const std::vector<T> x = {1, -2, 3.5, 0.25, -1, 2, 7, -3};
  const std::vector<T> h = {0.5, -1.25, 2};
  const std::vector<T> r = {0.125, 1, -1, 2, 0, 3, -0.5, 1};
  const Taps taps = Taps::range(-1, 1);
  for (const Method m :
       {Method::reference, Method::direct, Method::fft, Method::jacobian, Method::automatic}) {
    const std::vector<T> yhat_new = convgrad::conv<T>(x, h, taps, m);
    const std::vector<T> yhat_old = convgrad::conv<T>(h, taps, x, m);
    EXPECT_EQ(yhat_new, yhat_old);
    const std::vector<T> dx_new = convgrad::grad_input<T>(r, h, taps, m);
    const std::vector<T> dx_old = convgrad::grad_input<T>(h, taps, r, m);
    EXPECT_EQ(dx_new, dx_old);
    // And it is the model: yhat[0] = h[-1] x[1] + h[0] x[0] (x[-1] = 0), exact in the literal loops.
    if (m == Method::reference) EXPECT_EQ(yhat_new[0], h[0] * x[1] + h[1] * x[0]);
    std::vector<T> out(x.size());
    convgrad::conv<T>(x, h, taps, out, m);
    EXPECT_EQ(out, yhat_old);
    convgrad::grad_input<T>(r, h, taps, out, m);
    EXPECT_EQ(out, dx_old);
  }
}

TEST(ArgumentOrder, SignalsFirstThenKernelThenTapsGivesTheSameBitsFloat) {
  same_bits_in_both_orders<float>();
}
TEST(ArgumentOrder, SignalsFirstThenKernelThenTapsGivesTheSameBitsDouble) {
  same_bits_in_both_orders<double>();
}

}  // namespace
