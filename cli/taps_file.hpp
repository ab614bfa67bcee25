// Learned taps on disk, with their tap range: what `fit --out` writes and what `apply --h`,
// `fit --h0` and `fit --true-h` read.
//
//   .json  {"lo": L, "hi": H, "K": K, "h": [...]}    (the range recorded exactly)
//   .npy   float64 array of K values                 (no room for the range: give --lo)
//   other  text, one value per line, after a comment line "# convgrad taps m = L..H (lo = L)"
//          (read back by the text reader, which skips '#' comments; apply reads lo from it)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "convgrad/io.hpp"
#include "convgrad/taps.hpp"

namespace convgrad::cli {

struct TapsFile {
  std::vector<double> h;
  std::optional<std::int64_t> lo;  // recorded in the file (json, or the text header)
};

// Reads taps; errors name the file (io_error, exit 1).
TapsFile read_taps(const std::string& path, std::string_view role);

// The tap range of taps read from `path`: --lo if given (it must agree with a range the file
// records), else the recorded range, else the centred default (an odd K).
Taps range_of(const TapsFile& file, std::optional<std::int64_t> lo_option, const std::string& path);

// Stages the taps for writing by extension (see above); commit with the other outputs.
io::StagedFile stage_taps(const std::string& path, const std::vector<double>& h, Taps taps);

}  // namespace convgrad::cli
