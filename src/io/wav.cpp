// Sound files: read through libsndfile (WAV, and whatever else it reads by extension: FLAC,
// AIFF), picking one channel; written as mono WAV by our own few lines (32-bit float, 16- or
// 24-bit PCM), which add no chunk that other readers do not know.
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/sound_stream.hpp"
#include "io_detail.hpp"

namespace convgrad::io {
namespace {

struct SndfileCloser {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

// More samples than this (2^31, 16 GiB of doubles) is a corrupt header, not a recording.
constexpr sf_count_t kMaxSamples = sf_count_t{1} << 31;

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

std::uint16_t le16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | p[1] << 8); }

// The WAV encodings libsndfile decodes itself. Any other (MPEG above all) goes to an outside
// decoder, or to none: libsndfile's MP3 decoder prints its own notes on stderr and then fails
// with an unrelated reason, so such files are refused from the header, before any decoding.
std::string unsupported_wav_encoding(std::uint16_t tag) {
  switch (tag) {
    case 0x0001:  // PCM
    case 0x0002:  // Microsoft ADPCM
    case 0x0003:  // IEEE float
    case 0x0006:  // A-law
    case 0x0007:  // mu-law
    case 0x0011:  // IMA ADPCM
    case 0x0031:  // GSM 6.10
    case 0x0040:  // G.721 ADPCM
      return "";
    case 0x0050:
    case 0x0055:
      return "MPEG audio";
    default:
      return "an unsupported encoding";
  }
}

}  // namespace

namespace detail {

// What libsndfile would misreport in a WAV header, checked first: an encoding it cannot decode
// itself (the format tag of the 'fmt ' chunk, or the sub-format of WAVE_FORMAT_EXTENSIBLE), no
// channels, a zero sample rate. And libsndfile quietly reads a WAV whose data was cut short as
// a shorter signal; a truncated file is corrupt, not short: the length the 'data' chunk
// announces is compared with the bytes that follow. (Streaming writers put 0 or 0xFFFFFFFF
// there; those announce nothing and are let through.)
void require_supported_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[12];
  if (!in.read(reinterpret_cast<char*>(head), 12)) return;  // libsndfile will name the problem
  if (std::memcmp(head, "RIFF", 4) != 0 || std::memcmp(head + 8, "WAVE", 4) != 0) return;
  in.seekg(0, std::ios::end);
  const std::uint64_t size = static_cast<std::uint64_t>(in.tellg());
  std::uint64_t at = 12;
  while (at + 8 <= size) {
    unsigned char chunk[8];
    in.seekg(static_cast<std::streamoff>(at));
    if (!in.read(reinterpret_cast<char*>(chunk), 8)) return;
    const std::uint64_t len = le32(chunk + 4);
    if (std::memcmp(chunk, "fmt ", 4) == 0) {
      unsigned char fmt[40] = {};
      const std::size_t have = static_cast<std::size_t>(std::min<std::uint64_t>(len, sizeof fmt));
      if (have < 16 || !in.read(reinterpret_cast<char*>(fmt), static_cast<std::streamsize>(have))) return;
      std::uint16_t tag = le16(fmt);
      if (tag == 0xFFFE && have >= 26) tag = le16(fmt + 24);  // WAVE_FORMAT_EXTENSIBLE: the sub-format
      const std::string what = unsupported_wav_encoding(tag);
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%04X", tag);
      if (!what.empty())
        throw io_error(path + ": the WAV data are " + what + " (format " + hex +
                       "), which is not read; convert it to PCM or 32-bit float WAV");
      if (le16(fmt + 2) == 0) throw io_error(path + ": the WAV header declares 0 channels");
      if (le32(fmt + 4) == 0) throw io_error(path + ": the WAV header declares a sample rate of 0");
    }
    if (std::memcmp(chunk, "data", 4) == 0) {
      if (len != 0 && len != 0xFFFFFFFFu && at + 8 + len > size)
        throw io_error(path + ": truncated: the 'data' chunk announces " + std::to_string(len) +
                       " bytes, only " + std::to_string(size - at - 8) + " follow");
      return;
    }
    at += 8 + len + (len & 1);  // chunks are padded to an even length
  }
}

