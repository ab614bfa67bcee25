// The measured choice between direct and fft (tune.hpp): time both methods' training step
// once per key, keep the faster in memory and in a JSON cache file, and hand it to
// resolve_method whenever Method::automatic is asked for while tuning is on.
//
// Locking: `State::mutex` guards the table, the settings and the file; it is never held while
// timing. `measuring()` lets one measurement run at a time (two would slow each other down and
// time the contention). Timing calls loss_and_dh with Method::direct and Method::fft, which
// never come back here (only Method::automatic is resolved through tuning), so no lock is
// ever taken twice.
#include "convgrad/tune.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <mutex>
#include <new>
#include <sstream>
#include <thread>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "convgrad/errors.hpp"
#include "convgrad/io.hpp"
#include "kernels.hpp"
#include "quote.hpp"
#include "simd.hpp"

namespace convgrad {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

constexpr int kCacheVersion = 1;
// A method the model expects to take longer than this per step, while it expects the other
// to be faster, is not timed: its warm-up and one run alone would cost seconds.
constexpr double kSlowStep = 1.0;
// After the warm-up, a method runs kRuns times or until kRunBudget seconds are spent, and
// steps shorter than that are repeated until kShortBudget is spent (at most kMaxShortRuns):
// the best of many is what one interruption from another process cannot spoil.
constexpr int kRuns = 3;
constexpr double kRunBudget = 0.3;
constexpr double kShortBudget = 0.02;
constexpr int kMaxShortRuns = 1000;

// ---- the key -------------------------------------------------------------------------------

template <std::floating_point T>
std::string dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}

// A record holding only the key of a problem measured here and now.
TuneRecord key_of(std::string dtype, std::size_t n, Taps taps) {
  TuneRecord key;
  key.dtype = std::move(dtype);
  key.n = n;
  key.taps = taps;
  key.threads = omp_get_max_threads();
  // The machine, found once per process: asking costs about 15 us (CPUID traps under a
  // hypervisor; hardware_concurrency reads /sys), more than a small training step.
  static const std::string target = detail::simd::current_target();
  static const unsigned hardware_threads = std::thread::hardware_concurrency();
  key.target = target;
  key.hardware_threads = hardware_threads;
  return key;
}

bool same_key(const TuneRecord& a, const TuneRecord& b) {
  return a.dtype == b.dtype && a.n == b.n && a.taps == b.taps && a.threads == b.threads &&
         a.target == b.target && a.hardware_threads == b.hardware_threads;
}

const TuneRecord* find(const std::vector<TuneRecord>& records, const TuneRecord& key) {
  for (const TuneRecord& r : records)
    if (same_key(r, key)) return &r;
  return nullptr;
}

// Adds `record`, replacing an older one with the same key.
void upsert(std::vector<TuneRecord>& records, const TuneRecord& record) {
  for (TuneRecord& r : records)
    if (same_key(r, record)) {
      r = record;
      return;
    }
  records.push_back(record);
}

// ---- the cache file ------------------------------------------------------------------------

json seconds_json(const std::optional<double>& s) { return s ? json(*s) : json(nullptr); }

json record_json(const TuneRecord& r) {
  return {{"dtype", r.dtype},
          {"n", r.n},
          {"lo", r.taps.lo},
          {"hi", r.taps.hi},
          {"threads", r.threads},
          {"target", r.target},
          {"hardware_threads", r.hardware_threads},
          {"choice", std::string(to_string(r.choice))},
          {"model_choice", std::string(to_string(r.model_choice))},
          {"direct_s", seconds_json(r.direct_s)},
          {"fft_s", seconds_json(r.fft_s)},
          {"source", r.source}};
}

std::uint64_t count_field(const json& j, const char* name) {
  const json& v = j.at(name);
  if (!v.is_number_unsigned()) throw invalid_argument(std::string(name) + " is not a count");
  return v.get<std::uint64_t>();
}

std::optional<double> seconds_field(const json& j, const char* name) {
  const json& v = j.at(name);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number() || !(v.get<double>() >= 0))
    throw invalid_argument(std::string(name) + " is not seconds");
  return v.get<double>();
}

