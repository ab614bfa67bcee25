// Tap ranges: m = lo..hi stored as h[j] = h[m = lo + j]; the centred default -M..M; an even K
// has no centre and is refused unless the first tap is given; absurd ranges are refused.
#include <gtest/gtest.h>

#include <string>

#include "convgrad/errors.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {
namespace {

// Expects `f` to throw invalid_argument whose message contains every one of `parts`.
template <class F>
void expect_invalid(F&& f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "no invalid_argument thrown";
  } catch (const invalid_argument& e) {
    const std::string what = e.what();
    for (const char* p : parts)
      EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
  }
}

TEST(Taps, Constructors) {
  EXPECT_EQ(Taps::centred(0), (Taps{0, 0}));
  EXPECT_EQ(Taps::centred(3), (Taps{-3, 3}));
  EXPECT_EQ(Taps::centred(3).K(), 7u);
  EXPECT_EQ(Taps::centred_for(1), Taps::centred(0));
  EXPECT_EQ(Taps::centred_for(15), Taps::centred(7));
  EXPECT_EQ(Taps::causal(4), (Taps{0, 3}));
  EXPECT_EQ(Taps::from_lo(-5, 2), (Taps{-5, -4}));
  EXPECT_EQ(Taps::from_lo(7, 1), (Taps{7, 7}));
  EXPECT_EQ(Taps::range(-2, 5).K(), 8u);  // an even K is fine with an explicit range
  EXPECT_EQ(Taps::range(4, 4).K(), 1u);
  EXPECT_EQ(Taps::range(-kMaxTapOffset, -kMaxTapOffset + kMaxTaps - 1).K(),
            static_cast<std::size_t>(kMaxTaps));
  EXPECT_EQ(Taps::from_lo(kMaxTapOffset, 1), (Taps{kMaxTapOffset, kMaxTapOffset}));
  EXPECT_EQ(Taps::centred((kMaxTaps - 1) / 2).K(), static_cast<std::size_t>(kMaxTaps - 1));
}

TEST(Taps, EvenKernelWithoutARangeIsRefused) {
  for (const std::int64_t K : {2, 4, 16, 1000}) {
    SCOPED_TRACE(K);
    expect_invalid([&] { Taps::centred_for(K); }, {"even", std::to_string(K).c_str(), "lo"});
    EXPECT_EQ(Taps::from_lo(-K / 2, K).K(), static_cast<std::size_t>(K));  // with lo it is accepted
  }
}

TEST(Taps, RangeChecks) {
  expect_invalid([] { Taps::range(3, 2); }, {"hi = 2", "lo = 3"});
  expect_invalid([] { Taps::range(0, -1); }, {"at least one tap"});
  expect_invalid([] { Taps::range(-kMaxTapOffset - 1, 0); }, {"lo"});
  expect_invalid([] { Taps::range(0, kMaxTapOffset + 1); }, {"hi"});
  expect_invalid([] { Taps::range(0, kMaxTaps); }, {"taps exceed"});  // K = kMaxTaps + 1
  expect_invalid(
      [] { Taps::range(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()); },
      {"lo"});
  expect_invalid([] { Taps::centred(-1); }, {"M = -1"});
  expect_invalid([] { Taps::centred(kMaxTaps / 2); }, {"taps"});  // 2M + 1 = kMaxTaps + 1
  expect_invalid([] { Taps::centred(std::numeric_limits<std::int64_t>::max()); }, {"M ="});
  expect_invalid([] { Taps::centred_for(0); }, {"K = 0"});
  expect_invalid([] { Taps::centred_for(-3); }, {"K = -3"});
  // The caller gave K, so the message names K (it used to say "M = 16777216 gives more than ...")
  expect_invalid([] { Taps::centred_for(kMaxTaps + 1); }, {"K = 16777217", "exceed"});
  expect_invalid([] { Taps::centred_for(std::int64_t{1} << 40); }, {"K = 1099511627776", "exceed"});
  expect_invalid([] { Taps::causal(0); }, {"K = 0"});
  expect_invalid([] { Taps::causal(-1); }, {"K = -1"});
  expect_invalid([] { Taps::causal(kMaxTaps + 1); }, {"exceed"});
  expect_invalid([] { Taps::from_lo(kMaxTapOffset + 1, 1); }, {"lo"});
  expect_invalid([] { Taps::from_lo(kMaxTapOffset, 2); }, {"hi"});  // hi one past the limit
  expect_invalid([] { Taps::from_lo(std::numeric_limits<std::int64_t>::max(), 5); }, {"lo"});
  expect_invalid([] { Taps::from_lo(std::numeric_limits<std::int64_t>::min(), 5); }, {"lo"});
}

}  // namespace
}  // namespace convgrad
