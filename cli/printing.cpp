// Printing results (see printing.hpp).
#include "printing.hpp"

#include <cstdio>

namespace convgrad::cli {

void print_json(const nlohmann::json& j) {
  const std::string s = j.dump();
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);  // flushed, and its errors reported, by main (finish_stdout)
}

std::string format_values(std::span<const double> values, int digits, std::size_t max_shown) {
  std::string s = "[";
  auto put = [&](std::size_t i) {
    if (i) s += ", ";
    s += format_number(values[i], digits);
  };
  if (values.size() <= max_shown) {
    for (std::size_t i = 0; i < values.size(); ++i) put(i);
  } else {
    const std::size_t head = max_shown / 2, tail = max_shown - head;
    for (std::size_t i = 0; i < head; ++i) put(i);
    s += ", ... (" + std::to_string(values.size()) + " values) ...";
    for (std::size_t i = values.size() - tail; i < values.size(); ++i) put(i);
  }
  return s + "]";
}

}  // namespace convgrad::cli
