// Fitting chunk by chunk: the chunk plan, one chunk's normal equations against the literal
// design matrix, chunked against whole, merged and serialised pieces, fits over a source and
// across simulated processes (a Reducer over threads), all to the bit where the chunking is
// the same.
#include <gtest/gtest.h>
#include <omp.h>

#include <Eigen/Dense>
#include <algorithm>
#include <barrier>
#include <bit>
#include <cmath>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/stream.hpp"
#include "test_util.hpp"

namespace convgrad {
namespace {

using test::dyadic;
using test::gaussian;

constexpr double kEps = std::numeric_limits<double>::epsilon();

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](double u, double v) {
           return std::bit_cast<std::uint64_t>(u) == std::bit_cast<std::uint64_t>(v);
         });
}
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return same_bits(std::vector<double>(a.begin(), a.end()), std::vector<double>(b.begin(), b.end()));
}

// The literal rows [a, b) of the 'same' design matrix X[n][j] = x[n - (lo + j)].
Eigen::MatrixXd design_rows(const std::vector<double>& x, Taps taps, std::int64_t a, std::int64_t b) {
  const auto N = static_cast<std::int64_t>(x.size());
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(b - a, static_cast<Eigen::Index>(taps.K()));
  for (std::int64_t n = a; n < b; ++n)
    for (std::size_t j = 0; j < taps.K(); ++j) {
      const std::int64_t q = n - (taps.lo + static_cast<std::int64_t>(j));
      if (q >= 0 && q < N) X(n - a, static_cast<Eigen::Index>(j)) = x[q];
    }
  return X;
}

// Chunk c's window and rows, read from a source as a streaming caller would.
template <class T>
NormalEquations one_chunk(Source<T>& src, const ChunkPlan& plan, Taps taps, std::size_t c) {
  const Chunk ch = plan.chunk(c);
  const Window w = input_window(ch, taps);
  std::vector<T> xw(w.size), yr(ch.rows());
  src.read_x(ch.pair, w.first, xw);
  src.read_y(ch.pair, ch.begin, yr);
  NormalEquations ne(taps);
  ne.add_window<T>(xw, yr);
  return ne;
}

TEST(ChunkPlan, NumbersChunksPairByPair) {
  const ChunkPlan plan({5, 1, 7}, 3);
  ASSERT_EQ(plan.chunks(), 6u);
  const std::vector<std::array<std::int64_t, 3>> want{{0, 0, 3}, {0, 3, 5}, {1, 0, 1},
                                                      {2, 0, 3}, {2, 3, 6}, {2, 6, 7}};
  for (std::size_t c = 0; c < 6; ++c) {
    const Chunk ch = plan.chunk(c);
    EXPECT_EQ((std::array<std::int64_t, 3>{static_cast<std::int64_t>(ch.pair), ch.begin, ch.end}), want[c])
        << c;
  }
  EXPECT_EQ(plan.first_chunk(2), 3u);
  const Window w = input_window(plan.chunk(4), Taps::range(-2, 5));
  EXPECT_EQ(w.first, 3 - 5);
  EXPECT_EQ(w.size, 3u + 8 - 1);
  EXPECT_THROW(ChunkPlan({5, 0}, 3), invalid_argument);
  EXPECT_THROW(ChunkPlan({5}, 0), invalid_argument);
}

// One chunk's window gives exactly its rows of the design matrix: on dyadic data (exact sums)
// its G, b and yy equal the literal X_rows^T X_rows etc. bit for bit, for tap ranges on either
// side of zero, chunks at both edges and in the middle.
TEST(ChunkWindow, NormalEquationsEqualTheLiteralRowsExactlyOnDyadicData) {
  for (const Taps taps : {Taps::range(-3, 4), Taps::range(2, 6), Taps::range(-7, -1), Taps::range(0, 0),
                          Taps::range(-20, 20)}) {
    const std::size_t N = 61;
    const auto x = dyadic<double>(N, 5), y = dyadic<double>(N, 6);
    const std::vector<Pair<double>> data{{x, y}};
    MemorySource<double> src(data);
    const ChunkPlan plan({N}, 9);
    for (std::size_t c = 0; c < plan.chunks(); ++c) {
      const Chunk ch = plan.chunk(c);
      const NormalEquations ne = one_chunk<double>(src, plan, taps, c);
      const Eigen::MatrixXd X = design_rows(x, taps, ch.begin, ch.end);
      const Eigen::VectorXd yr = Eigen::Map<const Eigen::VectorXd>(y.data() + ch.begin, ch.end - ch.begin);
      const Eigen::MatrixXd G = X.transpose() * X;
      const Eigen::VectorXd b = X.transpose() * yr;
      const std::size_t K = taps.K();
      for (std::size_t i = 0; i < K; ++i) {
        ASSERT_EQ(ne.rhs()[i], b(i)) << taps.lo << ".." << taps.hi << " chunk " << c;
        for (std::size_t j = 0; j < K; ++j) ASSERT_EQ(ne.gram()[i * K + j], G(i, j)) << i << ", " << j;
      }
      ASSERT_EQ(ne.yy(), yr.squaredNorm());
    }
  }
}

