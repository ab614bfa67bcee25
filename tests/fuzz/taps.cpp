// Fuzz target: the taps files that `fit --out` writes and `apply --h`, `fit --h0` and
// `fit --true-h` read (read_taps: .json with its recorded range, .npy, and text/CSV with
// its "# convgrad taps ... (lo = L)" header line).
//
// The reader is chosen by the file name, as the command does; the name is chosen from the
// bytes, as a user's file would look: the .npy magic makes it .npy, a leading '{' or '['
// makes it .json, anything else is text (.csv). Each seed is then a real taps file.
#include <string_view>

#include "fuzz_util.hpp"
#include "convgrad/taps_file.hpp"

namespace {

std::string_view taps_file_name(std::string_view bytes) {
  if (bytes.starts_with("\x93NUMPY")) return "taps.npy";
  const auto first = bytes.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (bytes[first] == '{' || bytes[first] == '[')) return "taps.json";
  return "taps.csv";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace convgrad::fuzz;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const fs::path file = scratch_dir() / taps_file_name(bytes);
  write_bytes(file, data, size);
  try {
    const convgrad::io::TapsFile taps = convgrad::io::read_taps(file.string());
    require(!taps.h.empty(), "read_taps returned no taps");
    for (const double v : taps.h) require(std::isfinite(v), "read_taps returned a non-finite tap");
    require(!taps.lo || (*taps.lo >= -convgrad::kMaxTapOffset && *taps.lo <= convgrad::kMaxTapOffset),
            "read_taps returned a recorded lo beyond kMaxTapOffset");
  } catch (const convgrad::error&) {
    // refused, with a message naming the file
  }
  return 0;
}