void require_wav_sample(double v, std::size_t i, const std::string& path, WavFormat format,
                        WavClipping* clipped) {
  if (!std::isfinite(v))
    throw invalid_argument("write_wav: sample " + std::to_string(i) + " for '" + path + "' is not finite");
  if (format != WavFormat::float32 && std::abs(v) > 1.0) {
    if (clipped) {
      if (clipped->count++ == 0) clipped->first = i;
      clipped->peak = std::max(clipped->peak, std::abs(v));
      return;
    }
    throw invalid_argument("write_wav: sample " + std::to_string(i) + " = " + std::to_string(v) + " for '" +
                           path + "' is outside [-1, 1], which " +
                           (format == WavFormat::pcm16 ? "16" : "24") +
                           "-bit PCM would clip; write 32-bit float or scale the signal");
  }
  if (format == WavFormat::float32 && std::abs(v) > std::numeric_limits<float>::max())
    throw invalid_argument("write_wav: sample " + std::to_string(i) + " for '" + path +
                           "' is beyond the float32 range");
}

// Opens a sound file for reading one channel (`pick`), with every check a reader needs:
// the file exists and is complete, has frames, and the channel exists (required when there
// are several).
SndfilePtr open_sound(const std::string& path, std::optional<int> channel, SF_INFO& info, int& pick) {
  require_readable_file(path);  // a missing file or a directory, in our words
  if (extension(path) == ".wav" || extension(path) == ".wave") require_supported_wav(path);
  info = SF_INFO{};
  SndfilePtr f(sf_open(path.c_str(), SFM_READ, &info));
  if (!f)
    throw io_error(path + ": not a readable sound file: " + detail::quote_token(sf_strerror(nullptr), 200));
  const int channels = info.channels;
  if (channels < 1)
    throw io_error(path + ": the sound file reports " + std::to_string(channels) + " channels");
  if (info.frames <= 0) throw io_error(path + ": the sound file holds no samples (an empty signal)");
  pick = 0;
  if (channels > 1 && !channel)
    throw io_error(path + ": has " + std::to_string(channels) +
                   " channels; a signal is one channel: choose one (0.." + std::to_string(channels - 1) +
                   ")");
  if (channel) {
    if (*channel < 0 || *channel >= channels)
      throw io_error(path + ": channel " + std::to_string(*channel) + " does not exist; the file has " +
                     std::to_string(channels) + " (0.." + std::to_string(channels - 1) + ")");
    pick = *channel;
  }
  return f;
}

Signal read_sound(const std::string& path, std::optional<int> channel) {
  SF_INFO info{};
  int pick = 0;
  SndfilePtr f = open_sound(path, channel, info, pick);
  const int channels = info.channels;
  if (info.frames > kMaxSamples / channels)
    throw io_error(path + ": the header announces " + std::to_string(info.frames) +
                   " frames, more than can be read");
  std::vector<double> frames(static_cast<std::size_t>(info.frames) * static_cast<std::size_t>(channels));
  const sf_count_t got = sf_readf_double(f.get(), frames.data(), info.frames);
  if (got != info.frames)
    throw io_error(path + ": truncated: the header announces " + std::to_string(info.frames) +
                   " frames, only " + std::to_string(got < 0 ? 0 : got) + " could be read");
  Signal s;
  s.format = "wav";
  s.sample_rate = static_cast<double>(info.samplerate);
  s.samples.resize(static_cast<std::size_t>(info.frames));
  for (std::size_t i = 0; i < s.samples.size(); ++i)
    s.samples[i] = frames[i * static_cast<std::size_t>(channels) + static_cast<std::size_t>(pick)];
  require_finite_samples(s.samples, path);
  return s;
}

}  // namespace detail

