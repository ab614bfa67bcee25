// Microbenchmarks of each kernel, one row per (kernel, dtype, N, K). Throughput is reported
// as taps/s = N K per call (items_per_second); a training step is two multiply-adds per tap
// (yhat and dh), a single pass (conv, dh, dx) one.
//
//   build/bench/bench_kernels --benchmark_filter=step_direct
//
// Absolute times drift on a shared machine: compare rows from one run, and see compare.py
// for the side-by-side comparison with PyTorch, NumPy and SciPy.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <random>
#include <vector>

#include "convgrad/ops.hpp"
#include "core/kernels.hpp"
#include "core/simd.hpp"
#include "fma_peak.hpp"

namespace {

using convgrad::Taps;

template <class T>
std::vector<T> noise(std::size_t n, unsigned seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  std::vector<T> v(n);
  for (T& a : v) a = static_cast<T>(u(rng) * scale);
  return v;
}

struct Problem {
  std::size_t N, K;
  Taps taps;
};

Problem problem(const benchmark::State& state) {
  const auto N = static_cast<std::size_t>(state.range(0)), K = static_cast<std::size_t>(state.range(1));
  omp_set_num_threads(static_cast<int>(state.range(2)));
  return {N, K, Taps::centred_for(static_cast<std::int64_t>(K))};
}

void report(benchmark::State& state, const Problem& p) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(p.N * p.K));
  state.counters["threads"] = static_cast<double>(state.range(2));
}

// The fused training step (yhat, r, loss, dh) by one method.
template <class T, convgrad::Method M>
void step(benchmark::State& state) {
  const Problem p = problem(state);
  const auto x = noise<T>(p.N, 1), y = noise<T>(p.N, 2), h = noise<T>(p.K, 3, 1.0 / p.K);
  std::vector<T> yhat(p.N), r(p.N), dh(p.K);
  for (auto _ : state) {
    const double L = convgrad::loss_and_grad<T>(x, y, h, p.taps, yhat, r, dh, {}, M);
    benchmark::DoNotOptimize(L);
  }
  report(state, p);
}

// One pass: yhat = h * x, dh from given r, or dx from given r.
enum class Pass { conv, grad_kernel, grad_input };
template <class T, convgrad::Method M, Pass P>
void pass(benchmark::State& state) {
  const Problem p = problem(state);
  const auto x = noise<T>(p.N, 1), r = noise<T>(p.N, 2), h = noise<T>(p.K, 3, 1.0 / p.K);
  std::vector<T> out(P == Pass::grad_kernel ? p.K : p.N);
  for (auto _ : state) {
    if constexpr (P == Pass::conv) convgrad::conv<T>(x, h, p.taps, out, M);
    if constexpr (P == Pass::grad_kernel) convgrad::grad_kernel<T>(x, r, p.taps, out, M);
    if constexpr (P == Pass::grad_input) convgrad::grad_input<T>(r, h, p.taps, out, M);
    benchmark::DoNotOptimize(out.data());
  }
  report(state, p);
}

// The SIMD inner kernels on one cache-resident block (no threads, no edges).
template <class T>
void simd_correlate(benchmark::State& state) {
  const auto B = static_cast<std::size_t>(state.range(0)), K = static_cast<std::size_t>(state.range(1));
  const auto s = noise<T>(B + K - 1, 1), w = noise<T>(K, 2);
  std::vector<T> out(B);
  for (auto _ : state) {
    convgrad::detail::simd::correlate(w.data(), K, s.data(), out.data(), B);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * B * K));
  state.SetLabel(convgrad::detail::simd::current_target());
}
template <class T>
void simd_correlate_accumulate(benchmark::State& state) {
  const auto B = static_cast<std::size_t>(state.range(0)), K = static_cast<std::size_t>(state.range(1));
  const auto s = noise<T>(B + K - 1, 1), r = noise<T>(B, 2);
  std::vector<double> g(K);
  for (auto _ : state) {
    convgrad::detail::simd::correlate_accumulate(s.data(), r.data(), B, K, g.data());
    benchmark::DoNotOptimize(g.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * B * K));
  state.SetLabel(convgrad::detail::simd::current_target());
}

// Peak multiply-add rate of one core: independent FMA chains on full vectors (no memory
// traffic), so "fraction of peak" has a measured denominator. Reports flops/s.
template <class T>
void fma_peak(benchmark::State& state) {
  double flops = 0;
  for (auto _ : state) flops += convgrad::bench::fma_chains(sizeof(T) == 8, 1 << 20);
  state.counters["flops"] = benchmark::Counter(flops, benchmark::Counter::kIsRate);
  state.SetLabel(convgrad::bench::fma_target());
}

void grid(benchmark::internal::Benchmark* b) {
  for (const std::int64_t threads : {1, 2})
    for (const std::int64_t N : {100000, 1000000})
      for (const std::int64_t K : {3, 31, 255, 4095}) b->Args({N, K, threads});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

void blocks(benchmark::internal::Benchmark* b) {
  for (const std::int64_t K : {3, 31, 255, 4095}) b->Args({2048, K});
}

}  // namespace

using convgrad::Method;
BENCHMARK(step<float, Method::direct>)->Apply(grid);
BENCHMARK(step<double, Method::direct>)->Apply(grid);
BENCHMARK(step<float, Method::fft>)->Apply(grid);
BENCHMARK(step<double, Method::fft>)->Apply(grid);
BENCHMARK(pass<float, Method::direct, Pass::conv>)->Apply(grid);
BENCHMARK(pass<float, Method::direct, Pass::grad_kernel>)->Apply(grid);
BENCHMARK(pass<float, Method::direct, Pass::grad_input>)->Apply(grid);
BENCHMARK(pass<float, Method::fft, Pass::conv>)->Apply(grid);
BENCHMARK(pass<float, Method::fft, Pass::grad_kernel>)->Apply(grid);
BENCHMARK(pass<float, Method::fft, Pass::grad_input>)->Apply(grid);
BENCHMARK(simd_correlate<float>)->Apply(blocks);
BENCHMARK(simd_correlate<double>)->Apply(blocks);
BENCHMARK(simd_correlate_accumulate<float>)->Apply(blocks);
BENCHMARK(simd_correlate_accumulate<double>)->Apply(blocks);
BENCHMARK(fma_peak<float>);
BENCHMARK(fma_peak<double>);

BENCHMARK_MAIN();
