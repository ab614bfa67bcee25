// Atomic writing: a complete temporary file beside the target, then rename(2), which
// replaces the target in one step. A crash or error at any point leaves either the old file
// or the new one, never half of one, and never a stray temporary: every error path removes
// it, SIGINT/SIGTERM/SIGHUP/SIGPIPE remove it (remove_temporaries_on_signals), and the
// temporaries of a process killed outright are removed by the next write to the same target.
//
// The target is looked at first (lstat), since rename(2) would replace whatever is there:
// a symbolic link is followed to its final target, and a device, a FIFO or an open
// descriptor (-, /dev/stdout) is written directly, since there is nothing to make atomic.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <utility>

#include "convgrad/errors.hpp"
#include "io_detail.hpp"

namespace convgrad::io {
namespace fs = std::filesystem;
namespace {

std::string os_reason(int err) { return std::strerror(err); }

// The directory a path lives in ("." for a bare file name).
fs::path directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

// ---- temporaries removed on a signal ---------------------------------------------------------
//
// A fixed table, so that the handler only reads memory that is never freed or moved and calls
// only unlink(2), which is async-signal-safe. A slot is published by storing `used` after its
// name is complete, and retired before the name could be reused.

struct TempSlot {
  std::atomic<bool> used{false};
  char name[PATH_MAX]{};
};
std::array<TempSlot, 64> temp_slots;

// The slot now holding `temp`, or -1 when all are taken (the temporary is still removed on
// every error path; only a signal during that write would leave it, for the next writer).
int remember_temporary(const std::string& temp) {
  if (temp.size() >= PATH_MAX) return -1;
  for (int i = 0; i < static_cast<int>(temp_slots.size()); ++i) {
    TempSlot& s = temp_slots[static_cast<std::size_t>(i)];
    bool expected = false;
    if (!s.used.load(std::memory_order_relaxed) &&
        s.used.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      // The slot is ours but not yet complete: the handler skips a name that is empty.
      s.name[0] = '\0';
      std::memcpy(s.name + 1, temp.c_str() + 1, temp.size());  // all but the first byte
      std::atomic_signal_fence(std::memory_order_release);
      s.name[0] = temp[0];
      return i;
    }
  }
  return -1;
}

void forget_temporary(int slot) noexcept {
  if (slot < 0) return;
  TempSlot& s = temp_slots[static_cast<std::size_t>(slot)];
  s.name[0] = '\0';
  std::atomic_signal_fence(std::memory_order_release);
  s.used.store(false, std::memory_order_release);
}

extern "C" void remove_temporaries_and_reraise(int signo) {
  for (TempSlot& s : temp_slots)
    if (s.used.load(std::memory_order_acquire) && s.name[0] != '\0') ::unlink(s.name);
  std::signal(signo, SIG_DFL);  // then end the way the signal would have ended us
  std::raise(signo);
}

// ---- stale temporaries -----------------------------------------------------------------------

// ".NAME.convgrad-tmp.": what every temporary for target NAME starts with. The writer's pid
// follows, so a temporary whose process no longer exists is recognisably abandoned.
std::string temporary_prefix(const fs::path& target) {
  std::string prefix = ".";  // hidden, and built by appending (GCC 12 misreports "." + s)
  prefix += target.filename().string();
  prefix += ".convgrad-tmp.";
  return prefix;
}

bool process_is_gone(const std::string& pid_text) {
  char* end = nullptr;
  const long pid = std::strtol(pid_text.c_str(), &end, 10);
  if (end == pid_text.c_str() || *end != '.' || pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// Removes the temporaries that dead processes left for `target` (SIGKILL cannot be caught).
void remove_stale_temporaries(const fs::path& target) {
  const std::string prefix = temporary_prefix(target);
  const fs::path dir = directory_of(target.string());
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(prefix, 0) == 0 && process_is_gone(name.substr(prefix.size())))
      ::unlink((dir / name).c_str());
  }
  ::closedir(d);
}

// A name that no other writer (thread or process) uses at the same time.
std::string temporary_name(const fs::path& target, unsigned attempt) {
  static std::atomic<unsigned long> counter{0};
  const std::string name = temporary_prefix(target) + std::to_string(::getpid()) + "." +
                           std::to_string(counter.fetch_add(1)) + "." + std::to_string(attempt);
  return (directory_of(target.string()) / name).string();
}

// ---- what the target is ----------------------------------------------------------------------

struct Target {
  std::string path;  // the file to replace (a symlink's final target), or the one to open
  bool direct = false;
  int fd = -1;  // direct and already open: write to this descriptor
};

// "-", /dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N: the descriptor N, else -1. These
// name a descriptor the process already has; replacing what it points to would detach it.
int descriptor_named(const std::string& path) {
  if (path == "-" || path == "/dev/stdout") return STDOUT_FILENO;
  if (path == "/dev/stderr") return STDERR_FILENO;
  for (const char* prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    const std::size_t n = std::strlen(prefix);
    if (path.compare(0, n, prefix) != 0 || path.size() == n || path.size() > n + 9) continue;
    if (path.find_first_not_of("0123456789", n) != std::string::npos) continue;
    return std::atoi(path.c_str() + n);
  }
  return -1;
}

// Follows a chain of symbolic links (relative links resolve against the link's directory) to
// the path at its end, which may not exist yet: writing through a dangling link creates it.
std::string final_target(const std::string& path) {
  fs::path p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (descriptor_named(p.string()) >= 0) return p.string();  // its link is no file name
    if (::lstat(p.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return p.string();
    std::error_code ec;
    const fs::path next = fs::read_symlink(p, ec);
    if (ec) throw io_error("cannot write '" + path + "': " + ec.message());
    p = next.is_absolute() ? next : directory_of(p.string()) / next;
  }
  throw io_error("cannot write '" + path + "': too many levels of symbolic links");
}

// Refuses targets that cannot be written, with a reason a person can act on, and says how the
// others are written.
Target examine_target(const std::string& path) {
  if (path.empty()) throw io_error("cannot write a file with an empty name");
  if (fs::path(path).filename().empty() && path != "-")
    throw io_error("cannot write '" + path + "': the name ends in a directory separator");
  const std::string target = final_target(path);
  if (const int fd = descriptor_named(target); fd >= 0) return {target, true, fd};
  struct stat st {};
  if (::lstat(target.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw io_error("cannot write '" + path + "': it is a directory");
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) return {target, true, -1};
    if (!S_ISREG(st.st_mode))
      throw io_error("cannot write '" + path + "': it is not a regular file, a device or a FIFO");
  }
  std::error_code ec;
  const fs::path dir = directory_of(target);
  const fs::file_status ds = fs::status(dir, ec);
  if (!fs::exists(ds))
    throw io_error("cannot write '" + path + "': directory '" + dir.string() + "' does not exist");
  if (!fs::is_directory(ds))
    throw io_error("cannot write '" + path + "': '" + dir.string() + "' is not a directory");
  return {target, false, -1};
}

// Lets `write` fill `fd`, then flushes it; on any error closes fd, removes `temp` (if any) and
// passes the error on.
void fill(int fd, const std::string& path, const std::string& temp,
          const std::function<void(int fd)>& write) {
  try {
    write(fd);
    if (!temp.empty() && ::fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
      throw io_error("cannot write '" + path + "': " + os_reason(errno));
  } catch (...) {
    ::close(fd);
    if (!temp.empty()) ::unlink(temp.c_str());
    throw;
  }
}

// Copies the staged bytes (from the start of `from`) to `to`.
void copy_all(int from, int to, const std::string& path) {
  if (::lseek(from, 0, SEEK_SET) != 0) throw io_error("cannot write '" + path + "': " + os_reason(errno));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw io_error("cannot write '" + path + "': " + os_reason(errno));
    if (n == 0) return;
    detail::write_all(to, buf, static_cast<std::size_t>(n), path);
  }
}

}  // namespace

StagedFile Stager::stage(const std::string& path, const std::function<void(int fd)>& write) {
  const Target target = examine_target(path);
  StagedFile staged;
  staged.path_ = path;
  staged.target_ = target.path;
  staged.out_fd_ = target.fd;
  if (target.direct) {
    // In memory until commit: staging a device or stdout must not write to it yet.
    const int fd = ::memfd_create("convgrad-staged", MFD_CLOEXEC);
    if (fd < 0) throw io_error("cannot write '" + path + "': " + os_reason(errno));
    fill(fd, path, "", write);
    staged.staged_fd_ = fd;
    staged.pending_ = true;
    return staged;
  }
  remove_stale_temporaries(target.path);
  int fd = -1;
  for (unsigned attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    staged.temp_ = temporary_name(target.path, attempt);
    staged.slot_ = remember_temporary(staged.temp_);
    // 0666 less the umask: the permissions a plain open() of the target would give.
    fd = ::open(staged.temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) break;
    const int err = errno;
    forget_temporary(std::exchange(staged.slot_, -1));
    staged.temp_.clear();
    if (err != EEXIST)
      throw io_error("cannot write '" + path + "': " + os_reason(err) + " (directory '" +
                     directory_of(target.path).string() + "')");
  }
  if (fd < 0) throw io_error("cannot write '" + path + "': no free temporary file name beside it");
  fill(fd, path, staged.temp_, write);
  if (::close(fd) != 0) {  // delayed write errors (a full disk, NFS) surface here
    throw io_error("cannot write '" + path + "': " + os_reason(errno));  // ~StagedFile unlinks
  }
  staged.pending_ = true;
  return staged;
}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : path_(std::move(other.path_)),
      target_(std::move(other.target_)),
      temp_(std::exchange(other.temp_, std::string())),
      slot_(std::exchange(other.slot_, -1)),
      staged_fd_(std::exchange(other.staged_fd_, -1)),
      out_fd_(other.out_fd_),
      pending_(std::exchange(other.pending_, false)) {}

StagedFile& StagedFile::operator=(StagedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    target_ = std::move(other.target_);
    temp_ = std::exchange(other.temp_, std::string());
    slot_ = std::exchange(other.slot_, -1);
    staged_fd_ = std::exchange(other.staged_fd_, -1);
    out_fd_ = other.out_fd_;
    pending_ = std::exchange(other.pending_, false);
  }
  return *this;
}

StagedFile::~StagedFile() { release(); }

void StagedFile::release() noexcept {
  if (!temp_.empty()) ::unlink(temp_.c_str());
  forget_temporary(std::exchange(slot_, -1));
  temp_.clear();
  if (staged_fd_ >= 0) ::close(std::exchange(staged_fd_, -1));
  pending_ = false;
}

void StagedFile::commit() {
  if (!pending_) throw io_error("cannot write '" + path_ + "': already committed");
  if (staged_fd_ >= 0) {  // a direct target: copy the staged bytes there now
    try {
      if (out_fd_ == STDOUT_FILENO) std::fflush(stdout);  // keep the order of printed lines
      const int to = out_fd_ >= 0 ? out_fd_ : ::open(target_.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
      if (to < 0) throw io_error("cannot write '" + path_ + "': " + os_reason(errno));
      try {
        copy_all(staged_fd_, to, path_);
      } catch (...) {
        if (out_fd_ < 0) ::close(to);
        throw;
      }
      if (out_fd_ < 0 && ::close(to) != 0)
        throw io_error("cannot write '" + path_ + "': " + os_reason(errno));
    } catch (...) {
      release();
      throw;
    }
    release();
    return;
  }
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    release();
    throw io_error("cannot write '" + path_ + "': " + os_reason(err));
  }
  temp_.clear();  // renamed: nothing left to remove
  release();
}

void remove_temporaries_on_signals() {
  for (const int signo : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) {
    struct sigaction old {};
    if (::sigaction(signo, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = remove_temporaries_and_reraise;
    sigemptyset(&sa.sa_mask);
    ::sigaction(signo, &sa, nullptr);
  }
}

StagedFile stage_file(const std::string& path, const std::string& contents) {
  return Stager::stage(path, [&](int fd) { detail::write_all(fd, contents.data(), contents.size(), path); });
}

std::string array_formats() { return ".npy, .mat, .json, .csv, .txt"; }

bool is_stream_target(const std::string& path) {
  if (path == "-") return true;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

void require_array_format(const std::string& path) {
  const std::string ext = detail::extension(path);
  if (ext.empty() || is_stream_target(path) || ext == ".npy" || ext == ".mat" || ext == ".json" ||
      ext == ".csv" || ext == ".txt")
    return;
  throw invalid_argument(path + ": '" + detail::quote_token(ext) +
                         "' is not a format values are written in; " + "give one of " + array_formats() +
                         " (text)");
}

StagedFile stage_array(const std::string& path, std::span<const double> values, const std::string& mat_name) {
  require_array_format(path);
  const std::string ext = is_stream_target(path) ? "" : detail::extension(path);
  if (ext == ".mat")
    return Stager::stage(path, [&](int fd) { detail::write_mat_vectors(fd, path, {{mat_name, values}}); });
  const std::string bytes = ext == ".npy"    ? detail::encode_npy(values)
                            : ext == ".json" ? detail::encode_json(values)
                                             : detail::encode_text(values);
  return stage_file(path, bytes);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  stage_file(path, contents).commit();
}

void write_array(const std::string& path, std::span<const double> values, const std::string& mat_name) {
  stage_array(path, values, mat_name).commit();
}

namespace detail {

void write_all(int fd, const char* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error("cannot write '" + path + "': " + os_reason(errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace detail
}  // namespace convgrad::io
