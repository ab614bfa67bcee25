// Options shared by the `convgrad` commands (see options.hpp for the contract of each).
#include "options.hpp"

#include <cmath>
#include <cstdio>

#include "convgrad/errors.hpp"
#include "convgrad/io.hpp"
#include "convgrad/tune.hpp"
#include "printing.hpp"
#include "world.hpp"

namespace convgrad::cli {
namespace {

std::string str(std::string_view s) { return std::string(s); }

std::string range_text(Taps t) { return "m = " + std::to_string(t.lo) + ".." + std::to_string(t.hi); }

void require_lo_option(std::int64_t lo) {
  require_option_range("--lo", lo, -kMaxTapOffset, kMaxTapOffset, "the first tap m");
}

// A range built from option values that each passed their own check can still be absurd
// (lo + 2M beyond the offset limit): the library's reason, under the options' names.
template <class Make>
Taps range_or_usage_error(std::string_view options, Make&& make) {
  try {
    return make();
  } catch (const convgrad::invalid_argument& e) {
    throw usage_error(str(options) + ": " + e.what());
  }
}

}  // namespace

Dtype parse_dtype(std::string_view name) {
  if (name == "float32" || name == "f4" || name == "float") return Dtype::float32;
  if (name == "float64" || name == "f8" || name == "double") return Dtype::float64;
  throw usage_error("--dtype: '" + str(name) + "' is not one of float32, float64");
}

std::string_view to_string(Dtype dtype) { return dtype == Dtype::float32 ? "float32" : "float64"; }

Method parse_method_option(std::string_view name) {
  try {
    return parse_method(name);
  } catch (const convgrad::invalid_argument&) {
    throw usage_error("--method: '" + str(name) + "' is not one of reference, direct, jacobian, fft, auto");
  }
}

template <std::floating_point T>
std::vector<T> to_dtype(std::span<const double> values, std::string_view what) {
  std::vector<T> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    out[i] = static_cast<T>(values[i]);
    if (std::isfinite(values[i]) && !std::isfinite(out[i]))
      throw convgrad::invalid_argument(str(what) + ": value " + format_number(values[i]) + " at index " +
                                       std::to_string(i) +
                                       " is beyond the float32 range (use --dtype float64)");
  }
  return out;
}
template std::vector<float> to_dtype<float>(std::span<const double>, std::string_view);
template std::vector<double> to_dtype<double>(std::span<const double>, std::string_view);

void require_finite_result(std::span<const double> values, std::string_view what, Dtype dtype) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      throw convgrad::invalid_argument(
          str(what) + " overflows" + (values.size() > 1 ? " at index " + std::to_string(i) : std::string()) +
          ": the inputs are too large for " + str(to_string(dtype)) + " (scale them down" +
          (dtype == Dtype::float32 ? " or use --dtype float64)" : ")"));
}

void require_option_range(std::string_view name, std::int64_t value, std::int64_t lo, std::int64_t hi,
                          std::string_view why) {
  if (value >= lo && value <= hi) return;
  std::string msg = str(name) + ": " + std::to_string(value) + " is out of range [" + std::to_string(lo) +
                    ", " + std::to_string(hi) + "]";
  if (!why.empty()) msg += " (" + str(why) + ")";
  throw usage_error(msg);
}

std::optional<int> channel_option(std::optional<std::int64_t> channel) {
  if (!channel) return std::nullopt;
  require_option_range("--channel", *channel, 0, io::kMaxChannels - 1,
                       "0-based channel of a multi-channel sound file");
  return static_cast<int>(*channel);
}

void deprecated_alias(CLI::Option* old_option, std::string_view new_name) {
  const std::string line =
      "convgrad: warning: " + old_option->get_name() + " is deprecated; use " + str(new_name) + "\n";
  old_option->each([line](const std::string&) {
    if (dist::world().is_root()) std::fputs(line.c_str(), stderr);  // once under mpirun
  });
}

void add_tap_options(CLI::App& cmd, TapOptions& o) {
  CLI::Option* half = cmd.add_option("--half-width", o.half_width, "centred taps m = -M..M (K = 2M+1)");
  CLI::Option* old = cmd.add_option("--taps", o.half_width, "deprecated spelling of --half-width M");
  CLI::Option* size =
      cmd.add_option("--kernel-size", o.kernel_size, "K taps, centred (an even K needs --lo)");
  CLI::Option* causal = cmd.add_option("--causal", o.causal, "K causal taps m = 0..K-1");
  CLI::Option* lo =
      cmd.add_option("--lo", o.lo, "the first tap m (with --hi, --kernel-size or --half-width)");
  CLI::Option* hi = cmd.add_option("--hi", o.hi, "the last tap m (with --lo)");
  half->type_name("M");
  old->type_name("M")->excludes(half);
  size->type_name("K");
  causal->type_name("K");
  lo->type_name("L");
  hi->type_name("H");
  deprecated_alias(old, "--half-width M (K = 2M+1 taps m = -M..M)");
}

