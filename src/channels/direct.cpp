// The direct channel method: the sums of channels.hpp in blocks of the signal, the channel
// sum as a small matrix product in registers (simd.hpp).
//
// Windows. A block of outputs n0..n0+P-1 of group g reads, for each of its C_in/g input
// channels, the window s[t] = x[b, c, n0 - d hi + t], t < P + d (Kc - 1); then
//   y[b, o, n0 + i] = bias[o] + sum_c' sum_k Wf[o, c', k] s_c'[i + d k],  Wf[k] = W[Kc - 1 - k]
//   G[o, c', k]    += sum_i s_c'[i + d k] r[b, o, n0 + i]                 dW[o, c', j] = G[.., Kc-1-j]
// and a block of dx, k0..k0+P-1, reads the residual window s_o[t] = r[b, o, k0 + d lo + t]:
//   dx[b, c, k0 + i] = sum_o sum_j W[o, c', j] s_o[i + d j].
// A window that lies inside the signal is read in place; one that crosses an edge is copied,
// zero-padded, into the thread's scratch.
//
// Parallel work. The forward and dx write disjoint blocks: any thread may run any unit
// (batch row, group, block). dW, dbias and the training step's loss are sums over the batch
// and the blocks: each group's units are split into a fixed number of tasks (fixed by the
// shape alone), each task sums its units in order into its own partial sums (in double), and
// the tasks are combined in task order. So no result depends on the thread count.
#include <algorithm>
#include <vector>

#include "channels/channels_internal.hpp"
#include "channels/simd.hpp"
#include "core/chunks.hpp"
#include "core/simd.hpp"

