// The normal equations of the 'same' model without the design matrix.
//
//   G[i][j] = sum_{n=0..N-1} x[n-m_i] x[n-m_j],   b[j] = sum_n x[n-m_j] y[n],   m_j = lo + j
//
// G is not Toeplitz: the window n = 0..N-1 cuts the shifted copies of x at different places.
// Two facts build it in O(N log N + K^2) (or O(N K) directly for short kernels):
//
// 1. The first row is the autocorrelation R[d] = sum_q x[q] x[q-d] minus the few products the
//    window leaves out. With q = n - m_0 (so q runs over the window [-lo, N-1-lo]):
//      G[0][j] = sum_{q in [-lo, N-1-lo]} x[q] x[q-j] = R[j] - sum_{q in [j, N-1], q outside} x[q] x[q-j]
//    (at most |lo| excluded products per j).
// 2. Along each diagonal the window slides by one sample:
//      G[i+1][j+1] = sum_{n=0..N-1} x[n-1-m_i] x[n-1-m_j] = sum_{n'=-1..N-2} x[n'-m_i] x[n'-m_j]
//                  = G[i][j] + x[-1-m_i] x[-1-m_j] - x[N-1-m_i] x[N-1-m_j]
//    one O(1) edge correction per entry.
// For the worked example (x = 1..5, m = -1..1) this gives the diagonal 54, 55, 30.
//
// The same two facts give any block of rows n = n0..n1-1 (gram_rows): the first row's window
// becomes [n0 - m_0, n1 - 1 - m_0] and the edge corrections sit at n0 - 1 and n1 - 1. A chunk
// of the fixed chunk plan (stream.hpp) is the block of rows [rows_at, rows_at + b - a) of its
// input window, the samples its rows reach clipped to the signal.
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <bit>
#include <cstdint>
#include <iterator>
#include <cmath>
#include <limits>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/interrupt.hpp"
#include "convgrad/stream.hpp"
#include "fit_internal.hpp"

namespace convgrad {
namespace {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::string fmt(double v) { return format_number(v, 3); }

// x[q], zero outside [0, N).
double at(std::span<const double> x, std::int64_t q) {
  return (q >= 0 && q < static_cast<std::int64_t>(x.size())) ? x[static_cast<std::size_t>(q)] : 0.0;
}

// sum_{q in [a, b]} x[q] x[q-d], clipped to where both factors are inside the signal.
double lagged_products(std::span<const double> x, std::int64_t d, std::int64_t a, std::int64_t b) {
  a = std::max(a, d);
  b = std::min(b, static_cast<std::int64_t>(x.size()) - 1);
  double s = 0;
  for (std::int64_t q = a; q <= b; ++q) s += x[q] * x[q - d];
  return s;
}

// G[i][j] = sum_{n=n0..n1-1} x[n-m_i] x[n-m_j] (x zero outside [0, N)): the rows [n0, n1) of
// the design matrix of x. The 'same' model's Gram matrix is rows [0, N); a chunk's window with
// the taps shifted to 0..K-1 uses its 'valid' rows [K-1, L).
std::vector<double> gram_rows(std::span<const double> x, Taps taps, std::int64_t n0, std::int64_t n1) {
  const auto N = static_cast<std::int64_t>(x.size());
  const auto K = static_cast<std::int64_t>(taps.K());
  const std::int64_t lo = taps.lo;
  // R[d] = sum_q x[q] x[q-d] for d = 0..min(K, N)-1 (zero beyond): the flipped-input
  // correlation grad_kernel computes, with r = x and taps 0..D-1, by whichever method is fastest.
  const std::int64_t D = std::min(K, N);
  std::vector<double> R(static_cast<std::size_t>(K), 0.0);
  {
    std::vector<double> lags = grad_kernel<double>(x, x, Taps::range(0, D - 1));
    std::copy(lags.begin(), lags.end(), R.begin());
  }
  std::vector<double> G(static_cast<std::size_t>(K * K));
  // 1. First row: the products inside the window [n0-lo, n1-1-lo], either summed directly or as
  //    R[j] minus those outside, whichever touches fewer samples.
  const std::int64_t w0 = n0 - lo, w1 = n1 - 1 - lo;
  for (std::int64_t j = 0; j < K; ++j) {
    poll_interrupt("exact solver (Gram matrix)");
    if (j >= N) {
      G[j] = 0;
      continue;
    }
    const std::int64_t inside = std::max<std::int64_t>(0, std::min(w1, N - 1) - std::max(w0, j) + 1);
    const std::int64_t all = N - j;
    if (inside <= all - inside)
      G[j] = lagged_products(x, j, w0, w1);
    else
      G[j] = R[j] - lagged_products(x, j, j, w0 - 1) - lagged_products(x, j, w1 + 1, N - 1);
  }
  // 2. Slide each diagonal j - i = e down from the first row, then mirror.
  for (std::int64_t e = 0; e < K; ++e) {
    poll_interrupt("exact solver (Gram matrix)");
    for (std::int64_t i = 0; i + e + 1 < K; ++i) {
      const std::int64_t mi = lo + i, mj = lo + i + e;
      G[(i + 1) * K + (i + 1 + e)] = G[i * K + (i + e)] + at(x, n0 - 1 - mi) * at(x, n0 - 1 - mj) -
                                     at(x, n1 - 1 - mi) * at(x, n1 - 1 - mj);
    }
  }
  for (std::int64_t i = 0; i < K; ++i)
    for (std::int64_t j = 0; j < i; ++j) G[i * K + j] = G[j * K + i];
  return G;
}

std::vector<double> gram_in_double(std::span<const double> x, Taps taps) {
  return gram_rows(x, taps, 0, static_cast<std::int64_t>(x.size()));
}

// v as doubles: float data are widened into `storage`, double data are used where they are
// (a copy of a long recording costs about as much as its Gram matrix).
template <std::floating_point T>
std::span<const double> in_double(std::span<const T> v, std::vector<double>& storage) {
  if constexpr (std::is_same_v<T, double>) {
    return v;
  } else {
    storage.assign(v.begin(), v.end());
    return storage;
  }
}

void require_gram_budget(std::size_t K, std::size_t budget) {
  const double bytes = static_cast<double>(K) * static_cast<double>(K) * sizeof(double);
  if (bytes > static_cast<double>(budget))
    throw resource_limit("exact solver: the " + std::to_string(K) + " x " + std::to_string(K) +
                         " Gram matrix needs " + fmt(bytes / (1 << 20)) + " MiB, above the budget of " +
                         fmt(static_cast<double>(budget) / (1 << 20)) + " MiB; use an iterative solver");
}

// A = L L^T for a symmetric positive definite A (lower triangle read), overwriting A's lower
// triangle with L; false when A is not positive definite. Right-looking and blocked, like
// Eigen's LLT, but a stop check is polled between row slabs (interrupt.hpp): Eigen's LLT is one
// uninterruptible call of K^3/3 multiply-adds (seconds at K = 4095). For the panel of columns
// [k, k+b) and the rows below it:
//   A11 = L11 L11^T          (Cholesky of the b x b diagonal block)
//   L21 = A21 L11^{-T}       (triangular solve)
//   A22 = A22 - L21 L21^T    (trailing update, lower triangle, one slab of rows at a time)
bool cholesky_in_panels(Mat& A) {
  constexpr Eigen::Index panel = 128, slab = 256;
  const Eigen::Index K = A.rows();
  for (Eigen::Index k = 0; k < K; k += panel) {
    poll_interrupt("exact solver (Cholesky)");
    const Eigen::Index b = std::min(panel, K - k), below = K - k - b;
    Eigen::Ref<Mat> A11 = A.block(k, k, b, b);
    Eigen::LLT<Eigen::Ref<Mat>> diag(A11);  // in place: A11's lower triangle becomes L11
    if (diag.info() != Eigen::Success) return false;
    if (below == 0) break;
    auto L21 = A.block(k + b, k, below, b);
    A.block(k, k, b, b).triangularView<Eigen::Lower>().transpose().solveInPlace<Eigen::OnTheRight>(L21);
    for (Eigen::Index r0 = 0; r0 < below; r0 += slab) {
      poll_interrupt("exact solver (Cholesky)");
      const Eigen::Index rows = std::min(slab, below - r0), cols = r0 + rows;
      A.block(k + b + r0, k + b, rows, cols).noalias() -=
          L21.middleRows(r0, rows) * L21.topRows(cols).transpose();
    }
  }
  A.triangularView<Eigen::StrictlyUpper>().setZero();
  return true;
}

// A^{-1} v through the factor L of cholesky_in_panels: L z = v, then L^T u = z.
Eigen::VectorXd cholesky_solve(const Eigen::Ref<const Mat>& L, const Eigen::VectorXd& v) {
  const Eigen::VectorXd z = L.triangularView<Eigen::Lower>().solve(v);
  return L.transpose().triangularView<Eigen::Upper>().solve(z);
}

// Runs `work`, turning a failed allocation into resource_limit naming what was being allocated
// (`what`, `bytes`): the exact solver's K x K matrices are the allocations that can be huge.
template <typename F>
decltype(auto) allocating(const std::string& what, double bytes, F&& work) {
  try {
    return work();
  } catch (const std::bad_alloc&) {
    throw resource_limit("exact solver: out of memory allocating " + what + " (" + fmt(bytes / (1 << 20)) +
                         " MiB)");
  }
}

// "the K x K <role>", for out-of-memory messages.
std::string gram_name(std::size_t K, const char* role) {
  return "the " + std::to_string(K) + " x " + std::to_string(K) + " " + role;
}
double gram_bytes(std::size_t K, int copies) {
  return static_cast<double>(copies) * static_cast<double>(K) * static_cast<double>(K) * sizeof(double);
}

}  // namespace

namespace detail::fit {
void throw_gram_out_of_memory(std::size_t K, const char* role, int copies) {
  throw resource_limit("exact solver: out of memory allocating " + gram_name(K, role) + " (" +
                       fmt(gram_bytes(K, copies) / (1 << 20)) + " MiB)");
}
}  // namespace detail::fit

namespace {

[[noreturn]] void throw_singular(const std::string& why, double suggested_ridge) {
  throw singular_system("exact solver: " + why +
                        "; the data do not determine every tap. Add a ridge penalty (ridge = " +
                        fmt(suggested_ridge) + ", for example) or use fewer taps");
}

}  // namespace

template <std::floating_point T>
std::vector<double> gram_matrix(std::span<const T> x, Taps taps) {
  (void)Taps::range(taps.lo, taps.hi);
  if (x.empty()) throw invalid_argument("x is empty: a signal needs at least one sample");
  require_finite<T>(x, "x");
  require_gram_budget(taps.K(), kDefaultGramBudget);
  std::vector<double> storage;
  return gram_in_double(in_double(x, storage), taps);
}

NormalEquations::NormalEquations(Taps taps, std::size_t gram_budget, std::size_t first_chunk)
    : taps_(Taps::range(taps.lo, taps.hi)), budget_(gram_budget), first_(first_chunk), end_(first_chunk) {
  require_gram_budget(taps_.K(), gram_budget);
}

namespace detail::fit {

std::size_t normal_width(std::size_t K) { return K * K + K + 1; }

// One chunk's [G, b, yy] from its window xw and its rows yr at xw[rows_at..]: the rows
// [rows_at, rows_at + |yr|) of xw's own design matrix are the chunk's rows (stream.hpp), so
//   G = gram_rows(xw, rows),   b[j] = sum_n xw[n-m_j] yplaced[n] (grad_kernel, yplaced = yr at
//   rows_at, zero elsewhere),   yy = sum_i yr[i]^2.
// A whole pair (rows_at 0, |yr| = |xw|) takes exactly the whole-signal routines.
void normal_leaf(std::span<const double> xw, std::span<const double> yr, std::size_t rows_at, Taps taps,
                 std::span<double> out) {
  const std::size_t K = taps.K();
  const auto n0 = static_cast<std::int64_t>(rows_at), n1 = n0 + static_cast<std::int64_t>(yr.size());
  const std::vector<double> G = allocating(gram_name(K, "matrix X^T X of one chunk"), gram_bytes(K, 1),
                                           [&] { return gram_rows(xw, taps, n0, n1); });
  std::vector<double> placed;
  std::span<const double> y = yr;
  if (yr.size() != xw.size()) {
    placed.assign(xw.size(), 0.0);
    std::copy(yr.begin(), yr.end(), placed.begin() + n0);
    y = placed;
  }
  const std::vector<double> b = grad_kernel<double>(xw, y, taps);
  std::copy(G.begin(), G.end(), out.begin());
  std::copy(b.begin(), b.end(), out.begin() + static_cast<std::ptrdiff_t>(K * K));
  double yy = 0;
  for (const double v : yr) yy += v * v;
  out[K * K + K] = yy;
}

}  // namespace detail::fit

NormalEquations NormalEquations::from_nodes(Taps taps, std::vector<reduce::Partial> nodes, std::size_t pairs,
                                            std::size_t gram_budget) {
  NormalEquations ne(taps, gram_budget);
  const std::size_t width = detail::fit::normal_width(ne.K());
  std::sort(nodes.begin(), nodes.end(),
            [](const reduce::Partial& l, const reduce::Partial& r) { return l.node.begin < r.node.begin; });
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const reduce::Node n = nodes[i].node;
    if (n.end <= n.begin || (i > 0 && n.begin != nodes[i - 1].node.end))
      throw invalid_argument("normal equations: the nodes are not adjacent non-empty chunk ranges (chunk " +
                             std::to_string(n.begin) + ")");
    if (nodes[i].value.size() != width)
      throw invalid_argument("normal equations: a node has " + std::to_string(nodes[i].value.size()) +
                             " values, expected K^2 + K + 1 = " + std::to_string(width));
  }
  if (!nodes.empty()) {
    ne.first_ = nodes.front().node.begin;
    ne.end_ = nodes.back().node.end;
  }
  ne.nodes_ = std::move(nodes);
  ne.pairs_ = pairs;
  return ne;
}

// Appends chunk end_'s value and adds siblings as the tree does: two adjacent aligned blocks of
// 2^k chunks, the left one starting at a multiple of 2^(k+1) (a node of the tree whatever C is).
void NormalEquations::push_leaf(std::vector<double> leaf) {
  nodes_.push_back({{end_, end_ + 1}, std::move(leaf)});
  ++end_;
  cached_ = false;
  while (nodes_.size() >= 2) {
    reduce::Partial& left = nodes_[nodes_.size() - 2];
    const reduce::Partial& right = nodes_.back();
    const std::size_t n = left.node.size();
    if (right.node.size() != n || !std::has_single_bit(n) || left.node.begin % (2 * n) != 0) break;
    reduce::add_into(left.value, right.value);
    left.node.end = right.node.end;
    nodes_.pop_back();
  }
}

template <std::floating_point T>
void NormalEquations::add_window(std::span<const T> x_window, std::span<const T> y_rows,
                                 std::size_t rows_at) {
  const std::size_t K = taps_.K();
  if (y_rows.empty()) throw invalid_argument("add_window: y has no rows");
  if (rows_at > x_window.size() || x_window.size() - rows_at < y_rows.size())
    throw invalid_argument("add_window: " + std::to_string(y_rows.size()) + " rows from index " +
                           std::to_string(rows_at) + " do not fit in the window of " +
                           std::to_string(x_window.size()) + " samples of x");
  require_finite<T>(x_window, "x");
  require_finite<T>(y_rows, "y");
  std::vector<double> xs, ys;
  const std::span<const double> xd = in_double(x_window, xs), yd = in_double(y_rows, ys);
  std::vector<double> leaf = allocating(gram_name(K, "matrix X^T X of one chunk"), gram_bytes(K, 1),
                                        [&] { return std::vector<double>(detail::fit::normal_width(K)); });
  detail::fit::normal_leaf(xd, yd, rows_at, taps_, leaf);
  push_leaf(std::move(leaf));
}

// out[i] = v[first + i], zero outside [0, |v|).
template <std::floating_point T>
void copy_window(std::span<const T> v, std::int64_t first, std::span<T> out) {
  const auto N = static_cast<std::int64_t>(v.size()), L = static_cast<std::int64_t>(out.size());
  // The part of [first, first + L) inside [0, N) is copied, the rest is zero.
  const std::int64_t a = std::clamp<std::int64_t>(-first, 0, L),
                     b = std::clamp<std::int64_t>(N - first, a, L);
  std::fill(out.begin(), out.begin() + a, T{0});
  if (b > a) std::copy(v.begin() + (first + a), v.begin() + (first + b), out.begin() + a);
  std::fill(out.begin() + b, out.end(), T{0});
}
template void copy_window<float>(std::span<const float>, std::int64_t, std::span<float>);
template void copy_window<double>(std::span<const double>, std::int64_t, std::span<double>);

template <std::floating_point T>
void NormalEquations::add(std::span<const T> x, std::span<const T> y, std::size_t rows) {
  if (x.empty()) throw invalid_argument("x is empty: a signal needs at least one sample");
  if (y.size() != x.size())
    throw invalid_argument("x has " + std::to_string(x.size()) + " samples but y has " +
                           std::to_string(y.size()) + " (they must be the same length)");
  if (rows == 0) throw invalid_argument("chunk_rows: must be at least 1");
  require_finite<T>(x, "x");
  require_finite<T>(y, "y");
  const Pair<T> pair{x, y};
  MemorySource<T> source(std::span<const Pair<T>>(&pair, 1));
  const ChunkPlan plan({x.size()}, rows);
  const std::size_t K = taps_.K();
  // The pair's chunks become this object's chunks end_.. in order, computed in parallel.
  allocating(gram_name(K, "matrices X^T X of the chunks in flight"), gram_bytes(K, 2), [&] {
    reduce::leaves_in_order(
        0, plan.chunks(), detail::fit::normal_width(K),
        [&](std::size_t c, std::span<double> value) {
          detail::fit::source_normal_leaf<T>(source, plan, taps_, c, value);
        },
        [&](std::size_t, std::vector<double> value) { push_leaf(std::move(value)); },
        detail::fit::chunk_threads(plan, 0, plan.chunks()));
  });
  ++pairs_;
}

