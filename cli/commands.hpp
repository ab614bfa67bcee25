// The `convgrad` subcommands. Each add_* registers its options on `app` and returns the
// function that runs it once parsing succeeded; that function returns the exit code.
// Errors: throw usage_error for a bad combination of options (exit 2); library errors
// (convgrad::error) from data and files exit 1. main.cpp prints `convgrad: error: ...`.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <stdexcept>

namespace convgrad::cli {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using Run = std::function<int()>;

Run add_demo(CLI::App& app);
Run add_grad(CLI::App& app);
Run add_check(CLI::App& app);
Run add_explain(CLI::App& app);
Run add_fit(CLI::App& app);
Run add_apply(CLI::App& app);
Run add_tune(CLI::App& app);
Run add_adapt(CLI::App& app);

}  // namespace convgrad::cli
