// The one place where the library's errors become the command's: the library names its
// parameters as its callers write them in code (ridge, lr, max_iter: FitOptions' fields), the
// command names its options (--ridge, --lr, --max-iter). Commands never re-check the library's
// limits with messages of their own; they let it throw and main.cpp passes the error here.
#pragma once

#include <string>

#include "convgrad/errors.hpp"

namespace convgrad::cli {

struct CommandError {
  int exit_code;        // 2: a bad option value (usage); 1: bad data, I/O, anything else
  std::string message;  // one line, in the command line's words
};

// A leading "field: " of a FitOptions field becomes "--option: " and a usage error (exit 2);
// "(field = v" in advice becomes "(--option v". Anything else passes unchanged with exit 1.
CommandError from_library(const convgrad::error& e);

// The exit code and message of the exception being handled (call inside a catch block): a
// usage_error exits 2, a library error as from_library says, running out of memory and any
// other exception 1.
CommandError current_error();

// The advice in a library message or warning in the command line's words: "(field = v" and
// ", field = v" become "(--option v" and ", --option v".
std::string in_command_words(std::string message);

}  // namespace convgrad::cli