void NormalEquations::merge(const NormalEquations& other) {
  if (other.taps_.lo != taps_.lo || other.taps_.hi != taps_.hi)
    throw invalid_argument("merge: taps " + std::to_string(other.taps_.lo) + ".." +
                           std::to_string(other.taps_.hi) + " differ from " + std::to_string(taps_.lo) +
                           ".." + std::to_string(taps_.hi));
  if (&other == this)
    throw invalid_argument("merge: an object cannot be merged with itself (its chunks would count twice)");
  pairs_ += other.pairs_;
  if (other.nodes_.empty()) return;
  cached_ = false;
  if (nodes_.empty()) {
    first_ = other.first_;
    end_ = other.end_;
    nodes_ = other.nodes_;
    return;
  }
  std::vector<reduce::Partial> moved = other.nodes_;
  if (other.end_ == first_ && other.first_ != end_) {  // other comes first
    moved.insert(moved.end(), std::make_move_iterator(nodes_.begin()), std::make_move_iterator(nodes_.end()));
    nodes_ = std::move(moved);
    first_ = other.first_;
  } else {
    if (other.first_ != end_) {
      if (other.first_ != 0)
        throw invalid_argument("merge: the other object holds chunks [" + std::to_string(other.first_) +
                               ", " + std::to_string(other.end_) + "), not next to this one's [" +
                               std::to_string(first_) + ", " + std::to_string(end_) + ")");
      for (auto& p : moved) {  // numbered from 0: its chunks follow this one's
        p.node.begin += end_;
        p.node.end += end_;
      }
    }
    end_ = moved.back().node.end;
    nodes_.insert(nodes_.end(), std::make_move_iterator(moved.begin()), std::make_move_iterator(moved.end()));
  }
  // Siblings that met at the seam are added now, as push_leaf does.
  for (bool again = true; again;) {
    again = false;
    for (std::size_t i = 0; i + 1 < nodes_.size(); ++i) {
      reduce::Partial& left = nodes_[i];
      const std::size_t n = left.node.size();
      if (nodes_[i + 1].node.size() == n && std::has_single_bit(n) && left.node.begin % (2 * n) == 0) {
        reduce::add_into(left.value, nodes_[i + 1].value);
        left.node.end = nodes_[i + 1].node.end;
        nodes_.erase(nodes_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        again = true;
      }
    }
  }
}

// The root: the tree over [0, end) when the nodes are its nodes (chunks numbered from 0 by the
// data set's plan), otherwise (pieces merged out of plan) their sum in chunk order.
void NormalEquations::total() const {
  if (cached_) return;
  const std::size_t K = taps_.K();
  std::vector<double> root;
  if (nodes_.empty()) {
    root.assign(detail::fit::normal_width(K), 0.0);
  } else {
    const bool tree = first_ == 0 && std::all_of(nodes_.begin(), nodes_.end(), [&](const reduce::Partial& p) {
                        return reduce::is_node(end_, p.node);
                      });
    if (tree) {
      root = reduce::finish(end_, nodes_);
    } else {
      root = nodes_.front().value;
      for (std::size_t i = 1; i < nodes_.size(); ++i) reduce::add_into(root, nodes_[i].value);
    }
  }
  G_.assign(root.begin(), root.begin() + static_cast<std::ptrdiff_t>(K * K));
  b_.assign(root.begin() + static_cast<std::ptrdiff_t>(K * K),
            root.begin() + static_cast<std::ptrdiff_t>(K * K + K));
  yy_ = root[K * K + K];
  cached_ = true;
}

const std::vector<double>& NormalEquations::gram() const {
  total();
  return G_;
}
const std::vector<double>& NormalEquations::rhs() const {
  total();
  return b_;
}
double NormalEquations::yy() const {
  total();
  return yy_;
}

// The blob of to_bytes, little-endian whatever the host:
//   "CGNE" | u32 version | i64 lo | i64 hi | u64 pairs | u64 first | u64 end | u64 nodes |
//   nodes x (u64 begin | u64 end | (K^2 + K + 1) x f64) | u64 FNV-1a of everything before it
namespace {

constexpr std::uint32_t kBlobVersion = 1;
constexpr char kBlobMagic[4] = {'C', 'G', 'N', 'E'};

void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t fnv1a(std::span<const std::uint8_t> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const std::uint8_t c : bytes) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Reads the blob front to back; every read is bounds-checked.
struct BlobReader {
  std::span<const std::uint8_t> bytes;
  std::size_t at = 0;
  void need(std::size_t n) const {
    if (bytes.size() - at < n)
      throw invalid_argument("normal equations blob: truncated (" + std::to_string(bytes.size()) + " bytes)");
  }
  std::uint64_t u64() {
    need(8);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{bytes[at + i]} << (8 * i);
    at += 8;
    return v;
  }
};

}  // namespace

std::vector<std::uint8_t> NormalEquations::to_bytes() const {
  const std::size_t width = detail::fit::normal_width(K());
  std::vector<std::uint8_t> out(kBlobMagic, kBlobMagic + 4);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(kBlobVersion >> (8 * i)));
  put_u64(out, static_cast<std::uint64_t>(taps_.lo));
  put_u64(out, static_cast<std::uint64_t>(taps_.hi));
  put_u64(out, pairs_);
  put_u64(out, first_);
  put_u64(out, end_);
  put_u64(out, nodes_.size());
  out.reserve(out.size() + nodes_.size() * (16 + 8 * width) + 8);
  for (const reduce::Partial& p : nodes_) {
    put_u64(out, p.node.begin);
    put_u64(out, p.node.end);
    for (const double v : p.value) put_u64(out, std::bit_cast<std::uint64_t>(v));
  }
  put_u64(out, fnv1a(out));
  return out;
}

