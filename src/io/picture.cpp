// Pictures on disk: SVG as written, PNG through rsvg-convert (librsvg, from Debian's
// librsvg2-bin) run as its own process: the library links no image code, and a missing
// rasteriser costs only the PNG output, with an error that says what to install.
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "convgrad/errors.hpp"
#include "io_detail.hpp"

extern char** environ;

namespace convgrad::io {
namespace {

// An anonymous in-memory file holding `bytes` (read from its start), or empty for the output.
struct MemFile {
  int fd = -1;
  explicit MemFile(const std::string& bytes, const std::string& path) {
    fd = ::memfd_create("convgrad-picture", MFD_CLOEXEC);
    if (fd < 0) throw io_error("cannot write '" + path + "': " + std::strerror(errno));
    detail::write_all(fd, bytes.data(), bytes.size(), path);
    ::lseek(fd, 0, SEEK_SET);
  }
  ~MemFile() { ::close(fd); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  std::string contents() const {
    std::string s;
    ::lseek(fd, 0, SEEK_SET);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
    return s;
  }
};

// Runs `rsvg-convert -f png` with stdin = the SVG, stdout = `out`, stderr captured.
void rasterise(const std::string& svg, int out, const std::string& path) {
  const MemFile in(svg, path), err("", path);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fd, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.fd, STDERR_FILENO);
  char name[] = "rsvg-convert", format[] = "-f", png[] = "png";  // -f: rsvg-convert's output format
  char* argv[] = {name, format, png, nullptr};
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, name, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0)
    throw io_error("cannot write '" + path + "': rsvg-convert, which draws PNG pictures, could not be run (" +
                   std::strerror(spawned) + "); install librsvg2-bin, or write .svg");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = err.contents();
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    throw io_error("cannot write '" + path + "': rsvg-convert failed" +
                   (why.empty() ? std::string() : ": " + detail::quote_token(why, 200)));
  }
}

}  // namespace

StagedFile stage_picture(const std::string& path, const std::string& svg) {
  const std::string ext = detail::extension(path);
  if (ext.empty() || ext == ".svg") return stage_file(path, svg);
  if (ext != ".png")
    throw invalid_argument(path + ": '" + detail::quote_token(ext) +
                           "' is not a picture format; give .svg or .png");
  return Stager::stage(path, [&](int fd) { rasterise(svg, fd, path); });
}

}  // namespace convgrad::io
