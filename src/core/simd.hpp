// SIMD inner kernels of the direct method (Highway, dynamic dispatch: one build picks the
// widest instruction set the CPU has, AVX-512, AVX2 or SSE4, at run time).
//
// Each kernel works on one block of the signal that the caller has laid out so the loops
// need no bounds checks: `s` is a window of the (zero-padded) signal that covers every
// index the block touches. Every kernel takes any length; lengths that are not a multiple
// of the vector width finish with one-lane vectors, so the order of operations depends
// only on the sizes, never on the thread that runs the block.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace convgrad::detail::simd {

// out[i] = sum_{k=0..K-1} w[k] s[i+k],   i = 0..B-1.   Reads s[0 .. B+K-2].
// (yhat with w = flipped h and s = the x window; dx with w = h and s = the r window.)
void correlate(const float* w, std::size_t K, const float* s, float* out, std::size_t B);
void correlate(const double* w, std::size_t K, const double* s, double* out, std::size_t B);

// g[k] += sum_{i=0..B-1} s[i+k] r[i],   k = 0..K-1.   Reads s[0 .. B+K-2], r[0 .. B-1].
// The block's sum is formed in T (in vector lanes; for long kernels each lane sums the B
// products of one tap in order), then added to the double g: blockwise accumulation, so
// float error does not grow with the signal.
// (dh, reversed: g[K-1-j] = dh[j], with s = the x window.)
void correlate_accumulate(const float* s, const float* r, std::size_t B, std::size_t K, double* g);
void correlate_accumulate(const double* s, const double* r, std::size_t B, std::size_t K, double* g);

// r[i] = yhat[i] - y[i] for i = 0..n-1; returns sum r[i]^2 accumulated in double.
double residual_sumsq(const float* yhat, const float* y, float* r, std::size_t n);
double residual_sumsq(const double* yhat, const double* y, double* r, std::size_t n);
// sum r[i]^2 in double, in the same order of operations as residual_sumsq.
double sumsq(const float* r, std::size_t n);
double sumsq(const double* r, std::size_t n);

// True when every v[i] is finite (a fast scan; the caller finds the first bad index).
bool all_finite(const float* v, std::size_t n);
bool all_finite(const double* v, std::size_t n);

// The instruction sets compiled in that this CPU supports, best first (e.g. "AVX3", "AVX2").
std::vector<std::string> available_targets();
// The instruction set the kernels dispatch to now.
std::string current_target();
// Tests: restrict dispatch to the named target (one of available_targets()); "" restores
// the normal choice. Not thread-safe: call it while no kernel runs.
void force_target(const std::string& name);

}  // namespace convgrad::detail::simd
