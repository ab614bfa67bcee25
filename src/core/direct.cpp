// The O(N K) sums of the scalar chain rule, computed block by block with SIMD kernels
// (simd.hpp) and OpenMP across the signal.
//
// Layout. The signal is cut into blocks of B outputs. For the block starting at n0 the
// sums read the window xs[t] = x[n0 - hi + t], t = 0..B+K-2 (zero outside [0, N)):
//
//   yhat[n0 + i] = sum_j h[j] x[n0 + i - lo - j] = sum_k hf[k] xs[i + k]    hf[k] = h[K-1-k]
//   dh[j]       += sum_i x[n0 + i - lo - j] r[n0 + i] = g[K-1-j],  g[k] = sum_i xs[i + k] r[n0 + i]
//   dx[n0 + i]   = sum_j h[j] r[n0 + i + lo + j] = sum_j h[j] rs[i + j]   rs[t] = r[n0 + lo + t]
//
// so every kernel is a correlation of a contiguous window; a block inside the signal reads
// x in place, a block at an edge reads a zero-padded copy. The training step runs the
// forward, the residual and dh on one block while its window is in cache: x and y are read
// from memory once, and when the caller keeps neither yhat nor r (loss_and_dh) they stay in
// per-thread block buffers, so nothing of length N is written.
//
// Determinism: the blocks and their grouping into chunks depend only on N, never on the
// thread count or on which thread takes a chunk; dh and the loss are summed per chunk and
// the chunk sums combined in chunk order (chunks.hpp), so any number of threads gives
// identical bits.
// Accuracy: each block's dh sum is formed in T (by SIMD lanes), then added in double.
#include <algorithm>
#include <vector>

#include "chunks.hpp"
#include "kernels.hpp"
#include "simd.hpp"

