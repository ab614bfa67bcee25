// What the streaming commands (fit, apply) share: the rows per chunk and a progress line of
// bytes read.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "convgrad/file_source.hpp"
#include "convgrad/method.hpp"
#include "convgrad/taps.hpp"

namespace convgrad::cli {

// Rows of signal per chunk when the command streams its inputs: a chunk's window of x and its
// rows of y are 16 bytes a row in double, so 2^20 rows keep a chunk at 16 MiB whatever N is.
inline constexpr std::int64_t kStreamRows = std::int64_t{1} << 20;

// yhat = h * x ('same'), computed for consecutive chunks of `rows` rows and passed to
// emit(first row, the chunk's rows) in order, reading only each chunk's window of x: the rows
// [a, b) need x[a - hi, b - lo), and the window read is widened to start at or before a and end
// at or after b so that its own 'same' convolution holds those rows. A signal of one chunk is
// filtered whole, as before streaming.
// emit also gets those rows of x (for a picture of the input, without reading it again).
void filter_chunks(io::SignalReader& x, std::span<const double> h, Taps taps, Method method,
                   std::uint64_t rows,
                   const std::function<void(std::uint64_t first, std::span<const double> yhat,
                                            std::span<const double> x_rows)>& emit);

// A signal of n samples met chunk by chunk, kept for a picture in fixed memory: whole when it
// has at most 2 * kStretches samples, else the minimum and maximum of each of kStretches equal
// stretches (in that order), from which a plot draws the envelope it would draw from every
// sample (report::signal_figure draws long signals as their envelope).
class KeptForPlot {
 public:
  static constexpr std::uint64_t kStretches = std::uint64_t{1} << 15;
  explicit KeptForPlot(std::uint64_t n);
  // v[i] is sample first + i.
  void add(std::uint64_t first, std::span<const double> v);
  const std::vector<double>& values() const { return kept_; }

 private:
  std::uint64_t n_;
  bool whole_;
  std::vector<double> kept_;
};

// --chunk-rows, checked (usage_error out of range), or kStreamRows.
std::uint64_t chunk_rows_option(const std::optional<std::int64_t>& rows);

// "\r  read 1.21 of 8.00 GB  412 MB/s  ~17 s left" on stderr, redrawn at most ten times a
// second, erased by finish(). Shown with --progress, or when stderr is a terminal; --quiet
// silences it whatever else is given.
class ByteProgress {
 public:
  ByteProgress(bool quiet, bool asked);
  ~ByteProgress() { finish(); }  // an error's message then starts on a clean line
  ByteProgress(const ByteProgress&) = delete;
  ByteProgress& operator=(const ByteProgress&) = delete;
  // `done` of `total` bytes read so far (total 0: unknown).
  void operator()(std::uint64_t done, std::uint64_t total);
  void finish();

 private:
  bool on_ = false, shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  double last_ = -1;
};

}  // namespace convgrad::cli
