// read_signal: dispatch on the extension, and the checks every format shares.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "convgrad/errors.hpp"
#include "io_detail.hpp"

namespace convgrad::io {
namespace fs = std::filesystem;

bool is_sound_file(const std::string& path) {
  const std::string ext = detail::extension(path);
  return ext == ".wav" || ext == ".wave" || ext == ".flac" || ext == ".aiff" || ext == ".aif";
}

namespace {

enum class Format { npy, sound, mat, json, text };

Format format_by_extension(const std::string& path) {
  if (is_sound_file(path)) return Format::sound;
  const std::string ext = detail::extension(path);
  return ext == ".npy"    ? Format::npy
         : ext == ".mat"  ? Format::mat
         : ext == ".json" ? Format::json
                          : Format::text;
}

// What a file of `format` holds instead of columns, for the error refusing one.
const char* why_no_column(Format format) {
  switch (format) {
    case Format::sound:
      return "a sound file has channels, not columns";
    case Format::mat:
      return "a .mat file has variables, not columns";
    case Format::json:
      return "a .json file holds a single signal";
    default:
      return "a .npy file holds a single signal";
  }
}

Signal read_as(Format format, const std::string& path, std::optional<int> channel, const Column& column) {
  if (format != Format::text && !column.spec.empty() && !column.tables_only)
    throw io_error(path + ": column '" + column.spec + "' asked for, but " + why_no_column(format));
  if (format == Format::sound) return detail::read_sound(path, channel);
  if (channel && *channel != 0)
    throw io_error(path + ": channel " + std::to_string(*channel) +
                   " asked for, but the file holds a single signal (channel 0)");
  switch (format) {
    case Format::npy:
      return detail::read_npy(path);
    case Format::mat:
      return read_mat(path);
    case Format::json:
      return detail::read_json_array(path);
    default:
      return detail::read_text(path, column);
  }
}

}  // namespace

Signal read_signal(const std::string& path, std::optional<int> channel, const Column& column) {
  if (!is_standard_input(path)) return read_as(format_by_extension(path), path, channel, column);
  const detail::StdinFormat f = detail::stdin_format();
  const Format format = f == detail::StdinFormat::npy     ? Format::npy
                        : f == detail::StdinFormat::sound ? Format::sound
                        : f == detail::StdinFormat::json  ? Format::json
                                                          : Format::text;
  return detail::read_stdin_with([&](const std::string& p) { return read_as(format, p, channel, column); });
}

namespace detail {

Signal read_json_array(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception&) {
    throw io_error(path + ": not valid JSON (or a number beyond the float64 range)");
  }
  if (!j.is_array() || j.empty()) throw io_error(path + ": a JSON signal is a non-empty array of numbers");
  Signal s;
  s.format = "json";
  for (std::size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number()) throw io_error(path + ": entry " + std::to_string(i) + " is not a number");
    s.samples.push_back(j[i].get<double>());
  }
  require_finite_samples(s.samples, path);
  return s;
}

void require_readable_file(const std::string& path) {
  if (path.empty()) throw io_error("cannot read a file with an empty name");
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) throw io_error(path + ": no such file");
  if (fs::is_directory(st)) throw io_error(path + ": is a directory, not a file");
}

std::string read_file(const std::string& path) {
  require_readable_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(path + ": cannot open: " + std::strerror(errno));
  // A regular file is read in one piece into a string of its size: a stream copy grows its
  // buffer by doubling and copies the whole signal again at the end, which cost more than the
  // exact fit of a 10^6-sample recording. Pipes have no size; they (and anything a file
  // gained since its size was taken) go through the stream copy.
  std::error_code ec;
  const std::uintmax_t size = fs::is_regular_file(path, ec) ? fs::file_size(path, ec) : 0;
  std::string bytes(ec ? 0 : static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  if (in) {
    std::ostringstream rest;
    rest << in.rdbuf();
    bytes += std::move(rest).str();
  }
  if (in.bad()) throw io_error(path + ": read failed: " + std::strerror(errno));
  return bytes;
}

std::string extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

void require_finite_samples(std::span<const double> v, const std::string& path) {
  require_finite_window(v, 0, path);
}

}  // namespace detail
}  // namespace convgrad::io
