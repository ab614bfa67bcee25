// Fitting data that need not be in memory: a data source read chunk by chunk, the fixed chunk
// plan, the per-chunk partial sums and their reduction (reduce.hpp), and fit() over a source.
//
// The rule that makes every answer identical bit for bit (docs/scale.md):
//   1. The rows n = 0..N_p-1 of every pair p are cut into chunks of R rows (R = kFitChunkRows
//      unless overridden), numbered globally: pair 0's chunks in order, then pair 1's, ...
//      The plan depends on the lengths and R only, never on threads, ranks or file format.
//   2. Chunk rows [a, b) of pair p need the input window x[a - hi, b - lo) (b - a + K - 1
//      samples, zero outside [0, N_p)) and y[a, b): exactly those rows of the design matrix
//      X[n][j] = x[n - (lo + j)], the 'valid' rows of the window with the taps shifted to
//      0..K-1.
//   3. Each chunk gives partial sums ((G, b, y^T y), or (loss, dF/dh), or G v), added by the
//      one tree of reduce.hpp.
// The in-memory fit (fit.hpp) is fit() over a MemorySource, so it equals the streamed, MPI and
// Dask fits with the same R to the last bit.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <span>
#include <string>
#include <vector>

#include "convgrad/fit.hpp"
#include "convgrad/reduce.hpp"
#include "convgrad/taps.hpp"

namespace convgrad {

// Where a data set lives: P pairs of (x, y) signals, read a range at a time. Reads may be
// called from several threads at once (the library reads chunks in parallel); an
// implementation that cannot serve that must lock. Errors (a short file, a bad value) are
// thrown as convgrad exceptions naming the pair.
template <std::floating_point T>
class Source {
 public:
  virtual ~Source() = default;
  virtual std::size_t pairs() = 0;
  // N_p >= 1, the samples in x_p (and y_p).
  virtual std::size_t length(std::size_t p) = 0;
  // out[i] = x_p[first + i], zero outside [0, N_p) (first may be negative).
  virtual void read_x(std::size_t p, std::int64_t first, std::span<T> out) = 0;
  // out[i] = y_p[first + i]; the range lies inside [0, N_p).
  virtual void read_y(std::size_t p, std::int64_t first, std::span<T> out) = 0;
};

// A Source over pairs already in memory (non-owning; validated by validate_pairs).
template <std::floating_point T>
class MemorySource final : public Source<T> {
 public:
  explicit MemorySource(std::span<const Pair<T>> data);
  std::size_t pairs() override { return data_.size(); }
  std::size_t length(std::size_t p) override { return data_[p].x.size(); }
  void read_x(std::size_t p, std::int64_t first, std::span<T> out) override;
  void read_y(std::size_t p, std::int64_t first, std::span<T> out) override;

 private:
  std::span<const Pair<T>> data_;
};

// Rows [begin, end) of pair `pair`.
struct Chunk {
  std::size_t pair = 0;
  std::int64_t begin = 0, end = 0;
  std::size_t rows() const { return static_cast<std::size_t>(end - begin); }
};

// The input window of a chunk: x[first, first + size) = x[begin - hi, end - lo), zero outside
// [0, N_p); with the taps shifted to 0..K-1, rows K-1..size-1 of the window's design matrix
// are the chunk's rows.
struct Window {
  std::int64_t first = 0;
  std::size_t size = 0;
};
Window input_window(const Chunk& chunk, Taps taps);

// The fixed chunk plan of a data set: each pair's rows cut into chunks of `rows` rows (the
// last may be shorter), numbered pair by pair. invalid_argument for rows = 0 or a zero length.
class ChunkPlan {
 public:
  explicit ChunkPlan(std::vector<std::size_t> lengths, std::size_t rows = kFitChunkRows);
  std::size_t rows() const { return rows_; }
  std::size_t pairs() const { return lengths_.size(); }
  std::size_t length(std::size_t p) const { return lengths_[p]; }
  std::size_t chunks() const { return first_.back(); }  // C
  std::size_t first_chunk(std::size_t p) const {
    return first_[p];
  }  // pair p: [first_chunk(p), first_chunk(p + 1))
  Chunk chunk(std::size_t c) const;

