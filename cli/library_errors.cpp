// Library errors in the command line's words (see library_errors.hpp).
#include "library_errors.hpp"

#include <array>
#include <string_view>
#include <utility>

namespace convgrad::cli {
namespace {

// FitOptions' field names (what the library's messages say) and the options that set them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kOptionOf = {{
    {"ridge", "--ridge"},
    {"max_iter", "--max-iter"},
    {"grad_tol", "--tol"},
    {"loss_tol", "--loss-tol"},
    {"time_limit", "--time-limit"},
    {"lr", "--lr"},
    {"beta1", "--beta1"},
    {"beta2", "--beta2"},
    {"eps", "--adam-eps"},
    {"batch", "--batch"},
}};

// Replaces every "(field = " with "(--option ": advice such as "add a ridge penalty (ridge = 0.01, ...)".
std::string translate_advice(const std::string& s, std::string_view field, std::string_view option) {
  // (append, not "(" + std::string: GCC 12 warns falsely about the latter, -Wrestrict)
  const std::string from = std::string("(").append(field).append(" = ");
  const std::string to = std::string("(").append(option).append(" ");
  std::string out;
  std::size_t done = 0;
  for (auto at = s.find(from); at != std::string::npos; done = at + from.size(), at = s.find(from, done))
    out.append(s, done, at - done).append(to);
  return out.append(s, done);
}

}  // namespace

CommandError from_library(const convgrad::error& e) {
  CommandError out{1, e.what()};
  for (const auto& [field, option] : kOptionOf) {
    out.message = translate_advice(out.message, field, option);
    const std::string prefix = std::string(field) + ": ";
    if (dynamic_cast<const convgrad::invalid_argument*>(&e) && out.message.starts_with(prefix)) {
      out.message = std::string(option) + ": " + out.message.substr(prefix.size());
      out.exit_code = 2;
    }
  }
  return out;
}

}  // namespace convgrad::cli
