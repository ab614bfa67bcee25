// Signals read from their files a window at a time, never whole: what `convgrad fit` and
// `convgrad apply` stream through, so that their memory is set by the window, not by the
// length of the recording.
//
// A window may reach outside the signal: x[n] = 0 for n < 0 and n >= N, the 'same' model's
// zero padding, so a chunk of rows [a, b) with taps lo..hi reads x[a - hi, b - lo) as is.
//
// How each format is read:
// - .npy: the header gives N; a window is read with pread at its byte offset and converted
//   (float32 widened exactly, float64 as stored).
// - WAV (and what else libsndfile reads): the header gives N; a window is sf_seek to its first
//   frame and sf_readf_double of its frames, one channel kept.
// - text: it cannot seek to a sample, so opening reads the file once, line by line, with
//   read_signal's rules (every error of the whole file, with its line, at open) and keeps the
//   byte offset of every kTextStride-th value; a window then parses from the nearest kept
//   offset before it. Memory: N / kTextStride offsets, and one line at a time while indexing
//   (a file holding all its values on one line is held whole while it is indexed).
//
// - a pipe or a device (not a regular file), and standard input ("-"): read whole once, as
//   read_signal reads it, since it can be read neither twice nor at an offset; .mat and .json
//   files too (their libraries read whole variables and documents).
// - a column of a text table (read_signal's `column`), or a text file the line scanner does not
//   take as a signal (a table, a header line): read whole by read_signal, whose samples or
//   error it then is.
//
// The samples each reader gives equal read_signal's, bit for bit. Errors are read_signal's:
// io_error naming the file, and a NaN or infinity names its 0-based sample index, whichever
// window meets it first (the .npy and WAV readers check each window as it is read).
#pragma once

#include <atomic>
#include <cstddef>
#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "convgrad/io.hpp"
#include "convgrad/stream.hpp"

namespace convgrad::io {

// Text files keep the byte offset of every kTextStride-th value (see above).
inline constexpr std::uint64_t kTextStride = 4096;

// One signal file opened for reading windows of it.
class SignalReader {
 public:
  virtual ~SignalReader() = default;
  SignalReader(const SignalReader&) = delete;
  SignalReader& operator=(const SignalReader&) = delete;

  const std::string& path() const { return path_; }
  std::uint64_t length() const { return n_; }                         // N, from the header
  const std::optional<double>& sample_rate() const { return rate_; }  // sound files
  const std::string& format() const { return format_; }               // as Signal::format
  // Bytes taken from the file so far (headers included), for a progress line.
  std::uint64_t bytes_read() const { return bytes_read_; }
  // The file's size in bytes, and the bytes one pass over its samples reads.
  std::uint64_t file_bytes() const { return file_bytes_; }

  // out[i] = x[first + i], zero where first + i is outside [0, N). Throws io_error naming the
  // file (and the sample, for a NaN or infinity; a file cut short since it was opened).
  // Several threads may read windows of one reader at once.
  void read(std::int64_t first, std::span<double> out);
  // The same window in float32, when the file stores float32 samples that this reader gives as
  // they are (a float32 .npy): the floats read() gives in double, without the detour; true.
  // False, reading nothing, for any other file (read() it in double, then round).
  bool read_float32(std::int64_t first, std::span<float> out);

 protected:
  SignalReader(std::string path) : path_(std::move(path)) {}
  // Reads x[first, first + out.size()), all inside [0, N).
  virtual void read_inside(std::uint64_t first, std::span<double> out) = 0;
  // For a reader whose stores_float32() is true: read_inside's values, as float.
  virtual bool stores_float32() const { return false; }
  virtual void read_inside_float32(std::uint64_t, std::span<float>) {}

  std::string path_, format_;
  std::uint64_t n_ = 0, file_bytes_ = 0;
  std::atomic<std::uint64_t> bytes_read_{0};
  std::optional<double> rate_;
};

// Opens `path` by extension as read_signal reads it (.npy, a sound file, else text; "-" for
// standard input, recognised by its first bytes), with the same checks (`channel`, `column`:
// as read_signal's; a multi-channel sound file needs a channel, a text table a column).
std::unique_ptr<SignalReader> open_signal_reader(const std::string& path,
                                                 std::optional<int> channel = std::nullopt,
                                                 const Column& column = {});

// A signal already read whole (e.g. a .mat file's variable) served window by window under the
// name `path`.
std::unique_ptr<SignalReader> signal_reader_of(const std::string& path, Signal signal);

// (x, y) pairs of files: the data set of a streamed fit. Opening checks every file's header
// and that each y holds as many samples as its x (io_error naming both files otherwise).
// A sound file takes `channel`; the other formats hold one signal and ignore it.
class FilePairs {
 public:
  FilePairs(const std::vector<std::string>& x_paths, const std::vector<std::string>& y_paths,
            std::optional<int> channel = std::nullopt);
  // From readers already opened (open_signal_reader), x[p] paired with y[p]; the same checks.
  FilePairs(std::vector<std::unique_ptr<SignalReader>> x, std::vector<std::unique_ptr<SignalReader>> y);

 private:
  FilePairs(
      std::pair<std::vector<std::unique_ptr<SignalReader>>, std::vector<std::unique_ptr<SignalReader>>> xy);

 public:
  std::size_t pairs() const { return x_.size(); }
  std::uint64_t length(std::size_t p) const { return x_[p]->length(); }
  // x_p[first, first + out.size()) and y_p[...], zero outside [0, N_p).
  void read_x(std::size_t p, std::int64_t first, std::span<double> out) const { x_[p]->read(first, out); }
  void read_y(std::size_t p, std::int64_t first, std::span<double> out) const { y_[p]->read(first, out); }

  SignalReader& x(std::size_t p) const { return *x_[p]; }
  SignalReader& y(std::size_t p) const { return *y_[p]; }
  std::uint64_t bytes_read() const;  // over every file
  std::uint64_t file_bytes() const;  // over every file: what one pass reads

 private:
  std::vector<std::unique_ptr<SignalReader>> x_, y_;
};

// The pairs of files as the data source of a streamed fit (convgrad/stream.hpp), in T: float64
// samples read as float32 are rounded to nearest, and one beyond float32's range throws
// invalid_argument naming the file and the sample, with `float32_advice` appended (the command
// line says which option reads them as float64). Reads may come from several threads at once.
template <std::floating_point T>
class FileSource final : public Source<T> {
 public:
  explicit FileSource(const FilePairs& files, std::string float32_advice = "")
      : files_(files), advice_(std::move(float32_advice)) {}
  std::size_t pairs() override { return files_.pairs(); }
  std::size_t length(std::size_t p) override { return static_cast<std::size_t>(files_.length(p)); }
  void read_x(std::size_t p, std::int64_t first, std::span<T> out) override { read(files_.x(p), first, out); }
  void read_y(std::size_t p, std::int64_t first, std::span<T> out) override { read(files_.y(p), first, out); }

  // Called after every read, from the reading thread (a progress line: files.bytes_read()).
  std::function<void()> on_read;

 private:
  void read(SignalReader& file, std::int64_t first, std::span<T> out);
  const FilePairs& files_;
  std::string advice_;
};

// Receives a signal a block at a time (stage_array_stream).
class ArraySink {
 public:
  virtual ~ArraySink() = default;
  virtual void write(std::span<const double> values) = 0;
};

// Stages `n` values as write_array writes them (by extension: .npy float64 and text written
// block by block as `produce` gives them, so memory stays one block whatever n is; .mat and
// .json, which their encoders write whole, gathered first), `mat_name` naming a .mat file's
// variable. If `produce` throws, or writes other than n values (invalid_argument), nothing is
// left on disk. Commit as for stage_array (io.hpp).
StagedFile stage_array_stream(const std::string& path, std::uint64_t n,
                              const std::function<void(ArraySink&)>& produce,
                              const std::string& mat_name = "signal");

}  // namespace convgrad::io
