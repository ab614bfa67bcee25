// Adaptive filters: learning h while the signal streams (docs/adaptive.md derives each update).
//
// The model and the signs are the library's (ops.hpp): a causal filter, possibly delayed,
// taps m = lo..lo+K-1 with lo >= 0,
//
//   yhat[n] = sum_m h[m] x[n-m]      (x = 0 before the stream starts: the pre-windowed model)
//   r[n]    = yhat[n] - y[n]         (prediction minus target)
//
// and every algorithm descends the loss of what it has seen, L = 1/2 sum r^2, whose gradient
// with respect to h[m] at one sample is r[n] x[n-m]:
//
//   LMS        h[m] -= mu r[n] x[n-m]
//   NLMS       h[m] -= mu r[n] x[n-m] / (delta + ||x_n||^2)      ||x_n||^2 over the K taps' inputs
//   sign-LMS   h[m] -= mu sign(r[n]) x[n-m]
//   RLS        the exact minimiser of sum_i lambda^(n-i) 1/2 r[i]^2 + lambda^n delta/2 ||h||^2
//   FDAF       block LMS over blocks of B samples, its gradient (the residual correlated with
//              the input) computed through FFTs in P partitions of B taps, each frequency bin's
//              step normalised by that bin's input power
//
// Each filter is a state object. process(x, y, yhat, r) takes the next samples of the stream,
// writes the prediction and the residual of each (made with the taps before that sample's
// update) and updates the taps. Results do not depend on how the stream is cut into calls:
// bit for bit for LMS, NLMS, sign-LMS and RLS; for the FDAF, bit for bit for cuts at multiples
// of its block length B, and otherwise the taps still are, while yhat and r of a block that
// was cut are computed once early (from the samples present, zero-padded) and agree to rounding.
//
// Errors: constructing with a parameter outside its range throws invalid_argument naming it
// and the range; a NaN or infinity in x or y throws non_finite_input naming the sample (its
// index within the block) before anything changes, so the stream can continue; a filter that
// diverges throws `diverged` (below).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "convgrad/errors.hpp"
#include "convgrad/taps.hpp"

namespace convgrad::adaptive {

enum class Algorithm { lms, nlms, sign_lms, rls, fdaf };
std::string_view to_string(Algorithm algorithm);
// "lms", "nlms", "sign-lms" (or "sign_lms"), "rls", "fdaf"; throws invalid_argument.
Algorithm parse_algorithm(std::string_view name);

// The filter stopped learning sensibly: a residual became non-finite, an LMS-family step grew
// so large that the taps would soon overflow (|s| ||x_n|| above 2^-16 of T's largest value),
// RLS's P lost positive definiteness, or the residual's power over a window of
// `divergence_window` samples exceeded `divergence_ratio` times the target's. `sample` is the
// stream index (counted from the filter's first sample) where it was detected. A non-finite
// residual or a step that large is caught before that sample's update, so the taps stay
// finite; the power test runs at the end of each window, after its updates. The filter keeps
// its state; set_h or a fresh filter restarts.
struct diverged : error {
  diverged(const std::string& what, std::uint64_t sample) : error(what), sample(sample) {}
  std::uint64_t sample;
};

// Parameters; mu and delta left empty take the algorithm's default (see docs/adaptive.md):
//   mu      LMS 0.01, sign-LMS 0.001, NLMS 0.5, FDAF 0.5 (RLS has none)
//   delta   NLMS 1e-6 K, RLS 1e-2 (P = I / delta, the ridge weight), FDAF 1e-6 (per bin, times 2B P)
//   lambda  RLS forgetting factor, default 1
// Ranges (invalid_argument outside them): LMS and sign-LMS mu > 0; NLMS 0 < mu < 2,
// delta >= 0; RLS 0 < lambda <= 1, delta > 0; FDAF 0 < mu <= 1, delta > 0.
struct Options {
  std::optional<double> mu;
  std::optional<double> delta;
  double lambda = 1;
  // FDAF: block length B and partitions P with B P >= K (taps past K are held at 0);
  // 0 = chosen from K: B = min(K, 256) rounded up to a power of two, P = ceil(K / B).
  std::size_t block = 0;
  std::size_t partitions = 0;
  // FDAF: false drops the per-bin normalisation, leaving constrained block LMS
  // (h -= mu dh over each block; the library's grad_kernel computes the same dh).
  bool normalise = true;
  // FDAF: per-bin input power S = beta S + (1 - beta) |X|^2, beta in [0, 1).
  double power_smoothing = 0.9;
  // Divergence test: windows of this many samples (0 turns the power test off) and the ratio
  // of residual to target power above which the filter is declared diverged.
  std::size_t divergence_window = 8192;
  double divergence_ratio = 1e6;
};

// A filter of taps `taps` (lo >= 0) for samples of type T, learning by one of the algorithms.
template <std::floating_point T>
class Filter {
 public:
  virtual ~Filter() = default;

