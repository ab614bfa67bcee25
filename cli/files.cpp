// Input and output files of the commands (see files.hpp).
#include "files.hpp"

#include <filesystem>

#include "convgrad/errors.hpp"
#include "printing.hpp"
#include "verbosity.hpp"

namespace convgrad::cli {
namespace {

std::string str(std::string_view s) { return std::string(s); }

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

// Files whose extension names a format without columns (.npy, sound files) are given none.
bool may_be_table(const std::string& path) {
  return io::is_standard_input(path) || !(io::is_sound_file(path) || path.ends_with(".npy"));
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

io::Signal read_input(const std::string& path, std::string_view role, std::optional<int> channel) {
  if (path.empty()) throw usage_error(str(role) + ": the file name is empty");
  io::Signal s = io::read_signal(path, channel, may_be_table(path) ? column_for(role) : io::Column{});
  note("read %s from %s: %s, %zu samples%s", std::string(role).c_str(), io::display_name(path).c_str(),
       s.format.c_str(), s.samples.size(),
       s.sample_rate ? (" at " + format_number(*s.sample_rate) + " Hz").c_str() : "");
  return s;
}

std::unique_ptr<io::SignalReader> open_input(const std::string& path, std::string_view role,
                                             std::optional<int> channel) {
  if (path.empty()) throw usage_error(str(role) + ": the file name is empty");
  auto reader = io::open_signal_reader(path, channel, may_be_table(path) ? column_for(role) : io::Column{});
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

SignalPair read_xy(const std::string& x_path, const std::string& y_path, std::optional<int> channel) {
  SignalPair p;
  p.x = read_input(x_path, "x", channel_for(x_path, channel)).samples;
  p.y = read_input(y_path, "y", channel_for(y_path, channel)).samples;
  require_same_length(x_path, p.x.size(), y_path, p.y.size());
  return p;
}

Kernel read_kernel(const std::string& path, std::string_view option, const TapOptions& o) {
  if (path.empty()) throw usage_error(str(option) + ": the file name is empty");
  io::TapsFile file = io::read_taps(path);
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
  std::vector<std::pair<std::string, std::string>> paths;
  for (const Output& o : outputs) paths.emplace_back(o.option, o.path);
  require_distinct_outputs(paths);
  std::vector<io::StagedFile> staged;  // destroyed (temporaries removed) if any stage throws
  for (const Output& o : outputs)
    if (!o.path.empty()) staged.push_back(io::stage_array(o.path, o.values));
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
