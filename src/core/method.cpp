// Which method runs (method.hpp): the cost model, the measured choice and resolve_method.
//
// The measured choice times the internal kernels' fused training steps (kernels.hpp) and never
// calls the public operations, so nothing here comes back through resolve_method. Records are
// kept in a process-wide table; a TuneStore registered from above (the JSON cache file) keeps
// them between processes. This file does no file I/O.
//
// Locking: `State::mutex` guards the table, the settings and every call into the store; it is
// never held while timing. `measuring()` lets one measurement run at a time (two would slow
// each other down and time the contention).
#include "convgrad/method.hpp"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "convgrad/errors.hpp"
#include "kernels.hpp"
#include "method_internal.hpp"
#include "simd.hpp"

namespace convgrad {

std::string_view to_string(Method method) {
  switch (method) {
    case Method::reference:
      return "reference";
    case Method::direct:
      return "direct";
    case Method::fft:
      return "fft";
    case Method::jacobian:
      return "jacobian";
    case Method::automatic:
      return "auto";
  }
  return "unknown";
}

Method parse_method(std::string_view name) {
  if (name == "reference") return Method::reference;
  if (name == "direct") return Method::direct;
  if (name == "fft") return Method::fft;
  if (name == "jacobian") return Method::jacobian;
  if (name == "auto" || name == "automatic") return Method::automatic;
  throw invalid_argument("method: '" + std::string(name) +
                         "' is not one of reference, direct, fft, jacobian, auto");
}

std::string_view to_string(MethodSource source) {
  switch (source) {
    case MethodSource::requested:
      return "requested";
    case MethodSource::tuned:
      return "tuned";
    case MethodSource::model:
      return "model";
  }
  return "unknown";
}

// ---- the cost model --------------------------------------------------------------------------

// Calibrated on this machine (2-core AMD EPYC, AVX-512; bench/RESULTS.md) from one-thread
// training steps (loss_and_dh) of both methods:
//   direct: N Kc taps at 0.040 ns each in float, 0.081 ns in double, + 1 us
//   fft:    per overlap-save block of length L, L log2 L at 0.39 ns (float) or 0.54 ns
//           (double): three transforms and the spectral products; + 7 us of setup
// Kc = min(K, 2N - 1) counts only the taps that reach the signal. The crossovers at large N
// fall near K = 130 in float and K = 90 in double.
double predicted_step_seconds(Method method, std::size_t n, std::size_t k, std::size_t element_size) {
  const bool single = element_size <= 4;
  const std::size_t kc = std::min(k, 2 * std::max<std::size_t>(n, 1) - 1);
  if (method == Method::direct)
    return (single ? 0.040e-9 : 0.081e-9) * static_cast<double>(n) * static_cast<double>(kc) + 1e-6;
  const std::size_t L = detail::fft::block_transform_length(n, kc);
  const double blocks = std::ceil(static_cast<double>(n) / static_cast<double>(L - kc + 1));
  const double per_block = static_cast<double>(L) * std::log2(static_cast<double>(L));
  return (single ? 0.39e-9 : 0.54e-9) * blocks * per_block + 7e-6;
}

Method choose_method(std::size_t n, std::size_t k, std::size_t element_size) {
  return predicted_step_seconds(Method::fft, n, k, element_size) <
                 predicted_step_seconds(Method::direct, n, k, element_size)
             ? Method::fft
             : Method::direct;
}

namespace {

// ---- the table's settings --------------------------------------------------------------------

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

// ---- the key ---------------------------------------------------------------------------------

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

const TuneRecord* find(const std::vector<TuneRecord>& records, const TuneRecord& key) {
  for (const TuneRecord& r : records)
    if (same_key(r, key)) return &r;
  return nullptr;
}

// ---- the process-wide table ------------------------------------------------------------------

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
  std::mutex mutex;                  // guards every member
  std::optional<bool> enabled;       // set_tuning_enabled's choice; unset: the environment decides
  std::shared_ptr<TuneStore> store;  // null: records live in memory only
  std::vector<TuneRecord> records;   // in memory: the store's, and every one measured here
  bool loaded = false;               // whether `records` holds the store's yet
  std::string warning;
  bool warning_taken = false;  // take_tune_warning has returned `warning` already
  std::size_t measurements = 0;