NormalEquations NormalEquations::from_bytes(std::span<const std::uint8_t> bytes, std::size_t gram_budget) {
  const auto bad = [](const std::string& why) { return invalid_argument("normal equations blob: " + why); };
  if (bytes.size() < 4 + 4 + 6 * 8 + 8 || !std::equal(kBlobMagic, kBlobMagic + 4, bytes.begin()))
    throw bad("not a convgrad NormalEquations blob (no 'CGNE' header)");
  const std::uint32_t version =
      bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (std::uint32_t{bytes[7]} << 24);
  if (version != kBlobVersion)
    throw bad("version " + std::to_string(version) + ", this build reads version " +
              std::to_string(kBlobVersion));
  BlobReader body{bytes.first(bytes.size() - 8), 8};
  BlobReader tail{bytes, bytes.size() - 8};
  if (tail.u64() != fnv1a(body.bytes)) throw bad("checksum mismatch (the blob is corrupt or truncated)");
  const auto lo = static_cast<std::int64_t>(body.u64()), hi = static_cast<std::int64_t>(body.u64());
  if (lo > hi || static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo) >= (std::uint64_t{1} << 31))
    throw bad("taps " + std::to_string(lo) + ".." + std::to_string(hi) + " are not a tap range");
  const Taps taps = Taps::range(lo, hi);
  NormalEquations ne(taps, gram_budget);  // resource_limit beyond the budget, before reading values
  const std::uint64_t pairs = body.u64(), first = body.u64(), end = body.u64(), count = body.u64();
  const std::size_t width = detail::fit::normal_width(taps.K());
  const std::size_t left = body.bytes.size() - body.at;
  if (count != left / (16 + 8 * width) || left % (16 + 8 * width) != 0)
    throw bad(std::to_string(count) + " nodes do not fill the " + std::to_string(left) +
              " bytes that hold them");
  std::vector<reduce::Partial> nodes(count);
  for (auto& p : nodes) {
    p.node.begin = body.u64();
    p.node.end = body.u64();
    p.value.resize(width);
    for (double& v : p.value) v = std::bit_cast<double>(body.u64());
  }
  ne = from_nodes(taps, std::move(nodes), pairs, gram_budget);
  if (first > end || (!ne.nodes_.empty() && (ne.first_ != first || ne.end_ != end)))
    throw bad("the nodes do not span the recorded chunk range");
  ne.first_ = first;
  ne.end_ = end;
  return ne;
}

