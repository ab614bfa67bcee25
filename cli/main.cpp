// `convgrad`: parse the command line, call the library, print. Exit codes: 0 success,
// 1 bad data or I/O (and `check` disagreements), 2 usage errors. Every error is one line
// `convgrad: error: ...`; nothing is ever left half-written (the io layer writes atomically).
#include <cstdio>
#include <exception>
#include <new>
#include <vector>

#include "commands.hpp"
#include "convgrad/errors.hpp"
#include "library_errors.hpp"

namespace {

int fail(int code, const char* what) {
  std::fprintf(stderr, "convgrad: error: %s\n", what);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace convgrad::cli;
  CLI::App app{"convgrad: learnable 1-D filters, their loss and every form of its gradient"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, Run>> commands;
  auto add = [&](Run (*adder)(CLI::App&)) {
    const std::size_t before = app.get_subcommands({}).size();
    Run run = adder(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(run));
  };
  add(add_demo);
  add(add_grad);
  add(add_check);
  add(add_explain);
  add(add_fit);
  add(add_apply);
  add(add_tune);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(2, e.what());
  }
  try {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
    return fail(2, "no command given; try --help");
  } catch (const usage_error& e) {
    return fail(2, e.what());
  } catch (const convgrad::error& e) {  // in the command line's words, in one place
    const CommandError c = from_library(e);
    return fail(c.exit_code, c.message.c_str());
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory");
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}
