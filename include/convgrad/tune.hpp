// The measured choice between the direct and FFT methods (`--tune`): time both once for a
// problem size, remember the faster, and let Method::automatic use it (resolve_method).
//
// What is timed is one training step, loss_and_dh(x, y, h, taps, dh) (the step fit takes),
// by Method::direct and by Method::fft, on synthetic inputs of n samples: one warm-up run
// each (FFT plans are built then), then the best of up to 3 runs, stopping once 0.3 s is
// spent; steps under a few ms are repeated for 20 ms, so one interruption cannot decide. A
// method the cost model expects to take over 1 s per step while it expects the other to be
// faster is not timed (the record says so: its time is empty and `source` names the model),
// so tuning one size costs a few seconds at most.
//
// A record is kept for one key: dtype, n, taps lo..hi, the OpenMP thread count and the
// machine (Highway's SIMD target and the hardware thread count); a record made under another
// key is never used. Records live in memory and in a JSON cache file (docs/tune.md), read once
// and rewritten atomically after each new measurement. Tuning is an optimisation: a missing,
// corrupt or unwritable cache file never throws; tune_cache_warning() describes the last such
// problem. Results are bitwise those of the method chosen.
#pragma once

#include <concepts>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

#include "convgrad/ops.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {

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

// Turns tuning on or off for this process; `cache_file` empty means default_tune_cache().
// Without a call, tuning is on when the environment variable CONVGRAD_TUNE is 1 (or true,
// yes, on), read once. Changing the cache file forgets the in-memory records of the old one.
void set_tuning(bool enabled, std::filesystem::path cache_file = {});
bool tuning_enabled();

// $CONVGRAD_TUNE_CACHE if set, else $XDG_CACHE_HOME/convgrad/tune.json, else
// $HOME/.cache/convgrad/tune.json; empty when none of them is set (records stay in memory).
std::filesystem::path default_tune_cache();
// The cache file in use: the one given to set_tuning, else default_tune_cache() as it was
// when the file was first read.
std::filesystem::path tune_cache_file();

// Measures both methods now for n samples with these taps (whether or not tuning is on),
// keeps the record in memory and in the cache file, and returns it. Throws invalid_argument
// for n = 0 or an invalid tap range, std::bad_alloc if the test signals do not fit.
template <std::floating_point T>
TuneRecord tune(std::size_t n, Taps taps);

// The measured choice for a signal of n samples with these taps, when tuning is on: the
// record in memory, else in the cache file, else tune() now. std::nullopt when tuning is off
// or the measurement could not run (then the cost model, choose_method, decides).
template <std::floating_point T>
std::optional<Method> tuned_method(std::size_t n, Taps taps);
// The same, with the whole record (e.g. to report whether it was measured).
template <std::floating_point T>
std::optional<TuneRecord> tuned_record(std::size_t n, Taps taps);

// The record as the cache file holds it: one JSON object (dtype, n, lo, hi, threads, target,
// hardware_threads, choice, model_choice, direct_s and fft_s in seconds or null, source).
std::string to_json(const TuneRecord& record);

// The cache file the last measurement was saved to; empty if it could not be written.
std::filesystem::path last_tune_save();

// The last problem with the cache file (unreadable, corrupt, wrong version, unwritable) or
// with a measurement, as one line; empty if there was none since set_tuning / clear.
std::string tune_cache_warning();
// Forgets the in-memory records (the cache file is read again on the next lookup) and the
// warning. For tests.
void clear_tuning_memory();
// How many times tune() has run in this process. For tests.
std::size_t tune_measurement_count();

}  // namespace convgrad
