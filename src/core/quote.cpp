// Quoting a file's content in a message (see quote.hpp).
#include "quote.hpp"

#include <cstdio>

namespace convgrad::detail {

std::string quote_token(std::string_view token, std::size_t max_chars) {
  std::string out;
  for (std::size_t i = 0; i < token.size() && i < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(token[i]);
    if (c >= 0x20 && c < 0x7F) {  // printable ASCII, whatever the locale says
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  if (token.size() > max_chars) out += "...";
  return out;
}

}  // namespace convgrad::detail
