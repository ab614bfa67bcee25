// Helpers shared by the `convgrad` commands (see common.hpp for the contract of each).
#include "common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <numbers>
#include <sstream>

#include "convgrad/errors.hpp"
#include "convgrad/tune.hpp"

namespace convgrad::cli {
namespace {

std::string str(std::string_view s) { return std::string(s); }

// splitmix64 (Steele, Lea, Flood 2014): a tiny generator whose output is fully specified,
// unlike std::normal_distribution, so seeds reproduce across standard libraries.
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1): 53 random bits, offset by half a step so 0 never occurs (log below).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  // Standard normal by Box-Muller: sqrt(-2 ln u1) cos(2 pi u2).
  double normal() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  // Uniform integer in [-a, a].
  int integer(int a) { return static_cast<int>(next() % static_cast<std::uint64_t>(2 * a + 1)) - a; }
};

template <class Draw>
Case make_case(std::size_t n, Taps taps, Draw&& draw) {
  Case c;
  c.taps = taps;
  c.x.resize(n);
  c.y.resize(n);
  c.h.resize(taps.K());
  for (double& v : c.x) v = draw();
  for (double& v : c.h) v = draw();
  for (double& v : c.y) v = draw();
  return c;
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

void require_option_range(std::string_view name, std::int64_t value, std::int64_t lo, std::int64_t hi,
                          std::string_view why) {
  if (value >= lo && value <= hi) return;
  std::string msg = str(name) + ": " + std::to_string(value) + " is out of range [" + std::to_string(lo) +
                    ", " + std::to_string(hi) + "]";
  if (!why.empty()) msg += " (" + str(why) + ")";
  throw usage_error(msg);
}

Taps taps_from_option(std::int64_t M, std::optional<std::int64_t> lo) {
  require_option_range("--taps", M, 0, (kMaxTaps - 1) / 2, "M is the half-width: K = 2M+1 taps");
  if (lo) require_option_range("--lo", *lo, -kMaxTapOffset, kMaxTapOffset, "the first tap m");
  try {
    return lo ? Taps::from_lo(*lo, 2 * M + 1) : Taps::centred(M);
  } catch (const convgrad::invalid_argument& e) {  // e.g. lo + 2M beyond the offset limit
    throw usage_error(std::string("--taps/--lo: ") + e.what());
  }
}

Taps taps_from_size_options(std::optional<std::int64_t> M, std::optional<std::int64_t> K,
                            std::optional<std::int64_t> lo) {
  if (M) return taps_from_option(*M, lo);
  if (!K) throw usage_error("no kernel given: use --h FILE, --taps M (K = 2M+1 taps) or --kernel-size K");
  require_option_range("--kernel-size", *K, 1, kMaxTaps, "the number of taps K");
  if (lo) require_option_range("--lo", *lo, -kMaxTapOffset, kMaxTapOffset, "the first tap m");
  if (!lo && *K % 2 == 0)
    throw usage_error(
        "--kernel-size: K = " + std::to_string(*K) +
        " is even, so the kernel has no centre tap; give --lo L (e.g. --lo 0 for a causal filter)");
  try {
    return lo ? Taps::from_lo(*lo, *K) : Taps::centred_for(*K);
  } catch (const convgrad::invalid_argument& e) {
    throw usage_error(std::string("--kernel-size/--lo: ") + e.what());
  }
}

Taps taps_for_kernel(std::size_t K, std::optional<std::int64_t> lo, std::string_view source) {
  if (lo) require_option_range("--lo", *lo, -kMaxTapOffset, kMaxTapOffset, "the first tap m");
  if (K > static_cast<std::size_t>(kMaxTaps))
    throw io_error(str(source) + ": " + std::to_string(K) + " taps exceed the limit of " +
                   std::to_string(kMaxTaps));
  if (lo) return Taps::from_lo(*lo, static_cast<std::int64_t>(K));
  if (K % 2 == 0)
    throw io_error(str(source) + ": the kernel has " + std::to_string(K) +
                   " taps, an even number, so it has no centre tap; give --lo L (its first tap m, "
                   "e.g. --lo 0 for a causal filter)");
  return Taps::centred_for(static_cast<std::int64_t>(K));
}

Taps taps_from_range_options(std::optional<std::int64_t> M, std::optional<std::int64_t> lo,
                             std::optional<std::int64_t> hi, std::optional<std::int64_t> causal) {
  const int given = (M ? 1 : 0) + ((lo || hi) ? 1 : 0) + (causal ? 1 : 0);
  if (given == 0)
    throw usage_error("no tap range: give --taps M (m = -M..M), --lo L --hi H, or --causal K (m = 0..K-1)");
  if (given > 1) throw usage_error("give only one of --taps M, --lo L --hi H, --causal K");
  if (M) return taps_from_option(*M, std::nullopt);
  if (causal) {
    require_option_range("--causal", *causal, 1, kMaxTaps, "the number of taps K, m = 0..K-1");
    return Taps::causal(*causal);
  }
  if (!lo || !hi) throw usage_error("--lo and --hi go together: the taps are m = lo..hi");
  require_option_range("--lo", *lo, -kMaxTapOffset, kMaxTapOffset, "the first tap m");
  require_option_range("--hi", *hi, *lo, std::min(kMaxTapOffset, *lo + kMaxTaps - 1),
                       "the last tap m, >= --lo");
  return Taps::range(*lo, *hi);
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
  if (!warning.empty()) std::fprintf(stderr, "convgrad: warning: %s\n", warning.c_str());
}

io::Signal read_input(const std::string& path, std::string_view role, std::optional<int> channel) {
  if (path.empty()) throw usage_error(str(role) + ": the file name is empty");
  return io::read_signal(path, channel);
}

std::optional<int> channel_option(std::optional<std::int64_t> channel) {
  if (!channel) return std::nullopt;
  require_option_range("--channel", *channel, 0, 65535, "0-based channel of a multi-channel sound file");
  return static_cast<int>(*channel);
}

SignalPair read_xy(const std::string& x_path, const std::string& y_path, std::optional<int> channel) {
  SignalPair p;
  p.x = read_input(x_path, "x", io::is_sound_file(x_path) ? channel : std::nullopt).samples;
  p.y = read_input(y_path, "y", io::is_sound_file(y_path) ? channel : std::nullopt).samples;
  if (p.x.size() != p.y.size())
    throw io_error("x (" + x_path + ") has " + std::to_string(p.x.size()) + " samples but y (" + y_path +
                   ") has " + std::to_string(p.y.size()) + "; they must have the same length");
  return p;
}

template <std::floating_point T>
std::vector<T> to_dtype(std::span<const double> values, std::string_view what) {
  std::vector<T> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    out[i] = static_cast<T>(values[i]);
    if (std::isfinite(values[i]) && !std::isfinite(out[i])) {
      char v[32];
      std::snprintf(v, sizeof v, "%.6g", values[i]);
      throw convgrad::invalid_argument(str(what) + ": value " + v + " at index " + std::to_string(i) +
                                       " is beyond the float32 range (use --dtype float64)");
    }
  }
  return out;
}
template std::vector<float> to_dtype<float>(std::span<const double>, std::string_view);
template std::vector<double> to_dtype<double>(std::span<const double>, std::string_view);