  void warn(std::string text) {
    warning = std::move(text);
    warning_taken = false;
  }
  // Reads the store the first time a record is looked up (again after set_tune_store or
  // clear_tuning_memory): a lookup then costs no more than a short search.
  void load() {
    if (loaded) return;
    loaded = true;
    records.clear();
    std::string problem;
    if (store) records = store->load(problem);
    if (!problem.empty()) warn(std::move(problem));
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

// Adds `record` to the table (replacing an older one with the same key) and to the store.
void keep(const TuneRecord& record) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.load();
  keep_record(s.records, record);
  std::string problem;
  if (s.store && !s.store->save(s.records, problem)) s.warn(std::move(problem));
}

// ---- measuring -------------------------------------------------------------------------------

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

// One training step as loss_and_dh runs it (yhat and r kept per block), straight through the
// method's kernel: the inputs are finite by construction, so nothing needs validating.
template <std::floating_point T>
double kernel_step(StepBuffers<T>& b, Taps taps, Method method) {
  const std::span<const T> x(b.x), y(b.y), h(b.h);
  return method == Method::fft ? detail::fft::loss_and_grad<T>(x, y, h, taps, {}, {}, b.dh)
                               : detail::direct::loss_and_grad<T>(x, y, h, taps, {}, {}, b.dh);
}

// Best seconds of one training step by `method`. A warm-up run first (FFT plans are built
// then); the direct method has nothing to build, so its warm-up counts as a run.
template <std::floating_point T>
double time_step(StepBuffers<T>& b, Taps taps, Method method) {
  using Clock = std::chrono::steady_clock;
  const auto step = [&] {
    const Clock::time_point t0 = Clock::now();
    (void)kernel_step<T>(b, taps, method);
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

// Measures the problem `rec` keys and keeps the result. Called with measuring() held.
template <std::floating_point T>
TuneRecord measure_and_keep(TuneRecord rec) {
  {
    State& s = state();
    std::lock_guard lock(s.mutex);
    ++s.measurements;
  }
  measure<T>(rec);
  keep(rec);
  return rec;
}

}  // namespace

bool same_key(const TuneRecord& a, const TuneRecord& b) {
  return a.dtype == b.dtype && a.n == b.n && a.taps == b.taps && a.threads == b.threads &&
         a.target == b.target && a.hardware_threads == b.hardware_threads;
}

void keep_record(std::vector<TuneRecord>& records, const TuneRecord& record) {
  for (TuneRecord& r : records)
    if (same_key(r, record)) {
      r = record;
      return;
    }
  records.push_back(record);
}

template <std::floating_point T>
MethodChoice resolve_method(Method method, std::size_t n, Taps taps) {
  if (method != Method::automatic) return {method, MethodSource::requested};
  if (const std::optional<TuneRecord> r = tuned_record<T>(n, taps))
    return {r->choice, r->source == "measured" ? MethodSource::tuned : MethodSource::model};
  return {choose_method(n, taps.K(), sizeof(T)), MethodSource::model};
}

void set_tune_store(std::shared_ptr<TuneStore> store) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.store = std::move(store);
  s.records.clear();
  s.loaded = false;
  s.warning.clear();
}

void set_tuning_enabled(bool enabled) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.enabled = enabled;
}

bool tuning_enabled() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.enabled.value_or(environment_enabled());
}

template <std::floating_point T>
TuneRecord tune(std::size_t n, Taps taps) {
  (void)Taps::range(taps.lo, taps.hi);
  if (n == 0) throw invalid_argument("tune: n = 0; a signal needs at least one sample");
  std::lock_guard one_at_a_time(measuring());
  return measure_and_keep<T>(key_of(dtype_name<T>(), n, taps));
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
    return measure_and_keep<T>(key);
  } catch (const std::bad_alloc&) {  // the test signals do not fit: the model decides
    State& s = state();
    std::lock_guard lock(s.mutex);
    s.warn("tuning N = " + std::to_string(n) +
           " ran out of memory for its test signals; the cost model decides");
    return std::nullopt;
  }
}

template <std::floating_point T>
std::optional<Method> tuned_method(std::size_t n, Taps taps) {
  if (const std::optional<TuneRecord> r = tuned_record<T>(n, taps)) return r->choice;
  return std::nullopt;
}

std::string tune_cache_warning() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.warning;
}

std::string take_tune_warning() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.warning_taken) return {};
  s.warning_taken = true;
  return s.warning;
}

namespace detail {

void clear_tuning_memory() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.records.clear();
  s.loaded = false;
  s.warning.clear();
}

std::size_t tune_measurement_count() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  return s.measurements;
}

}  // namespace detail

#define CONVGRAD_INSTANTIATE(T)                                          \
  template MethodChoice resolve_method<T>(Method, std::size_t, Taps);    \
  template TuneRecord tune<T>(std::size_t, Taps);                        \
  template std::optional<TuneRecord> tuned_record<T>(std::size_t, Taps); \
  template std::optional<Method> tuned_method<T>(std::size_t, Taps);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad
