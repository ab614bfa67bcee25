// Input and output files of the commands (see files.hpp).
#include "files.hpp"

#include <filesystem>

#include "convgrad/errors.hpp"

namespace convgrad::cli {
namespace {

std::string str(std::string_view s) { return std::string(s); }

}  // namespace

io::Signal read_input(const std::string& path, std::string_view role, std::optional<int> channel) {
  if (path.empty()) throw usage_error(str(role) + ": the file name is empty");
  return io::read_signal(path, channel);
}

SignalPair read_xy(const std::string& x_path, const std::string& y_path, std::optional<int> channel) {
  SignalPair p;
  p.x = read_input(x_path, "x", io::is_sound_file(x_path) ? channel : std::nullopt).samples;
  p.y = read_input(y_path, "y", io::is_sound_file(y_path) ? channel : std::nullopt).samples;
  if (p.x.size() != p.y.size())
    throw io_error("x (" + x_path + ") has " + std::to_string(p.x.size()) + " samples but y (" + y_path +
                   ") has " + std::to_string(p.y.size()) + "; they must have the same length");
  return p;
}

Kernel read_kernel(const std::string& path, std::string_view option, const TapOptions& o) {
  if (path.empty()) throw usage_error(str(option) + ": the file name is empty");
  io::TapsFile file = io::read_taps(path);
  Kernel k;
  k.taps = taps_for_file(file, o, path);
  k.h = std::move(file.h);
  k.sample_rate = file.sample_rate;
  return k;
}

namespace {

// True when two non-empty names denote one file, existing or not.
bool same_file(const std::string& p, const std::string& q) {
  namespace fs = std::filesystem;
  if (p.empty() || q.empty()) return false;
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
  for (io::StagedFile& f : staged) f.commit();
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
