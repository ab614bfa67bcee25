// How a result is computed, and which way Method::automatic goes: the cost model, the
// measured choice (`--tune`, docs/tune.md) and resolve_method, which every operation asks.
//
// The measured choice: time one training step by Method::direct and Method::fft once for a
// problem size, remember the faster, and let Method::automatic use it while tuning is on.
// What is timed is the fused training step of the internal kernels (yhat and r kept per
// block, as loss_and_dh runs it) on synthetic inputs of n samples: one warm-up run each
// (FFT plans are built then), then the best of up to 3 runs, stopping once 0.3 s is spent;
// steps under a few ms are repeated for 20 ms, so one interruption cannot decide. A method the
// cost model expects to take over 1 s per step while it expects the other to be faster is not
// timed (the record says so: its time is empty and `source` names the model), so tuning one
// size costs a few seconds at most.
//
// A record is kept for one key: dtype, n, taps lo..hi, the OpenMP thread count and the
// machine (Highway's SIMD target and the hardware thread count); a record made under another
// key is never used. Records live in memory here; keeping them across processes is a
// TuneStore's job, which a layer above registers (the JSON cache file: convgrad/tune.hpp).
// Tuning is an optimisation: a store that cannot read or write never throws;
// tune_cache_warning() describes the last such problem. Results are bitwise those of the
// method chosen.
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "convgrad/taps.hpp"

namespace convgrad {

// How a result is computed. All methods agree to rounding (see check.hpp).
enum class Method {
  reference,  // the derivation's sums as literal loops: the algorithmic reference
  direct,     // O(N K) scalar-chain-rule sums, written for speed
  fft,        // the convolution / flipped-input correlation forms through FFTW
  jacobian,   // materialise the Jacobians and multiply them as matrices
  automatic,  // direct or fft: the measured choice when tuning is on, else the cost model's
};

std::string_view to_string(Method method);
// Parses "reference", "direct", "fft", "jacobian", "auto"/"automatic"; throws invalid_argument.
Method parse_method(std::string_view name);

// ---- the cost model --------------------------------------------------------------------------

// The predicted seconds of one training step (loss_and_dh) by Method::direct or Method::fft on
// one core, for n samples, k taps and elements of element_size bytes (4: float, 8: double),
// calibrated on the benchmark machine (bench/RESULTS.md).
double predicted_step_seconds(Method method, std::size_t n, std::size_t k, std::size_t element_size = 8);

// The cost model's choice between direct and fft: the one predicted faster.
Method choose_method(std::size_t n, std::size_t k, std::size_t element_size = 8);

// The same for the multi-channel layer (channels.hpp): the predicted seconds of one layer step
// (the forward, dW and dx) on one core by Method::direct or Method::fft, and the faster one,
// which Method::automatic runs. (The measured choice below is single-channel only.)
struct ChannelShape;
double channel_method_cost(Method method, const ChannelShape& shape, std::size_t element_size);
Method choose_channel_method(const ChannelShape& shape, std::size_t element_size);

// ---- resolving a request ---------------------------------------------------------------------

// Where a resolved method came from: asked for by name, a measured record, or the cost model
// (which includes a record the model made because timing would have taken too long).
enum class MethodSource { requested, tuned, model };
std::string_view to_string(MethodSource source);

struct MethodChoice {
  Method method = Method::direct;
  MethodSource source = MethodSource::requested;
};

// The method that `method` runs as on a signal of n samples with these taps: itself
// (requested), or for Method::automatic the measured choice when tuning is on (tuned), else
// choose_method (model). Callers that report the choice use .source: nothing is looked up twice.
template <std::floating_point T>
MethodChoice resolve_method(Method method, std::size_t n, Taps taps);

// ---- the measured choice ---------------------------------------------------------------------

// One measured (or, for very large problems, modelled) choice and the key it holds for.
struct TuneRecord {
  // The key.
  std::string dtype;  // "float32" or "float64"
  std::size_t n = 0;  // signal length N
  Taps taps;
  int threads = 0;                // omp_get_max_threads() when measured
  std::string target;             // Highway's SIMD target, e.g. "AVX3"
  unsigned hardware_threads = 0;  // std::thread::hardware_concurrency()
  // The result.
  Method choice = Method::direct;        // Method::direct or Method::fft
  Method model_choice = Method::direct;  // what the cost model (choose_method) says
  std::optional<double> direct_s;        // best seconds of one step; empty if not timed
  std::optional<double> fft_s;
  std::string source;  // "measured", or "model: <why nothing or only one method was timed>"
};

// Whether two records hold for the same key.
bool same_key(const TuneRecord& a, const TuneRecord& b);
// Adds `record` to `records`, replacing the one with the same key if there is one.
void keep_record(std::vector<TuneRecord>& records, const TuneRecord& record);

// Where records are kept between processes. The numerical core defines this interface and
// never touches a file itself; the library's JSON cache file implements it (src/io/tune_cache.cpp)
// and registers itself as the store at start-up. Both calls come with the record table's lock
// held (never while timing) and must not throw: a problem is one line in `warning`.
class TuneStore {
 public:
  virtual ~TuneStore() = default;
  // The records kept so far; none, with `warning` set, when they cannot be read.
  virtual std::vector<TuneRecord> load(std::string& warning) = 0;
  // Keeps `records` (merged with whatever others kept meanwhile); false, with `warning` set,
  // when it cannot (the records then stay in memory only).
  virtual bool save(const std::vector<TuneRecord>& records, std::string& warning) = 0;
};

// Replaces the store (nullptr: records live in memory only) and forgets the in-memory
// records of the old one; they are read from the new store at the next lookup.
void set_tune_store(std::shared_ptr<TuneStore> store);

// Turns the measured choice of Method::automatic on or off for this process. Without a call,
// tuning is on when the environment variable CONVGRAD_TUNE is 1 (or true, yes, on), read once.
// (convgrad::set_tuning in tune.hpp also chooses the cache file.)
void set_tuning_enabled(bool enabled);
bool tuning_enabled();

// Measures both methods now for n samples with these taps (whether or not tuning is on),
// keeps the record in memory and in the store, and returns it. Throws invalid_argument for
// n = 0 or an invalid tap range, std::bad_alloc if the test signals do not fit.
template <std::floating_point T>
TuneRecord tune(std::size_t n, Taps taps);

// The measured choice for a signal of n samples with these taps, when tuning is on: the
// record in memory, else in the store, else tune() now. std::nullopt when tuning is off or the
// measurement could not run (then the cost model, choose_method, decides).
template <std::floating_point T>
std::optional<TuneRecord> tuned_record(std::size_t n, Taps taps);
template <std::floating_point T>
std::optional<Method> tuned_method(std::size_t n, Taps taps);

// The last problem with the store (unreadable, corrupt, wrong version, unwritable) or with a
// measurement, as one line; empty if there was none since set_tune_store.
std::string tune_cache_warning();
// The same, cleared once taken: for a caller that reports each problem once (Python warns
// after a method="auto" call). Empty when there is nothing new.
std::string take_tune_warning();

}  // namespace convgrad
