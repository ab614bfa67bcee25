// norm2 and format_number (see convgrad/numbers.hpp).
#include "convgrad/numbers.hpp"

#include <cmath>
#include <cstdio>

namespace convgrad {

double norm2(std::span<const double> v) {
  double s = 0;
  for (const double a : v) s += a * a;
  return std::sqrt(s);
}

std::string format_number(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v == 0 ? 0.0 : v);
  return buf;
}

}  // namespace convgrad
