// Data sources, the fixed chunk plan and the per-chunk partial sums of stream.hpp.
//
// A chunk's rows [a, b) of pair p read the window xw = x[a - hi, b - lo) (L = b - a + K - 1
// samples, zero outside the signal). With the taps shifted to m' = m - lo = 0..K-1, row
// t = K-1+i of the window's 'same' model is x[a+i-m]: so
//   yhat[a+i] = conv(xw, h, 0..K-1)[K-1+i]           (X h for the chunk's rows)
//   (X^T r)[j] = grad_kernel(xw, rpad, 0..K-1)[j]     rpad = K-1 zeros, then r
// and the Gram matrix is that of the window's rows [K-1, L) (gram.cpp's gram_rows).
#include "convgrad/stream.hpp"

#include <algorithm>
#include <cmath>
#include <new>
#include <string>

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

Window input_window(const Chunk& chunk, Taps taps) {
  return {chunk.begin - taps.hi, chunk.rows() + taps.K() - 1};
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

// A chunk's window and rows in T, checked finite (naming the pair).
template <std::floating_point T>
struct ChunkData {
  Chunk chunk;
  std::vector<T> xw, yr;
  ChunkData(Source<T>& source, const ChunkPlan& plan, Taps taps, std::size_t c) : chunk(plan.chunk(c)) {
    const Window w = input_window(chunk, taps);
    xw.resize(w.size);
    yr.resize(chunk.rows());
    source.read_x(chunk.pair, w.first, xw);
    source.read_y(chunk.pair, chunk.begin, yr);
    const std::string name = "pair " + std::to_string(chunk.pair);
    require_finite<T>(xw, name + ": x");
    require_finite<T>(yr, name + ": y");
  }
};

Taps shifted(Taps taps) { return Taps::range(0, static_cast<std::int64_t>(taps.K()) - 1); }

template <std::floating_point T>
void require_finite_products(std::span<const T> v) {
  // An FFT's sums can overflow where the direct sums do not: NaN here, not later as a "residual".
  if (!std::all_of(v.begin(), v.end(), [](T a) { return std::isfinite(a); }))
    throw invalid_argument(detail::fit::data_too_large<T>());
}

// X^T u for the chunk's rows: grad_kernel of the window against u placed at rows K-1.. of it.
template <std::floating_point T>
void adjoint_rows(std::span<const T> xw, std::span<const T> u, Taps taps, std::span<T> out, Method method) {
  std::vector<T> upad(xw.size(), T{0});
  std::copy(u.begin(), u.end(), upad.begin() + static_cast<std::ptrdiff_t>(taps.K() - 1));
  grad_kernel<T>(xw, upad, shifted(taps), out, method);
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
  const std::vector<double> xw(d.xw.begin(), d.xw.end()), yr(d.yr.begin(), d.yr.end());
  normal_leaf(xw, yr, taps.K(), out);
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
        const std::vector<T> yhat = conv<T>(d.xw, h, shifted(taps), method);  // rows K-1.. are X h
        require_finite_products<T>(std::span<const T>(yhat));
        std::vector<T> r(d.yr.size());
        residual<T>(std::span<const T>(yhat).subspan(K - 1), d.yr, r);
        const double L = loss<T>(r);
        std::vector<T> dh(K);
        adjoint_rows<T>(d.xw, r, taps, dh, method);
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
        const std::vector<T> xv = conv<T>(d.xw, v, shifted(taps), method);  // X v on rows K-1..
        require_finite_products<T>(std::span<const T>(xv));
        std::vector<T> g(K);
        adjoint_rows<T>(d.xw, std::span<const T>(xv).subspan(K - 1), taps, g, method);  // X^T (X v)
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
