// Window readers (convgrad/file_source.hpp): every window of every format equals the same
// stretch of read_signal's samples, bit for bit, zero-padded outside [0, N); hostile files
// give read_signal's errors, naming the file and the sample.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/file_source.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/stream.hpp"
#include "convgrad/io.hpp"

namespace fs = std::filesystem;
namespace io = convgrad::io;

namespace {

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("convgrad_test_file_source_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write_bytes(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }
  fs::path dir_;
};

// Values whose every bit matters: random doubles of mixed size, exact in float32 when asked.
std::vector<double> random_signal(std::size_t n, bool float32, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> v(n);
  for (double& s : v) s = float32 ? static_cast<double>(static_cast<float>(g(rng) * 0.3)) : g(rng) * 0.3;
  return v;
}

// A .npy file of float32 values: the header NumPy writes, then the little-endian data.
std::string npy_float32(const std::vector<double>& v) {
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(v.size()) + ",), }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  for (const double d : v) {
    std::uint32_t u = std::bit_cast<std::uint32_t>(static_cast<float>(d));
    for (int k = 0; k < 4; ++k, u >>= 8) out += static_cast<char>(u & 0xFF);
  }
  return out;
}

// Windows at odd places: across the start, the end, both, wholly outside, of odd lengths,
// and consecutive chunks with a halo, as a streamed fit reads them.
void expect_windows_equal_whole(const std::string& file, const std::vector<double>& whole,
                                std::optional<int> channel = std::nullopt, const io::Column& column = {}) {
  const auto reader = io::open_signal_reader(file, channel, column);
  const auto n = static_cast<std::int64_t>(whole.size());
  ASSERT_EQ(reader->length(), whole.size());
  const auto expect_window = [&](std::int64_t first, std::size_t size) {
    std::vector<double> got(size, -7.0);
    reader->read(first, got);
    for (std::size_t i = 0; i < size; ++i) {
      const std::int64_t at = first + static_cast<std::int64_t>(i);
      const double want = at >= 0 && at < n ? whole[static_cast<std::size_t>(at)] : 0.0;
      ASSERT_EQ(std::bit_cast<std::uint64_t>(got[i]), std::bit_cast<std::uint64_t>(want))
          << file << " window at " << first << " size " << size << ", sample " << at;
    }
  };
  expect_window(-5, 17);
  expect_window(n - 9, 31);
  expect_window(-3, static_cast<std::size_t>(n) + 11);
  expect_window(n + 2, 4);
  expect_window(-40, 8);
  expect_window(1, 0);
  for (const std::int64_t rows : {1, 7, 4096, 4097, 1000}) {
    const std::int64_t halo = 6;
    for (std::int64_t a = 0; a < n; a += rows) expect_window(a - halo, static_cast<std::size_t>(rows + halo));
  }
}

// The errors read_signal and open_signal_reader give for `file` (empty: none).
std::pair<std::string, std::string> refusals(const std::string& file, const io::Column& column) {
  std::string whole, window;
  try {
    (void)io::read_signal(file, std::nullopt, column);
  } catch (const convgrad::io_error& e) {
    whole = e.what();
  }
  try {
    (void)io::open_signal_reader(file, std::nullopt, column);
  } catch (const convgrad::io_error& e) {
    window = e.what();
  }
  return {whole, window};
}

}  // namespace

TEST_F(FileSourceTest, NpyWindowsEqualTheWholeRead) {
  const auto v64 = random_signal(10007, false, 1);
  io::write_array(path("x64.npy"), v64);
  EXPECT_EQ(io::read_signal(path("x64.npy")).samples, v64);
  expect_windows_equal_whole(path("x64.npy"), v64);
  const auto v32 = random_signal(9001, true, 2);
  write_bytes("x32.npy", npy_float32(v32));
  EXPECT_EQ(io::read_signal(path("x32.npy")).samples, v32);
  expect_windows_equal_whole(path("x32.npy"), v32);
}