// Gaussian data, long kernels (FFT autocorrelation of the window): within the Gram bound of
// test_fit.cpp for a window of L samples, |G - X^T X| <= eps (L + 8 log2 2L + 4 K) ||x_window||^2.
TEST(ChunkWindow, GramEqualsTheLiteralRowsToRoundingOnLongKernels) {
  const std::size_t N = 3000;
  const auto x = gaussian<double>(N, 8), y = gaussian<double>(N, 9);
  const std::vector<Pair<double>> data{{x, y}};
  MemorySource<double> src(data);
  for (const Taps taps : {Taps::centred(255), Taps::causal(301)}) {
    const ChunkPlan plan({N}, 1000);
    for (std::size_t c = 0; c < plan.chunks(); ++c) {
      const Chunk ch = plan.chunk(c);
      const NormalEquations ne = one_chunk<double>(src, plan, taps, c);
      const Eigen::MatrixXd X = design_rows(x, taps, ch.begin, ch.end);
      const Eigen::MatrixXd G = X.transpose() * X;
      const Window w = input_window(ch, taps);
      std::vector<double> xw(w.size);
      src.read_x(0, w.first, xw);
      const double L = static_cast<double>(w.size);
      const double tol = kEps * (L + 8 * std::ceil(std::log2(2 * L)) + 4.0 * taps.K()) *
                         std::pow(test::norm2<double>(xw), 2);
      double worst = 0;
      for (std::size_t i = 0; i < taps.K(); ++i)
        for (std::size_t j = 0; j < taps.K(); ++j)
          worst = std::max(worst, std::abs(ne.gram()[i * taps.K() + j] - G(i, j)));
      EXPECT_LE(worst, tol) << "chunk " << c;
      EXPECT_GT(worst, 0.0);  // the FFT route rounds: the comparison is not vacuous
    }
  }
}

// The pieces of a data set (any ranges of its chunks, merged in any grouping, through bytes or
// not) give the bits of NormalEquations::add with the same rows per chunk.
TEST(NormalEquationsChunks, PiecesMergedInAnyGroupingEqualAddBitwise) {
  const auto x0 = gaussian<double>(1000, 1), y0 = gaussian<double>(1000, 2);
  const auto x1 = gaussian<double>(317, 3), y1 = gaussian<double>(317, 4);
  const std::vector<Pair<double>> data{{x0, y0}, {x1, y1}};
  const Taps taps = Taps::range(-4, 9);
  const std::size_t R = 64;
  NormalEquations whole(taps);
  whole.add<double>(x0, y0, R);
  whole.add<double>(x1, y1, R);
  MemorySource<double> src(data);
  const ChunkPlan plan = chunk_plan(src, R);
  ASSERT_EQ(plan.chunks(), 16u + 5u);
  for (const std::vector<std::size_t> cuts :
       {std::vector<std::size_t>{0, 21}, {0, 5, 6, 21}, {0, 1, 2, 3, 17, 20, 21}}) {
    NormalEquations merged(taps);
    for (std::size_t r = 0; r + 1 < cuts.size(); ++r) {
      const auto bytes = normal_equations<double>(src, plan, taps, cuts[r], cuts[r + 1]).to_bytes();
      merged += NormalEquations::from_bytes(bytes);
    }
    EXPECT_TRUE(same_bits(merged.gram(), whole.gram()));
    EXPECT_TRUE(same_bits(merged.rhs(), whole.rhs()));
    EXPECT_EQ(std::bit_cast<std::uint64_t>(merged.yy()), std::bit_cast<std::uint64_t>(whole.yy()));
    EXPECT_EQ(merged.pairs(), 2u);
    EXPECT_TRUE(same_bits(merged.solve(0.1).h, whole.solve(0.1).h));
  }
  // Merged back to front: the later piece first.
  NormalEquations back = normal_equations<double>(src, plan, taps, 7, 21);
  back.merge(normal_equations<double>(src, plan, taps, 0, 7));
  EXPECT_TRUE(same_bits(back.gram(), whole.gram()));
  // Separately built objects, one pair each: the second's chunks follow the first's.
  NormalEquations a(taps), b(taps);
  a.add<double>(x0, y0, R);
  b.add<double>(x1, y1, R);
  a += b;
  EXPECT_TRUE(same_bits(a.gram(), whole.gram()));
  // Chunked sums differ from one chunk per pair only by rounding (and the test can tell them apart).
  NormalEquations coarse(taps);
  coarse.add<double>(x0, y0);
  coarse.add<double>(x1, y1);
  EXPECT_FALSE(same_bits(coarse.gram(), whole.gram()));
  EXPECT_TRUE(test::within(coarse.gram(), whole.gram(), 1e3 * kEps * (1000 + 317) * 4));
}

