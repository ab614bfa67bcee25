// The FFT channel method: overlap-save blocks (as src/core/fft.cpp) with the channel sums done
// per frequency bin.
//
// With the clipped taps lo..hi, the dilated filter f_oc[t] = W[o, c', j0 + j] at t = d j
// (zero elsewhere) spans S = d (Kc - 1) + 1 samples; a block of P = L - S + 1 outputs n0.. has
// the window xs_c[t] = x[b, c, n0 - d hi + t], t < L, and with spectra F_oc, X_c, R_o:
//
//   y[b, o, n0 + i] = bias[o] + IFFT(sum_c' F_oc X_c)[i + S - 1]          i < P
//   G_oc           += conj(R_o) X_c   (R_o: r[b, o, n0..n0+P) at 0..P-1), dW[o, c', j] = IFFT(G_oc)[S-1-d j]
//   dx[b, c, k0 + i] = IFFT(sum_o conj(F_oc) RS_o)[i]    (rs_o[t] = r[b, o, k0 + d lo + t])
//
// Each input channel's window is transformed once per block and serves every output channel
// of its group and dW; the filter spectra are made once per call and serve the whole batch.
// G is summed in double over the blocks in order (batch row, then block) and transformed back
// once. Blocks run in that order; the work within a block is shared among the threads by
// channel (each channel's outputs written by one thread, in the same order whatever the
// thread count), so results do not depend on the thread count. Spectra are kept split (real
// parts, then imaginary parts) so that the per-bin loops vectorise.
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "channels/channels_internal.hpp"
#include "convgrad/errors.hpp"
#include "core/chunks.hpp"
#include "core/fftw.hpp"
#include "core/fpmode.hpp"
#include "core/kernels.hpp"