// A table's column (named, or the only one under a header line) is read_signal's, window by
// window; a table read without a column, or with one it lacks, gives read_signal's error.
TEST_F(FileSourceTest, TableColumnsEqualTheWholeRead) {
  const auto a = random_signal(2 * io::kTextStride + 77, false, 11), b = random_signal(a.size(), false, 12);
  std::string table = "time,a,b\n", one = "b\n";
  for (std::size_t i = 0; i < a.size(); ++i) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%zu,%.17g,%.17g\n", i, a[i], b[i]);
    table += buf;
    std::snprintf(buf, sizeof buf, "%.17g\n", b[i]);
    one += buf;
  }
  write_bytes("t.csv", table);
  write_bytes("one.csv", one);
  expect_windows_equal_whole(path("t.csv"), a, std::nullopt, io::Column{"a", false});
  expect_windows_equal_whole(path("t.csv"), b, std::nullopt, io::Column{"2", true});
  expect_windows_equal_whole(path("one.csv"), b);  // a header line over one column needs none
  for (const io::Column& c : {io::Column{}, io::Column{"speed", false}}) {
    const auto [whole_error, window_error] = refusals(path("t.csv"), c);
    EXPECT_NE(whole_error.find("0 'time', 1 'a', 2 'b'"), std::string::npos) << whole_error;
    EXPECT_EQ(window_error, whole_error);
  }
}

// A table's column is streamed, not read whole, when its first line settles which column: a
// header line, or a column asked of this very file. Its windows, and its errors, are read_signal's.
TEST_F(FileSourceTest, TableColumnsAreStreamedWithTheWholeReadsRules) {
  const auto a = random_signal(2 * io::kTextStride + 51, false, 21), b = random_signal(a.size(), false, 22);
  std::string header = "\xEF\xBB\xBF# made by a spreadsheet\n\"t\", \"a\", \"b\"\r\n", plain;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char buf[120];
    std::snprintf(buf, sizeof buf, "%zu, %.17g, %.17g%s", i, a[i], b[i],
                  i % 9 == 0 ? "  # note\r\n\n" : "\r\n");
    header += buf;
    std::snprintf(buf, sizeof buf, "nan %.17g %.17g\n", a[i], b[i]);  // a column nobody asked for
    plain += buf;
  }
  const std::string with_header = write_bytes("h.csv", header), without = write_bytes("p.txt", plain);
  for (const auto& [file, column, want] :
       {std::tuple{with_header, io::Column{"a", false}, a}, std::tuple{with_header, io::Column{"2", true}, b},
        std::tuple{without, io::Column{"1", false}, a}, std::tuple{without, io::Column{"2", true}, b}}) {
    SCOPED_TRACE(file + " column " + column.spec);
    expect_windows_equal_whole(file, want, std::nullopt, column);
    // Streamed: the reader's pass over the samples reads the file (a whole read holds N doubles).
    EXPECT_EQ(io::open_signal_reader(file, std::nullopt, column)->file_bytes(), fs::file_size(file));
  }
  // One line of several values is a signal, not a table, to a column meant only for the tables.
  expect_windows_equal_whole(write_bytes("line.csv", "1, 2, 3\n"), {1, 2, 3}, std::nullopt,
                             io::Column{"2", true});
  // Hostile tables: the same error as the whole read, word for word.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"ragged.csv", "x,y\n1,2\n3\n"},  {"value.csv", "x,y\n1,2\n3,inf\n"},
      {"mixed.csv", "time,2\n1,2\n"},   {"typo.csv", "1O,y\n1,2\n"},
      {"only_header.csv", "x,y\n"},     {"only_header_no_column.csv", "a,b\n"},
      {"which.csv", "x,y\n1,2\n"},      {"no_such.csv", "x,y\n1,2\n"},
      {"headerless.csv", "1,2\n3,4\n"},
  };
  for (const auto& [name, bytes] : bad) {
    const std::string file = write_bytes(name, bytes);
    const io::Column column =
        name == "which.csv" || name == "headerless.csv" || name == "only_header_no_column.csv"
            ? io::Column{}
            : io::Column{name == "no_such.csv" ? "z" : "y", false};
    const auto [whole_error, window_error] = refusals(file, column);
    EXPECT_FALSE(whole_error.empty()) << name;
    EXPECT_EQ(window_error, whole_error) << name;
  }
}

TEST_F(FileSourceTest, TextWindowsEqualTheWholeRead) {
  // More values than a few strides of the index, with comments, blank lines, CRLF, a BOM.
  const auto v = random_signal(3 * io::kTextStride + 123, false, 3);
  std::string text = "\xEF\xBB\xBF# a header comment\n";
  for (std::size_t i = 0; i < v.size(); ++i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v[i]);
    text += buf;
    text += i % 5 == 0 ? "  # note\r\n" : (i % 7 == 0 ? "\n\n" : "\n");
  }
  write_bytes("x.txt", text);
  const auto whole = io::read_signal(path("x.txt")).samples;
  ASSERT_EQ(whole, v);
  expect_windows_equal_whole(path("x.txt"), whole);
  // All on one line, comma separated.
  std::string line;
  for (std::size_t i = 0; i < 5000; ++i) line += (i ? ", " : "") + std::to_string(v[i]);
  write_bytes("one.csv", line + "\n");
  expect_windows_equal_whole(path("one.csv"), io::read_signal(path("one.csv")).samples);
}

