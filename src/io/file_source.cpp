// Signals read a window at a time (convgrad/file_source.hpp): .npy by byte offset, text through
// an index of value offsets; sound files in wav.cpp (open_sound_reader).
#include "convgrad/file_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "convgrad/errors.hpp"
#include "core/simd.hpp"
#include "io_detail.hpp"

namespace convgrad::io {

namespace {

// The part of the window [first, first + out.size()) inside [0, N) (lo, hi), its values zero
// around it.
template <class V>
std::pair<std::int64_t, std::int64_t> zero_outside(std::uint64_t N, std::int64_t first, std::span<V> out) {
  const auto n = static_cast<std::int64_t>(N), L = static_cast<std::int64_t>(out.size());
  const std::int64_t lo = std::clamp<std::int64_t>(first, 0, n),
                     hi = std::clamp<std::int64_t>(first + L, 0, n);
  // [lo, hi) is out[a, b): zeros before and after it.
  const std::int64_t a = std::clamp<std::int64_t>(lo - first, 0, L),
                     b = std::clamp<std::int64_t>(hi - first, a, L);
  std::fill(out.begin(), out.begin() + a, V{0});
  std::fill(out.begin() + b, out.end(), V{0});
  return {lo, hi};
}

}  // namespace

void SignalReader::read(std::int64_t first, std::span<double> out) {
  const auto [lo, hi] = zero_outside(n_, first, out);
  if (lo >= hi) return;
  read_inside(static_cast<std::uint64_t>(lo),
              out.subspan(static_cast<std::size_t>(lo - first), static_cast<std::size_t>(hi - lo)));
}

bool SignalReader::read_float32(std::int64_t first, std::span<float> out) {
  if (!stores_float32()) return false;
  const auto [lo, hi] = zero_outside(n_, first, out);
  if (lo < hi)
    read_inside_float32(static_cast<std::uint64_t>(lo),
                        out.subspan(static_cast<std::size_t>(lo - first), static_cast<std::size_t>(hi - lo)));
  return true;
}

namespace detail {

namespace {
template <std::floating_point V>
void require_finite_window_of(std::span<const V> v, std::uint64_t first, const std::string& path) {
  if (convgrad::detail::simd::all_finite(v.data(), v.size())) return;  // the common case, scanned with SIMD
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw io_error(path + ": sample " + std::to_string(first + i) + " (0-based) is " +
                     (std::isnan(v[i]) ? "NaN" : "infinite") + "; signals must be finite");
}
}  // namespace

void require_finite_window(std::span<const double> v, std::uint64_t first, const std::string& path) {
  require_finite_window_of(v, first, path);
}
void require_finite_window(std::span<const float> v, std::uint64_t first, const std::string& path) {
  require_finite_window_of(v, first, path);
}

}  // namespace detail

namespace {

// An open descriptor, closed with its owner. Readers open their file for each window and
// close it after: a fit of a thousand pairs must not hold two thousand descriptors (the usual
// limit is 1024), and an open costs microseconds against a window's megabytes.
class Fd {
 public:
  explicit Fd(const std::string& path) {
    detail::require_readable_file(path);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw io_error(path + ": cannot open: " + std::strerror(errno));
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

  std::uint64_t size(const std::string& path) const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw io_error(path + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode))
      throw io_error(path + ": not a regular file (a pipe or device cannot be read a window at a time)");
    return static_cast<std::uint64_t>(st.st_size);
  }

