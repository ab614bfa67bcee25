// Reading the commands' input files (every error names the file) and writing their outputs
// all together or not at all.
//
// Error convention (see commands.hpp): a bad option (an empty name, two outputs naming one
// file) throws usage_error (exit 2); a bad file or an I/O failure throws convgrad::io_error (exit 1).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "convgrad/file_source.hpp"
#include "convgrad/io.hpp"
#include "convgrad/taps_file.hpp"
#include "options.hpp"

namespace convgrad::cli {

// ---- reading ---------------------------------------------------------------------------------

// Reads one signal; `role` ("x", "y", "h", "input") prefixes errors that are not about the
// file's contents, e.g. "y (b.csv) has 4 samples but x (a.csv) has 5". Every error names the file.
// "-" reads standard input (io::read_signal recognises its format). A text table's column is
// the one --column chose for this role (add_column_option).
io::Signal read_input(const std::string& path, std::string_view role,
                      std::optional<int> channel = std::nullopt);

// The same signal opened for reading a window at a time (convgrad/file_source.hpp): what
// `fit` and `apply` stream through. Same column, same note under --verbose.
std::unique_ptr<io::SignalReader> open_input(const std::string& path, std::string_view role,
                                             std::optional<int> channel = std::nullopt);

// --column [ROLE=]NAME|INDEX, repeatable: the column of the text table inputs, by header name
// or 0-based index; "x=time" or "y=out" for the input of that role only (x and y from one
// table). Added by build_command to every subcommand that reads --x.
void add_column_option(CLI::App& cmd);

// The channel option for `path`: sound files and standard input (which may hold one) take it;
// other files hold one signal and are given none.
std::optional<int> channel_for(const std::string& path, std::optional<int> channel);

// io_error unless x and y have the same length: says by how much and what to do (a
// full-mode convolution output is N + K - 1 long; the model's yhat has N samples).
void require_same_length(const std::string& x_path, std::size_t nx, const std::string& y_path,
                         std::size_t ny);

// x and y from two files, which must hold the same number of samples (io_error otherwise).
struct SignalPair {
  std::vector<double> x, y;
};
// `channel` (from --channel) is used for sound files only; text and .npy hold one signal.
SignalPair read_xy(const std::string& x_path, const std::string& y_path,
                   std::optional<int> channel = std::nullopt);

// Taps and the range they mean, read through the one taps reader (io::read_taps) with the
// command's tap options: the range a file records is honoured (convgrad/taps_file.hpp).
struct Kernel {
  std::vector<double> h;
  Taps taps;
  std::optional<double> sample_rate;  // recorded in the file, if it was
};
Kernel read_kernel(const std::string& path, std::string_view option, const TapOptions& o);

// ---- writing --------------------------------------------------------------------------------

// One output file and its values (.npy or text by extension, see io::write_array).
struct Output {
  std::string option;  // e.g. "--out-dh", for the error message when two outputs collide
  std::string path;
  std::vector<double> values;
};

// Writes every output, or none: each is staged to a temporary file beside its target first,
// and only when all staged successfully are they renamed into place. Two outputs naming the
// same path are a usage_error (checked before anything is written). Empty paths are skipped.
void write_outputs(const std::vector<Output>& outputs);

// Renames every staged file into place (the same all-or-nothing rule, for callers that stage
// their own formats, e.g. io::stage_wav).
void commit_all(std::vector<io::StagedFile>& staged);

// Throws usage_error if two non-empty paths among `paths` (option name, path) are the same file.
void require_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& paths);

// Throws usage_error if an output (option name, path) names one of the inputs: the atomic
// rename would silently replace a recording with, say, the learned taps.
void require_outputs_not_inputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                                const std::vector<std::pair<std::string, std::string>>& inputs);

// Throws io_error naming the option unless every output's directory exists and the output is
// not a directory: checked before any work, not after hours of fitting.
void require_output_directories(const std::vector<std::pair<std::string, std::string>>& outputs);

}  // namespace convgrad::cli
