// Text and CSV signals: one value per line, or all values on one line separated by commas,
// spaces or tabs. '#' starts a comment. Every error names PATH:LINE and the offending token.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "convgrad/errors.hpp"
#include "io_detail.hpp"

namespace convgrad::io::detail {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string where(const std::string& path, std::size_t line) {
  return path + ":" + std::to_string(line) + ": ";
}

// One number, the whole token: from_chars (locale-free, exact rounding), plus a leading '+'
// and underflow to zero/subnormal, which from_chars reports as out of range.
double parse_number(std::string_view token, const std::string& path, std::size_t line) {
  std::string_view t = token;
  if (t.size() > 1 && t[0] == '+' && t[1] != '-' && t[1] != '+') t.remove_prefix(1);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec == std::errc::invalid_argument || ptr != t.data() + t.size())
    throw io_error(where(path, line) + "'" + quote_token(token) +
                   "' is not a number (a header line? start it with '#')");
  if (ec == std::errc::result_out_of_range) {
    const std::string s(t);
    v = std::strtod(s.c_str(), nullptr);  // +-HUGE_VAL on overflow, 0 or subnormal on underflow
    if (std::isinf(v))
      throw io_error(where(path, line) + "'" + quote_token(token) + "' is beyond the float64 range");
  }
  return v;
}

// The rules of a text signal applied one line at a time (see io.hpp): what is a value, what a
// separator, and that values on several lines each hold one.
class TextLines {
 public:
  TextLines(const std::string& path,
            const std::function<void(double, std::uint64_t, std::uint64_t)>& on_value)
      : path_(path), on_value_(on_value) {}

  // One line without its '\n', starting at byte `offset` of the file.
  void line(std::string_view line, std::uint64_t offset) {
    ++line_no_;
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);

    // Tokens are separated by a run of blanks, or by one comma with optional blanks around it.
    std::size_t count = 0, i = 0;
    bool comma_sep = false, blank_sep = false;
    while (i < line.size() && is_space(line[i])) ++i;
    if (i == line.size()) return;  // blank or comment-only line
    for (;;) {
      const std::size_t start = i;
      while (i < line.size() && line[i] != ',' && !is_space(line[i])) ++i;
      const std::string_view token = line.substr(start, i - start);
      if (token.empty())
        throw io_error(where(path_, line_no_) + "empty value " +
                       (start == 0 || count == 0 ? std::string("before the first comma")
                                                 : "after value " + std::to_string(count)));
      const double v = parse_number(token, path_, line_no_);
      if (!std::isfinite(v))
        throw io_error(where(path_, line_no_) + "'" + quote_token(token) + "' is not finite (sample index " +
                       std::to_string(values_) + ", 0-based); signals must be finite");
      on_value_(v, values_++, offset + start);
      ++count;
      // The separator: blanks, then at most one comma, then blanks.
      const std::size_t sep = i;
      while (i < line.size() && is_space(line[i])) ++i;
      bool comma = false;
      if (i < line.size() && line[i] == ',') {
        comma = true;
        ++i;
        while (i < line.size() && is_space(line[i])) ++i;
      }
      if (i == line.size()) {
        if (comma)
          throw io_error(where(path_, line_no_) + "trailing comma after value " + std::to_string(count) +
                         " (an empty value)");
        break;
      }
      if (i == sep) break;  // unreachable: a token ends at a separator
      (comma ? comma_sep : blank_sep) = true;
      if (comma_sep && blank_sep)
        throw io_error(where(path_, line_no_) +
                       "mixes commas and blanks as separators (decimal commas?); use one or the other");
    }
    ++value_lines_;
    if (count > 1 && first_multi_line_ == 0) {
      first_multi_line_ = line_no_;
      first_multi_count_ = count;
    }
    if (first_multi_line_ != 0 && value_lines_ > 1)
      throw io_error(where(path_, first_multi_line_) + std::to_string(first_multi_count_) +
                     " values on one line, but values are on several lines: a table, not a signal; "
                     "give one value per line or all values on one line");
  }

  std::uint64_t values() const { return values_; }

 private:
  const std::string& path_;
  const std::function<void(double, std::uint64_t, std::uint64_t)>& on_value_;
  std::size_t line_no_ = 0, value_lines_ = 0;
  std::size_t first_multi_line_ = 0, first_multi_count_ = 0;  // the first line holding several values
  std::uint64_t values_ = 0;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

double parse_text_number(std::string_view token, const std::string& path, std::size_t line) {
  return parse_number(token, path, line);
}

std::uint64_t scan_text(
    const std::string& path,
    const std::function<void(double v, std::uint64_t i, std::uint64_t offset)>& on_value) {
  require_readable_file(path);
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw io_error(path + ": cannot open: " + std::strerror(errno));
  TextLines lines(path, on_value);
  // `carry` holds the bytes from `carry_at` (a file offset) not yet split into whole lines.
  std::string carry;
  std::uint64_t carry_at = 0;
  bool start_checked = false;
  std::vector<char> block(std::size_t{1} << 20);
  for (;;) {
    const std::size_t got = std::fread(block.data(), 1, block.size(), f.get());
    if (got == 0 && std::ferror(f.get())) throw io_error(path + ": read failed: " + std::strerror(errno));
    const bool at_end = got == 0;
    carry.append(block.data(), got);
    if (!start_checked && (carry.size() >= 3 || at_end)) {
      start_checked = true;
      if (carry.starts_with("\xEF\xBB\xBF")) carry.erase(0, 3), carry_at = 3;  // a UTF-8 byte-order mark
      if (carry.starts_with("\xFF\xFE") || carry.starts_with("\xFE\xFF"))
        throw io_error(path + ": looks like UTF-16 text; save it as UTF-8 or ASCII");
    }
    if (!start_checked) continue;
    std::size_t from = 0;
    for (std::size_t eol; (eol = carry.find('\n', from)) != std::string::npos; from = eol + 1)
      lines.line(std::string_view(carry).substr(from, eol - from), carry_at + from);
    if (at_end) {
      if (from < carry.size()) lines.line(std::string_view(carry).substr(from), carry_at + from);
      break;
    }
    carry.erase(0, from);
    carry_at += from;
  }
  if (lines.values() == 0)
    throw io_error(path + ": no values (the file is empty or holds only comments and blank lines)");
  return lines.values();
}

Signal read_text(const std::string& path) {
  Signal s;
  s.format = "text";
  scan_text(path, [&](double v, std::uint64_t, std::uint64_t) { s.samples.push_back(v); });
  return s;
}

std::string encode_text(std::span<const double> values) {
  std::string out;
  out.reserve(values.size() * 24);
  char buf[40];
  for (const double v : values) {
    // %.17g: enough digits that reading the text back gives the same double.
    const int n = std::snprintf(buf, sizeof buf, "%.17g\n", v);
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace convgrad::io::detail
