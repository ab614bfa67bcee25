// `convgrad fit`: learn a filter from one or more (x, y) recording pairs.
//
//   minimise F(h) = sum_p 1/2 ||h * x_p - y_p||^2 + ridge/2 ||h||^2
//
// with the exact normal equations or an iterative solver (convgrad/fit.hpp), then write the
// taps (with their range), a JSON summary, the loss history and an HTML report, all or none.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/report.hpp"
#include "taps_file.hpp"

namespace convgrad::cli {
namespace {

struct FitCli {
  std::vector<std::string> x_paths, y_paths, validate;
  std::optional<std::int64_t> taps_m, lo, hi, causal, channel, batch, max_iter;
  std::string solver = "gd", dtype = "float64", method = "auto";
  std::string out, summary, history, report, true_h, h0;
  std::optional<double> ridge, tol, loss_tol, time_limit, lr, beta1, beta2, adam_eps;
  std::int64_t seed = 1;
  bool quiet = false, tune = false;
};

std::string lower_extension(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

bool is_sound_file(const std::string& path) {
  const std::string e = lower_extension(path);
  return e == ".wav" || e == ".wave" || e == ".flac" || e == ".aiff" || e == ".aif";
}

// ---- options -------------------------------------------------------------------------------

Taps taps_from(const FitCli& o) { return taps_from_range_options(o.taps_m, o.lo, o.hi, o.causal); }

void require_number(const char* name, const std::optional<double>& v, double lo, bool lo_open, double hi,
                    bool hi_open, const char* why) {
  if (!v) return;
  const double x = *v;
  const bool ok = std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
  if (!ok) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", x);
    throw usage_error(std::string(name) + ": " + buf + " " + why);
  }
}

FitOptions options_from(const FitCli& o, std::size_t pairs) {
  const double inf = std::numeric_limits<double>::infinity();
  FitOptions f;
  try {
    f.solver = parse_solver(o.solver);
  } catch (const convgrad::invalid_argument& e) {
    throw usage_error(std::string("--solver: ") + e.what());
  }
  f.method = parse_method_option(o.method);
  require_number("--ridge", o.ridge, 0, false, inf, true, "must be a finite number >= 0");
  require_number("--tol", o.tol, 0, false, inf, true,
                 "must be a finite number >= 0 (relative gradient norm)");
  require_number("--loss-tol", o.loss_tol, 0, false, inf, true, "must be a finite number >= 0");
  require_number("--time-limit", o.time_limit, 0, false, inf, true,
                 "must be a finite number of seconds >= 0");
  require_number("--lr", o.lr, 0, true, inf, true, "must be a finite number > 0");
  require_number("--beta1", o.beta1, 0, false, 1, true, "must be in [0, 1)");
  require_number("--beta2", o.beta2, 0, false, 1, true, "must be in [0, 1)");
  require_number("--adam-eps", o.adam_eps, 0, true, inf, true, "must be a finite number > 0");
  const bool iterative = f.solver != Solver::exact;
  if (!iterative) {
    for (const auto& [given, name] : {std::pair{o.max_iter.has_value(), "--max-iter"},
                                      {o.tol.has_value(), "--tol"},
                                      {o.loss_tol.has_value(), "--loss-tol"},
                                      {o.time_limit.has_value(), "--time-limit"},
                                      {o.batch.has_value(), "--batch"},
                                      {!o.h0.empty(), "--h0"},
                                      {!o.history.empty(), "--history"}})
      if (given)
        throw usage_error(std::string(name) + " applies only to the iterative solvers (gd, nesterov, adam)");
  }
  if (f.solver != Solver::adam)
    for (const auto& [given, name] : {std::pair{o.lr.has_value(), "--lr"},
                                      {o.beta1.has_value(), "--beta1"},
                                      {o.beta2.has_value(), "--beta2"},
                                      {o.adam_eps.has_value(), "--adam-eps"}})
      if (given) throw usage_error(std::string(name) + " applies only to --solver adam");
  if (o.max_iter) require_option_range("--max-iter", *o.max_iter, 1, std::int64_t{1} << 40, "iterations");
  if (o.batch)
    require_option_range("--batch", *o.batch, 1, static_cast<std::int64_t>(pairs),
                         "pairs per step, at most the number of --x/--y pairs");
  f.ridge = o.ridge.value_or(0);
  f.grad_tol = o.tol;
  f.loss_tol = o.loss_tol.value_or(0);
  f.time_limit = o.time_limit.value_or(0);
  if (o.max_iter) f.max_iter = static_cast<std::size_t>(*o.max_iter);
  if (o.batch) f.batch = static_cast<std::size_t>(*o.batch);
  if (o.lr) f.lr = *o.lr;
  if (o.beta1) f.beta1 = *o.beta1;
  if (o.beta2) f.beta2 = *o.beta2;
  if (o.adam_eps) f.eps = *o.adam_eps;
  f.seed = static_cast<std::uint64_t>(o.seed);
  return f;
}

// Every output's directory must exist before hours of fitting, not after.
void require_writable_targets(const std::vector<std::pair<std::string, std::string>>& outputs) {
  require_distinct_outputs(outputs);
  for (const auto& [option, path] : outputs) {
    if (path.empty()) continue;
    const std::filesystem::path p(path);
    const auto dir = p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw io_error(option + " " + path + ": the directory " + dir.string() + " does not exist");
    if (std::filesystem::is_directory(p, ec)) throw io_error(option + " " + path + ": is a directory");
  }
}

// ---- data ----------------------------------------------------------------------------------

struct Recording {
  std::string x_path, y_path;
  std::vector<double> x, y;
};

struct DataSet {
  std::vector<Recording> pairs;
  std::optional<Recording> validation;
  std::optional<double> sample_rate;
  std::string rate_source;
};

// Reads one (x, y) pair; WAV files need --channel when multi-channel, and every sample rate
// in the data set must agree.
Recording read_pair(const std::string& xp, const std::string& yp, std::optional<int> channel, DataSet& set) {
  Recording r{xp, yp, {}, {}};
  auto read = [&](const std::string& path, const char* role) {
    io::Signal s = read_input(path, role, is_sound_file(path) ? channel : std::nullopt);
    if (s.sample_rate) {
      if (set.sample_rate && *set.sample_rate != *s.sample_rate)
        throw io_error(path + " is sampled at " + std::to_string(static_cast<long long>(*s.sample_rate)) +
                       " Hz but " + set.rate_source + " at " +
                       std::to_string(static_cast<long long>(*set.sample_rate)) +
                       " Hz; the sample rates must match (resample first)");
      set.sample_rate = s.sample_rate;
      set.rate_source = path;
    }
    return std::move(s.samples);
  };
  r.x = read(xp, "x");
  r.y = read(yp, "y");
  if (r.x.size() != r.y.size())
    throw io_error("y (" + yp + ") has " + std::to_string(r.y.size()) + " samples but x (" + xp + ") has " +
                   std::to_string(r.x.size()) + "; each pair must have the same length");
  return r;
}

// ---- progress on a terminal -------------------------------------------------------------------

// "iteration 1234  loss ...  |grad| ...  850 it/s  ~3 s left", redrawn at most ten times a
// second. Time left: the gradient norm of these solvers falls roughly geometrically, so the
// iterations still needed are log(|g| / target) over the recent fall of log|g| per iteration,
// capped by --max-iter and --time-limit.
class ProgressLine {
 public:
  ProgressLine(bool enabled, const FitOptions& o)
      : on_(enabled), max_iter_(o.max_iter), time_limit_(o.time_limit) {}
  bool operator()(const Progress& p) {
    if (!on_) return true;
    if (p.seconds - last_ < 0.1 && p.iteration != 0) return true;
    last_ = p.seconds;
    const double rate = p.seconds > 0 ? static_cast<double>(p.iteration) / p.seconds : 0;
    double iters_left = static_cast<double>(max_iter_ - std::min(max_iter_, p.iteration));
    const double log_g = std::log(std::max(p.grad_norm, 1e-300));
    if (std::isfinite(window_log_g_) && p.iteration > window_it_ && p.grad_target > 0) {
      const double fall = (window_log_g_ - log_g) / static_cast<double>(p.iteration - window_it_);
      if (fall > 0)
        iters_left = std::min(iters_left, std::max(0.0, (log_g - std::log(p.grad_target)) / fall));
    }
    if (!std::isfinite(window_log_g_) || p.seconds - window_s_ > 2)
      window_it_ = p.iteration, window_log_g_ = log_g, window_s_ = p.seconds;
    double left = rate > 0 ? iters_left / rate : 0;
    if (time_limit_ > 0) left = std::min(left, time_limit_ - p.seconds);
    std::fprintf(stderr, "\r  iteration %zu  loss %.6e  |grad| %.3e  %.0f it/s  ~%.0f s left   ", p.iteration,
                 p.loss, p.grad_norm, rate, std::max(0.0, left));
    std::fflush(stderr);
    shown_ = true;
    return true;
  }
  void finish() {
    if (shown_) std::fprintf(stderr, "\r%100s\r", "");
  }