WavFormat parse_wav_format(const std::string& name) {
  if (name == "float" || name == "float32") return WavFormat::float32;
  if (name == "pcm16") return WavFormat::pcm16;
  if (name == "pcm24") return WavFormat::pcm24;
  throw invalid_argument("'" + detail::quote_token(name) + "' is not one of float, pcm16, pcm24");
}

StagedFile stage_wav(const std::string& path, std::span<const double> values, int sample_rate,
                     WavFormat format, WavClipping* clipped) {
  if (sample_rate <= 0)
    throw invalid_argument("write_wav: sample_rate = " + std::to_string(sample_rate) + " must be positive");
  if (values.empty()) throw invalid_argument("write_wav: the signal for '" + path + "' is empty");
  // Every sample is checked before a temporary file is made (clipping is counted while writing).
  WavClipping scratch;
  for (std::size_t i = 0; i < values.size(); ++i)
    detail::require_wav_sample(values[i], i, path, format, clipped ? &scratch : nullptr);
  return stage_wav_stream(
      path, sample_rate, format, [&](SoundSink& sink) { sink.write(values); }, clipped);
}

void write_wav(const std::string& path, std::span<const double> values, int sample_rate, WavFormat format,
               WavClipping* clipped) {
  stage_wav(path, values, sample_rate, format, clipped).commit();
}

namespace {

// One channel of a sound file, a window at a time: sf_seek to the window's first frame, then
// sf_readf_double of its frames (all channels, as libsndfile reads them), one channel kept.
// The file is checked once, when the reader is made, and opened again for each window (no
// descriptor held between windows: see file_source.cpp), so windows may be read in parallel.
class SoundWindowReader final : public SignalReader {
 public:
  SoundWindowReader(const std::string& path, std::optional<int> channel) : SignalReader(path) {
    detail::open_sound(path, channel, info_, pick_);
    n_ = static_cast<std::uint64_t>(info_.frames);
    rate_ = static_cast<double>(info_.samplerate);
    format_ = "wav";
    std::error_code ec;
    file_bytes_ = std::filesystem::file_size(path, ec);
    // For the progress line: the bytes a frame takes in the file, headers spread over them.
    bytes_per_frame_ = static_cast<double>(file_bytes_) / static_cast<double>(n_);
  }

 private:
  void read_inside(std::uint64_t first, std::span<double> out) override {
    SF_INFO info{};
    const SndfilePtr f(sf_open(path_.c_str(), SFM_READ, &info));
    if (!f || info.channels != info_.channels || info.frames != info_.frames)
      throw io_error(path_ + ": the sound file changed or vanished while being read");
    const auto channels = static_cast<std::size_t>(info.channels);
    if (sf_seek(f.get(), static_cast<sf_count_t>(first), SEEK_SET) != static_cast<sf_count_t>(first))
      throw io_error(path_ + ": cannot seek to frame " + std::to_string(first) + ": " + sf_strerror(f.get()));
    std::vector<double> interleaved(out.size() * channels);  // this window's frames, all channels
    const auto want = static_cast<sf_count_t>(out.size());
    const sf_count_t got = sf_readf_double(f.get(), interleaved.data(), want);
    if (got != want)
      throw io_error(path_ + ": truncated: the header announces " + std::to_string(n_) + " frames, only " +
                     std::to_string(first + static_cast<std::uint64_t>(std::max<sf_count_t>(got, 0))) +
                     " could be read");
    for (std::size_t i = 0; i < out.size(); ++i)
      out[i] = interleaved[i * channels + static_cast<std::size_t>(pick_)];
    bytes_read_ += static_cast<std::uint64_t>(bytes_per_frame_ * static_cast<double>(out.size()));
    detail::require_finite_window(out, first, path_);
  }

  SF_INFO info_{};
  int pick_ = 0;
  double bytes_per_frame_ = 0;
};

}  // namespace