// (G + ridge I) h = b by Cholesky, after checking the system is not singular to working
// precision: with eigenvalues lambda_min <= lambda_max of A = G + ridge I, a backward-stable
// solve is accurate to about K eps cond(A), so cond(A) >= 1 / (K eps) leaves no correct digit.
ExactSolution NormalEquations::solve(double ridge) const {
  detail::fit::require_ridge(ridge);
  if (end_ == first_) throw invalid_argument("exact solver: no (x, y) pairs were added");
  total();
  const auto K = static_cast<Eigen::Index>(taps_.K());
  const double eps = std::numeric_limits<double>::epsilon();
  Mat A = allocating(gram_name(taps_.K(), "matrix X^T X + ridge I"), gram_bytes(taps_.K(), 1),
                     [&] { return Mat(Eigen::Map<const Mat>(G_.data(), K, K)); });
  const double trace = A.trace();
  A.diagonal().array() += ridge;
  const Eigen::Map<const Eigen::VectorXd> b(b_.data(), K);
  const double suggest = std::max(1e-8 * trace / static_cast<double>(K), 1e-300);
  // Finite data can still overflow: entries of G are sums of products x[i] x[j] (1e200^2 is
  // beyond double). Say so, rather than report NaN eigenvalues as a singular system.
  if (!A.allFinite() || !b.allFinite())
    throw invalid_argument(
        "exact solver: X^T X or X^T y overflows the float64 range: the data are too large "
        "(their products exceed 1.8e308); scale x and y down");
  if (trace == 0 && ridge == 0)
    throw_singular(
        "the Gram matrix X^T X is zero (every x is all zero, or so small that its products underflow)", 1.0);

  ExactSolution out;
  const bool full = taps_.K() <= kExactEigenTaps;
  if (full) {
    const Eigen::VectorXd lambda = allocating(
        gram_name(taps_.K(), "matrices of the eigenvalue solver (two)"), gram_bytes(taps_.K(), 2), [&] {
          return Eigen::VectorXd(Eigen::SelfAdjointEigenSolver<Mat>(A, Eigen::EigenvaluesOnly).eigenvalues());
        });
    out.lambda_min = lambda[0];
    out.lambda_max = lambda[K - 1];
  } else {
    out.lambda_max = detail::fit::largest_eigenvalue_dense({A.data(), static_cast<std::size_t>(A.size())},
                                                           static_cast<std::size_t>(K), "exact solver");
  }
  const double limit = 1.0 / (static_cast<double>(K) * eps);
  if (full && !(out.lambda_min > out.lambda_max / limit))
    throw_singular("the normal equations are singular (smallest eigenvalue " + fmt(out.lambda_min) +
                       ", largest " + fmt(out.lambda_max) + ")",
                   suggest);
  Mat L = allocating(gram_name(taps_.K(), "Cholesky factor L"), gram_bytes(taps_.K(), 1), [&] { return A; });
  if (!cholesky_in_panels(L))
    throw_singular("the normal equations are not positive definite (Cholesky failed)", suggest);
  if (!full) {
    out.lambda_min = detail::fit::smallest_eigenvalue_cholesky({L.data(), static_cast<std::size_t>(L.size())},
                                                               static_cast<std::size_t>(K), "exact solver");
    out.condition_estimated = true;
    if (!(out.lambda_min > out.lambda_max / limit))
      throw_singular("the normal equations are singular (smallest eigenvalue about " + fmt(out.lambda_min) +
                         ", largest " + fmt(out.lambda_max) + ")",
                     suggest);
  }
  out.condition = out.lambda_max / out.lambda_min;
  Eigen::VectorXd h = cholesky_solve(L, b);
  h += cholesky_solve(L, b - A * h);  // one step of iterative refinement
  out.h.assign(h.data(), h.data() + K);
  return out;
}

