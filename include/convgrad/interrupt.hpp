// Stopping long work early (Ctrl-C in Python, a caller's cancel button).
//
// A caller installs a question "should the work stop?" for its thread with an InterruptScope;
// the library's long-running loops call poll_interrupt() at block boundaries -- the Gram
// build, the exact solver's Cholesky panels, power and inverse iteration, every iteration of
// the iterative solvers, every row of the batched operations -- on the calling thread, never
// inside a parallel region. When the question answers yes, poll_interrupt throws
// convgrad::interrupted; nothing the caller owns has been written by then (results are
// returned, not filled in place), so the call leaves nothing half-done.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "convgrad/errors.hpp"

namespace convgrad {

// Returns true when the work should stop. Called on the thread that installed it.
using StopCheck = std::function<bool()>;

// Installs `check` for the calling thread while the scope lives; scopes nest (the innermost
// one is asked). An empty check installs nothing new.
class InterruptScope {
 public:
  explicit InterruptScope(StopCheck check);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  StopCheck check_;
  const StopCheck* outer_;
};

// Throws interrupted("<what>: interrupted") when the calling thread's check says stop. Cheap
// enough for every block boundary: the check itself runs at most once per
// kInterruptPollSeconds of wall time, so the work stops within that time plus one block.
inline constexpr double kInterruptPollSeconds = 0.02;
void poll_interrupt(const char* what);

// The same question without the throw: true when the calling thread's check says stop
// (false on a thread with no check, such as an OpenMP worker).
bool stop_requested();

// For loops whose iterations run on several threads, where an exception must not leave the
// parallel region: every iteration asks requested() first and skips its work once it is
// true (only the thread that installed the check asks it; the answer is shared), and after
// the loop the calling thread calls throw_if_requested(). The outputs of a stopped loop are
// incomplete; the throw makes sure nobody reads them as a result.
class LoopStop {
 public:
  bool requested() {
    if (stop_.load(std::memory_order_relaxed)) return true;
    if (!stop_requested()) return false;
    stop_.store(true, std::memory_order_relaxed);
    return true;
  }
  void throw_if_requested(const char* what) const {
    if (stop_.load(std::memory_order_relaxed)) throw interrupted(std::string(what) + ": interrupted");
  }

 private:
  std::atomic<bool> stop_{false};
};

}  // namespace convgrad
