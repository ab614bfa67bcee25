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
// "-" reads standard input (io::read_signal recognises its format); a .mat input is read
// through the --var option (below). A text table's column is
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

// --var NAME, or --var ROLE=NAME (repeatable): which variable of a .mat input to read. NAME
// applies to every .mat input, x=NAME to --x only (the roles are the options' names: x, y,
// h, true-h...). Without one, a file's only vector is read, or, among several, the one named
// like the option (x for --x); otherwise the error lists the file's variables.
void add_var_option(CLI::App& cmd);

// The variable --var names for `role`, if any (usage_error for a malformed --var).
std::optional<std::string> mat_variable(std::string_view role);

// Numbers given on the command line: an inline list ("1,2,3", "0.5 -1", "4") when `value` holds
// only numbers separated by commas or blanks, else the file `value` names (read_input).
// usage_error for a list with a bad entry, naming `option` and the entry.
std::vector<double> read_values(const std::string& value, std::string_view option);

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

// One output file and its values (.npy, .mat, .json or text by extension, see io::write_array).
struct Output {
  std::string option;  // e.g. "--out-dh", for the error message when two outputs collide
  std::string path;
  std::vector<double> values;
  std::string name = "signal";  // the variable's name in a .mat file (dh, dx, ...)
};

// What an output option writes, which decides the extensions it takes.
enum class OutputKind {
  values,   // numbers: .npy, .mat, .json, .csv, .txt
  sound,    // a signal that may also be a WAV file: those and .wav
  taps,     // learned taps: .json, .mat, .csv, .txt, .npy (io::require_taps_format)
  json,     // a JSON document (--summary): .json
  table,    // CSV rows (--history): .csv, .txt
  html,     // a web page (--report): .html, .htm
  picture,  // --plot: .svg, .png
};

// usage_error naming the option, the extension and the ones it takes, unless `path`'s
// extension is one `kind` writes. A name without extension ("-", a device, "out") is taken:
// it gets the kind's plain format (text, JSON, CSV, HTML, SVG). Empty paths are skipped.
void require_output_format(const std::string& option, const std::string& path, OutputKind kind);

// Writes every output, or none: each is staged to a temporary file beside its target first,
// and only when all staged successfully are they renamed into place. Two outputs naming the
// same path are a usage_error (checked before anything is written). Empty paths are skipped.
// `staged` are files the caller staged already (a picture, say), committed with the rest.
void write_outputs(const std::vector<Output>& outputs, std::vector<io::StagedFile>& staged);
void write_outputs(const std::vector<Output>& outputs);

// Renames every staged file into place (the same all-or-nothing rule, for callers that stage
// their own formats, e.g. io::stage_wav).
void commit_all(std::vector<io::StagedFile>& staged);

// --wav-format NAME: float (or float32), pcm16, pcm24; anything else is a usage_error.
io::WavFormat wav_format_option(const std::string& name);

// One warning line on stderr when writing PCM clipped samples: how many, the first, the peak.
void warn_if_clipped(const std::string& path, const io::WavClipping& clipped, io::WavFormat format);

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
