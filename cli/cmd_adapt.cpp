// `convgrad adapt`: learn a filter while the signals stream (echo or noise cancellation,
// system identification, tracking), with the library's adaptive filters (adaptive.hpp).
//
// x (the far end, the reference) and y (the microphone, the target) are read a block at a
// time (WAV through libsndfile: constant memory whatever the length); each block goes through
// Filter::process, and the error signal e = y - yhat = -r (the microphone with the echo
// estimate removed) is written as it comes. ERLE, 10 log10(sum y^2 / sum e^2), is reported per
// window, with the misalignment ||h - h_true|| / ||h_true|| when the true filter is given.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "convgrad/adaptive.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/report.hpp"
#include "convgrad/sound_stream.hpp"
#include "convgrad/taps_file.hpp"

namespace convgrad::cli {
namespace {

struct AdaptCli {
  std::string x_path, y_path, algo = "nlms", dtype = "float64", out_error, out_h, summary, true_h;
  std::string report, plot, wav_format = "float";
  std::optional<std::int64_t> causal, lo, channel, block, partitions, sample_rate, window;
  std::optional<double> mu, delta, lambda;
  std::int64_t frames = 4096;
  bool quiet = false;
};

// A signal read in blocks: a sound file streamed, or a text/.npy file already in memory.
class Source {
 public:
  Source(const std::string& path, std::string_view role, std::optional<int> channel) : path_(path) {
    if (io::is_sound_file(path)) {
      sound_.emplace(path, channel);
      rate_ = sound_->sample_rate();
      length_ = sound_->frames();
    } else {
      if (channel && !channel_for(path, channel))
        throw usage_error("--channel applies only to sound files (WAV); " + path + " is not one");
      io::Signal s = read_input(path, role, channel_for(path, channel));
      samples_ = std::move(s.samples);
      if (s.sample_rate) rate_ = static_cast<int>(*s.sample_rate);
      length_ = samples_.size();
    }
  }
  std::size_t read(std::span<double> out) {
    if (sound_) return sound_->read(out);
    const std::size_t n = std::min<std::size_t>(out.size(), samples_.size() - at_);
    std::copy_n(samples_.begin() + static_cast<std::ptrdiff_t>(at_), n, out.begin());
    at_ += n;
    return n;
  }
  std::optional<int> rate() const { return rate_; }
  std::uint64_t length() const { return length_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::optional<io::SoundReader> sound_;
  std::vector<double> samples_;
  std::size_t at_ = 0;
  std::optional<int> rate_;
  std::uint64_t length_ = 0;
};

// Collects a non-WAV error signal (.npy or text are written whole).
class Collect final : public io::SoundSink {
 public:
  void write(std::span<const double> s) override { values.insert(values.end(), s.begin(), s.end()); }
  std::vector<double> values;
};

// "adapt: 12.0 of 60.0 s  ERLE 23.4 dB", redrawn at most ten times a second on a terminal.
class AdaptProgress {
 public:
  explicit AdaptProgress(bool on) : on_(on), start_(std::chrono::steady_clock::now()) {}
  void show(std::uint64_t done, std::uint64_t total, double rate, double erle) {
    if (!on_) return;
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (t - last_ < 0.1) return;
    last_ = t;
    std::fprintf(stderr, "\r  adapt: %.1f of %.1f s  ERLE %.1f dB   ", static_cast<double>(done) / rate,
                 static_cast<double>(total) / rate, erle);
    std::fflush(stderr);
    shown_ = true;
  }
  void finish() {
    if (shown_) std::fprintf(stderr, "\r%60s\r", "");
    shown_ = false;
  }
  ~AdaptProgress() { finish(); }

