// Taps files: reading and writing learned taps with their range and sample rate
// (see convgrad/taps_file.hpp for the formats).
#include "convgrad/taps_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "convgrad/errors.hpp"
#include "io_detail.hpp"

namespace convgrad::io {
namespace {

std::string range_text() {
  return "[-" + std::to_string(kMaxTapOffset) + ", " + std::to_string(kMaxTapOffset) + "]";
}

// A tap offset recorded in a file is data: out of range is the file's error (io_error).
std::int64_t require_recorded_lo(long double lo, const std::string& path) {
  if (!(lo >= -static_cast<long double>(kMaxTapOffset) && lo <= static_cast<long double>(kMaxTapOffset)))
    throw io_error(path + ": the recorded first tap lo is out of range " + range_text());
  return static_cast<std::int64_t>(lo);
}

double require_recorded_rate(double rate, const std::string& path) {
  if (!(std::isfinite(rate) && rate > 0))
    throw io_error(path + ": the recorded sample rate is not a positive number of Hz");
  return rate;
}

TapsFile read_json_taps(const std::string& path) {
  const std::string text = detail::read_file(path);
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
      // Read as a wide float first: an unsigned beyond int64 must not wrap to a negative tap.
      if (!j["lo"].is_number_integer())
        throw io_error(path + ": \"lo\" must be an integer in " + range_text());
      const long double lo = j["lo"].is_number_unsigned()
                                 ? static_cast<long double>(j["lo"].get<std::uint64_t>())
                                 : static_cast<long double>(j["lo"].get<std::int64_t>());
      t.lo = require_recorded_lo(lo, path);
    }
    if (j.contains("sample_rate") && !j["sample_rate"].is_null()) {
      if (!j["sample_rate"].is_number())
        throw io_error(path + ": \"sample_rate\" must be a number of Hz (or null)");
      t.sample_rate = require_recorded_rate(j["sample_rate"].get<double>(), path);
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

constexpr std::string_view kHeader = "# convgrad taps m = ";

// The number after `key` on the header line, or nullopt when the key is absent.
std::optional<long double> header_number(const std::string& line, std::string_view key,
                                         const std::string& path) {
  const auto at = line.find(key);
  if (at == std::string::npos) return std::nullopt;
  // strtold, not sscanf: it saturates (and sets ERANGE) instead of overflowing.
  const char* digits = line.c_str() + at + key.size();
  char* end = nullptr;
  errno = 0;
  const long double v = std::strtold(digits, &end);
  if (end == digits) return std::nullopt;
  if (errno == ERANGE) throw io_error(path + ": a number in the taps header is out of range");
  return v;
}

// Reads "# convgrad taps m = L..H (lo = L) (sample_rate = R)" from the first line, if present.
void read_text_header(const std::string& path, TapsFile& t) {
  const std::string text = detail::read_file(path);
  const std::string line = text.substr(0, text.find('\n'));
  if (line.rfind(kHeader, 0) != 0) return;
  if (const auto lo = header_number(line, "(lo = ", path)) {
    if (*lo != std::floor(*lo)) throw io_error(path + ": the recorded first tap lo is not an integer");
    t.lo = require_recorded_lo(*lo, path);
  }
  if (const auto rate = header_number(line, "(sample_rate = ", path))
    t.sample_rate = require_recorded_rate(static_cast<double>(*rate), path);
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// A scalar variable of a MAT-file (lo, sample_rate), if present.
std::optional<double> mat_scalar(const std::string& path, const std::vector<MatVariable>& vars,
                                 const std::string& name) {
  for (const MatVariable& v : vars)
    if (v.name == name) {
      const Signal s = read_mat(path, name);
      if (s.samples.size() != 1) throw io_error(path + ": variable " + name + " must be a scalar");
      return s.samples[0];
    }
  return std::nullopt;
}

// A .mat taps file as stage_taps writes it: h (K x 1), lo and hi, and sample_rate when known.
// A file without h holds one vector: the taps, without a range.
TapsFile read_mat_taps(const std::string& path) {
  const std::vector<MatVariable> vars = list_mat_variables(path);
  TapsFile t;
  const bool has_h =
      std::any_of(vars.begin(), vars.end(), [](const MatVariable& v) { return v.name == "h"; });
  t.h = read_mat(path, has_h ? std::optional<std::string>("h") : std::nullopt).samples;
  if (!has_h) return t;
  if (const auto lo = mat_scalar(path, vars, "lo")) {
    if (*lo != std::floor(*lo)) throw io_error(path + ": the recorded first tap lo is not an integer");
    t.lo = require_recorded_lo(*lo, path);
  }
  if (const auto rate = mat_scalar(path, vars, "sample_rate"))
    t.sample_rate = require_recorded_rate(*rate, path);
  return t;
}

}  // namespace

TapsFile read_taps(const std::string& path) {
  if (is_standard_input(path)) {  // no extension: JSON by its first character, else as a signal
    if (detail::stdin_format() == detail::StdinFormat::json)
      return detail::read_stdin_with([](const std::string& p) { return read_json_taps(p); });
    const bool text = detail::stdin_format() == detail::StdinFormat::text;
    TapsFile t;
    Signal s = read_signal(path);
    t.h = std::move(s.samples);
    t.sample_rate = s.sample_rate;
    if (text)
      detail::read_stdin_with([&](const std::string& p) {
        read_text_header(p, t);
        return 0;
      });
    return t;
  }
  const std::string ext = detail::extension(path);
  if (ext == ".json") return read_json_taps(path);
  if (ext == ".mat") return read_mat_taps(path);
  Signal s = read_signal(path);
  TapsFile t;
  t.h = std::move(s.samples);
  t.sample_rate = s.sample_rate;  // a WAV impulse response knows its rate
  if (ext != ".npy" && !is_sound_file(path)) read_text_header(path, t);
  return t;
}

Taps recorded_range(const TapsFile& file, const std::string& path) {
  const auto K = static_cast<std::int64_t>(file.h.size());
  if (K > kMaxTaps)
    throw io_error(path + ": " + std::to_string(K) + " taps exceed the limit of " + std::to_string(kMaxTaps));
  if (file.lo) {
    try {
      return Taps::from_lo(*file.lo, K);
    } catch (const invalid_argument& e) {
      throw io_error(path + ": " + e.what());
    }
  }
  if (K % 2 == 0)
    throw io_error(path + ": the kernel has " + std::to_string(K) +
                   " taps, an even number, and the file records no range, so it has no centre tap; "
                   "give its first tap lo (0 for a causal filter)");
  return Taps::centred_for(K);
}

bool records_range(const std::string& path) {
  const std::string ext = detail::extension(path);
  return ext != ".npy" && !is_sound_file(path);
}

void require_taps_format(const std::string& path, Taps taps) {
  if (is_stream_target(path)) return;  // written as text, which records the range
  const std::string ext = detail::extension(path);
  if (is_sound_file(path))
    throw invalid_argument(path +
                           ": taps are written as .json, .mat, .csv, .txt or .npy, not as a sound file");
  if (!(ext.empty() || ext == ".json" || ext == ".csv" || ext == ".txt" || ext == ".npy" || ext == ".mat"))
    throw invalid_argument(path + ": '" + detail::quote_token(ext) +
                           "' is not a format taps are written in; give one of .json, .mat, .csv, .txt "
                           "(which record the tap range) or .npy (centred taps only)");
  const auto K = static_cast<std::int64_t>(taps.K());
  if (!records_range(path) && !(K % 2 == 1 && taps == Taps::centred_for(K)))
    throw invalid_argument(path + ": a .npy file cannot record the tap range m = " + std::to_string(taps.lo) +
                           ".." + std::to_string(taps.hi) +
                           ", and a file without one means the centred range; write .json or .csv instead");
}

StagedFile stage_taps(const std::string& path, std::span<const double> h, Taps taps,
                      std::optional<double> sample_rate) {
  require_taps_format(path, taps);
  if (h.size() != taps.K())
    throw invalid_argument("h has " + std::to_string(h.size()) +
                           " values but the taps m = " + std::to_string(taps.lo) + ".." +
                           std::to_string(taps.hi) + " are " + std::to_string(taps.K()));
  for (std::size_t i = 0; i < h.size(); ++i)
    if (!std::isfinite(h[i])) throw invalid_argument("h[" + std::to_string(i) + "] is not finite");
  if (sample_rate && !(std::isfinite(*sample_rate) && *sample_rate > 0))
    throw invalid_argument("sample_rate must be a positive number of Hz");
  const std::string ext = is_stream_target(path) ? "" : detail::extension(path);
  if (ext == ".npy") return stage_array(path, h);
  if (ext == ".mat") {
    const double lo = static_cast<double>(taps.lo), hi = static_cast<double>(taps.hi);
    std::vector<detail::MatVector> vars = {{"h", h}, {"lo", {&lo, 1}}, {"hi", {&hi, 1}}};
    if (sample_rate) vars.push_back({"sample_rate", {&*sample_rate, 1}});
    return Stager::stage(path, [&](int fd) { detail::write_mat_vectors(fd, path, vars); });
  }
  if (ext == ".json") {
    nlohmann::json j = {{"lo", taps.lo}, {"hi", taps.hi}, {"K", taps.K()}, {"h", h}};
    if (sample_rate) j["sample_rate"] = *sample_rate;
    return stage_file(path, j.dump() + "\n");
  }
  std::string text = std::string(kHeader) + std::to_string(taps.lo) + ".." + std::to_string(taps.hi) +
                     " (lo = " + std::to_string(taps.lo) + ")";
  if (sample_rate) text += " (sample_rate = " + number(*sample_rate) + ")";
  text += "\n" + detail::encode_text(h);
  return stage_file(path, text);
}

void write_taps(const std::string& path, std::span<const double> h, Taps taps,
                std::optional<double> sample_rate) {
  stage_taps(path, h, taps, sample_rate).commit();
}

}  // namespace convgrad::io