Method method_field(const json& j, const char* name) {
  const Method m = parse_method(j.at(name).get<std::string>());
  if (m != Method::direct && m != Method::fft)
    throw invalid_argument(std::string(name) + " is not direct or fft");
  return m;
}

// One record of the file; throws (json or invalid_argument) if it is malformed.
TuneRecord from_json(const json& j) {
  TuneRecord r;
  r.dtype = j.at("dtype").get<std::string>();
  if (r.dtype != "float32" && r.dtype != "float64")
    throw invalid_argument("dtype '" + detail::quote_token(r.dtype) + "'");
  r.n = count_field(j, "n");
  r.taps = Taps::range(j.at("lo").get<std::int64_t>(), j.at("hi").get<std::int64_t>());
  r.threads = static_cast<int>(std::min<std::uint64_t>(count_field(j, "threads"), 1 << 20));
  r.target = j.at("target").get<std::string>();
  r.hardware_threads =
      static_cast<unsigned>(std::min<std::uint64_t>(count_field(j, "hardware_threads"), 1 << 20));
  r.choice = method_field(j, "choice");
  r.model_choice = method_field(j, "model_choice");
  r.direct_s = seconds_field(j, "direct_s");
  r.fft_s = seconds_field(j, "fft_s");
  r.source = j.at("source").get<std::string>();
  return r;
}

// The records in `file`: none if it does not exist yet; none, with `*warning` set, if it cannot
// be read or is not a version-1 cache (it is then replaced on the next write).
std::vector<TuneRecord> read_cache(const fs::path& file, std::string* warning) {
  std::error_code ec;
  if (file.empty() || !fs::exists(file, ec)) return {};
  const auto ignored = [&](const std::string& why) {
    if (warning)
      *warning = "tune cache " + file.string() + " ignored (" + detail::quote_token(why, 400) +
                 "); it is replaced on the next write";
    return std::vector<TuneRecord>{};
  };
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  if (!(in && text << in.rdbuf())) return ignored("unreadable");
  try {
    const json doc = json::parse(text.str());
    if (!doc.is_object() || !doc.contains("version")) return ignored("not a convgrad tune cache: no version");
    if (doc.at("version") != kCacheVersion)
      return ignored("version " + doc.at("version").dump() + ", this convgrad reads version " +
                     std::to_string(kCacheVersion));
    std::vector<TuneRecord> records;
    for (const json& r : doc.at("records")) records.push_back(from_json(r));
    return records;
  } catch (const std::exception& e) {
    return ignored(e.what());
  }
}

// Writes `records` over what the file holds now (another process may have added some since it
// was read), atomically, and returns true; on failure sets `warning` and returns false (the
// records stay in memory only).
bool write_cache(const fs::path& file, const std::vector<TuneRecord>& records, std::string& warning) {
  if (file.empty()) {
    warning =
        "no tune cache location (CONVGRAD_TUNE_CACHE, XDG_CACHE_HOME and HOME are unset); "
        "the choices are kept in memory only";
    return false;
  }
  std::vector<TuneRecord> merged = read_cache(file, nullptr);
  for (const TuneRecord& r : records) upsert(merged, r);
  json list = json::array();
  for (const TuneRecord& r : merged) list.push_back(record_json(r));
  const json doc = {{"version", kCacheVersion}, {"records", std::move(list)}};
  try {
    if (file.has_parent_path()) fs::create_directories(file.parent_path());
    io::write_file_atomic(file.string(), doc.dump(1) + "\n");
    return true;
  } catch (const std::exception& e) {  // filesystem_error, io_error
    warning = "tune cache " + file.string() + " not written (" + e.what() +
              "); the choices are kept in memory only";
    return false;
  }
}

// ---- the process-wide table ----------------------------------------------------------------

bool environment_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("CONVGRAD_TUNE");
    std::string s = v ? v : "";
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s == "1" || s == "true" || s == "yes" || s == "on";
  }();
  return on;
}

