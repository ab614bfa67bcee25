// The partitioned-block frequency-domain adaptive filter (overlap-save, constrained gradient,
// per-bin normalised step).
//
// The K taps (delayed by lo: x'[n] = x[n - lo]) are cut into P partitions of B taps,
// h_p[j] = h[pB + j] (taps past K held at 0), and the stream into blocks of B samples. With
// transforms of length L = 2B (FFTW's unnormalised r2c/c2r; c2r(FFT(v)) = L v) and block b
// starting at n0:
//
//   X_0    = FFT([x'[n0-B .. n0), x'[n0 .. n0+B)])     (X_p: the same p blocks earlier)
//   W_p    = FFT([h_p, 0_B])
//   yhat   = last B of c2r(sum_p W_p X_p) / L          (overlap-save: the first B wrap)
//   r      = yhat - y
//   E      = FFT([0_B, r])
//   dh_p   = first B of c2r(conj(X_p) E) / L           (= sum_i x'[n0+i-pB-j] r[n0+i]: the
//                                                      residual correlated with the input,
//                                                      exactly grad_kernel over the block;
//                                                      keeping the first B is the constraint)
//   h_p   -= first B of c2r(conj(X_p) E D) / L,  D_k = mu / (P S_k + L P delta)
//
// with S_k = beta S_k + (1 - beta) |X_0,k|^2 the smoothed input power of bin k (about L times
// the per-sample power, so delta is a per-sample power). Without normalisation D_k = mu: then
// h_p -= mu dh_p, block LMS. The taps h are the state (W is derived from them after each
// update), so h reads back exactly.
//
// A call that ends inside a block keeps the samples until the block is complete; meanwhile
// their yhat is computed from the block zero-padded (exact: yhat[n] needs no later samples),
// and r from it. The update waits for the whole block.
#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <memory>
#include <mutex>
#include <string>

#include "adaptive/adaptive_internal.hpp"
#include "convgrad/adaptive.hpp"
#include "convgrad/errors.hpp"
#include "core/fftw.hpp"

namespace convgrad::adaptive {

FdafGeometry fdaf_geometry(std::size_t K, const Options& options) {
  std::size_t B = options.block;
  if (B == 0) {
    B = 1;
    while (B < std::min<std::size_t>(K, 256)) B *= 2;
  }
  if (B > (std::size_t{1} << 20))
    throw invalid_argument("fdaf: block = " + std::to_string(B) + " is outside its range [1, 1048576]");
  const std::size_t P = options.partitions != 0 ? options.partitions : (K + B - 1) / B;
  if (B * P < K)
    throw invalid_argument("fdaf: block = " + std::to_string(B) + " times partitions = " + std::to_string(P) +
                           " covers fewer than the K = " + std::to_string(K) + " taps");
  if (B * P >= 2 * K + B)
    throw invalid_argument("fdaf: block = " + std::to_string(B) + " times partitions = " + std::to_string(P) +
                           " is far more than the K = " + std::to_string(K) +
                           " taps (a partition would be empty)");
  return {B, P};
}

namespace detail {
namespace {

using convgrad::detail::Fftw;

// An FFTW-aligned array (the plans run on any such array: FFTW's new-array execute).
template <class V>
class Aligned {
 public:
  explicit Aligned(std::size_t n)
      : n_(n), p_(static_cast<V*>(Fftw<double>::malloc(std::max<std::size_t>(n, 1) * sizeof(V)))) {
    if (!p_) throw resource_limit("fdaf: cannot allocate " + std::to_string(n * sizeof(V)) + " bytes");
    std::fill(p_, p_ + n_, V{});
  }
  Aligned(const Aligned& o) : Aligned(o.n_) { std::copy(o.p_, o.p_ + n_, p_); }
  Aligned& operator=(const Aligned&) = delete;
  ~Aligned() { Fftw<double>::free(p_); }
  V* data() { return p_; }
  const V* data() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_;
  V* p_;
};

template <std::floating_point T>
class Fdaf final : public Filter<T> {
  using C = std::complex<T>;

 public:
  Fdaf(Taps taps, Options options)
      : Filter<T>(Algorithm::fdaf, taps, options),
        B_(fdaf_geometry(taps.K(), this->options()).block),
        P_(fdaf_geometry(taps.K(), this->options()).partitions),
        L_(2 * B_),
        F_(B_ + 1),
        plans_(&convgrad::detail::fftw_plans<T>(L_)),
        h_(P_ * B_, T(0)),
        W_(P_ * F_, C(0)),
        X_(P_ * F_, C(0)),
        S_(F_, 0.0),
        prev_(B_, T(0)),
        cur_x_(B_, T(0)),
        cur_y_(B_, T(0)),
        delay_(static_cast<std::size_t>(taps.lo), T(0)),
        time_(L_),
        spec_(F_),
        X0_(F_),
        yhat_(B_),
        r_(B_) {}

