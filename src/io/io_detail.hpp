// Shared pieces of the io room: file reading, error text, temporary-file staging.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/file_source.hpp"
#include "convgrad/io.hpp"
#include "core/quote.hpp"

namespace convgrad::io {

// Builds StagedFile objects; the only code allowed to (the constructor is private).
class Stager {
 public:
  // Creates a fresh temporary file beside `path` (same directory, so the final rename is
  // atomic), lets `write(fd)` fill it, flushes it to disk and closes it. If anything throws,
  // the temporary is removed and the error passed on. Throws io_error naming `path` when the
  // directory is missing or unwritable or the target is a directory.
  static StagedFile stage(const std::string& path, const std::function<void(int fd)>& write);
};

namespace detail {

// io_error "PATH: no such file" / "is a directory" unless `path` names an existing file.
void require_readable_file(const std::string& path);

// The whole file as bytes; io_error "PATH: no such file" / "is a directory" / the OS reason.
std::string read_file(const std::string& path);

// Writes all bytes to fd, retrying short writes; io_error naming `path` on failure.
void write_all(int fd, const char* data, std::size_t size, const std::string& path);

// Lower-cased extension with the dot: "data/x.NPY" -> ".npy".
std::string extension(const std::string& path);

// A token made safe to quote in a one-line message: non-printables as \xNN, at most 40 chars.
using convgrad::detail::quote_token;

// Throws io_error "PATH: <where> is NaN/Inf (sample index i)" for the first non-finite value.
void require_finite_samples(std::span<const double> v, const std::string& path);
// The same for a window whose first value is sample `first` of the file (float: a float32
// .npy window read as stored).
void require_finite_window(std::span<const double> v, std::uint64_t first, const std::string& path);
void require_finite_window(std::span<const float> v, std::uint64_t first, const std::string& path);

// A sound file opened for reading windows of one channel (file_source.hpp), in wav.cpp.
std::unique_ptr<SignalReader> open_sound_reader(const std::string& path, std::optional<int> channel);

// Standard input ('-', stdin.cpp), buffered whole on first use. Its format, from its first
// bytes: .npy by the magic "\x93NUMPY", a sound file by its RIFF/RF64 WAVE, FLAC or AIFF
// header, JSON (taps) by a leading '{' or '[', text otherwise.
enum class StdinFormat { npy, sound, json, text };
StdinFormat stdin_format();
// A path every reader can open that holds standard input's bytes.
std::string stdin_path();
// Reads standard input with `read(path)`; its errors name "standard input", not the path.
[[noreturn]] void rethrow_as_stdin(const io_error& e);
template <class Read>
auto read_stdin_with(Read&& read) {
  try {
    return read(stdin_path());
  } catch (const io_error& e) {
    rethrow_as_stdin(e);
  }
}

Signal read_npy(const std::string& path);
// Text, or a column of a text table (read_signal).
Signal read_text(const std::string& path, const Column& column = {});
Signal read_json_array(const std::string& path);  // [v0, v1, ...], as write_array writes .json

// Where a .npy file's samples are: n values of `width` bytes (4: float32, 8: float64) from
// byte data_at. npy_layout checks the first bytes of the file (`head`: the magic string, the
// version, the header dict; at least the whole header) against the file's size, with the
// errors read_npy gives (a truncated file, trailing bytes, an unsupported dtype or shape).
struct NpyLayout {
  std::uint64_t data_at = 0, n = 0;
  std::size_t width = 8;
};
NpyLayout npy_layout(std::string_view head, std::uint64_t file_size, const std::string& path);
// out[i] = the i-th little-endian value of `width` bytes at p (float32 widened exactly).
void decode_npy(const unsigned char* p, std::size_t width, std::span<double> out);

// Reads a text signal (not a table) with read_text's rules, a block of the file at a time, calling
// on_value(v, i, offset) for the i-th value (0-based), which starts at byte `offset` of the
// file; returns how many values there were (io_error for none). Memory: one line at a time.
// A file that may be a table (a first line that is not all finite numbers: a header, or a NaN in
// a column nobody asked for; a second line of values after a first of several) throws
// maybe_table, for read_text to read or refuse whole.
struct maybe_table : io_error {
  using io_error::io_error;
};
std::uint64_t scan_text(const std::string& path,
                        const std::function<void(double v, std::uint64_t i, std::uint64_t offset)>& on_value);
// One column of a text table, read as read_text reads it, a line at a time: on_value(v, i,
// offset) for row i's value, the row's line starting at byte `offset`; returns the number of rows
// and the column's 0-based index. Throws maybe_table for a file that is no table after all (one
// line of values: a signal) or has a header and no rows: read it whole (read_text), which reads
// it, or words the error. Memory: one line at a time.
struct TableColumn {
  std::uint64_t rows = 0;
  std::size_t column = 0;
};
TableColumn scan_table_column(
    const std::string& path, const Column& choice,
    const std::function<void(double v, std::uint64_t i, std::uint64_t offset)>& on_value);
// The value in `column` of one line of a table scan_table_column checked (row: its index, for
// the errors); nullopt for a blank or comment-only line.
std::optional<double> table_row_value(std::string_view line, std::size_t column, std::uint64_t row,
                                      const std::string& path);
// One number, the whole token, as the text reader reads it (io_error naming PATH:LINE).
double parse_text_number(std::string_view token, const std::string& path, std::size_t line);
Signal read_sound(const std::string& path, std::optional<int> channel);
// io_error naming `path` for a WAV header libsndfile would misread: an encoding it cannot decode
// itself (MPEG), no channels, a zero sample rate, or a data chunk cut short.
void require_supported_wav(const std::string& path);
// write_wav's check of sample i: finite, and in range for the format (invalid_argument) unless
// `clipped` is given, which then counts a PCM sample outside [-1, 1] (written at full scale).
void require_wav_sample(double v, std::size_t i, const std::string& path, WavFormat format,
                        WavClipping* clipped = nullptr);

// A named column vector of a MAT-file.
struct MatVector {
  std::string name;
  std::span<const double> values;
};
// Writes a MATLAB v5 MAT-file holding `vectors` (N x 1 doubles) to fd.
void write_mat_vectors(int fd, const std::string& path, const std::vector<MatVector>& vectors);

// The .npy, text and JSON-array encodings of values (the bytes of the file).
std::string encode_npy(std::span<const double> values);
// The pieces of encode_npy: the header of n float64 values, and the values' bytes appended.
std::string npy_header(std::uint64_t n);
void append_npy_values(std::string& out, std::span<const double> values);
std::string encode_text(std::span<const double> values);
std::string encode_json(std::span<const double> values);

}  // namespace detail
}  // namespace convgrad::io
