// `convgrad demo`: the main job on a built-in example, with no arguments and no files.
//
// A seeded coloured input x and a known 15-tap low-pass filter h_true make the target
// y = h_true * x + noise. The filter is learned from h = 0 by gradient descent with the step
// 1/lambda_max of X^T X (estimated by power iteration through conv and grad_kernel), which
// provably decreases the loss; progress is printed; at the end the learned taps stand beside
// the true ones and the exact least-squares answer. First, the gradient at the starting point
// is computed every way (reference, direct, jacobian, fft, finite differences) to show the
// ways agree.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "convgrad/check.hpp"
#include "convgrad/fit.hpp"

namespace convgrad::cli {
namespace {

constexpr std::size_t kN = 4000;  // samples
constexpr std::int64_t kM = 7;    // taps m = -7..7 (K = 15)
constexpr std::uint64_t kSeed = 2024;
constexpr double kColour = 0.8;        // x[n] = 0.8 x[n-1] + w[n]: a low-pass input
constexpr double kNoise = 0.05;        // standard deviation of the additive noise
constexpr double kCutoff = 0.2;        // of the true filter, in cycles per sample
constexpr std::size_t kCheckN = 1000;  // samples for the gradient check: finite differences
                                       // cost 2 (N + K) loss evaluations of N K each

// The true filter: a Hann-windowed sinc low-pass, h[m] = 2 fc sinc(2 fc m) w[m], normalised
// to unit gain at DC.
std::vector<double> true_filter(Taps taps) {
  std::vector<double> h(taps.K());
  double sum = 0;
  for (std::size_t j = 0; j < h.size(); ++j) {
    const double m = static_cast<double>(taps.lo + static_cast<std::int64_t>(j));
    const double arg = 2 * std::numbers::pi * kCutoff * m;
    const double sinc = m == 0 ? 1.0 : std::sin(arg) / arg;
    const double window = 0.5 + 0.5 * std::cos(std::numbers::pi * m / static_cast<double>(kM + 1));
    h[j] = 2 * kCutoff * sinc * window;
    sum += h[j];
  }
  for (double& v : h) v /= sum;
  return h;
}

// Print at iterations 0, 1, 2, 5, 10, 20, 50, ... (a 1-2-5 sequence), so a run of any length
// shows a screenful.
bool worth_printing(std::size_t it) {
  if (it < 3) return true;
  std::size_t p = 1;
  while (p * 10 <= it) p *= 10;
  return it == p || it == 2 * p || it == 5 * p;
}

void print_check(const CheckReport& rep) {
  std::printf("  %-18s %-6s %-12s %-12s %s\n", "method", "output", "max |diff|", "tolerance", "agrees");
  for (const CheckRow& row : rep.rows) {
    if (row.skipped) {
      std::printf("  %-18s %-6s skipped (%s)\n", row.method.c_str(), row.quantity.c_str(), row.note.c_str());
      continue;
    }
    std::printf("  %-18s %-6s %-12.2e %-12.2e %s\n", row.method.c_str(), row.quantity.c_str(),
                row.max_abs_diff, row.tolerance, row.ok ? "yes" : "NO");
  }
}

int run_demo() {
  const auto t0 = std::chrono::steady_clock::now();
  const Taps taps = Taps::centred(kM);
  // The recording: white Gaussian w (seeded, portable) coloured by a one-pole low-pass; the
  // second Gaussian sequence of the case serves as the noise.
  const Case c = random_case(kN, taps, kSeed);
  std::vector<double> x(kN), y(kN);
  for (std::size_t n = 0; n < kN; ++n) x[n] = (n ? kColour * x[n - 1] : 0.0) + c.x[n];
  const std::vector<double> h_true = true_filter(taps);
  const std::vector<double> clean = conv<double>(x, h_true, taps);
  for (std::size_t n = 0; n < kN; ++n) y[n] = clean[n] + kNoise * c.y[n];

  std::printf("convgrad demo: learn a filter from an input and a target by gradient descent\n\n");
  std::printf("Data (seed %llu): N = %zu samples of a coloured input, x[n] = %.1f x[n-1] + w[n] (w white),\n",
              static_cast<unsigned long long>(kSeed), kN, kColour);
  std::printf(
      "target y = h_true * x + noise (sigma %.2f); h_true is a %zu-tap low-pass, taps m = %lld..%lld.\n",
      kNoise, taps.K(), static_cast<long long>(taps.lo), static_cast<long long>(taps.hi));
  std::printf("Loss L(h) = 1/2 ||h * x - y||^2; its gradient dL/dh[m] = sum_n x[n-m] (yhat[n] - y[n]).\n\n");

  // 1. Every form of the gradient at the starting point.
  const std::vector<double> h0(taps.K(), 0.0);
  const std::span<const double> xs(x.data(), kCheckN), ys(y.data(), kCheckN);
  const CheckReport rep = check_gradients<double>(xs, ys, h0, taps);
  std::printf("1. The gradient at the starting point h = 0 on the first %zu samples, computed every way,\n",
              kCheckN);
  std::printf(
      "   against the reference loops (at h = 0 the input gradient dx = sum_m h[m] r[k+m] is zero):\n\n");
  print_check(rep);
  std::printf("\n   %s\n\n",
              rep.ok() ? "all agree within their derived tolerances" : "DISAGREEMENT beyond tolerance");

  // 2. Gradient descent from zero.
  const std::vector<Pair<double>> data = {{x, y}};
  FitOptions o;
  o.solver = Solver::gd;
  o.max_iter = 20000;
  o.progress = [](const Progress& p) {
    if (worth_printing(p.iteration))
      std::printf("  %9zu   %-14.6e %-14.6e\n", p.iteration, p.loss, p.grad_norm);
    return true;
  };
  std::printf(
      "2. Gradient descent from h = 0, h <- h - (1/lambda_max) dL/dh, lambda_max of X^T X by power\n");
  std::printf(
      "   iteration (X^T X v = grad_kernel(x, conv(x, v))). With this step the loss cannot increase.\n\n");
  std::printf("  %9s   %-14s %-14s\n", "iteration", "loss", "|dL/dh|");
  const std::vector<double> start(taps.K(), 0.0);
  const FitResult<double> gd = fit<double>(data, taps, o, start);
  if (!worth_printing(gd.iterations))
    std::printf("  %9zu   %-14.6e %-14.6e\n", gd.iterations, gd.history.back().loss,
                gd.history.back().grad_norm);
  std::printf("\n  lambda_max = %.6g, step = %.6g; stopped after %zu iterations (%s) in %.3f s\n\n",
              gd.lambda_max, gd.step, gd.iterations, gd.stop_reason.c_str(), gd.seconds);
  // Monotone up to the rounding of the loss evaluations themselves (fit.hpp, loss_rounding):
  // near the minimum successive losses agree to ~1e-15 and may tie or swap in the last bit.
  const double rounding = 2 * loss_rounding<double>(data, gd.h, gd.pair_loss);
  bool monotone = true;
  for (std::size_t k = 1; k < gd.history.size(); ++k)
    monotone &= gd.history[k].loss <= gd.history[k - 1].loss + rounding;

  // 3. The learned filter beside the truth and the exact least-squares answer.
  FitOptions e;
  e.solver = Solver::exact;
  const FitResult<double> exact = fit<double>(data, taps, e);
  std::printf("3. Learned taps beside the true ones (and the exact least-squares solution of the normal\n");
  std::printf("   equations, condition number %.3g):\n\n", *exact.condition);
  std::printf("  %4s  %12s  %12s  %12s  %10s\n", "m", "true", "learned", "exact LS", "|err|");
  for (std::size_t j = 0; j < taps.K(); ++j)
    std::printf("  %4lld  %12.6f  %12.6f  %12.6f  %10.2e\n",
                static_cast<long long>(taps.lo) + static_cast<long long>(j), h_true[j], gd.h[j], exact.h[j],
                std::abs(gd.h[j] - h_true[j]));
  auto rel = [](const std::vector<double>& a, const std::vector<double>& b) {
    double d = 0, nb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]), nb += b[i] * b[i];
    return std::sqrt(d / nb);
  };
  std::printf("\n  ||learned - true|| / ||true||     = %.3e   (the noise sets this floor)\n",
              rel(gd.h, h_true));
  std::printf(
      "  ||learned - exact|| / ||exact||   = %.3e   (gradient descent found the least-squares answer)\n",
      rel(gd.h, exact.h));
  std::printf("  loss: learned %.10g, exact %.10g; the loss never increased (beyond rounding, %.1e): %s\n",
              gd.loss, exact.loss, rounding, monotone ? "yes" : "NO");
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "\nDone in %.2f s. Next: `convgrad fit --x X --y Y --causal 63 --out h.npy` learns from your own "
      "recordings.\n",
      total);
  return rep.ok() && monotone ? 0 : 1;
}

}  // namespace

Run add_demo(CLI::App& app) {
  app.add_subcommand("demo",
                     "learn a 15-tap filter from a built-in example by gradient descent (no files needed)");
  return [] { return run_report(run_demo); };
}

}  // namespace convgrad::cli
