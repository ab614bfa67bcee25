// The command as a whole and its shared conventions (see app.hpp).
#include "app.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>

#include "convgrad/io.hpp"
#include "convgrad/version.hpp"
#include "files.hpp"
#include "verbosity.hpp"

namespace convgrad::cli {
namespace {

// The help's placeholder for every option that takes a value, by option name (one name has
// one meaning in every subcommand), and whether its value is a file read or written.
struct OptionWord {
  std::string_view name, word;
  Role role = Role::value;
};
constexpr std::array kOptionWords = {
    // files read
    OptionWord{"--x", "FILE", Role::input_file},
    OptionWord{"--y", "FILE", Role::input_file},
    OptionWord{"--h", "FILE", Role::input_file},
    OptionWord{"--validate", "FILE", Role::input_file},
    OptionWord{"--true-h", "FILE", Role::input_file},
    OptionWord{"--h0", "FILE", Role::input_file},
    // files written
    OptionWord{"--out", "FILE", Role::output_file},
    OptionWord{"--out-dh", "FILE", Role::output_file},
    OptionWord{"--out-dx", "FILE", Role::output_file},
    OptionWord{"--out-error", "FILE", Role::output_file},
    OptionWord{"--out-h", "FILE", Role::output_file},
    OptionWord{"--summary", "FILE", Role::output_file},
    OptionWord{"--history", "FILE", Role::output_file},
    OptionWord{"--report", "FILE", Role::output_file},
    OptionWord{"--plot", "FILE", Role::output_file},
    // the taps: M half-width, K number of taps, L and H the first and last tap m
    OptionWord{"--half-width", "M"},
    OptionWord{"--taps", "M"},
    OptionWord{"--kernel-size", "K"},
    OptionWord{"--causal", "K"},
    OptionWord{"--lo", "L"},
    OptionWord{"--hi", "H"},
    // a number of samples
    OptionWord{"--n", "N"},
    OptionWord{"--frames", "N"},
    OptionWord{"--window", "N"},
    OptionWord{"--block", "N"},
    OptionWord{"--chunk-rows", "ROWS"},
    // a choice among names
    OptionWord{"--method", "NAME"},
    OptionWord{"--dtype", "NAME"},
    OptionWord{"--solver", "NAME"},
    OptionWord{"--algo", "NAME"},
    OptionWord{"--wav-format", "NAME"},
    // everything else, one word each
    OptionWord{"--column", "COLUMN"},
    OptionWord{"--channel", "C"},
    OptionWord{"--sample-rate", "HZ"},
    OptionWord{"--seed", "SEED"},
    OptionWord{"--ridge", "LAMBDA"},
    OptionWord{"--lambda", "FACTOR"},
    OptionWord{"--tol", "TOL"},
    OptionWord{"--loss-tol", "TOL"},
    OptionWord{"--time-limit", "SECONDS"},
    OptionWord{"--max-iter", "ITERATIONS"},
    OptionWord{"--lr", "RATE"},
    OptionWord{"--beta1", "BETA"},
    OptionWord{"--beta2", "BETA"},
    OptionWord{"--adam-eps", "EPS"},
    OptionWord{"--batch", "PAIRS"},
    OptionWord{"--partitions", "P"},
    OptionWord{"--mu", "MU"},
    OptionWord{"--delta", "DELTA"},
};

const OptionWord* word_of(const CLI::Option& option) {
  for (const OptionWord& w : kOptionWords)
    for (const std::string& l : option.get_lnames())
      if (w.name == "--" + l) return &w;
  return nullptr;
}

bool is_flag(const CLI::Option& option) { return option.get_type_size_max() == 0; }

// Footers are printed as written: wrapped here at about 100 columns.
std::string wrapped(std::string_view text) {
  std::string out, line;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t space = text.find(' ', at);
    const std::string_view w = text.substr(at, space == std::string_view::npos ? text.npos : space - at);
    if (!line.empty() && line.size() + 1 + w.size() > 100) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + std::string(w);
    at = space == std::string_view::npos ? text.size() : space + 1;
  }
  return out + line;
}

bool reads_or_writes_files(const CLI::App& sub) {
  for (const CLI::Option* o : sub.get_options())
    if (role_of(*o) == Role::input_file || role_of(*o) == Role::output_file) return true;
  return false;
}

// The conventions every subcommand follows (app.hpp).
void apply_conventions(CLI::App& sub, const std::string& version) {
  sub.set_version_flag("--version", version, "print the version and exit");
  for (CLI::Option* o : sub.get_options())
    if (const OptionWord* w = word_of(*o)) o->type_name(std::string(w->word));
  std::string footer = sub.get_footer();
  if (reads_or_writes_files(sub)) footer += (footer.empty() ? "" : "\n") + wrapped(kStandardStreams);
  footer += (footer.empty() ? "" : "\n") + wrapped(kExitStatus);
  sub.footer(footer);
}

// The edit distance of a and b (insertions, deletions, substitutions), for "did you mean".
std::size_t distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// `convgrad help [SUBCOMMAND]`: the same text as `convgrad [SUBCOMMAND] --help`.
Run add_help(CLI::App& app) {
  auto name = std::make_shared<std::string>();
  CLI::App* help = app.add_subcommand("help", "print the help of convgrad or of one subcommand");
  help->add_option("SUBCOMMAND", *name, "the subcommand whose options to describe");
  return [&app, name] {
    // (the formatter itself: App::help would describe the subcommand parsed, `help`)
    const CLI::App* of = &app;
    std::string usage = app.get_name();
    if (!name->empty()) {
      if (const auto unknown = unknown_subcommand(app, *name)) throw usage_error(*unknown);
      of = app.get_subcommand(*name);
      usage += " " + *name;
    }
    std::fputs(of->get_formatter()->make_help(of, usage, CLI::AppFormatMode::Normal).c_str(), stdout);
    return 0;
  };
}

// `convgrad __generate DIR`, hidden: writes DIR/convgrad.1, DIR/convgrad.bash and
// DIR/_convgrad from the parser's definitions (the build runs it; cli/CMakeLists.txt).
Run add_generator(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* gen = app.add_subcommand("__generate", "write the man page and the completions");
  gen->group("");  // hidden
  gen->add_option("DIR", *dir, "the directory to write into")->required();
  return [&app, dir] {
    const std::filesystem::path d(*dir);
    io::write_file_atomic((d / "convgrad.1").string(), man_page(app));
    io::write_file_atomic((d / "convgrad.bash").string(), bash_completion(app));
    io::write_file_atomic((d / "_convgrad").string(), zsh_completion(app));
    return 0;
  };
}

}  // namespace