std::unique_ptr<SignalReader> detail::open_sound_reader(const std::string& path, std::optional<int> channel) {
  return std::make_unique<SoundWindowReader>(path, channel);
}

// ---- streaming ----------------------------------------------------------------------------------

struct SoundReader::State {
  std::string path;
  SF_INFO info{};
  int pick = 0;
  SndfilePtr f;
  std::uint64_t done = 0;           // frames read so far
  std::vector<double> interleaved;  // one block of frames, all channels
};

SoundReader::SoundReader(const std::string& path, std::optional<int> channel)
    : s_(std::make_unique<State>()) {
  s_->path = path;
  s_->f = detail::open_sound(path, channel, s_->info, s_->pick);
}
SoundReader::~SoundReader() = default;
SoundReader::SoundReader(SoundReader&&) noexcept = default;
SoundReader& SoundReader::operator=(SoundReader&&) noexcept = default;

int SoundReader::sample_rate() const { return s_->info.samplerate; }
int SoundReader::channels() const { return s_->info.channels; }
std::uint64_t SoundReader::frames() const { return static_cast<std::uint64_t>(s_->info.frames); }

std::size_t SoundReader::read(std::span<double> out) {
  const std::uint64_t left = frames() - s_->done;
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), left));
  if (want == 0) return 0;
  const auto channels = static_cast<std::size_t>(s_->info.channels);
  s_->interleaved.resize(want * channels);
  const sf_count_t got = sf_readf_double(s_->f.get(), s_->interleaved.data(), static_cast<sf_count_t>(want));
  if (got != static_cast<sf_count_t>(want))
    throw io_error(s_->path + ": truncated: the header announces " + std::to_string(frames()) +
                   " frames, only " +
                   std::to_string(s_->done + static_cast<std::uint64_t>(std::max<sf_count_t>(got, 0))) +
                   " could be read");
  for (std::size_t i = 0; i < want; ++i) {
    const double v = s_->interleaved[i * channels + static_cast<std::size_t>(s_->pick)];
    if (!std::isfinite(v))
      throw io_error(s_->path + ": sample " + std::to_string(s_->done + i) + " is " +
                     (std::isnan(v) ? "NaN" : "infinite"));
    out[i] = v;
  }
  s_->done += want;
  return want;
}

namespace {

// A mono WAV file written by hand, as the RIFF/WAVE layout (Microsoft's, as every reader
// takes it) gives it, with nothing beyond what readers know:
//   "RIFF" size "WAVE"
//   "fmt " 16 bytes (PCM: tag 1) or 18 bytes (float: tag 3, cbSize 0)
//   "fact" 4 bytes, the sample count (float only, which the spec asks of non-PCM data)
//   "data" size, the little-endian samples
// libsndfile, which reads our inputs, writes a 'PEAK' chunk into float files, and a 'PAD '
// chunk where a 'PEAK' chunk planned at open is later dropped; scipy.io.wavfile warns about
// both ("Chunk (non-data) not understood"). The sizes are filled in once the stream ends.
class WavWriter final : public SoundSink {
 public:
  WavWriter(int fd, const std::string& path, int rate, WavFormat format, WavClipping* clipped)
      : fd_(fd), path_(path), format_(format), clipped_(clipped) {
    const std::uint16_t tag = format == WavFormat::float32 ? 3 : 1;
    const std::uint32_t fmt_size = format == WavFormat::float32 ? 18 : 16;
    put("RIFF"), put32(0), put("WAVE");
    put("fmt "), put32(fmt_size), put16(tag), put16(1), put32(static_cast<std::uint32_t>(rate));
    put32(static_cast<std::uint32_t>(rate) * bytes()), put16(static_cast<std::uint16_t>(bytes()));
    put16(static_cast<std::uint16_t>(8 * bytes()));
    if (format == WavFormat::float32) put16(0), put("fact"), put32(4), fact_at_ = buf_.size(), put32(0);
    put("data"), data_at_ = buf_.size(), put32(0);
    flush();
  }