struct State {
  std::mutex mutex;                 // guards every member
  std::optional<bool> enabled;      // set_tuning's choice; unset: the environment decides
  fs::path chosen_file;             // set_tuning's file; empty: default_tune_cache()
  std::vector<TuneRecord> records;  // in memory: the file's, and every one measured here
  std::optional<fs::path> loaded;   // the file `records` were read from, once; written back to
  std::string warning;
  std::size_t measurements = 0;
  fs::path last_save;  // where the last measurement was written; empty if it could not be

  fs::path file() const { return chosen_file.empty() ? default_tune_cache() : chosen_file; }

  // Reads the cache file the first time a record is looked up (again after set_tuning named
  // another file, or clear_tuning_memory): a lookup then costs no more than a short search.
  void load() {
    if (loaded) return;
    loaded = file();
    records = read_cache(*loaded, &warning);
  }
};

State& state() {
  static State s;
  return s;
}

std::mutex& measuring() {
  static std::mutex m;
  return m;
}

std::optional<TuneRecord> lookup(const TuneRecord& key) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.load();
  if (const TuneRecord* r = find(s.records, key)) return *r;
  return std::nullopt;
}

// ---- measuring -----------------------------------------------------------------------------

// The inputs and outputs of one training step of n samples. x, y and h follow a fixed formula
// of the index (no random state shared with the caller): dyadic values in [-1, 1), never
// denormal, so neither method meets a slow path the user's data would not.
template <std::floating_point T>
struct StepBuffers {
  std::vector<T> x, y, h, dh;
  StepBuffers(std::size_t n, std::size_t K) : x(n), y(n), h(K), dh(K) {
    const auto pattern = [](std::size_t i, std::size_t mult) {
      return static_cast<T>(static_cast<double>((i * mult + 7) % 1024) / 512.0 - 1.0);
    };
    for (std::size_t i = 0; i < n; ++i) x[i] = pattern(i, 2654435761u), y[i] = pattern(i, 40503);
    for (std::size_t j = 0; j < K; ++j) h[j] = pattern(j, 97) / static_cast<T>(K);
  }
};

// Best seconds of one training step loss_and_dh(x, y, h) by `method`. A warm-up run first (FFT plans
// are built then); the direct method has nothing to build, so its warm-up counts as a run.
template <std::floating_point T>
double time_step(StepBuffers<T>& b, Taps taps, Method method) {
  using Clock = std::chrono::steady_clock;
  const auto step = [&] {
    const Clock::time_point t0 = Clock::now();
    (void)loss_and_dh<T>(b.x, b.y, b.h, taps, b.dh, method);
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  const double warm_up = step();
  double best = std::numeric_limits<double>::infinity(), spent = 0;
  if (method == Method::direct) best = spent = warm_up;
  for (int run = 0; (run < kRuns && spent < kRunBudget) || (run < kMaxShortRuns && spent < kShortBudget);
       ++run) {
    const double t = step();
    best = std::min(best, t);
    spent += t;
  }
  return best;
}

// Fills in the result of `rec` (whose key is set): times the methods worth timing and picks
// the faster. Called with measuring() held.
template <std::floating_point T>
void measure(TuneRecord& rec) {
  const std::size_t n = rec.n, K = rec.taps.K();
  rec.model_choice = choose_method(n, K, sizeof(T));
  const double direct = predicted_step_seconds(Method::direct, n, K, sizeof(T)),
               fft = predicted_step_seconds(Method::fft, n, K, sizeof(T));
  if (std::min(direct, fft) > kSlowStep) {
    rec.choice = rec.model_choice;
    rec.source = "model: both methods predicted > 1 s per step";
    return;
  }
  StepBuffers<T> b(n, K);  // may throw std::bad_alloc
  if (!(direct > kSlowStep && fft < direct)) rec.direct_s = time_step<T>(b, rec.taps, Method::direct);
  if (!(fft > kSlowStep && direct < fft)) rec.fft_s = time_step<T>(b, rec.taps, Method::fft);
  if (rec.direct_s && rec.fft_s) {
    rec.choice = *rec.fft_s < *rec.direct_s ? Method::fft : Method::direct;
    rec.source = "measured";
  } else {
    rec.choice = rec.direct_s ? Method::direct : Method::fft;
    rec.source =
        rec.direct_s ? "model: fft predicted > 1 s per step" : "model: direct predicted > 1 s per step";
  }
}

// Measures the problem `key` describes and records the result in memory and in the file.
// Called with measuring() held.
template <std::floating_point T>
TuneRecord measure_and_record(TuneRecord rec) {
  State& s = state();
  {
    std::lock_guard lock(s.mutex);
    ++s.measurements;
  }
  measure<T>(rec);
  std::lock_guard lock(s.mutex);
  s.load();
  upsert(s.records, rec);
  s.last_save = write_cache(*s.loaded, s.records, s.warning) ? *s.loaded : fs::path();
  return rec;
}

}  // namespace

