// Reading and writing signals and results. Every writer is atomic: it writes a temporary
// file beside the target and renames it into place, so a failure leaves nothing partial.
// Every reader throws convgrad::io_error naming the file, the position and the problem.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace convgrad::io {

struct Signal {
  std::vector<double> samples;       // float32 data is widened exactly
  std::string format;                // "text", "npy-float32", "npy-float64", "wav"
  std::optional<double> sample_rate;  // known for WAV
};

// Reads a 1-D signal by extension: .npy (float32/float64, little-endian, shape (N,) or (N,1)),
// .wav (through libsndfile; a multi-channel file needs `channel`, 0-based), anything else as
// text/CSV (one value per line, or separated by commas, spaces or tabs; '#' starts a comment).
// Rejects empty files, non-numeric text, NaN/Inf (with the index of the first), bad headers.
Signal read_signal(const std::string& path, std::optional<int> channel = std::nullopt);

// Writes values as .npy (float64) or text (one value per line, 17 significant digits; .csv,
// .txt or anything else) by extension.
void write_array(const std::string& path, std::span<const double> values);

// Writes any bytes atomically (JSON summaries, HTML reports).
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace convgrad::io