namespace detail::fit {

// Power iteration with dense products A v.
double largest_eigenvalue_dense(std::span<const double> A, std::size_t n, const char* what) {
  const Eigen::Map<const Mat> M(A.data(), static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
  auto rayleigh = [&](std::span<const double> v, std::span<double> w) {
    Eigen::Map<Eigen::VectorXd>(w.data(), M.rows()) =
        M * Eigen::Map<const Eigen::VectorXd>(v.data(), M.rows());
    return rayleigh_quotient<double>(v, w);
  };
  return power_iteration(n, rayleigh, 1e-8, 300, kPowerSeed,
                         (std::string(what) + " (largest eigenvalue)").c_str());
}

// Inverse iteration: power iteration on A^{-1} (products by two triangular solves), whose
// dominant eigenvalue is 1 / lambda_min.
double smallest_eigenvalue_cholesky(std::span<const double> L, std::size_t n, const char* what) {
  const Eigen::Map<const Mat> factor(L.data(), static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
  auto rayleigh = [&](std::span<const double> v, std::span<double> w) {
    Eigen::Map<Eigen::VectorXd>(w.data(), factor.rows()) =
        cholesky_solve(factor, Eigen::Map<const Eigen::VectorXd>(v.data(), factor.rows()));
    return rayleigh_quotient<double>(v, w);
  };
  return 1.0 / power_iteration(n, rayleigh, 1e-8, 300, 0xfee1,
                               (std::string(what) + " (smallest eigenvalue)").c_str());
}

}  // namespace detail::fit

template void NormalEquations::add<float>(std::span<const float>, std::span<const float>, std::size_t);
template void NormalEquations::add<double>(std::span<const double>, std::span<const double>, std::size_t);
template void NormalEquations::add_window<float>(std::span<const float>, std::span<const float>, std::size_t);
template void NormalEquations::add_window<double>(std::span<const double>, std::span<const double>,
                                                  std::size_t);
template std::vector<double> gram_matrix<float>(std::span<const float>, Taps);
template std::vector<double> gram_matrix<double>(std::span<const double>, Taps);

}  // namespace convgrad