TEST(NormalEquationsChunks, MergeRefusesOtherTapsAndDistantRanges) {
  const auto x = gaussian<double>(100, 1);
  const std::vector<Pair<double>> data{{x, x}};
  MemorySource<double> src(data);
  const ChunkPlan plan = chunk_plan(src, 10);
  NormalEquations a = normal_equations<double>(src, plan, Taps::range(-1, 1), 0, 3);
  EXPECT_THROW(a.merge(normal_equations<double>(src, plan, Taps::range(-1, 1), 5, 8)), invalid_argument);
  EXPECT_THROW(a.merge(NormalEquations(Taps::range(-1, 2))), invalid_argument);
  EXPECT_THROW(a.merge(a), invalid_argument);
  EXPECT_THROW(NormalEquations(Taps::range(0, 1)).solve(0), invalid_argument);
}

TEST(NormalEquationsBytes, RoundTripKeepsEveryBit) {
  const auto x = gaussian<float>(500, 1), y = gaussian<float>(500, 2);
  NormalEquations ne(Taps::range(-2, 3));
  ne.add<float>(x, y, 64);
  const auto bytes = ne.to_bytes();
  const NormalEquations back = NormalEquations::from_bytes(bytes);
  EXPECT_EQ(back.to_bytes(), bytes);
  EXPECT_EQ(back.taps().lo, -2);
  EXPECT_EQ(back.taps().hi, 3);
  EXPECT_EQ(back.pairs(), 1u);
  EXPECT_EQ(back.end_chunk(), 8u);
  EXPECT_TRUE(same_bits(back.gram(), ne.gram()));
  EXPECT_TRUE(same_bits(back.solve(0).h, ne.solve(0).h));
  const NormalEquations empty = NormalEquations::from_bytes(NormalEquations(Taps::range(0, 2)).to_bytes());
  EXPECT_EQ(empty.end_chunk(), 0u);
}

// Every single-byte corruption, every truncation and a foreign version are one clear
// invalid_argument, never a crash or a wrong answer.
TEST(NormalEquationsBytes, CorruptTruncatedAndForeignBlobsAreRefused) {
  const auto x = gaussian<double>(50, 1);
  NormalEquations ne(Taps::range(-1, 1));
  ne.add<double>(x, x, 16);
  const auto bytes = ne.to_bytes();
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x10;
    EXPECT_THROW(NormalEquations::from_bytes(bad), invalid_argument) << "byte " << i;
  }
  for (std::size_t n = 0; n < bytes.size(); n += 7)
    EXPECT_THROW(NormalEquations::from_bytes(std::span(bytes).first(n)), invalid_argument) << n;
  auto future = bytes;
  future[4] = 2;
  try {
    NormalEquations::from_bytes(future);
    FAIL() << "a version 2 blob was read";
  } catch (const invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("version 2"), std::string::npos) << e.what();
  }
  // A well-formed blob beyond the reader's Gram budget: resource_limit before any allocation.
  EXPECT_THROW(NormalEquations::from_bytes(bytes, 8), resource_limit);
}

// A Source that is not in memory in one piece: every read goes through a copy (as a file
// reader's would), and counts the samples it served.
template <class T>
class CopyingSource final : public Source<T> {
 public:
  explicit CopyingSource(std::vector<std::vector<T>> xs, std::vector<std::vector<T>> ys) : xs_(xs), ys_(ys) {}
  std::size_t pairs() override { return xs_.size(); }
  std::size_t length(std::size_t p) override { return xs_[p].size(); }
  void read_x(std::size_t p, std::int64_t first, std::span<T> out) override {
    const auto N = static_cast<std::int64_t>(xs_[p].size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::int64_t q = first + static_cast<std::int64_t>(i);
      out[i] = q >= 0 && q < N ? xs_[p][q] : T{0};
    }
  }
  void read_y(std::size_t p, std::int64_t first, std::span<T> out) override {
    if (fail_pair_ == static_cast<std::int64_t>(p))
      throw io_error("pair " + std::to_string(p) + ": y: unreadable");
    std::copy_n(ys_[p].begin() + first, out.size(), out.begin());
  }
  std::int64_t fail_pair_ = -1;

