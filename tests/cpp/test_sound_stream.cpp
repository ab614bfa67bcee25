// Sound files a block at a time (convgrad/sound_stream.hpp): the streaming reader gives the
// samples read_signal gives, however the blocks are sized; bad samples and short files are
// named; a streamed WAV whose producer fails leaves nothing on disk.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <unistd.h>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/io.hpp"
#include "convgrad/sound_stream.hpp"

namespace convgrad::test {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  const fs::path d = fs::temp_directory_path() / ("convgrad_sound_stream_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

// A float32 WAV written byte by byte (so it may hold what write_wav refuses: NaN), with
// `channels` interleaved channels; `announce` frames in the header (default: all of them).
void write_float_wav(const fs::path& path, const std::vector<float>& interleaved, int channels,
                     std::int64_t announce = -1) {
  const auto put32 = [](std::ofstream& o, std::uint32_t v) { o.write(reinterpret_cast<const char*>(&v), 4); };
  const auto put16 = [](std::ofstream& o, std::uint16_t v) { o.write(reinterpret_cast<const char*>(&v), 2); };
  const std::uint32_t bytes = announce < 0 ? static_cast<std::uint32_t>(interleaved.size() * 4)
                                           : static_cast<std::uint32_t>(announce * channels * 4);
  std::ofstream o(path, std::ios::binary);
  o.write("RIFF", 4);
  put32(o, 36 + bytes);
  o.write("WAVEfmt ", 8);
  put32(o, 16);
  put16(o, 3);  // IEEE float
  put16(o, static_cast<std::uint16_t>(channels));
  put32(o, 16000);
  put32(o, 16000u * 4u * static_cast<std::uint32_t>(channels));
  put16(o, static_cast<std::uint16_t>(4 * channels));
  put16(o, 32);
  o.write("data", 4);
  put32(o, bytes);
  o.write(reinterpret_cast<const char*>(interleaved.data()),
          static_cast<std::streamsize>(interleaved.size() * 4));
}

TEST(SoundStream, BlocksGiveTheSamplesReadSignalGives) {
  const fs::path d = temp_dir();
  std::vector<double> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.01 * static_cast<double>(i * i)) / 2;
  io::write_wav((d / "a.wav").string(), v, 16000);
  const auto whole = io::read_signal((d / "a.wav").string());
  for (const std::size_t block : {1, 7, 999, 1000, 4096}) {
    io::SoundReader r((d / "a.wav").string());
    EXPECT_EQ(r.sample_rate(), 16000);
    EXPECT_EQ(r.frames(), 1000u);
    std::vector<double> got, buf(block);
    while (const std::size_t n = r.read(buf))
      got.insert(got.end(), buf.begin(), buf.begin() + static_cast<long>(n));
    EXPECT_EQ(got, whole.samples) << "block " << block;
  }
  fs::remove_all(d);
}

TEST(SoundStream, ChannelsNonFiniteSamplesAndShortFilesAreNamed) {
  const fs::path d = temp_dir();
  write_float_wav(d / "st.wav", {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, 2);
  EXPECT_THROW(io::SoundReader((d / "st.wav").string()), io_error);  // two channels, none chosen
  io::SoundReader right((d / "st.wav").string(), 1);
  std::vector<double> buf(8);
  ASSERT_EQ(right.read(buf), 3u);
  EXPECT_EQ(buf[2], static_cast<double>(0.6f));

  std::vector<float> v(20, 0.25f);
  v[13] = std::numeric_limits<float>::quiet_NaN();
  write_float_wav(d / "nan.wav", v, 1);
  io::SoundReader r((d / "nan.wav").string());
  std::vector<double> first(10), rest(10);
  EXPECT_EQ(r.read(first), 10u);
  try {
    r.read(rest);
    ADD_FAILURE() << "a NaN sample was read";
  } catch (const io_error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 13"), std::string::npos) << e.what();
  }

  write_float_wav(d / "short.wav", std::vector<float>(10, 0.5f), 1, 50);  // announces 50 frames
  EXPECT_THROW(io::SoundReader((d / "short.wav").string()), io_error);
  fs::remove_all(d);
}

TEST(SoundStream, AFailedProducerLeavesNothingAndACompleteOneIsReadBack) {
  const fs::path d = temp_dir();
  const std::string path = (d / "e.wav").string();
  EXPECT_THROW(io::stage_wav_stream(path, 16000, io::WavFormat::float32,
                                    [](io::SoundSink& s) {
                                      const std::vector<double> block(64, 0.5);
                                      s.write(block);
                                      throw io_error("the producer failed");
                                    }),
               io_error);
  EXPECT_TRUE(fs::is_empty(d));
  const std::vector<double> bad = {0.0, std::numeric_limits<double>::infinity()};
  EXPECT_THROW(
      io::stage_wav_stream(path, 16000, io::WavFormat::float32, [&](io::SoundSink& s) { s.write(bad); }),
      invalid_argument);
  EXPECT_TRUE(fs::is_empty(d));
  auto staged = io::stage_wav_stream(path, 8000, io::WavFormat::float32, [](io::SoundSink& s) {
    for (int b = 0; b < 3; ++b) s.write(std::vector<double>(100, 0.125 * b));
  });
  EXPECT_FALSE(fs::exists(path));  // staged, not yet committed
  staged.commit();
  const auto back = io::read_signal(path);
  ASSERT_EQ(back.samples.size(), 300u);
  EXPECT_EQ(*back.sample_rate, 8000.0);
  EXPECT_EQ(back.samples[250], 0.25);
  fs::remove_all(d);
}

}  // namespace
}  // namespace convgrad::test
