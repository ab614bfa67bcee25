// The sample-by-sample adaptive filters (LMS, NLMS, sign-error LMS, RLS), the parts every
// filter shares (checking a block, watching for divergence, saving the state) and the factory.
//
// Input history. A filter with taps m = lo..lo+K-1 needs, at sample n, the inputs
// x[n-lo-K+1 .. n-lo], and NLMS also the one leaving the window, x[n-lo-K]: a span of
// H = lo + K + 1 samples. They live in time order in a linear buffer of H + S samples that
// starts with H zeros (x = 0 before the stream: the pre-windowed model); new samples are
// appended, and when the buffer is full its last H samples move to the front (one copy of H
// samples per S appended). Every window is then one contiguous array (adaptive_simd.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "adaptive/adaptive_internal.hpp"
#include "adaptive/adaptive_simd.hpp"
#include "convgrad/adaptive.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/ops.hpp"

namespace convgrad::adaptive {

namespace kernels = ::convgrad::detail::adaptive;
using detail::get;
using detail::get_vector;
using detail::put;
using detail::put_vector;

std::string_view to_string(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::lms:
      return "lms";
    case Algorithm::nlms:
      return "nlms";
    case Algorithm::sign_lms:
      return "sign-lms";
    case Algorithm::rls:
      return "rls";
    case Algorithm::fdaf:
      return "fdaf";
  }
  return "?";
}

Algorithm parse_algorithm(std::string_view name) {
  if (name == "lms") return Algorithm::lms;
  if (name == "nlms") return Algorithm::nlms;
  if (name == "sign-lms" || name == "sign_lms") return Algorithm::sign_lms;
  if (name == "rls") return Algorithm::rls;
  if (name == "fdaf") return Algorithm::fdaf;
  throw invalid_argument("algorithm: unknown '" + std::string(name) +
                         "' (expected lms, nlms, sign-lms, rls or fdaf)");
}

namespace {

std::string show(double v) {
  char s[32];
  std::snprintf(s, sizeof s, "%.17g", v);
  return s;
}

// Throws unless lo_ok(v) and v_ok(v): "<name> = V is outside its range R (why)".
void require_range(bool ok, std::string_view name, double value, std::string_view range,
                   Algorithm algorithm) {
  if (!ok)
    throw invalid_argument(std::string(to_string(algorithm)) + ": " + std::string(name) + " = " +
                           show(value) + " is outside its range " + std::string(range));
}

}  // namespace

Options resolve_options(Algorithm algorithm, std::size_t K, Options o) {
  const auto fill = [](std::optional<double>& v, double fallback) {
    if (!v) v = fallback;
  };
  // A parameter the algorithm does not have is refused rather than ignored.
  if (o.mu && algorithm == Algorithm::rls)
    require_range(false, "mu", *o.mu, "{} (RLS has no step size; it takes lambda and delta)", algorithm);
  if (o.delta && (algorithm == Algorithm::lms || algorithm == Algorithm::sign_lms))
    require_range(false, "delta", *o.delta, "{} (only NLMS, RLS and FDAF regularise)", algorithm);
  switch (algorithm) {
    case Algorithm::lms:
      fill(o.mu, 0.01);
      require_range(*o.mu > 0 && std::isfinite(*o.mu), "mu", *o.mu, "(0, inf)", algorithm);
      break;
    case Algorithm::sign_lms:
      fill(o.mu, 0.001);
      require_range(*o.mu > 0 && std::isfinite(*o.mu), "mu", *o.mu, "(0, inf)", algorithm);
      break;
    case Algorithm::nlms:
      fill(o.mu, 0.5);
      fill(o.delta, 1e-6 * static_cast<double>(K));
      require_range(*o.mu > 0 && *o.mu < 2, "mu", *o.mu, "(0, 2) (NLMS is stable for 0 < mu < 2)", algorithm);
      require_range(*o.delta >= 0 && std::isfinite(*o.delta), "delta", *o.delta, "[0, inf)", algorithm);
      break;
    case Algorithm::rls:
      fill(o.delta, 1e-2);
      require_range(o.lambda > 0 && o.lambda <= 1, "lambda", o.lambda, "(0, 1]", algorithm);
      require_range(*o.delta > 0 && std::isfinite(*o.delta), "delta", *o.delta,
                    "(0, inf) (P starts as I / delta)", algorithm);
      break;
    case Algorithm::fdaf:
      fill(o.mu, 0.5);
      fill(o.delta, 1e-6);
      require_range(*o.mu > 0 && *o.mu <= 1, "mu", *o.mu, "(0, 1]", algorithm);
      require_range(*o.delta > 0 && std::isfinite(*o.delta), "delta", *o.delta, "(0, inf)", algorithm);
      require_range(o.power_smoothing >= 0 && o.power_smoothing < 1, "power_smoothing", o.power_smoothing,
                    "[0, 1)", algorithm);
      break;
  }
  if (algorithm != Algorithm::rls && o.lambda != 1)
    require_range(false, "lambda", o.lambda, "{1} (only RLS forgets)", algorithm);
  require_range(o.divergence_ratio > 1 && !std::isnan(o.divergence_ratio), "divergence_ratio",
                o.divergence_ratio, "(1, inf]", algorithm);
  return o;
}

