// The API's one argument order (signals, kernel, tap range, method: docs/derivation.md,
// "Words") computes exactly what the older, deprecated orders conv(h, taps, x) and
// grad_input(h, taps, r) compute, for every method: the old orders are forwarders kept for
// existing callers, and this test is their one remaining caller.
#include <gtest/gtest.h>

#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/ops.hpp"

namespace {

using convgrad::Method;
using convgrad::Taps;

// The deprecated kernel-first orders, called on purpose; nothing else in the project may.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
template <class T>
std::vector<T> conv_kernel_first(const std::vector<T>& h, Taps taps, const std::vector<T>& x, Method m) {
  return convgrad::conv<T>(h, taps, x, m);
}
template <class T>
std::vector<T> grad_input_kernel_first(const std::vector<T>& h, Taps taps, const std::vector<T>& r,
                                       Method m) {
  return convgrad::grad_input<T>(h, taps, r, m);
}
template <class T>
void conv_kernel_first(const std::vector<T>& h, Taps taps, const std::vector<T>& x, std::vector<T>& yhat,
                       Method m) {
  convgrad::conv<T>(h, taps, x, yhat, m);
}
template <class T>
void grad_input_kernel_first(const std::vector<T>& h, Taps taps, const std::vector<T>& r, std::vector<T>& dx,
                             Method m) {
  convgrad::grad_input<T>(h, taps, r, dx, m);
}
#pragma GCC diagnostic pop

template <class T>
void same_bits_in_both_orders() {
  const std::vector<T> x = {1, -2, 3.5, 0.25, -1, 2, 7, -3};
  const std::vector<T> h = {0.5, -1.25, 2};
  const std::vector<T> r = {0.125, 1, -1, 2, 0, 3, -0.5, 1};
  const Taps taps = Taps::range(-1, 1);
  for (const Method m :
       {Method::reference, Method::direct, Method::fft, Method::jacobian, Method::automatic}) {
    const std::vector<T> yhat_new = convgrad::conv<T>(x, h, taps, m);
    const std::vector<T> yhat_old = conv_kernel_first<T>(h, taps, x, m);
    EXPECT_EQ(yhat_new, yhat_old);
    const std::vector<T> dx_new = convgrad::grad_input<T>(r, h, taps, m);
    const std::vector<T> dx_old = grad_input_kernel_first<T>(h, taps, r, m);
    EXPECT_EQ(dx_new, dx_old);
    // And it is the model: yhat[0] = h[-1] x[1] + h[0] x[0] (x[-1] = 0), exact in the literal loops.
    if (m == Method::reference) EXPECT_EQ(yhat_new[0], h[0] * x[1] + h[1] * x[0]);
    // The forms that write into caller storage, in both orders.
    std::vector<T> out(x.size()), out_old(x.size());
    convgrad::conv<T>(x, h, taps, out, m);
    conv_kernel_first<T>(h, taps, x, out_old, m);
    EXPECT_EQ(out, yhat_new);
    EXPECT_EQ(out_old, yhat_new);
    convgrad::grad_input<T>(r, h, taps, out, m);
    grad_input_kernel_first<T>(h, taps, r, out_old, m);
    EXPECT_EQ(out, dx_new);
    EXPECT_EQ(out_old, dx_new);
  }
}

// The old order still validates as the new one does: it forwards, so the messages name the
// same arguments.
TEST(ArgumentOrder, DeprecatedOrderReportsTheSameErrors) {
  const std::vector<double> x = {1, 2, 3}, h_short = {1, 2};
  const Taps taps = Taps::range(-1, 1);
  EXPECT_THROW(convgrad::conv<double>(x, h_short, taps), convgrad::invalid_argument);
  EXPECT_THROW(conv_kernel_first<double>(h_short, taps, x, Method::automatic), convgrad::invalid_argument);
  EXPECT_THROW(grad_input_kernel_first<double>(h_short, taps, x, Method::automatic),
               convgrad::invalid_argument);
}

TEST(ArgumentOrder, SignalsFirstThenKernelThenTapsGivesTheSameBitsFloat) {
  same_bits_in_both_orders<float>();
}
TEST(ArgumentOrder, SignalsFirstThenKernelThenTapsGivesTheSameBitsDouble) {
  same_bits_in_both_orders<double>();
}

}  // namespace
