// Learned taps on disk, with their tap range and the sample rate they were learned at: what
// `convgrad fit --out` writes, what every command that takes taps reads, and what Python's
// convgrad.read_taps / write_taps use.
//
//   .json  {"lo": L, "hi": H, "K": K, "h": [...], "sample_rate": R}   the range recorded exactly
//          (a bare array [..] or an object without "lo" is read too; "sample_rate" is optional)
//   .mat   MATLAB v5: variables h (K x 1), lo, hi and sample_rate (if known); a .mat file
//          without h holds the taps as its only vector (v4, v5 and v7.3 are read)
//   .npy   a float64 array of K values: no room for the range or the rate
//   .csv, .txt (or no extension): text, one value per line, after the comment line
//          "# convgrad taps m = L..H (lo = L)" or "... (lo = L) (sample_rate = R)"
//
// A file that records no range (a .npy, or text without that header) means the centred
// convention m = -(K-1)/2..(K-1)/2 of an odd K. So a range that is not centred is never
// written where it cannot be recorded: stage_taps and write_taps refuse it (use .json or
// .csv), and a reader never guesses a range other than the centred one.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "convgrad/io.hpp"
#include "convgrad/taps.hpp"

namespace convgrad::io {

struct TapsFile {
  std::vector<double> h;              // h[j] is tap m = lo + j
  std::optional<std::int64_t> lo;     // the first tap m, when the file records it
  std::optional<double> sample_rate;  // Hz, when the file records it (WAV impulse responses too)
};

// Reads taps by extension (above); also .wav and the other sound files read_signal takes (an
// impulse response: no range, its sample rate). Throws io_error naming the file for anything
// that is not a non-empty list of finite taps with a sane recorded range and rate.
// "-" reads standard input: JSON when it starts with '{' or '[', else as read_signal
// recognises it (.npy, sound, or text with its optional "# convgrad taps" header line).
TapsFile read_taps(const std::string& path);

// The tap range the file means: its recorded range, else the centred convention (an even
// K without a recorded range has no centre: io_error naming the file).
Taps recorded_range(const TapsFile& file, const std::string& path);

// True when the format chosen by `path`'s extension records a tap range (.json and text).
bool records_range(const std::string& path);

// Throws invalid_argument, before any work, if `path` cannot hold `taps`: a range that is not
// centred in a format that cannot record it (.npy), or an extension that names none of the
// formats above (a sound file, say: taps are not sound).
void require_taps_format(const std::string& path, Taps taps);

// Stages the taps (see io.hpp's StagedFile) in the format `path`'s extension chooses, with
// their range and, where the format records it, the sample rate. Errors as require_taps_format,
// invalid_argument when h.size() != taps.K() or a value is not finite, and io_error.
StagedFile stage_taps(const std::string& path, std::span<const double> h, Taps taps,
                      std::optional<double> sample_rate = std::nullopt);

// stage_taps, committed at once.
void write_taps(const std::string& path, std::span<const double> h, Taps taps,
                std::optional<double> sample_rate = std::nullopt);

}  // namespace convgrad::io
