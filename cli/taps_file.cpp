// Reading and writing taps with their range (see taps_file.hpp).
#include "taps_file.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.hpp"
#include "convgrad/errors.hpp"

namespace convgrad::cli {
namespace {

std::string lower_extension(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string e = path.substr(dot);
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A tap offset recorded in a file is data, not an option: out of range is the file's error
// (io_error naming it, exit 1), not a usage error about --lo.
std::int64_t require_recorded_lo(std::int64_t lo, const std::string& path) {
  if (lo < -kMaxTapOffset || lo > kMaxTapOffset)
    throw io_error(path + ": the recorded first tap lo = " + std::to_string(lo) + " is out of range [-" +
                   std::to_string(kMaxTapOffset) + ", " + std::to_string(kMaxTapOffset) + "]");
  return lo;
}

TapsFile read_json_taps(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw io_error(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) throw io_error(path + ": is a directory, not a file");
  const std::string text = slurp(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw io_error(path + ": not valid JSON (byte " + std::to_string(e.byte) + ")");
  } catch (const nlohmann::json::exception&) {  // e.g. out_of_range: a number like 1e400
    throw io_error(path + ": not valid JSON for taps (a number beyond the float64 range?)");
  }
  const nlohmann::json* values = &j;
  TapsFile t;
  if (j.is_object()) {
    if (!j.contains("h")) throw io_error(path + ": a JSON taps file needs an \"h\" array");
    values = &j["h"];
    if (j.contains("lo")) {
      // An unsigned beyond int64 (is_number_integer too) would wrap to a negative tap.
      if (!j["lo"].is_number_integer() ||
          (j["lo"].is_number_unsigned() &&
           j["lo"].get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxTapOffset)))
        throw io_error(path + ": \"lo\" must be an integer in [-" + std::to_string(kMaxTapOffset) + ", " +
                       std::to_string(kMaxTapOffset) + "]");
      t.lo = require_recorded_lo(j["lo"].get<std::int64_t>(), path);
    }
  }
  if (!values->is_array() || values->empty())
    throw io_error(path + ": \"h\" must be a non-empty array of numbers");
  for (std::size_t i = 0; i < values->size(); ++i) {
    const auto& v = (*values)[i];
    if (!v.is_number()) throw io_error(path + ": h[" + std::to_string(i) + "] is not a number");
    const double d = v.get<double>();
    if (!std::isfinite(d)) throw io_error(path + ": h[" + std::to_string(i) + "] is not finite");
    t.h.push_back(d);
  }
  if (j.is_object() && j.contains("hi") && t.lo) {
    if (!j["hi"].is_number_integer() ||
        j["hi"].get<std::int64_t>() != *t.lo + static_cast<std::int64_t>(t.h.size()) - 1)
      throw io_error(path + ": \"hi\" disagrees with \"lo\" and the number of taps");
  }
  return t;
}

// "# convgrad taps m = L..H (lo = L)" on the first line of a text file.
std::optional<std::int64_t> text_header_lo(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  const auto at = line.find("(lo = ");
  if (line.rfind("# convgrad taps", 0) != 0 || at == std::string::npos) return std::nullopt;
  // strtoll, not sscanf: it saturates (and sets ERANGE) instead of overflowing.
  const char* digits = line.c_str() + at + 6;
  char* end = nullptr;
  errno = 0;
  const long long lo = std::strtoll(digits, &end, 10);
  if (end == digits) return std::nullopt;
  if (errno == ERANGE)
    throw io_error(path + ": the recorded first tap lo is beyond the 64-bit integer range");
  return require_recorded_lo(lo, path);
}

}  // namespace

TapsFile read_taps(const std::string& path, std::string_view role) {
  if (path.empty()) throw usage_error(std::string(role) + ": the file name is empty");
  const std::string ext = lower_extension(path);
  if (ext == ".json") return read_json_taps(path);
  TapsFile t;
  t.h = read_input(path, role).samples;
  if (ext != ".npy") t.lo = text_header_lo(path);
  return t;
}

Taps range_of(const TapsFile& file, std::optional<std::int64_t> lo_option, const std::string& path) {
  if (lo_option && file.lo && *lo_option != *file.lo)
    throw usage_error("--lo " + std::to_string(*lo_option) + " disagrees with the range recorded in " + path +
                      " (lo = " + std::to_string(*file.lo) + ")");
  const auto lo = lo_option ? lo_option : file.lo;
  try {
    return taps_for_kernel(file.h.size(), lo, path);
  } catch (const convgrad::invalid_argument& e) {
    throw io_error(path + ": " + e.what());
  }
}

io::StagedFile stage_taps(const std::string& path, const std::vector<double>& h, Taps taps) {
  const std::string ext = lower_extension(path);
  if (ext == ".npy") return io::stage_array(path, h);
  if (ext == ".json") {
    nlohmann::json j = {{"lo", taps.lo}, {"hi", taps.hi}, {"K", taps.K()}, {"h", h}};
    return io::stage_file(path, j.dump() + "\n");
  }
  std::string text = "# convgrad taps m = " + std::to_string(taps.lo) + ".." + std::to_string(taps.hi) +
                     " (lo = " + std::to_string(taps.lo) + ")\n";
  char buf[40];
  for (const double v : h) {
    std::snprintf(buf, sizeof buf, "%.17g\n", v);
    text += buf;
  }
  return io::stage_file(path, text);
}

}  // namespace convgrad::cli