 private:
  std::vector<std::vector<T>> xs_, ys_;
};

template <class T>
struct Data {
  std::vector<std::vector<T>> xs, ys;
  std::vector<Pair<T>> pairs;
  explicit Data(std::vector<std::size_t> lengths, Taps truth) {
    for (std::size_t p = 0; p < lengths.size(); ++p) {
      xs.push_back(gaussian<T>(lengths[p], 10 + p));
      std::vector<T> h = gaussian<T>(truth.K(), 99);
      std::vector<T> y = conv<T>(xs.back(), h, truth);
      const auto noise = gaussian<T>(lengths[p], 50 + p, 0.1);
      for (std::size_t n = 0; n < y.size(); ++n) y[n] += noise[n];
      ys.push_back(y);
    }
    for (std::size_t p = 0; p < xs.size(); ++p) pairs.push_back({xs[p], ys[p]});
  }
};

template <class T>
void expect_same_fit(const FitResult<T>& a, const FitResult<T>& b, const std::string& what) {
  EXPECT_TRUE(same_bits(a.h, b.h)) << what;
  EXPECT_EQ(std::bit_cast<std::uint64_t>(a.loss), std::bit_cast<std::uint64_t>(b.loss)) << what;
  EXPECT_TRUE(same_bits(a.pair_loss, b.pair_loss)) << what;
  EXPECT_EQ(a.iterations, b.iterations) << what;
}

FitOptions options_for(Solver s, std::size_t rows) {
  FitOptions o;
  o.solver = s;
  o.ridge = 1e-3;
  o.max_iter = 60;
  o.chunk_rows = rows;
  o.keep_history = false;
  return o;
}

// fit over another Source implementation equals the in-memory fit bit for bit, for every
// solver and mini-batches, with several chunks per pair.
TEST(SourceFit, EverySolverOverASourceEqualsTheInMemoryFit) {
  const Taps taps = Taps::range(-3, 5);
  Data<float> d({700, 300, 451}, taps);
  for (const Solver s : {Solver::exact, Solver::gd, Solver::nesterov, Solver::adam}) {
    for (const bool batch : {false, true}) {
      if (batch && s == Solver::exact) continue;
      FitOptions o = options_for(s, 128);
      if (batch) o.batch = 2;
      CopyingSource<float> src(d.xs, d.ys);
      const auto streamed = fit<float>(src, taps, o);
      const auto memory = fit<float>(std::span<const Pair<float>>(d.pairs), taps, o);
      expect_same_fit(streamed, memory, std::string(to_string(s)) + (batch ? " batch 2" : ""));
    }
  }
}

// The same fit on 1, 2 and 3 OpenMP threads: the same bits (chunks computed in parallel,
// combined by the tree).
TEST(SourceFit, ThreadCountDoesNotChangeABit) {
  const Taps taps = Taps::range(-6, 6);
  Data<double> d({2000, 999}, taps);
  const int saved = omp_get_max_threads();
  for (const Solver s : {Solver::exact, Solver::gd}) {
    std::vector<FitResult<double>> runs;
    for (const int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      runs.push_back(fit<double>(std::span<const Pair<double>>(d.pairs), taps, options_for(s, 100)));
    }
    omp_set_num_threads(saved);
    expect_same_fit(runs[1], runs[0], "2 threads");
    expect_same_fit(runs[2], runs[0], "3 threads");
  }
}

// The chunk size changes only rounding: taps of a fit in chunks of 37 rows agree with one
// chunk per pair within the exact solver's error bound (4 cond eps (N + 2K), test_fit.cpp).
TEST(SourceFit, ChunkedAndWholeAgreeToRounding) {
  const Taps taps = Taps::range(-2, 7);
  Data<double> d({800, 500}, taps);
  const auto whole =
      fit<double>(std::span<const Pair<double>>(d.pairs), taps, options_for(Solver::exact, kFitChunkRows));
  const auto chunked =
      fit<double>(std::span<const Pair<double>>(d.pairs), taps, options_for(Solver::exact, 37));
  const double tol = 4 * *whole.condition * kEps * (1300 + 2 * taps.K()) * test::norm2(whole.h);
  EXPECT_TRUE(test::within(chunked.h, whole.h, tol));
  EXPECT_FALSE(same_bits(chunked.h, whole.h));  // different chunks, different rounding
}

