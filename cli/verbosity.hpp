// How much a subcommand says, the same in every one (--quiet, --verbose):
//
//   default    the subcommand's report on standard output (what it computed, what it wrote);
//   --quiet    no report: standard output carries only data asked for (--json, or an output
//              named '-'); warnings and errors still go to standard error;
//   --verbose  the report, and on standard error one "convgrad: ..." line for every input
//              read (format, samples, sample rate), every file written, and the time taken.
//
// An output named '-' writes data to standard output, so the report is left out as with
// --quiet (the stream stays parseable). The two options exclude each other.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace convgrad::cli {

// Adds --quiet and --verbose to `cmd`. `quiet`, if given, is also set by --quiet (and by an
// output to standard output), for subcommands that keep their own flag.
void add_verbosity_options(CLI::App& cmd, bool* quiet = nullptr);

// Back to the default level, before a command line is parsed (the fuzz harness runs many in
// one process).
void reset_verbosity();

// usage_error when both --quiet and --verbose were given.
void require_one_verbosity();

// No report on standard output: --quiet, or an output names '-'.
bool quiet();
bool verbose();

// An output goes to standard output: from now on the report is left out (quiet() is true).
void stdout_carries_data();

// Runs `report`, a subcommand whose whole standard output is its report (demo, explain), with
// standard output discarded under --quiet; returns its exit status.
int run_report(const std::function<int()>& report);

// With --verbose: prints "convgrad: " and the formatted line on standard error.
[[gnu::format(printf, 1, 2)]] void note(const char* format, ...);

}  // namespace convgrad::cli
