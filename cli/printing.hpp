// Printing results: JSON on stdout, readable value lists and numbers (one formatter for all).
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "convgrad/numbers.hpp"

namespace convgrad::cli {

// A JSON array of the values widened to double (so float32 results print exactly).
template <std::floating_point T>
nlohmann::json json_array(std::span<const T> values) {
  nlohmann::json a = nlohmann::json::array();
  for (const T v : values) a.push_back(static_cast<double>(v));
  return a;
}

// Prints `j` on stdout as one line followed by a newline (doubles round-trip: 17 digits).
void print_json(const nlohmann::json& j);

// The library's one number formatter and one norm (convgrad/numbers.hpp).
using convgrad::format_number;
using convgrad::norm2;

// "[1.5, -2, 0.25]" with `digits` significant digits; with more than `max_shown` values, the
// first and last few and "... (N values)" between.
std::string format_values(std::span<const double> values, int digits = 6, std::size_t max_shown = 12);

}  // namespace convgrad::cli
