// Denormal flushing for iterative loops.
//
// An optimiser that drives a residual or a gradient towards zero produces subnormal numbers
// (|v| < 2^-126 in float, 2^-1022 in double). x86 cores handle those in microcode, a hundred
// times slower than normal numbers, so a fit can slow down sharply just as it converges.
// Flushing them to zero (FTZ: results; DAZ: inputs) changes values only below the smallest
// normal number, far under every tolerance this library uses.
//
// The mode is per thread. FlushDenormals sets it for the calling thread for one scope and
// restores what was there before; the library's kernels run their OpenMP worker threads in
// the caller's mode, so a fit loop wrapped in FlushDenormals flushes everywhere. Outside such
// a scope nothing is flushed: the default IEEE behaviour stays.
#pragma once

namespace convgrad {

// Flush denormals to zero on the calling thread (and, through the kernels, their workers)
// for this scope. Use around iterative loops: `convgrad::FlushDenormals guard;`
class FlushDenormals {
 public:
  FlushDenormals();
  ~FlushDenormals();
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  unsigned saved_ = 0;  // the calling thread's control bits before this scope
};

}  // namespace convgrad
