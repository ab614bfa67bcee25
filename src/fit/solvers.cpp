// The solvers behind fit(): exact (normal equations), gradient descent with step
// 1/lambda_max, Nesterov's accelerated gradient with adaptive restart, and Adam; optional
// mini-batches over pairs. All minimise F(h) = sum_p 1/2 ||X_p h - y_p||^2 + ridge/2 ||h||^2.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <tuple>

#include "convgrad/errors.hpp"
#include "convgrad/interrupt.hpp"
#include "fit_internal.hpp"

namespace convgrad {
namespace {

using Clock = std::chrono::steady_clock;
using detail::fit::norm2;

std::string num(double v) { return format_number(v); }

}  // namespace

// Each message starts with the FitOptions field it is about ("lr: ..."), the name callers
// (the command line, Python) translate into their own spelling.
void validate(const FitOptions& o, std::size_t pairs) {
  auto bad = [](const std::string& what) { throw invalid_argument(what); };
  detail::fit::require_ridge(o.ridge);
  if (o.max_iter == 0) bad("max_iter: must be at least 1");
  if (o.chunk_rows == 0) bad("chunk_rows: must be at least 1");
  if (o.grad_tol && !(*o.grad_tol >= 0 && std::isfinite(*o.grad_tol)))
    bad("grad_tol: " + num(*o.grad_tol) + " must be a finite number >= 0");
  if (!(o.loss_tol >= 0) || !std::isfinite(o.loss_tol))
    bad("loss_tol: " + num(o.loss_tol) + " must be a finite number >= 0");
  if (!(o.time_limit >= 0) || !std::isfinite(o.time_limit))
    bad("time_limit: " + num(o.time_limit) + " must be a finite number of seconds >= 0");
  if (o.solver == Solver::adam) {
    if (!(o.lr > 0) || !std::isfinite(o.lr)) bad("lr: " + num(o.lr) + " must be a finite number > 0 (adam)");
    if (!(o.beta1 >= 0 && o.beta1 < 1)) bad("beta1: " + num(o.beta1) + " must be in [0, 1) (adam)");
    if (!(o.beta2 >= 0 && o.beta2 < 1)) bad("beta2: " + num(o.beta2) + " must be in [0, 1) (adam)");
    if (!(o.eps > 0) || !std::isfinite(o.eps))
      bad("eps: " + num(o.eps) + " must be a finite number > 0 (adam)");
  }
  if (o.batch && *o.batch == 0)
    bad("batch: 0 pairs per step; give 1.." + std::to_string(pairs) +
        ", or leave it unset to take all pairs");
  if (o.batch && *o.batch > pairs)
    bad("batch: " + std::to_string(*o.batch) + " pairs per step, but the data set has only " +
        std::to_string(pairs));
}

namespace {

// Sums over the chunks of a source: each process (with a Reducer; else just this one) computes
// the canonical-node partials of its chunks, they are gathered, and the one tree of reduce.hpp
// finishes them. Every pass reads the data once.
template <std::floating_point T>
struct Sums final : detail::fit::Objective<T> {
  Source<T>& source;
  ChunkPlan plan;
  Taps taps;
  Method method;
  Reducer* reducer;
  std::size_t a = 0, b = 0;  // this process's chunks

  Sums(Source<T>& src, const ChunkPlan& pl, Taps t, Method m, Reducer* r)
      : source(src), plan(pl), taps(t), method(m), reducer(r), b(pl.chunks()) {
    if (reducer) {
      std::tie(a, b) = reducer->local_chunks(plan.chunks());
      if (a > b || b > plan.chunks())
        throw invalid_argument("reducer: local chunks [" + std::to_string(a) + ", " + std::to_string(b) +
                               ") are not inside [0, " + std::to_string(plan.chunks()) + ")");
    }
  }
  std::size_t P() const { return plan.pairs(); }
  std::size_t unknowns() const override { return taps.K(); }
  std::size_t parts() const override { return P(); }

