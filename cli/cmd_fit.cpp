// `convgrad fit`: learn a filter from one or more (x, y) recording pairs.
//
//   minimise F(h) = sum_p 1/2 ||h * x_p - y_p||^2 + ridge/2 ||h||^2
//
// with the exact normal equations or an iterative solver (convgrad/fit.hpp), then write the
// taps (with their range), a JSON summary, the loss history and an HTML report, all or none.
//
// The data stream: every file is opened for reading windows (convgrad/file_source.hpp), and
// the fit over that source (convgrad/stream.hpp) reads them chunk by chunk, the exact solver in
// one pass, the iterative solvers one pass per evaluation; memory is set by --chunk-rows and
// the K x K Gram matrix, never by the length of the recordings. The chunks are those of the
// in-memory fit, so the taps are the same to the last bit.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "convgrad/sound_stream.hpp"  // SoundReader: a sound file's channel count

#include "commands.hpp"
#include "common.hpp"
#include "distributed.hpp"
#include "library_errors.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/file_source.hpp"
#include "convgrad/fit.hpp"
#include "convgrad/report.hpp"
#include "convgrad/stream.hpp"
#include "convgrad/taps_file.hpp"
#include "streaming.hpp"

namespace convgrad::cli {
namespace {

struct FitCli {
  std::vector<std::string> x_paths, y_paths, validate;
  TapOptions taps;
  std::optional<std::int64_t> channel, batch, max_iter, chunk_rows;
  std::string solver = "exact", dtype = "float64", method = "auto";
  std::string out, summary, history, report, plot, true_h, h0;
  std::optional<double> ridge, tol, loss_tol, time_limit, lr, beta1, beta2, adam_eps;
  std::int64_t seed = 1;
  bool quiet = false, tune = false, progress = false;
};

// ---- options -------------------------------------------------------------------------------

// --tol is relative to the gradient at the start: a finite number >= 0.
void require_tol(const std::optional<double>& tol) {
  if (tol && !(std::isfinite(*tol) && *tol >= 0))
    throw usage_error("--tol: " + format_number(*tol) +
                      " must be a finite number >= 0 (relative gradient norm)");
}

FitOptions options_from(const FitCli& o, std::size_t pairs) {
  FitOptions f;
  try {
    f.solver = parse_solver(o.solver);
  } catch (const convgrad::invalid_argument& e) {
    throw usage_error(std::string("--solver: ") + e.what());
  }
  f.method = parse_method_option(o.method);
  // The library checks every value (convgrad::validate, below; main.cpp gives its messages the
  // options' names). --tol only is checked here: the library reads a negative one as "default".
  require_tol(o.tol);
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
  f.chunk_rows = static_cast<std::size_t>(chunk_rows_option(o.chunk_rows));
  validate(f, pairs);  // before any file is read
  return f;
}

// ---- data ----------------------------------------------------------------------------------

// The files, opened (headers read and checked), not read: the fit reads them chunk by chunk.
struct DataSet {
  std::unique_ptr<io::FilePairs> pairs;
  std::unique_ptr<io::FilePairs> validation;  // --validate X Y
  std::optional<double> sample_rate;
  std::string rate_source;
  std::optional<std::vector<double>> h_true, h0;  // --true-h, --h0
  std::size_t total_n() const {
    std::size_t n = 0;
    for (std::size_t p = 0; p < pairs->pairs(); ++p) n += static_cast<std::size_t>(pairs->length(p));
    return n;
  }
};

// Opens (x, y) pairs; WAV files (and standard input) take --channel, the columns are
// --column's, every pair must have the same length, and every sample rate in the data set must
// agree.
std::unique_ptr<io::FilePairs> open_pairs(const std::vector<std::string>& xs,
                                          const std::vector<std::string>& ys, std::optional<int> channel,
                                          DataSet& set) {
  // Under mpirun standard input reaches rank 0 only: refused on every rank alike (options only).
  if (dist::world().distributed())
    for (const auto* paths : {&xs, &ys})
      for (const std::string& path : *paths)
        if (io::is_standard_input(path))
          throw usage_error("'-' (standard input) reaches only rank 0 under mpirun: give the ranks a file");
  std::vector<std::unique_ptr<io::SignalReader>> x, y;
  for (std::size_t p = 0; p < xs.size(); ++p) {
    x.push_back(open_input(xs[p], "x", channel_for(xs[p], channel)));
    y.push_back(open_input(ys[p], "y", channel_for(ys[p], channel)));
    require_same_length(xs[p], x.back()->length(), ys[p], y.back()->length());
    for (const io::SignalReader* r : {x.back().get(), y.back().get()}) {
      if (!r->sample_rate()) continue;
      if (set.sample_rate && *set.sample_rate != *r->sample_rate())
        throw io_error(r->path() + " is sampled at " + format_number(*r->sample_rate(), 10) + " Hz but " +
                       set.rate_source + " at " + format_number(*set.sample_rate, 10) +
                       " Hz; the sample rates must match (resample first)");
      set.sample_rate = r->sample_rate();
      set.rate_source = r->path();
    }
  }
  return std::make_unique<io::FilePairs>(std::move(x), std::move(y));
}

// A value of float32 data beyond its range is named with the option that avoids it.
constexpr const char* kFloat32Advice = " (use --dtype float64)";

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

// ---- the run, step by step -------------------------------------------------------------------

// ||a - b|| / ||b|| (or ||a - b|| when b = 0).
double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  const double nb = norm2(b);
  return nb > 0 ? norm2(d) / nb : norm2(d);
}

// What the options ask for, checked before any file is read.
struct Plan {
  Taps taps;
  FitOptions fo;
  std::optional<int> channel;
  Dtype dtype = Dtype::float64;
};

void require_output_paths(const FitCli& o);

// Step 1: every usage error, and every output's directory, before any work.
Plan check_usage(const FitCli& o) {
  Plan plan;
  plan.taps = require_taps(o.taps);
  if (o.x_paths.empty()) throw usage_error("no data: give at least one pair --x X --y Y");
  if (o.x_paths.size() != o.y_paths.size())
    throw usage_error("--x is given " + std::to_string(o.x_paths.size()) + " times but --y " +
                      std::to_string(o.y_paths.size()) + " times; give them in pairs");
  plan.fo = options_from(o, o.x_paths.size());
  plan.channel = channel_option(o.channel);
  plan.dtype = parse_dtype(o.dtype);
  if (o.out.empty())
    throw usage_error("--out: a file for the learned taps is required (.json, .csv or .npy)");
  try {
    io::require_taps_format(o.out, plan.taps);
  } catch (const convgrad::invalid_argument& e) {
    throw usage_error(std::string("--out ") + e.what());
  }
  require_output_paths(o);
  return plan;
}

// Every output names a new file in an existing directory, none names an input or another output.
void require_output_paths(const FitCli& o) {
  const std::vector<std::pair<std::string, std::string>> outputs = {{"--out", o.out},
                                                                    {"--summary", o.summary},
                                                                    {"--history", o.history},
                                                                    {"--report", o.report},
                                                                    {"--plot", o.plot}};
  std::vector<std::pair<std::string, std::string>> inputs = {{"--true-h", o.true_h}, {"--h0", o.h0}};
  for (const auto& p : o.x_paths) inputs.emplace_back("--x", p);
  for (const auto& p : o.y_paths) inputs.emplace_back("--y", p);
  for (const auto& p : o.validate) inputs.emplace_back("--validate", p);
  require_outputs_not_inputs(outputs, inputs);
  require_output_format("--summary", o.summary, OutputKind::json);
  require_output_format("--history", o.history, OutputKind::table);
  require_output_format("--report", o.report, OutputKind::html);
  require_output_format("--plot", o.plot, OutputKind::picture);
  require_distinct_outputs(outputs);
  require_output_directories(outputs);
}

// Taps given for comparison or as a start (--true-h, --h0): as many as the fit's, and from the
// fit's first tap when the file records one.
std::vector<double> read_fit_taps(const std::string& path, const char* option, Taps taps) {
  io::TapsFile t = io::read_taps(path);
  if (t.h.size() != taps.K())
    throw io_error(std::string(option) + " " + path + ": has " + std::to_string(t.h.size()) +
                   " taps but the fit has " + std::to_string(taps.K()) + " (m = " + std::to_string(taps.lo) +
                   ".." + std::to_string(taps.hi) + ")");
  if (t.lo && *t.lo != taps.lo)
    throw io_error(std::string(option) + " " + path + ": records taps from m = " + std::to_string(*t.lo) +
                   " but the fit's start at m = " + std::to_string(taps.lo));
  return std::move(t.h);
}

// Step 2: the recordings and the validation pair opened, the optional taps files read.
DataSet read_data(const FitCli& o, const Plan& plan) {
  DataSet set;
  set.pairs = open_pairs(o.x_paths, o.y_paths, plan.channel, set);
  if (!o.validate.empty()) set.validation = open_pairs({o.validate[0]}, {o.validate[1]}, plan.channel, set);
  if (!o.true_h.empty()) set.h_true = read_fit_taps(o.true_h, "--true-h", plan.taps);
  if (!o.h0.empty()) set.h0 = read_fit_taps(o.h0, "--h0", plan.taps);
  return set;
}

// An underdetermined problem (more taps than samples) is named before the work starts, with the
// solver made for it. Only then are the data fewer than K samples, and read whole to ask.
template <std::floating_point T>
void warn_if_underdetermined(Source<T>& source, const Plan& plan, std::size_t total_n) {
  if (total_n >= plan.taps.K()) return;
  std::vector<std::vector<T>> xs, ys;
  std::vector<Pair<T>> data;
  for (std::size_t p = 0; p < source.pairs(); ++p) {
    xs.emplace_back(source.length(p));
    ys.emplace_back(source.length(p));
    source.read_x(p, 0, xs.back());
    source.read_y(p, 0, ys.back());
    data.push_back({xs.back(), ys.back()});
  }
  if (const std::string w = underdetermined_warning<T>(data, plan.taps, plan.fo);
      !w.empty() && dist::world().is_root())
    std::fprintf(stderr, "convgrad: warning: %s\n", in_command_words(w).c_str());
}

// Step 3: the fit in T over the files, with a progress line: bytes read for the exact solver's
// one pass, iterations for the iterative solvers (on a terminal, or with --progress).
// Under mpirun, `ranks` shares the chunks among the ranks (src/dist/reducer.hpp) and rank 0
// alone shows progress.
template <std::floating_point T>
FitResult<T> solve(const FitCli& o, Plan& plan, const DataSet& set, Reducer* ranks) {
  io::FileSource<T> source(*set.pairs, kFloat32Advice);
  std::vector<T> start;
  if (set.h0) start = to_dtype<T>(*set.h0, "--h0 (" + o.h0 + ")");
  warn_if_underdetermined<T>(source, plan, set.total_n());

  const bool exact = plan.fo.solver == Solver::exact;
  const bool quiet = o.quiet || !dist::world().is_root();
  ByteProgress bytes(quiet || !exact, o.progress);
  std::mutex drawing;  // chunks are read by several threads; one draws, the others go on
  source.on_read = [&] {
    const std::unique_lock lock(drawing, std::try_to_lock);
    if (lock) bytes(set.pairs->bytes_read(), set.pairs->file_bytes());
  };
  const bool shown = !quiet && (o.progress || (isatty(STDOUT_FILENO) && isatty(STDERR_FILENO)));
  ProgressLine line(shown && !exact, plan.fo);
  plan.fo.progress = [&line](const Progress& p) { return line(p); };
  try {
    FitResult<T> res = fit<T>(static_cast<Source<T>&>(source), plan.taps, plan.fo, start, ranks);
    line.finish();
    bytes.finish();
    plan.fo.progress = nullptr;
    return res;
  } catch (...) {
    line.finish();
    throw;
  }
}

// The plain loss 1/2 ||h * x - y||^2 on the held-out pair (no ridge term), and 1/2 ||y||^2.
struct Validation {
  double loss = 0, energy = 0;
  double relative() const { return energy > 0 ? loss / energy : 0.0; }
};

// Both read chunk by chunk: the loss as the fit's objective is summed (the tree of reduce.hpp),
// the energy as a plain sum of squares.
template <std::floating_point T>
std::optional<Validation> validate(const DataSet& set, const FitResult<T>& res, const Plan& plan) {
  if (!set.validation) return std::nullopt;
  io::FileSource<T> source(*set.validation, kFloat32Advice);
  const ChunkPlan chunks = chunk_plan<T>(source, plan.fo.chunk_rows);
  const std::size_t C = chunks.chunks();
  const auto parts =
      objective_partials<T>(source, chunks, plan.taps, res.h, 0, C, nullptr, {}, plan.fo.method);
  Validation v;
  v.loss = reduce::finish(C, parts)[0];
  std::vector<double> y;
  for (std::uint64_t a = 0; a < set.validation->length(0); a += chunks.rows()) {
    y.resize(static_cast<std::size_t>(std::min<std::uint64_t>(chunks.rows(), set.validation->length(0) - a)));
    set.validation->read_y(0, static_cast<std::int64_t>(a), y);
    for (const double s : y) v.energy += 0.5 * s * s;
  }
  return v;
}

// What the fit produced, in double, for the summary, the report and the printout.
struct Outcome {
  std::vector<double> h;
  std::size_t iterations = 0;
  std::string stop_reason;
  double seconds = 0, loss = 0, grad_norm = 0, lambda_max = 0, step = 0;
  std::size_t step_halvings = 0;
  std::optional<double> condition;
  bool condition_estimated = false;
  std::vector<double> pair_loss;
  std::vector<Progress> history;
  std::optional<Validation> validation;
  nlohmann::json ranks;  // under mpirun: the ranks' chunks, traffic and reduction times
};

// The summary's facts of an iterative solver: gd and nesterov's step from lambda_max, adam's
// parameters (the single-input and the multi-input fit alike).
void add_solver_facts(nlohmann::json& js, const FitOptions& fo, double lambda_max, double step,
                      std::size_t step_halvings) {
  if (fo.solver == Solver::gd || fo.solver == Solver::nesterov) {
    js["lambda_max"] = lambda_max;
    js["step"] = step;
    js["step_halvings"] = step_halvings;
  }
  if (fo.solver == Solver::adam)
    js["adam"] = {{"lr", fo.lr}, {"beta1", fo.beta1}, {"beta2", fo.beta2}, {"eps", fo.eps}};
}

// Step 4: the summary (--summary): solver, options, losses, condition number, the taps.
nlohmann::json summary(const FitCli& o, const Plan& plan, const DataSet& set, const Outcome& res) {
  const FitOptions& fo = plan.fo;
  nlohmann::json js;
  js["solver"] = std::string(to_string(fo.solver));
  js["dtype"] = std::string(to_string(plan.dtype));
  js["taps"] = {{"lo", plan.taps.lo}, {"hi", plan.taps.hi}, {"K", plan.taps.K()}};
  js["ridge"] = fo.ridge;
  js["iterations"] = res.iterations;
  js["stop_reason"] = res.stop_reason;
  js["seconds"] = res.seconds;
  js["loss"] = res.loss;
  js["grad_norm"] = res.grad_norm;
  js["condition_number"] = res.condition ? nlohmann::json(*res.condition) : nlohmann::json(nullptr);
  if (res.condition) js["condition_number_estimated"] = res.condition_estimated;
  add_solver_facts(js, fo, res.lambda_max, res.step, res.step_halvings);
  if (fo.batch) js["batch"] = *fo.batch;
  js["sample_rate"] = set.sample_rate ? nlohmann::json(*set.sample_rate) : nlohmann::json(nullptr);
  js["pairs"] = nlohmann::json::array();
  for (std::size_t p = 0; p < set.pairs->pairs(); ++p)
    js["pairs"].push_back({{"x", set.pairs->x(p).path()},
                           {"y", set.pairs->y(p).path()},
                           {"N", set.pairs->length(p)},
                           {"loss", res.pair_loss[p]}});
  if (res.validation)
    js["validation"] = {
        {"x", set.validation->x(0).path()},
        {"y", set.validation->y(0).path()},
        {"N", set.validation->length(0)},
        {"loss", res.validation->loss},
        {"relative_loss",
         res.validation->energy > 0 ? nlohmann::json(res.validation->relative()) : nlohmann::json(nullptr)}};
  if (set.h_true) js["true_h"] = {{"file", o.true_h}, {"relative_error", rel_error(res.h, *set.h_true)}};
  if (!res.ranks.is_null()) js["distributed"] = res.ranks;
  js["h"] = res.h;
  return js;
}

// Step 5: the loss history (--history) as CSV.
std::string history_csv(const std::vector<Progress>& history) {
  std::string csv = "iteration,loss,grad_norm,seconds\n";
  char buf[128];
  for (const auto& p : history) {
    std::snprintf(buf, sizeof buf, "%zu,%.17g,%.17g,%.6f\n", p.iteration, p.loss, p.grad_norm, p.seconds);
    csv += buf;
  }
  return csv;
}

// The first pair's residual r = yhat - y for the report, chunk by chunk, kept in fixed memory
// (KeptForPlot).
std::vector<double> first_residual(const DataSet& set, std::span<const double> h, const Plan& plan) {
  KeptForPlot kept(set.pairs->length(0));
  std::vector<double> y, r;
  filter_chunks(set.pairs->x(0), h, plan.taps, plan.fo.method, plan.fo.chunk_rows,
                [&](std::uint64_t first, std::span<const double> yhat, std::span<const double>) {
                  y.resize(yhat.size());
                  r.resize(yhat.size());
                  set.pairs->read_y(0, static_cast<std::int64_t>(first), y);
                  for (std::size_t i = 0; i < yhat.size(); ++i) r[i] = yhat[i] - y[i];
                  kept.add(first, r);
                });
  return kept.values();
}

// Step 6: the HTML report (--report) and the pictures (--plot): facts, taps, loss history, the
// first pair's residual, the frequency response.
report::FitPage report_page(const Plan& plan, const DataSet& set, const Outcome& res) {
  const FitOptions& fo = plan.fo;
  const Taps taps = plan.taps;
  report::FitPage page;
  page.title =
      "convgrad fit: " + std::string(to_string(fo.solver)) + ", " + std::to_string(taps.K()) + " taps";
  page.facts = {
      {"solver", std::string(to_string(fo.solver))},
      {"data", std::to_string(set.pairs->pairs()) + " pair(s), " + std::to_string(set.total_n()) +
                   " samples" + (set.sample_rate ? " at " + format_number(*set.sample_rate) + " Hz" : "")},
      {"taps", "m = " + std::to_string(taps.lo) + ".." + std::to_string(taps.hi) +
                   " (K = " + std::to_string(taps.K()) + ")"},
      {"ridge", format_number(fo.ridge)},
      {"iterations", std::to_string(res.iterations) + " (" + res.stop_reason + ")"},
      {"time", format_number(res.seconds, 4) + " s"},
      {"final loss F(h)", format_number(res.loss, 10)},
      {"gradient norm", format_number(res.grad_norm, 4)}};
  if (res.condition) page.facts.push_back({"condition number", format_number(*res.condition, 4)});
  if (res.validation) page.facts.push_back({"validation loss", format_number(res.validation->loss, 10)});
  if (set.h_true)
    page.facts.push_back({"||h - h_true|| / ||h_true||", format_number(rel_error(res.h, *set.h_true), 4)});
  page.taps = taps;
  page.h = res.h;
  page.h_true = set.h_true;
  for (const auto& p : res.history) page.loss_history.emplace_back(static_cast<double>(p.iteration), p.loss);
  page.residual = first_residual(set, res.h, plan);
  page.residual_samples = set.pairs->length(0);
  page.sample_rate = set.sample_rate;
  return page;
}

// Step 7: every output staged, then committed together (all or none).
// The summary is staged last: its command_seconds, the command's own wall time on this process
// from `started` (before the first file is opened; after MPI's start-up under mpirun), then
// covers the reading, the fit, the exchanges and the writing of every other output.
void write_fit_outputs(const FitCli& o, const Plan& plan, const DataSet& set, const Outcome& res,
                       std::chrono::steady_clock::time_point started) {
  std::vector<io::StagedFile> staged;
  staged.push_back(io::stage_taps(o.out, res.h, plan.taps, set.sample_rate));
  if (!o.history.empty()) staged.push_back(io::stage_file(o.history, history_csv(res.history)));
  if (!o.report.empty() || !o.plot.empty()) {
    const report::FitPage page = report_page(plan, set, res);
    if (!o.report.empty()) staged.push_back(io::stage_file(o.report, report::fit_page(page)));
    if (!o.plot.empty())
      staged.push_back(io::stage_picture(o.plot, report::svg_document(report::fit_figures(page))));
  }
  if (!o.summary.empty()) {
    nlohmann::json js = summary(o, plan, set, res);
    js["command_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    staged.push_back(io::stage_file(o.summary, js.dump(1) + "\n"));
  }
  commit_all(staged);
}

// Step 8: a few lines on stdout (unless --quiet).
void print_outcome(const FitCli& o, const Plan& plan, const DataSet& set, const Outcome& res) {
  if (o.quiet) return;
  const Taps taps = plan.taps;
  std::printf("fit: %s, %zu taps (m = %lld..%lld), %zu pair(s), %zu samples\n",
              std::string(to_string(plan.fo.solver)).c_str(), taps.K(), static_cast<long long>(taps.lo),
              static_cast<long long>(taps.hi), set.pairs->pairs(), set.total_n());
  std::printf("  %zu iteration(s) (%s) in %.3f s; loss %.10g, gradient norm %.3g", res.iterations,
              res.stop_reason.c_str(), res.seconds, res.loss, res.grad_norm);
  if (res.condition) std::printf(", condition number %.3g", *res.condition);
  std::printf("\n");
  if (res.validation)
    std::printf("  validation loss %.10g (relative %.3g)\n", res.validation->loss,
                res.validation->relative());
  if (set.h_true) std::printf("  ||h - h_true|| / ||h_true|| = %.3e\n", rel_error(res.h, *set.h_true));
  if (set.sample_rate && !io::records_range(o.out))
    std::printf("  note: %s cannot record the sample rate (%s Hz); .json and .csv do\n", o.out.c_str(),
                format_number(*set.sample_rate, 10).c_str());
  std::printf("  wrote %s", o.out.c_str());
  for (const auto* p : {&o.summary, &o.history, &o.report, &o.plot})
    if (!p->empty()) std::printf(", %s", p->c_str());
  std::printf("\n");
}

template <std::floating_point T>
Outcome outcome(FitResult<T>&& r, std::optional<Validation> validation) {
  Outcome res;
  res.h = widen<T>(r.h);
  res.iterations = r.iterations;
  res.stop_reason = std::move(r.stop_reason);
  res.seconds = r.seconds;
  res.loss = r.loss;
  res.grad_norm = r.grad_norm;
  res.lambda_max = r.lambda_max;
  res.step = r.step;
  res.step_halvings = r.step_halvings;
  res.condition = r.condition;
  res.condition_estimated = r.condition_estimated;
  res.pair_loss = std::move(r.pair_loss);
  res.history = std::move(r.history);
  res.validation = validation;
  return res;
}

// ---- several inputs and outputs: y_o = sum_c h_{o,c} * x_c (fit_mimo) --------------------------
//
// Asked for by several --x for one --y, or by a multi-channel sound file as --x or --y without
// --channel: every channel of every --x is an input, every channel of --y an output (with
// --channel, that one channel of each file). Every solver, with the single-input fit's stopping
// options and --history (not --batch or --h0: one recording, and no taps file holds H). --out is a .json file
// {"lo", "hi", "K", "inputs", "outputs", "h": [C_out][C_in][K], "sample_rate"}.

// How many channels a file holds: a sound file's count, 1 for text and .npy.
int channels_in(const std::string& path) {
  return io::is_sound_file(path) ? io::SoundReader(path, 0).channels() : 1;
}

bool wants_mimo(const FitCli& o) {
  if (o.x_paths.size() > 1 && o.y_paths.size() == 1) return true;
  if (o.channel || o.x_paths.size() != 1 || o.y_paths.size() != 1) return false;
  return channels_in(o.x_paths[0]) > 1 || channels_in(o.y_paths[0]) > 1;
}

Plan check_mimo_usage(const FitCli& o) {
  Plan plan;
  plan.taps = require_taps(o.taps);
  for (const auto& [given, name] : {std::pair{!o.validate.empty(), "--validate"},
                                    {!o.true_h.empty(), "--true-h"},
                                    {!o.report.empty(), "--report"},
                                    {o.batch.has_value(), "--batch"},
                                    {!o.h0.empty(), "--h0"}})
    if (given)
      throw usage_error(std::string(name) + " applies only to the single-input fit (one --x per --y)");
  plan.fo = options_from(o, 1);
  plan.channel = channel_option(o.channel);
  plan.dtype = parse_dtype(o.dtype);
  if (o.out.empty()) throw usage_error("--out: a .json file for the learned filters is required");
  if (!o.out.ends_with(".json"))
    throw usage_error("--out " + o.out +
                      ": the multi-input fit writes its C_out x C_in filters with their tap range as .json "
                      "(.csv and .npy hold one filter)");
  require_output_paths(o);
  return plan;
}

// One input or output channel: its file, its channel (none for a one-signal file), its samples.
struct Channel {
  std::string path;
  std::optional<int> channel;
  std::vector<double> samples;
  nlohmann::json describe() const {
    return {{"file", path}, {"channel", channel ? nlohmann::json(*channel) : nlohmann::json(nullptr)}};
  }
};

struct MimoData {
  std::vector<Channel> x, y;
  std::optional<double> sample_rate;
  std::string rate_source;  // the file the sample rate was first read from
};

// Channel `channel` of `path` (or its one signal); a sample rate must match the data set's.
std::vector<double> read_channel(const std::string& path, const char* role, std::optional<int> channel,
                                 MimoData& set) {
  io::Signal s = read_input(path, role, channel);
  if (s.sample_rate && set.sample_rate && *set.sample_rate != *s.sample_rate)
    throw io_error(path + " is sampled at " + format_number(*s.sample_rate, 10) + " Hz but " +
                   set.rate_source + " at " + format_number(*set.sample_rate, 10) +
                   " Hz; every channel must share one sample rate");
  if (s.sample_rate && !set.sample_rate) set.sample_rate = s.sample_rate, set.rate_source = path;
  return std::move(s.samples);
}

// Every channel of `path` (or only `channel`), each checked against the data set's length and rate.
void read_channels(const std::string& path, const char* role, std::optional<int> channel, MimoData& set,
                   std::vector<Channel>& into) {
  const int count = channels_in(path);
  for (int c = 0; c < count; ++c) {
    if (channel && c != *channel) continue;
    const std::optional<int> pick = count > 1 || channel ? std::optional<int>(c) : std::nullopt;
    Channel ch{path, pick, read_channel(path, role, pick, set)};
    const Channel& first = set.x.empty() ? ch : set.x.front();
    if (ch.samples.size() != first.samples.size())
      throw io_error(std::string(role) + " (" + path + ") has " + std::to_string(ch.samples.size()) +
                     " samples but x (" + first.path + ") has " + std::to_string(first.samples.size()) +
                     "; every input and output channel must be the same length");
    into.push_back(std::move(ch));
  }
}

MimoData read_mimo(const FitCli& o, const Plan& plan) {
  MimoData set;
  for (const auto& p : o.x_paths) read_channels(p, "x", plan.channel, set, set.x);
  read_channels(o.y_paths[0], "y", plan.channel, set, set.y);
  return set;
}

// The fit in T, with the iterative solvers' progress line as the single-input fit shows it.
template <std::floating_point T>
MimoSolution solve_mimo(const FitCli& o, Plan& plan, const MimoData& set) {
  std::vector<std::vector<T>> xs, ys;
  for (const auto& c : set.x) xs.push_back(to_dtype<T>(c.samples, "x (" + c.path + ")"));
  for (const auto& c : set.y) ys.push_back(to_dtype<T>(c.samples, "y (" + c.path + ")"));
  const std::vector<std::span<const T>> x(xs.begin(), xs.end()), y(ys.begin(), ys.end());
  const bool iterative = plan.fo.solver != Solver::exact;
  ProgressLine line(iterative && !o.quiet && (o.progress || (isatty(STDOUT_FILENO) && isatty(STDERR_FILENO))),
                    plan.fo);
  plan.fo.progress = [&line](const Progress& p) { return line(p); };
  try {
    MimoSolution r = fit_mimo<T>(x, y, plan.taps, plan.fo);
    line.finish();
    plan.fo.progress = nullptr;
    return r;
  } catch (...) {
    line.finish();
    throw;
  }
}

// h_{o,c} as nested arrays [C_out][C_in][K].
nlohmann::json nested_taps(const MimoSolution& r) {
  const std::size_t K = r.taps.K();
  nlohmann::json h = nlohmann::json::array();
  for (std::size_t o = 0; o < r.outputs; ++o) {
    nlohmann::json row = nlohmann::json::array();
    for (std::size_t c = 0; c < r.inputs; ++c) {
      const auto* first = r.h.data() + (o * r.inputs + c) * K;
      row.push_back(std::vector<double>(first, first + K));
    }
    h.push_back(std::move(row));
  }
  return h;
}

nlohmann::json mimo_taps_file(const MimoSolution& r, const MimoData& set) {
  return {{"lo", r.taps.lo},
          {"hi", r.taps.hi},
          {"K", r.taps.K()},
          {"inputs", r.inputs},
          {"outputs", r.outputs},
          {"h", nested_taps(r)},
          {"sample_rate", set.sample_rate ? nlohmann::json(*set.sample_rate) : nlohmann::json(nullptr)}};
}

nlohmann::json mimo_summary(const Plan& plan, const MimoData& set, const MimoSolution& r) {
  nlohmann::json js;
  js["solver"] = std::string(to_string(r.solver));
  js["dtype"] = std::string(to_string(plan.dtype));
  js["taps"] = {{"lo", r.taps.lo}, {"hi", r.taps.hi}, {"K", r.taps.K()}};
  js["ridge"] = r.ridge;
  js["iterations"] = r.iterations;
  js["stop_reason"] = r.stop_reason;
  js["seconds"] = r.seconds;
  js["loss"] = r.loss;
  js["grad_norm"] = r.grad_norm;
  if (r.solver == Solver::exact) {
    js["condition_number"] = r.condition;
    js["condition_number_estimated"] = r.condition_estimated;
    js["lambda_min"] = r.lambda_min;
    js["lambda_max"] = r.lambda_max;
  } else {
    js["condition_number"] = nullptr;  // not computed by the iterative solvers
    add_solver_facts(js, plan.fo, r.lambda_max, r.step, r.step_halvings);
  }
  const std::string advice = mimo_advice(r);
  js["advice"] = advice.empty() ? nlohmann::json(nullptr) : nlohmann::json(in_command_words(advice));
  js["sample_rate"] = set.sample_rate ? nlohmann::json(*set.sample_rate) : nlohmann::json(nullptr);
  js["N"] = set.x.front().samples.size();
  js["inputs"] = nlohmann::json::array();
  for (const auto& c : set.x) js["inputs"].push_back(c.describe());
  js["outputs"] = nlohmann::json::array();
  for (std::size_t o = 0; o < set.y.size(); ++o) {
    nlohmann::json d = set.y[o].describe();
    d["loss"] = r.output_loss[o];
    js["outputs"].push_back(std::move(d));
  }
  js["h"] = nested_taps(r);
  return js;
}

int run_fit_mimo(const FitCli& o) {
  Plan plan = check_mimo_usage(o);
  const MimoData set = read_mimo(o, plan);
  const MimoSolution r = with_dtype(plan.dtype, [&]<class T>(T) { return solve_mimo<T>(o, plan, set); });
  require_finite_result(r.h, "the learned taps", plan.dtype);
  std::vector<io::StagedFile> staged;
  staged.push_back(io::stage_file(o.out, mimo_taps_file(r, set).dump(1) + "\n"));
  if (!o.summary.empty())
    staged.push_back(io::stage_file(o.summary, mimo_summary(plan, set, r).dump(1) + "\n"));
  if (!o.history.empty()) staged.push_back(io::stage_file(o.history, history_csv(r.history)));
  commit_all(staged);
  const std::string advice = mimo_advice(r);
  if (!advice.empty()) std::fprintf(stderr, "convgrad: warning: %s\n", in_command_words(advice).c_str());
  if (o.quiet) return 0;
  std::printf("fit: %s, %zu taps (m = %lld..%lld), %zu input(s) -> %zu output(s), %zu samples\n",
              std::string(to_string(r.solver)).c_str(), r.taps.K(), static_cast<long long>(r.taps.lo),
              static_cast<long long>(r.taps.hi), r.inputs, r.outputs, set.x.front().samples.size());
  if (r.solver == Solver::exact)
    std::printf("  solved in %.3f s; loss %.10g, condition number %.3g%s\n", r.seconds, r.loss, r.condition,
                r.condition_estimated ? " (estimated)" : "");
  else
    std::printf("  %zu iteration(s) (%s) in %.3f s; loss %.10g, gradient norm %.3g\n", r.iterations,
                r.stop_reason.c_str(), r.seconds, r.loss, r.grad_norm);
  std::printf("  wrote %s", o.out.c_str());
  for (const auto* p : {&o.summary, &o.history})
    if (!p->empty()) std::printf(", %s", p->c_str());
  std::printf("\n");
  return 0;
}

// The command: check the options, read the data, fit, then write and print what came out.
// Under mpirun every step runs on every rank and ends on all of them if it fails on one
// (collectively, distributed.hpp); rank 0 alone writes and prints.
int run_fit(const FitCli& o) {
  const auto started = std::chrono::steady_clock::now();
  const bool root = dist::world().is_root();
  dist::TreeReducer reducer(dist::world());
  Reducer* ranks = dist::launched_by_mpi() ? &reducer : nullptr;
  Plan plan = collectively([&] { return check_usage(o); });
  const DataSet set = collectively([&] { return read_data(o, plan); });
  const std::uint64_t bytes_opening = set.pairs->bytes_read();  // the headers
  Outcome res = collectively([&] {
    return with_dtype(plan.dtype, [&]<class T>(T) {
      FitResult<T> r = solve<T>(o, plan, set, ranks);
      const std::optional<Validation> v = root ? validate<T>(set, r, plan) : std::nullopt;
      return outcome<T>(std::move(r), v);
    });
  });
  if (ranks) res.ranks = ranks_summary(reducer, set.pairs->bytes_read() - bytes_opening);
  collectively([&] {
    require_finite_result(res.h, "the learned taps", plan.dtype);
    if (root) write_fit_outputs(o, plan, set, res, started);
  });
  if (root) print_outcome(o, plan, set, res);
  return 0;
}

}  // namespace

Run add_fit(CLI::App& app) {
  auto o = std::make_shared<FitCli>();
  CLI::App* c = app.add_subcommand(
      "fit", "learn a filter h from (x, y) recording pairs: exact least squares or gradient descent");
  c->add_option("--x", o->x_paths,
                "input signal (text/CSV, .npy, .mat, .json or WAV); repeat with --y for several pairs, or "
                "repeat for one --y "
                "(or give a multi-channel WAV) for the multi-input fit");
  c->add_option("--y", o->y_paths,
                "target signal, same length as its --x; every channel of a multi-channel --y is an output of "
                "the multi-input fit");
  add_tap_options(*c, o->taps);
  c->add_option("--solver", o->solver, "exact | gd | nesterov | adam (default exact)");
  c->add_option("--ridge", o->ridge,
                "ridge penalty lambda >= 0: minimise sum L + lambda/2 ||h||^2 (default 0)");
  c->add_option(
      "--out", o->out,
      "learned taps: .json, .mat or .csv (range and sample rate recorded), or .npy (centred taps only)");
  c->add_option("--summary", o->summary, "JSON summary: solver, iterations, time, losses, condition number");
  c->add_option("--history", o->history, "loss history as CSV (iterative solvers)");
  c->add_option("--report", o->report, "self-contained HTML report with plots");
  c->add_option("--plot", o->plot, "the report's pictures as one .svg or .png file");
  add_var_option(*c);
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
  c->add_option("--chunk-rows", o->chunk_rows,
                "rows per chunk read (default 1048576; about 16 bytes a row per thread); runs to agree to "
                "the last bit use the same");
  c->add_flag(
      "--progress", o->progress,
      "show the progress on stderr: bytes read (exact), iterations (iterative); default on a terminal");
  add_verbosity_options(*c, &o->quiet);
  return [o] {
    tune_option(o->tune, parse_method_option(o->method));
    const int code = wants_mimo(*o) ? run_fit_mimo(*o) : run_fit(*o);
    warn_about_tune_cache();
    return code;
  };
}

}  // namespace convgrad::cli
