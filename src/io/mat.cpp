// MATLAB .mat files through libmatio: reading a named numeric vector from v4, v5 and v7.3
// (HDF5) files, and writing real column vectors as v5 files (which MATLAB, Octave and
// scipy.io.loadmat all read).
//
// A MAT-file holds named variables of any shape and class. A signal is a real numeric vector
// (N x 1 or 1 x N, any numeric class, widened to double); everything else (a matrix, a struct,
// text, a complex array) is refused with its shape and class, and a missing or ambiguous
// variable is refused with the list of what the file holds.
#include <matio.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/taps_file.hpp"
#include "io_detail.hpp"

namespace convgrad::io {
namespace {

// matio reports problems on stderr through its own logger; our errors name the file instead.
void silence_matio() {
  static const bool once = [] {
    Mat_LogInitFunc("convgrad", [](int, char*) {});
    return true;
  }();
  (void)once;
}

struct MatCloser {
  void operator()(mat_t* m) const { Mat_Close(m); }
};
struct VarFreer {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};
using MatPtr = std::unique_ptr<mat_t, MatCloser>;
using VarPtr = std::unique_ptr<matvar_t, VarFreer>;

// More samples than this (2^31) is a corrupt header, not a recording (as for WAV).
constexpr std::size_t kMaxSamples = std::size_t{1} << 31;

MatPtr open_mat(const std::string& path) {
  silence_matio();
  detail::require_readable_file(path);
  MatPtr m(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  if (!m) throw io_error(path + ": not a readable MATLAB .mat file (v4, v5 or v7.3)");
  return m;
}

std::string class_name(const matvar_t& v) {
  if (v.isLogical) return "logical";
  switch (v.class_type) {
    case MAT_C_DOUBLE:
      return "double";
    case MAT_C_SINGLE:
      return "single";
    case MAT_C_INT8:
      return "int8";
    case MAT_C_UINT8:
      return "uint8";
    case MAT_C_INT16:
      return "int16";
    case MAT_C_UINT16:
      return "uint16";
    case MAT_C_INT32:
      return "int32";
    case MAT_C_UINT32:
      return "uint32";
    case MAT_C_INT64:
      return "int64";
    case MAT_C_UINT64:
      return "uint64";
    case MAT_C_CHAR:
      return "char";
    case MAT_C_CELL:
      return "cell";
    case MAT_C_STRUCT:
      return "struct";
    case MAT_C_SPARSE:
      return "sparse";
    case MAT_C_OBJECT:
      return "object";
    case MAT_C_FUNCTION:
      return "function";
    case MAT_C_OPAQUE:
      return "opaque";
    default:
      return "empty";
  }
}

bool numeric_class(const matvar_t& v) {
  return v.class_type >= MAT_C_DOUBLE && v.class_type <= MAT_C_UINT64 && !v.isComplex;
}

MatVariable describe(const matvar_t& v) {
  MatVariable d;
  d.name = v.name ? v.name : "";
  for (int i = 0; i < v.rank; ++i) d.dims.push_back(v.dims[i]);
  d.kind = (v.isComplex ? "complex " : "") + class_name(v);
  // A vector: every dimension but one is 1 (a 1 x 1 scalar counts, as a signal of one sample).
  std::size_t long_dims = 0, n = 1;
  for (const std::size_t s : d.dims) {
    long_dims += s != 1 ? 1 : 0;
    n *= s;
  }
  d.is_signal = numeric_class(v) && long_dims <= 1 && n > 0;
  return d;
}

template <class T>
void widen_into(const matvar_t& v, std::vector<double>& out) {
  const T* p = static_cast<const T*>(v.data);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i]);
}

// The values of a variable read whole (Mat_VarRead stores them in the variable's class).
std::vector<double> values_of(const matvar_t& v, std::size_t n, const std::string& where) {
  if (v.data == nullptr) throw io_error(where + ": the data could not be read (a damaged file?)");
  std::vector<double> out(n);
  switch (v.class_type) {
    case MAT_C_DOUBLE:
      widen_into<double>(v, out);
      break;
    case MAT_C_SINGLE:
      widen_into<float>(v, out);
      break;
    case MAT_C_INT8:
      widen_into<std::int8_t>(v, out);
      break;
    case MAT_C_UINT8:
      widen_into<std::uint8_t>(v, out);
      break;
    case MAT_C_INT16:
      widen_into<std::int16_t>(v, out);
      break;
    case MAT_C_UINT16:
      widen_into<std::uint16_t>(v, out);
      break;
    case MAT_C_INT32:
      widen_into<std::int32_t>(v, out);
      break;
    case MAT_C_UINT32:
      widen_into<std::uint32_t>(v, out);
      break;
    case MAT_C_INT64:
      widen_into<std::int64_t>(v, out);
      break;
    case MAT_C_UINT64:
      widen_into<std::uint64_t>(v, out);
      break;
    default:
      throw io_error(where + ": not a numeric array");
  }
  return out;
}

std::string shape_text(const MatVariable& v) {
  std::string s;
  for (const std::size_t d : v.dims) s += (s.empty() ? "" : " x ") + std::to_string(d);
  return s + " " + v.kind;
}

}  // namespace

