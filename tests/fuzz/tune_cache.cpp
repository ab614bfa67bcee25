// Fuzz target: the tuning cache file (docs/tune.md), read when Method::automatic first looks
// a record up, merged with the new record and written back.
//
// The lookup is for a signal so long (N = 10^12, K = 3 taps) that the cost model predicts
// over a second per step for both methods: a miss then writes a model-only record without
// timing anything, so every run costs a parse, a merge and a write, not a measurement. A
// corrupt cache must never throw (tuning is an optimisation): anything escaping is a finding.
#include "convgrad/method.hpp"
#include "convgrad/tune.hpp"
#include "core/method_internal.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace convgrad::fuzz;
  static const fs::path file = scratch_dir() / "tune.json";
  write_bytes(file, data, size);
  convgrad::set_tuning(true, file);
  convgrad::detail::clear_tuning_memory();  // so that the file is read again
  (void)convgrad::tuned_record<double>(1'000'000'000'000, convgrad::Taps::range(-1, 1));
  return 0;
}