  // Every process's partials: this one's from local(), the others' through the reducer. An
  // error met here reaches the other processes through all_gather, and is rethrown here.
  std::vector<reduce::Partial> gather(const std::function<std::vector<reduce::Partial>()>& local) {
    std::vector<reduce::Partial> mine;
    std::exception_ptr failure;
    std::string message;
    try {
      mine = local();
    } catch (const std::exception& e) {
      failure = std::current_exception();
      message = e.what();
    }
    if (reducer) {
      std::vector<reduce::Partial> all = reducer->all_gather(std::move(mine), message);
      if (failure) std::rethrow_exception(failure);
      return all;
    }
    if (failure) std::rethrow_exception(failure);
    return mine;
  }
  std::vector<double> root(const std::function<std::vector<reduce::Partial>()>& local) {
    return reduce::finish(plan.chunks(), gather(local));
  }

  // The sum over each pair's chunks, in chunk order, of per-chunk values (width w; this
  // process's chunks a..b-1 in `local`): per-pair totals, P x w.
  std::vector<double> per_pair(const std::vector<double>& local, std::size_t w) {
    std::vector<reduce::Partial> leaves;
    for (std::size_t c = a; c < b; ++c) {
      const auto at = local.begin() + static_cast<std::ptrdiff_t>((c - a) * w);
      leaves.push_back({{c, c + 1}, std::vector<double>(at, at + static_cast<std::ptrdiff_t>(w))});
    }
    if (reducer) leaves = reducer->all_gather(std::move(leaves), "");
    std::sort(leaves.begin(), leaves.end(),
              [](const reduce::Partial& l, const reduce::Partial& r) { return l.node.begin < r.node.begin; });
    std::vector<double> out(P() * w, 0.0);
    for (const reduce::Partial& leaf : leaves) {
      const std::size_t p = plan.chunk(leaf.node.begin).pair;
      for (std::size_t i = 0; i < w; ++i) out[p * w + i] += leaf.value[i];
    }
    return out;
  }

  // F_B(h) = scale * sum_{chunks of pairs in B} 1/2 ||r||^2 + ridge/2 ||h||^2 and its gradient
  //   g = scale * sum X^T r + ridge h (into `grad`, if non-empty), over all pairs when `batch`
  // is empty. `pair_loss` (unscaled, size P) when non-null.
  double pass(std::span<const T> h, std::span<const std::size_t> batch, double ridge, double scale,
              std::span<double> grad, std::vector<double>* pair_loss) override {
    const std::size_t K = taps.K();
    std::vector<bool> in_batch(batch.empty() ? 0 : P(), false);
    for (const std::size_t p : batch) in_batch[p] = true;
    std::function<bool(std::size_t)> skip;
    if (!batch.empty()) skip = [&](std::size_t c) { return !in_batch[plan.chunk(c).pair]; };
    std::vector<double> chunk_loss;
    const std::vector<double> total = root([&] {
      return objective_partials<T>(source, plan, taps, h, a, b, pair_loss ? &chunk_loss : nullptr, skip,
                                   method);
    });
    if (pair_loss) *pair_loss = per_pair(chunk_loss, 1);
    double hh = 0;
    for (std::size_t j = 0; j < K; ++j) {
      const double hj = h[j];
      hh += hj * hj;
      if (!grad.empty()) grad[j] = scale * total[1 + j] + ridge * hj;
    }
    return scale * total[0] + 0.5 * ridge * hh;
  }

  // ||x_p|| and ||y_p|| of every pair (for loss_rounding's bound), one pass.
  detail::fit::PairNorms norms() override {
    std::vector<double> local((b - a) * 2, 0.0);
    reduce::leaves_in_order(
        a, b, 2,
        [&](std::size_t c, std::span<double> v) {
          const Chunk ch = plan.chunk(c);
          std::vector<T> x(ch.rows()), y(ch.rows());
          source.read_x(ch.pair, ch.begin, x);
          source.read_y(ch.pair, ch.begin, y);
          for (const T u : x) v[0] += static_cast<double>(u) * u;
          for (const T u : y) v[1] += static_cast<double>(u) * u;
        },
        [&](std::size_t c, std::vector<double> v) {
          std::copy(v.begin(), v.end(), local.begin() + static_cast<std::ptrdiff_t>((c - a) * 2));
        },
        detail::fit::chunk_threads(plan, a, b));
    const std::vector<double> sq = per_pair(local, 2);
    detail::fit::PairNorms out;
    for (std::size_t p = 0; p < P(); ++p) {
      out.x.push_back(std::sqrt(sq[2 * p]));
      out.y.push_back(std::sqrt(sq[2 * p + 1]));
      out.n.push_back(plan.length(p));
    }
    return out;
  }