std::optional<Taps> taps_from_options(const TapOptions& o) {
  const int counts = (o.half_width ? 1 : 0) + (o.kernel_size ? 1 : 0) + (o.causal ? 1 : 0) + (o.hi ? 1 : 0);
  if (counts > 1 || (o.causal && o.lo))
    throw usage_error("give only one of --half-width M, --kernel-size K, --causal K, --lo L --hi H");
  if (counts == 0) {
    if (o.lo)
      throw usage_error(
          "--lo " + std::to_string(*o.lo) +
          " gives only the first tap: give the last with --hi H, or the count with --kernel-size K");
    return std::nullopt;
  }
  if (o.lo) require_lo_option(*o.lo);
  if (o.causal) {
    require_option_range("--causal", *o.causal, 1, kMaxTaps, "the number of taps K, m = 0..K-1");
    return Taps::causal(*o.causal);
  }
  if (o.hi) {
    if (!o.lo) throw usage_error("--hi " + std::to_string(*o.hi) + " needs --lo: the taps are m = lo..hi");
    require_option_range("--hi", *o.hi, *o.lo, std::min(kMaxTapOffset, *o.lo + kMaxTaps - 1),
                         "the last tap m, >= --lo");
    return Taps::range(*o.lo, *o.hi);
  }
  if (o.half_width) {
    const std::int64_t M = *o.half_width;
    require_option_range("--half-width", M, 0, (kMaxTaps - 1) / 2, "M is the half-width: K = 2M+1 taps");
    return range_or_usage_error("--half-width/--lo",
                                [&] { return o.lo ? Taps::from_lo(*o.lo, 2 * M + 1) : Taps::centred(M); });
  }
  const std::int64_t K = *o.kernel_size;
  require_option_range("--kernel-size", K, 1, kMaxTaps, "the number of taps K");
  if (!o.lo && K % 2 == 0)
    throw usage_error(
        "--kernel-size: K = " + std::to_string(K) +
        " is even, so the kernel has no centre tap; give --lo L (e.g. --lo 0 for a causal filter)");
  return range_or_usage_error("--kernel-size/--lo",
                              [&] { return o.lo ? Taps::from_lo(*o.lo, K) : Taps::centred_for(K); });
}

Taps require_taps(const TapOptions& o) {
  if (const auto taps = taps_from_options(o)) return *taps;
  throw usage_error(
      "no tap range: give --half-width M (m = -M..M), --kernel-size K, --causal K (m = 0..K-1) or --lo L "
      "--hi H");
}

namespace {

// --lo alone, which with a taps file means the first tap of the file's K taps.
bool lo_only(const TapOptions& o) { return o.lo && !o.half_width && !o.kernel_size && !o.causal && !o.hi; }

}  // namespace

void check_tap_options_for_file(const TapOptions& o) {
  if (lo_only(o))
    require_lo_option(*o.lo);
  else
    (void)taps_from_options(o);
}

Taps taps_for_file(const io::TapsFile& file, const TapOptions& o, const std::string& path) {
  const auto K = static_cast<std::int64_t>(file.h.size());
  // --lo alone: the first tap of the file's K taps (and it must agree with a recorded one).
  const bool lo_only = cli::lo_only(o);
  if (lo_only) require_lo_option(*o.lo);
  const std::optional<Taps> given =
      lo_only ? std::optional<Taps>(range_or_usage_error("--lo", [&] { return Taps::from_lo(*o.lo, K); }))
              : taps_from_options(o);
  if (file.lo && given && given->lo != *file.lo)
    throw usage_error(
        (lo_only ? "--lo " + std::to_string(*o.lo) : "the tap options (" + range_text(*given) + ")") +
        (lo_only ? " disagrees" : " disagree") + " with the range recorded in " + path +
        " (lo = " + std::to_string(*file.lo) + ")");
  if (given && given->K() != file.h.size())
    throw usage_error("the tap options give K = " + std::to_string(given->K()) + " taps (" +
                      range_text(*given) + ") but " + path + " holds " + std::to_string(K));
  if (given) return *given;
  if (!file.lo && K % 2 == 0)  // the library's reason, with the option that resolves it
    throw io_error(
        path + ": the kernel has " + std::to_string(K) +
        " taps, an even number, and the file records no range, so it has no centre tap; give --lo L "
        "(its first tap m, e.g. --lo 0 for a causal filter)");
  return io::recorded_range(file, path);
}

void warn_if_more_taps_than_samples(std::size_t K, std::size_t N) {
  if (K <= N) return;
  std::fprintf(stderr,
               "convgrad: warning: the filter has K = %zu taps but the signal only N = %zu samples; "
               "taps beyond the signal see only its zero padding\n",
               K, N);
}

void tune_option(bool tune, Method method) {
  if (!tune) return;
  if (method != Method::automatic)
    throw usage_error("--tune measures which method auto should run; it cannot go with --method " +
                      str(to_string(method)) + " (drop one of them)");
  set_tuning(true);
}

void warn_about_tune_cache() {
  const std::string warning = tune_cache_warning();
  if (!warning.empty() && dist::world().is_root())
    std::fprintf(stderr, "convgrad: warning: %s\n", warning.c_str());
}

}  // namespace convgrad::cli
