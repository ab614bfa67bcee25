// Data sources, the fixed chunk plan and the per-chunk partial sums of stream.hpp.
//
// A chunk's rows [a, b) of pair p read the window w = x[first, first + size) (stream.hpp's
// Window: the samples x[a - hi, b - lo) the rows reach, clipped to the signal, widened to hold
// the rows) and y[a, b). Outside the window the rows see only x's zeros, so with row a at
// w's index rows_at the whole-signal routines on w give the chunk's sums:
//   yhat[a+i] = conv(w, h)[rows_at + i]                 (X h for the chunk's rows)
//   (X^T r)[j] = grad_kernel(w, rplaced)[j]             rplaced = r at rows_at, zero elsewhere
//   G = gram_rows(w, rows_at, rows_at + b - a)           (gram.cpp)
// and a chunk that is a whole pair (w = x, rows_at 0) is computed exactly as the whole signal.
#include "convgrad/stream.hpp"

#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <type_traits>

#include "convgrad/errors.hpp"
#include "fit_internal.hpp"

namespace convgrad {

template <std::floating_point T>
MemorySource<T>::MemorySource(std::span<const Pair<T>> data) : data_(data) {}

template <std::floating_point T>
void MemorySource<T>::read_x(std::size_t p, std::int64_t first, std::span<T> out) {
  copy_window<T>(data_[p].x, first, out);
}

template <std::floating_point T>
void MemorySource<T>::read_y(std::size_t p, std::int64_t first, std::span<T> out) {
  copy_window<T>(data_[p].y, first, out);
}

Window input_window(const Chunk& chunk, Taps taps, std::size_t N) {
  const auto n = static_cast<std::int64_t>(N);
  const std::int64_t first = std::min(std::max<std::int64_t>(0, chunk.begin - taps.hi), chunk.begin);
  const std::int64_t last = std::max(std::min(n, chunk.end - taps.lo), chunk.end);
  return {first, static_cast<std::size_t>(last - first), static_cast<std::size_t>(chunk.begin - first)};
}

ChunkPlan::ChunkPlan(std::vector<std::size_t> lengths, std::size_t rows)
    : lengths_(std::move(lengths)), rows_(rows) {
  if (rows_ == 0) throw invalid_argument("chunk_rows: must be at least 1");
  first_.assign(1, 0);
  for (std::size_t p = 0; p < lengths_.size(); ++p) {
    if (lengths_[p] == 0)
      throw invalid_argument("pair " + std::to_string(p) +
                             ": x is empty: a signal needs at least one sample");
    first_.push_back(first_.back() + (lengths_[p] + rows_ - 1) / rows_);
  }
}

Chunk ChunkPlan::chunk(std::size_t c) const {
  if (c >= chunks())
    throw invalid_argument("chunk " + std::to_string(c) + " is beyond the plan's " +
                           std::to_string(chunks()));
  const auto p =
      static_cast<std::size_t>(std::upper_bound(first_.begin(), first_.end(), c) - first_.begin()) - 1;
  const std::size_t a = (c - first_[p]) * rows_, b = std::min(lengths_[p], a + rows_);
  return {p, static_cast<std::int64_t>(a), static_cast<std::int64_t>(b)};
}

template <std::floating_point T>
ChunkPlan chunk_plan(Source<T>& source, std::size_t rows) {
  std::vector<std::size_t> lengths(source.pairs());
  for (std::size_t p = 0; p < lengths.size(); ++p) lengths[p] = source.length(p);
  return ChunkPlan(std::move(lengths), rows);
}

namespace {

// A chunk's window and rows in T (in place when the source holds them in memory, else read
// into storage), checked finite (naming the pair).
template <std::floating_point T>
struct ChunkData {
  Chunk chunk;
  Window w;
  std::vector<T> x_storage, y_storage;
  std::span<const T> xw, yr;
  ChunkData(Source<T>& source, const ChunkPlan& plan, Taps taps, std::size_t c)
      : chunk(plan.chunk(c)), w(plan.window(c, taps)) {
    const std::span<const T> x = source.x_in_memory(chunk.pair), y = source.y_in_memory(chunk.pair);
    if (!x.empty() && !y.empty()) {
      xw = x.subspan(static_cast<std::size_t>(w.first), w.size);
      yr = y.subspan(static_cast<std::size_t>(chunk.begin), chunk.rows());
    } else {
      x_storage.resize(w.size);
      y_storage.resize(chunk.rows());
      source.read_x(chunk.pair, w.first, x_storage);
      source.read_y(chunk.pair, chunk.begin, y_storage);
      xw = x_storage;
      yr = y_storage;
    }
    const std::string name = "pair " + std::to_string(chunk.pair);
    require_finite<T>(xw, name + ": x");
    require_finite<T>(yr, name + ": y");
  }
};

template <std::floating_point T>
void require_finite_products(std::span<const T> v) {
  // An FFT's sums can overflow where the direct sums do not: NaN here, not later as a "residual".
  if (!std::all_of(v.begin(), v.end(), [](T a) { return std::isfinite(a); }))
    throw invalid_argument(detail::fit::data_too_large<T>());
}

// X^T u for the chunk's rows: grad_kernel of the window against u placed at rows_at (u itself
// when the rows fill the window).
template <std::floating_point T>
void adjoint_rows(std::span<const T> xw, std::span<const T> u, std::size_t rows_at, Taps taps,
                  std::span<T> out, Method method) {
  if (u.size() == xw.size()) return grad_kernel<T>(xw, u, taps, out, method);
  std::vector<T> placed(xw.size(), T{0});
  std::copy(u.begin(), u.end(), placed.begin() + static_cast<std::ptrdiff_t>(rows_at));
  grad_kernel<T>(xw, placed, taps, out, method);
}

}  // namespace

namespace detail::fit {
int chunk_threads(const ChunkPlan& plan, std::size_t a, std::size_t b) {
  // A team wakes in up to a millisecond on a virtual machine; a chunk of 2^15 rows takes longer.
  constexpr std::size_t kParallelRows = std::size_t{1} << 15;
  std::size_t rows = 0;
  for (std::size_t c = a; c < b && rows < kParallelRows * (b - a); ++c) rows += plan.chunk(c).rows();
  return b - a >= 2 && rows >= kParallelRows * (b - a) ? 0 : 1;
}

template <std::floating_point T>
void source_normal_leaf(Source<T>& source, const ChunkPlan& plan, Taps taps, std::size_t c,
                        std::span<double> out) {
  const ChunkData<T> d(source, plan, taps, c);
  if constexpr (std::is_same_v<T, double>) {
    normal_leaf(d.xw, d.yr, d.w.rows_at, taps, out);
  } else {  // the sums are in double whatever T is (gram.cpp)
    const std::vector<double> xw(d.xw.begin(), d.xw.end()), yr(d.yr.begin(), d.yr.end());
    normal_leaf(xw, yr, d.w.rows_at, taps, out);
  }
}
}  // namespace detail::fit

template <std::floating_point T>
NormalEquations normal_equations(Source<T>& source, const ChunkPlan& plan, Taps taps, std::size_t a,
                                 std::size_t b, std::size_t gram_budget) {
  taps = Taps::range(taps.lo, taps.hi);
  NormalEquations empty(taps, gram_budget);  // checks the budget before any work
  std::vector<reduce::Partial> nodes;
  try {
    nodes = reduce::node_values(
        plan.chunks(), a, b, detail::fit::normal_width(taps.K()),
        [&](std::size_t c, std::span<double> v) {
          detail::fit::source_normal_leaf<T>(source, plan, taps, c, v);
        },
        detail::fit::chunk_threads(plan, a, b));
  } catch (const std::bad_alloc&) {  // the chunks' K x K sums in flight
    detail::fit::throw_gram_out_of_memory(taps.K(), "matrix X^T X of one chunk", 1);
  }
  std::size_t pairs = 0;  // the pairs whose first chunk is in [a, b)
  for (std::size_t p = 0; p < plan.pairs(); ++p) pairs += plan.first_chunk(p) >= a && plan.first_chunk(p) < b;
  return NormalEquations::from_nodes(taps, std::move(nodes), pairs, gram_budget);
}

template <std::floating_point T>
std::vector<reduce::Partial> objective_partials(Source<T>& source, const ChunkPlan& plan, Taps taps,
                                                std::span<const T> h, std::size_t a, std::size_t b,
                                                std::vector<double>* chunk_loss,
                                                const std::function<bool(std::size_t)>& skip, Method method) {
  const std::size_t K = taps.K();
  if (chunk_loss) chunk_loss->assign(b - a, 0.0);
  return reduce::node_values(
      plan.chunks(), a, b, objective_width(taps),
      [&](std::size_t c, std::span<double> v) {
        if (skip && skip(c)) return;  // outside the mini-batch: counts as zero
        const ChunkData<T> d(source, plan, taps, c);
        std::vector<T> dh(K);
        if (d.yr.size() == d.xw.size()) {  // a whole pair: the fused whole-signal step
          v[0] = loss_and_dh<T>(d.xw, d.yr, h, taps, dh, method);
          for (std::size_t j = 0; j < K; ++j) v[1 + j] = dh[j];
          if (chunk_loss) (*chunk_loss)[c - a] = v[0];
          return;
        }
        const std::vector<T> yhat = conv<T>(d.xw, h, taps, method);  // rows rows_at.. are X h
        require_finite_products<T>(std::span<const T>(yhat));
        std::vector<T> r(d.yr.size());
        residual<T>(std::span<const T>(yhat).subspan(d.w.rows_at, r.size()), d.yr, r);
        const double L = loss<T>(r);
        adjoint_rows<T>(d.xw, r, d.w.rows_at, taps, dh, method);
        v[0] = L;
        for (std::size_t j = 0; j < K; ++j) v[1 + j] = dh[j];
        if (chunk_loss) (*chunk_loss)[c - a] = L;
      },
      detail::fit::chunk_threads(plan, a, b));
}

template <std::floating_point T>
std::vector<reduce::Partial> gram_product_partials(Source<T>& source, const ChunkPlan& plan, Taps taps,
                                                   std::span<const T> v, std::size_t a, std::size_t b,
                                                   Method method) {
  const std::size_t K = taps.K();
  return reduce::node_values(
      plan.chunks(), a, b, K,
      [&](std::size_t c, std::span<double> out) {
        const ChunkData<T> d(source, plan, taps, c);
        const std::vector<T> xv = conv<T>(d.xw, v, taps, method);  // X v on rows rows_at..
        require_finite_products<T>(std::span<const T>(xv));
        std::vector<T> g(K);
        adjoint_rows<T>(d.xw, std::span<const T>(xv).subspan(d.w.rows_at, d.chunk.rows()), d.w.rows_at, taps,
                        g,
                        method);  // X^T (X v)
        for (std::size_t j = 0; j < K; ++j) out[j] = g[j];
      },
      detail::fit::chunk_threads(plan, a, b));
}

#define CONVGRAD_INSTANTIATE(T)                                                                              \
  template class MemorySource<T>;                                                                            \
  template ChunkPlan chunk_plan<T>(Source<T>&, std::size_t);                                                 \
  template void detail::fit::source_normal_leaf<T>(Source<T>&, const ChunkPlan&, Taps, std::size_t,          \
                                                   std::span<double>);                                       \
  template NormalEquations normal_equations<T>(Source<T>&, const ChunkPlan&, Taps, std::size_t, std::size_t, \
                                               std::size_t);                                                 \
  template std::vector<reduce::Partial> objective_partials<T>(                                               \
      Source<T>&, const ChunkPlan&, Taps, std::span<const T>, std::size_t, std::size_t,                      \
      std::vector<double>*, const std::function<bool(std::size_t)>&, Method);                                \
  template std::vector<reduce::Partial> gram_product_partials<T>(                                            \
      Source<T>&, const ChunkPlan&, Taps, std::span<const T>, std::size_t, std::size_t, Method);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad
