// Library errors in the command line's words (see library_errors.hpp).
#include "library_errors.hpp"

#include "commands.hpp"

#include <array>
#include <exception>
#include <new>
#include <string_view>
#include <string>
#include <utility>

namespace convgrad::cli {
namespace {

// FitOptions' field names (what the library's messages say) and the options that set them;
// "column", the io readers' word for the column of a text table.
constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kOptionOf = {{
    {"ridge", "--ridge"},
    {"solver", "--solver"},
    {"max_iter", "--max-iter"},
    {"grad_tol", "--tol"},
    {"loss_tol", "--loss-tol"},
    {"time_limit", "--time-limit"},
    {"lr", "--lr"},
    {"beta1", "--beta1"},
    {"beta2", "--beta2"},
    {"eps", "--adam-eps"},
    {"batch", "--batch"},
    {"column", "--column"},
}};

// Replaces every "(field = " and ", field = " with "(--option " and ", --option ": advice
// such as "add a ridge penalty (ridge = 0.01, for example)".
std::string translate_advice(std::string s, std::string_view field, std::string_view option) {
  for (const char* lead : {"(", ", "}) {
    // (append, not lead + std::string: GCC 12 warns falsely about the latter, -Wrestrict)
    const std::string from = std::string(lead).append(field).append(" = ");
    const std::string to = std::string(lead).append(option).append(" ");
    std::string out;
    std::size_t done = 0;
    for (auto at = s.find(from); at != std::string::npos; done = at + from.size(), at = s.find(from, done))
      out.append(s, done, at - done).append(to);
    s = out.append(s, done);
  }
  return s;
}

}  // namespace

std::string in_command_words(std::string message) {
  for (const auto& [field, option] : kOptionOf) message = translate_advice(std::move(message), field, option);
  return message;
}

CommandError from_library(const convgrad::error& e) {
  CommandError out{1, in_command_words(e.what())};
  for (const auto& [field, option] : kOptionOf) {
    const std::string prefix = std::string(field) + ": ";
    if (dynamic_cast<const convgrad::invalid_argument*>(&e) && out.message.starts_with(prefix)) {
      out.message = std::string(option) + ": " + out.message.substr(prefix.size());
      out.exit_code = 2;
    }
  }
  return out;
}

CommandError current_error() {
  try {
    throw;
  } catch (const usage_error& e) {
    return {2, e.what()};
  } catch (const convgrad::error& e) {  // in the command line's words, in one place
    return from_library(e);
  } catch (const std::bad_alloc&) {
    return {1, "out of memory"};
  } catch (const std::exception& e) {
    return {1, e.what()};
  } catch (...) {
    return {1, "unknown error"};
  }
}

}  // namespace convgrad::cli
