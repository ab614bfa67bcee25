// `convgrad tune`: time one training step by the direct and the FFT method for one problem
// size now, print both timings, the faster (the choice `--tune` then uses) and the cost
// model's choice, and save the record in the tuning cache (convgrad/tune.hpp, docs/tune.md).
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "convgrad/tune.hpp"

namespace convgrad::cli {
namespace {

struct TuneCli {
  std::optional<std::int64_t> n;
  TapOptions taps;
  std::string dtype = "float64";
  bool json = false;
};

// "0.000123 s per step", or why the method was not timed.
std::string timing(const std::optional<double>& seconds, const std::string& source) {
  if (!seconds) return "not timed (" + source + ")";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g s per step", *seconds);
  return buf;
}

int print_record(const TuneRecord& r, Dtype dtype, bool json) {
  const std::filesystem::path saved = last_tune_save();
  if (json) {
    nlohmann::json j = nlohmann::json::parse(to_json(r));
    j["K"] = r.taps.K();
    j["cache"] = saved.empty() ? nlohmann::json(nullptr) : nlohmann::json(saved.string());
    print_json(j);
    warn_about_tune_cache();
    return 0;
  }
  if (quiet()) {  // the record is saved; no report
    warn_about_tune_cache();
    return 0;
  }
  std::printf(
      "tune: N = %zu samples, K = %zu taps (m = %lld..%lld), %s, %d threads, %s (%u hardware threads)\n", r.n,
      r.taps.K(), static_cast<long long>(r.taps.lo), static_cast<long long>(r.taps.hi),
      std::string(to_string(dtype)).c_str(), r.threads, r.target.c_str(), r.hardware_threads);
  std::printf("  direct  %s\n", timing(r.direct_s, r.source).c_str());
  std::printf("  fft     %s\n", timing(r.fft_s, r.source).c_str());
  std::printf("  choice  %s (%s); the cost model chooses %s\n", std::string(to_string(r.choice)).c_str(),
              r.source.c_str(), std::string(to_string(r.model_choice)).c_str());
  if (saved.empty())
    std::printf("  saved   nowhere (see the warning)\n");
  else
    std::printf("  saved   %s\n", saved.string().c_str());
  warn_about_tune_cache();
  return 0;
}

}  // namespace

Run add_tune(CLI::App& app) {
  auto o = std::make_shared<TuneCli>();
  CLI::App* c = app.add_subcommand(
      "tune", "time one training step by direct and by fft for one size now and cache the faster for --tune");
  c->footer(
      "The record is saved in $CONVGRAD_TUNE_CACHE, else $XDG_CACHE_HOME/convgrad/tune.json, else\n"
      "~/.cache/convgrad/tune.json, keyed by dtype, N, the taps, the thread count and the machine;\n"
      "grad, fit and apply use it with --method auto --tune (or CONVGRAD_TUNE=1). See docs/tune.md.");
  c->add_option("--n", o->n, "signal length N")->type_name("N")->required();
  add_tap_options(*c, o->taps);
  c->add_option("--dtype", o->dtype, "float32|float64 (default float64)")->type_name("NAME");
  c->add_flag("--json", o->json, "print the record as one JSON object, with the cache file it was saved to");
  return [o] {
    require_option_range("--n", *o->n, 1, std::int64_t{1} << 40, "the signal length N");
    const Taps taps = require_taps(o->taps);
    const Dtype dtype = parse_dtype(o->dtype);
    const auto n = static_cast<std::size_t>(*o->n);
    warn_if_more_taps_than_samples(taps.K(), n);
    const TuneRecord r = with_dtype(dtype, [&]<class T>(T) { return tune<T>(n, taps); });
    return print_record(r, dtype, o->json);
  };
}

}  // namespace convgrad::cli
