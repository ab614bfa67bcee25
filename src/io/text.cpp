// Text and CSV signals: one value per line, or all values on one line separated by commas,
// spaces or tabs; or one column of a table (a header line of names, several values per line).
// '#' starts a comment. Every error names PATH:LINE and the offending token.
#include <algorithm>
#include <cctype>
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
#include <utility>
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

// Splits one line (without its '\n') into its value tokens, calling on_token(token, start) for
// each, `start` being its byte offset in the line; returns how many (0: a blank or comment-only
// line). '#' starts a comment; tokens are separated by a run of blanks, or by one comma with
// optional blanks around it (not both kinds on one line).
template <class OnToken>
std::size_t split_line(std::string_view line, const std::string& path, std::size_t line_no,
                       OnToken&& on_token) {
  if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  std::size_t i = 0, count = 0;
  bool comma_sep = false, blank_sep = false;
  while (i < line.size() && is_space(line[i])) ++i;
  if (i == line.size()) return 0;
  for (;;) {
    const std::size_t start = i;
    while (i < line.size() && line[i] != ',' && !is_space(line[i])) ++i;
    const std::string_view token = line.substr(start, i - start);
    if (token.empty())
      throw io_error(where(path, line_no) + "empty value " +
                     (start == 0 || count == 0 ? std::string("before the first comma")
                                               : "after value " + std::to_string(count)));
    on_token(token, start);
    ++count;
    // The separator: blanks, then at most one comma, then blanks.
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
      return count;
    }
    (comma ? comma_sep : blank_sep) = true;
    if (comma_sep && blank_sep)
      throw io_error(where(path, line_no) +
                     "mixes commas and blanks as separators (decimal commas?); use one or the other");
  }
}

}  // namespace

namespace {

// The rules of a text signal applied one line at a time (see io.hpp): what is a value, what a
// separator, and that values on several lines each hold one. What may be a table is left to the
// table reader (maybe_table): a first line that is not all finite numbers (a header, or a row
// with a NaN in a column nobody asked for), and a second line of values after a first of several.
class TextLines {
 public:
  TextLines(const std::string& path,
            const std::function<void(double, std::uint64_t, std::uint64_t)>& on_value)
      : path_(path), on_value_(on_value) {}

  // One line without its '\n', starting at byte `offset` of the file.
  void line(std::string_view line, std::uint64_t offset) {
    ++line_no_;
    tokens_.clear();
    split_line(line, path_, line_no_,
               [&](std::string_view token, std::size_t start) { tokens_.emplace_back(token, start); });
    if (tokens_.empty()) return;  // blank or comment-only line
    const std::size_t count = tokens_.size();
    if (++value_lines_ == 1) {
      first_line_ = line_no_, first_count_ = count;
    } else if (first_count_ > 1 || count > 1) {
      // Values on several lines, several on one: rows of a table, which a first line of several
      // values may begin (maybe_table); rows of one value, then several, are no table either.
      const std::string why = where(path_, first_count_ > 1 ? first_line_ : line_no_) +
                              std::to_string(first_count_ > 1 ? first_count_ : count) +
                              " values on one line, but values are on several lines: a table, not a "
                              "signal; give one value per line or all values on one line";
      if (first_count_ > 1) throw maybe_table(why);
      throw io_error(why);
    }
    for (const auto& [token, start] : tokens_) {
      const double v = value(token, count);  // before values_ moves on: its errors name the index
      on_value_(v, values_++, offset + start);
    }
  }

  std::uint64_t values() const { return values_; }

 private:
  // The token as a sample: a finite number. On the first line of values a token that is none
  // may be a header's name, and a NaN may stand in a column nobody asked for (maybe_table).
  double value(std::string_view token, std::size_t count) const {
    const bool first = value_lines_ == 1;
    double v = 0;
    try {
      v = parse_number(token, path_, line_no_);
    } catch (const io_error& e) {
      if (first) throw maybe_table(e.what());
      throw;
    }
    if (std::isfinite(v)) return v;
    const std::string why = where(path_, line_no_) + "'" + quote_token(token) +
                            "' is not finite (sample index " + std::to_string(values_) +
                            ", 0-based); signals must be finite";
    if (first && count > 1) throw maybe_table(why);
    throw io_error(why);
  }

