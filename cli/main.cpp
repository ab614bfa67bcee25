// `convgrad`: parse the command line, call the library, print. Exit codes (app.hpp,
// kExitStatus): 0 success, 1 bad data or I/O (and `check` disagreements), 2 usage errors. Every error is one
// line `convgrad: error: ...`; nothing is ever left half-written (the io layer writes atomically).
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "app.hpp"
#include "commands.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/io.hpp"
#include "library_errors.hpp"
#include "verbosity.hpp"

namespace {

int fail(int code, const char* what) {
  std::fprintf(stderr, "convgrad: error: %s\n", what);
  return code;
}

// True when fd is a pipe or socket whose reader has gone (a write would fail with EPIPE).
bool reader_gone(int fd) {
  pollfd p{fd, 0, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR) != 0;
}

// What a command printed must have reached standard output: a full disk or /dev/full is an
// error (exit 1), and a reader that stopped reading (`| head`) ends the run quietly with the
// status a shell reports for SIGPIPE, as when SIGPIPE is not ignored.
int finish_stdout(int code) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  const int err = errno;
  if (flushed && !std::ferror(stdout)) return code;
  if (err == EPIPE || reader_gone(STDOUT_FILENO)) return 128 + SIGPIPE;
  const std::string why = err != 0 ? std::strerror(err) : "an earlier write failed";
  std::fprintf(stderr, "convgrad: error: cannot write to standard output: %s\n", why.c_str());
  return code == 0 ? 1 : code;
}

int dispatch(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  // An interrupted run (Ctrl-C, `timeout`, a closed terminal) leaves no temporary file behind.
  convgrad::io::remove_temporaries_on_signals();
  return finish_stdout(dispatch(argc, argv));
}

namespace {

int dispatch(int argc, char** argv) {
  using namespace convgrad::cli;
  CLI::App app{"convgrad: learnable 1-D filters, their loss and every form of its gradient", "convgrad"};
  std::vector<Subcommand> commands = build_command(app);
  // The subcommand is the first word (the command itself takes only --help and --version):
  // a word that is none is named, with the list, before CLI11 would call it "not expected".
  if (argc < 2) return fail(2, "no subcommand given; see 'convgrad help' (or convgrad --help) for the list");
  if (argv[1][0] != '-')
    if (const auto unknown = unknown_subcommand(app, argv[1])) return fail(2, unknown->c_str());
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
      if (sub->parsed()) {
        require_one_verbosity();
        check_standard_streams(*sub);
        const auto start = std::chrono::steady_clock::now();
        const int code = run();
        note("%s finished in %.3f s (exit status %d)", sub->get_name().c_str(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), code);
        return code;
      }
    return fail(2, "no subcommand given; see 'convgrad help'");
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

}  // namespace