 private:
  std::vector<std::size_t> lengths_, first_;
  std::size_t rows_;
};

template <std::floating_point T>
ChunkPlan chunk_plan(Source<T>& source, std::size_t rows = kFitChunkRows);

// ---- Per-chunk partial sums, as the canonical-node values of a chunk range [a, b) ----

// The normal equations of chunks [a, b) of `source` (the tree over [0, plan.chunks())): a
// NormalEquations holding the canonical nodes of [a, b). Pieces covering [0, C) merged in any
// grouping solve to the same bits as one piece over everything.
template <std::floating_point T>
NormalEquations normal_equations(Source<T>& source, const ChunkPlan& plan, Taps taps, std::size_t a,
                                 std::size_t b, std::size_t gram_budget = kDefaultGramBudget);

// Width and layout of an objective partial: [sum_n 1/2 r_n^2, dF/dh_0 .. dF/dh_{K-1}] (no ridge).
inline std::size_t objective_width(Taps taps) { return taps.K() + 1; }

// The objective partials of chunks [a, b) at h (K taps): the canonical nodes' values, each
// [loss, X^T r] summed over its chunks, r = X h - y in T. When `chunk_loss` is non-null it
// receives the loss of each chunk a..b-1 (for the per-pair losses). `skip(c)`, when given,
// makes chunk c count as zero (mini-batches: chunks of pairs outside the batch).
template <std::floating_point T>
std::vector<reduce::Partial> objective_partials(Source<T>& source, const ChunkPlan& plan, Taps taps,
                                                std::span<const T> h, std::size_t a, std::size_t b,
                                                std::vector<double>* chunk_loss = nullptr,
                                                const std::function<bool(std::size_t)>& skip = {},
                                                Method method = Method::automatic);

// The partials of G v = X^T (X v) for chunks [a, b) (power iteration), width K.
template <std::floating_point T>
std::vector<reduce::Partial> gram_product_partials(Source<T>& source, const ChunkPlan& plan, Taps taps,
                                                   std::span<const T> v, std::size_t a, std::size_t b,
                                                   Method method = Method::automatic);

// ---- A fit whose sums are reduced across processes ----

// How fit() over a source shares its work: which chunks this process computes, and how the
// partials of all processes meet. The default (no Reducer) computes every chunk here. scale-mpi
// implements it over MPI (src/dist/); the library never includes mpi.h.
class Reducer {
 public:
  virtual ~Reducer() = default;
  // The chunk range [first, second) this process computes, out of C (contiguous, the ranges of
  // all processes partitioning [0, C)).
  virtual std::pair<std::size_t, std::size_t> local_chunks(std::size_t C) = 0;
  // Every process's partials, gathered to every process (any order; reduce::finish completes
  // the tree). `error` is empty, or the message of an exception this process met computing its
  // partials: if any process's error is non-empty, every process must throw (one error naming
  // it); a process whose own error is non-empty may return instead and the library rethrows
  // its own exception. Called the same number of times, in the same order, on every process.
  virtual std::vector<reduce::Partial> all_gather(std::vector<reduce::Partial> mine,
                                                  const std::string& error) = 0;
};

// Minimises F over the pairs of `source` (see fit.hpp: the same options, results and errors),
// reading the data in chunks of options.chunk_rows rows: the exact solver in one pass, the
// iterative solvers one pass per evaluation. With a reducer, each process computes its own
// chunks and the partials are gathered every pass; every process returns the same result.
template <std::floating_point T>
FitResult<T> fit(Source<T>& source, Taps taps, const FitOptions& options, std::span<const T> h0 = {},
                 Reducer* reducer = nullptr);

}  // namespace convgrad
