// What the fuzz harnesses share (docs/fuzzing.md). convgrad's readers take a file name, so
// each harness puts the fuzzer's bytes in a file of its own scratch directory and calls the
// reader there: the library's real code path, open() and all, with nothing mocked.
//
// A harness returns 0 for every input the reader accepts or refuses with a convgrad::error
// (that is its job). Everything else is a finding, reported by aborting so that libFuzzer
// saves the input: another exception escaping (std::bad_alloc from a huge header, a
// nlohmann or filesystem error), a crash, a sanitizer report, or a result that breaks the
// reader's documented promise (an empty or non-finite signal).
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "convgrad/errors.hpp"
#include "convgrad/io.hpp"

namespace convgrad::fuzz {

namespace fs = std::filesystem;

// A directory private to this process, removed at exit: under /dev/shm when there is one
// (tmpfs, so the writers' fsync costs nothing and the disk sees no traffic), else the
// system's temporary directory. Each process (each libFuzzer job) gets its own.
inline const fs::path& scratch_dir() {
  struct Dir {
    fs::path path;
    Dir() {
      std::error_code ec;
      const fs::path shm = "/dev/shm";
      const fs::path base =
          fs::is_directory(shm, ec) && ::access(shm.c_str(), W_OK) == 0 ? shm : fs::temp_directory_path();
      path = base / ("convgrad-fuzz-" + std::to_string(::getpid()));
      fs::remove_all(path, ec);
      fs::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Replaces the file `path` with exactly these bytes.
inline void write_bytes(const fs::path& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
    std::abort();  // the harness itself is broken: no input can be judged
  }
}

// Aborts (a finding) unless `holds`: a promise the reader made about what it returns.
inline void require(bool holds, std::string_view promise) {
  if (holds) return;
  std::fprintf(stderr, "fuzz harness: broken promise: %.*s\n", static_cast<int>(promise.size()),
               promise.data());
  std::abort();
}

// What read_signal promises about a signal it returns (convgrad/io.hpp): at least one
// sample, every one finite.
inline void require_valid_signal(const io::Signal& s) {
  require(!s.samples.empty(), "read_signal returned an empty signal");
  for (const double v : s.samples) require(std::isfinite(v), "read_signal returned a non-finite sample");
}

// Reads the fuzzer's bytes as the file `name` in the scratch directory with read_signal
// (which picks the reader by the extension of `name`); a refusal is fine, a signal must be valid.
inline int read_signal_from(std::string_view name, const std::uint8_t* data, std::size_t size,
                            std::optional<int> channel = std::nullopt) {
  const fs::path file = scratch_dir() / name;
  write_bytes(file, data, size);
  try {
    require_valid_signal(io::read_signal(file.string(), channel));
  } catch (const convgrad::error&) {
    // refused, with a message: what a reader should do with a bad file
  }
  return 0;
}

}  // namespace convgrad::fuzz
