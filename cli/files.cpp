// Input and output files of the commands (see files.hpp).
#include "files.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "convgrad/errors.hpp"
#include "printing.hpp"
#include "verbosity.hpp"

namespace convgrad::cli {
namespace {

std::string str(std::string_view s) { return std::string(s); }

// The --var values given on the command line: one command runs per process, so the option
// stores them here as it is parsed, and every .mat input reads them (see add_var_option).
std::vector<std::string>& var_specs() {
  static std::vector<std::string> specs;
  return specs;
}

}  // namespace

namespace {

// --column's values, as given (add_column_option).
std::vector<std::string>& column_options() {
  static std::vector<std::string> values;
  return values;
}

// The column for an input of `role`: its own "ROLE=SPEC", else a plain "SPEC" (which only
// the tables among the inputs take), else none.
io::Column column_for(std::string_view role) {
  io::Column plain{{}, true}, own;
  for (const std::string& v : column_options()) {
    const std::size_t eq = v.find('=');
    if (eq != std::string::npos && (v.substr(0, eq) == "x" || v.substr(0, eq) == "y")) {
      if (v.substr(0, eq) == role) own.spec = v.substr(eq + 1);
    } else {
      plain.spec = v;
    }
  }
  return own.spec.empty() ? plain : own;
}

}  // namespace

void add_column_option(CLI::App& cmd) {
  column_options().clear();  // a new command line (the fuzz harness parses many in one process)
  cmd.add_option("--column", column_options(),
                 "the column of a text table input: header name or 0-based index; x=C or y=C for one input");
}

std::optional<int> channel_for(const std::string& path, std::optional<int> channel) {
  return io::is_sound_file(path) || io::is_standard_input(path) ? channel : std::nullopt;
}

void add_var_option(CLI::App& cmd) {
  cmd.add_option_function<std::vector<std::string>>(
         "--var", [](const std::vector<std::string>& v) { var_specs() = v; },
         "variable of a .mat input: NAME for all, or x=NAME, y=NAME (default: the only vector, or the one "
         "named like the option)")
      ->type_name("NAME");
}

std::optional<std::string> mat_variable(std::string_view role) {
  std::optional<std::string> all, mine;
  for (const std::string& spec : var_specs()) {
    const std::size_t eq = spec.find('=');
    if (eq == std::string::npos) {
      if (spec.empty()) throw usage_error("--var: the variable name is empty");
      all = spec;
    } else if (eq == 0 || eq + 1 == spec.size()) {
      throw usage_error("--var '" + spec + "': give NAME or ROLE=NAME (e.g. x=signal)");
    } else if (spec.compare(0, eq, role) == 0) {
      mine = spec.substr(eq + 1);
    }
  }
  return mine ? mine : all;
}

io::Signal read_input(const std::string& path, std::string_view role, std::optional<int> channel) {
  if (path.empty()) throw usage_error(str(role) + ": the file name is empty");
  const auto noted = [&](io::Signal s) {
    note("read %s from %s: %s, %zu samples%s", std::string(role).c_str(), io::display_name(path).c_str(),
         s.format.c_str(), s.samples.size(),
         s.sample_rate ? (" at " + format_number(*s.sample_rate) + " Hz").c_str() : "");
    return s;
  };
  if (io::is_mat_file(path)) {
    if (const io::Column c = column_for(role); !c.spec.empty() && !c.tables_only)
      throw io_error(path + ": column '" + c.spec +
                     "' asked for, but a .mat file has variables, not columns (--var)");
    std::optional<std::string> var = mat_variable(role);
    if (!var) {
      // Among several vectors, the one named like the option (x for --x) is meant.
      std::size_t vectors = 0;
      bool named = false;
      const std::vector<io::MatVariable> vars = io::list_mat_variables(path);
      for (const io::MatVariable& v : vars) {
        vectors += v.is_signal ? 1 : 0;
        named = named || (v.is_signal && v.name == role);
      }
      if (vectors > 1 && named) var = std::string(role);
      if (vectors != 1 && !named)
        throw io_error(path + ": " + (vectors == 0 ? "holds no numeric vector" : "holds several vectors") +
                       "; choose one with --var NAME: " + io::describe_mat_variables(vars));
    }
    return noted(io::read_mat(path, var));
  }
  return noted(io::read_signal(path, channel, column_for(role)));
}

std::unique_ptr<io::SignalReader> open_input(const std::string& path, std::string_view role,
                                             std::optional<int> channel) {
  // A .mat file's variable is chosen by --var and read whole (libmatio reads no windows).
  if (io::is_mat_file(path)) return io::signal_reader_of(path, read_input(path, role, channel));
  if (path.empty()) throw usage_error(str(role) + ": the file name is empty");
  auto reader = io::open_signal_reader(path, channel, column_for(role));
  const auto& rate = reader->sample_rate();
  note("read %s from %s: %s, %llu samples%s", std::string(role).c_str(), io::display_name(path).c_str(),
       reader->format().c_str(), static_cast<unsigned long long>(reader->length()),
       rate ? (" at " + format_number(*rate) + " Hz").c_str() : "");
  return reader;
}

void require_same_length(const std::string& x_path, std::size_t nx, const std::string& y_path,
                         std::size_t ny) {
  if (nx == ny) return;
  const std::string x = "x (" + io::display_name(x_path) + ")", y = "y (" + io::display_name(y_path) + ")";
  const std::size_t d = nx > ny ? nx - ny : ny - nx;
  const std::string head = y + " has " + std::to_string(ny) + " samples but " + x + " has " +
                           std::to_string(nx) + " samples (" + std::to_string(d) +
                           (ny > nx ? " more" : " fewer") +
                           " in y); x and y must have the same length N, as yhat = h * x has N samples";
  if (ny > nx)
    throw io_error(
        head + ". If y is a full convolution (N + K - 1 samples, here K = " + std::to_string(d + 1) +
        " taps), keep its N samples from index -lo: the first N for causal taps (lo = 0), or drop " +
        "(K-1)/2 at each end for centred taps (numpy.convolve mode 'same')");
  throw io_error(
      head + ". Trim x to y's " + std::to_string(ny) +
      " samples, or y was cut short (a 'valid' convolution is N - K + 1 long: compute it in 'same' "
      "mode)");
}

std::vector<double> read_values(const std::string& value, std::string_view option) {
  const bool list = !value.empty() && value.find_first_not_of("0123456789+-.eE, \t") == std::string::npos &&
                    value.find_first_of("0123456789") != std::string::npos;
  if (!list) return read_input(value, option.substr(option.find_first_not_of('-'))).samples;
  std::string commas;  // the list without blanks: an empty entry shows as ",," or an end comma
  for (const char c : value)
    if (c != ' ' && c != '\t') commas += c;
  if (commas.front() == ',' || commas.back() == ',' || commas.find(",,") != std::string::npos)
    throw usage_error(str(option) + ": an empty entry in the list '" + value + "'");
  std::vector<double> v;
  for (std::size_t at = 0; at < value.size();) {
    const std::size_t end = std::min(value.find_first_of(", \t", at), value.size());
    const std::string token = value.substr(at, end - at);
    at = end + 1;
    if (token.empty()) continue;
    const std::size_t sign = token.size() > 1 && token[0] == '+' ? 1 : 0;  // from_chars takes no '+'
    double d = 0;
    const auto [ptr, ec] = std::from_chars(token.data() + sign, token.data() + token.size(), d);
    if (ec != std::errc() || ptr != token.data() + token.size() || !std::isfinite(d))
      throw usage_error(str(option) + ": '" + token + "' (entry " + std::to_string(v.size()) +
                        ", 0-based) is not a finite number");
    v.push_back(d);
  }
  return v;
}

namespace {

std::string extension_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

void require_output_format(const std::string& option, const std::string& path, OutputKind kind) {
  const std::string ext = extension_of(path);
  if (path.empty() || ext.empty() || io::is_stream_target(path)) return;
  auto refuse = [&](const std::string& formats) {
    throw usage_error(option + " " + path + ": '" + ext + "' is not a format " + option +
                      " writes; give one of " + formats);
  };
  switch (kind) {
    case OutputKind::values:
    case OutputKind::sound:
      if (kind == OutputKind::sound && io::is_sound_file(path)) {
        if (ext != ".wav" && ext != ".wave")
          refuse(io::array_formats() + ", .wav (convert the WAV afterwards)");
        return;
      }
      try {
        io::require_array_format(path);
      } catch (const convgrad::invalid_argument&) {
        refuse(io::array_formats() + (kind == OutputKind::sound ? ", .wav" : ""));
      }
      return;
    case OutputKind::taps:
      return;  // io::require_taps_format checks taps, with the range they must record
    case OutputKind::json:
      if (ext != ".json") refuse(".json");
      return;
    case OutputKind::table:
      if (ext != ".csv" && ext != ".txt") refuse(".csv, .txt");
      return;
    case OutputKind::html:
      if (ext != ".html" && ext != ".htm") refuse(".html, .htm");
      return;
    case OutputKind::picture:
      if (ext != ".svg" && ext != ".png") refuse(".svg, .png");
      return;
  }
}

io::WavFormat wav_format_option(const std::string& name) {
  try {
    return io::parse_wav_format(name);
  } catch (const convgrad::invalid_argument& e) {
    throw usage_error(std::string("--wav-format: ") + e.what());
  }
}

void warn_if_clipped(const std::string& path, const io::WavClipping& clipped, io::WavFormat format) {
  if (clipped.count == 0) return;
  std::fprintf(
      stderr,
      "convgrad: warning: %s: %llu sample(s) outside [-1, 1] clipped to full scale in %s-bit PCM (the "
      "first at sample %llu, the largest |value| %s); --wav-format float keeps them\n",
      path.c_str(), static_cast<unsigned long long>(clipped.count),
      format == io::WavFormat::pcm16 ? "16" : "24", static_cast<unsigned long long>(clipped.first),
      format_number(clipped.peak, 6).c_str());
}

SignalPair read_xy(const std::string& x_path, const std::string& y_path, std::optional<int> channel) {
  SignalPair p;
  p.x = read_input(x_path, "x", channel_for(x_path, channel)).samples;
  p.y = read_input(y_path, "y", channel_for(y_path, channel)).samples;
  require_same_length(x_path, p.x.size(), y_path, p.y.size());
  return p;
}

Kernel read_kernel(const std::string& path, std::string_view option, const TapOptions& o) {
  if (path.empty()) throw usage_error(str(option) + ": the file name is empty");
  // --var h=NAME (or NAME) picks the taps among a .mat file's variables; they record no range.
  const std::string role = str(option.substr(option.find_first_not_of('-')));
  const std::optional<std::string> var = io::is_mat_file(path) ? mat_variable(role) : std::nullopt;
  io::TapsFile file =
      var ? io::TapsFile{io::read_mat(path, var).samples, std::nullopt, std::nullopt} : io::read_taps(path);
  Kernel k;
  k.taps = taps_for_file(file, o, io::display_name(path));
  note("read %s from %s: %zu taps m = %lld..%lld", std::string(option).c_str(),
       io::display_name(path).c_str(), k.taps.K(), static_cast<long long>(k.taps.lo),
       static_cast<long long>(k.taps.hi));
  k.h = std::move(file.h);
  k.sample_rate = file.sample_rate;
  return k;
}

namespace {

// True when two non-empty names denote one file, existing or not. "-" is standard input as
// an input and standard output as an output: never the same file as anything here (two
// outputs to standard output are refused before, check_standard_streams in app.cpp).
bool same_file(const std::string& p, const std::string& q) {
  namespace fs = std::filesystem;
  if (p.empty() || q.empty() || p == "-" || q == "-") return false;
  if (p == q) return true;
  std::error_code e1, e2;
  // weakly_canonical resolves "./a" vs "a" and symlinked directories without needing the file.
  // (made absolute first: a relative name of a file that does not exist yet stays relative)
  const fs::path a = fs::weakly_canonical(fs::absolute(p), e1);
  const fs::path b = fs::weakly_canonical(fs::absolute(q), e2);
  return !e1 && !e2 && a == b;
}

}  // namespace

void require_distinct_outputs(const std::vector<std::pair<std::string, std::string>>& paths) {
  for (std::size_t i = 0; i < paths.size(); ++i)
    for (std::size_t j = i + 1; j < paths.size(); ++j)
      if (same_file(paths[i].second, paths[j].second))
        throw usage_error(paths[i].first + " and " + paths[j].first + " name the same file '" +
                          paths[i].second + "'");
}

void require_outputs_not_inputs(const std::vector<std::pair<std::string, std::string>>& outputs,
                                const std::vector<std::pair<std::string, std::string>>& inputs) {
  for (const auto& [out_option, out] : outputs)
    for (const auto& [in_option, in] : inputs)
      if (same_file(out, in))
        throw usage_error(out_option + " '" + out + "' is the " + in_option +
                          " input file; writing it would replace the data (choose another output name)");
}

void commit_all(std::vector<io::StagedFile>& staged) {
  // Every file is complete on disk already; renames within a directory do not fail for
  // want of space, so committing them one after another is all-or-nothing in practice.
  for (io::StagedFile& f : staged) {
    f.commit();
    note("wrote %s", f.path() == "-" ? "standard output" : f.path().c_str());
  }
}

void write_outputs(const std::vector<Output>& outputs) {
  std::vector<io::StagedFile> none;
  write_outputs(outputs, none);
}

void write_outputs(const std::vector<Output>& outputs, std::vector<io::StagedFile>& staged) {
  std::vector<std::pair<std::string, std::string>> paths;
  for (const Output& o : outputs) paths.emplace_back(o.option, o.path);
  require_distinct_outputs(paths);
  // `staged` is destroyed (temporaries removed) by the caller if any stage throws.
  for (const Output& o : outputs)
    if (!o.path.empty()) staged.push_back(io::stage_array(o.path, o.values, o.name));
  commit_all(staged);
}

void require_output_directories(const std::vector<std::pair<std::string, std::string>>& outputs) {
  for (const auto& [option, path] : outputs) {
    if (path.empty()) continue;
    const std::filesystem::path p(path);
    const auto dir = p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw io_error(option + " " + path + ": the directory " + dir.string() + " does not exist");
    if (std::filesystem::is_directory(p, ec)) throw io_error(option + " " + path + ": is a directory");
  }
}

}  // namespace convgrad::cli
