// Sound files read and written a block at a time, so that a stream of any length runs in
// constant memory (the adaptive filters' `convgrad adapt`).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "convgrad/io.hpp"

namespace convgrad::io {

// One channel of a sound file (anything libsndfile reads: WAV, FLAC, AIFF), read in blocks.
// Opening checks what read_signal checks (the file exists, is complete, has frames, the
// channel exists; a multi-channel file needs `channel`) and throws io_error naming the file.
class SoundReader {
 public:
  SoundReader(const std::string& path, std::optional<int> channel = std::nullopt);
  ~SoundReader();
  SoundReader(SoundReader&&) noexcept;
  SoundReader& operator=(SoundReader&&) noexcept;

  int sample_rate() const;
  int channels() const;
  std::uint64_t frames() const;  // as the header announces
  // Reads up to out.size() samples of the channel into out; returns how many (0 at the end).
  // A NaN or infinity throws io_error with its sample index in the file; a file that ends
  // before the frames its header announced throws io_error (truncated).
  std::size_t read(std::span<double> out);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Receives a mono signal a block at a time (see stage_wav_stream).
class SoundSink {
 public:
  virtual ~SoundSink() = default;
  // Appends the samples; the same checks as write_wav (finite, in range for the format), with
  // the index counted from the start of the stream.
  virtual void write(std::span<const double> samples) = 0;
};

// Stages a mono WAV file whose samples `produce` writes to the sink block by block (its
// memory stays constant). If `produce` throws, nothing is left on disk. Commit as for
// stage_wav; an empty stream is an error (invalid_argument), as for write_wav, and so is a PCM
// sample outside [-1, 1] unless `clipped` counts the clipping (see write_wav).
StagedFile stage_wav_stream(const std::string& path, int sample_rate, WavFormat format,
                            const std::function<void(SoundSink&)>& produce, WavClipping* clipped = nullptr);

}  // namespace convgrad::io