// ---- what every filter shares -------------------------------------------------------------------

template <std::floating_point T>
Filter<T>::Filter(Algorithm algorithm, Taps taps, Options options)
    : algorithm_(algorithm), taps_(taps), options_(resolve_options(algorithm, taps.K(), options)) {
  if (taps.lo < 0)
    throw invalid_argument(
        "adaptive filter: taps m = " + std::to_string(taps.lo) + ".." + std::to_string(taps.hi) +
        " need future samples; a streaming filter takes lo >= 0 (causal, or delayed by lo)");
}

template <std::floating_point T>
void Filter<T>::process(std::span<const T> x, std::span<const T> y, std::span<T> yhat, std::span<T> r) {
  if (y.size() != x.size() || yhat.size() != x.size() || r.size() != x.size())
    throw invalid_argument("adaptive filter: x has " + std::to_string(x.size()) + " samples but y has " +
                           std::to_string(y.size()) + ", yhat " + std::to_string(yhat.size()) + " and r " +
                           std::to_string(r.size()) + " (all must match)");
  // Checked before anything changes: a bad sample leaves the filter as it was.
  require_finite(x, "x");
  require_finite(y, "y");
  const std::size_t n = x.size();
  const std::size_t done = run(x.data(), y.data(), yhat.data(), r.data(), n);
  const std::uint64_t first = samples_;
  samples_ += done;
  watch_divergence(y.data(), r.data(), done);
  if (done < n)
    throw diverged(std::string(to_string(algorithm_)) + " diverged at sample " +
                       std::to_string(first + done) +
                       " (the residual is no longer finite, or the step would soon overflow the taps; the "
                       "taps are kept as "
                       "they were before it)",
                   first + done);
}

template <std::floating_point T>
void Filter<T>::watch_divergence(const T* y, const T* r, std::size_t n) {
  const std::size_t W = options_.divergence_window;
  if (W == 0) return;
  for (std::size_t i = 0; i < n; ++i) {
    window_rr_ += static_cast<double>(r[i]) * r[i];
    window_yy_ += static_cast<double>(y[i]) * y[i];
    if (++window_n_ < W) continue;
    const double rr = window_rr_, yy = window_yy_;
    window_rr_ = window_yy_ = 0;
    window_n_ = 0;
    if (rr > options_.divergence_ratio * yy && yy > 0) {
      const std::uint64_t at = samples_ - n + i;
      throw diverged(std::string(to_string(algorithm_)) + " diverged: over samples " +
                         std::to_string(at + 1 - W) + ".." + std::to_string(at) +
                         " the residual's power is " + show(10 * std::log10(rr / yy)) +
                         " dB above the target's (a smaller mu, or a larger delta, keeps it stable)",
                     at);
    }
  }
}

template <std::floating_point T>
void Filter<T>::set_h(std::span<const T> h) {
  if (h.size() != K())
    throw invalid_argument("adaptive filter: h has " + std::to_string(h.size()) +
                           " taps but the filter has K = " + std::to_string(K()));
  require_finite(h, "h");
  assign_h(h);
}

