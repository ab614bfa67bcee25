// Taps files (convgrad/taps_file.hpp): the range and the sample rate survive a round trip in
// every format that can hold them, and a range is never guessed where it was not recorded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <optional>
#include <utility>
#include <fstream>
#include <string>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/taps_file.hpp"

namespace {

using convgrad::Taps;
using namespace convgrad::io;
namespace fs = std::filesystem;

struct TapsFileTest : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("convgrad_taps_file_" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string at(const std::string& name) const { return (dir / name).string(); }
  void put(const std::string& name, const std::string& text) const { std::ofstream(at(name)) << text; }
};

// Values whose decimal forms need all 17 digits: any loss would show.
const std::vector<double> kH = {0.1, -1.0 / 3.0, 2.718281828459045, 1e-300, -7.0};

TEST_F(TapsFileTest, RangeAndRateRoundTripInJsonAndText) {
  for (const std::string name : {"h.json", "h.csv", "h.txt"})
    for (const auto& [taps, rate] : {std::pair{Taps::causal(5), std::optional<double>(48000.0)},
                                     std::pair{Taps::range(-9, -5), std::optional<double>()},
                                     std::pair{Taps::centred(2), std::optional<double>(22050.5)}}) {
      write_taps(at(name), kH, taps, rate);
      const TapsFile t = read_taps(at(name));
      EXPECT_EQ(t.h, kH) << name;
      ASSERT_TRUE(t.lo.has_value()) << name;
      EXPECT_EQ(*t.lo, taps.lo) << name;
      EXPECT_EQ(t.sample_rate, rate) << name;
      EXPECT_EQ(recorded_range(t, at(name)), taps) << name;
    }
}

TEST_F(TapsFileTest, NpyHoldsOnlyCentredTapsAndReadsBackCentred) {
  write_taps(at("c.npy"), kH, Taps::centred(2));
  const TapsFile t = read_taps(at("c.npy"));
  EXPECT_EQ(t.h, kH);
  EXPECT_FALSE(t.lo.has_value());
  EXPECT_EQ(recorded_range(t, at("c.npy")), Taps::centred(2));
  // A causal range would be read back centred: refused before anything is written.
  EXPECT_THROW(write_taps(at("causal.npy"), kH, Taps::causal(5)), convgrad::invalid_argument);
  EXPECT_THROW(require_taps_format(at("causal.npy"), Taps::causal(5)), convgrad::invalid_argument);
  EXPECT_THROW(write_taps(at("h.wav"), kH, Taps::centred(2)), convgrad::invalid_argument);
  EXPECT_FALSE(fs::exists(at("causal.npy")));
  EXPECT_FALSE(fs::exists(at("h.wav")));
}

TEST_F(TapsFileTest, OldFilesWithoutARateStillRead) {
  put("old.csv", "# convgrad taps m = 0..1 (lo = 0)\n1\n2\n");
  put("old.json", R"({"lo": 3, "hi": 4, "K": 2, "h": [1, 2]})");
  put("plain.txt", "1\n2\n3\n");
  for (const std::string name : {"old.csv", "old.json"}) {
    const TapsFile t = read_taps(at(name));
    EXPECT_EQ(t.h, (std::vector<double>{1, 2}));
    EXPECT_TRUE(t.lo.has_value());
    EXPECT_FALSE(t.sample_rate.has_value());
  }
  const TapsFile plain = read_taps(at("plain.txt"));
  EXPECT_FALSE(plain.lo.has_value());
  EXPECT_EQ(recorded_range(plain, at("plain.txt")), Taps::centred(1));
}

TEST_F(TapsFileTest, BadFilesAreTheFilesErrorNamingIt) {
  put("even.txt", "1\n2\n");
  put("rate.json", R"({"lo": 0, "h": [1], "sample_rate": -5})");
  put("ratestr.json", R"({"lo": 0, "h": [1], "sample_rate": "fast"})");
  put("ratetext.csv", "# convgrad taps m = 0..0 (lo = 0) (sample_rate = 0)\n1\n");
  put("frac.csv", "# convgrad taps m = 0..0 (lo = 0.5)\n1\n");
  for (const std::string name :
       {"even.txt", "rate.json", "ratestr.json", "ratetext.csv", "frac.csv", "none.json"}) {
    try {
      recorded_range(read_taps(at(name)), at(name));
      ADD_FAILURE() << name << " was accepted";
    } catch (const convgrad::io_error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST_F(TapsFileTest, WritingChecksItsArguments) {
  EXPECT_THROW(write_taps(at("h.json"), kH, Taps::centred(1)),
               convgrad::invalid_argument);  // 5 values, 3 taps
  EXPECT_THROW(write_taps(at("h.json"), kH, Taps::centred(2), 0.0), convgrad::invalid_argument);
  const std::vector<double> inf = {1, std::numeric_limits<double>::infinity(), 1};
  EXPECT_THROW(write_taps(at("h.json"), inf, Taps::centred(1)), convgrad::invalid_argument);
  EXPECT_FALSE(fs::exists(at("h.json")));
}

}  // namespace