 private:
  bool on_, shown_ = false;
  std::chrono::steady_clock::time_point start_;
  double last_ = -1;
};

// JSON number, or null where the value is not finite (an ERLE of a silent window).
nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

adaptive::Options options_from(const AdaptCli& o) {
  adaptive::Options a;
  a.mu = o.mu;
  a.delta = o.delta;
  if (o.lambda) a.lambda = *o.lambda;
  if (o.block) {
    require_option_range("--block", *o.block, 1, 1 << 20, "FDAF block length in samples");
    a.block = static_cast<std::size_t>(*o.block);
  }
  if (o.partitions) {
    require_option_range("--partitions", *o.partitions, 1, 1 << 20, "FDAF partitions");
    a.partitions = static_cast<std::size_t>(*o.partitions);
  }
  return a;
}

// What the run learned, window by window.
struct Curves {
  std::uint64_t window = 0;
  std::vector<double> erle_db, misalignment;
  double yy = 0, ee = 0;  // the current window's sums
  std::uint64_t filled = 0;
};

// What --report and --plot show (report::AdaptPage): the run's facts, its curves, the taps.
template <std::floating_point T>
report::AdaptPage adapt_report_page(const AdaptCli& o, adaptive::Algorithm algorithm,
                                    const adaptive::Filter<T>& filter, const Curves& curves,
                                    const std::optional<std::vector<double>>& h_true, std::optional<int> rate,
                                    std::optional<std::uint64_t> diverged_at) {
  const Taps taps = filter.taps();
  report::AdaptPage page;
  page.title = "convgrad adapt: " + std::string(adaptive::to_string(algorithm)) + ", " +
               std::to_string(taps.K()) + " taps";
  page.facts = {{"algorithm", std::string(adaptive::to_string(algorithm))},
                {"data", o.x_path + ", " + o.y_path + ": " + std::to_string(filter.samples()) + " samples" +
                             (rate ? " at " + std::to_string(*rate) + " Hz" : "")},
                {"taps", "m = " + std::to_string(taps.lo) + ".." + std::to_string(taps.hi) +
                             " (K = " + std::to_string(taps.K()) + ")"},
                {"ERLE window", std::to_string(curves.window) + " samples"}};
  if (!curves.erle_db.empty())
    page.facts.push_back({"ERLE in the last window", format_number(curves.erle_db.back(), 4) + " dB"});
  if (!curves.misalignment.empty())
    page.facts.push_back({"final misalignment", format_number(curves.misalignment.back(), 4)});
  if (diverged_at) page.facts.push_back({"diverged", "at sample " + std::to_string(*diverged_at)});
  page.window = curves.window;
  page.erle_db = curves.erle_db;
  page.misalignment = curves.misalignment;
  page.diverged_at = diverged_at;
  const auto h = filter.h();
  page.filter = {taps, widen<T>(h), h_true, rate ? std::optional<double>(*rate) : std::nullopt,
                 "Taps learned"};
  return page;
}

template <std::floating_point T>
int run_adapt(const AdaptCli& o) {
  if (o.x_path.empty()) throw usage_error("--x: the reference (far-end) signal is required");
  if (o.y_path.empty()) throw usage_error("--y: the target (microphone) signal is required");
  if (!o.causal) throw usage_error("--causal K: the number of taps is required");
  require_option_range("--causal", *o.causal, 1, kMaxTaps, "taps");
  const std::int64_t lo = o.lo.value_or(0);
  require_option_range("--lo", lo, 0, std::int64_t{1} << 30, "the delay of the first tap, in samples");
  const Taps taps = Taps::from_lo(lo, *o.causal);
  require_option_range("--frames", o.frames, 1, 1 << 24, "samples read per block");
  adaptive::Algorithm algorithm;
  try {
    algorithm = adaptive::parse_algorithm(o.algo);
  } catch (const invalid_argument& e) {
    throw usage_error(std::string("--algo: ") + e.what());
  }
  const io::WavFormat format = wav_format_option(o.wav_format);
  const std::vector<std::pair<std::string, std::string>> outputs = {{"--out-error", o.out_error},
                                                                    {"--out-h", o.out_h},
                                                                    {"--summary", o.summary},
                                                                    {"--report", o.report},
                                                                    {"--plot", o.plot}};
  require_outputs_not_inputs(outputs, {{"--x", o.x_path}, {"--y", o.y_path}, {"--true-h", o.true_h}});
  require_output_format("--out-error", o.out_error, OutputKind::sound);
  require_output_format("--summary", o.summary, OutputKind::json);
  require_output_format("--report", o.report, OutputKind::html);
  require_output_format("--plot", o.plot, OutputKind::picture);
  if (!o.out_h.empty()) try {
      io::require_taps_format(o.out_h, taps);
    } catch (const invalid_argument& e) {
      throw usage_error(std::string("--out-h ") + e.what());
    }
  require_distinct_outputs(outputs);
  std::unique_ptr<adaptive::Filter<T>> filter;
  try {
    filter = adaptive::make_filter<T>(algorithm, taps, options_from(o));
  } catch (const invalid_argument& e) {  // a parameter out of range is the user's option
    throw usage_error(e.what());
  }

  const std::optional<int> channel = channel_option(o.channel);
  Source x(o.x_path, "x", channel), y(o.y_path, "y", channel);
  require_same_length(o.x_path, x.length(), o.y_path, y.length());
  if (x.rate() && y.rate() && *x.rate() != *y.rate())
    throw io_error("y (" + o.y_path + ") is sampled at " + std::to_string(*y.rate()) + " Hz but x (" +
                   o.x_path + ") at " + std::to_string(*x.rate()) + " Hz");
  std::optional<int> rate = x.rate() ? x.rate() : y.rate();
  if (o.sample_rate) {
    require_option_range("--sample-rate", *o.sample_rate, 1, 1 << 30, "Hz");
    if (rate && *rate != *o.sample_rate)
      throw usage_error("--sample-rate " + std::to_string(*o.sample_rate) + " contradicts the inputs' " +
                        std::to_string(*rate) + " Hz");
    rate = static_cast<int>(*o.sample_rate);
  }
  const bool wav_out = !o.out_error.empty() && io::is_sound_file(o.out_error);
  if (wav_out && !rate)
    throw usage_error("--out-error " + o.out_error +
                      ": a WAV file needs a sample rate and neither input has one; " +
                      "give --sample-rate HZ");

  std::optional<std::vector<double>> h_true;
  if (!o.true_h.empty()) {
    const io::TapsFile t = io::read_taps(o.true_h);
    if (t.h.size() != taps.K())
      throw io_error("--true-h " + o.true_h + ": has " + std::to_string(t.h.size()) +
                     " taps but the filter has " + std::to_string(taps.K()));
    if (t.lo && *t.lo != taps.lo)
      throw io_error("--true-h " + o.true_h + ": records taps from m = " + std::to_string(*t.lo) +
                     " but the filter's start at m = " + std::to_string(taps.lo));
    h_true = t.h;
  }

  if (o.window)
    require_option_range("--window", *o.window, 1, std::int64_t{1} << 40, "samples per ERLE window");
  Curves curves;
  curves.window = o.window ? static_cast<std::uint64_t>(*o.window)
                           : static_cast<std::uint64_t>(rate ? std::max(1, *rate / 2) : 8192);
  std::optional<nlohmann::json> divergence;
  AdaptProgress progress(!o.quiet && isatty(STDERR_FILENO));
  const auto start = std::chrono::steady_clock::now();

  // The stream: blocks that end at window boundaries, so every window's figures are exact.
  auto produce = [&](io::SoundSink* sink) {
    const std::size_t F = static_cast<std::size_t>(o.frames);
    std::vector<double> xb(F), yb(F), e(F);
    std::vector<T> xt(F), yt(F), yhat(F), r(F);
    std::uint64_t done = 0;
    for (;;) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<std::uint64_t>(F, curves.window - curves.filled));
      const std::size_t n = x.read(std::span(xb).first(want));
      if (y.read(std::span(yb).first(want)) != n)
        throw io_error(o.y_path + ": ended at sample " + std::to_string(done) + " before " + o.x_path);
      if (n == 0) break;
      const auto xs = to_dtype<T>(std::span<const double>(xb).first(n), "x (" + o.x_path + ")");
      const auto ys = to_dtype<T>(std::span<const double>(yb).first(n), "y (" + o.y_path + ")");
      try {
        filter->process(xs, ys, std::span(yhat).first(n), std::span(r).first(n));
      } catch (const adaptive::diverged& d) {
        divergence = nlohmann::json{{"sample", d.sample}, {"message", d.what()}};
        throw;
      }
      for (std::size_t i = 0; i < n; ++i) {
        e[i] = -static_cast<double>(r[i]);
        curves.yy += yb[i] * yb[i];
        curves.ee += e[i] * e[i];
      }
      if (sink) sink->write(std::span<const double>(e).first(n));
      done += n;
      curves.filled += n;
      if (curves.filled == curves.window || done == x.length()) {
        curves.erle_db.push_back(10 * std::log10(curves.yy / curves.ee));
        if (h_true) {
          const auto h = filter->h();
          curves.misalignment.push_back(adaptive::misalignment<T>(h, *h_true));
        }
        curves.yy = curves.ee = 0;
        curves.filled = 0;
        progress.show(done, x.length(), rate ? *rate : 1.0, curves.erle_db.back());
      }
    }
  };