namespace convgrad::detail::channels::fft {
namespace {

// An FFTW-aligned array (a plan executes on new arrays only with the planning alignment).
template <class T>
struct Aligned {
  explicit Aligned(std::size_t count)
      : ptr(static_cast<T*>(fftw_malloc(std::max<std::size_t>(count, 1) * sizeof(T)))) {
    if (!ptr)
      throw resource_limit("channels fft: cannot allocate " + std::to_string(count * sizeof(T)) + " bytes");
  }
  ~Aligned() { fftw_free(ptr); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
  T* ptr;
};

// Forward and inverse real plans of one length, made with the library's one planner lock and
// flags (core/fftw.hpp), kept for the life of the process.
template <std::floating_point T>
struct Plans {
  typename Fftw<T>::plan forward = nullptr, inverse = nullptr;
  Plans() = default;
  Plans(const Plans&) = delete;
  Plans& operator=(const Plans&) = delete;
  ~Plans() {
    if (forward) Fftw<T>::destroy(forward);
    if (inverse) Fftw<T>::destroy(inverse);
  }
};

template <std::floating_point T>
const Plans<T>& plans_for(I L) {
  static std::map<I, std::unique_ptr<Plans<T>>> cache;
  std::lock_guard lock(fftw_planner_mutex());
  if (auto it = cache.find(L); it != cache.end()) return *it->second;
  Aligned<T> real{std::size_t(L)}, spec{std::size_t(2 * (L / 2 + 1))};
  auto p = std::make_unique<Plans<T>>();
  auto* z = reinterpret_cast<typename Fftw<T>::complex*>(spec.ptr);
  p->forward = Fftw<T>::r2c(int(L), real.ptr, z, kFftwPlannerFlags);
  p->inverse = Fftw<T>::c2r(int(L), z, real.ptr, kFftwPlannerFlags);
  if (!p->forward || !p->inverse)
    throw resource_limit("channels fft: FFTW could not plan a transform of length " + std::to_string(L));
  return *cache.emplace(L, std::move(p)).first->second;
}

// Split spectra of `rows` signals: row k's real parts at data[2 k bins], imaginary parts after.
template <class T>
struct Spectra {
  I bins;
  std::vector<T> data;
  Spectra(I rows, I bins_) : bins(bins_), data(std::size_t(2 * rows * bins_), T{0}) {}
  T* re(I row) { return data.data() + 2 * row * bins; }
  T* im(I row) { return re(row) + bins; }
  const T* re(I row) const { return data.data() + 2 * row * bins; }
  const T* im(I row) const { return re(row) + bins; }
};

// The geometry of one call.
struct Geometry {
  I S, L, P, bins, blocks_out, blocks_in;
  explicit Geometry(const Dims& D) {
    S = D.d * (D.Kc - 1) + 1;
    L = I(detail::fft::block_transform_length(std::size_t(std::max(D.Nin, D.Nout)), std::size_t(S)));
    P = L - S + 1;
    bins = L / 2 + 1;
    blocks_out = (D.Nout + P - 1) / P;
    blocks_in = (D.Nin + P - 1) / P;
  }
};

// One thread's transform buffers.
template <std::floating_point T>
struct Buffers {
  Aligned<T> real, z;
  explicit Buffers(const Geometry& g) : real(std::size_t(g.L)), z(std::size_t(2 * g.bins)) {}
  typename Fftw<T>::complex* complex() { return reinterpret_cast<typename Fftw<T>::complex*>(z.ptr); }
};

// spectrum (split) = FFT of real[0..L) (b.real holds the signal).
template <std::floating_point T>
void transform(const Plans<T>& p, Buffers<T>& b, I bins, T* re, T* im) {
  Fftw<T>::r2c(p.forward, b.real.ptr, b.complex());
  for (I f = 0; f < bins; ++f) re[f] = b.z.ptr[2 * f], im[f] = b.z.ptr[2 * f + 1];
}

// b.real = IFFT(split spectrum), unnormalised.
template <std::floating_point T>
void inverse(const Plans<T>& p, Buffers<T>& b, I bins, const T* re, const T* im) {
  for (I f = 0; f < bins; ++f) b.z.ptr[2 * f] = re[f], b.z.ptr[2 * f + 1] = im[f];
  Fftw<T>::c2r(p.inverse, b.complex(), b.real.ptr);
}

// dst[t] = v[first + t], t < L, zero outside [0, limit).
template <class T>
void load_window(const T* v, I first, I limit, T* dst, I L) {
  const I lo = std::clamp<I>(first, 0, limit), hi = std::clamp<I>(first + L, 0, limit);
  std::fill(dst, dst + L, T{0});
  if (lo < hi) std::copy(v + lo, v + hi, dst + (lo - first));
}

// Y += A B (conj_a: conj(A) B), bin by bin, split complex.
template <class T>
void multiply_add(const T* __restrict ar, const T* __restrict ai, const T* __restrict br,
                  const T* __restrict bi, T* __restrict yr, T* __restrict yi, I bins, bool conj_a) {
  if (conj_a) {
    for (I f = 0; f < bins; ++f) {
      yr[f] += ar[f] * br[f] + ai[f] * bi[f];
      yi[f] += ar[f] * bi[f] - ai[f] * br[f];
    }
  } else {
    for (I f = 0; f < bins; ++f) {
      yr[f] += ar[f] * br[f] - ai[f] * bi[f];
      yi[f] += ar[f] * bi[f] + ai[f] * br[f];
    }
  }
}

// G += conj(R) X, formed in T and added in double.
template <class T>
void accumulate_conj(const T* __restrict rr, const T* __restrict ri, const T* __restrict xr,
                     const T* __restrict xi, double* __restrict gr, double* __restrict gi, I bins) {
  for (I f = 0; f < bins; ++f) {
    gr[f] += static_cast<double>(rr[f] * xr[f] + ri[f] * xi[f]);
    gi[f] += static_cast<double>(rr[f] * xi[f] - ri[f] * xr[f]);
  }
}

// Runs body(buffers) on a team of `threads` (each with its own buffers, made before the team
// starts so that nothing inside can throw), in the caller's floating-point mode.
template <std::floating_point T, class Body>
void in_team(const Geometry& g, I threads, Body body) {
  std::vector<std::unique_ptr<Buffers<T>>> buffers;
  for (I t = 0; t < threads; ++t) buffers.push_back(std::make_unique<Buffers<T>>(g));
  const FpMode mode = current_fp_mode();
#pragma omp parallel num_threads(int(threads))
  {
    const ScopedFpMode fp(mode);
    body(*buffers[std::size_t(omp_get_thread_num())]);
  }
}

// The filter spectra F_oc (C_out x C_in/g rows), each f_oc placed at t = d j.
template <std::floating_point T>
Spectra<T> filter_spectra(std::span<const T> W, const Dims& D, const Geometry& g, const Plans<T>& p,
                          I threads) {
  Spectra<T> F(D.Cout * D.Cig, g.bins);
  in_team<T>(g, threads, [&](Buffers<T>& b) {
#pragma omp for schedule(static)
    for (I row = 0; row < D.Cout * D.Cig; ++row) {
      std::fill(b.real.ptr, b.real.ptr + g.L, T{0});
      for (I j = 0; j < D.Kc; ++j) b.real.ptr[D.d * j] = W[std::size_t(row * D.K + D.j0 + j)];
      transform(p, b, g.bins, F.re(row), F.im(row));
    }
  });
  return F;
}

// The sums over the forward blocks: writes y (if not empty); for the training step (target
// = y's target) r = y - target, its loss and dbias; with `dW_wanted`, G += conj(R) X.
// Returns 1/2 sum r^2 (0 unless step). For grad (step == false) target is r itself.
template <std::floating_point T>
struct ForwardPass {
  const Dims& D;
  const Geometry& g;
  const Plans<T>& p;
  I threads;
};

template <std::floating_point T>
double forward_blocks(const ForwardPass<T>& fp, std::span<const T> x, const Spectra<T>* F,
                      std::span<const T> bias, std::span<T> y, std::span<const T> target, bool step,
                      bool dW_wanted, std::vector<double>* G, std::vector<double>& dbias) {
  const Dims& D = fp.D;
  const Geometry& g = fp.g;
  const bool forward = F != nullptr;
  Spectra<T> X(D.Cin, g.bins), Y(D.Cout, g.bins), R(D.Cout, g.bins);
  std::vector<double> loss(std::size_t(D.Cout), 0.0);
  dbias.assign(std::size_t(D.Cout), 0.0);
  const T scale = T(1) / T(g.L);
  in_team<T>(g, fp.threads, [&](Buffers<T>& b) {
    for (I bb = 0; bb < D.B; ++bb)
      for (I blk = 0; blk < g.blocks_out; ++blk) {
        const I n0 = blk * g.P, P = std::min(g.P, D.Nout - n0);
        if (forward || dW_wanted) {
#pragma omp for schedule(static)
          for (I c = 0; c < D.Cin; ++c) {
            load_window(x.data() + (bb * D.Cin + c) * D.Nin, n0 - D.d * D.hi, D.Nin, b.real.ptr, g.L);
            transform(fp.p, b, g.bins, X.re(c), X.im(c));
          }
        }
#pragma omp for schedule(static)
        for (I o = 0; o < D.Cout; ++o) {
          const I c0 = o / D.Cog * D.Cig;
          const T* rows = target.data() + (bb * D.Cout + o) * D.Nout + n0;  // y's target, or r
          const T* r = rows;
          if (forward) {
            std::fill(Y.re(o), Y.re(o) + 2 * g.bins, T{0});
            for (I c = 0; c < D.Cig; ++c)
              multiply_add(F->re(o * D.Cig + c), F->im(o * D.Cig + c), X.re(c0 + c), X.im(c0 + c), Y.re(o),
                           Y.im(o), g.bins, false);
            inverse(fp.p, b, g.bins, Y.re(o), Y.im(o));
            T* yrow = step ? b.real.ptr : y.data() + (bb * D.Cout + o) * D.Nout + n0;
            const T bo = bias.empty() ? T{0} : bias[std::size_t(o)];
            for (I i = 0; i < P; ++i) {
              const T v = b.real.ptr[i + g.S - 1] * scale;
              yrow[i] = bias.empty() ? v : v + bo;
            }
            if (step) {  // r = yhat - target, in place at the start of b.real
              double sum = 0, sumsq = 0;
              for (I i = 0; i < P; ++i) {
                const T ri = yrow[i] - rows[i];
                yrow[i] = ri;
                sum += static_cast<double>(ri);
                sumsq += static_cast<double>(ri) * static_cast<double>(ri);
              }
              loss[std::size_t(o)] += sumsq;
              dbias[std::size_t(o)] += sum;
              r = b.real.ptr;
            }
          }
          if (!step) {
            double sum = 0;
            for (I i = 0; i < P; ++i) sum += static_cast<double>(r[i]);
            dbias[std::size_t(o)] += sum;
          }
          if (dW_wanted) {
            if (r != b.real.ptr) std::copy(r, r + P, b.real.ptr);
            std::fill(b.real.ptr + P, b.real.ptr + g.L, T{0});
            transform(fp.p, b, g.bins, R.re(o), R.im(o));
            for (I c = 0; c < D.Cig; ++c) {
              double* Gr = G->data() + 2 * (o * D.Cig + c) * g.bins;
              accumulate_conj(R.re(o), R.im(o), X.re(c0 + c), X.im(c0 + c), Gr, Gr + g.bins, g.bins);
            }
          }
        }
      }
  });
  return 0.5 * sum_in_chunk_order(loss);
}

// dW[o, c', j0 + j] = IFFT(G_oc)[S - 1 - d j] / L (in double), the other taps 0.
template <std::floating_point T>
void finish_dW(const std::vector<double>& G, std::span<T> dW, const Dims& D, const Geometry& g, I threads) {
  std::fill(dW.begin(), dW.end(), T{0});
  const Plans<double>& pd = plans_for<double>(g.L);
  in_team<double>(g, threads, [&](Buffers<double>& b) {
#pragma omp for schedule(static)
    for (I row = 0; row < D.Cout * D.Cig; ++row) {
      const double* Gr = G.data() + 2 * row * g.bins;
      inverse(pd, b, g.bins, Gr, Gr + g.bins);
      for (I j = 0; j < D.Kc; ++j)
        dW[std::size_t(row * D.K + D.j0 + j)] = static_cast<T>(b.real.ptr[g.S - 1 - D.d * j] / double(g.L));
    }
  });
}

// dx[b, c, k0 + i] = IFFT(sum_o conj(F_oc) RS_o)[i] / L over the blocks of N_in.
template <std::floating_point T>
void input_grad(const ForwardPass<T>& fp, const Spectra<T>& F, std::span<const T> r, std::span<T> dx) {
  const Dims& D = fp.D;
  const Geometry& g = fp.g;
  Spectra<T> RS(D.Cout, g.bins), DX(D.Cin, g.bins);
  const T scale = T(1) / T(g.L);
  in_team<T>(g, fp.threads, [&](Buffers<T>& b) {
    for (I bb = 0; bb < D.B; ++bb)
      for (I blk = 0; blk < g.blocks_in; ++blk) {
        const I k0 = blk * g.P, P = std::min(g.P, D.Nin - k0);
#pragma omp for schedule(static)
        for (I o = 0; o < D.Cout; ++o) {
          load_window(r.data() + (bb * D.Cout + o) * D.Nout, k0 + D.d * D.lo, D.Nout, b.real.ptr, g.L);
          transform(fp.p, b, g.bins, RS.re(o), RS.im(o));
        }
#pragma omp for schedule(static)
        for (I c = 0; c < D.Cin; ++c) {
          const I grp = c / D.Cig, cp = c % D.Cig;
          std::fill(DX.re(c), DX.re(c) + 2 * g.bins, T{0});
          for (I o = grp * D.Cog; o < (grp + 1) * D.Cog; ++o)
            multiply_add(F.re(o * D.Cig + cp), F.im(o * D.Cig + cp), RS.re(o), RS.im(o), DX.re(c), DX.im(c),
                         g.bins, true);
          inverse(fp.p, b, g.bins, DX.re(c), DX.im(c));
          T* out = dx.data() + (bb * D.Cin + c) * D.Nin + k0;
          for (I i = 0; i < P; ++i) out[i] = b.real.ptr[i] * scale;
        }
      }
  });
}

// Threads for work shared by channel: no more than there are channels.
I team(const Dims& D) { return team_size(std::max(D.Cin, D.Cout)); }

}  // namespace

template <std::floating_point T>
void conv(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<T> y,
          const ChannelShape& s) {
  const Dims D(s);
  if (D.B == 0) return;
  if (!D.any) return fill_bias(bias, y, D);
  const Geometry g(D);
  const ForwardPass<T> fp{D, g, plans_for<T>(g.L), team(D)};
  const Spectra<T> F = filter_spectra(W, D, g, fp.p, fp.threads);
  std::vector<double> dbias;
  forward_blocks<T>(fp, x, &F, bias, y, std::span<const T>(y), false, false, nullptr, dbias);
}

template <std::floating_point T>
void grad(std::span<const T> x, std::span<const T> W, std::span<const T> r, std::span<T> dx, std::span<T> dW,
          std::span<T> dbias, const ChannelShape& s) {
  const Dims D(s);
  if (!D.any || D.B == 0) return direct::grad(x, W, r, dx, dW, dbias, s);  // zeros and the sum of r
  const Geometry g(D);
  const ForwardPass<T> fp{D, g, plans_for<T>(g.L), team(D)};
  if (!dW.empty() || !dbias.empty()) {
    std::vector<double> G(dW.empty() ? 0 : std::size_t(2 * D.Cout * D.Cig * g.bins), 0.0), db;
    forward_blocks<T>(fp, x, nullptr, {}, {}, r, false, !dW.empty(), &G, db);
    if (!dW.empty()) finish_dW(G, dW, D, g, fp.threads);
    for (std::size_t o = 0; o < dbias.size(); ++o) dbias[o] = static_cast<T>(db[o]);
  }
  if (!dx.empty()) input_grad(fp, filter_spectra(W, D, g, fp.p, fp.threads), r, dx);
}

template <std::floating_point T>
double train_step(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<const T> y,
                  std::span<T> dW, std::span<T> dbias, const ChannelShape& s) {
  const Dims D(s);
  if (!D.any || D.B == 0) return direct::train_step(x, W, bias, y, dW, dbias, s);
  const Geometry g(D);
  const ForwardPass<T> fp{D, g, plans_for<T>(g.L), team(D)};
  const Spectra<T> F = filter_spectra(W, D, g, fp.p, fp.threads);
  std::vector<double> G(std::size_t(2 * D.Cout * D.Cig * g.bins), 0.0), db;
  const double loss = forward_blocks<T>(fp, x, &F, bias, {}, y, true, true, &G, db);
  finish_dW(G, dW, D, g, fp.threads);
  for (std::size_t o = 0; o < dbias.size(); ++o) dbias[o] = static_cast<T>(db[o]);
  return loss;
}

#define CONVGRAD_INSTANTIATE(T)                                                                   \
  template void conv<T>(std::span<const T>, std::span<const T>, std::span<const T>, std::span<T>, \
                        const ChannelShape&);                                                     \
  template void grad<T>(std::span<const T>, std::span<const T>, std::span<const T>, std::span<T>, \
                        std::span<T>, std::span<T>, const ChannelShape&);                         \
  template double train_step<T>(std::span<const T>, std::span<const T>, std::span<const T>,       \
                                std::span<const T>, std::span<T>, std::span<T>, const ChannelShape&);
CONVGRAD_INSTANTIATE(float)
CONVGRAD_INSTANTIATE(double)
#undef CONVGRAD_INSTANTIATE

}  // namespace convgrad::detail::channels::fft