TEST_F(FileSourceTest, WavWindowsEqualTheWholeRead) {
  auto v = random_signal(5003, true, 4);
  for (double& s : v) s = std::clamp(s, -0.99, 0.99);  // in PCM's range
  io::write_wav(path("f.wav"), v, 8000);
  expect_windows_equal_whole(path("f.wav"), io::read_signal(path("f.wav")).samples);
  io::write_wav(path("p.wav"), v, 16000, io::WavFormat::pcm24);
  expect_windows_equal_whole(path("p.wav"), io::read_signal(path("p.wav")).samples);
  EXPECT_EQ(*io::open_signal_reader(path("p.wav"))->sample_rate(), 16000.0);
  // Stereo: the channel picked as read_signal picks it.
  SF_INFO info{};
  info.samplerate = 8000;
  info.channels = 2;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(path("st.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr);
  std::vector<double> frames(2 * v.size());
  for (std::size_t i = 0; i < v.size(); ++i) frames[2 * i] = v[i], frames[2 * i + 1] = -v[i] / 2;
  ASSERT_EQ(sf_writef_double(f, frames.data(), static_cast<sf_count_t>(v.size())),
            static_cast<sf_count_t>(v.size()));
  sf_close(f);
  for (const int c : {0, 1})
    expect_windows_equal_whole(path("st.wav"), io::read_signal(path("st.wav"), c).samples, c);
  EXPECT_THROW(io::open_signal_reader(path("st.wav")), convgrad::io_error);
}

// The error of `open` (or of the first read of the whole signal), as read_signal gives it.
std::string reader_error(const std::string& file) {
  try {
    const auto r = io::open_signal_reader(file);
    std::vector<double> all(r->length());
    r->read(0, all);
  } catch (const convgrad::io_error& e) {
    return e.what();
  }
  return "";
}

std::string read_signal_error(const std::string& file) {
  try {
    io::read_signal(file);
  } catch (const convgrad::io_error& e) {
    return e.what();
  }
  return "";
}

TEST_F(FileSourceTest, HostileFilesGiveReadSignalsErrors) {
  const auto v = random_signal(100, false, 5);
  io::write_array(path("good.npy"), v);
  const std::string good = [&] {
    std::ifstream in(path("good.npy"), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  std::vector<std::string> files = {
      write_bytes("cut.npy", good.substr(0, good.size() - 12)),  // truncated data
      write_bytes("long.npy", good + "extra"),                   // trailing bytes
      write_bytes("head.npy", good.substr(0, 9)),                // truncated header
      write_bytes("magic.npy", "not numpy at all"),
      write_bytes("text.txt", "1\n2\nabc\n"),
      write_bytes("table.txt", "1 2\n3 4\n"),
      write_bytes("empty.txt", "# only a comment\n"),
      write_bytes("inf.txt", "1\ninf\n"),
      // Two faults each: the first met, by the window reader as by the whole read.
      write_bytes("two1.txt", "1\nabc\n1,\n"),
      write_bytes("two2.txt", "1\nnan\n3 4\n"),
      write_bytes("two3.txt", "1\n2 3\nx\n"),
      path("missing.npy"),
  };
  // A header that lies: it announces more samples than the file holds.
  std::string lying = good;
  lying.replace(lying.find("(100,)"), 6, "(900,)");
  files.push_back(write_bytes("lying.npy", lying));
  // A header length beyond the file.
  std::string huge = good;
  huge[8] = '\xFF', huge[9] = '\xFF';
  files.push_back(write_bytes("huge.npy", huge));
  // NaN at sample 57.
  {
    std::string bytes = good;
    const double q = std::nan("");
    std::memcpy(bytes.data() + bytes.size() - 8 * (100 - 57), &q, 8);
    files.push_back(write_bytes("nan.npy", bytes));
  }
  for (const std::string& f : files) {
    const std::string want = read_signal_error(f);
    ASSERT_FALSE(want.empty()) << f;
    EXPECT_EQ(reader_error(f), want) << f;
  }
  EXPECT_NE(reader_error(path("nan.npy")).find("sample 57"), std::string::npos);
}

TEST_F(FileSourceTest, NonFiniteSampleIsNamedInTheWindowThatMeetsIt) {
  io::write_array(path("inf.npy"), random_signal(10000, false, 6));
  {
    std::fstream f(path("inf.npy"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path("inf.npy")) - 8 * (10000 - 7777)));
    const double inf = INFINITY;
    f.write(reinterpret_cast<const char*>(&inf), 8);
  }
  const auto r = io::open_signal_reader(path("inf.npy"));
  std::vector<double> w(1000);
  r->read(0, w);  // before the bad sample: fine
  try {
    r->read(7000, w);
    FAIL() << "no error";
  } catch (const convgrad::io_error& e) {
    EXPECT_NE(std::string(e.what()).find("inf.npy: sample 7777 (0-based) is infinite"), std::string::npos)
        << e.what();
  }
}

// A float32 .npy is read as float without the detour through double (FileSource<float>): the
// same values as read() gives, at every window, zero outside; a NaN named by its sample; and
// any other file declines, reading nothing (the caller reads double and rounds).
TEST_F(FileSourceTest, Float32NpyWindowsAreReadAsStored) {
  const auto v32 = random_signal(9001, true, 2);
  write_bytes("x32.npy", npy_float32(v32));
  const auto reader = io::open_signal_reader(path("x32.npy"));
  const auto n = static_cast<std::int64_t>(v32.size());
  for (const auto [first, size] : std::vector<std::pair<std::int64_t, std::size_t>>{
           {-5, 17}, {n - 9, 31}, {-3, v32.size() + 11}, {n + 2, 4}, {-40, 8}, {1, 0}, {4090, 4097}}) {
    std::vector<float> got(size, -7.0f);
    std::vector<double> want(size, -7.0);
    ASSERT_TRUE(reader->read_float32(first, got));
    reader->read(first, want);
    for (std::size_t i = 0; i < size; ++i)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(got[i]),
                std::bit_cast<std::uint32_t>(static_cast<float>(want[i])))
          << "window at " << first << " size " << size << ", sample " << first + static_cast<std::int64_t>(i);
  }

  auto bad = v32;
  bad[5555] = NAN;
  write_bytes("nan32.npy", npy_float32(bad));
  std::vector<float> w(1000);
  const auto r = io::open_signal_reader(path("nan32.npy"));
  EXPECT_TRUE(r->read_float32(0, w));  // before the bad sample: fine
  try {
    r->read_float32(5000, w);
    FAIL() << "no error";
  } catch (const convgrad::io_error& e) {
    EXPECT_NE(std::string(e.what()).find("nan32.npy: sample 5555 (0-based) is NaN"), std::string::npos)
        << e.what();
  }

  io::write_array(path("x64.npy"), v32);
  io::write_array(path("x.txt"), v32);
  for (const std::string name : {"x64.npy", "x.txt"}) {
    std::vector<float> untouched(10, -7.0f);
    EXPECT_FALSE(io::open_signal_reader(path(name))->read_float32(0, untouched)) << name;
    EXPECT_EQ(untouched, std::vector<float>(10, -7.0f)) << name;
  }
}

// A table's unused column may hold anything a signal may not (a NaN, on its first or second
// row): the column asked for is read, streamed or whole alike.
TEST_F(FileSourceTest, ATableColumnIsReadWhateverTheOtherColumnsHold) {
  write_bytes("nan.csv", "1,nan\n2,3\n4,inf\n");
  write_bytes("nan2.csv", "1,2\n3,nan\n5,6\n");
  for (const char* name : {"nan.csv", "nan2.csv"}) {
    const io::Column first{"0", true};
    const auto whole = io::read_signal(path(name), std::nullopt, first).samples;
    EXPECT_EQ(whole, (std::vector<double>{1, name[3] == '2' ? 3.0 : 2.0, name[3] == '2' ? 5.0 : 4.0}));
    expect_windows_equal_whole(path(name), whole, std::nullopt, first);
  }
}

// The pairs' counts are checked before any file is opened (none of these exists).
TEST_F(FileSourceTest, PairsOfUnequalCountsAreRefusedBeforeOpeningAnyFile) {
  EXPECT_THROW(io::FilePairs({path("a.npy"), path("b.npy")}, {path("c.npy")}), convgrad::invalid_argument);
}

TEST_F(FileSourceTest, PairsOfDifferentLengthsAreRefusedNamingBoth) {
  io::write_array(path("x.npy"), random_signal(50, false, 7));
  io::write_array(path("y.txt"), random_signal(49, false, 8));
  try {
    io::FilePairs pairs({path("x.npy")}, {path("y.txt")});
    FAIL() << "no error";
  } catch (const convgrad::io_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("y.txt) has 49 samples but x ("), std::string::npos) << m;
    EXPECT_NE(m.find("x.npy) has 50"), std::string::npos) << m;
  }
  io::write_array(path("y.npy"), random_signal(50, false, 9));
  io::FilePairs pairs({path("x.npy")}, {path("y.npy")});
  EXPECT_EQ(pairs.pairs(), 1u);
  EXPECT_EQ(pairs.length(0), 50u);
  std::vector<double> w(60);
  pairs.read_y(0, -5, w);
  EXPECT_EQ(w[0], 0.0);
  EXPECT_EQ(w[5], random_signal(50, false, 9)[0]);
  EXPECT_GE(pairs.bytes_read(), 2 * 50 * 8u);
}

// The fit over files streamed in chunks equals the in-memory fit with the same chunk rows, to
// the last bit: the chunks, their windows and the tree that adds them are the same; only where
// the samples come from differs. Pairs of several chunks, a float32 file, the exact solver and
// an iterative one.
TEST_F(FileSourceTest, StreamedFitEqualsTheInMemoryFitBitForBit) {
  const std::vector<std::size_t> lengths = {10007, 2500};
  std::vector<std::vector<double>> xs, ys;
  std::vector<std::string> x_files, y_files;
  for (std::size_t p = 0; p < lengths.size(); ++p) {
    xs.push_back(random_signal(lengths[p], true, 10 + static_cast<unsigned>(p)));
    ys.push_back(random_signal(lengths[p], false, 20 + static_cast<unsigned>(p)));
    x_files.push_back(write_bytes("x" + std::to_string(p) + ".npy", npy_float32(xs[p])));
    y_files.push_back(path("y" + std::to_string(p) + (p == 0 ? ".npy" : ".txt")));
    io::write_array(y_files.back(), ys[p]);
  }
  const convgrad::Taps taps{-4, 9};
  io::FilePairs files(x_files, y_files);
  const auto expect_same_fit = [&]<class T>(T, convgrad::Solver solver) {
    std::vector<std::vector<T>> xt, yt;
    std::vector<convgrad::Pair<T>> data;
    for (std::size_t p = 0; p < xs.size(); ++p) {
      xt.emplace_back(xs[p].begin(), xs[p].end());
      yt.emplace_back(ys[p].begin(), ys[p].end());
    }
    for (std::size_t p = 0; p < xs.size(); ++p) data.push_back({xt[p], yt[p]});
    convgrad::FitOptions fo;
    fo.solver = solver;
    fo.chunk_rows = 1000;
    fo.max_iter = 30;
    const auto in_memory = convgrad::fit<T>(std::span<const convgrad::Pair<T>>(data), taps, fo);
    io::FileSource<T> source(files);
    const auto streamed = convgrad::fit<T>(static_cast<convgrad::Source<T>&>(source), taps, fo);
    ASSERT_EQ(streamed.h.size(), taps.K());
    using Bits = std::conditional_t<sizeof(T) == 8, std::uint64_t, std::uint32_t>;
    for (std::size_t j = 0; j < taps.K(); ++j)
      EXPECT_EQ(std::bit_cast<Bits>(streamed.h[j]), std::bit_cast<Bits>(in_memory.h[j]))
          << "tap " << j << ", solver " << convgrad::to_string(solver) << ", " << sizeof(T) * 8 << " bits";
    EXPECT_EQ(streamed.loss, in_memory.loss);
  };
  for (const auto solver : {convgrad::Solver::exact, convgrad::Solver::gd}) {
    expect_same_fit(double{}, solver);
    expect_same_fit(float{}, solver);
  }
}

// A pipe cannot be read at an offset, nor twice: it is read whole, and windows come from memory.
TEST_F(FileSourceTest, APipeIsReadWholeOnce) {
  const std::string fifo = path("in.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo) << "1\n2.5\n-3\n"; });
  const auto r = io::open_signal_reader(fifo);
  writer.join();
  ASSERT_EQ(r->length(), 3u);
  std::vector<double> w(5);
  r->read(-1, w);
  EXPECT_EQ(w, (std::vector<double>{0, 1, 2.5, -3, 0}));
}
