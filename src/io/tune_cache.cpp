// The tuning cache file (tune.hpp): the TuneStore that keeps the measured choices of
// Method::automatic (method.hpp) between processes, as JSON (docs/tune.md).
//
// Several processes may tune at once. Each write reads the file, merges its records and
// renames a new file into place, all under an exclusive flock on `<cache>.lock` beside the
// cache (not on the cache itself: the rename replaces that inode, so a lock on it would not
// exclude a writer that opened the new one). Readers need no lock: a rename is atomic, so a
// reader sees the old file or the new one.
//
// The cache is only ever a regular file: a path naming anything else (a device such as
// /dev/null, a FIFO, a directory) is refused with a warning and never replaced.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/io.hpp"
#include "convgrad/tune.hpp"
#include "io_detail.hpp"

namespace convgrad {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

constexpr int kCacheVersion = 1;

// ---- records as JSON -------------------------------------------------------------------------

json seconds_json(const std::optional<double>& s) { return s ? json(*s) : json(nullptr); }

json record_json(const TuneRecord& r) {
  return {{"dtype", r.dtype},
          {"n", r.n},
          {"lo", r.taps.lo},
          {"hi", r.taps.hi},
          {"threads", r.threads},
          {"target", r.target},
          {"hardware_threads", r.hardware_threads},
          {"choice", std::string(to_string(r.choice))},
          {"model_choice", std::string(to_string(r.model_choice))},
          {"direct_s", seconds_json(r.direct_s)},
          {"fft_s", seconds_json(r.fft_s)},
          {"source", r.source}};
}

std::uint64_t count_field(const json& j, const char* name) {
  const json& v = j.at(name);
  if (!v.is_number_unsigned()) throw invalid_argument(std::string(name) + " is not a count");
  return v.get<std::uint64_t>();
}

std::optional<double> seconds_field(const json& j, const char* name) {
  const json& v = j.at(name);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number() || !(v.get<double>() >= 0))
    throw invalid_argument(std::string(name) + " is not seconds");
  return v.get<double>();
}

Method method_field(const json& j, const char* name) {
  const Method m = parse_method(j.at(name).get<std::string>());
  if (m != Method::direct && m != Method::fft)
    throw invalid_argument(std::string(name) + " is not direct or fft");
  return m;
}

// One record of the file; throws (json or invalid_argument) if it is malformed.
TuneRecord from_json(const json& j) {
  TuneRecord r;
  r.dtype = j.at("dtype").get<std::string>();
  if (r.dtype != "float32" && r.dtype != "float64")
    throw invalid_argument("dtype '" + detail::quote_token(r.dtype) + "'");
  r.n = count_field(j, "n");
  r.taps = Taps::range(j.at("lo").get<std::int64_t>(), j.at("hi").get<std::int64_t>());
  r.threads = static_cast<int>(std::min<std::uint64_t>(count_field(j, "threads"), 1 << 20));
  r.target = j.at("target").get<std::string>();
  r.hardware_threads =
      static_cast<unsigned>(std::min<std::uint64_t>(count_field(j, "hardware_threads"), 1 << 20));
  r.choice = method_field(j, "choice");
  r.model_choice = method_field(j, "model_choice");
  r.direct_s = seconds_field(j, "direct_s");
  r.fft_s = seconds_field(j, "fft_s");
  r.source = j.at("source").get<std::string>();
  return r;
}

// ---- the file --------------------------------------------------------------------------------

// Why `file` cannot be the cache: it exists (through any symbolic links) and is not a regular
// file. Empty when it can.
std::string not_a_cache_file(const fs::path& file) {
  std::error_code ec;
  const fs::file_status st = fs::status(file, ec);
  if (!fs::exists(st) || fs::is_regular_file(st)) return {};
  return fs::is_directory(st) ? "it is a directory" : "it is not a regular file";
}

// The records in `file`: none if it does not exist yet; none, with `warning` set, if it cannot
// be read or is not a version-1 cache (it is then replaced on the next write).
std::vector<TuneRecord> read_cache(const fs::path& file, std::string& warning) {
  std::error_code ec;
  if (file.empty() || !fs::exists(file, ec)) return {};
  const auto ignored = [&](const std::string& why, const char* then) {
    warning = "tune cache " + file.string() + " ignored (" + detail::quote_token(why, 400) + "); " + then;
    return std::vector<TuneRecord>{};
  };
  const char* replaced = "it is replaced on the next write";
  if (const std::string why = not_a_cache_file(file); !why.empty())
    return ignored(why, "the choices are kept in memory only");
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  if (!(in && text << in.rdbuf())) return ignored("unreadable", replaced);
  try {
    const json doc = json::parse(text.str());
    if (!doc.is_object() || !doc.contains("version"))
      return ignored("not a convgrad tune cache: no version", replaced);
    if (doc.at("version") != kCacheVersion)
      return ignored("version " + doc.at("version").dump() + ", this convgrad reads version " +
                         std::to_string(kCacheVersion),
                     replaced);
    std::vector<TuneRecord> records;
    for (const json& r : doc.at("records")) records.push_back(from_json(r));
    return records;
  } catch (const std::exception& e) {
    return ignored(e.what(), replaced);
  }
}

