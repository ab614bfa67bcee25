// One training step through the installed convgrad, on the worked example of DESIGN.md:
//
//   x = [1, 2, 3, 4, 5], h = [1, 2, 3] at taps m = -1..1, y = [0, 1, 0, -1, 2]
//   yhat = [4, 10, 16, 22, 22], r = yhat - y = [4, 9, 16, 23, 20]
//   L = 1/2 sum r^2 = 641,  dh[m] = sum_n x[n-m] r[n] = [214, 262, 190]
//
// then a gradient step h <- h - eta dh, which must lower the loss. Exits 0 when every result
// is right, 1 (naming the wrong value) otherwise, so a test can run it.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

#include "convgrad/check.hpp"
#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"

namespace {

bool expect_equal(const char* what, double got, double want) {
  if (got == want) return true;
  std::fprintf(stderr, "train_step: %s = %.17g, expected %.17g\n", what, got, want);
  return false;
}

double norm(std::span<const double> v) {
  double s = 0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

// trace(X^T X) = sum_m sum_n x[n-m]^2 over the samples each tap reaches. It bounds the
// largest eigenvalue of the loss's Hessian X^T X, so a step eta = 1 / trace is at most
// 1 / lambda_max, and a gradient step that short never increases a quadratic loss.
double gram_trace(std::span<const double> x, convgrad::Taps taps) {
  const auto n = static_cast<std::int64_t>(x.size());
  double trace = 0;
  for (std::int64_t m = taps.lo; m <= taps.hi; ++m)
    for (std::int64_t i = 0; i < n; ++i)
      if (i + m >= 0 && i + m < n) trace += x[i] * x[i];  // x[i] = x[n' - m] at n' = i + m
  return trace;
}

}  // namespace

int main() {
  const std::vector<double> x{1, 2, 3, 4, 5}, y{0, 1, 0, -1, 2};
  std::vector<double> h{1, 2, 3};
  const convgrad::Taps taps = convgrad::Taps::range(-1, 1);  // m = -1..1
  const std::vector<double> dh_want{214, 262, 190};

  // The direct method sums small integers in double: every partial sum is exact, so the
  // results must equal the worked example bit for bit.
  std::vector<double> dh(taps.K());
  const double loss = convgrad::loss_and_dh<double>(x, y, h, taps, dh, convgrad::Method::direct);
  bool ok = expect_equal("L", loss, 641);
  for (std::size_t j = 0; j < dh.size(); ++j) ok &= expect_equal("dh[j]", dh[j], dh_want[j]);

  // The FFT route (FFTW) rounds; it must agree within the library's documented tolerance for
  // sums of N products x[n-m] r[n].
  const auto step = convgrad::loss_and_grad<double>(x, y, h, taps, convgrad::Method::fft);
  const double tol = convgrad::agreement_tolerance<double>(x.size(), x.size(), norm(x), norm(step.r));
  for (std::size_t j = 0; j < dh.size(); ++j)
    if (std::abs(step.dh[j] - dh_want[j]) > tol) {
      std::fprintf(stderr, "train_step: fft dh[%zu] = %.17g, expected %g within %g\n", j, step.dh[j],
                   dh_want[j], tol);
      ok = false;
    }

  // The training step: h <- h - eta dh with eta = 1 / trace(X^T X) <= 1 / lambda_max.
  const double eta = 1 / gram_trace(x, taps);
  for (std::size_t j = 0; j < h.size(); ++j) h[j] -= eta * dh[j];
  std::vector<double> dh_next(taps.K());
  const double loss_next = convgrad::loss_and_dh<double>(x, y, h, taps, dh_next);
  if (!(loss_next < loss)) {
    std::fprintf(stderr, "train_step: the step did not lower the loss (%.17g -> %.17g)\n", loss, loss_next);
    ok = false;
  }

  std::printf("L = %g, dh = [%g, %g, %g]; after one step (eta = 1/%g) L = %.6g\n", loss, dh[0], dh[1], dh[2],
              1 / eta, loss_next);
  return ok ? 0 : 1;
}