namespace {
// The state's first bytes: "cgadapt" and the format's version, a digit. Version 2: the LMS
// family's state holds its pending pair (the lag sum, the pairing flag, the pending step).
// Version 3: the LMS family's state adds the peak energy since its sums were last made afresh;
// RLS's P is saved whole and symmetric (before, only its upper triangle was kept), as a matrix
// and a factor, with the pending first sample of a pair (adaptive_simd.hpp, RlsChunk).
constexpr char kMagic[8] = {'c', 'g', 'a', 'd', 'a', 'p', 't', '3'};

// Field by field (a struct's padding bytes would make equal states save differently).
void put_options(std::string& out, const Options& o) {
  put(out, o.mu.value_or(std::nan("")));
  put(out, o.delta.value_or(std::nan("")));
  put(out, o.lambda);
  put(out, static_cast<std::uint64_t>(o.block));
  put(out, static_cast<std::uint64_t>(o.partitions));
  put(out, static_cast<std::uint8_t>(o.normalise));
  put(out, o.power_smoothing);
  put(out, static_cast<std::uint64_t>(o.divergence_window));
  put(out, o.divergence_ratio);
}

Options get_options(std::string_view& in) {
  Options o;
  const auto optional = [](double v) { return std::isnan(v) ? std::nullopt : std::optional<double>(v); };
  o.mu = optional(get<double>(in));
  o.delta = optional(get<double>(in));
  o.lambda = get<double>(in);
  o.block = get<std::uint64_t>(in);
  o.partitions = get<std::uint64_t>(in);
  o.normalise = get<std::uint8_t>(in) != 0;
  o.power_smoothing = get<double>(in);
  o.divergence_window = get<std::uint64_t>(in);
  o.divergence_ratio = get<double>(in);
  return o;
}
}  // namespace

template <std::floating_point T>
std::string Filter<T>::save() const {
  std::string out(kMagic, sizeof kMagic);
  put(out, static_cast<std::uint8_t>(sizeof(T)));
  put(out, static_cast<std::uint8_t>(algorithm_));
  put(out, taps_.lo);
  put(out, taps_.hi);
  put_options(out, options_);
  put(out, samples_);
  put(out, window_rr_);
  put(out, window_yy_);
  put(out, static_cast<std::uint64_t>(window_n_));
  write_state(out);
  return out;
}

template <std::floating_point T>
std::unique_ptr<Filter<T>> restore_filter(std::string_view in) {
  constexpr std::size_t kTag = sizeof kMagic - 1;  // "cgadapt", then the version
  if (in.size() < sizeof kMagic || std::memcmp(in.data(), kMagic, kTag) != 0)
    throw invalid_argument("adaptive filter state: not a saved convgrad adaptive filter");
  if (in[kTag] != kMagic[kTag])
    throw invalid_argument(std::string("adaptive filter state: state format version ") + in[kTag] +
                           ", saved by another convgrad release; this one reads version " + kMagic[kTag]);
  in.remove_prefix(sizeof kMagic);
  if (get<std::uint8_t>(in) != sizeof(T))
    throw invalid_argument(std::string("adaptive filter state: saved with another sample type than ") +
                           (sizeof(T) == 4 ? "float32" : "float64"));
  const auto code = get<std::uint8_t>(in);
  if (code > static_cast<std::uint8_t>(Algorithm::fdaf))
    throw invalid_argument("adaptive filter state: unknown algorithm code " + std::to_string(code));
  const auto lo = get<std::int64_t>(in);
  const auto hi = get<std::int64_t>(in);
  const auto options = get_options(in);
  auto filter = make_filter<T>(static_cast<Algorithm>(code), Taps::range(lo, hi), options);
  filter->samples_ = get<std::uint64_t>(in);
  filter->window_rr_ = get<double>(in);
  filter->window_yy_ = get<double>(in);
  filter->window_n_ = get<std::uint64_t>(in);
  filter->read_state(in);
  if (!in.empty()) throw invalid_argument("adaptive filter state: unexpected bytes after the state");
  return filter;
}

template <std::floating_point T>
double misalignment(std::span<const T> h, std::span<const double> h_true) {
  if (h.size() != h_true.size())
    throw invalid_argument("misalignment: h has " + std::to_string(h.size()) + " taps but h_true has " +
                           std::to_string(h_true.size()));
  double dd = 0, tt = 0;
  for (std::size_t j = 0; j < h.size(); ++j) {
    const double d = static_cast<double>(h[j]) - h_true[j];
    dd += d * d;
    tt += h_true[j] * h_true[j];
  }
  if (!(tt > 0)) throw invalid_argument("misalignment: h_true is all zero");
  return std::sqrt(dd / tt);
}

// ---- the sample-by-sample filters ---------------------------------------------------------------