  Algorithm algorithm() const { return algorithm_; }
  Taps taps() const { return taps_; }
  std::size_t K() const { return taps_.K(); }
  const Options& options() const { return options_; }  // with the defaults filled in
  std::uint64_t samples() const { return samples_; }   // processed so far

  // The next x.size() samples: yhat and r must have the same size as x and y.
  void process(std::span<const T> x, std::span<const T> y, std::span<T> yhat, std::span<T> r);

  // The taps h[j] = h[m = lo + j], j = 0..K-1.
  virtual std::vector<T> h() const = 0;
  // Replaces the taps (K finite values); the rest of the state (input history, P) stays.
  void set_h(std::span<const T> h);

  // The complete state as bytes (restore_filter rebuilds it, bit for bit).
  std::string save() const;
  virtual std::unique_ptr<Filter> clone() const = 0;

 protected:
  Filter(Algorithm algorithm, Taps taps, Options options);
  Filter(const Filter&) = default;
  // Runs n samples; returns how many completed before a divergence (n if none).
  virtual std::size_t run(const T* x, const T* y, T* yhat, T* r, std::size_t n) = 0;
  virtual void assign_h(std::span<const T> h) = 0;
  virtual void write_state(std::string& out) const = 0;
  virtual void read_state(std::string_view& in) = 0;

  template <std::floating_point U>
  friend std::unique_ptr<Filter<U>> restore_filter(std::string_view bytes);

 private:
  void watch_divergence(const T* y, const T* r, std::size_t n);

  Algorithm algorithm_;
  Taps taps_;
  Options options_;
  std::uint64_t samples_ = 0;
  double window_rr_ = 0, window_yy_ = 0;  // sum r^2 and y^2 over the current window
  std::size_t window_n_ = 0;
};

// A new filter with zero taps (throws invalid_argument for a bad parameter or lo < 0).
template <std::floating_point T>
std::unique_ptr<Filter<T>> make_filter(Algorithm algorithm, Taps taps, Options options = {});

// A filter from Filter::save's bytes; throws invalid_argument if they are not a saved state
// of this sample type.
template <std::floating_point T>
std::unique_ptr<Filter<T>> restore_filter(std::string_view bytes);

// The filled-in options (defaults resolved) after checking every range; throws
// invalid_argument naming the parameter, its value and its range.
Options resolve_options(Algorithm algorithm, std::size_t K, Options options);

// The FDAF's geometry for K taps and the options: block length B and partitions P.
struct FdafGeometry {
  std::size_t block, partitions;
};
FdafGeometry fdaf_geometry(std::size_t K, const Options& options);

// Misalignment ||h - h_true|| / ||h_true|| (in double; h_true must not be all zero).
template <std::floating_point T>
double misalignment(std::span<const T> h, std::span<const double> h_true);

}  // namespace convgrad::adaptive
