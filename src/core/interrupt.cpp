// The calling thread's stop check (interrupt.hpp): a thread-local pointer to the innermost
// InterruptScope's check, and the time it was last asked.
#include "convgrad/interrupt.hpp"

#include <chrono>
#include <string>
#include <utility>

namespace convgrad {
namespace {

using Clock = std::chrono::steady_clock;

thread_local const StopCheck* current = nullptr;
thread_local Clock::time_point last_asked{};

}  // namespace

InterruptScope::InterruptScope(StopCheck check) : check_(std::move(check)), outer_(current) {
  if (check_) current = &check_;
}

InterruptScope::~InterruptScope() { current = outer_; }

bool stop_requested() {
  if (current == nullptr) return false;
  const auto now = Clock::now();
  if (std::chrono::duration<double>(now - last_asked).count() < kInterruptPollSeconds) return false;
  last_asked = now;
  return (*current)();
}

void poll_interrupt(const char* what) {
  if (stop_requested()) throw interrupted(std::string(what) + ": interrupted");
}

}  // namespace convgrad
