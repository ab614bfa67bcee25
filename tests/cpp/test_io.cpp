// The io layer: round trips are exact, every malformed .npy / text / WAV file is refused with
// a message naming the file, the position and the problem, and failed writes leave nothing.
#include <gtest/gtest.h>
#include <matio.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <optional>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/io.hpp"
#include "io/io_detail.hpp"

namespace fs = std::filesystem;
using convgrad::io_error;
namespace io = convgrad::io;

namespace {

// A fresh, empty directory per test, removed afterwards.
class IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("convgrad_test_io_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write_bytes(const std::string& name, const std::string& bytes) const {
    const std::string p = path(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  // Every entry of the test directory: after a failed write it must hold no temporary.
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  fs::path dir_;
};

// Expects read_signal(p) to throw io_error whose message contains every one of `parts`.
void expect_read_error(const std::string& p, const std::vector<std::string>& parts,
                       std::optional<int> channel = std::nullopt) {
  try {
    (void)io::read_signal(p, channel);
    ADD_FAILURE() << "no error reading " << p;
  } catch (const io_error& e) {
    const std::string msg = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message must be one line: " << msg;
  }
}

// The bytes of a .npy file with the given header dict and raw data (version 1.0 or 2.0).
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t len = header.size();
  out += static_cast<char>(len & 0xFF);
  out += static_cast<char>((len >> 8) & 0xFF);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

template <class U>
std::string le_bytes(const std::vector<U>& v) {
  std::string out;
  for (const U x : v) {
    auto u = std::bit_cast<std::conditional_t<sizeof(U) == 8, std::uint64_t, std::uint32_t>>(x);
    for (std::size_t k = 0; k < sizeof(U); ++k, u >>= 8) out += static_cast<char>(u & 0xFF);
  }
  return out;
}

std::string f8_dict(const std::string& shape) {
  return "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }";
}

// Values that stress an exact round trip: signs, tiny and huge magnitudes, a subnormal.
const std::vector<double> kAwkward = {0.1,    -2.5,     1.0 / 3.0, 1e-300,
                                      -1e300, 4.9e-324, 0.0,       123456789.123456789};

}  // namespace

// ---- round trips ------------------------------------------------------------------------------

TEST_F(IoTest, NpyRoundTripIsExact) {
  for (const std::size_t n : {1u, 2u, 8u, 1000u}) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = kAwkward[i % kAwkward.size()] * static_cast<double>(i + 1);
    const std::string p = path("v.npy");
    io::write_array(p, v);
    const io::Signal s = io::read_signal(p);
    EXPECT_EQ(s.format, "npy-float64");
    EXPECT_EQ(s.samples, v) << "n = " << n;
    EXPECT_FALSE(s.sample_rate);
    EXPECT_EQ(fs::file_size(p) % 64, (n * 8) % 64) << "header padded to 64 bytes as NumPy does";
  }
}

TEST_F(IoTest, TextRoundTripIsExactForEveryExtension) {
  for (const std::string name : {"v.csv", "v.txt", "v"}) {
    const std::string p = path(name);
    io::write_array(p, kAwkward);
    const io::Signal s = io::read_signal(p);
    EXPECT_EQ(s.format, "text");
    EXPECT_EQ(s.samples, kAwkward) << name;
  }
}