  // The largest eigenvalue of G by power iteration (objective.cpp's largest_eigenvalue, with
  // G v summed over the chunks by the tree).
  double largest_eigenvalue(double rel_tol, std::size_t max_iter) override {
    std::vector<T> vt(taps.K());
    auto rayleigh = [&](std::span<const double> v, std::span<double> w) {
      std::copy(v.begin(), v.end(), vt.begin());
      const std::vector<double> Gv =
          root([&] { return gram_product_partials<T>(source, plan, taps, vt, a, b, method); });
      std::copy(Gv.begin(), Gv.end(), w.begin());
      const double q = detail::fit::rayleigh_quotient<T>(vt, w);
      if (!std::isfinite(q)) throw invalid_argument(detail::fit::data_too_large<T>());
      return q;
    };
    return detail::fit::power_iteration(taps.K(), rayleigh, rel_tol, max_iter, detail::fit::kPowerSeed,
                                        "power iteration (largest eigenvalue)");
  }
};

// The state every iterative solver shares: the objective, the clock, the stopping rules and
// the history.
template <std::floating_point T>
struct Run {
  detail::fit::Objective<T>& f;
  const FitOptions& o;
  Clock::time_point start = Clock::now();
  std::size_t K;
  double grad_scale = 1;  // ||dF/dh at h = 0|| = ||b||: the problem's own gradient scale
  double grad_tol;
  // Mini-batch order: a seeded shuffle of the pairs, reshuffled every epoch.
  std::vector<std::size_t> order;
  std::size_t cursor = 0;
  std::mt19937_64 rng;
  std::vector<std::size_t> batch;
  FitResult<T>& result;

  Run(detail::fit::Objective<T>& objective, const FitOptions& opt, FitResult<T>& res)
      : f(objective), o(opt), K(objective.unknowns()), rng(opt.seed), result(res) {
    grad_tol = o.grad_tol.value_or(std::is_same_v<T, float> ? 1e-5 : 1e-10);
    order.resize(f.parts());
    std::iota(order.begin(), order.end(), std::size_t{0});
  }

  static std::string dtype_name() { return std::is_same_v<T, float> ? "float32" : "float64"; }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start).count(); }
  bool minibatch() const { return o.batch && *o.batch < f.parts(); }

  // F and dF/dh on the whole data set (full batch).
  double full(std::span<const T> h, std::span<double> g, std::vector<double>* pair_loss = nullptr) {
    return f.pass(h, {}, o.ridge, 1.0, g, pair_loss);
  }

  // F and dF/dh for one step: the whole data set, or the next mini-batch scaled by P / B.
  double step_eval(std::span<const T> h, std::span<double> g) {
    if (!minibatch()) return full(h, g);
    batch.clear();
    while (batch.size() < *o.batch) {
      if (cursor == 0) std::shuffle(order.begin(), order.end(), rng);
      batch.push_back(order[cursor]);
      cursor = (cursor + 1) % order.size();
    }
    const double scale = static_cast<double>(f.parts()) / static_cast<double>(*o.batch);
    return f.pass(h, batch, o.ridge, scale, g, nullptr);
  }

  // Sets grad_scale = ||b|| = ||dF/dh(0)||, reusing the gradient at h0 when h0 = 0.
  void set_grad_scale(std::span<const T> h0, double g0_norm, bool g0_is_full) {
    const bool zero = std::all_of(h0.begin(), h0.end(), [](T v) { return v == T{0}; });
    if (zero && g0_is_full) {
      grad_scale = g0_norm;
    } else {
      std::vector<T> z(K, T{0});
      std::vector<double> g(K);
      full(z, g);
      grad_scale = norm2(g);
    }
    if (grad_scale == 0) grad_scale = g0_norm;  // y = 0: any gradient is relative to the start
  }

