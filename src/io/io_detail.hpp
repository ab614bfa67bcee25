// Shared pieces of the io room: file reading, error text, temporary-file staging.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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

Signal read_npy(const std::string& path);
Signal read_text(const std::string& path);
Signal read_json_array(const std::string& path);  // [v0, v1, ...], as write_array writes .json
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
std::string encode_text(std::span<const double> values);
std::string encode_json(std::span<const double> values);

}  // namespace detail
}  // namespace convgrad::io