 private:
  bool on_, shown_ = false;
  std::size_t max_iter_, window_it_ = 0;
  double time_limit_, last_ = -1, window_log_g_ = std::numeric_limits<double>::quiet_NaN(), window_s_ = 0;
};

// ---- the run -------------------------------------------------------------------------------

double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]), n += b[i] * b[i];
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

std::string fmt(double v, int digits = 6) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

template <std::floating_point T>
int run_fit(const FitCli& o) {
  const Taps taps = taps_from(o);
  if (o.x_paths.empty()) throw usage_error("no data: give at least one pair --x X --y Y");
  if (o.x_paths.size() != o.y_paths.size())
    throw usage_error("--x is given " + std::to_string(o.x_paths.size()) + " times but --y " +
                      std::to_string(o.y_paths.size()) + " times; give them in pairs");
  FitOptions fo = options_from(o, o.x_paths.size());
  if (o.channel)
    require_option_range("--channel", *o.channel, 0, 1 << 16, "0-based channel of a multi-channel WAV");
  if (o.out.empty())
    throw usage_error("--out: a file for the learned taps is required (.npy, .csv or .json)");
  const std::vector<std::pair<std::string, std::string>> outputs = {
      {"--out", o.out}, {"--summary", o.summary}, {"--history", o.history}, {"--report", o.report}};
  std::vector<std::pair<std::string, std::string>> inputs = {{"--true-h", o.true_h}, {"--h0", o.h0}};
  for (const auto& p : o.x_paths) inputs.emplace_back("--x", p);
  for (const auto& p : o.y_paths) inputs.emplace_back("--y", p);
  for (const auto& p : o.validate) inputs.emplace_back("--validate", p);
  require_outputs_not_inputs(outputs, inputs);
  require_writable_targets(outputs);
  const std::optional<int> channel =
      o.channel ? std::optional<int>(static_cast<int>(*o.channel)) : std::nullopt;

  // Data.
  DataSet set;
  for (std::size_t p = 0; p < o.x_paths.size(); ++p)
    set.pairs.push_back(read_pair(o.x_paths[p], o.y_paths[p], channel, set));
  if (!o.validate.empty()) set.validation = read_pair(o.validate[0], o.validate[1], channel, set);
  std::optional<std::vector<double>> h_true, h0;
  auto read_kernel = [&](const std::string& path, const char* option) {
    const TapsFile t = read_taps(path, option);
    if (t.h.size() != taps.K())
      throw io_error(std::string(option) + " " + path + ": has " + std::to_string(t.h.size()) +
                     " taps but the fit has " + std::to_string(taps.K()) +
                     " (m = " + std::to_string(taps.lo) + ".." + std::to_string(taps.hi) + ")");
    if (t.lo && *t.lo != taps.lo)
      throw io_error(std::string(option) + " " + path + ": records taps from m = " + std::to_string(*t.lo) +
                     " but the fit's start at m = " + std::to_string(taps.lo));
    return t.h;
  };
  if (!o.true_h.empty()) h_true = read_kernel(o.true_h, "--true-h");
  if (!o.h0.empty()) h0 = read_kernel(o.h0, "--h0");

  std::vector<std::vector<T>> xs, ys;
  std::vector<Pair<T>> data;
  for (const auto& r : set.pairs) {
    xs.push_back(to_dtype<T>(r.x, "x (" + r.x_path + ")"));
    ys.push_back(to_dtype<T>(r.y, "y (" + r.y_path + ")"));
  }
  for (std::size_t p = 0; p < xs.size(); ++p) data.push_back({xs[p], ys[p]});
  std::vector<T> start;
  if (h0) start = to_dtype<T>(*h0, "--h0 (" + o.h0 + ")");

  // Fit, with a progress line on a terminal.
  const bool tty = !o.quiet && isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
  ProgressLine line(tty && fo.solver != Solver::exact, fo);
  fo.progress = [&line](const Progress& p) { return line(p); };
  FitResult<T> res;
  try {
    res = fit<T>(data, taps, fo, start);
  } catch (...) {
    line.finish();
    throw;
  }
  line.finish();
  const std::vector<double> h = widen<T>(res.h);
  require_finite_result(h, "the learned taps", parse_dtype(o.dtype));

  // Validation: the plain loss 1/2 ||h * x - y||^2 on held-out data (no ridge term).
  std::optional<double> val_loss, val_energy;
  if (set.validation) {
    const auto xv = to_dtype<T>(set.validation->x, "x (" + set.validation->x_path + ")");
    const auto yv = to_dtype<T>(set.validation->y, "y (" + set.validation->y_path + ")");
    const std::vector<Pair<T>> vd = {{xv, yv}};
    val_loss = objective<T>(vd, res.h, taps, 0.0, {}, nullptr, fo.method);
    double e = 0;
    for (const double v : set.validation->y) e += v * v;
    val_energy = 0.5 * e;
  }

  // Summary.
  std::size_t total_n = 0;
  for (const auto& r : set.pairs) total_n += r.x.size();
  nlohmann::json js;
  js["solver"] = std::string(to_string(fo.solver));
  js["dtype"] = std::string(to_string(parse_dtype(o.dtype)));
  js["taps"] = {{"lo", taps.lo}, {"hi", taps.hi}, {"K", taps.K()}};
  js["ridge"] = fo.ridge;
  js["iterations"] = res.iterations;
  js["stop_reason"] = res.stop_reason;
  js["seconds"] = res.seconds;
  js["loss"] = res.loss;
  js["grad_norm"] = res.grad_norm;
  js["condition_number"] = res.condition ? nlohmann::json(*res.condition) : nlohmann::json(nullptr);
  if (res.condition) js["condition_number_estimated"] = res.condition_estimated;
  if (fo.solver == Solver::gd || fo.solver == Solver::nesterov) {
    js["lambda_max"] = res.lambda_max;
    js["step"] = res.step;
    js["step_halvings"] = res.step_halvings;
  }
  if (fo.solver == Solver::adam)
    js["adam"] = {{"lr", fo.lr}, {"beta1", fo.beta1}, {"beta2", fo.beta2}, {"eps", fo.eps}};
  if (fo.batch) js["batch"] = fo.batch;
  js["sample_rate"] = set.sample_rate ? nlohmann::json(*set.sample_rate) : nlohmann::json(nullptr);
  js["pairs"] = nlohmann::json::array();
  for (std::size_t p = 0; p < set.pairs.size(); ++p)
    js["pairs"].push_back({{"x", set.pairs[p].x_path},
                           {"y", set.pairs[p].y_path},
                           {"N", set.pairs[p].x.size()},
                           {"loss", res.pair_loss[p]}});
  if (val_loss)
    js["validation"] = {{"x", set.validation->x_path},
                        {"y", set.validation->y_path},
                        {"N", set.validation->x.size()},
                        {"loss", *val_loss},
                        {"relative_loss", *val_energy > 0 ? nlohmann::json(*val_loss / *val_energy)
                                                          : nlohmann::json(nullptr)}};
  if (h_true) js["true_h"] = {{"file", o.true_h}, {"relative_error", rel_error(h, *h_true)}};
  js["h"] = h;

  // Outputs: staged, then committed together.
  std::vector<io::StagedFile> staged;
  staged.push_back(stage_taps(o.out, h, taps));
  if (!o.summary.empty()) staged.push_back(io::stage_file(o.summary, js.dump(1) + "\n"));
  if (!o.history.empty()) {
    std::string csv = "iteration,loss,grad_norm,seconds\n";
    char buf[128];
    for (const auto& p : res.history) {
      std::snprintf(buf, sizeof buf, "%zu,%.17g,%.17g,%.6f\n", p.iteration, p.loss, p.grad_norm, p.seconds);
      csv += buf;
    }
    staged.push_back(io::stage_file(o.history, csv));
  }
  if (!o.report.empty()) {
    report::FitPage page;
    page.title =
        "convgrad fit: " + std::string(to_string(fo.solver)) + ", " + std::to_string(taps.K()) + " taps";
    page.facts = {{"solver", std::string(to_string(fo.solver))},
                  {"data", std::to_string(set.pairs.size()) + " pair(s), " + std::to_string(total_n) +
                               " samples" + (set.sample_rate ? " at " + fmt(*set.sample_rate) + " Hz" : "")},
                  {"taps", "m = " + std::to_string(taps.lo) + ".." + std::to_string(taps.hi) +
                               " (K = " + std::to_string(taps.K()) + ")"},
                  {"ridge", fmt(fo.ridge)},
                  {"iterations", std::to_string(res.iterations) + " (" + res.stop_reason + ")"},
                  {"time", fmt(res.seconds, 4) + " s"},
                  {"final loss F(h)", fmt(res.loss, 10)},
                  {"gradient norm", fmt(res.grad_norm, 4)}};
    if (res.condition) page.facts.push_back({"condition number", fmt(*res.condition, 4)});
    if (val_loss) page.facts.push_back({"validation loss", fmt(*val_loss, 10)});
    if (h_true) page.facts.push_back({"||h - h_true|| / ||h_true||", fmt(rel_error(h, *h_true), 4)});
    page.taps = taps;
    page.h = h;
    page.h_true = h_true;
    for (const auto& p : res.history)
      page.loss_history.emplace_back(static_cast<double>(p.iteration), p.loss);
    const auto yhat = conv<double>(h, taps, set.pairs[0].x);
    page.residual.resize(yhat.size());
    for (std::size_t n = 0; n < yhat.size(); ++n) page.residual[n] = yhat[n] - set.pairs[0].y[n];
    page.sample_rate = set.sample_rate;
    staged.push_back(io::stage_file(o.report, report::fit_page(page)));
  }
  commit_all(staged);

  if (!o.quiet) {
    std::printf("fit: %s, %zu taps (m = %lld..%lld), %zu pair(s), %zu samples\n",
                std::string(to_string(fo.solver)).c_str(), taps.K(), static_cast<long long>(taps.lo),
                static_cast<long long>(taps.hi), set.pairs.size(), total_n);
    std::printf("  %zu iteration(s) (%s) in %.3f s; loss %.10g, gradient norm %.3g", res.iterations,
                res.stop_reason.c_str(), res.seconds, res.loss, res.grad_norm);
    if (res.condition) std::printf(", condition number %.3g", *res.condition);
    std::printf("\n");
    if (val_loss)
      std::printf("  validation loss %.10g (relative %.3g)\n", *val_loss,
                  *val_energy > 0 ? *val_loss / *val_energy : 0.0);
    if (h_true) std::printf("  ||h - h_true|| / ||h_true|| = %.3e\n", rel_error(h, *h_true));
    if (lower_extension(o.out) == ".npy" && taps.lo != -(static_cast<std::int64_t>(taps.K()) - 1) / 2)
      std::printf("  note: %s holds only the values; apply it with --lo %lld\n", o.out.c_str(),
                  static_cast<long long>(taps.lo));
    std::printf("  wrote %s", o.out.c_str());
    for (const auto* p : {&o.summary, &o.history, &o.report})
      if (!p->empty()) std::printf(", %s", p->c_str());
    std::printf("\n");
  }
  return 0;
}

}  // namespace