  void write(std::span<const double> samples) override {
    for (std::size_t i = 0; i < samples.size(); ++i) {
      detail::require_wav_sample(samples[i], written_ + i, path_, format_, clipped_);
      encode(samples[i]);
    }
    written_ += samples.size();
    // The RIFF sizes are 32 bits: a longer stream does not fit in a WAV file.
    if (written_ * bytes() > 0xFFFFFFFFull - 64)
      throw io_error("cannot write '" + path_ + "': more than 4 GiB of samples, the limit of a WAV file");
    flush();
  }

  // Writes the sizes into the header, now that the length is known.
  void finish() {
    if (written_ == 0) throw invalid_argument("write_wav: the signal for '" + path_ + "' is empty");
    const auto data = static_cast<std::uint32_t>(written_ * bytes());
    patch(4, static_cast<std::uint32_t>(data_at_ + 4 - 8 + data));
    patch(data_at_, data);
    if (fact_at_ != 0) patch(fact_at_, static_cast<std::uint32_t>(written_));
  }

 private:
  std::uint32_t bytes() const {
    return format_ == WavFormat::pcm16 ? 2 : format_ == WavFormat::pcm24 ? 3 : 4;
  }
  void put(const char* four) { buf_.append(four, 4); }
  void put16(std::uint16_t v) { buf_ += static_cast<char>(v & 0xFF), buf_ += static_cast<char>(v >> 8); }
  void put32(std::uint32_t v) {
    for (int b = 0; b < 4; ++b) buf_ += static_cast<char>((v >> (8 * b)) & 0xFF);
  }
  // PCM: v in [-1, 1] scaled by 2^(bits-1), as readers (libsndfile, scipy) scale back, and
  // rounded to the nearest code, the top code being 2^(bits-1) - 1 (so 1 itself lands one step
  // short); values beyond [-1, 1] were counted by require_wav_sample and are clipped here.
  void encode(double v) {
    if (format_ == WavFormat::float32) {
      std::uint32_t u;
      const float f = static_cast<float>(v);
      std::memcpy(&u, &f, 4);
      put32(u);
      return;
    }
    const double scale = format_ == WavFormat::pcm16 ? 32768.0 : 8388608.0;
    const auto code = static_cast<std::int32_t>(std::clamp(std::round(v * scale), -scale, scale - 1));
    const auto u = static_cast<std::uint32_t>(code);
    buf_ += static_cast<char>(u & 0xFF), buf_ += static_cast<char>((u >> 8) & 0xFF);
    if (format_ == WavFormat::pcm24) buf_ += static_cast<char>((u >> 16) & 0xFF);
  }
  void flush() {
    detail::write_all(fd_, buf_.data(), buf_.size(), path_);
    buf_.clear();
  }
  void patch(std::size_t at, std::uint32_t v) {
    const unsigned char le[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                                 static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 24)};
    if (::pwrite(fd_, le, 4, static_cast<off_t>(at)) != 4)
      throw io_error("cannot write '" + path_ + "': " + std::strerror(errno));
  }

  int fd_;
  const std::string& path_;
  WavFormat format_;
  WavClipping* clipped_;
  std::string buf_;
  std::size_t fact_at_ = 0, data_at_ = 0;
  std::uint64_t written_ = 0;
};

}  // namespace

StagedFile stage_wav_stream(const std::string& path, int sample_rate, WavFormat format,
                            const std::function<void(SoundSink&)>& produce, WavClipping* clipped) {
  if (sample_rate <= 0)
    throw invalid_argument("write_wav: sample_rate = " + std::to_string(sample_rate) + " must be positive");
  return Stager::stage(path, [&](int fd) {
    WavWriter sink(fd, path, sample_rate, format, clipped);
    produce(sink);
    sink.finish();
  });
}

}  // namespace convgrad::io
