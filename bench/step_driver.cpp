// Times convgrad's training step for bench/compare.py: loss_and_grad (yhat, r, the loss and
// dh, with yhat and r written out, as the peers produce them) or, with --lean, loss_and_dh
// (the loss and dh only, what a training loop needs; yhat and r stay in cache).
//
//   convgrad_step N K float|double direct|fft|auto THREADS REPS [--dump] [--lean] [--cpu-time]
//   convgrad_step --peak        one core's measured multiply-add peak, float and double
//   convgrad_step --bandwidth   the read bandwidth of one and two threads (the K = 3 limit)
//
// Reads no files. The inputs are a fixed function of the index, so compare.py can rebuild
// them exactly in NumPy and check the result against a float64 reference:
//   u(seed, n) = splitmix64(seed * 2^32 + n) >> 40          (24 random bits)
//   v          = u / 2^24 - 1/2                             (exact in float32)
//   x[n] = v(1, n), y[n] = v(2, n), h[j] = v(3, j) / K      (centred taps, K odd)
// Prints one JSON object: the best and median time of REPS steps after one warm-up step,
// the method auto chose, the loss, and (with --dump) dh. Times are wall-clock; with
// --cpu-time they are the process's CPU time instead, which on a machine shared with other
// work leaves out the time the step waited for a core (for one-thread A/B comparisons: with
// two threads it also counts the time a thread spins at a barrier).
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "convgrad/ops.hpp"
#include "formula_inputs.hpp"
#include "fma_peak.hpp"

namespace {

using convgrad::bench::signal;

// Seconds on the clock the timings use: wall-clock, or this process's CPU time.
double now_seconds(bool cpu_time) {
  if (!cpu_time)
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

template <class T>
int run(std::size_t N, std::size_t K, convgrad::Method method, int reps, bool dump, bool lean,
        bool cpu_time) {
  using namespace convgrad;
  const auto x = signal<T>(1, N, 1.0), y = signal<T>(2, N, 1.0);
  const auto h = signal<T>(3, K, 1.0 / static_cast<double>(K));
  const Taps taps = Taps::centred_for(static_cast<std::int64_t>(K));
  std::vector<T> yhat(lean ? 0 : N), r(lean ? 0 : N), dh(K);
  const Method chosen = resolve_method<T>(method, N, taps).method;
  auto step = [&] {
    return lean ? loss_and_dh<T>(x, y, h, taps, dh, method)
                : loss_and_grad<T>(x, y, h, taps, yhat, r, dh, {}, method);
  };
  double loss = step();  // warm-up: plans, pages
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_seconds(cpu_time);
    loss = step();
    times.push_back(now_seconds(cpu_time) - t0);
  }
  std::sort(times.begin(), times.end());
  std::printf("{\"best_s\": %.9g, \"median_s\": %.9g, \"method\": \"%s\", \"loss\": %.17g", times.front(),
              times[times.size() / 2], std::string(to_string(chosen)).c_str(), loss);
  if (dump) {
    std::printf(", \"dh\": [");
    for (std::size_t j = 0; j < K; ++j) std::printf("%s%.17g", j ? ", " : "", static_cast<double>(dh[j]));
    std::printf("]");
  }
  std::printf("}\n");
  return 0;
}

}  // namespace

// Best of fifteen 0.1 s runs of independent FMA chains on one core, in flops/s (fewer runs
// sometimes all met a disturbance and read the peak 10% low, flattering every fraction).
double peak(bool float64) {
  double best = 0;
  for (int rep = 0; rep < 15; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const double flops = convgrad::bench::fma_chains(float64, std::size_t{1} << 22);
    best =
        std::max(best, flops / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// Best of 20 reads of two arrays of 10^7 doubles (sum x[i] y[i]: what a K = 3 step must
// read at least), in bytes/s, with `threads` OpenMP threads.
double read_bandwidth(int threads) {
  const std::int64_t n = 10'000'000;
  const std::vector<double> x(static_cast<std::size_t>(n), 1.0), y(static_cast<std::size_t>(n), 2.0);
  omp_set_num_threads(threads);
  double best = 1e30, check = 0;
  for (int rep = 0; rep < 20; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    double acc = 0;
#pragma omp parallel for reduction(+ : acc) schedule(static)
    for (std::int64_t i = 0; i < n; ++i)
      acc += x[static_cast<std::size_t>(i)] * y[static_cast<std::size_t>(i)];
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    check += acc;
  }
  if (check != 20.0 * 2.0 * static_cast<double>(n))
    std::fprintf(stderr, "convgrad_step: bandwidth check failed\n");
  return 16.0 * static_cast<double>(n) / best;
}

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--bandwidth") {
    std::printf("{\"read_1t\": %.6g, \"read_2t\": %.6g}\n", read_bandwidth(1), read_bandwidth(2));
    return 0;
  }
  if (argc == 2 && std::string(argv[1]) == "--peak") {
    std::printf("{\"float_flops\": %.6g, \"double_flops\": %.6g, \"target\": \"%s\"}\n", peak(false),
                peak(true), convgrad::bench::fma_target().c_str());
    return 0;
  }
  if (argc < 7) {
    std::fprintf(stderr,
                 "usage: convgrad_step N K float|double direct|fft|auto THREADS REPS [--dump] [--lean] "
                 "[--cpu-time]\n");
    return 2;
  }
  try {
    const std::size_t N = std::stoull(argv[1]), K = std::stoull(argv[2]);
    const std::string dtype = argv[3];
    const convgrad::Method method = convgrad::parse_method(argv[4]);
    omp_set_num_threads(std::stoi(argv[5]));
    const int reps = std::max(1, std::stoi(argv[6]));
    bool dump = false, lean = false, cpu_time = false;
    for (int i = 7; i < argc; ++i) {
      const std::string flag = argv[i];
      if (flag == "--dump")
        dump = true;
      else if (flag == "--lean")
        lean = true;
      else if (flag == "--cpu-time")
        cpu_time = true;
      else
        throw std::invalid_argument("unknown option " + flag);
    }
    if (dtype == "float") return run<float>(N, K, method, reps, dump, lean, cpu_time);
    if (dtype == "double") return run<double>(N, K, method, reps, dump, lean, cpu_time);
    std::fprintf(stderr, "convgrad_step: error: dtype must be float or double\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "convgrad_step: error: %s\n", e.what());
    return 1;
  }
}
