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
#include <memory>
#include <string>
#include <vector>

#include "channels/channels_internal.hpp"
#include "channels/simd.hpp"
#include "convgrad/errors.hpp"
#include "core/chunks.hpp"
#include "core/fftw.hpp"
#include "core/fpmode.hpp"
#include "core/kernels.hpp"

namespace convgrad::detail::channels::fft {
namespace {

// The library's one cache of plans (core/fftw.hpp), shared with the single-channel FFT method.
template <std::floating_point T>
using Plans = FftwPlans<T>;

template <std::floating_point T>
const Plans<T>& plans_for(I L) {
  return fftw_plans<T>(std::size_t(L));
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
  FftwBuffer<T> real, z;
  std::vector<T> r;  // the training step's residual of one block
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

// Y += A B (conj_a: conj(A) B) and G += conj(R) X, bin by bin (SIMD: channels/simd.hpp).
template <class T>
void multiply_add(const T* ar, const T* ai, const T* br, const T* bi, T* yr, T* yi, I bins, bool conj_a) {
  simd::multiply_add_spectra(ar, ai, br, bi, yr, yi, std::size_t(bins), conj_a);
}
template <class T>
void accumulate_conj(const T* rr, const T* ri, const T* xr, const T* xi, double* gr, double* gi, I bins) {
  simd::accumulate_conj_spectra(rr, ri, xr, xi, gr, gi, std::size_t(bins));
}

// One thread's work area: transform buffers and the split spectra of one block's channels
// (`in` rows: the group's input windows, `out` rows: its output spectra).
template <std::floating_point T>
struct Scratch {
  Buffers<T> buf;
  Spectra<T> in, out;
  Scratch(const Geometry& g, I in_rows, I out_rows) : buf(g), in(in_rows, g.bins), out(out_rows, g.bins) {}
};

// The filter spectra F_oc (C_out x C_in/g rows), each f_oc placed at t = d j.
template <std::floating_point T>
Spectra<T> filter_spectra(std::span<const T> W, const Dims& D, const Geometry& g, const Plans<T>& p) {
  Spectra<T> F(D.Cout * D.Cig, g.bins);
  const Chunks ch(D.Cout * D.Cig);
  const auto buffers = [&] { return Buffers<T>(g); };
  run_chunked(ch, team_size(ch.chunks), buffers, buffers, [&](I, I row, Buffers<T>& b) {
    std::fill(b.real.ptr, b.real.ptr + g.L, T{0});
    for (I j = 0; j < D.Kc; ++j) b.real.ptr[D.d * j] = W[std::size_t(row * D.K + D.j0 + j)];
    transform(p, b, g.bins, F.re(row), F.im(row));
  });
  return F;
}

// What one call shares: shape, geometry, plans, filter spectra (when needed).
template <std::floating_point T>
struct Call {
  const Dims& D;
  const Geometry& g;
  const Plans<T>& p;
  const Spectra<T>* F;
};

// sc.in = X_c, the spectra of group g's input windows xs_c[t] = x[b, c, n0 - d hi + t].
template <std::floating_point T>
void transform_inputs(const Call<T>& k, std::span<const T> x, I b, I g, I n0, Scratch<T>& sc) {
  const Dims& D = k.D;
  for (I c = 0; c < D.Cig; ++c) {
    load_window(x.data() + (b * D.Cin + g * D.Cig + c) * D.Nin, n0 - D.d * D.hi, D.Nin, sc.buf.real.ptr,
                k.g.L);
    transform(k.p, sc.buf, k.g.bins, sc.in.re(c), sc.in.im(c));
  }
}

// yhat for output o' of group g: IFFT(sum_c' F_oc X_c)[i + S - 1] / L (+ bias), i < P, into y.
template <std::floating_point T>
void forward_output(const Call<T>& k, std::span<const T> bias, I g, I op, I P, Scratch<T>& sc, T* y) {
  const Dims& D = k.D;
  const I o = g * D.Cog + op, bins = k.g.bins;
  T* yr = sc.out.re(op);
  std::fill(yr, yr + 2 * bins, T{0});
  for (I c = 0; c < D.Cig; ++c)
    multiply_add(k.F->re(o * D.Cig + c), k.F->im(o * D.Cig + c), sc.in.re(c), sc.in.im(c), yr, sc.out.im(op),
                 bins, false);
  inverse(k.p, sc.buf, bins, yr, sc.out.im(op));
  const T scale = T(1) / T(k.g.L);
  for (I i = 0; i < P; ++i) {
    const T v = sc.buf.real.ptr[i + k.g.S - 1] * scale;
    y[i] = bias.empty() ? v : v + bias[std::size_t(o)];
  }
}

// dW[o, c', j0 + j] = IFFT(G_oc)[S - 1 - d j] / L (in double), the other taps 0. Group g's
// G rows start at G[g * group_stride].
template <std::floating_point T>
void finish_dW(const double* G, I group_stride, std::span<T> dW, const Dims& D, const Geometry& g) {
  std::fill(dW.begin(), dW.end(), T{0});
  const Plans<double>& pd = plans_for<double>(g.L);
  const Chunks ch(D.Cout * D.Cig);
  const auto buffers = [&] { return Buffers<double>(g); };
  run_chunked(ch, team_size(ch.chunks), buffers, buffers, [&](I, I row, Buffers<double>& b) {
    const I grp = row / (D.Cog * D.Cig), within = row % (D.Cog * D.Cig);
    const double* Gr = G + grp * group_stride + 2 * within * g.bins;
    inverse(pd, b, g.bins, Gr, Gr + g.bins);
    for (I j = 0; j < D.Kc; ++j)
      dW[std::size_t(row * D.K + D.j0 + j)] = static_cast<T>(b.real.ptr[g.S - 1 - D.d * j] / double(g.L));
  });
}

// The reductions (dW, dbias, the step's loss) as tasks, as in the direct method: group g's
// B x blocks units in `parts` runs of consecutive units, parts fixed by the shape (at most 4,
// fewer when the spectra of dW are large: the partial sums stay within ~32 MiB).
struct Tasks {
  I units, parts, per_part, spectra, width;  // width: one group's partial G, then dbias, then loss
  Tasks(const Dims& D, const Geometry& g) {
    units = D.B * g.blocks_out;
    spectra = 2 * D.Cog * D.Cig * g.bins;
    width = spectra + D.Cog + 1;
    parts = std::clamp<I>(std::min<I>(4, (I{1} << 22) / (width * D.groups)), 1, std::max<I>(units, 1));
    per_part = (units + parts - 1) / parts;
  }
};

// The sums over the batch: for the training step (step == true, `target` = y's target)
// r = bias + W * x - target per block; otherwise `target` is r. Writes dW and dbias when not
// empty; returns 1/2 sum r^2 for the step.
template <std::floating_point T>
double reduce(const Call<T>& k, std::span<const T> x, std::span<const T> bias, std::span<const T> target,
              bool step, std::span<T> dW, std::span<T> dbias) {
  const Dims& D = k.D;
  const Geometry& g = k.g;
  const Tasks tk(D, g);
  const bool want_dW = !dW.empty();
  const I ntasks = D.groups * tk.parts;
  // Left uninitialised here: each task zeroes its own slice, in parallel.
  const std::unique_ptr<double[]> partial(new double[std::size_t(ntasks * tk.width)]);
  const Chunks ch(ntasks);
  const auto scratch = [&] { return Scratch<T>(g, D.Cig, D.Cog); };
  run_chunked(ch, team_size(ch.chunks), scratch, scratch, [&](I, I t, Scratch<T>& sc) {
    const I grp = t / tk.parts, part = t % tk.parts;
    double* G = partial.get() + t * tk.width;
    std::fill(G, G + tk.width, 0.0);
    double* db = G + tk.spectra;
    std::vector<T>& rbuf = sc.buf.r;
    rbuf.resize(std::size_t(g.P));
    for (I u = part * tk.per_part; u < std::min(tk.units, (part + 1) * tk.per_part); ++u) {
      const I b = u / g.blocks_out, n0 = (u % g.blocks_out) * g.P, P = std::min(g.P, D.Nout - n0);
      if (step || want_dW) transform_inputs(k, x, b, grp, n0, sc);
      for (I op = 0; op < D.Cog; ++op) {
        const T* rows = target.data() + (b * D.Cout + grp * D.Cog + op) * D.Nout + n0;
        const T* r = rows;
        if (step) {  // r = yhat - target for the block
          forward_output(k, bias, grp, op, P, sc, rbuf.data());
          double sumsq = 0;
          for (I i = 0; i < P; ++i) {
            rbuf[std::size_t(i)] -= rows[i];
            sumsq += static_cast<double>(rbuf[std::size_t(i)]) * static_cast<double>(rbuf[std::size_t(i)]);
          }
          db[D.Cog] += sumsq;
          r = rbuf.data();
        }
        double sum = 0;
        for (I i = 0; i < P; ++i) sum += static_cast<double>(r[i]);
        db[op] += sum;
        if (!want_dW) continue;
        // G_oc += conj(R_o) X_c, R_o the spectrum of r[n0..n0+P) at 0..P-1.
        std::fill(std::copy(r, r + P, sc.buf.real.ptr), sc.buf.real.ptr + g.L, T{0});
        transform(k.p, sc.buf, g.bins, sc.out.re(op), sc.out.im(op));
        for (I c = 0; c < D.Cig; ++c) {
          double* Gr = G + 2 * (op * D.Cig + c) * g.bins;
          accumulate_conj(sc.out.re(op), sc.out.im(op), sc.in.re(c), sc.in.im(c), Gr, Gr + g.bins, g.bins);
        }
      }
    }
  });
  // Combine the tasks of each group in order (into part 0's slot), then transform dW back.
  double loss = 0;
  for (I grp = 0; grp < D.groups; ++grp) {
    double* total = partial.get() + grp * tk.parts * tk.width;
    for (I part = 1; part < tk.parts; ++part) {
      const double* p = total + part * tk.width;
      for (I e = 0; e < tk.width; ++e) total[e] += p[e];
    }
    for (I op = 0; op < D.Cog && !dbias.empty(); ++op)
      dbias[std::size_t(grp * D.Cog + op)] = static_cast<T>(total[tk.spectra + op]);
    loss += total[tk.spectra + D.Cog];
  }
  if (want_dW) finish_dW(partial.get(), tk.parts * tk.width, dW, D, g);
  return 0.5 * loss;
}

// dx[b, c, k0 + i] = IFFT(sum_o conj(F_oc) RS_o)[i] / L over the blocks of N_in, units
// (b, group, block) in parallel (each writes its own block of dx).
template <std::floating_point T>
void input_grad(const Call<T>& k, std::span<const T> r, std::span<T> dx) {
  const Dims& D = k.D;
  const Geometry& g = k.g;
  const Chunks ch(D.B * D.groups * g.blocks_in);
  const T scale = T(1) / T(g.L);
  const auto scratch = [&] { return Scratch<T>(g, D.Cog, 1); };
  run_chunked(ch, team_size(ch.chunks), scratch, scratch, [&](I, I u, Scratch<T>& sc) {
    const I b = u / (D.groups * g.blocks_in), grp = u / g.blocks_in % D.groups, k0 = (u % g.blocks_in) * g.P;
    const I P = std::min(g.P, D.Nin - k0);
    for (I op = 0; op < D.Cog; ++op) {
      load_window(r.data() + (b * D.Cout + grp * D.Cog + op) * D.Nout, k0 + D.d * D.lo, D.Nout,
                  sc.buf.real.ptr, g.L);
      transform(k.p, sc.buf, g.bins, sc.in.re(op), sc.in.im(op));
    }
    for (I cp = 0; cp < D.Cig; ++cp) {
      T* xr = sc.out.re(0);
      std::fill(xr, xr + 2 * g.bins, T{0});
      for (I op = 0; op < D.Cog; ++op) {
        const I row = (grp * D.Cog + op) * D.Cig + cp;
        multiply_add(k.F->re(row), k.F->im(row), sc.in.re(op), sc.in.im(op), xr, sc.out.im(0), g.bins, true);
      }
      inverse(k.p, sc.buf, g.bins, xr, sc.out.im(0));
      T* out = dx.data() + (b * D.Cin + grp * D.Cig + cp) * D.Nin + k0;
      for (I i = 0; i < P; ++i) out[i] = sc.buf.real.ptr[i] * scale;
    }
  });
}

}  // namespace

template <std::floating_point T>
void conv(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<T> y,
          const ChannelShape& s) {
  const Dims D(s);
  if (D.B == 0) return;
  if (!D.any) return fill_bias(bias, y, D);
  const Geometry g(D);
  const Plans<T>& p = plans_for<T>(g.L);
  const Spectra<T> F = filter_spectra(W, D, g, p);
  const Call<T> k{D, g, p, &F};
  const Chunks ch(D.B * D.groups * g.blocks_out);
  const auto scratch = [&] { return Scratch<T>(g, D.Cig, D.Cog); };
  run_chunked(ch, team_size(ch.chunks), scratch, scratch, [&](I, I u, Scratch<T>& sc) {
    const I b = u / (D.groups * g.blocks_out), grp = u / g.blocks_out % D.groups,
            n0 = (u % g.blocks_out) * g.P;
    const I P = std::min(g.P, D.Nout - n0);
    transform_inputs(k, x, b, grp, n0, sc);
    for (I op = 0; op < D.Cog; ++op)
      forward_output(k, bias, grp, op, P, sc, y.data() + (b * D.Cout + grp * D.Cog + op) * D.Nout + n0);
  });
}

template <std::floating_point T>
void grad(std::span<const T> x, std::span<const T> W, std::span<const T> r, std::span<T> dx, std::span<T> dW,
          std::span<T> dbias, const ChannelShape& s) {
  const Dims D(s);
  if (!D.any || D.B == 0) return direct::grad(x, W, r, dx, dW, dbias, s);  // zeros and the sum of r
  const Geometry g(D);
  const Plans<T>& p = plans_for<T>(g.L);
  if (!dW.empty() || !dbias.empty()) reduce<T>(Call<T>{D, g, p, nullptr}, x, {}, r, false, dW, dbias);
  if (!dx.empty()) {
    const Spectra<T> F = filter_spectra(W, D, g, p);
    input_grad<T>(Call<T>{D, g, p, &F}, r, dx);
  }
}

template <std::floating_point T>
double train_step(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<const T> y,
                  std::span<T> dW, std::span<T> dbias, const ChannelShape& s) {
  const Dims D(s);
  if (!D.any || D.B == 0) return direct::train_step(x, W, bias, y, dW, dbias, s);
  const Geometry g(D);
  const Plans<T>& p = plans_for<T>(g.L);
  const Spectra<T> F = filter_spectra(W, D, g, p);
  return reduce<T>(Call<T>{D, g, p, &F}, x, bias, y, true, dW, dbias);
}

CONVGRAD_CHANNEL_METHOD_INSTANCES

}  // namespace convgrad::detail::channels::fft
