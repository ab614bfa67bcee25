// Reading and writing signals and results. Every writer is atomic: it writes a temporary
// file beside the target and renames it into place, so a failure leaves nothing partial.
// Every reader throws convgrad::io_error naming the file, the position and the problem.
#pragma once

#include <cstddef>
#include <cstdint>
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
  std::string format;                 // "text", "npy-float32", "npy-float64", "wav", "mat", "json"
  std::optional<double> sample_rate;  // known for WAV
};

// Reads a 1-D signal by extension: .npy (float32/float64, little-endian, shape (N,) or (N,1)),
// .wav (through libsndfile; a multi-channel file needs `channel`, 0-based), .mat (its only
// numeric vector; read_mat chooses among several), .json (an array of numbers), anything else
// as text/CSV (one value per line, or separated by commas, spaces or tabs; '#' starts a comment).
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

// ---- MATLAB .mat files (v4, v5 and v7.3, through libmatio) ----------------------------------

// One variable of a MAT-file, as its header describes it.
struct MatVariable {
  std::string name;
  std::vector<std::size_t> dims;  // MATLAB's sizes, e.g. {1000, 1}
  std::string kind;               // "double", "single", "int16", "logical", "char", "struct", ...
  bool is_signal = false;         // a real numeric vector (N x 1, 1 x N or a scalar)
};

// True for a .mat extension (any case).
bool is_mat_file(const std::string& path);

// The variables of a MAT-file, in file order (io_error when it is not one).
std::vector<MatVariable> list_mat_variables(const std::string& path);

// Reads variable `name` as a signal (any numeric class, widened to double), with a sample rate
// when the file holds a positive scalar fs, Fs, sample_rate or srate beside it; without a name,
// the file's only real numeric vector. io_error naming the file and listing its variables
// when the name is missing, or several vectors (or none) leave the choice open; io_error too
// for a variable that is not a real vector (a matrix, complex, text, a struct), with its shape.
Signal read_mat(const std::string& path, const std::optional<std::string>& name = std::nullopt);

// "x (1000 x 1 double), fs (1 x 1 double)": the variables for a message.
std::string describe_mat_variables(const std::vector<MatVariable>& vars);

// True when read_signal reads `path` through libsndfile (.wav, .wave, .flac, .aiff, .aif,
// any case): the files for which a channel means something.
bool is_sound_file(const std::string& path);

// Writes values in the format `path`'s extension names: .npy (float64), .mat (MATLAB v5, one
// N x 1 double variable called `mat_name`), .json (an array of numbers), or text (one value
// per line, 17 significant digits) for .csv, .txt and a name without extension ("-" and
// devices). Any other extension is refused (invalid_argument listing these), before anything
// is written: a file must hold what its name says.
void write_array(const std::string& path, std::span<const double> values,
                 const std::string& mat_name = "signal");

// The check write_array makes of the extension (invalid_argument naming the supported ones).
// A stream target (below) takes the plain format whatever its name.
void require_array_format(const std::string& path);

// True when `path` is "-" or names an existing device, FIFO or socket (after symbolic links):
// written as a stream, so its name chooses no format.
bool is_stream_target(const std::string& path);

// ".npy, .mat, .json, .csv, .txt": the extensions write_array writes, for messages.
std::string array_formats();

// Writes any bytes atomically (JSON summaries, HTML reports).
void write_file_atomic(const std::string& path, const std::string& contents);

// The sample formats write_wav offers: 32-bit float keeps every value as computed (above 1 in
// magnitude too); 16-bit PCM (CD, most players) and 24-bit PCM (the studio format) hold
// values in [-1, 1] only. The file is plain RIFF/WAVE: 'fmt ', ('fact' for float) and 'data'
// chunks, nothing that readers such as scipy.io.wavfile do not know.
enum class WavFormat { float32, pcm16, pcm24 };

// "float" (or "float32"), "pcm16", "pcm24"; invalid_argument naming the choices otherwise.
WavFormat parse_wav_format(const std::string& name);

// What writing PCM clipped: samples outside [-1, 1] are written as full scale, counted here.
struct WavClipping {
  std::uint64_t count = 0;  // samples clipped
  std::uint64_t first = 0;  // the index of the first
  double peak = 0;          // the largest |value| among them
};

// Writes a mono WAV file at `sample_rate` Hz. Throws convgrad::invalid_argument for a
// non-positive sample rate, an empty or non-finite signal, or (PCM) the index of the first
// sample outside [-1, 1] when `clipped` is null (PCM would clip it silently); with `clipped`,
// such samples are written at full scale and counted there. io_error if the file cannot be
// written.
void write_wav(const std::string& path, std::span<const double> values, int sample_rate,
               WavFormat format = WavFormat::float32, WavClipping* clipped = nullptr);

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

// A picture from an SVG document, by `path`'s extension: .svg (or no extension) as it is,
// .png rasterised by rsvg-convert (Debian's librsvg2-bin), run as a separate program with
// the SVG on its standard input and the temporary file as its standard output. Staged like
// every output. io_error when rsvg-convert is missing or fails (its message quoted);
// invalid_argument for any other extension.
StagedFile stage_picture(const std::string& path, const std::string& svg);

// The staging halves of write_array, write_file_atomic and write_wav (same formats, same errors).
StagedFile stage_array(const std::string& path, std::span<const double> values,
                       const std::string& mat_name = "signal");
StagedFile stage_file(const std::string& path, const std::string& contents);
StagedFile stage_wav(const std::string& path, std::span<const double> values, int sample_rate,
                     WavFormat format = WavFormat::float32, WavClipping* clipped = nullptr);

}  // namespace convgrad::io
