// The man page and the bash and zsh completions, written from the parser's own definitions
// (the subcommands, their options, placeholders and descriptions), so that they cannot
// disagree with --help. The build runs `convgrad __generate DIR` (cli/CMakeLists.txt) and
// `cmake --install` installs the three files (cmake/install.cmake).
#include <string>
#include <string_view>
#include <vector>

#include "app.hpp"
#include "convgrad/version.hpp"

namespace convgrad::cli {
namespace {

// The options a user gives a subcommand, in the order of its help (not the hidden ones).
std::vector<const CLI::Option*> options_of(const CLI::App& sub) {
  std::vector<const CLI::Option*> out;
  for (const CLI::Option* o : sub.get_options())
    if (!o->get_group().empty() && !o->get_lnames().empty()) out.push_back(o);
  return out;
}

std::string long_name(const CLI::Option& o) { return "--" + o.get_lnames().front(); }

// ---- roff ------------------------------------------------------------------------------------

// Text as roff reads it literally: backslashes and hyphens escaped, and a line that would
// start with a control character ('.' or ') guarded by \&.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (const char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
    line_start = c == '\n';
  }
  return out;
}

// A footer as paragraphs: its lines joined (they were wrapped for a terminal).
std::string roff_paragraphs(std::string_view text) {
  std::string joined;
  for (const char c : text) joined += c == '\n' ? ' ' : c;
  return ".PP\n" + roff(joined) + "\n";
}

void man_options(std::string& out, const CLI::App& sub) {
  for (const CLI::Option* o : options_of(sub)) {
    out += ".TP\n.B " + roff(long_name(*o));
    if (role_of(*o) != Role::flag) out += " \\fI" + roff(o->get_type_name()) + "\\fR";
    out += "\n" + roff(o->get_description()) + "\n";
  }
}

// ---- shell quoting -----------------------------------------------------------------------------

// 'text' for sh and zsh: a single quote becomes '\''.
std::string single_quoted(std::string_view text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A zsh _arguments description: brackets and colons escaped, on one line.
std::string zsh_description(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '[' || c == ']' || c == ':' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

}  // namespace

std::string man_page(const CLI::App& app) {
  std::string out;
  out += ".\\\" The convgrad man page, generated from the command's parser by `convgrad __generate`.\n";
  out += ".TH CONVGRAD 1 \"\" \"convgrad " + roff(convgrad::version) + "\" \"User Commands\"\n";
  out += ".SH NAME\nconvgrad \\- " +
         roff(app.get_description().substr(app.get_description().find(": ") + 2)) + "\n";
  out +=
      ".SH SYNOPSIS\n.B convgrad\n.I SUBCOMMAND\n[\\fIOPTIONS\\fR]\n.br\n.B convgrad help\n"
      "[\\fISUBCOMMAND\\fR]\n.br\n.B convgrad \\-\\-version\n";
  out += ".SH DESCRIPTION\n" + roff(app.get_description()) + "\n";
  out += roff_paragraphs(
      "Every subcommand takes --help, --version, --quiet (no report on standard output) and --verbose "
      "(each input read, each file written and the time taken, on standard error).");
  out += ".SH SUBCOMMANDS\n";
  for (const CLI::App* sub : visible_subcommands(app)) {
    out += ".SS \"convgrad " + roff(sub->get_name()) + "\"\n" + roff(sub->get_description()) + "\n";
    man_options(out, *sub);
    if (!sub->get_footer().empty()) {
      // the conventions shared by all are in their own sections below
      std::string footer = sub->get_footer();
      if (const auto at = footer.find("A file option given '-'"); at != std::string::npos) footer.resize(at);
      if (const auto at = footer.find("Exit status:"); at != std::string::npos) footer.resize(at);
      if (footer.find_first_not_of(" \n") != std::string::npos) out += roff_paragraphs(footer);
    }
  }
  out += ".SH \"STANDARD INPUT AND OUTPUT\"\n" + roff(kStandardStreams) + "\n";
  out += ".SH \"EXIT STATUS\"\n" + roff(kExitStatus.substr(std::string_view("Exit status: ").size())) + "\n";
  out += ".SH \"SEE ALSO\"\nThe README and docs/ of convgrad; \\fBconvgrad help\\fR \\fISUBCOMMAND\\fR.\n";
  return out;
}

std::string bash_completion(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : visible_subcommands(app)) names += (names.empty() ? "" : " ") + sub->get_name();
  std::string out;
  out += "# bash completion for convgrad " + std::string(convgrad::version) +
         ", generated from the command's parser by `convgrad __generate`.\n";
  out += "_convgrad() {\n";
  out += "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n";
  out += "  local subcommands=" + single_quoted(names) + "\n";
  out += "  if ((COMP_CWORD == 1)); then\n";
  out += "    COMPREPLY=($(compgen -W \"$subcommands --help --version\" -- \"$cur\"))\n    return\n  fi\n";
  out += "  local options='' files='' values=''\n";
  out += "  case \"${COMP_WORDS[1]}\" in\n";
  for (const CLI::App* sub : visible_subcommands(app)) {
    std::string options, files, values;
    for (const CLI::Option* o : options_of(*sub)) {
      options += (options.empty() ? "" : " ") + long_name(*o);
      const Role role = role_of(*o);
      std::string& list = role == Role::input_file || role == Role::output_file ? files : values;
      if (role != Role::flag) list += (list.empty() ? "" : " ") + long_name(*o);
    }
    out += "    " + sub->get_name() + ")\n";
    if (sub->get_name() == "help")
      out += "      COMPREPLY=($(compgen -W \"$subcommands\" -- \"$cur\"))\n      return ;;\n";
    else
      out += "      options=" + single_quoted(options) + " files=" + single_quoted(files) +
             " values=" + single_quoted(values) + " ;;\n";
  }
  out += "    *) return ;;\n  esac\n";
  out += "  if [[ \" $files \" == *\" $prev \"* ]]; then\n";
  out += "    COMPREPLY=($(compgen -f -- \"$cur\"))\n    return\n  fi\n";
  out += "  [[ \" $values \" == *\" $prev \"* ]] && return  # a number or a name: nothing to offer\n";
  out += "  COMPREPLY=($(compgen -W \"$options\" -- \"$cur\"))\n";
  out += "}\n";
  out += "complete -o filenames -o bashdefault -F _convgrad convgrad\n";
  return out;
}

