// The tuning cache file: where the measured choices of Method::automatic (method.hpp) are
// kept between processes (docs/tune.md).
//
// The file is JSON, read once per process and rewritten atomically after each new
// measurement, merged under an advisory lock (flock on `<cache>.lock` beside it) with what
// other processes wrote meanwhile, so concurrent writers lose no record. A missing, corrupt,
// unwritable or non-regular cache file never throws: the choices stay in memory and
// tune_cache_warning() (method.hpp) describes the problem. The library registers this file
// as the TuneStore at start-up; set_tuning chooses another file.
#pragma once

#include <filesystem>
#include <string>

#include "convgrad/method.hpp"

namespace convgrad {

// Turns tuning on or off for this process (set_tuning_enabled) and chooses the cache file;
// `cache_file` empty means default_tune_cache(). Changing the cache file forgets the
// in-memory records of the old one.
void set_tuning(bool enabled, std::filesystem::path cache_file = {});

// $CONVGRAD_TUNE_CACHE if set, else $XDG_CACHE_HOME/convgrad/tune.json, else
// $HOME/.cache/convgrad/tune.json; empty when none of them is set (records stay in memory).
std::filesystem::path default_tune_cache();
// The cache file in use: the one given to set_tuning, else default_tune_cache() as it was
// when the file was last read.
std::filesystem::path tune_cache_file();

// The cache file the last measurement was saved to; empty if it could not be written.
std::filesystem::path last_tune_save();

// The record as the cache file holds it: one JSON object (dtype, n, lo, hi, threads, target,
// hardware_threads, choice, model_choice, direct_s and fft_s in seconds or null, source).
std::string to_json(const TuneRecord& record);

}  // namespace convgrad