  // Records iteration `it` and returns a non-empty reason if the run should stop.
  std::string record(std::size_t it, double F, double gnorm, double F_prev) {
    // An overflowed F or gradient would otherwise pass the gradient test (inf <= tol * inf)
    // and be reported as converged.
    if (!std::isfinite(F) || !std::isfinite(gnorm)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "the loss F = %g, gradient norm %g", F, gnorm);
      const std::string what = buf;
      if (it == 0) throw invalid_argument(detail::fit::data_too_large<T>());
      throw invalid_argument("fit: " + what + " at iteration " + std::to_string(it) +
                             ": the iteration diverged (for adam, lower the learning rate)");
    }
    poll_interrupt("fit");
    Progress p{it, F, gnorm, seconds(), grad_tol * grad_scale};
    if (o.keep_history) result.history.push_back(p);
    result.iterations = it;
    if (gnorm <= p.grad_target) return "gradient tolerance";
    if (it > 0 && o.loss_tol > 0 && std::abs(F_prev - F) <= o.loss_tol * std::abs(F)) return "loss change";
    if (o.progress && !o.progress(p)) return "stopped by caller";
    if (it >= o.max_iter) return "max iterations";
    if (o.time_limit > 0 && p.seconds >= o.time_limit) return "time limit";
    return {};
  }
};

template <std::floating_point T>
void axpy_into(std::span<T> out, std::span<const T> a, double s, std::span<const double> g) {
  for (std::size_t j = 0; j < out.size(); ++j) out[j] = static_cast<T>(static_cast<double>(a[j]) - s * g[j]);
}

// Gradient descent, h <- h - (1/L) dF/dh with L = lambda_max(G + ridge I). For a quadratic
// with Hessian A = G + ridge I,
//   F(h - s g) = F(h) - s ||g||^2 + s^2/2 g^T A g <= F(h) - s (1 - s L / 2) ||g||^2,
// a decrease for any 0 < s < 2/L; s = 1/L gives at least ||g||^2 / (2 L). Power iteration
// under-estimates L slightly, so each full-batch step is checked: if F rose by more than the
// rounding of its two evaluations, the step is halved and retried.
template <std::floating_point T>
void gd(Run<T>& run, std::vector<T>& h) {
  const std::size_t K = run.K;
  auto& res = run.result;
  std::vector<double> g(K), g_new(K), pl(run.f.parts()), pl_new(run.f.parts());
  std::vector<T> h_new(K);
  const bool checked = !run.minibatch();
  const detail::fit::PairNorms norms = checked ? run.f.norms() : detail::fit::PairNorms{};
  double F = checked ? run.full(h, g, &pl) : run.step_eval(h, g);
  run.set_grad_scale(h, norm2(g), checked);
  double tol_F = checked ? detail::fit::loss_rounding_bound<T>(norms, h, pl) : 0;
  std::string stop = run.record(0, F, norm2(g), F);
  for (std::size_t it = 1; stop.empty(); ++it) {
    axpy_into<T>(h_new, h, res.step, g);
    double F_new;
    if (checked) {
      F_new = run.full(h_new, g_new, &pl_new);
      const double tol_new = detail::fit::loss_rounding_bound<T>(norms, h_new, pl_new);
      if (F_new > F + tol_F + tol_new) {  // the step overshot: lambda_max was under-estimated
        res.step /= 2;
        if (++res.step_halvings > 60)
          throw error("gd: the loss keeps increasing; the data may be non-finite in effect");
        --it;
        continue;
      }
      tol_F = tol_new;
      pl.swap(pl_new);
    } else {
      F_new = run.step_eval(h_new, g_new);
    }
    const double F_prev = F;
    h.swap(h_new);
    g.swap(g_new);
    F = F_new;
    stop = run.record(it, F, norm2(g), F_prev);
  }
  res.stop_reason = stop;
}