Case random_case(std::size_t n, Taps taps, std::uint64_t seed) {
  SplitMix64 g{seed};
  return make_case(n, taps, [&] { return g.normal(); });
}

Case random_integer_case(std::size_t n, Taps taps, std::uint64_t seed, int amplitude) {
  SplitMix64 g{seed};
  return make_case(n, taps, [&] { return static_cast<double>(g.integer(amplitude)); });
}

void require_finite_result(std::span<const double> values, std::string_view what, Dtype dtype) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      throw convgrad::invalid_argument(
          str(what) + " overflows" + (values.size() > 1 ? " at index " + std::to_string(i) : std::string()) +
          ": the inputs are too large for " + str(to_string(dtype)) + " (scale them down" +
          (dtype == Dtype::float32 ? " or use --dtype float64)" : ")"));
}

namespace {

// True when two non-empty names denote one file, existing or not.
bool same_file(const std::string& p, const std::string& q) {
  namespace fs = std::filesystem;
  if (p.empty() || q.empty()) return false;
  if (p == q) return true;
  std::error_code e1, e2;
  // weakly_canonical resolves "./a" vs "a" and symlinked directories without needing the file.
  // (made absolute first: a relative name of a file that does not exist yet stays relative)
  const fs::path a = fs::weakly_canonical(fs::absolute(p), e1);
  const fs::path b = fs::weakly_canonical(fs::absolute(q), e2);
  return !e1 && !e2 && a == b;
}

}  // namespace

void require_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& paths) {
  for (std::size_t i = 0; i < paths.size(); ++i)
    for (std::size_t j = i + 1; j < paths.size(); ++j)
      if (same_file(paths[i].second, paths[j].second))
        throw usage_error(paths[i].first + " and " + paths[j].first + " name the same file '" +
                          paths[i].second + "'");
}

void require_outputs_not_inputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                                const std::vector<std::pair<std::string, std::string>>& inputs) {
  for (const auto& [out_option, out] : outputs)
    for (const auto& [in_option, in] : inputs)
      if (same_file(out, in))
        throw usage_error(out_option + " '" + out + "' is the " + in_option +
                          " input file; writing it would replace the data (choose another output name)");
}

void commit_all(std::vector<io::StagedFile>& staged) {
  // Every file is complete on disk already; renames within a directory do not fail for
  // want of space, so committing them one after another is all-or-nothing in practice.
  for (io::StagedFile& f : staged) f.commit();
}

void write_outputs(const std::vector<Output>& outputs) {
  std::vector<std::pair<std::string, std::string>> paths;
  for (const Output& o : outputs) paths.emplace_back(o.option, o.path);
  require_distinct_outputs(paths);
  std::vector<io::StagedFile> staged;  // destroyed (temporaries removed) if any stage throws
  for (const Output& o : outputs)
    if (!o.path.empty()) staged.push_back(io::stage_array(o.path, o.values));
  commit_all(staged);
}

void print_json(const nlohmann::json& j) {
  const std::string s = j.dump();
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);  // flushed, and its errors reported, by main (finish_stdout)
}

std::string format_values(std::span<const double> values, int digits, std::size_t max_shown) {
  std::ostringstream os;
  os.precision(digits);
  auto put = [&](std::size_t i) {
    if (i) os << ", ";
    os << (values[i] == 0 ? 0.0 : values[i]);  // no "-0"
  };
  os << '[';
  if (values.size() <= max_shown) {
    for (std::size_t i = 0; i < values.size(); ++i) put(i);
  } else {
    const std::size_t head = max_shown / 2, tail = max_shown - head;
    for (std::size_t i = 0; i < head; ++i) put(i);
    os << ", ... (" << values.size() << " values) ...";
    for (std::size_t i = values.size() - tail; i < values.size(); ++i) put(i);
  }
  os << ']';
  return os.str();
}

double norm2(std::span<const double> values) {
  double s = 0;
  for (const double v : values) s += v * v;
  return std::sqrt(s);
}

}  // namespace convgrad::cli
