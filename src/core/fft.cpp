// The convolution forms of the derivation, computed through FFTW real transforms in
// overlap-save blocks.
//
// Block layout. With the (clipped) taps lo..hi, K = hi - lo + 1 and a transform length L,
// a block yields P = L - K + 1 outputs n0..n0+P-1 from the window xs[t] = x[n0 - hi + t],
// t = 0..L-1 (zero outside [0, N)). Writing circular convolution / correlation of length L
// as products of spectra (X = FFT xs, H = FFT of h placed at 0..K-1):
//
//   yhat[n0+i] = sum_j h[j] xs[i+K-1-j]    = IFFT(H X)[i + K - 1]        i < P
//   g[k]      += sum_i xs[i+k] r[n0+i]     = IFFT(conj(R) X)[k]          k < K,  dh[j] = g[K-1-j]
//   dx[n0+i]   = sum_j h[j] rs[i+j]        = IFFT(conj(H) RS)[i]         rs[t] = r[n0 + lo + t]
//
// where R is the transform of r[n0..n0+P) placed at 0..P-1. The index ranges never wrap
// (i + K - 1 < L, i + k < L), so the circular results are the linear ones. A training step
// transforms each block's x window once and uses X twice (forward and dh); dh's spectra are
// summed over all blocks (in double, per chunk, chunks in a fixed order) and transformed
// back once at the end, so dh costs one forward transform per block.
//
// Plans are made once per (precision, length) and cached for the life of the process:
// FFTW's planner is not thread-safe (a mutex guards it), executing a plan on new arrays is.
// Taps with |m| >= N never touch the signal; they are clipped away first.
#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "chunks.hpp"
#include "convgrad/errors.hpp"
#include "fftw.hpp"
#include "kernels.hpp"
#include "simd.hpp"

namespace convgrad::detail::fft {
namespace {

template <std::floating_point T>
using Plans = FftwPlans<T>;

template <std::floating_point T>
const Plans<T>& plans_for(std::size_t L) {
  return fftw_plans<T>(L);
}

// The overlap-save geometry for N samples and K taps: transform length L, P outputs per
// block, blocks grouped into chunks (chunks.hpp; fixed by N and K, not by threads).
struct Geometry : Chunks {
  std::int64_t N, K, L, P;
  Geometry(std::int64_t N_, std::int64_t K_, std::int64_t L_)
      : Chunks((N_ + (L_ - K_ + 1) - 1) / (L_ - K_ + 1)), N(N_), K(K_), L(L_), P(L_ - K_ + 1) {}
  std::int64_t begin(std::int64_t b) const { return b * P; }
  std::int64_t end(std::int64_t b) const { return std::min(N, (b + 1) * P); }
};

// Block transform length: the smallest power of two >= 8 K and >= 4096, so that at least
// 7/8 of each block is new output and FFTW's per-call overhead is amortised, but no longer
// than 16384 while that still leaves 3/4 of the block as output (L >= 4 K). With the
// FFTW_ESTIMATE plans (see Plans) a transform of 32768 or more costs 10-40% more per sample
// than one of 16384, whose four block buffers stay in the 1 MiB L2 cache; measured on this
// machine (thread CPU time, one thread), K = 4095 ran 20-25% faster with L = 16384 than
// with 32768 (bench/RESULTS.md). A signal that fits in one such block is done in one
// transform of a 2-3-5-7 length.
std::size_t choose_length(std::size_t n, std::size_t k) {
  constexpr std::size_t kCacheFriendly = 16384;
  std::size_t L = 4096;
  while (L < 8 * k && (L < kCacheFriendly || L < 4 * k)) L *= 2;
  // good_size(m) >= m, so a signal longer than one block needs no search: the search walks
  // every number up to the next 2-3-5-7 one, ~10^8 of them near m = 10^12 (30 s for the cost
  // model's answer, found by fuzzing the tuning cache).
  const std::size_t whole = n + k - 1;
  return whole >= L ? L : std::min(L, good_size(whole));
}

Geometry geometry(std::int64_t N, std::int64_t K) {
  return Geometry(
      N, K,
      static_cast<std::int64_t>(choose_length(static_cast<std::size_t>(N), static_cast<std::size_t>(K))));
}

// dst[t] = v[first + t], t = 0..L-1, with v = 0 outside [0, limit) and outside [0, N).
template <std::floating_point T>
void load_window(std::span<const T> v, std::int64_t first, std::int64_t limit, T* dst, std::int64_t L) {
  const std::int64_t lo = std::clamp<std::int64_t>(first, 0, limit),
                     hi = std::clamp<std::int64_t>(first + L, 0, limit);
  std::fill(dst, dst + L, T{0});
  if (lo < hi) std::copy(v.begin() + lo, v.begin() + hi, dst + (lo - first));
}

// The spectrum of w[0..K) zero-padded to L (H for h).
template <std::floating_point T>
void kernel_spectrum(std::span<const T> w, std::int64_t L, const Plans<T>& plans, FftwBuffer<T>& spec) {
  FftwBuffer<T> padded(static_cast<std::size_t>(L));
  std::fill(std::copy(w.begin(), w.end(), padded.ptr), padded.ptr + L, T{0});
  Fftw<T>::r2c(plans.forward, padded.ptr, spec.complex());
}

// out[f] = a[f] b[f] (conj_a: conj(a[f]) b[f]) for the bins f = 0..L/2.
template <typename C>
void multiply_spectra(const C* a, const C* b, C* out, std::int64_t bins, bool conj_a) {
  const double s = conj_a ? -1.0 : 1.0;
  for (std::int64_t f = 0; f < bins; ++f) {
    const auto ar = a[f][0], ai = static_cast<decltype(ar)>(s * a[f][1]), br = b[f][0], bi = b[f][1];
    out[f][0] = ar * br - ai * bi;
    out[f][1] = ar * bi + ai * br;
  }
}

// One call's setup: clipped taps, block geometry, cached plans and (when needed) H.
template <std::floating_point T>
struct Setup {
  Taps taps, c;  // the caller's taps and those that reach the signal
  Geometry geo;
  const Plans<T>* plans;
  std::int64_t bins;
  T scale;  // FFTW's inverse is unnormalised: scale by 1/L
  std::unique_ptr<FftwBuffer<T>> H;

