// The cost model behind Method::automatic (choose_method, predicted_step_seconds) is a formula
// and must answer at once for any signal length, also lengths no machine holds: `convgrad
// tune --n 1000000000000 --taps 1` records the model's choice, and fuzzing the tuning cache
// looks such a size up. Found by the tune_cache fuzz target (docs/fuzzing.md): the FFT
// block length searched for the next 2-3-5-7 number above N + K - 1 even when a block is
// far shorter than the signal, 30 s of counting at N = 10^12.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <future>
#include <thread>

#include "convgrad/ops.hpp"

namespace {

// The model evaluates a closed form of a few terms: microseconds. A second is 10^5 times
// that, ample for a loaded machine and a sanitizer build, and far below the 30 s of the defect.
constexpr auto kDeadline = std::chrono::seconds(1);

// choose_method(n, k) on a thread of its own, so that a slow answer fails the test by the
// deadline instead of stalling it (the thread is left to finish when the process ends).
bool answers_by_deadline(std::size_t n, std::size_t k) {
  std::packaged_task<convgrad::Method()> task([n, k] { return convgrad::choose_method(n, k); });
  std::future<convgrad::Method> answer = task.get_future();
  std::thread(std::move(task)).detach();
  return answer.wait_for(kDeadline) == std::future_status::ready;
}

TEST(CostModel, AnswersAtOnceForAnySignalLength) {
  for (const std::size_t n :
       {std::size_t{1'000'000'000}, std::size_t{1'000'000'000'000}, std::size_t{1'000'000'000'000'000}})
    for (const std::size_t k : {1, 3, 255, 4097})
      EXPECT_TRUE(answers_by_deadline(n, k)) << "N = " << n << ", K = " << k;
}

TEST(CostModel, ShortSignalsStillGetTheirOwnTransformLength) {
  // The fix skips the search only when N + K - 1 reaches a block; below that, the one
  // transform of a 2-3-5-7 length must still be the one the FFT step uses: its prediction
  // grows with N.
  const double shorter = convgrad::predicted_step_seconds(convgrad::Method::fft, 100, 3);
  const double longer = convgrad::predicted_step_seconds(convgrad::Method::fft, 1000, 3);
  EXPECT_LT(shorter, longer);
}

}  // namespace
