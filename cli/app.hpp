// The `convgrad` command as a whole: its subcommands, and the conventions every one of them
// follows, set here in one place so that --help, the man page and the completions agree:
//
//   --help, --version, --quiet and --verbose on every subcommand (verbosity.hpp);
//   `convgrad help [SUBCOMMAND]`, and an unknown subcommand named with the list;
//   the exit status in every --help (kExitStatus);
//   one placeholder word per meaning in the help (FILE for every file, N for a count of
//   samples, NAME for a choice among names, ...), and '-' as standard input or output;
//   a hidden subcommand that writes the man page and the bash and zsh completions
//   (generate.cpp), run by the build.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"

namespace convgrad::cli {

// What the exit status means, for --help and the man page.
inline constexpr std::string_view kExitStatus =
    "Exit status: 0 success; 1 bad data, a file that cannot be read or written, or (check, demo) "
    "a result beyond its tolerance; 2 a usage error (an unknown subcommand or option, a bad value or "
    "combination); 128+N killed by signal N (141: the reader of standard output went away, e.g. | head).";

// What '-' means, for --help and the man page.
inline constexpr std::string_view kStandardStreams =
    "A file option given '-' reads standard input (one input at most; .npy and WAV are recognised by "
    "their first bytes, anything else is read as text) or writes standard output (text; the report "
    "is then left out, as with --quiet).";

struct Subcommand {
  CLI::App* app;
  Run run;
};

// Registers every subcommand on `app` (named "convgrad") with the conventions above.
std::vector<Subcommand> build_command(CLI::App& app);

// The subcommands a user sees (not the hidden generator), in the order of the help.
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app);

// "unknown subcommand 'foo'; the subcommands are ...", or nullopt when `name` is one.
std::optional<std::string> unknown_subcommand(const CLI::App& app, std::string_view name);

// What an option's value is: a file read, a file written, another value, or none (a flag).
enum class Role { input_file, output_file, value, flag };
Role role_of(const CLI::Option& option);

// Usage checks on the parsed subcommand that concern every one alike: at most one input and
// one output given as '-', and no output to standard output together with --json. Marks the
// report as left out when an output goes to standard output. Throws usage_error.
void check_standard_streams(const CLI::App& sub);

// The man page (roff) and the bash and zsh completion scripts, from the parser's definitions.
std::string man_page(const CLI::App& app);
std::string bash_completion(const CLI::App& app);
std::string zsh_completion(const CLI::App& app);

}  // namespace convgrad::cli