  Setup(Taps taps_, Taps clipped, std::int64_t N, std::span<const T> h)
      : taps(taps_), c(clipped), geo(geometry(N, static_cast<std::int64_t>(clipped.K()))) {
    plans = &plans_for<T>(static_cast<std::size_t>(geo.L));
    bins = geo.L / 2 + 1;
    scale = T{1} / static_cast<T>(geo.L);
    if (!h.empty()) {
      H = std::make_unique<FftwBuffer<T>>(static_cast<std::size_t>(2 * bins));
      kernel_spectrum(h.subspan(static_cast<std::size_t>(c.lo - taps.lo), c.K()), geo.L, *plans, *H);
    }
  }
};

// Per-thread work arrays of one block.
template <std::floating_point T>
struct BlockBuffers {
  FftwBuffer<T> window, X, Y, back;
  std::vector<T> yhat, r;  // the block's yhat and r when the caller keeps neither
  BlockBuffers(std::int64_t L, std::int64_t bins)
      : window(static_cast<std::size_t>(L)),
        X(static_cast<std::size_t>(2 * bins)),
        Y(static_cast<std::size_t>(2 * bins)),
        back(static_cast<std::size_t>(L)) {}
};

// yhat[n0+i] = IFFT(H X)[i + K - 1], i < P, with X the spectrum of the block's x window in b.X.
template <std::floating_point T>
void block_forward(const Setup<T>& s, BlockBuffers<T>& b, T* yhat, std::int64_t P) {
  multiply_spectra(s.H->complex(), b.X.complex(), b.Y.complex(), s.bins, false);
  Fftw<T>::c2r(s.plans->inverse, b.Y.complex(), b.back.ptr);
  const std::int64_t K = s.geo.K;
  for (std::int64_t i = 0; i < P; ++i) yhat[i] = b.back.ptr[i + K - 1] * s.scale;
}

// G += conj(R) X, R the spectrum of r[0..P) placed at 0..P-1, X the block's x spectrum.
template <std::floating_point T>
void block_accumulate_dh(const Setup<T>& s, BlockBuffers<T>& b, const T* r, std::int64_t P, double* G) {
  std::fill(std::copy(r, r + P, b.window.ptr), b.window.ptr + s.geo.L, T{0});
  auto* R = b.Y.complex();
  Fftw<T>::r2c(s.plans->forward, b.window.ptr, R);
  const auto* X = b.X.complex();
  for (std::int64_t f = 0; f < s.bins; ++f) {
    const T rr = R[f][0], ri = R[f][1], xr = X[f][0], xi = X[f][1];
    G[2 * f] += static_cast<double>(rr * xr + ri * xi);
    G[2 * f + 1] += static_cast<double>(rr * xi - ri * xr);
  }
}

// Per-chunk sums of dh's spectrum, G_c = sum over the chunk's blocks of conj(R) X: chunks x
// (2 bins) doubles (megabytes for long kernels). Left uninitialised here: each chunk's
// worker zeroes its own slice on its first block (slice), so the zeroing and the page
// faults of a fresh allocation run in parallel instead of before the parallel region.
struct SpectrumSums {
  std::unique_ptr<double[]> G;
  std::int64_t width;
  SpectrumSums(const Geometry& geo, std::int64_t bins)
      : G(new double[static_cast<std::size_t>(geo.chunks * 2 * bins)]), width(2 * bins) {}
  double* slice(const Geometry& geo, std::int64_t ch, std::int64_t n0) {
    double* g = G.get() + ch * width;
    if (n0 == geo.begin(geo.first_block(ch))) std::fill(g, g + width, 0.0);
    return g;
  }
};

// dh[j] = g[K-1-j], g = IFFT(sum over chunks of G_c, in chunk order), transformed in double.
// The chunk sums run in parallel over frequencies (each one's order stays the chunk order).
template <std::floating_point T>
void finish_dh(const Setup<T>& s, const SpectrumSums& sums, std::span<T> dh) {
  const std::int64_t L = s.geo.L, width = sums.width, chunks = s.geo.chunks;
  const Plans<double>& dplans = plans_for<double>(static_cast<std::size_t>(L));
  FftwBuffer<double> total(static_cast<std::size_t>(width)), g(static_cast<std::size_t>(L));
  sum_rows_in_chunk_order(sums.G.get(), chunks, width, total.ptr);
  Fftw<double>::c2r(dplans.inverse, total.complex(), g.ptr);
  std::fill(dh.begin(), dh.end(), T{0});
  const std::int64_t K = s.geo.K, offset = s.c.lo - s.taps.lo;
  for (std::int64_t j = 0; j < K; ++j)
    dh[static_cast<std::size_t>(offset + j)] = static_cast<T>(g.ptr[K - 1 - j] / static_cast<double>(L));
}

// Runs body(buffers, n0, P, chunk) for every block by the chunked loop (chunks.hpp), each
// thread with its own block buffers; with one chunk or one thread allowed, on the calling thread.
template <std::floating_point T, class Body>
void for_each_block(const Setup<T>& s, Body body) {
  const Geometry& geo = s.geo;
  const auto buffers = [&] { return BlockBuffers<T>(geo.L, s.bins); };
  run_chunked(geo, team_size(geo.chunks), buffers, buffers,
              [&](std::int64_t ch, std::int64_t b, BlockBuffers<T>& bufs) {
                body(bufs, geo.begin(b), geo.end(b) - geo.begin(b), ch);
              });
}

}  // namespace

template <std::floating_point T>
void conv(std::span<const T> h, Taps taps, std::span<const T> x, std::span<T> yhat) {
  const auto N = static_cast<std::int64_t>(x.size());
  Taps c;
  if (!clip_taps(taps, N, c)) return std::fill(yhat.begin(), yhat.end(), T{0});
  const Setup<T> s(taps, c, N, h);
  for_each_block(s, [&](BlockBuffers<T>& b, std::int64_t n0, std::int64_t P, std::int64_t) {
    load_window(x, n0 - c.hi, N, b.window.ptr, s.geo.L);
    Fftw<T>::r2c(s.plans->forward, b.window.ptr, b.X.complex());
    block_forward(s, b, yhat.data() + n0, P);
  });
}

template <std::floating_point T>
void grad_kernel(std::span<const T> x, std::span<const T> r, Taps taps, std::span<T> dh) {
  const auto N = static_cast<std::int64_t>(x.size());
  Taps c;
  if (!clip_taps(taps, N, c)) return std::fill(dh.begin(), dh.end(), T{0});
  const Setup<T> s(taps, c, N, {});
  SpectrumSums G(s.geo, s.bins);
  for_each_block(s, [&](BlockBuffers<T>& b, std::int64_t n0, std::int64_t P, std::int64_t ch) {
    load_window(x, n0 - c.hi, N, b.window.ptr, s.geo.L);
    Fftw<T>::r2c(s.plans->forward, b.window.ptr, b.X.complex());
    block_accumulate_dh(s, b, r.data() + n0, P, G.slice(s.geo, ch, n0));
  });
  finish_dh(s, G, dh);
}

// dx[n0+i] = IFFT(conj(H) RS)[i], RS the spectrum of the window rs[t] = r[n0 + lo + t].
template <std::floating_point T>
void grad_input(std::span<const T> h, Taps taps, std::span<const T> r, std::span<T> dx) {
  const auto N = static_cast<std::int64_t>(r.size());
  Taps c;
  if (!clip_taps(taps, N, c)) return std::fill(dx.begin(), dx.end(), T{0});
  const Setup<T> s(taps, c, N, h);
  for_each_block(s, [&](BlockBuffers<T>& b, std::int64_t n0, std::int64_t P, std::int64_t) {
    load_window(r, n0 + c.lo, N, b.window.ptr, s.geo.L);
    Fftw<T>::r2c(s.plans->forward, b.window.ptr, b.X.complex());
    multiply_spectra(s.H->complex(), b.X.complex(), b.Y.complex(), s.bins, true);
    Fftw<T>::c2r(s.plans->inverse, b.Y.complex(), b.back.ptr);
    for (std::int64_t i = 0; i < P; ++i) dx[static_cast<std::size_t>(n0 + i)] = b.back.ptr[i] * s.scale;
  });
}

// One training step: per block, X = FFT(x window) feeds the forward and dh's spectrum sum.
// The loss is summed per block (in double, blocks in order within a chunk, chunks in order),
// so it does not need r in full: with yhat and r empty they stay in per-thread block buffers.
template <std::floating_point T>
double loss_and_grad(std::span<const T> x, std::span<const T> y, std::span<const T> h, Taps taps,
                     std::span<T> yhat, std::span<T> r, std::span<T> dh) {
  const auto N = static_cast<std::int64_t>(x.size());
  Taps c;
  if (!clip_taps(taps, N, c)) return direct::step_without_taps(y, yhat, r, dh);
  const bool keep = !r.empty();
  const Setup<T> s(taps, c, N, h);
  SpectrumSums G(s.geo, s.bins);
  std::vector<double> sumsq(static_cast<std::size_t>(s.geo.chunks), 0.0);
  for_each_block(s, [&](BlockBuffers<T>& b, std::int64_t n0, std::int64_t P, std::int64_t ch) {
    const auto B = static_cast<std::size_t>(P);
    if (!keep && b.r.size() < B) b.yhat.resize(B), b.r.resize(B);
    T* yh = keep ? yhat.data() + n0 : b.yhat.data();
    T* rb = keep ? r.data() + n0 : b.r.data();
    load_window(x, n0 - c.hi, N, b.window.ptr, s.geo.L);
    Fftw<T>::r2c(s.plans->forward, b.window.ptr, b.X.complex());
    block_forward(s, b, yh, P);
    sumsq[static_cast<std::size_t>(ch)] += simd::residual_sumsq(yh, y.data() + n0, rb, B);  // r, sum r^2
    block_accumulate_dh(s, b, rb, P, G.slice(s.geo, ch, n0));
  });
  finish_dh(s, G, dh);
  return 0.5 * sum_in_chunk_order(sumsq);
}

std::size_t good_size(std::size_t n) {
  for (std::size_t m = std::max<std::size_t>(n, 1);; ++m) {
    std::size_t r = m;
    for (std::size_t p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return m;
  }
}

std::size_t block_transform_length(std::size_t n, std::size_t k) { return choose_length(n, k); }

}  // namespace convgrad::detail::fft

namespace convgrad::detail {

template <std::floating_point T>
std::map<std::size_t, std::unique_ptr<FftwPlans<T>>>& plan_cache() {
  static std::map<std::size_t, std::unique_ptr<FftwPlans<T>>> cache;  // plans live until the process ends
  return cache;
}

template <std::floating_point T>
const FftwPlans<T>& fftw_plans(std::size_t L) {
  std::lock_guard lock(fftw_planner_mutex());
  auto& cache = plan_cache<T>();
  if (auto it = cache.find(L); it != cache.end()) return *it->second;
  FftwBuffer<T> real(L), spec(2 * (L / 2 + 1));
  auto p = std::make_unique<FftwPlans<T>>();
  p->forward = Fftw<T>::r2c(static_cast<int>(L), real.ptr, spec.complex(), kFftwPlannerFlags);
  p->inverse = Fftw<T>::c2r(static_cast<int>(L), spec.complex(), real.ptr, kFftwPlannerFlags);
  if (!p->forward || !p->inverse)
    throw resource_limit("fft: FFTW could not plan a transform of length " + std::to_string(L));
  return *cache.emplace(L, std::move(p)).first->second;
}
template const FftwPlans<float>& fftw_plans<float>(std::size_t);
template const FftwPlans<double>& fftw_plans<double>(std::size_t);

}  // namespace convgrad::detail

namespace convgrad::detail::fft {

std::size_t cached_plan_count() {
  std::lock_guard lock(fftw_planner_mutex());
  return plan_cache<float>().size() + plan_cache<double>().size();
}

#define CONVGRAD_INSTANTIATE(T)                                                                      \
  template void conv<T>(std::span<const T>, Taps, std::span<const T>, std::span<T>);                 \
  template void grad_kernel<T>(std::span<const T>, std::span<const T>, Taps, std::span<T>);          \
  template void grad_input<T>(std::span<const T>, Taps, std::span<const T>, std::span<T>);           \
  template double loss_and_grad<T>(std::span<const T>, std::span<const T>, std::span<const T>, Taps, \
                                   std::span<T>, std::span<T>, std::span<T>);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad::detail::fft