// "x (1000 x 1 double), y (1000 x 1 double), fs (1 x 1 double)"
std::string describe_mat_variables(const std::vector<MatVariable>& vars) {
  std::string s;
  for (const MatVariable& v : vars) s += (s.empty() ? "" : ", ") + v.name + " (" + shape_text(v) + ")";
  return s.empty() ? "no variables" : s;
}

namespace {
std::string listing(const std::vector<MatVariable>& vars) { return describe_mat_variables(vars); }

// A temporary file that is removed when this goes out of scope (matio writes to a name).
struct ScratchFile {
  std::string path;
  ScratchFile() {
    const char* dir = std::getenv("TMPDIR");
    std::string pattern = std::string(dir && *dir ? dir : "/tmp") + "/convgrad-mat.XXXXXX";
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0) throw io_error("cannot create a temporary file for a .mat output in " + pattern);
    ::close(fd);
    path = pattern;
  }
  ~ScratchFile() { ::unlink(path.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
};

void write_vector(mat_t* m, const std::string& name, std::span<const double> values,
                  const std::string& path) {
  std::size_t dims[2] = {values.size(), 1};  // a column, as MATLAB stores a signal
  VarPtr v(Mat_VarCreate(name.c_str(), MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims,
                         const_cast<double*>(values.data()), MAT_F_DONT_COPY_DATA));
  if (!v || Mat_VarWrite(m, v.get(), MAT_COMPRESSION_NONE) != 0)
    throw io_error("cannot write '" + path + "': matio could not write variable " + name);
}

// MATLAB users save the rate beside the signal: a scalar named fs, Fs, sample_rate or srate
// (the first found, in that order) is the signal's sample rate, when positive and finite.
std::optional<double> recorded_rate(mat_t* m, const std::vector<MatVariable>& vars, const std::string& signal,
                                    const std::string& path) {
  for (const char* name : {"fs", "Fs", "sample_rate", "srate"})
    for (const MatVariable& v : vars)
      if (v.name == name && v.name != signal && v.is_signal && v.dims.size() == 2 &&
          v.dims[0] * v.dims[1] == 1) {
        VarPtr r(Mat_VarRead(m, name));
        if (!r) continue;
        const double hz = values_of(*r, 1, path + ": variable " + v.name)[0];
        if (std::isfinite(hz) && hz > 0) return hz;
      }
  return std::nullopt;
}

}  // namespace

bool is_mat_file(const std::string& path) { return detail::extension(path) == ".mat"; }

std::vector<MatVariable> list_mat_variables(const std::string& path) {
  MatPtr m = open_mat(path);
  std::vector<MatVariable> vars;
  while (VarPtr v{Mat_VarReadNextInfo(m.get())}) vars.push_back(describe(*v));
  return vars;
}

Signal read_mat(const std::string& path, const std::optional<std::string>& name) {
  const std::vector<MatVariable> vars = list_mat_variables(path);
  const MatVariable* chosen = nullptr;
  if (name) {
    for (const MatVariable& v : vars)
      if (v.name == *name) chosen = &v;
    if (!chosen)
      throw io_error(path + ": no variable '" + detail::quote_token(*name) + "'; the file holds " +
                     listing(vars));
  } else {
    std::vector<const MatVariable*> signals;
    for (const MatVariable& v : vars)
      if (v.is_signal) signals.push_back(&v);
    if (signals.size() != 1)
      throw io_error(path + ": " + (signals.empty() ? "holds no numeric vector" : "holds several vectors") +
                     "; name the one to read: " + listing(vars));
    chosen = signals[0];
  }
  const std::string where = path + ": variable " + chosen->name;
  if (!chosen->is_signal)
    throw io_error(where + " is " + shape_text(*chosen) +
                   ", not a signal (a real numeric vector, N x 1 or 1 x N)");
  std::size_t n = 1;
  for (const std::size_t d : chosen->dims) n *= d;
  if (n > kMaxSamples)
    throw io_error(where + " announces " + std::to_string(n) + " values, more than can be read");
  MatPtr m = open_mat(path);
  VarPtr v(Mat_VarRead(m.get(), chosen->name.c_str()));
  if (!v) throw io_error(where + ": could not be read (a damaged file?)");
  Signal s;
  s.format = "mat";
  s.samples = values_of(*v, n, where);
  detail::require_finite_samples(s.samples, path + " (" + chosen->name + ")");
  s.sample_rate = recorded_rate(m.get(), vars, chosen->name, path);
  return s;
}

namespace detail {

void write_mat_vectors(int fd, const std::string& path, const std::vector<MatVector>& vectors) {
  silence_matio();
  ScratchFile scratch;
  {
    // A fixed header text, so the same values give the same bytes (matio's default has a date).
    MatPtr m(Mat_CreateVer(scratch.path.c_str(), "MATLAB 5.0 MAT-file, written by convgrad", MAT_FT_MAT5));
    if (!m) throw io_error("cannot write '" + path + "': matio could not create a MAT-file");
    for (const MatVector& v : vectors) write_vector(m.get(), v.name, v.values, path);
  }
  const std::string bytes = read_file(scratch.path);
  write_all(fd, bytes.data(), bytes.size(), path);
}

}  // namespace detail
}  // namespace convgrad::io