// A file holds what its name says: an extension that names another format (or none we write)
// is refused before anything is written, with the list of those we do.
TEST_F(IoTest, WriteArrayRefusesExtensionsItDoesNotWrite) {
  for (const std::string name : {"v.dat", "v.wav", "v.h5", "v.xlsx"}) {
    try {
      io::write_array(path(name), kAwkward);
      ADD_FAILURE() << name << " was written";
    } catch (const convgrad::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(".npy, .mat, .json, .csv, .txt"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(listing().empty());
}

TEST_F(IoTest, JsonAndMatArraysRoundTripExactly) {
  io::write_array(path("v.json"), kAwkward);
  EXPECT_EQ(io::read_signal(path("v.json")).samples, kAwkward);  // a JSON array is a text list
  io::write_array(path("v.mat"), kAwkward, "dh");
  const io::Signal s = io::read_mat(path("v.mat"), "dh");
  EXPECT_EQ(s.format, "mat");
  EXPECT_EQ(s.samples, kAwkward);
}

// MATLAB v7.3 files are HDF5 inside: written here by libmatio itself (as MATLAB's
// save -v7.3 would), read through the same io::read_mat as v5, the variables listed by name.
TEST_F(IoTest, MatV73IsReadLikeV5) {
  const std::string p = path("v73.mat");
  {
    mat_t* m = Mat_CreateVer(p.c_str(), nullptr, MAT_FT_MAT73);
    ASSERT_NE(m, nullptr) << "libmatio built without HDF5 (v7.3) support";
    const std::vector<double> x = {0.5, -1.25, 3.0};
    const std::vector<float> y = {1.0f, 2.0f};
    std::size_t dx[2] = {1, 3}, dy[2] = {2, 1};
    matvar_t* vx = Mat_VarCreate("x", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dx, const_cast<double*>(x.data()), 0);
    matvar_t* vy = Mat_VarCreate("y", MAT_C_SINGLE, MAT_T_SINGLE, 2, dy, const_cast<float*>(y.data()), 0);
    ASSERT_EQ(Mat_VarWrite(m, vx, MAT_COMPRESSION_NONE), 0);
    ASSERT_EQ(Mat_VarWrite(m, vy, MAT_COMPRESSION_NONE), 0);
    Mat_VarFree(vx);
    Mat_VarFree(vy);
    Mat_Close(m);
  }
  EXPECT_EQ(io::read_mat(p, "x").samples, (std::vector<double>{0.5, -1.25, 3.0}));
  EXPECT_EQ(io::read_mat(p, "y").samples, (std::vector<double>{1.0, 2.0}));
  const auto vars = io::list_mat_variables(p);
  ASSERT_EQ(vars.size(), 2u);
  EXPECT_EQ(vars[1].kind, "single");
  try {
    (void)io::read_signal(p);  // two vectors: which one is meant?
    ADD_FAILURE() << "no error for an ambiguous file";
  } catch (const convgrad::io_error& e) {
    EXPECT_NE(std::string(e.what()).find("x (1 x 3 double), y (2 x 1 single)"), std::string::npos)
        << e.what();
  }
}

TEST_F(IoTest, NpyFloat32IsWidenedExactly) {
  const std::vector<float> v = {0.1f, -3.25f, 1e-30f, 3.4e38f};
  const io::Signal s = io::read_signal(write_bytes(
      "f.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", le_bytes(v))));
  EXPECT_EQ(s.format, "npy-float32");
  ASSERT_EQ(s.samples.size(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(s.samples[i], static_cast<double>(v[i]));
}

TEST_F(IoTest, NpyAcceptsColumnShapeVersion2AndDoubleQuotes) {
  const std::vector<double> v = {1, 2, 3};
  EXPECT_EQ(io::read_signal(write_bytes("a.npy", npy_bytes(f8_dict("(3, 1)"), le_bytes(v)))).samples, v);
  EXPECT_EQ(io::read_signal(write_bytes("b.npy", npy_bytes(f8_dict("(3,)"), le_bytes(v), 2))).samples, v);
  EXPECT_EQ(
      io::read_signal(
          write_bytes("c.npy", npy_bytes("{\"descr\": \"<f8\", \"shape\": (3,), \"fortran_order\": False}",
                                         le_bytes(v))))
          .samples,
      v);
  // A 1-D array has one layout, whatever fortran_order says.
  EXPECT_EQ(io::read_signal(
                write_bytes("d.npy", npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }",
                                               le_bytes(v))))
                .samples,
            v);
}

TEST_F(IoTest, TextFormatsAllReadTheSameSignal) {
  const std::vector<double> want = {1, -2.5, 3e-3, 4, 0.5};
  const std::vector<std::pair<std::string, std::string>> files = {
      {"col.txt", "1\n-2.5\n3e-3\n4\n.5\n"},
      {"row.csv", "1,-2.5,3e-3,4,0.5\n"},
      {"row_spaced.csv", "1, -2.5 ,3e-3,  4,0.5"},
      {"spaces.txt", "  1 -2.5   3e-3\t4 +0.5  \n"},
      {"crlf.txt", "1\r\n-2.5\r\n3e-3\r\n4\r\n0.5\r\n"},
      {"bom.csv",
       "\xEF\xBB\xBF"
       "1,-2.5,3e-3,4,0.5\n"},
      {"comments.txt",
       "# a header comment\n1  # first\n\n-2.5\n   # indented comment\n3e-3\n4\n0.5 # last, no newline"},
  };
  for (const auto& [name, text] : files) {
    const io::Signal s = io::read_signal(write_bytes(name, text));
    EXPECT_EQ(s.samples, want) << name;
  }
}

TEST_F(IoTest, TextUnderflowBecomesZeroOrSubnormal) {
  const io::Signal s = io::read_signal(write_bytes("u.txt", "1e-400\n4.9e-324\n"));
  EXPECT_EQ(s.samples[0], 0.0);
  EXPECT_EQ(s.samples[1], std::numeric_limits<double>::denorm_min());
}

// ---- malformed text ----------------------------------------------------------------------------

TEST_F(IoTest, TextErrorsNameFileLineAndToken) {
  expect_read_error(write_bytes("empty.txt", ""), {"empty.txt", "no values"});
  expect_read_error(write_bytes("blank.txt", "\n  \n\t\n"), {"blank.txt", "no values"});
  expect_read_error(write_bytes("comments.txt", "# x\n# y\n"), {"comments.txt", "no values"});
  expect_read_error(write_bytes("word.txt", "1\n2\nabc\n4\n"), {"word.txt:3:", "'abc'", "not a number"});
  // (a header line of names is a table's, test_io_read.cpp; one that starts like a number is not)
  expect_read_error(write_bytes("header.csv", "1x\n1\n2\n"), {"header.csv:1:", "'1x'", "'#'"});
  expect_read_error(write_bytes("suffix.txt", "1\n2.5kg\n"), {"suffix.txt:2:", "'2.5kg'"});
  expect_read_error(write_bytes("hex.txt", "0x10\n"), {"hex.txt:1:", "'0x10'"});
  expect_read_error(write_bytes("twodots.txt", "1.2.3\n"), {"twodots.txt:1:", "'1.2.3'"});
  expect_read_error(write_bytes("binary.txt", std::string("1\n\x01\x02\xff", 5)),
                    {"binary.txt:2:", "\\x01\\x02\\xFF"});
  expect_read_error(write_bytes("nan.txt", "1\n2\nnan\n"),
                    {"nan.txt:3:", "'nan'", "sample index 2", "finite"});
  expect_read_error(write_bytes("inf.csv", "1,2,-inf,4\n"), {"inf.csv:1:", "'-inf'", "sample index 2"});
  expect_read_error(write_bytes("infinity.txt", "Infinity\n"), {"infinity.txt:1:", "sample index 0"});
  expect_read_error(write_bytes("huge.txt", "1\n1e400\n"), {"huge.txt:2:", "'1e400'", "float64 range"});
  expect_read_error(write_bytes("double_comma.csv", "1,,2\n"),
                    {"double_comma.csv:1:", "empty value after value 1"});
  expect_read_error(write_bytes("lead_comma.csv", ",1,2\n"), {"lead_comma.csv:1:", "empty value before"});
  expect_read_error(write_bytes("trail_comma.csv", "1,2,\n"), {"trail_comma.csv:1:", "trailing comma"});
  expect_read_error(write_bytes("decimal_comma.csv", "1,5 2,5 3,5\n"),
                    {"decimal_comma.csv:1:", "decimal commas"});
  expect_read_error(write_bytes("table.csv", "1\n2,3\n4,5\n"),
                    {"table.csv:2:", "2 values on one line", "table"});
  expect_read_error(write_bytes("table2.csv", "1,2\n3,4\n"), {"table2.csv:1:", "table"});
  expect_read_error(write_bytes("utf16.txt", std::string("\xFF\xFE"
                                                         "1\0",
                                                         4)),
                    {"utf16.txt", "UTF-16"});
}

TEST_F(IoTest, LongBadTokensAreShortenedInTheMessage) {
  try {
    (void)io::read_signal(write_bytes("long.txt", std::string(5000, 'z')));
    FAIL() << "no error";
  } catch (const io_error& e) {
    EXPECT_LT(std::string(e.what()).size(), 200u);
  }
}

// ---- malformed .npy ------------------------------------------------------------------------------

// Every byte of a message is printable: file content quoted in it (here a .npy dtype) has
// its newlines and terminal escape sequences escaped as \xNN, so the error stays one line and
// nothing reaches the terminal as a control sequence.
void expect_printable(const std::string& msg) {
  for (const char c : msg)
    EXPECT_TRUE(c >= 0x20 && c < 0x7F)
        << "byte 0x" << std::hex << (static_cast<int>(c) & 0xFF) << " in: " << msg;
}

TEST_F(IoTest, NpyDtypeInTheMessageIsEscaped) {
  const std::string three = le_bytes(std::vector<double>{1, 2, 3});
  for (const std::string& descr : {std::string("<i4\n\x1b[31mred"), std::string("\x1b]0;title\x07"),
                                   std::string("\n"), std::string("<f8\xc2\x9b")}) {
    const std::string p = write_bytes(
        "evil.npy", npy_bytes("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (3,), }", three));
    try {
      (void)io::read_signal(p);
      ADD_FAILURE() << "no error";
    } catch (const io_error& e) {
      expect_printable(e.what());
      EXPECT_NE(std::string(e.what()).find("dtype"), std::string::npos) << e.what();
    }
  }
  // The escaped form names the bytes: a newline is \x0A, ESC is \x1B.
  try {
    (void)io::read_signal(write_bytes(
        "nl.npy", npy_bytes("{'descr': '<i4\n\x1b', 'fortran_order': False, 'shape': (3,), }", three)));
    ADD_FAILURE() << "no error";
  } catch (const io_error& e) {
    EXPECT_NE(std::string(e.what()).find("'<i4\\x0A\\x1B'"), std::string::npos) << e.what();
  }
}

TEST_F(IoTest, NpyErrorsNameTheProblem) {
  const std::string three = le_bytes(std::vector<double>{1, 2, 3});
  expect_read_error(write_bytes("empty.npy", ""), {"empty.npy", "magic"});
  expect_read_error(write_bytes("text.npy", "1\n2\n3\n"), {"text.npy", "not a .npy file"});
  expect_read_error(write_bytes("magic_only.npy", "\x93NUMPY"), {"magic_only.npy", "truncated"});
  expect_read_error(write_bytes("version.npy", npy_bytes(f8_dict("(3,)"), three, 9)),
                    {"version.npy", "version 9"});
  std::string cut_header = npy_bytes(f8_dict("(3,)"), "");
  cut_header.resize(30);
  expect_read_error(write_bytes("cut_header.npy", cut_header), {"cut_header.npy", "truncated .npy header"});
  expect_read_error(write_bytes("cut_data.npy", npy_bytes(f8_dict("(3,)"), three.substr(0, 20))),
                    {"cut_data.npy", "truncated", "24 bytes", "has 20"});
  expect_read_error(write_bytes("extra.npy", npy_bytes(f8_dict("(3,)"), three + "xx")),
                    {"extra.npy", "trailing bytes"});
  expect_read_error(write_bytes("huge_shape.npy", npy_bytes(f8_dict("(99999999999999999,)"), three)),
                    {"huge_shape.npy", "truncated"});
  expect_read_error(
      write_bytes("overflow_shape.npy", npy_bytes(f8_dict("(99999999999999999999999,)"), three)),
      {"overflow_shape.npy", "too large"});
  expect_read_error(
      write_bytes("big_endian.npy",
                  npy_bytes("{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", three)),
      {"big_endian.npy", "'>f8'", "big-endian"});
  for (const auto& [descr, what] :
       std::vector<std::pair<std::string, std::string>>{{"<i4", "integer"},
                                                        {"<i8", "integer"},
                                                        {"|u1", "integer"},
                                                        {"|b1", "boolean"},
                                                        {"<c16", "complex"},
                                                        {"<f2", "unsupported width"},
                                                        {"|O", "object"},
                                                        {"<U3", "string"}}) {
    expect_read_error(
        write_bytes("dtype.npy",
                    npy_bytes("{'descr': '" + descr + "', 'fortran_order': False, 'shape': (3,), }", three)),
        {"dtype.npy", "'" + descr + "'", what, "float64"});
  }
  expect_read_error(
      write_bytes("structured.npy",
                  npy_bytes("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,), }", three)),
      {"structured.npy", "structured"});
  expect_read_error(write_bytes("scalar.npy", npy_bytes(f8_dict("()"), three.substr(0, 8))),
                    {"scalar.npy", "scalar"});
  expect_read_error(write_bytes("zero.npy", npy_bytes(f8_dict("(0,)"), "")), {"zero.npy", "no samples"});
  expect_read_error(write_bytes("row.npy", npy_bytes(f8_dict("(1, 3)"), three)),
                    {"row.npy", "(1, 3)", "(N,)"});
  expect_read_error(write_bytes("wide.npy", npy_bytes(f8_dict("(3, 2)"), three + three)),
                    {"wide.npy", "(3, 2)"});
  expect_read_error(write_bytes("cube.npy", npy_bytes(f8_dict("(3, 1, 1)"), three)),
                    {"cube.npy", "(3, 1, 1)"});
  expect_read_error(
      write_bytes("fortran.npy",
                  npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (3, 1), }", three)),
      {"fortran.npy", "Fortran order"});
  expect_read_error(
      write_bytes("no_shape.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, }", three)),
      {"no_shape.npy", "lacks 'shape'"});
  expect_read_error(
      write_bytes("garbled.npy", npy_bytes("{'descr': '<f8', 'fortran_order': Maybe, }", three)),
      {"garbled.npy", "malformed .npy header"});
  expect_read_error(write_bytes("negative.npy", npy_bytes(f8_dict("(-3,)"), three)),
                    {"negative.npy", "malformed"});
  const std::string with_nan = le_bytes(std::vector<double>{1, 2, std::nan(""), 4});
  expect_read_error(write_bytes("nan.npy", npy_bytes(f8_dict("(4,)"), with_nan)),
                    {"nan.npy", "sample 2", "NaN"});
  const std::string with_inf = le_bytes(std::vector<float>{1, -INFINITY});
  expect_read_error(
      write_bytes("inf.npy",
                  npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", with_inf)),
      {"inf.npy", "sample 1", "infinite"});
}

// ---- files that are not there --------------------------------------------------------------------

TEST_F(IoTest, MissingFilesAndDirectoriesAreNamed) {
  for (const std::string name : {"nope.txt", "nope.npy", "nope.wav"})
    expect_read_error(path(name), {name, "no such file"});
  fs::create_directory(path("d.npy"));
  expect_read_error(path("d.npy"), {"d.npy", "directory"});
  expect_read_error("", {"empty name"});
}

TEST_F(IoTest, ChannelOfAOneSignalFileMustBeZero) {
  io::write_array(path("v.csv"), kAwkward);
  EXPECT_EQ(io::read_signal(path("v.csv"), 0).samples, kAwkward);
  expect_read_error(path("v.csv"), {"v.csv", "channel 1"}, 1);
}

// ---- WAV -------------------------------------------------------------------------------------------

TEST_F(IoTest, FloatWavRoundTripKeepsFloat32ValuesAndRate) {
  // float32 values (dyadic), beyond [-1, 1] too: 32-bit float WAV stores them exactly.
  const std::vector<double> v = {0.5, -0.25, 1.75, -3.0, 0.0, 0.125};
  io::write_wav(path("f.wav"), v, 44100);
  const io::Signal s = io::read_signal(path("f.wav"));
  EXPECT_EQ(s.format, "wav");
  EXPECT_EQ(s.samples, v);
  ASSERT_TRUE(s.sample_rate);
  EXPECT_EQ(*s.sample_rate, 44100.0);
}

TEST_F(IoTest, Pcm24WavRoundTripWithinOneQuantisationStep) {
  std::vector<double> v(257);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.1 * static_cast<double>(i)) * 0.9;
  io::write_wav(path("p.wav"), v, 16000, io::WavFormat::pcm24);
  const io::Signal s = io::read_signal(path("p.wav"));
  ASSERT_EQ(s.samples.size(), v.size());
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(s.samples[i], v[i], std::ldexp(1.0, -23)) << i;
  EXPECT_EQ(*s.sample_rate, 16000.0);
}

TEST_F(IoTest, StereoWavNeedsAChannel) {
  SF_INFO info{};
  info.samplerate = 8000;
  info.channels = 2;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(path("st.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr);
  const std::vector<double> frames = {0.5, -0.5, 0.25, -0.25, 0.125, -0.125};  // L, R interleaved
  ASSERT_EQ(sf_writef_double(f, frames.data(), 3), 3);
  sf_close(f);
  expect_read_error(path("st.wav"), {"st.wav", "2 channels", "0..1"});
  EXPECT_EQ(io::read_signal(path("st.wav"), 0).samples, (std::vector<double>{0.5, 0.25, 0.125}));
  EXPECT_EQ(io::read_signal(path("st.wav"), 1).samples, (std::vector<double>{-0.5, -0.25, -0.125}));
  expect_read_error(path("st.wav"), {"st.wav", "channel 2 does not exist"}, 2);
  expect_read_error(path("st.wav"), {"st.wav", "channel -1"}, -1);
}

TEST_F(IoTest, BrokenWavFilesAreRefused) {
  std::vector<double> v(1000, 0.25);
  io::write_wav(path("t.wav"), v, 8000);
  const auto full = fs::file_size(path("t.wav"));
  fs::copy_file(path("t.wav"), path("cut.wav"));
  fs::resize_file(path("cut.wav"), full - 1000);
  expect_read_error(path("cut.wav"), {"cut.wav", "truncated"});
  fs::copy_file(path("t.wav"), path("header_only.wav"));
  fs::resize_file(path("header_only.wav"), 30);
  expect_read_error(path("header_only.wav"), {"header_only.wav", "not a readable sound file"});
  expect_read_error(write_bytes("text.wav", "1\n2\n3\n"), {"text.wav", "not a readable sound file"});
  io::write_wav(path("nan.wav"), std::vector<double>{0.5, 0.25}, 8000);
  // Patch the second float sample to NaN: the data are the last 8 bytes.
  {
    std::fstream f(path("nan.wav"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path("nan.wav")) - 4));
    const std::string nan = le_bytes(std::vector<float>{std::nanf("")});
    f.write(nan.data(), 4);
  }
  expect_read_error(path("nan.wav"), {"nan.wav", "sample 1", "NaN"});
  // An empty WAV: valid header, no frames.
  SF_INFO info{};
  info.samplerate = 8000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  sf_close(sf_open(path("empty.wav").c_str(), SFM_WRITE, &info));
  expect_read_error(path("empty.wav"), {"empty.wav", "no samples"});
}

TEST_F(IoTest, WriteWavRefusesBadArgumentsAndLeavesNothing) {
  const std::string p = path("w.wav");
  EXPECT_THROW(io::write_wav(p, std::vector<double>{0.5}, 0), convgrad::invalid_argument);
  EXPECT_THROW(io::write_wav(p, std::vector<double>{}, 8000), convgrad::invalid_argument);
  EXPECT_THROW(io::write_wav(p, std::vector<double>{0.5, NAN}, 8000), convgrad::invalid_argument);
  EXPECT_THROW(io::write_wav(p, std::vector<double>{0.5, 1e39}, 8000), convgrad::invalid_argument);
  try {
    io::write_wav(p, std::vector<double>{0.5, 1.5}, 8000, io::WavFormat::pcm24);
    FAIL() << "no error for a sample outside [-1, 1] in PCM";
  } catch (const convgrad::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sample 1"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(listing().empty());
}

// ---- atomic writing ----------------------------------------------------------------------------

TEST_F(IoTest, UnwritableTargetsGiveIoErrorAndLeaveNothing) {
  const std::vector<double> v = {1, 2, 3};
  auto expect_write_error = [&](const std::string& target, const std::string& part) {
    for (int kind = 0; kind < 3; ++kind) {
      try {
        if (kind == 0) io::write_array(target, v);
        if (kind == 1) io::write_file_atomic(target, "{}");
        if (kind == 2) io::write_wav(target, v, 8000);
        ADD_FAILURE() << "no error writing " << target;
      } catch (const io_error& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(part), std::string::npos) << msg;
        EXPECT_NE(msg.find("cannot write"), std::string::npos) << msg;
      }
    }
  };
  expect_write_error(path("missing_dir/out.npy"), "does not exist");
  fs::create_directory(path("a_dir"));
  expect_write_error(path("a_dir"), "is a directory");
  io::write_array(path("a_file"), v);
  expect_write_error(path("a_file/out.csv"), "not a directory");
  expect_write_error("", "empty name");
  if (::geteuid() != 0) {  // root writes anywhere
    fs::create_directory(path("ro"));
    fs::permissions(path("ro"), fs::perms::owner_read | fs::perms::owner_exec);
    expect_write_error(path("ro/out.npy"), "Permission denied");
    fs::permissions(path("ro"), fs::perms::owner_all);
  }
  const std::vector<std::string> want = ::geteuid() != 0 ? std::vector<std::string>{"a_dir", "a_file", "ro"}
                                                         : std::vector<std::string>{"a_dir", "a_file"};
  EXPECT_EQ(listing(), want);  // no temporaries left behind
  EXPECT_TRUE(fs::is_empty(path("a_dir")));
}

TEST_F(IoTest, FailureWhileWritingLeavesTheOldFileAndNoTemporary) {
  const std::string p = path("out.csv");
  io::write_file_atomic(p, "old contents\n");
  EXPECT_THROW(io::Stager::stage(p,
                                 [&](int fd) {
                                   io::detail::write_all(fd, "half", 4, p);
                                   throw io_error("simulated failure in the middle of a write");
                                 }),
               io_error);
  EXPECT_EQ(listing(), std::vector<std::string>{"out.csv"});
  EXPECT_EQ(io::detail::read_file(p), "old contents\n");
}

TEST_F(IoTest, StagedFilesAppearOnlyWhenCommitted) {
  const std::string a = path("a.npy"), b = path("b.csv");
  {
    io::StagedFile sa = io::stage_array(a, kAwkward);
    io::StagedFile sb = io::stage_file(b, "x\n");
    EXPECT_FALSE(fs::exists(a));
    EXPECT_FALSE(fs::exists(b));
    EXPECT_EQ(listing().size(), 2u);  // the two temporaries
    sa.commit();
    EXPECT_TRUE(fs::exists(a));
    EXPECT_THROW(sa.commit(), io_error);
  }  // sb goes out of scope uncommitted: its temporary is removed
  EXPECT_EQ(listing(), std::vector<std::string>{"a.npy"});
  EXPECT_EQ(io::read_signal(a).samples, kAwkward);
  // Moving transfers the responsibility for the temporary.
  {
    io::StagedFile s1 = io::stage_file(b, "y\n");
    io::StagedFile s2 = std::move(s1);
    s2.commit();
  }
  EXPECT_EQ(io::detail::read_file(b), "y\n");
}

TEST_F(IoTest, WritingReplacesAnExistingFile) {
  const std::string p = path("v.npy");
  io::write_array(p, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  io::write_array(p, std::vector<double>{7});
  EXPECT_EQ(io::read_signal(p).samples, std::vector<double>{7});
  EXPECT_EQ(listing(), std::vector<std::string>{"v.npy"});
}

// `v` as `bytes` little-endian bytes.
std::string le(std::uint32_t v, int bytes) {
  std::string out;
  for (int k = 0; k < bytes; ++k, v >>= 8) out += static_cast<char>(v & 0xFF);
  return out;
}

// A mono WAV file's bytes: a 'fmt ' chunk with format tag `tag`, `rate` Hz and `bits` per
// sample, followed by `tail` (a format's extension), and `data` as the 'data' chunk.
std::string wav_bytes(std::uint16_t tag, std::uint32_t rate, const std::string& data, std::uint16_t bits = 16,
                      const std::string& tail = "") {
  const std::string fmt =
      le(tag, 2) + le(1, 2) + le(rate, 4) + le(rate * 2, 4) + le(2, 2) + le(bits, 2) + tail;
  const std::string body = "WAVEfmt " + le(static_cast<std::uint32_t>(fmt.size()), 4) + fmt + "data" +
                           le(static_cast<std::uint32_t>(data.size()), 4) + data;
  return "RIFF" + le(static_cast<std::uint32_t>(body.size()), 4) + body;
}

// The extension of WAVE_FORMAT_EXTENSIBLE (tag 0xFFFE) naming `sub` as the sub-format, and that
// of an MPEG layer 3 header (tag 0x0055) that sends the file to libsndfile's MP3 decoder.
std::string extensible(std::uint16_t sub) {
  return le(22, 2) + le(16, 2) + le(0, 4) + le(sub, 2) +
         std::string("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71", 14);
}
const std::string kMp3Extension = le(12, 2) + le(1, 2) + le(2, 4) + le(417, 2) + le(1, 2) + le(1393, 2);

// A WAV declaring MPEG data (as its format tag or as the sub-format of an extensible header),
// or a zero sample rate, is refused from its header with the real reason in one printable line,
// and nothing (libsndfile's MP3 decoder notes above all) reaches stderr.
TEST_F(IoTest, UnsupportedWavHeadersAreRefusedWithTheRealReasonAndNothingOnStderr) {
  const std::string silence(256, '\0');
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {wav_bytes(0x0055, 8000, silence, 0, kMp3Extension), {"MPEG", "0x0055", "PCM or 32-bit float"}},
      {wav_bytes(0x0050, 8000, silence), {"MPEG", "0x0050"}},
      {wav_bytes(0xFFFE, 8000, silence, 16, extensible(0x0055)), {"MPEG", "0x0055"}},
      {wav_bytes(0x1234, 8000, silence), {"unsupported encoding", "0x1234"}},
      {wav_bytes(0x0001, 0, silence), {"sample rate of 0"}},
  };
  for (const auto& [bytes, parts] : cases) {
    const std::string p = write_bytes("bad.wav", bytes);
    ::testing::internal::CaptureStderr();
    try {
      (void)io::read_signal(p);
      ADD_FAILURE() << "no error for " << parts[0];
    } catch (const io_error& e) {
      for (const std::string& part : parts)
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << part << " not in: " << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.wav"), std::string::npos) << e.what();
      expect_printable(e.what());
    }
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << parts[0];
  }
  // The same header with PCM data and a real rate reads.
  EXPECT_EQ(io::read_signal(write_bytes("ok.wav", wav_bytes(0x0001, 8000, silence))).samples.size(), 128u);
  EXPECT_EQ(io::read_signal(write_bytes("ext.wav", wav_bytes(0xFFFE, 8000, silence, 16, extensible(0x0001))))
                .samples.size(),
            128u);
}

TEST(IoDispatch, SoundFilesAreRecognisedByExtensionInAnyCase) {
  for (const std::string p : {"a.wav", "dir/b.WAV", "c.flac", "d.aiff", "e.aif", "f.wave"})
    EXPECT_TRUE(io::is_sound_file(p)) << p;
  for (const std::string p : {"a.npy", "b.csv", "c.txt", "wav", "d.wav.txt", "e"})
    EXPECT_FALSE(io::is_sound_file(p)) << p;
}
