// FFTW's float and double APIs behind one name, the one lock around its planner, aligned
// buffers and the one cache of plans: every room that transforms (the FFT method in
// src/core/fft.cpp, the channel FFT method in src/channels/fft.cpp, the frequency-domain
// adaptive filter in src/adaptive/fdaf.cpp) plans through these, since FFTW's planner is one global,
// not thread-safe state (executing a plan on new arrays is thread-safe).
#pragma once

#include <fftw3.h>

#include <algorithm>
#include <complex>
#include <concepts>
#include <cstddef>
#include <mutex>
#include <string>

#include "convgrad/errors.hpp"

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

// An FFTW-aligned array of `count` T (FFTW's new-array execute needs the alignment that
// fftw_malloc gives, the same as the arrays the plan was made with).
template <std::floating_point T>
struct FftwBuffer {
  explicit FftwBuffer(std::size_t count)
      : ptr(static_cast<T*>(Fftw<T>::malloc(std::max<std::size_t>(count, 1) * sizeof(T)))) {
    if (!ptr) throw resource_limit("fft: cannot allocate " + std::to_string(count * sizeof(T)) + " bytes");
  }
  ~FftwBuffer() { Fftw<T>::free(ptr); }
  FftwBuffer(const FftwBuffer&) = delete;
  FftwBuffer& operator=(const FftwBuffer&) = delete;
  T* ptr;
  typename Fftw<T>::complex* complex() { return reinterpret_cast<typename Fftw<T>::complex*>(ptr); }
};

// Out-of-place forward (r2c) and inverse (c2r) plans for one length, made with FFTW_ESTIMATE
// and nothing else. The plan fixes the order of every floating-point operation, so it is
// part of the result: FFTW_MEASURE (and PATIENT, and wisdom made by them) times candidate
// algorithms and keeps the fastest, which on a busy machine is a different algorithm in
// different processes, and the same command gave different last bits. ESTIMATE picks from
// the length, the precision, the CPU's SIMD sets and the arrays' alignment alone (every array
// here comes from fftw_malloc, aligned alike), so a process plans what any other process on
// this machine plans. It also plans in milliseconds where MEASURE took a second per length,
// which was most of a one-shot exact fit.
template <std::floating_point T>
struct FftwPlans {
  typename Fftw<T>::plan forward = nullptr, inverse = nullptr;
  FftwPlans() = default;
  FftwPlans(const FftwPlans&) = delete;
  FftwPlans& operator=(const FftwPlans&) = delete;
  // The cache is destroyed at exit; the plans go with it (LeakSanitizer checks this).
  ~FftwPlans() {
    if (forward) Fftw<T>::destroy(forward);
    if (inverse) Fftw<T>::destroy(inverse);
  }
};

// The plans of length L for T, made once per (precision, length) under fftw_planner_mutex and
// kept for the life of the process (src/core/fft.cpp): every room that transforms blocks of
// one length (the FFT method, the channel FFT method, the frequency-domain adaptive filter) shares them.
template <std::floating_point T>
const FftwPlans<T>& fftw_plans(std::size_t L);

}  // namespace convgrad::detail