Run add_fit(CLI::App& app) {
  auto o = std::make_shared<FitCli>();
  CLI::App* c = app.add_subcommand(
      "fit", "learn a filter h from (x, y) recording pairs: exact least squares or gradient descent");
  c->add_option("--x", o->x_paths, "input signal (text/CSV, .npy or WAV); repeat with --y for several pairs");
  c->add_option("--y", o->y_paths, "target signal, same length as its --x");
  c->add_option("--taps", o->taps_m, "centred taps m = -M..M (K = 2M+1)");
  c->add_option("--lo", o->lo, "first tap m (with --hi)");
  c->add_option("--hi", o->hi, "last tap m (with --lo)");
  c->add_option("--causal", o->causal, "causal impulse response, taps m = 0..K-1");
  c->add_option("--solver", o->solver, "exact | gd | nesterov | adam (default gd)");
  c->add_option("--ridge", o->ridge,
                "ridge penalty lambda >= 0: minimise sum L + lambda/2 ||h||^2 (default 0)");
  c->add_option("--out", o->out,
                "learned taps: .npy, .csv or .json (the tap range recorded in .csv and .json)");
  c->add_option("--summary", o->summary, "JSON summary: solver, iterations, time, losses, condition number");
  c->add_option("--history", o->history, "loss history as CSV (iterative solvers)");
  c->add_option("--report", o->report, "self-contained HTML report with plots");
  c->add_option("--validate", o->validate, "held-out pair X Y: report its loss")->expected(2);
  c->add_option("--true-h", o->true_h, "the true taps, for comparison in the summary and report");
  c->add_option("--h0", o->h0, "warm start: initial taps (iterative solvers)");
  c->add_option("--channel", o->channel, "0-based channel of multi-channel WAV files");
  c->add_option("--dtype", o->dtype, "float32 | float64 (default float64)");
  c->add_option("--method", o->method,
                "how conv and gradients are computed: auto | direct | fft | reference | jacobian");
  c->add_flag("--tune", o->tune,
              "with --method auto: time direct and fft once per signal length, use the faster");
  c->add_option("--max-iter", o->max_iter, "stop after this many iterations (default 100000)");
  c->add_option("--tol", o->tol, "stop when |dF/dh| <= tol * |X^T y| (default 1e-10 float64, 1e-5 float32)");
  c->add_option("--loss-tol", o->loss_tol, "stop when the relative loss change is below this (default off)");
  c->add_option("--time-limit", o->time_limit, "stop after this many seconds (default none)");
  c->add_option("--lr", o->lr, "adam: learning rate (default 0.01)");
  c->add_option("--beta1", o->beta1, "adam: first-moment decay (default 0.9)");
  c->add_option("--beta2", o->beta2, "adam: second-moment decay (default 0.999)");
  c->add_option("--adam-eps", o->adam_eps, "adam: epsilon (default 1e-8)");
  c->add_option("--batch", o->batch, "mini-batches: pairs per step (default all)");
  c->add_option("--seed", o->seed, "seed of the mini-batch order (default 1)");
  c->add_flag("--quiet", o->quiet, "print nothing on success");
  return [o] {
    tune_option(o->tune, parse_method_option(o->method));
    const int code = with_dtype(parse_dtype(o->dtype), [&]<class T>(T) { return run_fit<T>(*o); });
    warn_about_tune_cache();
    return code;
  };
}

}  // namespace convgrad::cli
