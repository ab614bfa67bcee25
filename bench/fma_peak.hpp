// The core's multiply-add peak, the denominator of bench/compare.py's "fraction of peak".
// A benchmark tool, not part of the library: it lives with the benchmarks.
#pragma once

#include <cstddef>
#include <string>

namespace convgrad::bench {

// 12 independent multiply-add chains over full vectors of the widest instruction set this
// CPU has, `iterations` steps, with no memory traffic. Returns the flops done.
double fma_chains(bool float64, std::size_t iterations);

// The instruction set fma_chains dispatches to (e.g. "AVX3").
std::string fma_target();

}  // namespace convgrad::bench