std::string zsh_completion(const CLI::App& app) {
  std::string out;
  out += "#compdef convgrad\n";
  out += "# zsh completion for convgrad " + std::string(convgrad::version) +
         ", generated from the command's parser by `convgrad __generate`.\n";
  out += "_convgrad() {\n  local curcontext=\"$curcontext\" state line\n  local -a subcommands\n";
  out += "  subcommands=(\n";
  for (const CLI::App* sub : visible_subcommands(app))
    out += "    " + single_quoted(sub->get_name() + ":" + zsh_description(sub->get_description())) + "\n";
  out += "  )\n";
  out +=
      "  _arguments -C '(- *)--help[print the help and exit]' '(- *)--version[print the version and exit]' "
      "'1: :->subcommand' '*:: :->option' && return\n";
  out += "  case $state in\n    subcommand) _describe -t subcommands 'convgrad subcommand' subcommands ;;\n";
  out += "    option)\n      case $line[1] in\n";
  for (const CLI::App* sub : visible_subcommands(app)) {
    out += "        " + sub->get_name() + ")\n";
    if (sub->get_name() == "help") {
      out += "          _describe -t subcommands 'convgrad subcommand' subcommands ;;\n";
      continue;
    }
    out += "          _arguments";
    for (const CLI::Option* o : options_of(*sub)) {
      std::string spec = "*" + long_name(*o) + "[" + zsh_description(o->get_description()) + "]";
      const Role role = role_of(*o);
      if (role == Role::input_file || role == Role::output_file)
        spec += ":" + zsh_description(o->get_type_name()) + ":_files";
      else if (role == Role::value)
        spec += ":" + zsh_description(o->get_type_name()) + ": ";
      out += " \\\n            " + single_quoted(spec);
    }
    out += " ;;\n";
  }
  out += "      esac ;;\n  esac\n}\n_convgrad \"$@\"\n";
  return out;
}

}  // namespace convgrad::cli
