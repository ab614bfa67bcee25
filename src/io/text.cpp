// Text and CSV signals: one value per line, or all values on one line separated by commas,
// spaces or tabs. '#' starts a comment. Every error names PATH:LINE and the offending token.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

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

}  // namespace

Signal read_text(const std::string& path) {
  std::string bytes = read_file(path);
  std::string_view text(bytes);
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 byte-order mark
  if (text.starts_with("\xFF\xFE") || text.starts_with("\xFE\xFF"))
    throw io_error(path + ": looks like UTF-16 text; save it as UTF-8 or ASCII");

  Signal s;
  s.format = "text";
  std::size_t line_no = 0, value_lines = 0;
  std::size_t first_multi_line = 0, first_multi_count = 0;  // the first line holding several values
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);

    // Tokens are separated by a run of blanks, or by one comma with optional blanks around it.
    std::size_t count = 0, i = 0;
    bool comma_sep = false, blank_sep = false;
    while (i < line.size() && is_space(line[i])) ++i;
    if (i == line.size()) continue;  // blank or comment-only line
    for (;;) {
      const std::size_t start = i;
      while (i < line.size() && line[i] != ',' && !is_space(line[i])) ++i;
      const std::string_view token = line.substr(start, i - start);
      if (token.empty())
        throw io_error(where(path, line_no) + "empty value " +
                       (start == 0 || count == 0 ? std::string("before the first comma")
                                                 : "after value " + std::to_string(count)));
      const double v = parse_number(token, path, line_no);
      if (!std::isfinite(v))
        throw io_error(where(path, line_no) + "'" + quote_token(token) + "' is not finite (sample index " +
                       std::to_string(s.samples.size()) + ", 0-based); signals must be finite");
      s.samples.push_back(v);
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
          throw io_error(where(path, line_no) + "trailing comma after value " + std::to_string(count) +
                         " (an empty value)");
        break;
      }
      if (i == sep) break;  // unreachable: a token ends at a separator
      (comma ? comma_sep : blank_sep) = true;
      if (comma_sep && blank_sep)
        throw io_error(where(path, line_no) +
                       "mixes commas and blanks as separators (decimal commas?); use one or the other");
    }
    ++value_lines;
    if (count > 1 && first_multi_line == 0) {
      first_multi_line = line_no;
      first_multi_count = count;
    }
    if (first_multi_line != 0 && value_lines > 1)
      throw io_error(where(path, first_multi_line) + std::to_string(first_multi_count) +
                     " values on one line, but values are on several lines: a table, not a signal; "
                     "give one value per line or all values on one line");
  }
  if (s.samples.empty())
    throw io_error(path + ": no values (the file is empty or holds only comments and blank lines)");
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

std::string encode_json(std::span<const double> values) {
  // The numbers as encode_text writes them (17 digits: read back, the same doubles).
  std::string out = "[";
  char buf[40];
  for (std::size_t i = 0; i < values.size(); ++i) {
    const int n = std::snprintf(buf, sizeof buf, i == 0 ? "%.17g" : ", %.17g", values[i]);
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out + "]\n";
}

}  // namespace convgrad::io::detail
