// The stop check (convgrad/interrupt.hpp): long library calls ask the caller's check between
// blocks of work and stop with convgrad::interrupted; without a check nothing changes.
#include <gtest/gtest.h>
#include <omp.h>

#include <chrono>
#include <thread>
#include <vector>

#include "convgrad/batch.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/interrupt.hpp"
#include "test_util.hpp"

namespace convgrad::test {
namespace {

// A check that says "stop" from its first question on; it counts the questions. The library
// asks at most once per kInterruptPollSeconds, so each test first waits that long to be sure
// of a fresh question.
struct AlwaysStop {
  int asked = 0;
  StopCheck check() {
    return [this] {
      ++asked;
      return true;
    };
  }
};

void wait_for_the_next_question() {
  std::this_thread::sleep_for(std::chrono::duration<double>(2 * kInterruptPollSeconds));
}

TEST(Interrupt, WithoutACheckNothingStops) {
  wait_for_the_next_question();
  EXPECT_NO_THROW(poll_interrupt("test"));
  EXPECT_FALSE(stop_requested());
}

TEST(Interrupt, ScopesNestAndRestoreTheOuterCheck) {
  AlwaysStop outer;
  int inner_asked = 0;
  InterruptScope a(outer.check());
  {
    InterruptScope b([&] {
      ++inner_asked;
      return false;
    });
    wait_for_the_next_question();
    EXPECT_NO_THROW(poll_interrupt("test"));
    EXPECT_EQ(inner_asked, 1);
  }
  wait_for_the_next_question();
  EXPECT_THROW(poll_interrupt("test"), interrupted);
  EXPECT_EQ(outer.asked, 1);
}

TEST(Interrupt, QuestionsAreRateLimited) {
  int asked = 0;
  InterruptScope scope([&] {
    ++asked;
    return false;
  });
  wait_for_the_next_question();
  for (int i = 0; i < 1000; ++i) poll_interrupt("test");
  EXPECT_LE(asked, 2);  // a thousand polls within microseconds: one question (two at a boundary)
}

// Each long computation stops: the exact solver (Gram build, Cholesky), gd, and the direct
// and FFT chunk loops of the operations themselves.
TEST(Interrupt, TheExactSolverStops) {
  const auto x = gaussian<double>(4000, 1), y = gaussian<double>(4000, 2);
  const std::vector<Pair<double>> data{{x, y}};
  AlwaysStop stop;
  InterruptScope scope(stop.check());
  wait_for_the_next_question();
  FitOptions o;
  o.solver = Solver::exact;
  EXPECT_THROW(fit<double>(data, Taps::centred(100), o), interrupted);
  EXPECT_GE(stop.asked, 1);
}

TEST(Interrupt, TheIterativeSolversStop) {
  const auto x = gaussian<double>(4000, 1), y = gaussian<double>(4000, 2);
  const std::vector<Pair<double>> data{{x, y}};
  for (const Solver solver : {Solver::gd, Solver::nesterov, Solver::adam}) {
    AlwaysStop stop;
    InterruptScope scope(stop.check());
    wait_for_the_next_question();
    FitOptions o;
    o.solver = solver;
    EXPECT_THROW(fit<double>(data, Taps::centred(10), o), interrupted) << to_string(solver);
  }
}

// With one thread the calling thread runs every chunk, so it asks between chunks. (With
// several, it asks between the chunks it takes; the others finish the loop meanwhile.)
TEST(Interrupt, TheChunkLoopsOfEveryMethodStop) {
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto x = gaussian<double>(200000, 3), r = gaussian<double>(200000, 4), h = gaussian<double>(301, 5);
  const Taps taps = Taps::centred(150);
  for (const Method method : {Method::direct, Method::fft}) {
    AlwaysStop stop;
    InterruptScope scope(stop.check());
    wait_for_the_next_question();
    std::vector<double> dh(taps.K());
    EXPECT_THROW(grad_kernel<double>(x, r, taps, dh, method), interrupted) << to_string(method);
  }
  omp_set_num_threads(threads);
}

TEST(Interrupt, TheBatchedOperationsStopBetweenRows) {
  const auto X = gaussian<double>(4 * 100, 6);
  const std::vector<double> h{1, 2, 3};
  std::vector<double> Y(X.size());
  AlwaysStop stop;
  InterruptScope scope(stop.check());
  wait_for_the_next_question();
  EXPECT_THROW(conv_rows<double>(X, 100, h, Taps::centred(1), Y), interrupted);
}

}  // namespace
}  // namespace convgrad::test