namespace convgrad::detail::channels::direct {
namespace {

namespace core_simd = ::convgrad::detail::simd;

// Output channels formed together by correlate_channels (its OB): 8 output vectors of a
// sample vector need 3 window loads and 8 broadcasts for 24 multiply-adds.
constexpr I kOutBlock = 8;

// Block length: at least 1024 samples and twice the dilated kernel's span, so the window
// overhead (d (Kc - 1) samples) stays small; a multiple of 64 (four 512-bit vectors of float).
I block_length(I n, const Dims& D) {
  const I want = std::max<I>(1024, 2 * D.d * (D.Kc - 1));
  return std::min(n, (want + 63) / 64 * 64);
}

// A per-thread work area, grown as needed.
template <std::floating_point T>
struct Scratch {
  std::vector<T> window, yhat, r;
};
template <std::floating_point T>
Scratch<T> new_scratch() {
  return {};
}

// Channel windows for one block: rows [c * stride, c * stride + width) hold
// v[row0 + c][first + t] for t < width, zero outside [0, limit). In place when they lie
// inside the signal.
template <std::floating_point T>
struct Window {
  const T* s;
  I stride;
};
template <std::floating_point T>
Window<T> window(const T* rows, I channels, I row_length, I first, I width, std::vector<T>& buffer) {
  if (first >= 0 && first + width <= row_length) return {rows + first, row_length};
  buffer.assign(std::size_t(channels * width), T{0});
  const I lo = std::clamp<I>(first, 0, row_length), hi = std::clamp<I>(first + width, 0, row_length);
  for (I c = 0; c < channels; ++c)
    if (lo < hi)
      std::copy(rows + c * row_length + lo, rows + c * row_length + hi,
                buffer.data() + c * width + (lo - first));
  return {buffer.data(), width};
}

// Forward weights of group g, output block o0..o0+OB-1 (OB <= kOutBlock), laid out for
// correlate_channels: w[(c' Kc + k) OB + o] = W[o0 + o, c', j0 + Kc - 1 - k] (flipped).
// Blocks follow one another, group by group.
template <std::floating_point T>
std::vector<T> pack_forward(std::span<const T> W, const Dims& D) {
  std::vector<T> w(std::size_t(D.Cout * D.Cig * D.Kc));
  std::size_t at = 0;
  for (I o0 = 0; o0 < D.Cout;) {  // blocks of up to kOutBlock that never cross a group
    const I OB = std::min(kOutBlock, (o0 / D.Cog + 1) * D.Cog - o0);
    for (I c = 0; c < D.Cig; ++c)
      for (I k = 0; k < D.Kc; ++k)
        for (I o = 0; o < OB; ++o)
          w[at++] = W[std::size_t(((o0 + o) * D.Cig + c) * D.K + D.j0 + D.Kc - 1 - k)];
    o0 += OB;
  }
  return w;
}

// dx weights of group g, input block c0..c0+CB-1: w[(o' Kc + j) CB + c] = W[g Cog + o', c0 + c, j0 + j].
template <std::floating_point T>
std::vector<T> pack_backward(std::span<const T> W, const Dims& D) {
  std::vector<T> w(std::size_t(D.Cout * D.Cig * D.Kc));
  std::size_t at = 0;
  for (I g = 0; g < D.groups; ++g)
    for (I c0 = 0; c0 < D.Cig; c0 += kOutBlock) {
      const I CB = std::min(kOutBlock, D.Cig - c0);
      for (I o = 0; o < D.Cog; ++o)
        for (I j = 0; j < D.Kc; ++j)
          for (I c = 0; c < CB; ++c)
            w[at++] = W[std::size_t(((g * D.Cog + o) * D.Cig + c0 + c) * D.K + D.j0 + j)];
    }
  return w;
}

// Depthwise without dilation: the single-channel kernels of the core, which pair taps to
// share loads, are faster than the channel kernels with one channel.
bool single_channel_kernels(const Dims& D) { return D.Cig == 1 && D.Cog == 1 && D.d == 1; }

// The forward of one block of group g into out (rows out_stride apart), P samples, from the
// windows s (C_in/g rows of the x window).
template <std::floating_point T>
void forward_block(const Dims& D, const std::vector<T>& wf, std::span<const T> bias, I g, Window<T> s, T* out,
                   I out_stride, I P) {
  for (I o0 = g * D.Cog; o0 < (g + 1) * D.Cog; o0 += kOutBlock) {
    const I OB = std::min(kOutBlock, (g + 1) * D.Cog - o0);
    const T* w = wf.data() + o0 * D.Cig * D.Kc;
    const T* b = bias.empty() ? nullptr : bias.data() + o0;
    T* y = out + (o0 - g * D.Cog) * out_stride;
    if (single_channel_kernels(D)) {
      core_simd::correlate(w, std::size_t(D.Kc), s.s, y, std::size_t(P));
      if (b)
        for (I i = 0; i < P; ++i) y[i] += b[0];
    } else {
      simd::correlate_channels(w, std::size_t(OB), std::size_t(D.Cig), std::size_t(D.Kc), std::size_t(D.d),
                               s.s, std::size_t(s.stride), b, y, std::size_t(out_stride), std::size_t(P));
    }
  }
}

// G[o', c', k] += sum_i s_c'[i + d k] r_o'[i] for one block of group g (rows r_stride apart).
template <std::floating_point T>
void accumulate_block(const Dims& D, Window<T> s, const T* r, I r_stride, I P, double* G) {
  if (single_channel_kernels(D))
    core_simd::correlate_accumulate(s.s, r, std::size_t(P), std::size_t(D.Kc), G);
  else
    simd::correlate_accumulate_channels(s.s, std::size_t(s.stride), std::size_t(D.Cig), r,
                                        std::size_t(r_stride), std::size_t(D.Cog), std::size_t(P),
                                        std::size_t(D.Kc), std::size_t(D.d), G);
}

// The units (b, g, block) of a pass over n samples per row, numbered ((b G + g) blocks + block).
struct Units {
  I blocks, P, count;
  Units(const Dims& D, I n) : P(block_length(n, D)) {
    blocks = (n + P - 1) / P;
    count = D.B * D.groups * blocks;
  }
};

// The reductions (dW, dbias, loss) as tasks: group g's B x blocks units in `parts` runs of
// consecutive units, parts fixed by the shape (at most 16, fewer when dW is large so that
// the partial sums stay within ~16 MiB).
struct Tasks {
  I blocks, P, units, parts, per_part, width;  // width: one group's dW partial, then dbias
  Tasks(const Dims& D) : P(block_length(D.Nout, D)) {
    blocks = (D.Nout + P - 1) / P;
    units = D.B * blocks;
    width = D.Cog * D.Cig * D.Kc + D.Cog;
    parts = std::clamp<I>(std::min<I>(16, (I{1} << 21) / (width * D.groups)), 1, std::max<I>(units, 1));
    per_part = (units + parts - 1) / std::max<I>(parts, 1);
  }
};

// The sums of the gradient over the batch for r given (step == false) or for the training
// step (r = bias + W * x - y, its loss returned). Writes dW (if not empty) and dbias (if not empty).
template <std::floating_point T>
double reduce(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<const T> target,
              bool step, std::span<T> dW, std::span<T> dbias, const Dims& D) {
  const Tasks tk(D);
  const I ntasks = D.groups * tk.parts;
  std::vector<double> partial(std::size_t(ntasks * tk.width), 0.0), loss(std::size_t(ntasks), 0.0);
  const std::vector<T> wf = step ? pack_forward(W, D) : std::vector<T>{};
  const Chunks ch(ntasks);
  const auto body = [&](I, I t, Scratch<T>& sc) {
    const I g = t / tk.parts, part = t % tk.parts;
    double* G = partial.data() + t * tk.width;
    double* db = G + D.Cog * D.Cig * D.Kc;
    for (I u = part * tk.per_part; u < std::min(tk.units, (part + 1) * tk.per_part); ++u) {
      const I b = u / tk.blocks, n0 = (u % tk.blocks) * tk.P, P = std::min(tk.P, D.Nout - n0);
      const Window<T> s = window(x.data() + (b * D.Cin + g * D.Cig) * D.Nin, D.Cig, D.Nin, n0 - D.d * D.hi,
                                 P + D.d * (D.Kc - 1), sc.window);
      const T* rows = target.data() + (b * D.Cout + g * D.Cog) * D.Nout + n0;
      const T* r = rows;
      I r_stride = D.Nout;
      if (step) {  // r = yhat - y for the block, kept in scratch
        sc.yhat.resize(std::size_t(D.Cog * P));
        sc.r.resize(std::size_t(D.Cog * P));
        forward_block(D, wf, bias, g, s, sc.yhat.data(), P, P);
        for (I o = 0; o < D.Cog; ++o)
          loss[std::size_t(t)] += core_simd::residual_sumsq(sc.yhat.data() + o * P, rows + o * D.Nout,
                                                            sc.r.data() + o * P, std::size_t(P));
        r = sc.r.data(), r_stride = P;
      }
      if (!dbias.empty())
        for (I o = 0; o < D.Cog; ++o) db[o] += simd::sum(r + o * r_stride, std::size_t(P));
      if (!dW.empty() || step) accumulate_block(D, s, r, r_stride, P, G);
    }
  };
  run_chunked(ch, team_size(ch.chunks), new_scratch<T>, new_scratch<T>, body);
  // Combine the tasks in order: dW[o, c', j0 + j] = G[o', c', Kc - 1 - j], dbias[o] = db[o'].
  if (!dW.empty()) std::fill(dW.begin(), dW.end(), T{0});
  for (I g = 0; g < D.groups; ++g) {
    for (I e = 0; e < tk.width; ++e) {
      double sum = 0;
      for (I part = 0; part < tk.parts; ++part)
        sum += partial[std::size_t((g * tk.parts + part) * tk.width + e)];
      const I o = g * D.Cog + (e < D.Cog * D.Cig * D.Kc ? e / (D.Cig * D.Kc) : e - D.Cog * D.Cig * D.Kc);
      if (e < D.Cog * D.Cig * D.Kc) {
        const I c = e / D.Kc % D.Cig, j = D.Kc - 1 - e % D.Kc;
        if (!dW.empty()) dW[std::size_t((o * D.Cig + c) * D.K + D.j0 + j)] = static_cast<T>(sum);
      } else if (!dbias.empty()) {
        dbias[std::size_t(o)] = static_cast<T>(sum);
      }
    }
  }
  return 0.5 * sum_in_chunk_order(loss);
}

// dx[b, c, k] = sum_o sum_j W[o, c', j] r[b, o, k + d (lo + j)], blocks of N_in.
template <std::floating_point T>
void input_grad(std::span<const T> W, std::span<const T> r, std::span<T> dx, const Dims& D) {
  const std::vector<T> wb = pack_backward(W, D);
  const Units un(D, D.Nin);
  const Chunks ch(un.count);
  run_chunked(ch, team_size(ch.chunks), new_scratch<T>, new_scratch<T>, [&](I, I u, Scratch<T>& sc) {
    const I b = u / (D.groups * un.blocks), g = u / un.blocks % D.groups, k0 = (u % un.blocks) * un.P;
    const I P = std::min(un.P, D.Nin - k0);
    const Window<T> s = window(r.data() + (b * D.Cout + g * D.Cog) * D.Nout, D.Cog, D.Nout, k0 + D.d * D.lo,
                               P + D.d * (D.Kc - 1), sc.window);
    for (I c0 = 0; c0 < D.Cig; c0 += kOutBlock) {
      const I CB = std::min(kOutBlock, D.Cig - c0);
      const T* w = wb.data() + (g * D.Cig + c0) * D.Cog * D.Kc;
      T* out = dx.data() + (b * D.Cin + g * D.Cig + c0) * D.Nin + k0;
      if (single_channel_kernels(D))
        core_simd::correlate(w, std::size_t(D.Kc), s.s, out, std::size_t(P));
      else
        simd::correlate_channels(w, std::size_t(CB), std::size_t(D.Cog), std::size_t(D.Kc), std::size_t(D.d),
                                 s.s, std::size_t(s.stride), static_cast<const T*>(nullptr), out,
                                 std::size_t(D.Nin), std::size_t(P));
    }
  });
}

// The training step when no tap reaches: yhat = bias, r = bias - y, dW = 0, dbias = sum r.
template <std::floating_point T>
double step_without_taps(std::span<const T> bias, std::span<const T> y, std::span<T> dW, std::span<T> dbias,
                         const Dims& D) {
  std::fill(dW.begin(), dW.end(), T{0});
  double loss = 0;
  for (I o = 0; o < D.Cout; ++o) {
    double sum = 0;
    for (I b = 0; b < D.B; ++b)
      for (I n = 0; n < D.Nout; ++n) {
        const T r =
            (bias.empty() ? T{0} : bias[std::size_t(o)]) - y[std::size_t((b * D.Cout + o) * D.Nout + n)];
        sum += static_cast<double>(r);
        loss += static_cast<double>(r) * static_cast<double>(r);
      }
    if (!dbias.empty()) dbias[std::size_t(o)] = static_cast<T>(sum);
  }
  return 0.5 * loss;
}

}  // namespace

template <std::floating_point T>
void conv(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<T> y,
          const ChannelShape& s) {
  const Dims D(s);
  if (D.B == 0) return;
  if (!D.any) return fill_bias(bias, y, D);
  const std::vector<T> wf = pack_forward(W, D);
  const Units un(D, D.Nout);
  const Chunks ch(un.count);
  run_chunked(ch, team_size(ch.chunks), new_scratch<T>, new_scratch<T>, [&](I, I u, Scratch<T>& sc) {
    const I b = u / (D.groups * un.blocks), g = u / un.blocks % D.groups, n0 = (u % un.blocks) * un.P;
    const I P = std::min(un.P, D.Nout - n0);
    const Window<T> w = window(x.data() + (b * D.Cin + g * D.Cig) * D.Nin, D.Cig, D.Nin, n0 - D.d * D.hi,
                               P + D.d * (D.Kc - 1), sc.window);
    forward_block(D, wf, bias, g, w, y.data() + (b * D.Cout + g * D.Cog) * D.Nout + n0, D.Nout, P);
  });
}

template <std::floating_point T>
void grad(std::span<const T> x, std::span<const T> W, std::span<const T> r, std::span<T> dx, std::span<T> dW,
          std::span<T> dbias, const ChannelShape& s) {
  const Dims D(s);
  if (!D.any || D.B == 0) {  // dx and dW are zero; dbias is still the sum of r
    if (!dx.empty()) std::fill(dx.begin(), dx.end(), T{0});
    if (!dW.empty()) std::fill(dW.begin(), dW.end(), T{0});
    if (!dbias.empty()) std::fill(dbias.begin(), dbias.end(), T{0});
    if (D.B == 0 || dbias.empty()) return;
  }
  if (!dW.empty() || !dbias.empty()) {
    if (D.any) {
      reduce<T>(x, W, {}, r, false, dW, dbias, D);
    } else {
      for (I o = 0; o < D.Cout; ++o) {
        double sum = 0;
        for (I b = 0; b < D.B; ++b)
          for (I n = 0; n < D.Nout; ++n)
            sum += static_cast<double>(r[std::size_t((b * D.Cout + o) * D.Nout + n)]);
        dbias[std::size_t(o)] = static_cast<T>(sum);
      }
    }
  }
  if (!dx.empty() && D.any) input_grad(W, r, dx, D);
}

template <std::floating_point T>
double train_step(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<const T> y,
                  std::span<T> dW, std::span<T> dbias, const ChannelShape& s) {
  const Dims D(s);
  if (D.B == 0) {
    std::fill(dW.begin(), dW.end(), T{0});
    std::fill(dbias.begin(), dbias.end(), T{0});
    return 0;
  }
  if (!D.any) return step_without_taps(bias, y, dW, dbias, D);
  return reduce<T>(x, W, bias, y, true, dW, dbias, D);
}

CONVGRAD_CHANNEL_METHOD_INSTANCES

}  // namespace convgrad::detail::channels::direct
