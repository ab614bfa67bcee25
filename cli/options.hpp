// Options that mean the same in every `convgrad` command: --dtype, --method, --tune,
// --channel, and the tap range (one function adds the same tap options to every command).
//
// Error convention (see commands.hpp): a bad option value or combination throws usage_error
// (exit 2). Every message is one line naming the option and the problem.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"
#include "convgrad/taps_file.hpp"

namespace convgrad::cli {

// ---- dtype and method ----------------------------------------------------------------------

enum class Dtype { float32, float64 };

// "float32" | "float64" (also "f4"/"f8", "float"/"double"); anything else is a usage_error.
Dtype parse_dtype(std::string_view name);
std::string_view to_string(Dtype dtype);

// "reference" | "direct" | "jacobian" | "fft" | "auto"; anything else is a usage_error.
Method parse_method_option(std::string_view name);

// Calls f(float{}) or f(double{}): one body written once as a template lambda for both dtypes,
//   return with_dtype(dtype, [&]<class T>(T) { ... });
template <class F>
decltype(auto) with_dtype(Dtype dtype, F&& f) {
  if (dtype == Dtype::float32) return f(float{});
  return f(double{});
}

// The values in T. float32 refuses a finite double beyond float's range (it would become
// infinite): invalid_argument naming `what` and the index. float64 is a copy.
template <std::floating_point T>
std::vector<T> to_dtype(std::span<const double> values, std::string_view what);

template <std::floating_point T>
std::vector<double> widen(std::span<const T> values) {
  return std::vector<double>(values.begin(), values.end());
}

// Finite inputs can still overflow (1e300^2): throws invalid_argument naming `what` and the
// first index whose result is NaN or infinite, so no output holds inf. `dtype` is the one the
// result was computed in (the message suggests --dtype float64 only after float32).
void require_finite_result(std::span<const double> values, std::string_view what, Dtype dtype);

// ---- ranges and plain values -----------------------------------------------------------------

// Throws usage_error "--name: value V is out of range [lo, hi] (why)" unless lo <= value <= hi.
void require_option_range(std::string_view name, std::int64_t value, std::int64_t lo, std::int64_t hi,
                          std::string_view why = {});

// --channel C: a usage_error unless 0 <= C < io::kMaxChannels; the value as read_signal takes it.
std::optional<int> channel_option(std::optional<std::int64_t> channel);

// An old option spelling kept for scripts: `old_name` still works, with one line
// "convgrad: warning: OLD is deprecated; use NEW" on stderr each time it is given.
void deprecated_alias(CLI::Option* old_option, std::string_view new_name);

// ---- the tap range: the same options in every command ------------------------------------
//
//   --half-width M    m = -M..M, K = 2M+1 taps         (old spelling: --taps M, deprecated)
//   --kernel-size K   K taps, centred m = -(K-1)/2..(K-1)/2 (an even K needs --lo)
//   --causal K        K taps m = 0..K-1
//   --lo L            the first tap m, with --hi H, --kernel-size K or --half-width M;
//                     with a taps file, the first tap of a file that does not record it
//   --hi H            the last tap m (with --lo)
//
// --lo always means the first tap m; K (a count) comes from exactly one of --hi, --kernel-size,
// --half-width, --causal or the taps file.
struct TapOptions {
  std::optional<std::int64_t> half_width, kernel_size, causal, lo, hi;
  bool any() const { return half_width || kernel_size || causal || lo || hi; }
};

// Adds the options above to `cmd`, stored in `o` (which must outlive the parse).
void add_tap_options(CLI::App& cmd, TapOptions& o);

// The range the options give, or nullopt when none is given. Usage errors for conflicting
// options, --lo without a count, --hi without --lo, values out of range, an even K without --lo.
std::optional<Taps> taps_from_options(const TapOptions& o);

// The same, for commands that need a range: none given is a usage_error.
Taps require_taps(const TapOptions& o);

// The range of taps read from `path`: the file's recorded range, else the options' (--lo, or a
// full range whose K must match the file's), else the centred convention. Options that
// contradict a recorded range are a usage_error naming both; an even K with no range anywhere
// is the file's error (io_error).
Taps taps_for_file(const io::TapsFile& file, const TapOptions& o, const std::string& path);

// The usage checks of taps_for_file that need no file: run before any file is read.
void check_tap_options_for_file(const TapOptions& o);

// A filter with more taps than the signal has samples: one warning line on stderr (most taps
// then only see the zero padding; the fit has more unknowns than equations).
void warn_if_more_taps_than_samples(std::size_t K, std::size_t N);

// ---- the measured choice (--tune, convgrad/tune.hpp) ----------------------------------------

// --tune turns on the measured choice of Method::automatic for this run (set_tuning). It
// chooses between methods, so with an explicit --method other than auto it is a usage_error.
void tune_option(bool tune, Method method);

// Prints the tuning cache's last problem, if any, as one `convgrad: warning: ...` line on
// stderr. Tuning never fails a command: an unusable cache only costs a new measurement.
void warn_about_tune_cache();

}  // namespace convgrad::cli