namespace convgrad::detail::direct {
namespace {

// Outputs per block: 2 KiB of T, so that a block's x window, y, yhat and r stay in L1 with
// room to spare. Measured (bench/RESULTS.md): with 8 KiB blocks a long signal's K = 3 step
// ran at half the speed of the same step on data already in cache; with 2 KiB blocks the
// streams of x and y from memory overlap the work and it runs at the machine's read
// bandwidth, while longer kernels do not notice the difference.
template <std::floating_point T>
constexpr std::int64_t block_length() {
  return 2048 / static_cast<std::int64_t>(sizeof(T));
}

// Below this many multiply-adds (N K, about 10 us of one core) a pass runs on the calling
// thread: waking a sleeping OpenMP worker, and waiting for it at the closing barrier, costs
// more than it saves (measured: N = 1e3, K = 3 ran 7x slower on two threads than on one).
constexpr std::int64_t kParallelWork = std::int64_t{1} << 18;

// Blocks of B samples over [0, N), grouped into chunks (chunks.hpp), and the threads that
// share them (a pass of K multiply-adds per sample).
struct Blocks : Chunks {
  std::int64_t N, B;
  int threads;
  Blocks(std::int64_t N_, std::int64_t B_, std::int64_t K = 1)
      : Chunks((N_ + B_ - 1) / B_), N(N_), B(B_), threads(N_ * K >= kParallelWork ? team_size(chunks) : 1) {}
  std::int64_t begin(std::int64_t b) const { return b * B; }
  std::int64_t end(std::int64_t b) const { return std::min(N, (b + 1) * B); }
};

// The window w[t] = v[first + t], t = 0..len-1, with v = 0 outside [0, N): v itself when the
// window lies inside, otherwise a zero-padded copy in `scratch`.
template <std::floating_point T>
const T* window(std::span<const T> v, std::int64_t first, std::int64_t len, std::vector<T>& scratch) {
  const auto N = static_cast<std::int64_t>(v.size());
  if (first >= 0 && first + len <= N) return v.data() + first;
  scratch.assign(static_cast<std::size_t>(len), T{0});
  const std::int64_t lo = std::max<std::int64_t>(first, 0), hi = std::min(first + len, N);
  if (lo < hi) std::copy(v.begin() + lo, v.begin() + hi, scratch.begin() + (lo - first));
  return scratch.data();
}

template <std::floating_point T>
std::vector<T> flipped(std::span<const T> h, Taps taps, Taps clipped) {
  const auto first = h.begin() + (clipped.lo - taps.lo);
  return std::vector<T>(std::make_reverse_iterator(first + static_cast<std::ptrdiff_t>(clipped.K())),
                        std::make_reverse_iterator(first));
}

// dh[j] = sum over chunks (in chunk order) of g_c[K-1-j], for the clipped taps; 0 elsewhere.
// The chunk sums g are formed in place, in partial's first row.
template <std::floating_point T>
void combine_dh(std::vector<double>& partial, std::int64_t chunks, Taps taps, Taps clipped, std::span<T> dh) {
  std::fill(dh.begin(), dh.end(), T{0});
  const std::size_t K = clipped.K(), offset = static_cast<std::size_t>(clipped.lo - taps.lo);
  double* g = partial.data();
  sum_rows_in_chunk_order(partial.data(), chunks, static_cast<std::int64_t>(K), g);
  for (std::size_t j = 0; j < K; ++j) dh[offset + j] = static_cast<T>(g[K - 1 - j]);
}

// Per-thread buffers of the block loop: the zero-padded window at the signal's edges, and
// the block's yhat and r when the caller keeps neither (a training step that needs only
// the loss and dh leaves them in cache instead of writing 2 N values to memory).
template <std::floating_point T>
struct BlockScratch {
  std::vector<T> window, yhat, r;
  // Kept between calls unless a long kernel made the window large (it holds B + K - 1 values).
  void release_if_large() {
    if (window.capacity() > (std::size_t{1} << 20) / sizeof(T)) std::vector<T>().swap(window);
  }
};

// Runs body(chunk, n0, len, scratch) on every block [n0, n0 + len) by the chunked loop
// (chunks.hpp). On the calling thread the scratch is kept between calls (allocating the
// buffers costs as much as a whole step of a thousand samples); OpenMP workers allocate theirs
// per call (a thread_local in a pool thread of a team started from another thread is never
// destroyed).
template <std::floating_point T, class Body>
void for_each_block(const Blocks& bl, Body&& body) {
  const auto kept = []() -> BlockScratch<T>& {
    thread_local BlockScratch<T> scratch;
    return scratch;
  };
  run_chunked(
      bl, bl.threads, kept, [] { return BlockScratch<T>(); },
      [&](std::int64_t ch, std::int64_t b, BlockScratch<T>& scratch) {
        body(ch, bl.begin(b), bl.end(b) - bl.begin(b), scratch);
      });
  if (bl.threads == 1) kept().release_if_large();
}

// out[n] = sum_k w[k] v[n + shift + k] for all n (v = 0 outside [0, N)), block-parallel.
// yhat: w = hf, shift = -hi; dx: w = h, shift = lo.
template <std::floating_point T>
void correlate_signal(const std::vector<T>& w, std::span<const T> v, std::int64_t shift, std::span<T> out) {
  const auto K = static_cast<std::int64_t>(w.size());
  const Blocks bl(static_cast<std::int64_t>(v.size()), block_length<T>(), K);
  for_each_block<T>(bl, [&](std::int64_t, std::int64_t n0, std::int64_t len, BlockScratch<T>& scratch) {
    const T* s = window(v, n0 + shift, len + K - 1, scratch.window);
    simd::correlate(w.data(), w.size(), s, out.data() + n0, static_cast<std::size_t>(len));
  });
}

}  // namespace

template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat) {
  Taps c;
  if (!clip_taps(taps, static_cast<std::int64_t>(x.size()), c))
    return std::fill(yhat.begin(), yhat.end(), T{0});
  correlate_signal(flipped(h, taps, c), x, -c.hi, yhat);
}

// dx[k] = sum_m h[m] r[k+m]: a correlation of r with h (unflipped).
template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx) {
  Taps c;
  if (!clip_taps(taps, static_cast<std::int64_t>(r.size()), c)) return std::fill(dx.begin(), dx.end(), T{0});
  const auto first = h.begin() + (c.lo - taps.lo);
  correlate_signal(std::vector<T>(first, first + static_cast<std::ptrdiff_t>(c.K())), r, c.lo, dx);
}

// dh[m] = sum_n x[n-m] r[n]: per block g[k] += sum_i xs[i+k] r[n0+i], per chunk in double.
template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh) {
  const auto N = static_cast<std::int64_t>(x.size());
  Taps c;
  if (!clip_taps(taps, N, c)) return std::fill(dh.begin(), dh.end(), T{0});
  const auto K = static_cast<std::int64_t>(c.K());
  const Blocks bl(N, block_length<T>(), K);
  std::vector<double> partial(static_cast<std::size_t>(bl.chunks * K), 0.0);
  for_each_block<T>(bl, [&](std::int64_t ch, std::int64_t n0, std::int64_t len, BlockScratch<T>& scratch) {
    const T* xs = window(x, n0 - c.hi, len + K - 1, scratch.window);
    simd::correlate_accumulate(xs, r.data() + n0, static_cast<std::size_t>(len), c.K(),
                               partial.data() + ch * K);
  });
  combine_dh(partial, bl.chunks, taps, c, dh);
}

