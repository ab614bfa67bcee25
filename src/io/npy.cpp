// NumPy .npy files (format versions 1.0, 2.0 and 3.0):
//   "\x93NUMPY" major minor, a little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0),
//   a Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (N,), } padded
//   with spaces and '\n', then the raw data.
// We accept float32/float64 little-endian, shape (N,) or (N,1); everything else is refused
// with the reason, and the data length must match the header exactly.
#include <bit>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "convgrad/errors.hpp"
#include "io_detail.hpp"

namespace convgrad::io::detail {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

// A value of the header dict: a string, a bool, or a tuple of non-negative integers.
struct HeaderValue {
  enum Kind { string, boolean, tuple } kind = string;
  std::string text;
  bool flag = false;
  std::vector<std::uint64_t> dims;
};

// Parses the small subset of Python literals that .npy headers use, and nothing else.
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const std::string& path) : s_(s), path_(path) {}

  std::map<std::string, HeaderValue> dict() {
    std::map<std::string, HeaderValue> out;
    expect('{');
    for (;;) {
      skip();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      out[key] = value();
      skip();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      expect('}');
      --i_;
    }
    ++i_;
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw io_error(path_ + ": malformed .npy header (" + what + ") in \"" + quote_token(s_) + "\"");
  }
  void skip() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  char peek() { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    skip();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string quoted() {
    skip();
    const char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted key");
    const std::size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string t(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return t;
  }
  HeaderValue value() {
    skip();
    HeaderValue v;
    if (peek() == '\'' || peek() == '"') {
      v.text = quoted();
    } else if (s_.substr(i_).starts_with("True") || s_.substr(i_).starts_with("False")) {
      v.kind = HeaderValue::boolean;
      v.flag = s_[i_] == 'T';
      i_ += v.flag ? 4 : 5;
    } else if (peek() == '(') {
      v.kind = HeaderValue::tuple;
      ++i_;
      for (;;) {
        skip();
        if (peek() == ')') break;
        if (!std::isdigit(static_cast<unsigned char>(peek())))
          fail("shape entries must be non-negative integers");
        std::uint64_t d = 0;
        while (std::isdigit(static_cast<unsigned char>(peek()))) {
          const std::uint64_t digit = static_cast<std::uint64_t>(s_[i_++] - '0');
          if (d > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) fail("shape entry too large");
          d = d * 10 + digit;
        }
        v.dims.push_back(d);
        skip();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        if (peek() != ')') fail("expected ',' or ')' in shape");
      }
      ++i_;
    } else if (peek() == '[') {
      fail("a structured dtype (a list of fields) is not a plain signal");
    } else {
      fail("unexpected value");
    }
    return v;
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

std::uint64_t read_le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int b = bytes - 1; b >= 0; --b) v = (v << 8) | p[b];
  return v;
}

// "<f8" -> bytes per value (4 or 8), or io_error explaining what the dtype is and why not.
std::size_t float_size(const std::string& descr, const std::string& path) {
  if (descr.size() < 2) throw io_error(path + ": unknown dtype '" + quote_token(descr) + "'");
  const char order = descr[0];
  const std::string type = descr.substr(1);
  if (order == '>' && (type == "f4" || type == "f8"))
    throw io_error(path + ": dtype '" + quote_token(descr) +
                   "' is big-endian; save it little-endian (x.astype('<" + type + "'))");
  if ((order == '<' || order == '=') && type == "f8") return 8;
  if ((order == '<' || order == '=') && type == "f4") return 4;
  const char kind = type.empty() ? '?' : type[0];
  std::string what;
  switch (kind) {
    case 'i':
    case 'u':
      what = "an integer dtype";
      break;
    case 'b':
      what = "a boolean dtype";
      break;
    case 'f':
      what = "a float dtype of unsupported width";
      break;
    case 'c':
      what = "a complex dtype";
      break;
    case 'O':
      what = "an object (pickled) dtype";
      break;
    case 'U':
    case 'S':
      what = "a string dtype";
      break;
    default:
      what = "an unsupported dtype";
  }
  throw io_error(path + ": dtype '" + quote_token(descr) + "' is " + what +
                 "; only float32 ('<f4') and float64 ('<f8') signals are read (x.astype(np.float64))");
}

}  // namespace