  std::vector<io::StagedFile> staged;
  Collect collected;
  auto summary_json = [&] {
    const auto K = taps.K();
    nlohmann::json s;
    s["algorithm"] = std::string(adaptive::to_string(algorithm));
    s["dtype"] = o.dtype;
    s["taps"] = {{"lo", taps.lo}, {"hi", taps.hi}, {"K", K}};
    s["samples"] = filter->samples();
    s["sample_rate"] = rate ? nlohmann::json(*rate) : nlohmann::json(nullptr);
    s["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s["options"] = {{"mu", number_or_null(filter->options().mu.value_or(NAN))},
                    {"delta", number_or_null(filter->options().delta.value_or(NAN))},
                    {"lambda", filter->options().lambda}};
    s["window"] = curves.window;
    s["diverged"] = divergence ? *divergence : nlohmann::json(nullptr);
    if (algorithm == adaptive::Algorithm::fdaf) {
      const auto g = adaptive::fdaf_geometry(K, filter->options());
      s["options"]["block"] = g.block;
      s["options"]["partitions"] = g.partitions;
    }
    nlohmann::json erle = nlohmann::json::array();
    for (const double v : curves.erle_db) erle.push_back(number_or_null(v));
    s["erle_db"] = erle;
    if (h_true) s["misalignment"] = curves.misalignment;
    const auto h = filter->h();
    s["h"] = json_array<T>(h);
    return s;
  };
  // The report and the pictures: ERLE and misalignment per window, the taps learned.
  auto stage_pictures = [&](std::vector<io::StagedFile>& into, std::optional<std::uint64_t> diverged_at) {
    if (o.report.empty() && o.plot.empty()) return;
    const report::AdaptPage page =
        adapt_report_page(o, algorithm, *filter, curves, h_true, rate, diverged_at);
    if (!o.report.empty()) into.push_back(io::stage_file(o.report, report::adapt_page(page)));
    if (!o.plot.empty())
      into.push_back(io::stage_picture(o.plot, report::svg_document(report::adapt_figures(page))));
  };
  io::WavClipping clipped;
  try {
    if (wav_out)
      staged.push_back(io::stage_wav_stream(
          o.out_error, *rate, format, [&](io::SoundSink& s) { produce(&s); }, &clipped));
    else
      produce(o.out_error.empty() ? nullptr : &collected);
  } catch (const adaptive::diverged& d) {
    progress.finish();
    // The summary, the report and the pictures say where; the other outputs are not written.
    std::vector<io::StagedFile> diagnosis;
    if (!o.summary.empty()) diagnosis.push_back(io::stage_file(o.summary, summary_json().dump(2) + "\n"));
    stage_pictures(diagnosis, d.sample);
    commit_all(diagnosis);
    throw;
  }
  if (wav_out) warn_if_clipped(o.out_error, clipped, format);
  progress.finish();
  if (!o.out_error.empty() && !wav_out) staged.push_back(io::stage_array(o.out_error, collected.values));
  const auto h = filter->h();
  if (!o.out_h.empty()) {
    const std::vector<double> hd = widen<T>(h);
    staged.push_back(io::stage_taps(o.out_h, hd, taps, rate ? std::optional<double>(*rate) : std::nullopt));
  }
  if (!o.summary.empty()) staged.push_back(io::stage_file(o.summary, summary_json().dump(2) + "\n"));
  stage_pictures(staged, std::nullopt);
  commit_all(staged);

