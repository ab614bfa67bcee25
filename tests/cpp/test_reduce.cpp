// The fixed pairwise tree of reduce.hpp: its root does not depend on how [0, C) is divided
// among threads, ranks or tasks, to the last bit.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/reduce.hpp"

namespace convgrad {
namespace {

using reduce::Node;
using reduce::Partial;

// Leaf values of wildly different magnitudes, so that a different order of additions gives
// different bits (checked below: the tree differs from a left-to-right sum).
std::vector<std::vector<double>> leaves(std::size_t C, std::size_t width, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> exponent(-30, 30);
  std::vector<std::vector<double>> out(C, std::vector<double>(width));
  for (auto& v : out)
    for (double& a : v) a = std::ldexp(normal(rng), exponent(rng));
  return out;
}

// The tree as its definition reads, recursively over the leaves.
std::vector<double> literal_tree(const std::vector<std::vector<double>>& v, std::size_t s, std::size_t e) {
  if (e - s == 1) return v[s];
  std::size_t half = 1;
  while (2 * half < e - s) half *= 2;  // the largest power of two < e - s
  std::vector<double> left = literal_tree(v, s, s + half);
  const std::vector<double> right = literal_tree(v, s + half, e);
  for (std::size_t i = 0; i < left.size(); ++i) left[i] += right[i];
  return left;
}

// The canonical nodes' values of every range of `cuts` (a partition of [0, C)), finished.
std::vector<double> finish_partition(const std::vector<std::vector<double>>& v,
                                     const std::vector<std::size_t>& cuts, int threads = 1) {
  const std::size_t C = v.size(), width = v[0].size();
  std::vector<Partial> parts;
  for (std::size_t r = 0; r + 1 < cuts.size(); ++r) {
    auto mine = reduce::node_values(
        C, cuts[r], cuts[r + 1], width,
        [&](std::size_t c, std::span<double> out) { std::copy(v[c].begin(), v[c].end(), out.begin()); },
        threads);
    parts.insert(parts.end(), mine.begin(), mine.end());
  }
  std::shuffle(parts.begin(), parts.end(), std::mt19937_64(cuts.size()));  // arrival order is free
  return reduce::finish(C, parts);
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint64_t>(a[i]) != std::bit_cast<std::uint64_t>(b[i])) return false;
  return true;
}

TEST(Reduce, SplitIsAtTheLargestPowerOfTwoBelowTheSize) {
  EXPECT_EQ(reduce::split({0, 2}), 1u);
  EXPECT_EQ(reduce::split({0, 5}), 4u);
  EXPECT_EQ(reduce::split({0, 8}), 4u);
  EXPECT_EQ(reduce::split({8, 17}), 16u);
  EXPECT_EQ(reduce::split({4, 7}), 6u);
}

// Canonical nodes: in order, tiling [a, b), each a node of the tree, and no two of them
// siblings (else their parent, also inside [a, b), would be the canonical node).
TEST(Reduce, CanonicalNodesTileTheRangeWithTreeNodes) {
  for (std::size_t C = 1; C <= 40; ++C)
    for (std::size_t a = 0; a <= C; ++a)
      for (std::size_t b = a; b <= C; ++b) {
        const auto nodes = reduce::canonical_nodes(C, a, b);
        std::size_t at = a;
        for (const Node n : nodes) {
          ASSERT_EQ(n.begin, at) << C << " [" << a << ", " << b << ")";
          ASSERT_TRUE(reduce::is_node(C, n));
          at = n.end;
        }
        ASSERT_EQ(at, b);
      }
  EXPECT_EQ(reduce::canonical_nodes(7, 4, 7), (std::vector<Node>{{4, 7}}));
  EXPECT_EQ(reduce::canonical_nodes(8, 1, 7), (std::vector<Node>{{1, 2}, {2, 4}, {4, 6}, {6, 7}}));
  EXPECT_THROW(reduce::canonical_nodes(5, 3, 6), invalid_argument);
}

// Every one of the 2^(C-1) partitions of [0, C) into ranges gives the literal tree's bits.
TEST(Reduce, EveryPartitionOfSmallCGivesTheTreesBits) {
  for (std::size_t C = 1; C <= 11; ++C) {
    const auto v = leaves(C, 3, C);
    const std::vector<double> want = literal_tree(v, 0, C);
    for (std::uint64_t mask = 0; mask < (std::uint64_t{1} << (C - 1)); ++mask) {
      std::vector<std::size_t> cuts{0};
      for (std::size_t i = 1; i < C; ++i)
        if (mask >> (i - 1) & 1) cuts.push_back(i);
      cuts.push_back(C);
      ASSERT_TRUE(same_bits(finish_partition(v, cuts), want)) << "C = " << C << ", cut mask " << mask;
    }
  }
}

TEST(Reduce, RandomPartitionsOfLargeCGiveTheTreesBits) {
  std::mt19937_64 rng(7);
  for (const std::size_t C : {100u, 1000u, 1023u, 1025u}) {
    const auto v = leaves(C, 2, C);
    const std::vector<double> want = literal_tree(v, 0, C);
    // The test can fail: a plain left-to-right sum has other bits on these leaves.
    std::vector<double> serial = v[0];
    for (std::size_t c = 1; c < C; ++c)
      for (std::size_t i = 0; i < serial.size(); ++i) serial[i] += v[c][i];
    EXPECT_FALSE(same_bits(serial, want)) << C;
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<std::size_t> cuts{0, C};
      const std::size_t ranks = 1 + rng() % 17;
      for (std::size_t r = 1; r < ranks; ++r) cuts.push_back(rng() % (C + 1));  // empty ranges allowed
      std::sort(cuts.begin(), cuts.end());
      ASSERT_TRUE(same_bits(finish_partition(v, cuts), want)) << "C = " << C << ", trial " << trial;
    }
  }
}