// An exclusive flock on `<file>.lock`, held for one read-merge-write, released by the
// destructor (closing the descriptor releases it; so does the process ending).
class CacheLock {
 public:
  explicit CacheLock(const fs::path& file) {
    const std::string name = file.string() + ".lock";
    fd_ = ::open(name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw io_error("cannot open the lock file " + name + ": " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0)
      if (errno != EINTR) {
        const int err = errno;
        ::close(fd_);
        throw io_error("cannot lock " + name + ": " + std::strerror(err));
      }
  }
  ~CacheLock() { ::close(fd_); }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;

 private:
  int fd_ = -1;
};

// Writes `records` over what the file holds now (another process may have added some since it
// was read), atomically and under the cache's lock; on failure sets `warning` and returns false.
bool write_cache(const fs::path& file, const std::vector<TuneRecord>& records, std::string& warning) {
  const auto not_written = [&](const std::string& why) {
    warning =
        "tune cache " + file.string() + " not written (" + why + "); the choices are kept in memory only";
    return false;
  };
  if (const std::string why = not_a_cache_file(file); !why.empty()) return not_written(why);
  try {
    if (file.has_parent_path()) fs::create_directories(file.parent_path());
    const CacheLock lock(file);
    std::string ignored;  // a corrupt file is replaced: its warning was given when it was read
    std::vector<TuneRecord> merged = read_cache(file, ignored);
    for (const TuneRecord& r : records) keep_record(merged, r);
    json list = json::array();
    for (const TuneRecord& r : merged) list.push_back(record_json(r));
    const json doc = {{"version", kCacheVersion}, {"records", std::move(list)}};
    io::write_file_atomic(file.string(), doc.dump(1) + "\n");
    return true;
  } catch (const std::exception& e) {  // filesystem_error, io_error
    return not_written(e.what());
  }
}

// ---- the store -------------------------------------------------------------------------------

// The cache file as the core's TuneStore: `chosen`, else default_tune_cache() as it is when
// the records are read.
class FileStore final : public TuneStore {
 public:
  explicit FileStore(fs::path chosen) : chosen_(std::move(chosen)) {}

  std::vector<TuneRecord> load(std::string& warning) override {
    std::lock_guard lock(mutex_);
    file_ = current();
    return read_cache(*file_, warning);
  }

  bool save(const std::vector<TuneRecord>& records, std::string& warning) override {
    std::lock_guard lock(mutex_);
    const fs::path file = file_ ? *file_ : current();
    if (file.empty()) {
      warning =
          "no tune cache location (CONVGRAD_TUNE_CACHE, XDG_CACHE_HOME and HOME are unset); "
          "the choices are kept in memory only";
      last_save_.clear();
      return false;
    }
    const bool saved = write_cache(file, records, warning);
    last_save_ = saved ? file : fs::path();
    return saved;
  }

  const fs::path& chosen() const { return chosen_; }
  // The file in use: the one last read, else the one that would be read now.
  fs::path file() const {
    std::lock_guard lock(mutex_);
    return file_ ? *file_ : current();
  }
  fs::path last_save() const {
    std::lock_guard lock(mutex_);
    return last_save_;
  }

 private:
  fs::path current() const { return chosen_.empty() ? default_tune_cache() : chosen_; }

  const fs::path chosen_;
  mutable std::mutex mutex_;
  std::optional<fs::path> file_;  // the file the records were last read from
  fs::path last_save_;
};

// The store the core uses, as this file knows it (the core holds it too).
struct Registered {
  std::mutex mutex;
  std::shared_ptr<FileStore> store;
};

Registered& registered() {
  static Registered r;
  return r;
}

std::shared_ptr<FileStore> current_store() {
  Registered& r = registered();
  std::lock_guard lock(r.mutex);
  return r.store;
}

// Installs a store for `chosen` unless the one in use already is for it. The core is called
// after this file's lock is released: the core calls into the store with its own lock held,
// so holding both here in the other order could deadlock.
void use_file(const fs::path& chosen) {
  std::shared_ptr<FileStore> fresh;
  {
    Registered& r = registered();
    std::lock_guard lock(r.mutex);
    if (r.store && r.store->chosen() == chosen) return;
    r.store = fresh = std::make_shared<FileStore>(chosen);
  }
  set_tune_store(fresh);
}

// The default cache file becomes the core's store when the library is loaded.
const bool registered_at_start = (use_file({}), true);

}  // namespace

// Referenced by the library's link options (src/CMakeLists.txt) so that a program linking the
// static library always keeps this file, and with it the registration above.
extern "C" const bool convgrad_tune_cache_anchor = registered_at_start;

void set_tuning(bool enabled, fs::path cache_file) {
  set_tuning_enabled(enabled);
  use_file(cache_file);
}

fs::path default_tune_cache() {
  const auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? v : "";
  };
  if (const std::string file = env("CONVGRAD_TUNE_CACHE"); !file.empty()) return file;
  if (const std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty())
    return fs::path(xdg) / "convgrad" / "tune.json";
  if (const std::string home = env("HOME"); !home.empty())
    return fs::path(home) / ".cache" / "convgrad" / "tune.json";
  return {};
}

fs::path tune_cache_file() {
  const std::shared_ptr<FileStore> store = current_store();
  return store ? store->file() : default_tune_cache();
}

fs::path last_tune_save() {
  const std::shared_ptr<FileStore> store = current_store();
  return store ? store->last_save() : fs::path();
}

std::string to_json(const TuneRecord& record) { return record_json(record).dump(); }

}  // namespace convgrad
