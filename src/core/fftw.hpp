// FFTW's float and double APIs behind one name, and the one lock around its planner: every
// room that transforms (the FFT method in src/core/fft.cpp, the frequency-domain adaptive
// filter in src/adaptive/fdaf.cpp) plans through these, since FFTW's planner is one global,
// not thread-safe state (executing a plan on new arrays is thread-safe).
#pragma once

#include <fftw3.h>

#include <complex>
#include <concepts>
#include <cstddef>
#include <mutex>

namespace convgrad::detail {

// Every plan is made with FFTW_ESTIMATE and nothing else: it picks the algorithm from the
// length, the precision, the CPU's SIMD sets and the arrays' alignment alone, so a process
// plans (and rounds) what any other process on this machine does. (FFTW_MEASURE timed
// candidates, and the same command gave different last bits from one run to the next.)
constexpr unsigned kFftwPlannerFlags = FFTW_ESTIMATE;

// Plans are made and destroyed under this lock, whichever room makes them.
inline std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

// FFTW's float and double APIs behind one name. std::complex<T> has fftw_complex's layout.
template <std::floating_point T>
struct Fftw;
template <>
struct Fftw<double> {
  using plan = fftw_plan;
  using complex = fftw_complex;
  static void* malloc(std::size_t bytes) { return fftw_malloc(bytes); }
  static void free(void* p) { fftw_free(p); }
  static plan r2c(int n, double* in, complex* out, unsigned flags) {
    return fftw_plan_dft_r2c_1d(n, in, out, flags);
  }
  static plan c2r(int n, complex* in, double* out, unsigned flags) {
    return fftw_plan_dft_c2r_1d(n, in, out, flags);
  }
  static void r2c(plan p, double* in, complex* out) { fftw_execute_dft_r2c(p, in, out); }
  static void c2r(plan p, complex* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
  static void destroy(plan p) { fftw_destroy_plan(p); }
  static complex* cast(std::complex<double>* z) { return reinterpret_cast<complex*>(z); }
};
template <>
struct Fftw<float> {
  using plan = fftwf_plan;
  using complex = fftwf_complex;
  static void* malloc(std::size_t bytes) { return fftwf_malloc(bytes); }
  static void free(void* p) { fftwf_free(p); }
  static plan r2c(int n, float* in, complex* out, unsigned flags) {
    return fftwf_plan_dft_r2c_1d(n, in, out, flags);
  }
  static plan c2r(int n, complex* in, float* out, unsigned flags) {
    return fftwf_plan_dft_c2r_1d(n, in, out, flags);
  }
  static void r2c(plan p, float* in, complex* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void c2r(plan p, complex* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
  static void destroy(plan p) { fftwf_destroy_plan(p); }
  static complex* cast(std::complex<float>* z) { return reinterpret_cast<complex*>(z); }
};

}  // namespace convgrad::detail
