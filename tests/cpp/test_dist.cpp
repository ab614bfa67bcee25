// src/dist/ without MPI (a world of one, convgrad_dist_single): how the chunks are divided
// among ranks, the partials' wire format, and the reducer's answer. The jobs with real ranks
// are in tests/python/test_mpi.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "convgrad/reduce.hpp"
#include "reducer.hpp"
#include "world.hpp"

namespace convgrad::dist {
namespace {

// Partials with values that round when added (not dyadic), so that a sum in another order
// would differ in the last bits.
std::vector<double> leaf_value(std::size_t c, std::size_t width) {
  std::mt19937_64 rng(1000 + c);
  std::normal_distribution<double> normal;
  std::vector<double> v(width);
  for (auto& e : v) e = normal(rng) * std::exp(normal(rng));
  return v;
}

std::vector<reduce::Partial> rank_partials(std::size_t C, int rank, int ranks, std::size_t width) {
  const auto [a, b] = rank_chunks(C, rank, ranks);
  return reduce::node_values(C, a, b, width, [&](std::size_t c, std::span<double> value) {
    const auto v = leaf_value(c, value.size());
    std::copy(v.begin(), v.end(), value.begin());
  });
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  // (empty vectors are equal without memcmp: their data() may be null)
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

TEST(RankChunks, PartitionTheChunksInRankOrderAsEvenlyAsWholeChunksAllow) {
  for (std::size_t C = 0; C <= 40; ++C)
    for (int P = 1; P <= 7; ++P) {
      std::size_t next = 0;
      for (int r = 0; r < P; ++r) {
        const auto [a, b] = rank_chunks(C, r, P);
        EXPECT_EQ(a, next) << "C = " << C << ", P = " << P << ", rank " << r;
        EXPECT_LE(b - a, C / P + 1);
        EXPECT_GE(b - a, C / P);
        next = b;
      }
      EXPECT_EQ(next, C);
    }
  // No overflow where C r would: C near 2^63, P large.
  const std::size_t C = std::numeric_limits<std::size_t>::max() / 2;
  EXPECT_EQ(rank_chunks(C, 999, 1000).second, C);
}

TEST(PartialBytes, RoundTripToTheLastBit) {
  std::vector<reduce::Partial> parts = {{{0, 4}, leaf_value(0, 7)}, {{4, 6}, leaf_value(1, 7)}, {{6, 7}, {}}};
  parts[0].value[1] = -0.0;
  parts[0].value[2] = std::numeric_limits<double>::denorm_min();
  const auto back = from_bytes(to_bytes(parts));
  ASSERT_EQ(back.size(), parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ(back[i].node, parts[i].node);
    EXPECT_TRUE(same_bits(back[i].value, parts[i].value));
  }
  EXPECT_TRUE(from_bytes(to_bytes({})).empty());
}

TEST(PartialBytes, ACutForeignOrPaddedMessageIsRefusedNeverRead) {
  const std::string good = to_bytes({{{0, 2}, leaf_value(0, 5)}, {{2, 3}, leaf_value(2, 5)}});
  for (std::size_t n = 0; n < good.size(); ++n)
    EXPECT_THROW(from_bytes(good.substr(0, n)), std::runtime_error) << "cut to " << n << " bytes";
  EXPECT_THROW(from_bytes(good + "x"), std::runtime_error);
  std::string foreign = good;
  foreign[0] ^= 1;
  EXPECT_THROW(from_bytes(foreign), std::runtime_error);
  // A width claiming more values than the message holds: refused before any allocation.
  std::string huge = to_bytes({{{0, 1}, {}}});
  const std::uint64_t width = std::uint64_t{1} << 60;
  std::memcpy(huge.data() + huge.size() - sizeof width, &width, sizeof width);
  EXPECT_THROW(from_bytes(huge), std::runtime_error);
}

// What every rank of P computes, sent as bytes and completed by the tree at one place, is the
// same root for every P to the last bit: the reason `mpirun -np P` agrees with one process.
TEST(TreeAcrossRanks, TheRootIsTheSameToTheLastBitForEveryNumberOfRanks) {
  for (const std::size_t C : {1u, 2u, 5u, 13u, 64u, 100u}) {
    const std::size_t width = 6;
    std::vector<double> one;
    for (int P = 1; P <= 5; ++P) {
      std::vector<reduce::Partial> received;
      for (int r = 0; r < P; ++r)
        for (auto& p : from_bytes(to_bytes(rank_partials(C, r, P, width)))) received.push_back(std::move(p));
      const std::vector<double> root = reduce::finish(C, std::move(received));
      if (P == 1) one = root;
      EXPECT_TRUE(same_bits(root, one)) << "C = " << C << ", P = " << P;
    }
  }
}

TEST(TreeReducer, AWorldOfOneHandsBackItsOwnNodes) {
  World& world = dist::world();
  ASSERT_EQ(world.size(), 1);
  TreeReducer reducer(world);
  const std::size_t C = 11;
  EXPECT_EQ(reducer.local_chunks(C), (std::pair<std::size_t, std::size_t>{0, C}));
  const auto mine = rank_partials(C, 0, 1, 4);
  const auto out = reducer.all_gather(mine, "");
  ASSERT_EQ(out.size(), mine.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].node, mine[i].node);
    EXPECT_TRUE(same_bits(out[i].value, mine[i].value));
  }
  EXPECT_EQ(reducer.times().passes, 1u);
  // This rank's own error: nothing to hand back (fit() rethrows the rank's own exception).
  EXPECT_TRUE(reducer.all_gather(mine, "x.npy: sample 7 is NaN").empty());
}

}  // namespace
}  // namespace convgrad::dist
