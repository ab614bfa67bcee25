// read_file's two routes: a regular file is read in one piece into a string of its size, a
// pipe (which has no size) through the stream copy. Both must give every byte.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/io.hpp"

namespace fs = std::filesystem;
namespace io = convgrad::io;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("convgrad_test_io_read_" + std::to_string(::getpid()) + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// "0 1 2 ... n-1", one per line: long enough to need many reads of a stream buffer.
std::string counting_text(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += std::to_string(i) + "\n";
  return text;
}

void expect_counting(const io::Signal& s, int n) {
  ASSERT_EQ(s.samples.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) ASSERT_EQ(s.samples[static_cast<std::size_t>(i)], i) << i;
}

}  // namespace

TEST(ReadFile, RegularFileIsReadWhole) {
  const fs::path d = fresh_dir("regular");
  const int n = 100000;
  std::ofstream(d / "x.txt") << counting_text(n);
  expect_counting(io::read_signal((d / "x.txt").string()), n);
  fs::remove_all(d);
}

TEST(ReadFile, PipeWithoutASizeIsReadToItsEnd) {
  const fs::path d = fresh_dir("pipe");
  const fs::path fifo = d / "x.txt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int n = 100000;  // ~590 KB: more than a pipe holds, so reader and writer alternate
  std::thread writer([&] { std::ofstream(fifo) << counting_text(n); });
  const io::Signal s = io::read_signal(fifo.string());
  writer.join();
  expect_counting(s, n);
  fs::remove_all(d);
}

// ---- tables: a column by header name or 0-based index (issue 14) --------------------------------

namespace {

std::string write_text(const fs::path& d, const std::string& name, const std::string& text) {
  std::ofstream(d / name) << text;
  return (d / name).string();
}

// The io_error's message of reading `path` with `column`, or "" when it reads.
std::string read_error(const std::string& path, const io::Column& column = {}) {
  try {
    (void)io::read_signal(path, std::nullopt, column);
  } catch (const convgrad::io_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ReadTable, AColumnByHeaderNameOrIndex) {
  const fs::path d = fresh_dir("table");
  const std::string p = write_text(d, "t.csv", "time,x,y\n0,1.5,-1\n1,2.5,-2\n2,3.5,-3\n");
  const std::vector<double> x = {1.5, 2.5, 3.5}, y = {-1, -2, -3};
  EXPECT_EQ(io::read_signal(p, std::nullopt, {"x"}).samples, x);
  EXPECT_EQ(io::read_signal(p, std::nullopt, {"2"}).samples, y);
  EXPECT_EQ(io::read_signal(p, std::nullopt, {"y", true}).samples, y);
  // Quoted header names, blanks as separators, no header: the same columns.
  EXPECT_EQ(io::read_signal(write_text(d, "q.csv", "\"a\",\"x\"\n0,1.5\n1,2.5\n2,3.5\n"), std::nullopt, {"x"})
                .samples,
            x);
  EXPECT_EQ(io::read_signal(write_text(d, "b.txt", "0 1.5\n1 2.5\n2 3.5\n"), std::nullopt, {"1"}).samples, x);
  fs::remove_all(d);
}

TEST(ReadTable, ErrorsListTheColumns) {
  const fs::path d = fresh_dir("table_errors");
  const std::string p = write_text(d, "t.csv", "time,x,y\n0,1,2\n1,3,4\n");
  for (const std::string& e : {read_error(p), read_error(p, {"z"}), read_error(p, {"3"})})
    EXPECT_NE(e.find("0 'time', 1 'x', 2 'y'"), std::string::npos) << e;
  EXPECT_NE(read_error(p).find("t.csv:1: a table of 3 columns"), std::string::npos);
  EXPECT_NE(read_error(p, {"z"}).find("no column 'z'"), std::string::npos);
  const std::string ragged = write_text(d, "r.csv", "a,b\n1,2\n3\n");
  EXPECT_NE(read_error(ragged, {"a"}).find("r.csv:3: 1 values on one line but 2 on line 1 (the header)"),
            std::string::npos);
  EXPECT_NE(read_error(write_text(d, "h.csv", "a,b\n")).find("h.csv:1: 'a' is not a number"),
            std::string::npos);
  fs::remove_all(d);
}

TEST(ReadTable, OneColumnWithAHeaderNeedsNoColumnAndAPlainSignalIgnoresATablesOnlyOne) {
  const fs::path d = fresh_dir("table_plain");
  const std::vector<double> v = {1, 2, 3};
  EXPECT_EQ(io::read_signal(write_text(d, "h.csv", "x\n1\n2\n3\n")).samples, v);
  const std::string plain = write_text(d, "p.txt", "1\n2\n3\n");
  EXPECT_EQ(io::read_signal(plain, std::nullopt, {"x", true}).samples, v);       // not a table: ignored
  EXPECT_NE(read_error(plain, {"x"}).find("no column 'x'"), std::string::npos);  // asked of it: refused
  fs::remove_all(d);
}

TEST(ReadTable, NpyTakesNoColumn) {
  const fs::path d = fresh_dir("table_npy");
  io::write_array((d / "a.npy").string(), std::vector<double>{1, 2});
  EXPECT_NE(read_error((d / "a.npy").string(), {"x"}).find("a .npy file holds a single signal"),
            std::string::npos);
  EXPECT_EQ(io::read_signal((d / "a.npy").string(), std::nullopt, {"x", true}).samples.size(), 2u);
  fs::remove_all(d);
}

// '-' is standard input, its format recognised from its first bytes (here .npy), its errors
// naming "standard input". (Standard input is read once per process: one test reads it.)
TEST(ReadStandardInput, NpyIsRecognisedByItsMagic) {
  const fs::path d = fresh_dir("stdin");
  io::write_array((d / "a.npy").string(), std::vector<double>{4, 5, 6});
  const int saved = ::dup(STDIN_FILENO);
  const int fd = ::open((d / "a.npy").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::dup2(fd, STDIN_FILENO);
  ::close(fd);
  const io::Signal s = io::read_signal("-");
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  EXPECT_EQ(s.samples, (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(s.format, "npy-float64");
  EXPECT_EQ(io::display_name("-"), "standard input");
  const std::string e = read_error("-", {"x"});
  EXPECT_EQ(e.rfind("standard input: column 'x' asked for", 0), 0u) << e;
  fs::remove_all(d);
}
