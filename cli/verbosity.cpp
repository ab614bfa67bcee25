// --quiet and --verbose (see verbosity.hpp). One process runs one subcommand, so the level
// is one value for the run, set while the command line is parsed.
#include "verbosity.hpp"

#include "commands.hpp"
#include "world.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>

namespace convgrad::cli {
namespace {

struct Level {
  bool quiet = false, verbose = false, quiet_for_data = false;
  bool* bound_quiet = nullptr;  // the subcommand's own flag, kept in step
};

Level& level() {
  static Level l;
  return l;
}

void set_quiet() {
  level().quiet = true;
  if (level().bound_quiet) *level().bound_quiet = true;
}

}  // namespace

void add_verbosity_options(CLI::App& cmd, bool* quiet_flag) {
  // (the two exclude each other: require_one_verbosity, not CLI11's excludes, whose
  // "Excludes:" would crowd every subcommand's help)
  cmd.add_flag_callback(
      "--quiet", [] { set_quiet(); }, "no report on standard output (only data asked for)");
  cmd.add_flag_callback(
      "--verbose", [] { level().verbose = true; },
      "also tell, on standard error: each input read, file written, time taken");
  // Once this subcommand is the one parsed, its own flag follows the level (an output to
  // standard output sets it after parsing, through stdout_carries_data).
  if (quiet_flag)
    cmd.parse_complete_callback([quiet_flag] {
      level().bound_quiet = quiet_flag;
      if (level().quiet) *quiet_flag = true;
    });
}

void require_one_verbosity() {
  if (level().verbose && level().quiet && !level().quiet_for_data)
    throw usage_error("--quiet and --verbose exclude each other; give one of them");
}

void reset_verbosity() { level() = Level{}; }

bool quiet() { return level().quiet; }
bool verbose() { return level().verbose; }

void stdout_carries_data() {
  level().quiet_for_data = true;
  set_quiet();
}

namespace {

// Standard output sent to /dev/null for the guard's lifetime (restored even on an exception).
class DiscardStdout {
 public:
  DiscardStdout() {
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved_ >= 0 && null >= 0) ::dup2(null, STDOUT_FILENO);
    if (null >= 0) ::close(null);
  }
  ~DiscardStdout() {
    std::fflush(stdout);
    if (saved_ < 0) return;
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
  }
  DiscardStdout(const DiscardStdout&) = delete;
  DiscardStdout& operator=(const DiscardStdout&) = delete;

 private:
  int saved_ = -1;
};

}  // namespace

int run_report(const std::function<int()>& report) {
  if (!quiet()) return report();
  DiscardStdout discard;
  return report();
}

void note(const char* format, ...) {
  if (!level().verbose || !dist::world().is_root()) return;  // under mpirun, rank 0 speaks for all
  std::fputs("convgrad: ", stderr);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

}  // namespace convgrad::cli