Role role_of(const CLI::Option& option) {
  if (is_flag(option)) return Role::flag;
  const OptionWord* w = word_of(option);
  return w ? w->role : Role::value;
}

std::vector<Subcommand> build_command(CLI::App& app) {
  reset_verbosity();
  const std::string version = std::string("convgrad ") + convgrad::version;
  app.set_version_flag("--version", version, "print the version and exit");
  app.require_subcommand(1);
  std::vector<Subcommand> commands;
  for (Run (*adder)(CLI::App&) :
       {add_demo, add_grad, add_check, add_explain, add_fit, add_apply, add_tune, add_adapt}) {
    const std::size_t before = app.get_subcommands({}).size();
    Run run = adder(app);
    CLI::App* sub = app.get_subcommands({})[before];
    if (!sub->get_option_no_throw("--verbose")) add_verbosity_options(*sub);
    if (sub->get_option_no_throw("--x") && !sub->get_option_no_throw("--column")) add_column_option(*sub);
    apply_conventions(*sub, version);
    commands.push_back({sub, std::move(run)});
  }
  for (Run (*adder)(CLI::App&) : {add_help, add_generator}) {
    Run run = adder(app);
    CLI::App* sub = app.get_subcommands({}).back();
    sub->set_version_flag("--version", version, "print the version and exit");
    commands.push_back({sub, std::move(run)});
  }
  app.footer(wrapped("Run 'convgrad help SUBCOMMAND' (or 'convgrad SUBCOMMAND --help') for the options of "
                     "one subcommand; every subcommand takes --quiet and --verbose.") +
             "\n" + wrapped(kStandardStreams) + "\n" + wrapped(kExitStatus));
  return commands;
}

std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  std::vector<const CLI::App*> out;
  for (const CLI::App* s : app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); }))
    out.push_back(s);
  return out;
}

std::optional<std::string> unknown_subcommand(const CLI::App& app, std::string_view name) {
  for (const CLI::App* s : app.get_subcommands({}))  // the hidden ones too
    if (s->get_name() == name) return std::nullopt;
  std::string list, closest;
  std::size_t best = name.size() <= 3 ? 2 : 3;  // suggest a name within one edit (two if longer)
  for (const CLI::App* s : visible_subcommands(app)) {
    list += (list.empty() ? "" : ", ") + s->get_name();
    if (const std::size_t d = distance(name, s->get_name()); d < best) best = d, closest = s->get_name();
  }
  return "unknown subcommand '" + std::string(name) + "'" +
         (closest.empty() ? "" : " (did you mean '" + closest + "'?)") + "; the subcommands are " + list +
         "; see 'convgrad help'";
}

void check_standard_streams(const CLI::App& sub) {
  std::vector<std::string> readers, writers;
  bool json = false;
  for (const CLI::Option* o : sub.get_options()) {
    if (o->count() == 0) continue;
    if (o->check_lname("json")) json = true;
    const Role role = role_of(*o);
    if (role != Role::input_file && role != Role::output_file) continue;
    for (const std::string& value : o->results())
      if (value == "-") (role == Role::input_file ? readers : writers).push_back(o->get_name());
  }
  if (readers.size() > 1)
    throw usage_error(readers[0] + " and " + readers[1] +
                      " both read standard input ('-'); only one input can (give the other as a file)");
  if (writers.size() > 1)
    throw usage_error(writers[0] + " and " + writers[1] +
                      " both write standard output ('-'); only one output can (give the other a file name)");
  if (!writers.empty() && json)
    throw usage_error(writers[0] + " - and --json both write standard output; drop one of them");
  if (!writers.empty()) stdout_carries_data();
}

}  // namespace convgrad::cli