// P simulated processes (threads), each computing its own chunks and meeting in all_gather as
// MPI ranks would: the taps of every process equal the one-process fit bit for bit, for any P.
class ThreadReducer final : public Reducer {
 public:
  struct Shared {
    explicit Shared(std::size_t P) : P(P), sync(static_cast<std::ptrdiff_t>(P)), inbox(P), errors(P) {}
    std::size_t P;
    std::barrier<> sync;
    std::vector<std::vector<reduce::Partial>> inbox;
    std::vector<std::string> errors;
  };
  ThreadReducer(Shared& s, std::size_t rank) : s_(s), rank_(rank) {}
  std::pair<std::size_t, std::size_t> local_chunks(std::size_t C) override {
    // An uneven division, so ranges cut through tree nodes and pairs.
    return {C * rank_ * rank_ / (s_.P * s_.P), C * (rank_ + 1) * (rank_ + 1) / (s_.P * s_.P)};
  }
  std::vector<reduce::Partial> all_gather(std::vector<reduce::Partial> mine,
                                          const std::string& error) override {
    s_.inbox[rank_] = std::move(mine);
    s_.errors[rank_] = error;
    s_.sync.arrive_and_wait();
    std::vector<reduce::Partial> all;
    std::string failed;
    for (std::size_t r = 0; r < s_.P; ++r) {
      all.insert(all.end(), s_.inbox[r].begin(), s_.inbox[r].end());
      if (!s_.errors[r].empty() && failed.empty()) failed = "rank " + std::to_string(r) + ": " + s_.errors[r];
    }
    s_.sync.arrive_and_wait();  // everyone has read the inboxes before the next round writes them
    if (!failed.empty()) throw error_type(failed);
    return all;
  }
  using error_type = convgrad::error;

 private:
  Shared& s_;
  std::size_t rank_;
};

template <class T>
std::vector<FitResult<T>> fit_on_ranks(std::size_t P, Data<T>& d, Taps taps, const FitOptions& o,
                                       std::int64_t fail_pair = -1,
                                       std::vector<std::string>* errors = nullptr) {
  ThreadReducer::Shared shared(P);
  std::vector<FitResult<T>> out(P);
  std::vector<std::thread> ranks;
  for (std::size_t r = 0; r < P; ++r)
    ranks.emplace_back([&, r] {
      CopyingSource<T> src(d.xs, d.ys);
      if (r == 0) src.fail_pair_ = fail_pair;  // only rank 0's reads can fail
      ThreadReducer reducer(shared, r);
      try {
        out[r] = fit<T>(src, taps, o, {}, &reducer);
      } catch (const std::exception& e) {
        if (errors) (*errors)[r] = e.what();
      }
    });
  for (auto& t : ranks) t.join();
  return out;
}

TEST(SourceFit, ProcessesMeetingInAReducerGiveTheOneProcessBits) {
  const Taps taps = Taps::range(-4, 4);
  Data<double> d({900, 410, 333}, taps);
  for (const Solver s : {Solver::exact, Solver::gd, Solver::adam}) {
    const FitOptions o = options_for(s, 64);
    const auto one = fit<double>(std::span<const Pair<double>>(d.pairs), taps, o);
    for (const std::size_t P : {1u, 2u, 3u, 4u}) {
      const auto runs = fit_on_ranks<double>(P, d, taps, o);
      for (std::size_t r = 0; r < P; ++r)
        expect_same_fit(runs[r], one,
                        std::string(to_string(s)) + " P=" + std::to_string(P) + " rank " + std::to_string(r));
    }
  }
}

// A read failing on one process reaches every process as an error; none hangs.
TEST(SourceFit, AnErrorOnOneProcessEndsEveryProcess) {
  const Taps taps = Taps::range(-1, 1);
  Data<double> d({300, 300}, taps);
  std::vector<std::string> errors(3);
  fit_on_ranks<double>(3, d, taps, options_for(Solver::exact, 64), 0, &errors);
  for (std::size_t r = 0; r < 3; ++r)
    EXPECT_NE(errors[r].find("unreadable"), std::string::npos) << r << ": " << errors[r];
}

}  // namespace
}  // namespace convgrad