  // Up to `size` bytes from `offset`: fewer only at the end of the file.
  std::size_t pread_all(void* into, std::size_t size, std::uint64_t offset, const std::string& path) const {
    auto* p = static_cast<char*>(into);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pread(fd_, p + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw io_error(path + ": read failed: " + std::strerror(errno));
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

 private:
  int fd_ = -1;
};

// ---- .npy ----------------------------------------------------------------------------------

// A header longer than this is no signal's (NumPy writes 128 bytes, or a few more for long shapes).
constexpr std::size_t kMaxNpyHead = std::size_t{1} << 20;

class NpyReader final : public SignalReader {
 public:
  explicit NpyReader(const std::string& path) : SignalReader(path) {
    const Fd fd(path);
    file_bytes_ = fd.size(path);
    std::string head(static_cast<std::size_t>(std::min<std::uint64_t>(file_bytes_, kMaxNpyHead)), '\0');
    head.resize(fd.pread_all(head.data(), head.size(), 0, path));
    bytes_read_ = head.size();
    layout_ = detail::npy_layout(head, file_bytes_, path);
    n_ = layout_.n;
    format_ = layout_.width == 4 ? "npy-float32" : "npy-float64";
  }

 private:
  // The raw bytes go into the back of `out` itself (no buffer: several threads may read at
  // once) and are decoded front to back: value i's 8 bytes are written only after value i's
  // bytes are read, and never over the bytes of a value j > i (8 i + 8 <= S + w (i + 1) for
  // S = 8 n - w n, the start of the raw bytes, since i < n).
  void read_inside(std::uint64_t first, std::span<double> out) override {
    const std::size_t size = out.size() * layout_.width;
    auto* raw = reinterpret_cast<unsigned char*>(out.data()) + (out.size() * sizeof(double) - size);
    const std::size_t got = Fd(path_).pread_all(raw, size, layout_.data_at + first * layout_.width, path_);
    bytes_read_ += got;
    if (got != size) throw_truncated(first + got / layout_.width);
    detail::decode_npy(raw, layout_.width, out);
    detail::require_finite_window(out, first, path_);
  }

  // A float32 file on a little-endian host holds the floats as they are in memory: read into
  // `out` as they are, with no pass through double (which gives the same floats: widening is
  // exact and rounding back restores them).
  bool stores_float32() const override {
    return layout_.width == 4 && std::endian::native == std::endian::little;
  }
  void read_inside_float32(std::uint64_t first, std::span<float> out) override {
    const std::size_t size = out.size() * sizeof(float);
    const std::size_t got = Fd(path_).pread_all(out.data(), size, layout_.data_at + first * 4, path_);
    bytes_read_ += got;
    if (got != size) throw_truncated(first + got / 4);
    detail::require_finite_window(std::span<const float>(out), first, path_);
  }

  [[noreturn]] void throw_truncated(std::uint64_t at) const {
    throw io_error(path_ + ": truncated: the file ended at sample " + std::to_string(at) + " of " +
                   std::to_string(n_) + " (was it cut short while being read?)");
  }

  detail::NpyLayout layout_;
};

// ---- text ----------------------------------------------------------------------------------

// The bytes of a file from an offset, a block at a time.
class ByteCursor {
 public:
  ByteCursor(const Fd& fd, const std::string& path, std::uint64_t at) : fd_(fd), path_(path), at_(at) {}
  // The next byte, or -1 at the end of the file.
  int next() {
    if (i_ == block_.size()) {
      block_.resize(kBlock);
      block_.resize(fd_.pread_all(block_.data(), kBlock, at_, path_));
      at_ += block_.size();
      read_ += block_.size();
      i_ = 0;
      if (block_.empty()) return -1;
    }
    return static_cast<unsigned char>(block_[i_++]);
  }
  std::uint64_t bytes_read() const { return read_; }

 private:
  static constexpr std::size_t kBlock = std::size_t{1} << 16;
  const Fd& fd_;
  const std::string& path_;
  std::uint64_t at_, read_ = 0;
  std::vector<char> block_;
  std::size_t i_ = 0;
};

// A text file checked once when opened (every error, with its line, then), keeping where every
// kTextStride-th value starts, so that a window starts reading near its first value.
class IndexedTextReader : public SignalReader {
 protected:
  explicit IndexedTextReader(const std::string& path) : SignalReader(path) {
    file_bytes_ = Fd(path).size(path);
    format_ = "text";
  }
  // For the scan: value i starts (or its row's line starts) at byte `offset`.
  void index(std::uint64_t i, std::uint64_t offset) {
    if (i % kTextStride == 0) starts_.push_back(offset);
  }
  // Where to start reading for value `first`, and the index of the value found there.
  std::uint64_t start_for(std::uint64_t first) const { return starts_[first / kTextStride]; }
  static std::uint64_t value_at_start(std::uint64_t first) { return first / kTextStride * kTextStride; }
  [[noreturn]] void truncated(std::uint64_t sample) const {
    throw io_error(path_ + ": truncated: the file ended before sample " + std::to_string(sample) +
                   " (was it changed while being read?)");
  }

 private:
  std::vector<std::uint64_t> starts_;
};

class TextReader final : public IndexedTextReader {
 public:
  explicit TextReader(const std::string& path) : IndexedTextReader(path) {
    n_ = detail::scan_text(path, [&](double, std::uint64_t i, std::uint64_t offset) { index(i, offset); });
    bytes_read_ = file_bytes_;
  }

 private:
  // The file was checked when it was opened: between two values there are only separators
  // (blanks, commas, line ends) and comments, and every token is a finite number.
  void read_inside(std::uint64_t first, std::span<double> out) override {
    const Fd fd(path_);
    ByteCursor in(fd, path_, start_for(first));
    std::uint64_t skip = first - value_at_start(first);
    std::string token;
    int c = in.next();
    for (std::size_t k = 0; k < out.size();) {
      while (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n' || c == ',' ||
             c == '#') {
        if (c == '#')
          while (c != '\n' && c != -1) c = in.next();
        c = in.next();
      }
      if (c == -1) truncated(first + k);
      token.clear();
      while (c != -1 && c != ' ' && c != '\t' && c != '\r' && c != '\v' && c != '\f' && c != '\n' &&
             c != ',' && c != '#') {
        token += static_cast<char>(c);
        c = in.next();
      }
      if (skip > 0) {
        --skip;
        continue;
      }
      out[k++] = detail::parse_text_number(token, path_, 0);
    }
    bytes_read_ += in.bytes_read();
  }
};

// One column of a text table (a CSV with a header line, say), checked with read_text's table
// rules when opened; the index keeps where every kTextStride-th row's line starts, and a window
// reads lines from there, taking the column's value of each.
class TableColumnReader final : public IndexedTextReader {
 public:
  TableColumnReader(const std::string& path, const Column& column) : IndexedTextReader(path) {
    const detail::TableColumn t = detail::scan_table_column(
        path, column, [&](double, std::uint64_t i, std::uint64_t offset) { index(i, offset); });
    n_ = t.rows;
    column_ = t.column;
    bytes_read_ = file_bytes_;
  }

 private:
  void read_inside(std::uint64_t first, std::span<double> out) override {
    const Fd fd(path_);
    ByteCursor in(fd, path_, start_for(first));
    std::uint64_t row = value_at_start(first);
    std::string line;
    for (std::size_t k = 0; k < out.size();) {
      line.clear();
      int c = in.next();
      if (c == -1) truncated(first + k);
      for (; c != -1 && c != '\n'; c = in.next()) line += static_cast<char>(c);
      const std::optional<double> v = detail::table_row_value(line, column_, row, path_);
      if (!v) continue;  // a blank or comment line
      if (row++ >= first) out[k++] = *v;
    }
    bytes_read_ += in.bytes_read();
  }

  std::size_t column_ = 0;
};

// ---- a pipe --------------------------------------------------------------------------------

// A pipe or a device (--x <(...), /dev/stdin, "-") cannot be read twice, nor at an offset: it
// is read whole, as read_signal reads it, and windows are served from memory. So is a text file
// of one line that the table reader passes back (see scan_table_column).
class WholeReader final : public SignalReader {
 public:
  WholeReader(const std::string& path, std::optional<int> channel, const Column& column)
      : WholeReader(path, read_signal(path, channel, column)) {}
  WholeReader(const std::string& path, Signal s) : SignalReader(display_name(path)) {
    samples_ = std::move(s.samples);
    n_ = samples_.size();
    rate_ = s.sample_rate;
    format_ = s.format;
    file_bytes_ = bytes_read_ = n_ * sizeof(double);
  }

 private:
  void read_inside(std::uint64_t first, std::span<double> out) override {
    std::copy_n(samples_.begin() + static_cast<std::ptrdiff_t>(first), out.size(), out.begin());
  }
  std::vector<double> samples_;
};

// A FIFO, a character device or a socket: what exists, is no directory and has no offsets.
bool is_pipe_or_device(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

// A column of a text table, streamed; what turns out to be no table (one line), or a header with
// no rows, is read whole as read_signal reads it (which reads it, or refuses it).
std::unique_ptr<SignalReader> open_table_column(const std::string& path, std::optional<int> channel,
                                                const Column& column) {
  if (!channel || *channel == 0) {
    try {
      return std::make_unique<TableColumnReader>(path, column);
    } catch (const detail::maybe_table&) {
    }
  }
  return std::make_unique<WholeReader>(path, channel, column);
}

}  // namespace

std::unique_ptr<SignalReader> open_signal_reader(const std::string& path, std::optional<int> channel,
                                                 const Column& column) {
  // A column asked of this very file is a table's; read_signal refuses it for the formats that
  // hold one signal (.npy, sound files).
  const bool own_column = !column.spec.empty() && !column.tables_only;
  // .mat (libmatio) and .json are read whole, as read_signal reads them.
  const std::string ext = detail::extension(path);
  if (is_standard_input(path) || is_pipe_or_device(path) || ext == ".mat" || ext == ".json")
    return std::make_unique<WholeReader>(path, channel, column);
  if (own_column && !is_sound_file(path) && ext != ".npy") return open_table_column(path, channel, column);
  if (own_column) return std::make_unique<WholeReader>(path, channel, column);
  if (is_sound_file(path)) return detail::open_sound_reader(path, channel);
  if (channel && *channel != 0)
    throw io_error(path + ": channel " + std::to_string(*channel) +
                   " asked for, but the file holds a single signal (channel 0)");
  if (ext == ".npy") return std::make_unique<NpyReader>(path);
  try {
    return std::make_unique<TextReader>(path);
  } catch (const detail::maybe_table&) {
    // Not a plain signal to the line scanner: a table (a header line, several columns).
    return open_table_column(path, channel, column);
  }
}

std::unique_ptr<SignalReader> signal_reader_of(const std::string& path, Signal signal) {
  return std::make_unique<WholeReader>(path, std::move(signal));
}

// ---- pairs ---------------------------------------------------------------------------------

namespace {

// Opens x[p] then y[p], pair by pair, after checking there are as many of each.
std::pair<std::vector<std::unique_ptr<SignalReader>>, std::vector<std::unique_ptr<SignalReader>>> open_pairs(
    const std::vector<std::string>& x_paths, const std::vector<std::string>& y_paths,
    std::optional<int> channel) {
  if (x_paths.size() != y_paths.size())
    throw invalid_argument("FilePairs: " + std::to_string(x_paths.size()) + " x files but " +
                           std::to_string(y_paths.size()) + " y files");
  std::pair<std::vector<std::unique_ptr<SignalReader>>, std::vector<std::unique_ptr<SignalReader>>> r;
  const auto open = [&](const std::string& path) {
    return open_signal_reader(path, is_sound_file(path) ? channel : std::nullopt);
  };
  for (std::size_t p = 0; p < x_paths.size(); ++p) {
    r.first.push_back(open(x_paths[p]));
    r.second.push_back(open(y_paths[p]));
  }
  return r;
}

}  // namespace

FilePairs::FilePairs(const std::vector<std::string>& x_paths, const std::vector<std::string>& y_paths,
                     std::optional<int> channel)
    : FilePairs(open_pairs(x_paths, y_paths, channel)) {}

FilePairs::FilePairs(
    std::pair<std::vector<std::unique_ptr<SignalReader>>, std::vector<std::unique_ptr<SignalReader>>> xy)
    : FilePairs(std::move(xy.first), std::move(xy.second)) {}

FilePairs::FilePairs(std::vector<std::unique_ptr<SignalReader>> x,
                     std::vector<std::unique_ptr<SignalReader>> y)
    : x_(std::move(x)), y_(std::move(y)) {
  if (x_.size() != y_.size())
    throw invalid_argument("FilePairs: " + std::to_string(x_.size()) + " x files but " +
                           std::to_string(y_.size()) + " y files");
  for (std::size_t p = 0; p < x_.size(); ++p)
    if (x_[p]->length() != y_[p]->length())
      throw io_error("y (" + y_[p]->path() + ") has " + std::to_string(y_[p]->length()) + " samples but x (" +
                     x_[p]->path() + ") has " + std::to_string(x_[p]->length()) +
                     "; each pair must have the same length");
}

std::uint64_t FilePairs::bytes_read() const {
  std::uint64_t sum = 0;
  for (std::size_t p = 0; p < pairs(); ++p) sum += x_[p]->bytes_read() + y_[p]->bytes_read();
  return sum;
}

std::uint64_t FilePairs::file_bytes() const {
  std::uint64_t sum = 0;
  for (std::size_t p = 0; p < pairs(); ++p) sum += x_[p]->file_bytes() + y_[p]->file_bytes();
  return sum;
}

// ---- the source of a streamed fit ------------------------------------------------------------

template <std::floating_point T>
void FileSource<T>::read(SignalReader& file, std::int64_t first, std::span<T> out) {
  if constexpr (std::is_same_v<T, double>) {
    file.read(first, out);
  } else if (!file.read_float32(first, out)) {
    thread_local std::vector<double> wide;  // one window in double, per reading thread
    wide.resize(out.size());
    file.read(first, wide);
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<T>(wide[i]);
      if (!std::isfinite(out[i]))
        throw invalid_argument(file.path() + ": sample " +
                               std::to_string(first + static_cast<std::int64_t>(i)) + " = " +
                               std::to_string(wide[i]) + " is beyond the float32 range" + advice_);
    }
  }
  if (on_read) on_read();
}

template class FileSource<float>;
template class FileSource<double>;

// ---- writing a block at a time -----------------------------------------------------------------

namespace {

// Encodes each block as write_array would and writes it to the staged file at once.
// Gathers the values of a format written whole (.mat, .json).
class GatheringSink final : public ArraySink {
 public:
  GatheringSink(const std::string& path, std::uint64_t n) : path_(path), n_(n) {}
  void write(std::span<const double> v) override {
    if (values.size() + v.size() > n_)
      throw invalid_argument("stage_array_stream: more than the " + std::to_string(n_) +
                             " values announced for '" + path_ + "'");
    values.insert(values.end(), v.begin(), v.end());
  }
  std::vector<double> values;

