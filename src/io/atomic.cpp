// Atomic writing: a complete temporary file beside the target, then rename(2), which
// replaces the target in one step. A crash or error at any point leaves either the old file
// or the new one, never half of one, and never a stray temporary (removed on every error path).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
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

// Refuses targets that cannot be written, with a reason a person can act on.
void require_writable_target(const std::string& path) {
  if (path.empty()) throw io_error("cannot write a file with an empty name");
  std::error_code ec;
  const fs::path dir = directory_of(path);
  const fs::file_status ds = fs::status(dir, ec);
  if (!fs::exists(ds))
    throw io_error("cannot write '" + path + "': directory '" + dir.string() + "' does not exist");
  if (!fs::is_directory(ds))
    throw io_error("cannot write '" + path + "': '" + dir.string() + "' is not a directory");
  if (fs::is_directory(fs::status(path, ec)))
    throw io_error("cannot write '" + path + "': it is a directory");
  if (fs::path(path).filename().empty())
    throw io_error("cannot write '" + path + "': the name ends in a directory separator");
}

// A name that no other writer (thread or process) uses at the same time.
std::string temporary_name(const std::string& path, unsigned attempt) {
  static std::atomic<unsigned long> counter{0};
  const fs::path p(path);
  std::string name = ".";  // hidden, and built by appending (GCC 12 misreports "." + s)
  name += p.filename().string();
  name += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)) + "." +
          std::to_string(attempt);
  return (directory_of(path) / name).string();
}

}  // namespace

StagedFile Stager::stage(const std::string& path, const std::function<void(int fd)>& write) {
  require_writable_target(path);
  std::string temp;
  int fd = -1;
  for (unsigned attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = temporary_name(path, attempt);
    // 0666 less the umask: the permissions a plain open() of the target would give.
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST)
      throw io_error("cannot write '" + path + "': " + os_reason(errno) + " (directory '" +
                     directory_of(path).string() + "')");
  }
  if (fd < 0) throw io_error("cannot write '" + path + "': no free temporary file name beside it");
  try {
    write(fd);
    if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
      throw io_error("cannot write '" + path + "': " + os_reason(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  if (::close(fd) != 0) {  // delayed write errors (a full disk, NFS) surface here
    const int err = errno;
    ::unlink(temp.c_str());
    throw io_error("cannot write '" + path + "': " + os_reason(err));
  }
  return StagedFile(path, temp);
}

StagedFile::StagedFile(StagedFile&& other) noexcept
    : path_(std::move(other.path_)), temp_(std::exchange(other.temp_, std::string())) {}

StagedFile& StagedFile::operator=(StagedFile&& other) noexcept {
  if (this != &other) {
    if (!temp_.empty()) ::unlink(temp_.c_str());
    path_ = std::move(other.path_);
    temp_ = std::exchange(other.temp_, std::string());
  }
  return *this;
}

StagedFile::~StagedFile() {
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

void StagedFile::commit() {
  if (temp_.empty()) throw io_error("cannot write '" + path_ + "': already committed");
  if (std::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp_.c_str());
    temp_.clear();
    throw io_error("cannot write '" + path_ + "': " + os_reason(err));
  }
  temp_.clear();
}

StagedFile stage_file(const std::string& path, const std::string& contents) {
  return Stager::stage(path, [&](int fd) { detail::write_all(fd, contents.data(), contents.size(), path); });
}

StagedFile stage_array(const std::string& path, std::span<const double> values) {
  const std::string bytes =
      detail::extension(path) == ".npy" ? detail::encode_npy(values) : detail::encode_text(values);
  return stage_file(path, bytes);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  stage_file(path, contents).commit();
}

void write_array(const std::string& path, std::span<const double> values) {
  stage_array(path, values).commit();
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
