// Fuzz target: the `convgrad` command line, in-process. The input is split into argv words at
// NUL bytes and newlines (a final separator ends the last word), and the command's own main
// (cli/main.cpp, built here with `main` renamed to convgrad_cli_main) parses and runs them.
//
// Confinement. The command runs with its working directory set to a scratch directory that
// holds only small fixture files (below), recreated before every run, with stdin at EOF. A
// run is dispatched, the command really executed, only when it is safe_to_run(): no word
// can name a path outside the directory, nothing starts a timing measurement (tune, --tune),
// the built-in demo is not run, every number is small, and an iterative fit has an iteration
// cap. Otherwise `--help` is put first: every word is still parsed and every value converted
// (CLI11 converts before it looks at --help), but nothing runs.
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"

int convgrad_cli_main(int argc, char** argv);  // cli/main.cpp's main, renamed

namespace {

using namespace convgrad::fuzz;
namespace io = convgrad::io;

// The largest number any word may hold in a dispatched run: it bounds N (--n), the taps
// (--taps, --causal, --kernel-size), --max-iter, --batch and the rest, so one run takes
// milliseconds under the sanitizers.
constexpr double kMaxNumber = 64;

std::vector<std::string> split_words(std::string_view bytes) {
  std::vector<std::string> words;
  std::string word;
  for (const char c : bytes) {
    if (c == '\0' || c == '\n') {
      words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

// A plain decimal number (sign, digits, optional fraction), |value| <= kMaxNumber. Exponents,
// hex and digit separators are not plain: a word holding such a number is not safe to run.
bool small_plain_number(std::string_view w) {
  if (!w.empty() && (w[0] == '-' || w[0] == '+')) w.remove_prefix(1);
  if (w.empty() || w.find_first_not_of("0123456789.") != std::string_view::npos) return false;
  double v = 0;
  const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), v, std::chars_format::fixed);
  return ec == std::errc() && end == w.data() + w.size() && v <= kMaxNumber;
}

bool has(const std::vector<std::string>& words, std::string_view w) {
  for (const std::string& x : words)
    if (x == w) return true;
  return false;
}

// True when running the command cannot leave the scratch directory, wait, or take long.
bool safe_to_run(const std::vector<std::string>& words) {
  for (const std::string& w : words) {
    // Paths: a name without '/' is in the working directory; ".." is its parent.
    if (w.find('/') != std::string::npos || w.find("..") != std::string::npos) return false;
    // Timing measurements take a second and write the tuning cache.
    if (w == "tune" || w.starts_with("--tune") || w == "demo") return false;
    // Numbers, also in --name=value, must be small and plain.
    const std::string_view value = w.starts_with("-") && w.find('=') != std::string::npos
                                       ? std::string_view(w).substr(w.find('=') + 1)
                                       : std::string_view(w);
    if (value.find_first_of("0123456789") != std::string_view::npos && !small_plain_number(value))
      return false;
  }
  // An iterative fit stops at --max-iter (default 100000); the exact solver takes none.
  const bool iterative_fit = has(words, "fit") && !has(words, "exact") && !has(words, "--solver=exact");
  bool capped = false;
  for (const std::string& w : words) capped = capped || w.starts_with("--max-iter");
  return !iterative_fit || capped;
}

// The files a command line can name: two signals of 16 samples in each format, and taps in
// each format fit writes. Made once with convgrad's own writers; kept as bytes.
std::map<std::string, std::string> make_fixtures() {
  const fs::path dir = scratch_dir() / "fixtures";
  fs::create_directories(dir);
  std::vector<double> x(16), y(16);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<double>((i * 7) % 11) / 4.0 - 1.0;
    y[i] = 0.5 * x[i] + (i > 0 ? 0.25 * x[i - 1] : 0.0);
  }
  const std::vector<double> h = {0.25, 0.5, 0.25};
  io::write_array((dir / "x.csv").string(), x);
  io::write_array((dir / "y.csv").string(), y);
  io::write_array((dir / "x.npy").string(), x);
  io::write_array((dir / "y.npy").string(), y);
  io::write_wav((dir / "x.wav").string(), x, 8000);
  io::write_wav((dir / "y.wav").string(), y, 8000);
  io::write_array((dir / "h.npy").string(), h);
  io::write_file_atomic((dir / "h.json").string(), R"({"lo": 0, "hi": 2, "K": 3, "h": [0.25, 0.5, 0.25]})");
  io::write_file_atomic((dir / "h.csv").string(), "# convgrad taps m = -1..1 (lo = -1)\n0.25\n0.5\n0.25\n");
  std::map<std::string, std::string> bytes;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    bytes[entry.path().filename().string()].assign(std::istreambuf_iterator<char>(in), {});
  }
  fs::remove_all(dir);
  return bytes;
}

// The working directory of every run: emptied of what the last run wrote, fixtures restored.
const fs::path& fresh_work_dir() {
  static const std::map<std::string, std::string> fixtures = make_fixtures();
  static const fs::path dir = scratch_dir() / "work";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  for (const auto& [name, bytes] : fixtures)
    write_bytes(dir / name, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return dir;
}

// Once per process: nothing read from stdin can block (it is /dev/null), tuning is off
// whatever the environment says, and its cache, were it touched, is in the scratch directory.
void confine_process() {
  static const bool done = [] {
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO), ::close(null);
    ::unsetenv("CONVGRAD_TUNE");
    ::setenv("CONVGRAD_TUNE_CACHE", (scratch_dir() / "tune.json").c_str(), 1);
    return true;
  }();
  (void)done;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  confine_process();
  std::vector<std::string> words = split_words(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!safe_to_run(words)) words.insert(words.begin(), "--help");
  words.insert(words.begin(), "convgrad");
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  const fs::path home = fs::current_path();
  fs::current_path(fresh_work_dir());
  (void)convgrad_cli_main(static_cast<int>(words.size()), argv.data());
  fs::current_path(home);
  return 0;
}
