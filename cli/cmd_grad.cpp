// `convgrad grad`: the loss and both gradients for given x, y and h.
//
//   yhat = h * x,  r = yhat - y,  loss = 1/2 sum r^2,
//   dh[m] = sum_n x[n-m] r[n]  (m = lo..hi),   dx[k] = sum_m h[m] r[k+m].
//
// With tap options (--half-width M, --causal K, ...) instead of --h FILE the kernel is all zeros (K = 2M+1
// taps): yhat = 0, r = -y, and dh = -(y correlated with x) is the gradient at the start of learning from
// zero.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/method.hpp"
#include "convgrad/report.hpp"

namespace convgrad::cli {
namespace {

struct GradOptions {
  std::string x_path, y_path, h_path, out_dh, out_dx, plot;
  TapOptions taps;
  std::optional<std::int64_t> channel;
  std::string method = "auto", dtype = "float64";
  bool json = false, tune = false;
};

// The kernel and its tap range from --h FILE (through the taps reader), or a zero kernel of
// the range the tap options give.
struct GradKernel {
  Kernel k;
  std::string source;  // the file name, or "zeros"
};

GradKernel kernel_from_options(const GradOptions& o) {
  if (!o.h_path.empty()) return {read_kernel(o.h_path, "--h", o.taps), o.h_path};
  const Taps taps = require_taps(o.taps);
  return {{std::vector<double>(taps.K(), 0.0), taps, std::nullopt}, "zeros"};
}

// --plot: the taps and the gradient dh over the same m, the residual, and the taps' magnitude
// and phase response.
std::vector<report::Figure> grad_figures(const Kernel& k, const std::vector<double>& dh,
                                         const std::vector<double>& r) {
  const report::FilterView f{k.taps, k.h, std::nullopt, k.sample_rate, "Taps h"};
  report::Figure gradient = report::taps_figure({k.taps, dh, std::nullopt, k.sample_rate, "Gradient dL/dh"});
  gradient.plot.y_label = "dL/dh[m]";
  gradient.plot.series[0].label = "dh";
  return {report::taps_figure(f), std::move(gradient),
          report::signal_figure(r, "Residual", "r[n] = yhat[n] - y[n]", k.sample_rate),
          report::magnitude_figure(f), report::phase_figure(f)};
}

template <std::floating_point T>
int run_grad(const GradOptions& o, Method method, Dtype dtype) {
  const SignalPair xy = read_xy(o.x_path, o.y_path, channel_option(o.channel));
  const GradKernel kernel = kernel_from_options(o);
  const Kernel& k = kernel.k;
  const std::vector<T> x = to_dtype<T>(xy.x, "x (" + o.x_path + ")");
  const std::vector<T> y = to_dtype<T>(xy.y, "y (" + o.y_path + ")");
  const std::vector<T> h = to_dtype<T>(k.h, "h (" + kernel.source + ")");
  const std::size_t N = x.size(), K = h.size();
  warn_if_more_taps_than_samples(K, N);
  // The method and where it came from: the request, a measured record (--tune), or the model.
  const MethodChoice choice = resolve_method<T>(method, N, k.taps);
  const Method used = choice.method;

  const Step<T> s = loss_and_grad<T>(x, y, h, k.taps, used, /*input_grad=*/true);
  const std::vector<double> dh = widen<T>(s.dh), dx = widen<T>(s.dx);
  const double loss_value = s.loss;
  // One cause, one message: finite inputs too large for T overflow the loss (the fused FFT
  // step), or dh or dx (the other methods), depending on the method and the data.
  const auto finite = [](std::span<const double> v) {
    return std::all_of(v.begin(), v.end(), [](double a) { return std::isfinite(a); });
  };
  if (!std::isfinite(loss_value) || !finite(dh) || !finite(dx)) {
    const double overflowed = std::numeric_limits<double>::infinity();
    require_finite_result(std::span<const double>(&overflowed, 1), "the result", dtype);
  }
  std::vector<io::StagedFile> staged;
  if (!o.plot.empty()) {
    const std::vector<double> r = widen<T>(s.r);
    staged.push_back(io::stage_picture(o.plot, report::svg_document(grad_figures(k, dh, r))));
  }
  write_outputs({{"--out-dh", o.out_dh, dh, "dh"}, {"--out-dx", o.out_dx, dx, "dx"}}, staged);

  if (o.json) {
    nlohmann::json j;
    j["loss"] = s.loss;
    j["dh"] = json_array<T>(s.dh);
    j["dx"] = json_array<T>(s.dx);
    j["yhat"] = json_array<T>(s.yhat);
    j["r"] = json_array<T>(s.r);
    j["method"] = std::string(to_string(used));
    j["method_requested"] = std::string(to_string(method));
    j["method_source"] = std::string(to_string(choice.source));
    j["N"] = N;
    j["K"] = K;
    j["lo"] = k.taps.lo;
    j["hi"] = k.taps.hi;
    j["dtype"] = std::string(to_string(dtype));
    j["kernel"] = kernel.source;
    print_json(j);
    warn_about_tune_cache();
    return 0;
  }
  if (quiet()) {  // the outputs were written; no report
    warn_about_tune_cache();
    return 0;
  }
  std::printf("N = %zu samples, K = %zu taps (m = %lld..%lld), %s, method %s%s\n", N, K,
              static_cast<long long>(k.taps.lo), static_cast<long long>(k.taps.hi),
              std::string(to_string(dtype)).c_str(), std::string(to_string(used)).c_str(),
              choice.source == MethodSource::requested ? ""
              : choice.source == MethodSource::tuned   ? " (chosen by auto, measured by --tune)"
                                                       : " (chosen by auto)");
  if (kernel.source == "zeros") std::printf("kernel: all zeros (the gradient at the start of learning)\n");
  std::printf("loss   = 1/2 ||h * x - y||^2 = %.17g\n", s.loss);
  std::printf("dh     = %s   (||dh|| = %.6g)\n", format_values(dh, 8).c_str(), norm2(dh));
  std::printf("dx     = %s   (||dx|| = %.6g)\n", format_values(dx, 8).c_str(), norm2(dx));
  if (!o.out_dh.empty()) std::printf("wrote dh (%zu values) to %s\n", K, o.out_dh.c_str());
  if (!o.out_dx.empty()) std::printf("wrote dx (%zu values) to %s\n", N, o.out_dx.c_str());
  warn_about_tune_cache();
  return 0;
}

}  // namespace

Run add_grad(CLI::App& app) {
  auto o = std::make_shared<GradOptions>();
  CLI::App* cmd = app.add_subcommand("grad", "the loss 1/2||h * x - y||^2 and its gradients dh, dx");
  cmd->footer(
      "The taps file lists taps m = lo..hi: its recorded range, else --lo, else centred (an even K needs "
      "--lo).\n"
      "Without --h, the tap options give a kernel of zeros: the gradient at the start\n"
      "of learning from h = 0. Signals: .npy (float32/float64), .wav, .mat (--var) or text/CSV.\n"
      "Outputs (.npy, .mat, .json or .csv/.txt text, by extension) are written atomically: all of them\n"
      "or none.");
  cmd->add_option("--x", o->x_path, "input signal x (N samples)")->type_name("FILE")->required();
  cmd->add_option("--y", o->y_path, "target signal y (N samples)")->type_name("FILE")->required();
  CLI::Option* h = cmd->add_option("--h", o->h_path, "taps file: h[m] for m = lo..hi (.json, .csv, .npy)");
  h->type_name("FILE");
  add_tap_options(*cmd, o->taps);
  cmd->add_option("--method", o->method, "reference|direct|jacobian|fft|auto (default auto)")
      ->type_name("NAME");
  cmd->add_flag("--tune", o->tune,
                "with --method auto: time direct and fft once for this size, use the faster");
  cmd->add_option("--channel", o->channel, "0-based channel of multi-channel WAV inputs")->type_name("C");
  cmd->add_option("--dtype", o->dtype, "float32|float64 (default float64)")->type_name("NAME");
  cmd->add_option("--out-dh", o->out_dh, "write dh (K values) to FILE (.npy, .mat, .json, .csv, .txt)")
      ->type_name("FILE");
  cmd->add_option("--out-dx", o->out_dx, "write dx (N values) to FILE (.npy, .mat, .json, .csv, .txt)")
      ->type_name("FILE");
  cmd->add_option("--plot", o->plot, "taps, gradient, residual and frequency response as .svg or .png")
      ->type_name("FILE");
  add_var_option(*cmd);
  cmd->add_flag("--json", o->json,
                "print one JSON object: loss, dh, dx, yhat, r, method, N, K, lo, hi, dtype");
  return [o] {
    // Usage first, before any file is touched.
    const Method method = parse_method_option(o->method);
    tune_option(o->tune, method);
    const Dtype dtype = parse_dtype(o->dtype);
    (void)channel_option(o->channel);
    if (o->h_path.empty() && !o->taps.any())
      throw usage_error(
          "no kernel given: use --h FILE or the tap options (--half-width M, --kernel-size K, ...)");
    if (o->h_path.empty())
      (void)require_taps(o->taps);
    else
      check_tap_options_for_file(o->taps);
    require_output_format("--out-dh", o->out_dh, OutputKind::values);
    require_output_format("--out-dx", o->out_dx, OutputKind::values);
    require_output_format("--plot", o->plot, OutputKind::picture);
    require_distinct_outputs({{"--out-dh", o->out_dh}, {"--out-dx", o->out_dx}, {"--plot", o->plot}});
    require_outputs_not_inputs({{"--out-dh", o->out_dh}, {"--out-dx", o->out_dx}, {"--plot", o->plot}},
                               {{"--x", o->x_path}, {"--y", o->y_path}, {"--h", o->h_path}});
    return with_dtype(dtype, [&]<class T>(T) { return run_grad<T>(*o, method, dtype); });
  };
}

}  // namespace convgrad::cli
