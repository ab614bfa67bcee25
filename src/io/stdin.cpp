// '-' as a file name: standard input. It is read once, whole, into an anonymous in-memory
// file, which every reader (they take a path) then reads as it reads a file on disk; errors
// name "standard input". Standard input has no extension, so its format is recognised from
// its first bytes (see convgrad/io.hpp).
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>

#include "convgrad/errors.hpp"
#include "io_detail.hpp"

namespace convgrad::io {

bool is_standard_input(const std::string& path) { return path == "-"; }

std::string display_name(const std::string& path) {
  return is_standard_input(path) ? std::string(kStandardInput) : path;
}

namespace detail {
namespace {

struct StdinCopy {
  std::string path;  // /proc/self/fd/N of the in-memory copy
  std::string head;  // its first bytes, to recognise the format
};

// Reads standard input to its end into an anonymous file (once per process: a second '-'
// reads the same bytes, as a second read of one file would).
const StdinCopy& stdin_copy() {
  static const StdinCopy copy = [] {
    const int fd = ::memfd_create("convgrad-stdin", MFD_CLOEXEC);
    if (fd < 0) throw io_error(std::string(kStandardInput) + ": cannot buffer it: " + std::strerror(errno));
    StdinCopy c{"/proc/self/fd/" + std::to_string(fd), {}};
    char buf[1 << 16];
    for (;;) {
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        throw io_error(std::string(kStandardInput) + ": read failed: " + std::strerror(errno));
      }
      if (c.head.size() < 16) c.head.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), 16));
      write_all(fd, buf, static_cast<std::size_t>(n), std::string(kStandardInput));
    }
    return c;  // fd stays open for the process: readers reopen it through its /proc path
  }();
  return copy;
}

// Every occurrence of `from` in `text` replaced by `to`.
std::string replaced(std::string text, const std::string& from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

}  // namespace

StdinFormat stdin_format() {
  const std::string_view head = stdin_copy().head;
  if (head.starts_with("\x93NUMPY")) return StdinFormat::npy;
  if ((head.starts_with("RIFF") || head.starts_with("RIFX") || head.starts_with("RF64")) &&
      head.substr(8, 4) == "WAVE")
    return StdinFormat::sound;
  if (head.starts_with("fLaC") || (head.starts_with("FORM") && head.substr(8, 3) == "AIF"))
    return StdinFormat::sound;
  const std::size_t first = head.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (head[first] == '{' || head[first] == '[')) return StdinFormat::json;
  return StdinFormat::text;
}

std::string stdin_path() { return stdin_copy().path; }

[[noreturn]] void rethrow_as_stdin(const io_error& e) {
  throw io_error(replaced(e.what(), stdin_copy().path, kStandardInput));
}

}  // namespace detail
}  // namespace convgrad::io
