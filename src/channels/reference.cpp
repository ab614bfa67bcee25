// The formulas of channels.hpp, literally: one loop per index, sums in the order written.
// Short and obvious on purpose; the fast paths share no code with them. With B = C_in =
// C_out = 1, d = 1 and no bias, conv and dx are the single-channel reference loops
// (src/core/reference.cpp) term for term.
#include <vector>

#include "channels/channels_internal.hpp"

namespace convgrad::detail::channels::reference {
namespace {

// The shape's sizes with the index arithmetic of the formulas. The taps are the caller's,
// all K of them (no clipping: the loops test every index).
struct Index : Dims {
  I lo;
  explicit Index(const ChannelShape& s) : Dims(s), lo(s.taps.lo) {}
  // The input channel c' of output channel o's group.
  I in_channel(I o, I cp) const { return o / Cog * Cig + cp; }
  I x_at(I b, I c, I i) const { return (b * Cin + c) * Nin + i; }
  I y_at(I b, I o, I n) const { return (b * Cout + o) * Nout + n; }
  I w_at(I o, I cp, I j) const { return (o * Cig + cp) * K + j; }
};

}  // namespace

// y[b, o, n] = bias[o] + sum_{c'} sum_j W[o, c', j] x[b, c, n - d (lo + j)].
template <std::floating_point T>
void conv(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<T> y,
          const ChannelShape& s) {
  const Index D(s);
  for (I b = 0; b < D.B; ++b)
    for (I o = 0; o < D.Cout; ++o)
      for (I n = 0; n < D.Nout; ++n) {
        T sum = 0;
        for (I cp = 0; cp < D.Cig; ++cp)
          for (I j = 0; j < D.K; ++j) {
            const I i = n - D.d * (D.lo + j);
            if (i >= 0 && i < D.Nin) sum += W[D.w_at(o, cp, j)] * x[D.x_at(b, D.in_channel(o, cp), i)];
          }
        y[D.y_at(b, o, n)] = bias.empty() ? sum : sum + bias[o];
      }
}

// dW[o, c', j] = sum_b sum_n x[b, c, n - d (lo + j)] r[b, o, n]
// dx[b, c, k]  = sum_{o in group(c)} sum_j W[o, c', j] r[b, o, k + d (lo + j)]
// dbias[o]     = sum_b sum_n r[b, o, n]
template <std::floating_point T>
void grad(std::span<const T> x, std::span<const T> W, std::span<const T> r, std::span<T> dx, std::span<T> dW,
          std::span<T> dbias, const ChannelShape& s) {
  const Index D(s);
  if (!dW.empty())
    for (I o = 0; o < D.Cout; ++o)
      for (I cp = 0; cp < D.Cig; ++cp)
        for (I j = 0; j < D.K; ++j) {
          T sum = 0;
          for (I b = 0; b < D.B; ++b)
            for (I n = 0; n < D.Nout; ++n) {
              const I i = n - D.d * (D.lo + j);
              if (i >= 0 && i < D.Nin) sum += x[D.x_at(b, D.in_channel(o, cp), i)] * r[D.y_at(b, o, n)];
            }
          dW[D.w_at(o, cp, j)] = sum;
        }
  if (!dx.empty())
    for (I b = 0; b < D.B; ++b)
      for (I c = 0; c < D.Cin; ++c)
        for (I k = 0; k < D.Nin; ++k) {
          const I g = c / D.Cig, cp = c % D.Cig;
          T sum = 0;
          for (I o = g * D.Cog; o < (g + 1) * D.Cog; ++o)
            for (I j = 0; j < D.K; ++j) {
              const I n = k + D.d * (D.lo + j);
              if (n >= 0 && n < D.Nout) sum += W[D.w_at(o, cp, j)] * r[D.y_at(b, o, n)];
            }
          dx[D.x_at(b, c, k)] = sum;
        }
  if (!dbias.empty())
    for (I o = 0; o < D.Cout; ++o) {
      T sum = 0;
      for (I b = 0; b < D.B; ++b)
        for (I n = 0; n < D.Nout; ++n) sum += r[D.y_at(b, o, n)];
      dbias[o] = sum;
    }
}

// yhat = conv, r = yhat - y, loss = 1/2 sum r^2 (in double, index order), then the gradients.
template <std::floating_point T>
double train_step(std::span<const T> x, std::span<const T> W, std::span<const T> bias, std::span<const T> y,
                  std::span<T> dW, std::span<T> dbias, const ChannelShape& s) {
  std::vector<T> r(y.size());
  conv<T>(x, W, bias, r, s);
  double sum = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    r[i] -= y[i];
    sum += static_cast<double>(r[i]) * static_cast<double>(r[i]);
  }
  grad<T>(x, W, r, {}, dW, dbias, s);
  return 0.5 * sum;
}

CONVGRAD_CHANNEL_METHOD_INSTANCES

}  // namespace convgrad::detail::channels::reference