NpyLayout npy_layout(std::string_view head, std::uint64_t file_size, const std::string& path) {
  const auto* b = reinterpret_cast<const unsigned char*>(head.data());
  if (head.size() < kMagic.size() || head.substr(0, kMagic.size()) != kMagic)
    throw io_error(path + ": not a .npy file (the magic string \\x93NUMPY is missing)");
  if (head.size() < 10)
    throw io_error(path + ": truncated .npy header (" + std::to_string(head.size()) + " bytes)");
  const unsigned major = b[6];
  if (major < 1 || major > 3)
    throw io_error(path + ": .npy format version " + std::to_string(major) + "." + std::to_string(b[7]) +
                   " is not supported (1.0, 2.0, 3.0 are)");
  const int len_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = 8 + static_cast<std::size_t>(len_bytes);
  if (head.size() < prefix) throw io_error(path + ": truncated .npy header");
  const std::uint64_t header_len = read_le(b + 8, len_bytes);
  if (header_len > file_size - prefix)
    throw io_error(path + ": truncated .npy header (it announces " + std::to_string(header_len) +
                   " bytes, the file has " + std::to_string(file_size - prefix) + " after the prefix)");
  if (header_len > head.size() - prefix)
    throw io_error(path + ": .npy header of " + std::to_string(header_len) + " bytes is larger than " +
                   std::to_string(head.size() - prefix) + " bytes (not a signal's header)");
  const std::string_view header = head.substr(prefix, header_len);

  auto dict = HeaderParser(header, path).dict();
  const auto need = [&](const char* key, HeaderValue::Kind kind) -> const HeaderValue& {
    const auto it = dict.find(key);
    if (it == dict.end()) throw io_error(path + ": .npy header lacks '" + key + "'");
    if (it->second.kind != kind) throw io_error(path + ": .npy header has a malformed '" + key + "'");
    return it->second;
  };
  const std::string descr = need("descr", HeaderValue::string).text;
  const bool fortran = need("fortran_order", HeaderValue::boolean).flag;
  const std::vector<std::uint64_t> dims = need("shape", HeaderValue::tuple).dims;
  const std::size_t width = float_size(descr, path);

  std::string shape = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) shape += (i ? ", " : "") + std::to_string(dims[i]);
  shape += dims.size() == 1 ? ",)" : ")";
  if (dims.empty()) throw io_error(path + ": shape () is a scalar, not a signal");
  if (dims.size() > 2 || (dims.size() == 2 && dims[1] != 1))
    throw io_error(path + ": shape " + shape + " is not a 1-D signal; expected (N,) or (N, 1)");
  if (dims.size() == 2 && fortran)
    throw io_error(path + ": a 2-D array in Fortran order; save a C-ordered or 1-D array (x.ravel())");
  const std::uint64_t n = dims[0];
  if (n == 0) throw io_error(path + ": shape " + shape + " holds no samples (an empty signal)");

  const std::uint64_t data_at = prefix + header_len;
  const std::uint64_t have = file_size - data_at;
  if (n > have / width || n * width != have) {
    const std::string want = n > std::numeric_limits<std::uint64_t>::max() / width
                                 ? std::string("more than the file holds")
                                 : std::to_string(n * width) + " bytes";
    throw io_error(path + ": " + (n > have / width ? "truncated" : "trailing bytes") + ": shape " + shape +
                   " of " + (width == 4 ? "float32" : "float64") + " needs " + want +
                   " of data, the file has " + std::to_string(have));
  }
  return NpyLayout{data_at, n, width};
}

void decode_npy(const unsigned char* p, std::size_t width, std::span<double> out) {
  for (double& v : out) {
    // Assemble the little-endian bytes into an integer, then reinterpret: correct on any host.
    if (width == 8) {
      v = std::bit_cast<double>(read_le(p, 8));
    } else {
      v = std::bit_cast<float>(static_cast<std::uint32_t>(read_le(p, 4)));
    }
    p += width;
  }
}

Signal read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  const NpyLayout layout = npy_layout(bytes, bytes.size(), path);
  Signal s;
  s.format = layout.width == 4 ? "npy-float32" : "npy-float64";
  s.samples.resize(layout.n);
  decode_npy(reinterpret_cast<const unsigned char*>(bytes.data()) + layout.data_at, layout.width, s.samples);
  require_finite_samples(s.samples, path);
  return s;
}

std::string npy_header(std::uint64_t n) {
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + std::to_string(n) + ",), }";
  // Pad with spaces to a multiple of 64 bytes including the 10-byte prefix and a final '\n'.
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xFF);
  out += static_cast<char>((header.size() >> 8) & 0xFF);
  out += header;
  return out;
}

void append_npy_values(std::string& out, std::span<const double> values) {
  out.reserve(out.size() + values.size() * 8);
  for (const double v : values) {
    std::uint64_t u = std::bit_cast<std::uint64_t>(v);
    for (int k = 0; k < 8; ++k, u >>= 8) out += static_cast<char>(u & 0xFF);
  }
}

std::string encode_npy(std::span<const double> values) {
  std::string out = npy_header(values.size());
  append_npy_values(out, values);
  return out;
}

}  // namespace convgrad::io::detail