  const std::string& path_;
  const std::function<void(double, std::uint64_t, std::uint64_t)>& on_value_;
  std::vector<std::pair<std::string_view, std::size_t>> tokens_;  // this line's, with their offsets
  std::size_t line_no_ = 0, value_lines_ = 0, first_line_ = 0, first_count_ = 0;
  std::uint64_t values_ = 0;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

double parse_text_number(std::string_view token, const std::string& path, std::size_t line) {
  return parse_number(token, path, line);
}

namespace {

// Calls on_line(line, offset) for every line of the file (without its '\n'; `offset`: where the
// line starts in the file), reading a block at a time: memory is one block and one line.
template <class OnLine>
void for_each_line(const std::string& path, OnLine&& on_line) {
  require_readable_file(path);
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw io_error(path + ": cannot open: " + std::strerror(errno));
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
      on_line(std::string_view(carry).substr(from, eol - from), carry_at + from);
    if (at_end) {
      if (from < carry.size()) on_line(std::string_view(carry).substr(from), carry_at + from);
      return;
    }
    carry.erase(0, from);
    carry_at += from;
  }
}

}  // namespace

std::uint64_t scan_text(
    const std::string& path,
    const std::function<void(double v, std::uint64_t i, std::uint64_t offset)>& on_value) {
  TextLines lines(path, on_value);
  for_each_line(path, [&](std::string_view line, std::uint64_t offset) { lines.line(line, offset); });
  if (lines.values() == 0)
    throw io_error(path + ": no values (the file is empty or holds only comments and blank lines)");
  return lines.values();
}

namespace {

// The value lines of a text file, split into tokens: one flat list, and where each line's
// tokens start (flat, so that a 10^6-line signal costs no vector per line).
struct Lines {
  std::vector<std::string_view> tokens;
  std::vector<std::size_t> first;   // line i's tokens are tokens[first[i] .. first[i+1])
  std::vector<std::size_t> number;  // its 1-based line number in the file
  std::size_t size() const { return number.size(); }
  std::size_t count(std::size_t i) const {
    return (i + 1 < first.size() ? first[i + 1] : tokens.size()) - first[i];
  }
  std::string_view token(std::size_t i, std::size_t j) const { return tokens[first[i] + j]; }
};

// Splits every line that holds values (split_line).
Lines split_lines(std::string_view text, const std::string& path) {
  Lines out;
  // One value per line is the common case: room for that many up front, not grown by doubling.
  const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  out.tokens.reserve(lines);
  out.first.reserve(lines);
  out.number.reserve(lines);
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const std::size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    const std::size_t first = out.tokens.size();
    if (split_line(line, path, line_no,
                   [&](std::string_view token, std::size_t) { out.tokens.push_back(token); }) == 0)
      continue;  // blank or comment-only line
    out.first.push_back(first);
    out.number.push_back(line_no);
  }
  return out;
}

bool is_number(std::string_view token) {
  if (token.size() > 1 && token[0] == '+' && token[1] != '-' && token[1] != '+') token.remove_prefix(1);
  double v = 0;
  const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  return ec != std::errc::invalid_argument && ptr == token.data() + token.size();
}

// A header name: it starts with a letter, '_' or a double quote.
bool is_name(std::string_view token) {
  const unsigned char c = static_cast<unsigned char>(token[0]);
  return std::isalpha(c) || c == '_' || c == '"';
}

// A header name as written, without the double quotes a spreadsheet may put around it.
std::string_view unquoted(std::string_view name) {
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') return name.substr(1, name.size() - 2);
  return name;
}

// "0 'time', 1 'x', 2 'y'" (with a header), or "0..2 (no header line)"; at most 12 named.
std::string column_list(const std::vector<std::string_view>& names, std::size_t columns) {
  if (names.empty()) return "0.." + std::to_string(columns - 1) + " (no header line)";
  std::string out;
  for (std::size_t j = 0; j < names.size() && j < 12; ++j)
    out += (j ? ", " : "") + std::to_string(j) + " '" + quote_token(names[j]) + "'";
  if (names.size() > 12) out += ", ... (" + std::to_string(names.size()) + " columns)";
  return out;
}

// The 0-based index `column` names: a header name first, else an index.
std::size_t column_index(const std::string& column, const std::vector<std::string_view>& names,
                         std::size_t columns, const std::string& path) {
  for (std::size_t j = 0; j < names.size(); ++j)
    if (names[j] == column) return j;
  if (!column.empty() && column.find_first_not_of("0123456789") == std::string::npos && column.size() < 10) {
    const std::size_t j = std::stoul(column);
    if (j < columns) return j;
  }
  throw io_error(path + ": no column '" + quote_token(column) + "'; the columns are " +
                 column_list(names, columns) + " (by header name, or 0-based index)");
}

// Sample `index` of the signal, from `token` on `line`: a finite number.
double sample(std::string_view token, std::size_t index, const std::string& path, std::size_t line) {
  const double v = parse_number(token, path, line);
  if (!std::isfinite(v))
    throw io_error(where(path, line) + "'" + quote_token(token) + "' is not finite (sample index " +
                   std::to_string(index) + ", 0-based); signals must be finite");
  return v;
}

// One number per line or all on one line: a signal (the common case, unchanged).
Signal signal_of(const Lines& lines, const std::string& path) {
  Signal s;
  s.format = "text";
  s.samples.reserve(lines.tokens.size());
  for (std::size_t i = 0; i < lines.size(); ++i)
    for (std::size_t j = 0; j < lines.count(i); ++j) {
      s.samples.push_back(sample(lines.token(i, j), s.samples.size(), path, lines.number[i]));
    }
  return s;
}

// ---- one column of a table, a line at a time -------------------------------------------------

// read_text's table rules applied one line at a time: a header of names (when the first line is
// not all numbers), rows of as many values as the first line, and one column's value in each row,
// a finite number (the other columns are not read). Without a header, several values on the first
// line make a table only if a second line of values follows (else it is a one-line signal): a
// column asked of this very file settles that at once, any other waits for the second line,
// keeping the first row; after a header, the first row settles it. What is still open at the end
// (one line, or a header with no rows under it, whose error read_text words) is left to
// read_text: maybe_table.
class TableLines {
 public:
  TableLines(const std::string& path, const Column& choice,
             const std::function<void(double, std::uint64_t, std::uint64_t)>& on_value)
      : path_(path), choice_(choice), on_value_(on_value) {}

