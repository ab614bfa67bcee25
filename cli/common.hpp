// Helpers shared by every `convgrad` command: options that mean the same everywhere
// (--dtype, --method, --taps/--lo), reading signals with the file name in every error,
// writing all outputs together or none, JSON and readable printing, seeded random cases.
//
// Error convention (see commands.hpp): a bad option value or combination throws usage_error
// (exit 2); bad data, a bad file or an I/O failure throws a convgrad::error (exit 1).
// Every message is one line naming the option or the file, the position and the problem.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "convgrad/io.hpp"
#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"

namespace convgrad::cli {

// ---- options -------------------------------------------------------------------------------

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

// Throws usage_error "--name: value V is out of range [lo, hi] (why)" unless lo <= value <= hi.
void require_option_range(std::string_view name, std::int64_t value, std::int64_t lo, std::int64_t hi,
                          std::string_view why = {});

// The centred range -M..M from `--taps M`, or, with `--lo L`, the 2M+1 taps L..L+2M.
// Negative or absurd M (more than kMaxTaps taps) and |L| beyond kMaxTapOffset are usage errors.
Taps taps_from_option(std::int64_t M, std::optional<std::int64_t> lo);

// The tap range from whichever of `--taps M` / `--kernel-size K` was given (with `--lo L`);
// neither given, K out of [1, kMaxTaps], or an even K without --lo are usage errors.
Taps taps_from_size_options(std::optional<std::int64_t> M, std::optional<std::int64_t> K,
                            std::optional<std::int64_t> lo);

// The tap range of a kernel read from `source` (a file name) with K values: m = lo..lo+K-1,
// with lo from --lo or, by default, -(K-1)/2. An even K without --lo has no centre tap: that
// is an error in the data (io_error naming the file, exit 1).
Taps taps_for_kernel(std::size_t K, std::optional<std::int64_t> lo, std::string_view source);

// The tap range from exactly one of `--taps M` (m = -M..M), `--lo L --hi H` and `--causal K`
// (m = 0..K-1), as fit and tune take it; none, several, or values out of range are usage errors.
Taps taps_from_range_options(std::optional<std::int64_t> M, std::optional<std::int64_t> lo,
                             std::optional<std::int64_t> hi, std::optional<std::int64_t> causal);

// ---- the measured choice (--tune, convgrad/tune.hpp) ----------------------------------------

// --tune turns on the measured choice of Method::automatic for this run (set_tuning). It
// chooses between methods, so with an explicit --method other than auto it is a usage_error.
void tune_option(bool tune, Method method);

// Prints the tuning cache's last problem, if any, as one `convgrad: warning: ...` line on
// stderr. Tuning never fails a command: an unusable cache only costs a new measurement.
void warn_about_tune_cache();

// ---- reading ---------------------------------------------------------------------------------

// Reads one signal; `role` ("x", "y", "h", "input") prefixes errors that are not about the
// file's contents, e.g. "y (b.csv) has 4 samples but x (a.csv) has 5". Every error names the file.
io::Signal read_input(const std::string& path, std::string_view role,
                      std::optional<int> channel = std::nullopt);

// x and y from two files, which must hold the same number of samples (io_error otherwise).
struct SignalPair {
  std::vector<double> x, y;
};
// `channel` (from --channel) is used for sound files only; text and .npy hold one signal.
SignalPair read_xy(const std::string& x_path, const std::string& y_path,
                   std::optional<int> channel = std::nullopt);

// --channel C: a usage_error unless 0 <= C <= 65535; the value as read_signal takes it.
std::optional<int> channel_option(std::optional<std::int64_t> channel);

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

// ---- a seeded random case (check, explain, tests) -----------------------------------------

// x, y, h with standard normal entries from a fixed, portable generator (splitmix64 +
// Box-Muller), so a seed gives the same case on every machine and compiler.
struct Case {
  std::vector<double> x, y, h;
  Taps taps;
};
Case random_case(std::size_t n, Taps taps, std::uint64_t seed);

// The same with small integers in [-amplitude, amplitude]: every sum is exact, which makes a
// printed derivation easy to follow by hand (explain).
Case random_integer_case(std::size_t n, Taps taps, std::uint64_t seed, int amplitude = 3);

// ---- writing --------------------------------------------------------------------------------

// One output file and its values (.npy or text by extension, see io::write_array).
struct Output {
  std::string option;  // e.g. "--out-dh", for the error message when two outputs collide
  std::string path;
  std::vector<double> values;
};

// Writes every output, or none: each is staged to a temporary file beside its target first,
// and only when all staged successfully are they renamed into place. Two outputs naming the
// same path are a usage_error (checked before anything is written). Empty paths are skipped.
void write_outputs(const std::vector<Output>& outputs);

// Renames every staged file into place (the same all-or-nothing rule, for callers that stage
// their own formats, e.g. io::stage_wav).
void commit_all(std::vector<io::StagedFile>& staged);

// Throws usage_error if two non-empty paths among `paths` (option name, path) are the same file.
void require_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& paths);

// Throws usage_error if an output (option name, path) names one of the inputs: the atomic
// rename would silently replace a recording with, say, the learned taps.
void require_outputs_not_inputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                                const std::vector<std::pair<std::string, std::string>>& inputs);

// ---- printing --------------------------------------------------------------------------------

// A JSON array of the values widened to double (so float32 results print exactly).
template <std::floating_point T>
nlohmann::json json_array(std::span<const T> values) {
  nlohmann::json a = nlohmann::json::array();
  for (const T v : values) a.push_back(static_cast<double>(v));
  return a;
}

// Prints `j` on stdout as one line followed by a newline (doubles round-trip: 17 digits).
void print_json(const nlohmann::json& j);

// "[1.5, -2, 0.25]" with `digits` significant digits; with more than `max_shown` values, the
// first and last few and "... (N values)" between.
std::string format_values(std::span<const double> values, int digits = 6, std::size_t max_shown = 12);

// The 2-norm sqrt(sum v^2), accumulated in double.
double norm2(std::span<const double> values);

}  // namespace convgrad::cli
