// Reading and writing signals and results. Every writer is atomic: it writes a temporary
// file beside the target and renames it into place, so a failure leaves nothing partial.
// Every reader throws convgrad::io_error naming the file, the position and the problem.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace convgrad::io {

// A WAV file counts its channels in 16 bits: at most 65535 channels, 0-based indices
// 0..kMaxChannels-1. Every reader and every channel option takes its limit from here.
inline constexpr int kMaxChannels = 65535;

struct Signal {
  std::vector<double> samples;        // float32 data is widened exactly
  std::string format;                 // "text", "npy-float32", "npy-float64", "wav"
  std::optional<double> sample_rate;  // known for WAV
};

// Reads a 1-D signal by extension: .npy (float32/float64, little-endian, shape (N,) or (N,1)),
// .wav (through libsndfile; a multi-channel file needs `channel`, 0-based), anything else as
// text/CSV (one value per line, or separated by commas, spaces or tabs; '#' starts a comment).
// Rejects empty files, non-numeric text, NaN/Inf (with the index of the first), bad headers.
//
// Text: either one value per line or all values on one line; a file with several values on
// several lines is a table, not a signal, and is refused (say which column you mean).
// .npy: C order; a 2-D (N,1) array saved in Fortran order is refused as the spec asks.
// WAV: integer PCM is scaled to [-1, 1) by libsndfile; float WAV is read as stored.
//
// Standard input: the path "-" reads it (whole, once; a second "-" reads the same bytes). It
// has no extension, so its format is recognised from its first bytes: .npy by its magic
// string, WAV (RIFF/RF64), FLAC and AIFF by their headers, anything else as text. Errors name
// it "standard input".
//
// Tables: a text file with several values per line on several lines, or whose first line is
// a header (a line of names: any token not a number), is a table. `column` chooses one of its
// columns: a header name, or else a 0-based index. A table of one column is read without
// one; for a wider table without `column`, and for a column that does not exist, the error
// lists the columns (index and name). Rows must all have the table's number of values.
// `column` is refused for .npy and sound files (a sound file has channels), and for a text
// that is one signal, unless it is `tables_only` (then such inputs ignore it).
struct Column {
  std::string spec;          // a header name, or else a 0-based index; empty: none
  bool tables_only = false;  // for every input of a run: only the tables take it
};
Signal read_signal(const std::string& path, std::optional<int> channel = std::nullopt,
                   const Column& column = {});

// "-" as a file name: standard input (read_signal, read_taps) or standard output (the writers).
inline constexpr std::string_view kStandardInput = "standard input";
bool is_standard_input(const std::string& path);
// The path as messages name it: "standard input" for "-", else the path itself.
std::string display_name(const std::string& path);

// True when read_signal reads `path` through libsndfile (.wav, .wave, .flac, .aiff, .aif,
// any case): the files for which a channel means something.
bool is_sound_file(const std::string& path);

// Writes values as .npy (float64) or text (one value per line, 17 significant digits; .csv,
// .txt or anything else) by extension.
void write_array(const std::string& path, std::span<const double> values);

// Writes any bytes atomically (JSON summaries, HTML reports).
void write_file_atomic(const std::string& path, const std::string& contents);

// The sample formats write_wav offers: 32-bit float keeps every value as computed (above 1 in
// magnitude too); 24-bit PCM is the common studio format and needs every |value| <= 1.
enum class WavFormat { float32, pcm24 };

// Writes a mono WAV file at `sample_rate` Hz. Throws convgrad::invalid_argument for a
// non-positive sample rate, an empty or non-finite signal, or (pcm24) the index of the first
// sample outside [-1, 1] (PCM would clip it silently); io_error if the file cannot be written.
void write_wav(const std::string& path, std::span<const double> values, int sample_rate,
               WavFormat format = WavFormat::float32);

// A file written completely to a temporary name beside its target and not yet renamed into
// place: several outputs can be staged first and committed together, so that a failure in
// any of them leaves none behind. The destructor removes the temporary if not committed.
//
// What the target is decides how it is written (it is looked at first, with lstat):
// - absent or a regular file: a temporary beside it, renamed over it on commit (atomic);
// - a symbolic link: followed to its final target, which is replaced the same way (the link
//   stays a link);
// - "-", /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: written to that descriptor;
// - a character or block device, or a FIFO: opened and written directly on commit (there is
//   nothing to make atomic; /dev/full then fails with its own error);
// - anything else (a directory, a socket): refused with io_error.
// Direct targets are staged in memory (an anonymous file), so staging never touches them.
class StagedFile {
 public:
  StagedFile(StagedFile&& other) noexcept;
  StagedFile& operator=(StagedFile&& other) noexcept;
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;
  ~StagedFile();

  // Renames the temporary onto the target (or copies the staged bytes to a direct target);
  // throws io_error (and removes the temporary) if that fails. Committing twice is an error.
  void commit();
  const std::string& path() const { return path_; }

 private:
  friend class Stager;
  StagedFile() = default;
  void release() noexcept;  // removes the temporary and closes the staged bytes, if any

  std::string path_;      // as the caller named it (for messages)
  std::string target_;    // where the bytes land: path_, or the final target of a symlink
  std::string temp_;      // the temporary beside target_; empty once committed, moved or direct
  int slot_ = -1;         // temp_'s entry in the list removed on a signal (-1: none)
  int staged_fd_ = -1;    // direct targets: the bytes, in an anonymous in-memory file
  int out_fd_ = -1;       // direct targets that are an open descriptor (stdout...); else -1
  bool pending_ = false;  // staged and not yet committed
};

// On SIGINT, SIGTERM, SIGHUP and SIGPIPE (each only where it is not ignored), removes the
// temporary files being written or staged, then ends the process by the same signal, so that
// an interrupted write leaves nothing behind. For programs (the command); idempotent.
// Temporaries of a process killed by SIGKILL are named ".NAME.convgrad-tmp.PID.*": the next
// write to the same target removes those whose process no longer exists.
void remove_temporaries_on_signals();

// The staging halves of write_array, write_file_atomic and write_wav (same formats, same errors).
StagedFile stage_array(const std::string& path, std::span<const double> values);
StagedFile stage_file(const std::string& path, const std::string& contents);
StagedFile stage_wav(const std::string& path, std::span<const double> values, int sample_rate,
                     WavFormat format = WavFormat::float32);

}  // namespace convgrad::io