  void line(std::string_view line, std::uint64_t offset) {
    ++line_no_;
    tokens_.clear();
    split_line(line, path_, line_no_, [&](std::string_view token, std::size_t) { tokens_.push_back(token); });
    if (tokens_.empty()) return;  // blank or comment-only line
    if (columns_ == 0) return first_line(offset);
    if (tokens_.size() != columns_)
      throw io_error(where(path_, line_no_) + std::to_string(tokens_.size()) + " values on one line but " +
                     std::to_string(columns_) + " on line " + std::to_string(first_line_) +
                     (names_.empty() ? "" : " (the header)") +
                     ": every row of a table has the same number of values");
    if (!settled_) settle_column();  // a second row: a table after all
    row(tokens_[column_], line_no_, offset);
  }

  bool settled() const { return settled_ && values_ > 0; }
  std::uint64_t values() const { return values_; }
  std::size_t column() const { return column_; }

 private:
  // The first line of values: the header, or the first row (kept while the column is open).
  void first_line(std::uint64_t offset) {
    columns_ = tokens_.size(), first_line_ = line_no_;
    if (!std::all_of(tokens_.begin(), tokens_.end(), is_number)) {
      // A header's tokens are all names; else the first that is no number is a typo in the data.
      if (!std::all_of(tokens_.begin(), tokens_.end(), is_name))
        (void)parse_number(*std::find_if_not(tokens_.begin(), tokens_.end(), is_number), path_, line_no_);
      for (const std::string_view name : tokens_) names_.emplace_back(unquoted(name));
      return;  // the column is settled by the first row: a header alone is read_text's to word
    }
    first_row_.assign(tokens_.begin(), tokens_.end());
    first_row_at_ = offset;
    if (!choice_.spec.empty() && !choice_.tables_only) settle_column();  // a column asked of this file
  }

  // The column: by name or index, or the only one.
  void settle_column() {
    const std::vector<std::string_view> names(names_.begin(), names_.end());
    if (choice_.spec.empty() && columns_ > 1)
      throw io_error(where(path_, first_line_) + "a table of " + std::to_string(columns_) + " columns (" +
                     column_list(names, columns_) +
                     "), not one signal: choose a column (column = NAME or INDEX, 0-based)");
    column_ = choice_.spec.empty() ? 0 : column_index(choice_.spec, names, columns_, path_);
    settled_ = true;
    if (!first_row_.empty()) row(first_row_[column_], first_line_, first_row_at_);
  }

  void row(std::string_view token, std::size_t line_no, std::uint64_t offset) {
    on_value_(sample(token, values_, path_, line_no), values_, offset);
    ++values_;
  }

