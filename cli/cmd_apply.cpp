// `convgrad apply`: filter a signal with learned taps, yhat[n] = sum_{m=lo..hi} h[m] x[n-m]
// ('same' length). WAV in, WAV out keeps the sample rate; .npy, .mat, .json or text out by
// extension; --plot draws the taps, their response, the input and the output.
//
// The signal streams through in chunks of rows [a, b): each reads the window of x those rows
// need (convgrad/file_source.hpp, zeros outside the signal) and writes its rows of yhat to the
// staged output, so memory is one chunk whatever the length; a signal of one chunk is filtered
// whole, as before streaming.
#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/file_source.hpp"
#include "convgrad/report.hpp"
#include "convgrad/sound_stream.hpp"
#include "streaming.hpp"

namespace convgrad::cli {
namespace {

struct ApplyCli {
  std::string h_path, x_path, out, plot, method = "auto", wav_format = "float";
  TapOptions taps;
  std::optional<std::int64_t> channel, sample_rate, chunk_rows;
  bool quiet = false, tune = false, ignore_rate = false, progress = false;
};

bool is_wav(const std::string& path) {
  const std::string e = std::filesystem::path(path).extension().string();
  return e.size() >= 4 && (strcasecmp(e.c_str(), ".wav") == 0 || strcasecmp(e.c_str(), ".wave") == 0);
}

// Taps learned at one sample rate are a different filter at another (every frequency moves):
// refused unless --ignore-rate, when both the taps file and the input record a rate.
void require_same_rate(const Kernel& k, const std::optional<double>& x_rate, const ApplyCli& o) {
  if (o.ignore_rate || !k.sample_rate || !x_rate || *k.sample_rate == *x_rate) return;
  throw io_error(o.h_path + " was learned at " + format_number(*k.sample_rate, 10) + " Hz but " + o.x_path +
                 " is sampled at " + format_number(*x_rate, 10) +
                 " Hz; resample the input (or give --ignore-rate to apply the taps anyway)");
}

// --plot: the taps in samples (and seconds), their magnitude and phase response, and the
// signal before and after (kept in fixed memory as it streams by: KeptForPlot).
// x and yhat stand for n samples each.
std::vector<report::Figure> apply_figures(const Kernel& k, const std::optional<double>& x_rate,
                                          const std::vector<double>& x, const std::vector<double>& yhat,
                                          std::uint64_t n) {
  const std::optional<double> rate = x_rate ? x_rate : k.sample_rate;
  const report::FilterView f{k.taps, k.h, std::nullopt, rate, "Taps"};
  return {report::taps_figure(f), report::magnitude_figure(f), report::phase_figure(f),
          report::signal_figure(x, "Input", "x[n]", rate, "#1f77b4", n),
          report::signal_figure(yhat, "Output", "yhat[n] = (h * x)[n]", rate, "#2ca02c", n)};
}

int run_apply(const ApplyCli& o) {
  if (o.h_path.empty()) throw usage_error("--h: the taps file is required");
  if (o.x_path.empty()) throw usage_error("--x: the signal to filter is required");
  if (o.out.empty()) throw usage_error("--out: the output file is required");
  const Method method = parse_method_option(o.method);
  tune_option(o.tune, method);
  require_outputs_not_inputs({{"--out", o.out}, {"--plot", o.plot}}, {{"--h", o.h_path}, {"--x", o.x_path}});
  require_output_format("--out", o.out, OutputKind::sound);
  require_output_format("--plot", o.plot, OutputKind::picture);
  require_distinct_outputs({{"--out", o.out}, {"--plot", o.plot}});
  const std::optional<int> channel = channel_option(o.channel);
  check_tap_options_for_file(o.taps);  // usage errors first, before any file is read
  if (o.sample_rate) require_option_range("--sample-rate", *o.sample_rate, 1, 1 << 30, "Hz");
  const io::WavFormat format = wav_format_option(o.wav_format);
  require_output_directories({{"--out", o.out}, {"--plot", o.plot}});

  const std::uint64_t rows = chunk_rows_option(o.chunk_rows);
  const Kernel k = read_kernel(o.h_path, "--h", o.taps);
  const Taps taps = k.taps;
  if (channel && !channel_for(o.x_path, channel))
    throw usage_error("--channel applies only to sound files (WAV)");
  const auto x = open_input(o.x_path, "x", channel_for(o.x_path, channel));
  require_same_rate(k, x->sample_rate(), o);
  warn_if_more_taps_than_samples(taps.K(), x->length());

  ByteProgress progress(o.quiet, o.progress);
  const bool plot = !o.plot.empty();
  KeptForPlot x_kept(plot ? x->length() : 0), yhat_kept(plot ? x->length() : 0);
  // Each chunk's rows of yhat, checked (finite: else the index of the first that overflows)
  // and passed to the output (and, for --plot, kept with the same rows of x).
  const auto produce = [&](const std::function<void(std::span<const double>)>& write) {
    filter_chunks(*x, k.h, taps, method, rows,
                  [&](std::uint64_t first, std::span<const double> yhat, std::span<const double> x_rows) {
                    for (std::size_t i = 0; i < yhat.size(); ++i)
                      if (!std::isfinite(yhat[i]))
                        throw convgrad::invalid_argument(
                            "the filtered signal overflows at index " + std::to_string(first + i) +
                            ": the inputs are too large for float64 (scale them down)");
                    write(yhat);
                    if (plot) {
                      x_kept.add(first, x_rows);
                      yhat_kept.add(first, yhat);
                    }
                    progress(x->bytes_read(), x->file_bytes());
                  });
  };
  io::WavClipping clipped;
  std::vector<io::StagedFile> staged;
  staged.push_back([&] {
    if (!is_wav(o.out))
      return io::stage_array_stream(
          o.out, x->length(),
          [&](io::ArraySink& sink) { produce([&](std::span<const double> v) { sink.write(v); }); }, "y");
    // The output's rate: --sample-rate, else the input's, else the one the taps were learned at.
    std::optional<double> rate = x->sample_rate() ? x->sample_rate() : k.sample_rate;
    if (o.sample_rate) rate = static_cast<double>(*o.sample_rate);
    if (!rate)
      throw usage_error("--out " + o.out + ": a WAV file needs a sample rate; " + o.x_path +
                        " has none, so give --sample-rate HZ");
    const auto hz = static_cast<int>(*rate);
    if (static_cast<double>(hz) != *rate)
      throw io_error(o.x_path + ": sample rate " + std::to_string(*rate) + " Hz is not a whole number");
    return io::stage_wav_stream(
        o.out, hz, format,
        [&](io::SoundSink& sink) { produce([&](std::span<const double> v) { sink.write(v); }); }, &clipped);
  }());
  progress.finish();
  warn_if_clipped(o.out, clipped, format);
  if (plot)
    staged.push_back(
        io::stage_picture(o.plot, report::svg_document(apply_figures(k, x->sample_rate(), x_kept.values(),
                                                                     yhat_kept.values(), x->length()))));
  commit_all(staged);
  const std::uint64_t n = x->length();
  if (!o.quiet)
    std::printf("apply: %llu samples through %zu taps (m = %lld..%lld) -> %s\n",
                static_cast<unsigned long long>(n), taps.K(), static_cast<long long>(taps.lo),
                static_cast<long long>(taps.hi), o.out.c_str());
  warn_about_tune_cache();
  return 0;
}

}  // namespace

Run add_apply(CLI::App& app) {
  auto o = std::make_shared<ApplyCli>();
  CLI::App* c = app.add_subcommand(
      "apply", "filter a signal with learned taps (WAV in, WAV out keeps the sample rate)");
  c->add_option("--h", o->h_path, "taps: .json or .csv from fit (range and rate recorded), .npy or text");
  c->add_option("--x", o->x_path, "the signal to filter (text/CSV, .npy, .mat, .json or WAV)");
  c->add_option("--out", o->out, "the filtered signal: .wav, .npy, .mat, .json or .csv/.txt, by extension");
  add_tap_options(*c, o->taps);
  c->add_option("--channel", o->channel, "0-based channel of a multi-channel WAV input");
  c->add_option("--sample-rate", o->sample_rate, "sample rate in Hz for a WAV output from a non-WAV input");
  c->add_option(
      "--wav-format", o->wav_format,
      "WAV samples: float (32-bit, default), pcm16 or pcm24 (values beyond [-1, 1] clipped, reported)");
  c->add_option("--plot", o->plot, "taps, frequency response, input and output as one .svg or .png file");
  add_var_option(*c);
  c->add_option("--method", o->method, "auto | direct | fft | reference | jacobian");
  c->add_flag("--tune", o->tune,
              "with --method auto: time direct and fft once for this length, use the faster");
  c->add_flag("--ignore-rate", o->ignore_rate,
              "apply taps learned at another sample rate than the input's (refused otherwise)");
  c->add_option("--chunk-rows", o->chunk_rows,
                "samples filtered per chunk read (default 1048576): memory is about 24 bytes a row");
  c->add_flag("--progress", o->progress,
              "show bytes read, rate and time left on stderr (default: on a terminal)");
  add_verbosity_options(*c, &o->quiet);
  return [o] { return run_apply(*o); };
}

}  // namespace convgrad::cli
