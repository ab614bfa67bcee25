// Times convgrad's multi-channel layer step for bench/channels_compare.py: the forward
// (conv_channels, with bias) and the backward (grad_channels: dx, dW and dbias), the same work
// as PyTorch's F.conv1d forward + backward.
//
//   convgrad_channels_step B C_IN C_OUT N K LO GROUPS float|double direct|fft|auto THREADS REPS
//                          [--dump DIR | --passes]
//
// N_out = N_in = N, taps LO..LO+K-1, dilation 1. Reads no files: the inputs are a fixed
// function of the flat index, which channels_compare.py rebuilds exactly in NumPy:
//   u(seed, i) = splitmix64(seed * 2^32 + i) >> 40;   v = u / 2^24 - 1/2   (exact in float32)
//   x[i] = v(1, i),  W[i] = v(3, i) / sqrt(C_in/g K),  bias[i] = v(5, i),  r[i] = v(4, i)
// --dump DIR writes y, dx, dW and dbias of the first step to DIR/{y,dx,dW,dbias}.f64 (raw
// little-endian float64) for the check against a float64 reference. --passes also times the
// three passes of the step alone (the forward, dx alone, dW alone) and adds their best CPU
// seconds as "forward_cpu_s", "dx_cpu_s", "dW_cpu_s". Prints one JSON object:
// the best and median wall-clock seconds and the best process CPU seconds of REPS steps after
// one warm-up step, and the method automatic chose.
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "convgrad/channels.hpp"
#include "formula_inputs.hpp"

namespace {

using convgrad::bench::signal;

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

template <class T>
void dump(const std::string& path, const std::vector<T>& v) {
  const std::vector<double> d(v.begin(), v.end());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(d.data()),
             static_cast<std::streamsize>(d.size() * sizeof(double)));
}

// The best process CPU seconds of reps calls of f, after one warm-up call.
template <class F>
double best_cpu(int reps, F&& f) {
  f();
  double best = 1e300;
  for (int i = 0; i < reps; ++i) {
    const double c0 = cpu_seconds();
    f();
    best = std::min(best, cpu_seconds() - c0);
  }
  return best;
}

template <class T>
int run(const convgrad::ChannelShape& s, convgrad::Method method, int reps, const std::string& dir,
        bool passes) {
  using namespace convgrad;
  const auto x = signal<T>(1, s.x_size(), 1.0), r = signal<T>(4, s.y_size(), 1.0);
  const auto W = signal<T>(3, s.w_size(), 1.0 / std::sqrt(static_cast<double>(s.in_per_group() * s.K())));
  const auto bias = signal<T>(5, s.out_channels, 1.0);
  std::vector<T> y(s.y_size()), dx(s.x_size()), dW(s.w_size()), dbias(s.out_channels);
  const auto step = [&] {
    conv_channels<T>(x, W, bias, y, s, method);
    grad_channels<T>(x, W, r, dx, dW, dbias, s, method);
  };
  step();  // warm-up: plans, pages
  if (!dir.empty()) {
    dump(dir + "/y.f64", y), dump(dir + "/dx.f64", dx), dump(dir + "/dW.f64", dW),
        dump(dir + "/dbias.f64", dbias);
  }
  std::vector<double> wall, cpu;
  for (int i = 0; i < reps; ++i) {
    const double w0 = wall_seconds(), c0 = cpu_seconds();
    step();
    cpu.push_back(cpu_seconds() - c0);
    wall.push_back(wall_seconds() - w0);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  const Method chosen = method == Method::automatic ? choose_channel_method(s, sizeof(T)) : method;
  std::printf("{\"best_s\": %.9g, \"median_s\": %.9g, \"cpu_best_s\": %.9g, \"method\": \"%s\"", wall.front(),
              wall[wall.size() / 2], cpu.front(), std::string(to_string(chosen)).c_str());
  if (passes) {
    const std::span<T> none;
    const double forward = best_cpu(reps, [&] { conv_channels<T>(x, W, bias, y, s, method); });
    const double dx_only = best_cpu(reps, [&] { grad_channels<T>(x, W, r, dx, none, none, s, method); });
    const double dW_only = best_cpu(reps, [&] { grad_channels<T>(x, W, r, none, dW, none, s, method); });
    std::printf(", \"forward_cpu_s\": %.9g, \"dx_cpu_s\": %.9g, \"dW_cpu_s\": %.9g", forward, dx_only,
                dW_only);
  }
  std::printf("}\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool passes = argc == 13 && std::string(argv[12]) == "--passes";
  if (argc != 12 && argc != 14 && !passes) {
    std::fprintf(stderr,
                 "usage: convgrad_channels_step B C_IN C_OUT N K LO GROUPS float|double direct|fft|auto "
                 "THREADS REPS [--dump DIR | --passes]\n");
    return 2;
  }
  try {
    const auto arg = [&](int i) { return static_cast<std::size_t>(std::stoull(argv[i])); };
    convgrad::ChannelShape s =
        convgrad::same_shape(arg(1), arg(2), arg(3), arg(4),
                             convgrad::Taps::from_lo(std::stoll(argv[6]), std::stoll(argv[5])), arg(7));
    const std::string dtype = argv[8];
    const convgrad::Method method = convgrad::parse_method(argv[9]);
    omp_set_num_threads(std::stoi(argv[10]));
    const int reps = std::max(1, std::stoi(argv[11]));
    const std::string dir = argc == 14 ? argv[13] : "";
    return dtype == "float" ? run<float>(s, method, reps, dir, passes)
                            : run<double>(s, method, reps, dir, passes);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "convgrad_channels_step: %s\n", e.what());
    return 1;
  }
}