  if (!o.quiet) {
    const double last = curves.erle_db.empty() ? NAN : curves.erle_db.back();
    std::printf("adapt: %s, %llu samples, K = %zu (m = %lld..%lld), ERLE in the last window %.1f dB%s%s\n",
                std::string(adaptive::to_string(algorithm)).c_str(),
                static_cast<unsigned long long>(filter->samples()), taps.K(), static_cast<long long>(taps.lo),
                static_cast<long long>(taps.hi), last, o.out_error.empty() ? "" : " -> ",
                o.out_error.c_str());
  }
  return 0;
}

}  // namespace

Run add_adapt(CLI::App& app) {
  auto o = std::make_shared<AdaptCli>();
  CLI::App* c = app.add_subcommand(
      "adapt",
      "learn a filter while the signals stream: echo/noise cancellation, tracking (nlms, rls, fdaf...)");
  c->add_option("--x", o->x_path, "the reference input (far end): WAV streamed, or .npy/text");
  c->add_option("--y", o->y_path, "the target (microphone): same length and sample rate as --x");
  c->add_option("--algo", o->algo, "nlms (default) | lms | sign-lms | rls | fdaf");
  c->add_option("--causal", o->causal, "K: taps m = lo..lo+K-1 (required)");
  c->add_option("--lo", o->lo, "delay of the first tap in samples (default 0)");
  c->add_option("--mu", o->mu, "step size (nlms 0.5 in (0,2); lms 0.01; sign-lms 0.001; fdaf 0.5 in (0,1])");
  c->add_option("--delta", o->delta, "regularisation (nlms 1e-6 K; rls 1e-2, P = I/delta; fdaf 1e-6)");
  c->add_option("--lambda", o->lambda, "rls forgetting factor in (0, 1] (default 1)");
  c->add_option("--block", o->block, "fdaf block length (default min(K, 256), a power of two)");
  c->add_option("--partitions", o->partitions, "fdaf partitions (default ceil(K / block))");
  c->add_option("--dtype", o->dtype, "float64 (default) or float32");
  c->add_option("--channel", o->channel, "0-based channel of multi-channel WAV inputs");
  c->add_option("--sample-rate", o->sample_rate, "Hz, for a WAV output from non-WAV inputs");
  c->add_option("--frames", o->frames, "samples read per block (default 4096)");
  c->add_option("--window", o->window, "samples per ERLE window (default half a second, or 8192)");
  c->add_option("--out-error", o->out_error, "e = y - yhat: .wav (streamed), .npy or text");
  c->add_option("--out-h", o->out_h, "the learned taps: .json (range recorded), .npy or text");
  c->add_option("--summary", o->summary, "JSON: ERLE per window, misalignment, taps, divergence");
  c->add_option("--true-h", o->true_h, "the true filter (.json/.npy/text) for the misalignment curve");
  c->add_option(
      "--wav-format", o->wav_format,
      "WAV samples: float (32-bit, default), pcm16 or pcm24 (values beyond [-1, 1] clipped, reported)");
  c->add_option("--report", o->report, "HTML: ERLE and misalignment over time, the taps and their response");
  c->add_option("--plot", o->plot, "the report's pictures as one .svg or .png file");
  add_var_option(*c);
  add_verbosity_options(*c, &o->quiet);
  return [o] { return with_dtype(parse_dtype(o->dtype), [&]<class T>(T) { return run_adapt<T>(*o); }); };
}

}  // namespace convgrad::cli