namespace {

// Reversal between the user's taps h[j] (tap m = lo + j) and the kernels' g[k] = h[K-1-k].
template <std::floating_point T>
std::vector<T> reversed(std::span<const T> v) {
  return std::vector<T>(v.rbegin(), v.rend());
}

template <std::floating_point T>
detail::aligned_vector<T> to_aligned(const std::vector<T>& v) {
  return detail::aligned_vector<T>(v.begin(), v.end());
}

// The input history (see the top of this file).
template <std::floating_point T>
class History {
 public:
  explicit History(std::size_t span)
      : span_(span), buf_(span + std::max<std::size_t>(span, 1024), T(0)), end_(span) {}

  std::size_t end() const { return end_; }  // where the next sample goes
  std::size_t room() const { return buf_.size() - end_; }
  const T* data() const { return buf_.data(); }
  // Copies c (<= room()) samples to the end without counting them yet.
  void stage(const T* x, std::size_t c) {
    std::copy(x, x + c, buf_.begin() + static_cast<std::ptrdiff_t>(end_));
  }
  void advance(std::size_t c) { end_ += c; }
  // Moves the last span samples to the front.
  void slide() {
    std::copy(buf_.end() - static_cast<std::ptrdiff_t>(span_), buf_.end(), buf_.begin());
    end_ = span_;
  }
  // Feeds x[0..n) through the buffer in chunks that fit: run_chunk(i, c) processes samples
  // i..i+c-1 (staged at end()) and returns how many it completed; on_slide() follows each
  // slide. Returns the samples completed (n unless a chunk stopped early).
  template <class OnSlide, class RunChunk>
  std::size_t run_chunks(const T* x, std::size_t n, OnSlide&& on_slide, RunChunk&& run_chunk) {
    std::size_t i = 0;
    while (i < n) {
      if (room() == 0) {
        slide();
        on_slide();
      }
      const std::size_t c = std::min(n - i, room());
      stage(x + i, c);
      const std::size_t done = run_chunk(i, c);
      advance(done);
      i += done;
      if (done < c) break;
    }
    return i;
  }

  void write(std::string& out) const {
    put_vector(out, buf_);
    put(out, static_cast<std::uint64_t>(end_));
  }
  void read(std::string_view& in) {
    buf_ = to_aligned(get_vector<T>(in, buf_.size()));
    const auto end = get<std::uint64_t>(in);
    if (end < span_ || end > buf_.size())
      throw invalid_argument("adaptive filter state: bad history position");
    end_ = end;
  }

 private:
  std::size_t span_;
  detail::aligned_vector<T> buf_;
  std::size_t end_;
};

kernels::Rule rule_of(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::lms:
      return kernels::Rule::lms;
    case Algorithm::sign_lms:
      return kernels::Rule::sign_lms;
    default:
      return kernels::Rule::nlms;
  }
}

// LMS, NLMS and sign-error LMS: h[m] -= s_n x[n-m] with the step s_n of adaptive_simd.cpp,
// samples taken in pairs (adaptive_simd.hpp): between the two samples of a pair the state is
// the taps before the first (g_) and the first's step (s_pending_). The history keeps one
// input more than the windows need, for the lag product leaving c_q (adaptive_simd.hpp).
template <std::floating_point T>
class LmsFamily final : public Filter<T> {
 public:
  LmsFamily(Algorithm algorithm, Taps taps, Options options)
      : Filter<T>(algorithm, taps, options),
        g_(taps.K(), T(0)),
        history_(static_cast<std::size_t>(taps.lo) + taps.K() + 2) {}

  // The taps after every sample so far: mid-pair, the first sample's update applied with the
  // multiply-add the pair's pass will use (kernels::apply_step), g[k] + s_q w_q[k].
  std::vector<T> h() const override {
    std::vector<T> g(g_.begin(), g_.end());
    if (pending_) kernels::apply_step(g.data(), g_.data(), window(history_.end() - 1), s_pending_, g.size());
    return reversed<T>(g);
  }
  std::unique_ptr<Filter<T>> clone() const override { return std::make_unique<LmsFamily>(*this); }