  const std::string& path_;
  const Column& choice_;
  const std::function<void(double, std::uint64_t, std::uint64_t)>& on_value_;
  std::vector<std::string_view> tokens_;
  std::vector<std::string> names_, first_row_;
  std::uint64_t first_row_at_ = 0;
  std::size_t line_no_ = 0, first_line_ = 0, columns_ = 0, column_ = 0;
  bool settled_ = false;
  std::uint64_t values_ = 0;
};

}  // namespace

TableColumn scan_table_column(
    const std::string& path, const Column& choice,
    const std::function<void(double v, std::uint64_t i, std::uint64_t offset)>& on_value) {
  TableLines lines(path, choice, on_value);
  for_each_line(path, [&](std::string_view line, std::uint64_t offset) { lines.line(line, offset); });
  if (!lines.settled()) throw maybe_table(path + ": one line of values, or a header with no rows");
  return {lines.values(), lines.column()};
}

std::optional<double> table_row_value(std::string_view line, std::size_t column, std::uint64_t row,
                                      const std::string& path) {
  std::size_t count = 0;
  std::string_view token;
  split_line(line, path, 0, [&](std::string_view t, std::size_t) {
    if (count++ == column) token = t;
  });
  if (count == 0) return std::nullopt;  // blank or comment-only line
  if (count <= column)
    throw io_error(path + ": row " + std::to_string(row) + " has no column " + std::to_string(column) +
                   " (was the file changed while being read?)");
  return sample(token, row, path, 0);
}

Signal read_text(const std::string& path, const Column& choice) {
  const std::string& column = choice.spec;
  // A signal (no column asked of this very file) is read line by line, as the window readers
  // read it; a table, or what may be one, is read whole below.
  if (column.empty() || choice.tables_only) {
    try {
      Signal s;
      s.format = "text";
      scan_text(path, [&](double v, std::uint64_t, std::uint64_t) { s.samples.push_back(v); });
      return s;
    } catch (const maybe_table&) {
    }
  }
  std::string bytes = read_file(path);
  std::string_view text(bytes);
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 byte-order mark
  if (text.starts_with("\xFF\xFE") || text.starts_with("\xFE\xFF"))
    throw io_error(path + ": looks like UTF-16 text; save it as UTF-8 or ASCII");
  const Lines lines = split_lines(text, path);
  if (lines.size() == 0)
    throw io_error(path + ": no values (the file is empty or holds only comments and blank lines)");

  // A first line that is not all numbers is a header, when numbers follow it and its tokens
  // are names (a token that starts like a number, "1O", is a typo in the data, not a name).
  std::vector<std::string_view> names;
  std::size_t row0 = 0;
  for (std::size_t j = 0; j < lines.count(0); ++j)
    if (!is_number(lines.token(0, j))) {
      bool all_names = lines.size() > 1;
      for (std::size_t k = 0; k < lines.count(0); ++k) all_names &= is_name(lines.token(0, k));
      if (!all_names) (void)parse_number(lines.token(0, j), path, lines.number[0]);  // says why
      for (std::size_t k = 0; k < lines.count(0); ++k) names.push_back(unquoted(lines.token(0, k)));
      row0 = 1;
      break;
    }
  bool wide = false;  // several values on a line, with several lines of values
  for (std::size_t i = row0; i < lines.size(); ++i) wide |= lines.count(i) > 1;
  wide &= lines.size() - row0 > 1;
  if (names.empty() && !wide && (column.empty() || choice.tables_only)) return signal_of(lines, path);

  // A table: rows of equal length, one column chosen.
  const std::size_t columns = lines.count(0);
  for (std::size_t i = 1; i < lines.size(); ++i)
    if (lines.count(i) != columns)
      throw io_error(where(path, lines.number[i]) + std::to_string(lines.count(i)) +
                     " values on one line but " + std::to_string(columns) + " on line " +
                     std::to_string(lines.number[0]) + (names.empty() ? "" : " (the header)") +
                     ": every row of a table has the same number of values");
  if (column.empty() && columns > 1)
    throw io_error(where(path, lines.number[0]) + "a table of " + std::to_string(columns) + " columns (" +
                   column_list(names, columns) +
                   "), not one signal: choose a column (column = NAME or INDEX, 0-based)");
  const std::size_t c = column.empty() ? 0 : column_index(column, names, columns, path);
  Signal s;
  s.format = "text";
  s.samples.reserve(lines.size() - row0);
  for (std::size_t i = row0; i < lines.size(); ++i) {
    s.samples.push_back(sample(lines.token(i, c), s.samples.size(), path, lines.number[i]));
  }
  if (s.samples.empty()) throw io_error(path + ": a header line but no values under it");
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