  std::vector<T> h() const override { return std::vector<T>(h_.begin(), h_.begin() + this->K()); }
  std::unique_ptr<Filter<T>> clone() const override { return std::make_unique<Fdaf>(*this); }

  // Sizes, for the CLI and the tests.
  std::size_t block() const { return B_; }
  std::size_t partitions() const { return P_; }

 protected:
  std::size_t run(const T* x, const T* y, T* yhat, T* r, std::size_t n) override {
    std::size_t i = 0;
    while (i < n) {
      const std::size_t start = fill_, c = std::min(n - i, B_ - fill_);
      for (std::size_t t = 0; t < c; ++t) {
        cur_x_[start + t] = delayed(x[i + t]);
        cur_y_[start + t] = y[i + t];
      }
      fill_ += c;
      predict();
      // r over the whole block so far: a completed block's update uses the final values.
      for (std::size_t t = 0; t < fill_; ++t) r_.data()[t] = yhat_.data()[t] - cur_y_[t];
      for (std::size_t t = start; t < fill_; ++t) {
        yhat[i + t - start] = yhat_.data()[t];
        r[i + t - start] = r_.data()[t];
      }
      for (std::size_t t = start; t < fill_; ++t)
        if (!std::isfinite(r_.data()[t])) return i + (t - start);  // nothing committed
      if (fill_ == B_) {
        commit_block();
        fill_ = 0;
      }
      i += c;
    }
    return n;
  }

  void assign_h(std::span<const T> h) override {
    std::fill(h_.begin(), h_.end(), T(0));
    std::copy(h.begin(), h.end(), h_.begin());
    transform_taps();
  }

  void write_state(std::string& out) const override {
    put_vector(out, h_);
    put_vector(out, X_);
    put_vector(out, S_);
    put_vector(out, prev_);
    put_vector(out, cur_x_);
    put_vector(out, cur_y_);
    put_vector(out, delay_);
    put(out, static_cast<std::uint64_t>(head_));
    put(out, static_cast<std::uint64_t>(fill_));
    put(out, static_cast<std::uint64_t>(delay_pos_));
    put(out, static_cast<std::uint8_t>(have_power_));
  }
  void read_state(std::string_view& in) override {
    h_ = get_vector<T>(in, h_.size());
    X_ = get_vector<C>(in, X_.size());
    S_ = get_vector<double>(in, S_.size());
    prev_ = get_vector<T>(in, B_);
    cur_x_ = get_vector<T>(in, B_);
    cur_y_ = get_vector<T>(in, B_);
    delay_ = get_vector<T>(in, delay_.size());
    head_ = get<std::uint64_t>(in);
    fill_ = get<std::uint64_t>(in);
    delay_pos_ = get<std::uint64_t>(in);
    have_power_ = get<std::uint8_t>(in) != 0;
    if (head_ >= P_ || fill_ >= B_ || delay_pos_ > delay_.size())
      throw invalid_argument("adaptive filter state: bad fdaf positions");
    transform_taps();
  }

 private:
  // x'[n] = x[n - lo]: a ring of the last lo inputs.
  T delayed(T x) {
    if (delay_.empty()) return x;
    const T out = delay_[delay_pos_];
    delay_[delay_pos_] = x;
    delay_pos_ = (delay_pos_ + 1) % delay_.size();
    return out;
  }

  void forward() { Fftw<T>::r2c(plans_->forward, time_.data(), Fftw<T>::cast(spec_.data())); }
  void inverse() {
    Fftw<T>::c2r(plans_->inverse, Fftw<T>::cast(spec_.data()), time_.data());
  }  // overwrites spec_

  // The spectrum of input partition p (p >= 1: p blocks back; slot head_ holds the last
  // complete block, which becomes p = 1 once the current block is in X0_).
  const C* X(std::size_t p) const { return X_.data() + ((head_ + p - 1) % P_) * F_; }