 protected:
  std::size_t run(const T* x, const T* y, T* yhat, T* r, std::size_t n) override {
    const std::size_t K = this->K(), lo = static_cast<std::size_t>(this->taps().lo);
    const auto on_slide = [&] {  // the recursions' rounding never outlives one buffer
      energy_ = kernels::window_energy(window(history_.end() - 1), this->K());
      lag_ = kernels::window_lag(window(history_.end() - 1), this->K());
      peak_ = energy_;
    };
    return history_.run_chunks(x, n, on_slide, [&](std::size_t i, std::size_t c) {
      kernels::LmsChunk<T> chunk{.g = g_.data(),
                                 .K = K,
                                 .lo = lo,
                                 .buf = history_.data(),
                                 .q0 = history_.end(),
                                 .n = c,
                                 .y = y + i,
                                 .yhat = yhat + i,
                                 .r = r + i,
                                 .rule = rule_of(this->algorithm()),
                                 .mu = *this->options().mu,
                                 .delta = this->options().delta.value_or(0),
                                 .energy = energy_,
                                 .lag = lag_,
                                 .peak = peak_,
                                 .pending = pending_,
                                 .s_pending = s_pending_};
      const std::size_t done = kernels::lms_chunk(chunk);
      energy_ = chunk.energy;
      lag_ = chunk.lag;
      peak_ = chunk.peak;
      pending_ = chunk.pending;
      s_pending_ = chunk.s_pending;
      return done;
    });
  }

  // The new taps are the taps after every sample so far: mid-pair, the first's update is
  // dropped (its step becomes 0), so the pair's second sample predicts with h as given.
  void assign_h(std::span<const T> h) override {
    g_.assign(h.rbegin(), h.rend());
    s_pending_ = T(0);
  }
  void write_state(std::string& out) const override {
    put_vector(out, g_);
    history_.write(out);
    put(out, energy_);
    put(out, lag_);
    put(out, peak_);
    put(out, static_cast<std::uint8_t>(pending_));
    put(out, s_pending_);
  }
  void read_state(std::string_view& in) override {
    g_ = to_aligned(get_vector<T>(in, g_.size()));
    history_.read(in);
    energy_ = get<double>(in);
    lag_ = get<double>(in);
    peak_ = get<double>(in);
    const auto pending = get<std::uint8_t>(in);
    if (pending > 1) throw invalid_argument("adaptive filter state: bad pair flag");
    pending_ = pending != 0;
    s_pending_ = get<T>(in);
  }

 private:
  // The window w_q of the sample at buffer position q (adaptive_simd.hpp).
  const T* window(std::size_t q) const {
    const std::size_t K = this->K(), lo = static_cast<std::size_t>(this->taps().lo);
    return history_.data() + (q - lo - (K - 1));
  }
  detail::aligned_vector<T> g_;  // reversed taps (mid-pair: before the pair's first sample)
  History<T> history_;
  double energy_ = 0, lag_ = 0, peak_ = 0;  // LmsChunk's energy, lag and peak
  bool pending_ = false;                    // the last sample opened a pair
  T s_pending_ = 0;                         // its step
};

// RLS (adaptive_simd.cpp has the update); P starts as I / delta.
template <std::floating_point T>
class Rls final : public Filter<T> {
 public:
  Rls(Taps taps, Options options)
      : Filter<T>(Algorithm::rls, taps, options),
        g_(taps.K(), T(0)),
        history_(static_cast<std::size_t>(taps.lo) + taps.K() + 1),
        stride_(kernels::rls_stride<T>(taps.K())) {
    const std::size_t K = taps.K();
    if (K > kMaxRlsTaps)
      throw resource_limit("rls: K = " + std::to_string(K) + " taps would need a " + std::to_string(K) +
                           " x " + std::to_string(K) + " matrix P; RLS takes at most " +
                           std::to_string(kMaxRlsTaps) + " taps (nlms or fdaf learn long filters)");
    P_.assign(K * stride_, T(0));
    for (auto* v : {&pi_, &pi_next_, &kv_, &u_, &u_b_, &w_, &row_sums_}) v->assign(stride_, T(0));
    const T p0 = static_cast<T>(1 / *this->options().delta);
    for (std::size_t i = 0; i < K; ++i) P_[i * stride_ + i] = p0;
  }

  std::vector<T> h() const override { return reversed<T>(g_); }
  std::unique_ptr<Filter<T>> clone() const override { return std::make_unique<Rls>(*this); }
  static constexpr std::size_t kMaxRlsTaps = 8192;

 protected:
  std::size_t run(const T* x, const T* y, T* yhat, T* r, std::size_t n) override {
    const std::size_t K = this->K(), lo = static_cast<std::size_t>(this->taps().lo);
    const double trace_cap = static_cast<double>(K) / *this->options().delta;
    return history_.run_chunks(
        x, n, [] {},
        [&](std::size_t i, std::size_t c) {
          kernels::RlsChunk<T> chunk{g_.data(),
                                     P_.data(),
                                     pi_.data(),
                                     pi_next_.data(),
                                     kv_.data(),
                                     u_.data(),
                                     u_b_.data(),
                                     w_.data(),
                                     row_sums_.data(),
                                     K,
                                     stride_,
                                     lo,
                                     history_.data(),
                                     history_.end(),
                                     c,
                                     y + i,
                                     yhat + i,
                                     r + i,
                                     this->options().lambda,
                                     trace_cap,
                                     factor_,
                                     pending_,
                                     root_};
          const std::size_t done = kernels::rls_chunk(chunk);
          factor_ = chunk.factor;
          pending_ = chunk.pending;
          root_ = chunk.root;
          return done;
        });
  }

