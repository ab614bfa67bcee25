// Fuzz target: the text/CSV reader (io::read_signal on a file named *.csv, src/io/text.cpp):
// numbers, separators, comments, line endings, and the one-signal-per-file rule.
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return convgrad::fuzz::read_signal_from("input.csv", data, size);
}
