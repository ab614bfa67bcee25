// Two small helpers every layer shares (library, command, Python bindings), so that each is
// written once: the 2-norm and the way a number is written into a message or a page.
#pragma once

#include <span>
#include <string>

namespace convgrad {

// ||v|| = sqrt(sum v^2), accumulated in double.
double norm2(std::span<const double> v);

// v with `digits` significant digits (printf's %.*g), and 0 for -0: the one number formatter
// of error messages, summaries and printed results.
std::string format_number(double v, int digits = 6);

}  // namespace convgrad
