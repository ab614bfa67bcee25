// The streaming commands' chunk size and progress line (see streaming.hpp).
#include "streaming.hpp"

#include <unistd.h>

#include <algorithm>
#include <limits>
#include <cstdio>
#include <vector>

#include "convgrad/ops.hpp"

#include "options.hpp"

namespace convgrad::cli {

void filter_chunks(io::SignalReader& x, std::span<const double> h, Taps taps, Method method,
                   std::uint64_t rows,
                   const std::function<void(std::uint64_t first, std::span<const double> yhat,
                                            std::span<const double> x_rows)>& emit) {
  const std::uint64_t N = x.length();
  const auto before = static_cast<std::uint64_t>(std::max<std::int64_t>(taps.hi, 0));
  const auto after = static_cast<std::uint64_t>(std::max<std::int64_t>(-taps.lo, 0));
  std::vector<double> window;
  for (std::uint64_t a = 0; a < N; a += rows) {
    const std::uint64_t b = std::min(N, a + rows);
    const bool whole = a == 0 && b == N;
    window.resize(whole ? N : before + (b - a) + after);
    x.read(whole ? 0 : static_cast<std::int64_t>(a) - static_cast<std::int64_t>(before), window);
    const std::vector<double> yhat = conv<double>(window, h, taps, method);
    const std::size_t at = whole ? 0 : before;
    emit(a, std::span<const double>(yhat).subspan(at, b - a),
         std::span<const double>(window).subspan(at, b - a));
  }
}

std::uint64_t chunk_rows_option(const std::optional<std::int64_t>& rows) {
  if (!rows) return static_cast<std::uint64_t>(kStreamRows);
  require_option_range("--chunk-rows", *rows, 1, std::int64_t{1} << 34, "rows of signal per chunk read");
  return static_cast<std::uint64_t>(*rows);
}

ByteProgress::ByteProgress(bool quiet, bool asked) : on_(!quiet && (asked || isatty(STDERR_FILENO))) {}

void ByteProgress::operator()(std::uint64_t done, std::uint64_t total) {
  if (!on_) return;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (s - last_ < 0.1) return;
  last_ = s;
  const double rate = s > 0 ? static_cast<double>(done) / s : 0;  // bytes per second
  const double left = rate > 0 && total > done ? static_cast<double>(total - done) / rate : 0;
  if (total > 0)
    std::fprintf(stderr, "\r  read %.3g of %.3g MB  %.0f MB/s  ~%.0f s left   ",
                 static_cast<double>(done) / 1e6, static_cast<double>(total) / 1e6, rate / 1e6, left);
  else
    std::fprintf(stderr, "\r  read %.3g MB  %.0f MB/s   ", static_cast<double>(done) / 1e6, rate / 1e6);
  std::fflush(stderr);
  shown_ = true;
}

void ByteProgress::finish() {
  if (shown_) std::fprintf(stderr, "\r%80s\r", "");
  shown_ = false;
}

KeptForPlot::KeptForPlot(std::uint64_t n) : n_(n), whole_(n <= 2 * kStretches) {
  kept_.resize(whole_ ? n : 2 * kStretches);
  if (!whole_)
    for (std::size_t s = 0; s < kStretches; ++s)
      kept_[2 * s] = std::numeric_limits<double>::infinity(), kept_[2 * s + 1] = -kept_[2 * s];
}

void KeptForPlot::add(std::uint64_t first, std::span<const double> v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (whole_) {
      kept_[first + i] = v[i];
    } else {
      const std::uint64_t s = (first + i) * kStretches / n_;
      kept_[2 * s] = std::min(kept_[2 * s], v[i]);
      kept_[2 * s + 1] = std::max(kept_[2 * s + 1], v[i]);
    }
  }
}

}  // namespace convgrad::cli