 private:
  const std::string& path_;
  std::uint64_t n_;
};

class FileArraySink final : public ArraySink {
 public:
  FileArraySink(int fd, const std::string& path, std::uint64_t n, bool npy)
      : fd_(fd), path_(path), n_(n), npy_(npy) {}
  void write(std::span<const double> values) override {
    if (written_ + values.size() > n_)
      throw invalid_argument("stage_array_stream: more than the " + std::to_string(n_) +
                             " values announced for '" + path_ + "'");
    bytes_.clear();
    if (npy_)
      detail::append_npy_values(bytes_, values);
    else
      bytes_ = detail::encode_text(values);
    detail::write_all(fd_, bytes_.data(), bytes_.size(), path_);
    written_ += values.size();
  }
  std::uint64_t written() const { return written_; }

 private:
  int fd_;
  const std::string& path_;
  std::uint64_t n_, written_ = 0;
  bool npy_;
  std::string bytes_;
};

}  // namespace

StagedFile stage_array_stream(const std::string& path, std::uint64_t n,
                              const std::function<void(ArraySink&)>& produce, const std::string& mat_name) {
  require_array_format(path);
  const std::string ext = is_stream_target(path) ? "" : detail::extension(path);
  const auto check_count = [&](std::uint64_t written) {
    if (written != n)
      throw invalid_argument("stage_array_stream: " + std::to_string(written) + " values written to '" +
                             path + "', " + std::to_string(n) + " announced");
  };
  if (ext == ".mat" || ext == ".json") {
    GatheringSink sink(path, n);
    produce(sink);
    check_count(sink.values.size());
    return stage_array(path, sink.values, mat_name);
  }
  const bool npy = ext == ".npy";
  return Stager::stage(path, [&](int fd) {
    if (npy) {
      const std::string header = detail::npy_header(n);
      detail::write_all(fd, header.data(), header.size(), path);
    }
    FileArraySink sink(fd, path, n, npy);
    produce(sink);
    check_count(sink.written());
  });
}

}  // namespace convgrad::io
