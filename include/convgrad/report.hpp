// Pictures of a fit, drawn by our own code: SVG plots (lines, stems, log scale, ticks,
// legend) and one self-contained HTML page (inline SVG and CSS, no scripts, no network).
// Strings in, strings out: writing them to disk is the caller's job (io::write_file_atomic).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "convgrad/taps.hpp"

namespace convgrad::report {

enum class Style { line, stems, dots };

struct Series {
  std::string label;
  std::vector<double> x, y;
  Style style = Style::line;
  std::string colour = "#1f77b4";
};

struct Plot {
  std::string title, x_label, y_label;
  bool log_y = false;  // log10 axis; values <= 0 are drawn at the bottom of the axis
  std::vector<Series> series;
};

// An SVG element (width x height pixels) with axes, 1-2-5 ticks (decades on a log axis),
// labels and a legend. Non-finite points are skipped.
std::string svg(const Plot& plot, int width = 720, int height = 320);

// |H(f)| = |sum_m h[m] e^{-i 2 pi f m}| at `points` frequencies f_k = k / (2 (points - 1))
// cycles per sample, k = 0..points-1 (DC to Nyquist). |H| does not depend on where the
// taps start (a shift only changes the phase), but the range is taken for clarity.
std::vector<double> magnitude_response(std::span<const double> h, Taps taps, std::size_t points);

// A long signal reduced for drawing: the minimum and maximum of each of `bins` equal
// stretches, in order, so the polyline traces the envelope. Short signals come back whole.
// x is the sample index times `x_scale` (e.g. 1 / sample rate for seconds).
Series envelope(std::span<const double> v, std::size_t bins, std::string label, double x_scale = 1.0);

// What the fit report shows.
struct FitPage {
  std::string title;
  std::vector<std::pair<std::string, std::string>> facts;  // name, value (the summary table)
  Taps taps;
  std::vector<double> h;                                // learned taps
  std::optional<std::vector<double>> h_true;            // --true-h
  std::vector<std::pair<double, double>> loss_history;  // (iteration, loss); empty for exact
  std::vector<double> residual;                         // r = yhat - y of the first pair
  std::optional<double> sample_rate;                    // Hz, when known
};

// One self-contained HTML page: the facts, the loss curve (log scale), the learned (and true)
// taps, the residual and the magnitude frequency response (in Hz when the rate is known).
std::string fit_page(const FitPage& page);

// Escapes &, <, >, " and ' for HTML and SVG text.
std::string escape(const std::string& text);

}  // namespace convgrad::report