// Nesterov's accelerated gradient (FISTA form) with the gradient restart of O'Donoghue and
// Candes (2015):
//   h_{k+1} = v_k - s dF(v_k)
//   t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2,   v_{k+1} = h_{k+1} + (t_k - 1)/t_{k+1} (h_{k+1} - h_k)
// and whenever dF(v_k) . (h_{k+1} - h_k) > 0 (momentum points uphill) the momentum is
// dropped: t = 1, v_{k+1} = h_{k+1}. The loss and gradient reported are those at v_k, the
// point where the gradient was taken; the result is the last such point.
template <std::floating_point T>
void nesterov(Run<T>& run, std::vector<T>& h_out) {
  const std::size_t K = run.K;
  auto& res = run.result;
  std::vector<double> h(h_out.begin(), h_out.end()), h_next(K), g(K);
  std::vector<T> v(h_out);
  double t = 1;
  double F = run.step_eval(v, g);
  run.set_grad_scale(v, norm2(g), !run.minibatch());
  std::string stop = run.record(0, F, norm2(g), F);
  for (std::size_t it = 1; stop.empty(); ++it) {
    double uphill = 0;
    for (std::size_t j = 0; j < K; ++j) {
      h_next[j] = static_cast<double>(v[j]) - res.step * g[j];
      uphill += g[j] * (h_next[j] - h[j]);
    }
    double beta = 0;
    if (uphill > 0) {
      t = 1;
    } else {
      const double t_next = (1 + std::sqrt(1 + 4 * t * t)) / 2;
      beta = (t - 1) / t_next;
      t = t_next;
    }
    for (std::size_t j = 0; j < K; ++j) v[j] = static_cast<T>(h_next[j] + beta * (h_next[j] - h[j]));
    h.swap(h_next);
    const double F_prev = F;
    F = run.step_eval(v, g);
    stop = run.record(it, F, norm2(g), F_prev);
  }
  h_out = v;
  res.stop_reason = stop;
}

// Adam (Kingma and Ba, 2015), with bias correction:
//   m <- b1 m + (1-b1) g,  u <- b2 u + (1-b2) g^2,  h <- h - lr (m / (1-b1^t)) / (sqrt(u / (1-b2^t)) + eps)
template <std::floating_point T>
void adam(Run<T>& run, std::vector<T>& h) {
  const std::size_t K = run.K;
  const FitOptions& o = run.o;
  std::vector<double> g(K), m(K, 0.0), u(K, 0.0);
  double F = run.step_eval(h, g);
  run.set_grad_scale(h, norm2(g), !run.minibatch());
  std::string stop = run.record(0, F, norm2(g), F);
  double b1t = 1, b2t = 1;
  for (std::size_t it = 1; stop.empty(); ++it) {
    b1t *= o.beta1;
    b2t *= o.beta2;
    for (std::size_t j = 0; j < K; ++j) {
      m[j] = o.beta1 * m[j] + (1 - o.beta1) * g[j];
      u[j] = o.beta2 * u[j] + (1 - o.beta2) * g[j] * g[j];
      const double mhat = m[j] / (1 - b1t), uhat = u[j] / (1 - b2t);
      h[j] = static_cast<T>(static_cast<double>(h[j]) - o.lr * mhat / (std::sqrt(uhat) + o.eps));
    }
    const double F_prev = F;
    F = run.step_eval(h, g);
    stop = run.record(it, F, norm2(g), F_prev);
  }
  run.result.stop_reason = stop;
}

// The taps some sample reaches. Tap m joins output n to input n - m, both in [0, N) only for
// |m| <= N - 1; with N the longest signal, no other tap enters any loss, so its gradient is
// ridge h[m] for ever: zero from a zero start, or with no ridge. Empty when no tap reaches.
std::optional<Taps> reached_taps(Taps taps, std::size_t longest) {
  const auto reach = static_cast<std::int64_t>(longest) - 1;
  const std::int64_t lo = std::max(taps.lo, -reach), hi = std::min(taps.hi, reach);
  if (lo > hi) return std::nullopt;
  return Taps::range(lo, hi);
}

template <std::floating_point T>
std::size_t longest_signal(std::span<const Pair<T>> data) {
  std::size_t n = 0;
  for (const auto& p : data) n = std::max(n, p.x.size());
  return n;
}

// Whether fitting only the reached taps gives the whole answer: the taps no sample reaches end
// where they start (the iterative solvers, when their gradient ridge h[m] is zero throughout)
// or at zero (the exact solver with a ridge: (0 + ridge) h[m] = 0). The exact solver without a
// ridge has no unique answer there and says so itself.
template <std::floating_point T>
bool reached_taps_suffice(Taps taps, Taps reached, const FitOptions& o, std::span<const T> h) {
  if (o.solver == Solver::exact) return o.ridge > 0;
  if (o.ridge == 0) return true;
  const auto at = static_cast<std::size_t>(reached.lo - taps.lo);
  for (std::size_t j = 0; j < h.size(); ++j)
    if ((j < at || j >= at + reached.K()) && h[j] != T{0}) return false;
  return true;
}

