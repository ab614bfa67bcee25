// read_file's two routes: a regular file is read in one piece into a string of its size, a
// pipe (which has no size) through the stream copy. Both must give every byte.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

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