// sum_n r[n]^2 in double, in the training step's order: per block (SIMD lanes), blocks in
// order within a chunk, chunks in order. loss() uses it so that the direct step's loss and
// loss(r) agree to the last bit.
template <std::floating_point T>
double sum_squares(std::span<const T> r) {
  const Blocks bl(static_cast<std::int64_t>(r.size()), block_length<T>());
  std::vector<double> sums(static_cast<std::size_t>(bl.chunks), 0.0);
  run_chunked(bl, bl.threads, [&](std::int64_t ch, std::int64_t b) {
    sums[static_cast<std::size_t>(ch)] +=
        simd::sumsq(r.data() + bl.begin(b), static_cast<std::size_t>(bl.end(b) - bl.begin(b)));
  });
  return sum_in_chunk_order(sums);
}

// yhat = 0, r = -y, dh = 0 (yhat and r only when kept); returns 1/2 sum y^2.
template <std::floating_point T>
double step_without_taps(std::span<const T> y, std::span<T> yhat, std::span<T> r, std::span<T> dh) {
  std::fill(dh.begin(), dh.end(), T{0});
  if (r.empty()) return 0.5 * sum_squares<T>(y);  // sum (-y)^2 = sum y^2, bit for bit
  std::fill(yhat.begin(), yhat.end(), T{0});
  for (std::size_t n = 0; n < y.size(); ++n) r[n] = T{0} - y[n];  // yhat - y with yhat = 0
  return 0.5 * sum_squares<T>(r);
}

// One training step, fused per block: yhat, r = yhat - y, sum r^2 and dh's block sums are
// computed while the block's x window and r are in cache. Returns the loss 1/2 sum r^2.
// With yhat and r empty they live only in per-thread block buffers: the step then reads
// x and y once and writes nothing of size N, and gives the same loss and dh bits.
template <std::floating_point T>
double loss_and_grad(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                     std::span<T> yhat, std::span<T> r, std::span<T> dh) {
  const auto N = static_cast<std::int64_t>(x.size());
  Taps c;
  if (!clip_taps(taps, N, c)) return step_without_taps(y, yhat, r, dh);
  const bool keep = !r.empty();
  const std::vector<T> hf = flipped(h, taps, c);
  const auto K = static_cast<std::int64_t>(c.K());
  const Blocks bl(N, block_length<T>(), 2 * K);  // the forward and dh
  std::vector<double> partial(static_cast<std::size_t>(bl.chunks * K), 0.0);
  std::vector<double> sumsq(static_cast<std::size_t>(bl.chunks), 0.0);
  for_each_block<T>(bl, [&](std::int64_t ch, std::int64_t n0, std::int64_t len, BlockScratch<T>& scratch) {
    const auto B = static_cast<std::size_t>(len);
    if (!keep && scratch.r.size() < B) scratch.yhat.resize(B), scratch.r.resize(B);
    T* yh = keep ? yhat.data() + n0 : scratch.yhat.data();
    T* rb = keep ? r.data() + n0 : scratch.r.data();
    const T* xs = window(x, n0 - c.hi, len + K - 1, scratch.window);
    simd::correlate(hf.data(), hf.size(), xs, yh, B);                                       // yhat
    sumsq[static_cast<std::size_t>(ch)] += simd::residual_sumsq(yh, y.data() + n0, rb, B);  // r, sum r^2
    simd::correlate_accumulate(xs, rb, B, c.K(), partial.data() + ch * K);                  // dh
  });
  combine_dh(partial, bl.chunks, taps, c, dh);
  return 0.5 * sum_in_chunk_order(sumsq);
}

#define CONVGRAD_INSTANTIATE(T)                                                                      \
  template void conv<T>(std::span<const T>, Taps, std::span<const T>, std::span<T>);                 \
  template void grad_kernel<T>(std::span<const T>, std::span<const T>, Taps, std::span<T>);          \
  template void grad_input<T>(std::span<const T>, Taps, std::span<const T>, std::span<T>);           \
  template double loss_and_grad<T>(std::span<const T>, std::span<const T>, std::span<const T>, Taps, \
                                   std::span<T>, std::span<T>, std::span<T>);                        \
  template double sum_squares<T>(std::span<const T>);                                                \
  template double step_without_taps<T>(std::span<const T>, std::span<T>, std::span<T>, std::span<T>);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad::detail::direct