void set_tuning(bool enabled, fs::path cache_file) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.enabled = enabled;
  if (cache_file != s.chosen_file) s.loaded.reset();  // the old file's records are forgotten
  s.chosen_file = std::move(cache_file);
}

bool tuning_enabled() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.enabled.value_or(environment_enabled());
}

fs::path default_tune_cache() {
  const auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  if (const std::string file = env("CONVGRAD_TUNE_CACHE"); !file.empty()) return file;
  if (const std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty())
    return fs::path(xdg) / "convgrad" / "tune.json";
  if (const std::string home = env("HOME"); !home.empty())
    return fs::path(home) / ".cache" / "convgrad" / "tune.json";
  return {};
}

fs::path tune_cache_file() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.loaded ? *s.loaded : s.file();
}

template <std::floating_point T>
TuneRecord tune(std::size_t n, Taps taps) {
  (void)Taps::range(taps.lo, taps.hi);
  if (n == 0) throw invalid_argument("tune: n = 0; a signal needs at least one sample");
  std::lock_guard one_at_a_time(measuring());
  return measure_and_record<T>(key_of(dtype_name<T>(), n, taps));
}

template <std::floating_point T>
std::optional<TuneRecord> tuned_record(std::size_t n, Taps taps) {
  if (!tuning_enabled() || n == 0) return std::nullopt;
  (void)Taps::range(taps.lo, taps.hi);  // invalid_argument, before anything is sized by K
  const TuneRecord key = key_of(dtype_name<T>(), n, taps);
  if (std::optional<TuneRecord> hit = lookup(key)) return hit;
  std::lock_guard one_at_a_time(measuring());
  if (std::optional<TuneRecord> hit = lookup(key)) return hit;  // measured while we waited
  try {
    return measure_and_record<T>(key);
  } catch (const std::bad_alloc&) {  // the test signals do not fit: the model decides
    State& s = state();
    std::lock_guard lock(s.mutex);
    s.warning =
        "tuning N = " + std::to_string(n) + " ran out of memory for its test signals; the cost model decides";
    return std::nullopt;
  }
}

template <std::floating_point T>
std::optional<Method> tuned_method(std::size_t n, Taps taps) {
  if (const std::optional<TuneRecord> r = tuned_record<T>(n, taps)) return r->choice;
  return std::nullopt;
}

std::string to_json(const TuneRecord& record) { return record_json(record).dump(); }

fs::path last_tune_save() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.last_save;
}

std::string tune_cache_warning() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.warning;
}

void clear_tuning_memory() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.records.clear();
  s.loaded.reset();
  s.warning.clear();
}

std::size_t tune_measurement_count() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.measurements;
}

#define CONVGRAD_INSTANTIATE_TUNE(T)                                     \
  template TuneRecord tune<T>(std::size_t, Taps);                        \
  template std::optional<TuneRecord> tuned_record<T>(std::size_t, Taps); \
  template std::optional<Method> tuned_method<T>(std::size_t, Taps);
CONVGRAD_INSTANTIATE_TUNE(float)
CONVGRAD_INSTANTIATE_TUNE(double)
#undef CONVGRAD_INSTANTIATE_TUNE

}  // namespace convgrad
