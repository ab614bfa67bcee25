// `convgrad check`: every method (direct, fft, jacobian) and central finite differences
// against the reference loops, on given files or a seeded random case, as a table.
// Exits 1 when any row disagrees beyond its tolerance (documented in convgrad/check.hpp:
// eps_T (terms + 8 ceil(log2 length)) ||a|| ||b||, plus the finite-difference rounding bound).
#include <cstdio>
#include <optional>
#include <string>

#include "commands.hpp"
#include "common.hpp"
#include "convgrad/check.hpp"
#include "convgrad/errors.hpp"
#include "convgrad/jacobian.hpp"

namespace convgrad::cli {
namespace {

// Random cases are capped so that the default check (and a typo) stays a few seconds long:
// N samples, and the N x K multiply-adds of one pass of the reference loops (2^30 took about
// 6 s for every method together on the project's 2-core machine; --n 1024 --taps 8388607,
// 2^34, ran for 40 s before this cap).
constexpr std::int64_t kMaxRandomN = std::int64_t{1} << 22;
constexpr std::int64_t kMaxRandomWork = std::int64_t{1} << 30;

struct CheckOptions {
  std::string x_path, y_path, h_path;
  TapOptions taps;
  std::optional<std::int64_t> channel, n;
  std::int64_t seed = 1;
  std::string dtype = "float64";
  bool json = false, no_fd = false;
};

// The random case's tap range: the tap options', by default m = -2..2.
Taps random_case_taps(const CheckOptions& o) { return taps_from_options(o.taps).value_or(Taps::centred(2)); }

// The case to check: from files (x, y and --h or zeros), or random with standard normal entries.
Case case_from_options(const CheckOptions& o) {
  if (o.x_path.empty())
    return random_case(static_cast<std::size_t>(o.n.value_or(32)), random_case_taps(o),
                       static_cast<std::uint64_t>(o.seed));
  Case c;
  SignalPair xy = read_xy(o.x_path, o.y_path, channel_option(o.channel));
  c.x = std::move(xy.x);
  c.y = std::move(xy.y);
  if (!o.h_path.empty()) {
    Kernel k = read_kernel(o.h_path, "--h", o.taps);
    c.taps = k.taps;
    c.h = std::move(k.h);
  } else {
    c.taps = require_taps(o.taps);
    c.h.assign(c.taps.K(), 0.0);
  }
  warn_if_more_taps_than_samples(c.taps.K(), c.x.size());
  return c;
}

void print_table(const CheckReport& rep) {
  std::printf("N = %zu samples, K = %zu taps (m = %lld..%lld), %s, loss = %.17g\n", rep.n, rep.k,
              static_cast<long long>(rep.taps.lo), static_cast<long long>(rep.taps.hi), rep.dtype.c_str(),
              rep.loss);
  std::printf("every method against the reference loops (the derivation's sums, literally):\n\n");
  std::printf("  %-18s %-8s %-14s %-14s %s\n", "method", "output", "max |diff|", "tolerance", "agrees");
  for (const CheckRow& row : rep.rows) {
    if (row.skipped) {
      std::printf("  %-18s %-8s %-14s %-14s skipped (%s)\n", row.method.c_str(), row.quantity.c_str(), "-",
                  "-", row.note.c_str());
      continue;
    }
    std::printf("  %-18s %-8s %-14.3e %-14.3e %s\n", row.method.c_str(), row.quantity.c_str(),
                row.max_abs_diff, row.tolerance, row.ok ? "yes" : "NO");
  }
  std::printf("\n%s\n", rep.ok() ? "all agree within tolerance"
                                 : "DISAGREEMENT: at least one row is beyond its tolerance");
}

nlohmann::json report_json(const CheckReport& rep) {
  nlohmann::json j;
  j["N"] = rep.n;
  j["K"] = rep.k;
  j["lo"] = rep.taps.lo;
  j["hi"] = rep.taps.hi;
  j["dtype"] = rep.dtype;
  j["loss"] = rep.loss;
  j["ok"] = rep.ok();
  j["rows"] = nlohmann::json::array();
  for (const CheckRow& row : rep.rows)
    j["rows"].push_back({{"method", row.method},
                         {"output", row.quantity},
                         {"max_abs_diff", row.max_abs_diff},
                         {"tolerance", row.tolerance},
                         {"ok", row.ok},
                         {"skipped", row.skipped},
                         {"note", row.note}});
  return j;
}

template <std::floating_point T>
int run_check(const CheckOptions& o) {
  const Case c = case_from_options(o);
  const std::vector<T> x = to_dtype<T>(c.x, "x"), y = to_dtype<T>(c.y, "y"), h = to_dtype<T>(c.h, "h");
  const CheckReport rep = check_gradients<T>(x, y, h, c.taps, kDefaultJacobianBudget, !o.no_fd);
  require_finite_result(std::span<const double>(&rep.loss, 1), "the loss", parse_dtype(o.dtype));
  if (o.json) {
    nlohmann::json j = report_json(rep);
    if (o.x_path.empty()) j["seed"] = o.seed;  // a random case: enough to reproduce it
    print_json(j);
  } else if (!quiet()) {  // quiet: the exit status alone says whether every method agrees
    if (o.x_path.empty())
      std::printf("random case: seed %lld, x, y, h standard normal\n", static_cast<long long>(o.seed));
    print_table(rep);
  }
  if (rep.ok()) return 0;
  std::fprintf(stderr,
               "convgrad: error: check failed: a method disagrees with the reference beyond tolerance\n");
  return 1;
}

}  // namespace

Run add_check(CLI::App& app) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand(
      "check", "compare every gradient method and finite differences (exit 1 on disagreement)");
  cmd->footer(
      "Without --x, a random case: --n samples (default 32), the tap options (default --half-width 2),\n"
      "--seed S (default 1), x, y and h standard normal. With --x and --y, --h FILE gives the kernel, or "
      "the\n"
      "tap options a zero kernel. Exit status 1 when any method disagrees with the reference beyond its "
      "tolerance.");
  CLI::Option* x = cmd->add_option("--x", o->x_path, "input signal file")->type_name("FILE");
  CLI::Option* y = cmd->add_option("--y", o->y_path, "target signal file")->type_name("FILE");
  CLI::Option* h = cmd->add_option("--h", o->h_path, "kernel file (taps m = lo..hi)")->type_name("FILE");
  add_tap_options(*cmd, o->taps);
  CLI::Option* n = cmd->add_option("--n", o->n, "random case: number of samples N")->type_name("N");
  CLI::Option* seed = cmd->add_option("--seed", o->seed, "random case: seed (default 1)")->type_name("S");
  cmd->add_option("--channel", o->channel, "0-based channel of multi-channel WAV inputs")->type_name("C");
  cmd->add_option("--dtype", o->dtype, "float32|float64 (default float64)")->type_name("NAME");
  cmd->add_flag("--no-fd", o->no_fd, "skip the finite-difference rows");
  cmd->add_flag("--json", o->json, "print the report as one JSON object");
  x->needs(y);
  y->needs(x);
  h->needs(x);
  n->excludes(x);
  seed->excludes(x);
  return [o] {
    const Dtype dtype = parse_dtype(o->dtype);
    (void)channel_option(o->channel);
    if (o->n) require_option_range("--n", *o->n, 1, kMaxRandomN, "samples in the random case");
    if (o->h_path.empty())
      (void)taps_from_options(o->taps);
    else
      check_tap_options_for_file(o->taps);
    if (o->x_path.empty()) {  // the random case: N K <= kMaxRandomWork (no overflow: 2^22 * 2^24)
      const std::int64_t N = o->n.value_or(32), K = static_cast<std::int64_t>(random_case_taps(*o).K());
      if (N * K > kMaxRandomWork)
        throw usage_error("--n and the tap options: the random case N = " + std::to_string(N) +
                          ", K = " + std::to_string(K) + " needs N K = " + std::to_string(N * K) +
                          " multiply-adds per pass, above its limit of " + std::to_string(kMaxRandomWork) +
                          "; use a smaller --n or fewer taps (or your own files)");
    }
    if (!o->x_path.empty() && o->h_path.empty() && !o->taps.any())
      throw usage_error(
          "no kernel given: use --h FILE or the tap options (--half-width M, --kernel-size K, ...) with "
          "--x/--y");
    return with_dtype(dtype, [&]<class T>(T) { return run_check<T>(*o); });
  };
}

}  // namespace convgrad::cli
