// One core's multiply-add peak measured in CPU time, for bench/adaptive_compare.py.
//
//   convgrad_adaptive_peak     {"float_flops": ..., "double_flops": ..., "target": "..."}
//
// The same 12 independent FMA chains as convgrad_step --peak (bench/fma_peak.hpp), timed
// by this thread's CPU clock instead of the wall clock: on a machine shared with other work
// the wall clock also counts time the core spent on others, and short timings can be read
// either way. adaptive_compare.py times the filters by CPU time too, so the fractions of the
// peak compare like with like.
#include <time.h>

#include <algorithm>
#include <cstdio>

#include "fma_peak.hpp"

namespace {

double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double peak(bool float64) {
  double best = 0;
  for (int rep = 0; rep < 15; ++rep) {
    const double t0 = thread_seconds();
    const double flops = convgrad::bench::fma_chains(float64, std::size_t{1} << 25);
    best = std::max(best, flops / (thread_seconds() - t0));
  }
  return best;
}

}  // namespace

int main() {
  const double f = peak(false), d = peak(true);
  std::printf("{\"float_flops\": %.6g, \"double_flops\": %.6g, \"target\": \"%s\"}\n", f, d,
              convgrad::bench::fma_target().c_str());
  return 0;
}
