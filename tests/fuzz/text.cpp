// Fuzz target: the text/CSV reader (io::read_signal on a file named *.csv, src/io/text.cpp):
// numbers, separators, comments, line endings, tables and their columns, the
// one-signal-per-file rule; and the window reader (io::open_signal_reader: the line scanner
// and the table-column scanner) against it: for every column choice both accept the file or
// both refuse it, and an accepted file gives the same samples, bit for bit, either way.
#include <bit>
#include <memory>
#include <vector>

#include "convgrad/file_source.hpp"
#include "fuzz_util.hpp"

namespace {

using convgrad::io::Column;

// The samples of `file` read whole, or nullopt if read_signal refuses it.
std::optional<std::vector<double>> whole(const std::string& file, const Column& column) {
  try {
    const convgrad::io::Signal s = convgrad::io::read_signal(file, std::nullopt, column);
    convgrad::fuzz::require_valid_signal(s);
    return s.samples;
  } catch (const convgrad::error&) {
    return std::nullopt;
  }
}

// The samples of `file` through the window reader, or nullopt if it refuses the file.
std::optional<std::vector<double>> windowed(const std::string& file, const Column& column) {
  try {
    const auto reader = convgrad::io::open_signal_reader(file, std::nullopt, column);
    std::vector<double> x(reader->length());
    reader->read(0, x);
    return x;
  } catch (const convgrad::error&) {
    return std::nullopt;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto file = convgrad::fuzz::scratch_dir() / "input.csv";
  convgrad::fuzz::write_bytes(file, data, size);
  for (const Column& column : {Column{}, Column{"1", false}, Column{"1", true}, Column{"b", false}}) {
    const auto a = whole(file.string(), column), b = windowed(file.string(), column);
    convgrad::fuzz::require(a.has_value() == b.has_value(),
                            "read_signal and open_signal_reader disagree on whether the file is a signal");
    if (!a) continue;
    bool same = a->size() == b->size();
    for (std::size_t i = 0; same && i < a->size(); ++i)
      same = std::bit_cast<std::uint64_t>((*a)[i]) == std::bit_cast<std::uint64_t>((*b)[i]);
    convgrad::fuzz::require(same, "the window reader's samples differ from read_signal's");
  }
  return 0;
}