// X^T X came out zero: x is all zero, or so small that every product x[i] x[j] underflows to
// zero in T (subnormal data), which is a different cause with a different remedy.
template <std::floating_point T>
[[noreturn]] void throw_zero_gram(detail::fit::Objective<T>& f) {
  const detail::fit::PairNorms norms = f.norms();
  const bool all_zero = std::all_of(norms.x.begin(), norms.x.end(), [](double v) { return v == 0; });
  if (all_zero)
    throw singular_system(
        "gradient descent: X^T X is zero (every x is all zero) and ridge is 0; "
        "nothing to learn. Add a ridge penalty (ridge = 1, for example)");
  const char* dtype = std::is_same_v<T, float> ? "float32" : "float64";
  throw singular_system(
      std::string("gradient descent: X^T X is zero in ") + dtype +
      ", but x is not all zero: x is so small that its products underflow to zero; scale x up" +
      (std::is_same_v<T, float> ? " or use float64" : ""));
}

}  // namespace

namespace detail::fit {
template <std::floating_point T>
void iterate(Objective<T>& f, const FitOptions& options, std::vector<T>& h, FitResult<T>& res) {
  Run<T> run(f, options, res);
  if (options.solver != Solver::adam) {
    res.lambda_max = f.largest_eigenvalue(1e-4, 300) + options.ridge;
    if (!(res.lambda_max > 0)) throw_zero_gram(f);
    res.step = 1.0 / res.lambda_max;
  }
  switch (options.solver) {
    case Solver::gd:
      gd<T>(run, h);
      break;
    case Solver::nesterov:
      nesterov<T>(run, h);
      break;
    default:
      adam<T>(run, h);
      break;
  }
}
template void iterate<float>(Objective<float>&, const FitOptions&, std::vector<float>&, FitResult<float>&);
template void iterate<double>(Objective<double>&, const FitOptions&, std::vector<double>&,
                              FitResult<double>&);

template <std::floating_point T>
std::string data_too_large() {
  const bool f = std::is_same_v<T, float>;
  return std::string("fit: the data are too large for ") + (f ? "float32" : "float64") +
         " (their products overflow its range); scale x and y down" + (f ? " or use float64" : "");
}
template std::string data_too_large<float>();
template std::string data_too_large<double>();
}  // namespace detail::fit

template <std::floating_point T>
std::string underdetermined_warning(std::span<const Pair<T>> data, Taps taps, const FitOptions& o) {
  std::size_t samples = 0;
  for (const auto& p : data) samples += p.x.size();
  const std::size_t K = taps.K();
  // The exact solver is the tool: with a ridge it solves, without one it refuses a singular
  // system itself and asks for a ridge.
  if (K <= samples || o.solver == Solver::exact) return {};
  const std::optional<Taps> reached = reached_taps(taps, longest_signal(data));
  const std::size_t unreached = K - (reached ? reached->K() : 0);
  std::string w = "fit: " + std::to_string(K) + " taps but only " + std::to_string(samples) +
                  " samples to determine them: the problem is underdetermined (many filters fit equally well";
  if (unreached > 0)
    w += "; " + std::to_string(unreached) + " taps reach no sample and keep their start value";
  w += "), and the iterative solvers approach one of them slowly. The right tool is the exact solver "
       "with a ridge penalty (solver = exact, ridge = 0.001, for example)";
  return w;
}

std::string_view to_string(Solver solver) {
  switch (solver) {
    case Solver::exact:
      return "exact";
    case Solver::gd:
      return "gd";
    case Solver::nesterov:
      return "nesterov";
    case Solver::adam:
      return "adam";
  }
  return "unknown";
}

Solver parse_solver(std::string_view name) {
  if (name == "exact") return Solver::exact;
  if (name == "gd") return Solver::gd;
  if (name == "nesterov") return Solver::nesterov;
  if (name == "adam") return Solver::adam;
  throw invalid_argument("solver: '" + std::string(name) + "' is not one of exact, gd, nesterov, adam");
}

template <std::floating_point T>
FitResult<T> fit(std::span<const Pair<T>> data, Taps taps, const FitOptions& options, std::span<const T> h0) {
  validate_pairs(data);
  MemorySource<T> source(data);
  return fit<T>(source, taps, options, h0);
}