  void assign_h(std::span<const T> h) override { g_.assign(h.rbegin(), h.rend()); }
  // P is saved as K x K, whole and symmetric: each element from the upper triangle, which
  // both forms of the update keep (the whole form keeps the lower too, equal to it bit for
  // bit). Its padding columns are zero and not saved.
  void write_state(std::string& out) const override {
    const std::size_t K = this->K();
    std::vector<T> P(K * K);
    for (std::size_t i = 0; i < K; ++i)
      for (std::size_t j = 0; j < K; ++j) P[i * K + j] = P_[std::min(i, j) * stride_ + std::max(i, j)];
    put_vector(out, g_);
    put_vector(out, P);
    put(out, factor_);
    put(out, static_cast<std::uint8_t>(pending_));
    put_vector(out, std::vector<T>(pi_.begin(), pi_.begin() + static_cast<std::ptrdiff_t>(K)));
    put(out, root_);
    history_.write(out);
  }
  void read_state(std::string_view& in) override {
    const std::size_t K = this->K();
    g_ = to_aligned(get_vector<T>(in, g_.size()));
    const auto P = get_vector<T>(in, K * K);
    for (std::size_t i = 0; i < K; ++i)
      std::copy_n(P.begin() + static_cast<std::ptrdiff_t>(i * K), K,
                  P_.begin() + static_cast<std::ptrdiff_t>(i * stride_));
    factor_ = get<T>(in);
    if (!(factor_ >= 1 && factor_ <= static_cast<T>(kernels::kFoldFactor)))
      throw invalid_argument("adaptive filter state: bad scale of RLS's P");
    const auto pending = get<std::uint8_t>(in);
    if (pending > 1) throw invalid_argument("adaptive filter state: bad pair flag");
    pending_ = pending != 0;
    const auto v = get_vector<T>(in, K);
    std::copy(v.begin(), v.end(), pi_.begin());
    root_ = get<T>(in);
    if (!(root_ >= 0 && std::isfinite(root_)))
      throw invalid_argument("adaptive filter state: bad pending sample of RLS");
    history_.read(in);
  }

 private:
  detail::aligned_vector<T> g_;  // reversed taps
  History<T> history_;
  std::size_t stride_;  // P's row stride: K rounded up to a cache line
  // in the reversed tap order, zero padding; whole or its upper triangle (kernels::rls_whole)
  detail::aligned_vector<T> P_;
  T factor_ = 1;          // P is factor_ times P_ (the whole form; always 1 for the triangle)
  bool pending_ = false;  // the whole form: the last sample opened a pair, not yet in P_: its
  T root_ = 0;            // P_ w in pi_ and its root (adaptive_simd.hpp, RlsChunk)
  // scratch of stride_ elements, zero past K (adaptive_simd.hpp)
  detail::aligned_vector<T> pi_, pi_next_, kv_, u_, u_b_, w_, row_sums_;
};

}  // namespace

template <std::floating_point T>
std::unique_ptr<Filter<T>> make_filter(Algorithm algorithm, Taps taps, Options options) {
  switch (algorithm) {
    case Algorithm::rls:
      return std::make_unique<Rls<T>>(taps, options);
    case Algorithm::fdaf:
      return detail::make_fdaf<T>(taps, options);
    default:
      return std::make_unique<LmsFamily<T>>(algorithm, taps, options);
  }
}

template class Filter<float>;
template class Filter<double>;
template std::unique_ptr<Filter<float>> make_filter<float>(Algorithm, Taps, Options);
template std::unique_ptr<Filter<double>> make_filter<double>(Algorithm, Taps, Options);
template std::unique_ptr<Filter<float>> restore_filter<float>(std::string_view);
template std::unique_ptr<Filter<double>> restore_filter<double>(std::string_view);
template double misalignment<float>(std::span<const float>, std::span<const double>);
template double misalignment<double>(std::span<const double>, std::span<const double>);

}  // namespace convgrad::adaptive
