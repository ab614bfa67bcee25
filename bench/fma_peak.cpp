// fma_chains with Highway: this file is compiled once per instruction set
// (hwy/foreach_target.h re-includes it) and HWY_DYNAMIC_DISPATCH calls the best one this
// CPU supports, as the library's kernels do (src/core/direct_simd.cpp), so the peak is
// measured with the vectors the kernels use.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fma_peak.hpp"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "fma_peak.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace convgrad::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// 12 independent chains c = c * a + b of full vectors, `iterations` times: enough chains to
// cover the multiply-add latency times the units that issue them, so the loop runs at the
// core's peak. Returns the flops done (2 per lane per step).
template <typename T>
double fma_chains_impl(std::size_t iterations) {
  const hn::ScalableTag<T> d;
  const auto a = hn::Set(d, T(0.9999999)), b = hn::Set(d, T(1e-7));
  auto c0 = hn::Set(d, T(1.0)), c1 = hn::Set(d, T(1.1)), c2 = hn::Set(d, T(1.2)), c3 = hn::Set(d, T(1.3));
  auto c4 = hn::Set(d, T(1.4)), c5 = hn::Set(d, T(1.5)), c6 = hn::Set(d, T(1.6)), c7 = hn::Set(d, T(1.7));
  auto c8 = hn::Set(d, T(1.8)), c9 = hn::Set(d, T(1.9)), c10 = hn::Set(d, T(2.0)), c11 = hn::Set(d, T(2.1));
  for (std::size_t i = 0; i < iterations; ++i) {
    c0 = hn::MulAdd(c0, a, b);
    c1 = hn::MulAdd(c1, a, b);
    c2 = hn::MulAdd(c2, a, b);
    c3 = hn::MulAdd(c3, a, b);
    c4 = hn::MulAdd(c4, a, b);
    c5 = hn::MulAdd(c5, a, b);
    c6 = hn::MulAdd(c6, a, b);
    c7 = hn::MulAdd(c7, a, b);
    c8 = hn::MulAdd(c8, a, b);
    c9 = hn::MulAdd(c9, a, b);
    c10 = hn::MulAdd(c10, a, b);
    c11 = hn::MulAdd(c11, a, b);
  }
  const auto sum =
      hn::Add(hn::Add(hn::Add(hn::Add(c0, c1), hn::Add(c2, c3)), hn::Add(hn::Add(c4, c5), hn::Add(c6, c7))),
              hn::Add(hn::Add(c8, c9), hn::Add(c10, c11)));
  volatile T sink = hn::GetLane(sum);  // keeps the chains alive
  (void)sink;
  return 2.0 * 12.0 * static_cast<double>(iterations) * static_cast<double>(hn::Lanes(d));
}
double fma_chains_f32(std::size_t iterations) { return fma_chains_impl<float>(iterations); }
double fma_chains_f64(std::size_t iterations) { return fma_chains_impl<double>(iterations); }

}  // namespace HWY_NAMESPACE
}  // namespace convgrad::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace convgrad::bench {

HWY_EXPORT(fma_chains_f32);
HWY_EXPORT(fma_chains_f64);

double fma_chains(bool float64, std::size_t iterations) {
  return float64 ? HWY_DYNAMIC_DISPATCH(fma_chains_f64)(iterations)
                 : HWY_DYNAMIC_DISPATCH(fma_chains_f32)(iterations);
}

std::string fma_target() {
  // The best supported target among those compiled is what dispatch picks.
  const std::int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  return targets ? hwy::TargetName(targets & -targets) : "none";
}

}  // namespace convgrad::bench
#endif  // HWY_ONCE