TEST(Reduce, LeavesComputedOnAnyNumberOfThreadsGiveTheSameBits) {
  const auto v = leaves(77, 4, 3);
  const std::vector<double> want = literal_tree(v, 0, 77);
  for (const int threads : {1, 2, 3, 5, 16})
    EXPECT_TRUE(same_bits(finish_partition(v, {0, 30, 77}, threads), want)) << threads;
}

TEST(Reduce, AnAccumulatorFedLeafByLeafIsTheTree) {
  for (std::size_t C = 1; C <= 70; ++C) {
    const auto v = leaves(C, 2, 100 + C);
    reduce::Accumulator acc;
    for (const auto& leaf : v) acc.push(leaf);
    EXPECT_LE(acc.blocks().size(), 7u);  // one aligned block per binary digit of C
    ASSERT_TRUE(same_bits(acc.fold(), literal_tree(v, 0, C))) << C;
  }
}

TEST(Reduce, FinishRefusesPartsThatDoNotTileTheTree) {
  const std::vector<double> one{1.0};
  EXPECT_THROW(reduce::finish(4, {{{0, 2}, one}, {{1, 4}, one}}), invalid_argument);  // overlap
  EXPECT_THROW(reduce::finish(4, {{{0, 2}, one}, {{3, 4}, one}}), invalid_argument);  // gap
  EXPECT_THROW(reduce::finish(4, {{{0, 1}, one}, {{1, 4}, one}}), invalid_argument);  // [1, 4) is no node
  EXPECT_THROW(reduce::finish(4, {{{0, 2}, one}, {{2, 4}, {1.0, 2.0}}}), invalid_argument);  // widths
  EXPECT_THROW(reduce::finish(4, {{{0, 2}, one}}), invalid_argument);                        // short
  EXPECT_EQ(reduce::finish(4, {{{2, 4}, {2.0}}, {{0, 2}, one}}), (std::vector<double>{3.0}));
}

TEST(Reduce, ALeafsErrorReachesTheCaller) {
  EXPECT_THROW(reduce::node_values(
                   9, 0, 9, 1,
                   [](std::size_t c, std::span<double>) {
                     if (c == 5) throw invalid_argument("chunk 5 is bad");
                   },
                   3),
               invalid_argument);
}

}  // namespace
}  // namespace convgrad