template <std::floating_point T>
FitResult<T> fit(Source<T>& source, Taps taps, const FitOptions& options, std::span<const T> h0,
                 Reducer* reducer) {
  taps = Taps::range(taps.lo, taps.hi);
  const std::size_t P = source.pairs();
  if (P == 0) throw invalid_argument("data set: no (x, y) pairs; need at least one");
  validate(options, P);
  const ChunkPlan plan = chunk_plan(source, options.chunk_rows);
  const std::size_t K = taps.K();
  if (!h0.empty()) {
    if (h0.size() != K)
      throw invalid_argument("initial h has " + std::to_string(h0.size()) + " taps, expected " +
                             std::to_string(K) + " (one per tap m = " + std::to_string(taps.lo) + ".." +
                             std::to_string(taps.hi) + ")");
    require_finite<T>(h0, "initial h");
  }
  FitResult<T> res;
  res.solver = options.solver;
  const auto start = Clock::now();
  std::vector<T> h = h0.empty() ? std::vector<T>(K, T{0}) : std::vector<T>(h0.begin(), h0.end());

  // Far more taps than samples: fit the taps some sample reaches and keep the others where
  // they start (see reached_taps_suffice), so that memory and time per iteration follow what
  // the data determine, not K. The answer is the same on every tap.
  std::size_t longest = 0;
  for (std::size_t p = 0; p < P; ++p) longest = std::max(longest, plan.length(p));
  const std::optional<Taps> reached = reached_taps(taps, longest);
  if (reached && reached->K() < K && reached_taps_suffice<T>(taps, *reached, options, h)) {
    const auto at = static_cast<std::size_t>(reached->lo - taps.lo);
    const std::vector<T> h0_reached(h.begin() + static_cast<std::ptrdiff_t>(at),
                                    h.begin() + static_cast<std::ptrdiff_t>(at + reached->K()));
    res = fit<T>(source, *reached, options, h0_reached, reducer);
    if (options.solver == Solver::exact) std::fill(h.begin(), h.end(), T{0});
    std::copy(res.h.begin(), res.h.end(), h.begin() + static_cast<std::ptrdiff_t>(at));
    res.h = std::move(h);
    // The unreached taps add the eigenvalue ridge to G + ridge I (their rows of G are zero).
    if (res.condition) {
      const double lambda_min = std::min(res.lambda_max / *res.condition, options.ridge);
      res.lambda_max = std::max(res.lambda_max, options.ridge);
      res.condition = res.lambda_max / lambda_min;
    }
    res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return res;
  }

  Sums<T> sums(source, plan, taps, options.method, reducer);
  if (options.solver == Solver::exact) {
    // One pass: every process's canonical nodes of (G, b, yy), finished by the tree.
    std::vector<reduce::Partial> nodes =
        sums.gather([&] { return normal_equations<T>(source, plan, taps, sums.a, sums.b).nodes(); });
    const NormalEquations ne = NormalEquations::from_nodes(taps, std::move(nodes), P);
    const ExactSolution s = ne.solve(options.ridge);
    for (std::size_t j = 0; j < K; ++j) h[j] = static_cast<T>(s.h[j]);
    res.condition = s.condition;
    res.condition_estimated = s.condition_estimated;
    res.lambda_max = s.lambda_max;
    res.iterations = 1;
    res.stop_reason = "solved";
  } else {
    detail::fit::iterate<T>(sums, options, h, res);
  }
  // The reported loss, gradient norm and per-pair losses: one full pass at the result.
  std::vector<double> g(K);
  res.loss = sums.pass(h, {}, options.ridge, 1.0, g, &res.pair_loss);
  res.grad_norm = norm2(g);
  res.h = std::move(h);
  res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return res;
}

template std::string underdetermined_warning<float>(std::span<const Pair<float>>, Taps, const FitOptions&);
template std::string underdetermined_warning<double>(std::span<const Pair<double>>, Taps, const FitOptions&);
template FitResult<float> fit<float>(std::span<const Pair<float>>, Taps, const FitOptions&,
                                     std::span<const float>);
template FitResult<double> fit<double>(std::span<const Pair<double>>, Taps, const FitOptions&,
                                       std::span<const double>);
template FitResult<float> fit<float>(Source<float>&, Taps, const FitOptions&, std::span<const float>,
                                     Reducer*);
template FitResult<double> fit<double>(Source<double>&, Taps, const FitOptions&, std::span<const double>,
                                       Reducer*);

}  // namespace convgrad