  // yhat_ over the current block (zero-padded past fill_ when incomplete) and X0_.
  void predict() {
    T* t = time_.data();
    std::copy(prev_.begin(), prev_.end(), t);
    std::copy(cur_x_.begin(), cur_x_.begin() + fill_, t + B_);
    std::fill(t + B_ + fill_, t + L_, T(0));
    forward();
    std::copy(spec_.data(), spec_.data() + F_, X0_.data());
    C* Y = spec_.data();
    const C* W0 = W_.data();
    for (std::size_t k = 0; k < F_; ++k) Y[k] = W0[k] * X0_.data()[k];
    for (std::size_t p = 1; p < P_; ++p) {
      const C* Wp = W_.data() + p * F_;
      const C* Xp = X(p);
      for (std::size_t k = 0; k < F_; ++k) Y[k] += Wp[k] * Xp[k];
    }
    inverse();
    const T scale = T(1) / static_cast<T>(L_);
    for (std::size_t j = 0; j < fill_; ++j) yhat_.data()[j] = time_.data()[B_ + j] * scale;
  }

  // The block is complete and finite: shift the input spectra, update the taps.
  void commit_block() {
    // E = FFT([0_B, r]), scaled per bin by D_k / L.
    T* t = time_.data();
    std::fill(t, t + B_, T(0));
    std::copy(r_.data(), r_.data() + B_, t + B_);
    forward();
    std::vector<C> E(spec_.data(), spec_.data() + F_);
    const double beta = have_power_ ? this->options().power_smoothing : 0.0;
    const double mu = *this->options().mu, P = static_cast<double>(P_), L = static_cast<double>(L_);
    for (std::size_t k = 0; k < F_; ++k) {
      S_[k] = beta * S_[k] + (1 - beta) * std::norm(std::complex<double>(X0_.data()[k]));
      const double D = this->options().normalise ? mu / (P * S_[k] + L * P * *this->options().delta) : mu;
      E[k] *= static_cast<T>(D / L);
    }
    have_power_ = true;
    // The new block's spectrum becomes X_0: it takes the slot of the oldest, X_{P-1}.
    head_ = (head_ + P_ - 1) % P_;
    std::copy(X0_.data(), X0_.data() + F_, X_.data() + head_ * F_);
    // h_p -= first B of c2r(conj(X_p) E D) / L: the gradient, constrained to B taps.
    for (std::size_t p = 0; p < P_; ++p) {
      const C* Xp = X_.data() + ((head_ + p) % P_) * F_;
      C* G = spec_.data();
      for (std::size_t k = 0; k < F_; ++k) G[k] = std::conj(Xp[k]) * E[k];
      inverse();
      T* hp = h_.data() + p * B_;
      const std::size_t live = std::min(B_, this->K() - std::min(this->K(), p * B_));  // taps past K stay 0
      for (std::size_t j = 0; j < live; ++j) hp[j] -= time_.data()[j];
    }
    std::copy(cur_x_.begin(), cur_x_.end(), prev_.begin());
    transform_taps();
  }

  // W_p = FFT([h_p, 0_B]) for every partition.
  void transform_taps() {
    for (std::size_t p = 0; p < P_; ++p) {
      T* t = time_.data();
      std::copy(h_.begin() + p * B_, h_.begin() + (p + 1) * B_, t);
      std::fill(t + B_, t + L_, T(0));
      forward();
      std::copy(spec_.data(), spec_.data() + F_, W_.data() + p * F_);
    }
  }

  std::size_t B_, P_, L_, F_;
  const convgrad::detail::FftwPlans<T>* plans_;  // the library's cache: shared by every filter of length L
  std::vector<T> h_;                             // P B taps, m = lo + j
  std::vector<C> W_;                             // P spectra of F bins: W_p = FFT([h_p, 0])
  std::vector<C> X_;                             // P input spectra, a ring (head_: the last complete block)
  std::vector<double> S_;                        // smoothed per-bin input power
  std::vector<T> prev_;                          // x' of the last complete block
  std::vector<T> cur_x_, cur_y_;                 // the current block, fill_ samples so far
  std::vector<T> delay_;
  std::size_t head_ = 0, fill_ = 0, delay_pos_ = 0;
  bool have_power_ = false;
  // Scratch (FFTW-aligned).
  Aligned<T> time_;
  Aligned<C> spec_, X0_;
  Aligned<T> yhat_, r_;
};

}  // namespace

template <std::floating_point T>
std::unique_ptr<Filter<T>> make_fdaf(Taps taps, const Options& options) {
  return std::make_unique<Fdaf<T>>(taps, options);
}
template std::unique_ptr<Filter<float>> make_fdaf<float>(Taps, const Options&);
template std::unique_ptr<Filter<double>> make_fdaf<double>(Taps, const Options&);

}  // namespace detail
}  // namespace convgrad::adaptive
