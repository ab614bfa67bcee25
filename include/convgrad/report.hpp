// Pictures of a fit, drawn by our own code: SVG plots (lines, stems, log scale, ticks,
// legend) and one self-contained HTML page (inline SVG and CSS, no scripts, no network).
// Strings in, strings out: writing them to disk is the caller's job (io::write_file_atomic).
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
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

// A vertical line across a plot at x, labelled (where a filter diverged, say).
struct Mark {
  double x = 0;
  std::string label;
};

struct Plot {
  std::string title, x_label, y_label;
  bool log_y = false;  // log10 axis; values <= 0 are drawn at the bottom of the axis
  std::vector<Series> series;
  // A second x axis along the top, reading x * top_scale (the taps' time in seconds, say).
  std::optional<double> top_scale;
  std::string top_label;
  std::vector<Mark> marks;
};

// An SVG element (width x height pixels) with axes, 1-2-5 ticks (decades on a log axis),
// labels and a legend. Non-finite points are skipped.
std::string svg(const Plot& plot, int width = 720, int height = 320);

// A standalone SVG document (XML declaration, one <svg> root) with the plots stacked top to
// bottom, each width x height: what `--plot FILE.svg` writes.
std::string svg_document(const std::vector<Plot>& plots, int width = 720, int height = 320);

struct Figure;
// The figures' plots as one SVG document (svg_document), without their captions.
std::string svg_document(const std::vector<Figure>& figures, int width = 720, int height = 320);

// H(f) = sum_{m=lo..hi} h[m] e^{-i 2 pi f m} at `points` frequencies f_k = k / (2 (points - 1))
// cycles per sample, k = 0..points-1 (DC to Nyquist).
std::vector<std::complex<double>> frequency_response(std::span<const double> h, Taps taps,
                                                     std::size_t points);

// |H(f)| at the same frequencies. |H| does not depend on where the taps start (a shift only
// changes the phase), but the range is taken for clarity.
std::vector<double> magnitude_response(std::span<const double> h, Taps taps, std::size_t points);

// ---- the pictures of a filter (the HTML reports and --plot draw the same) -------------------

// A plot and the sentence the HTML report puts under it.
struct Figure {
  Plot plot;
  std::string caption;
};

// What the filter pictures show: the taps (and the true ones), in samples and, when the rate
// is known, in seconds along the top; the magnitude (dB) and unwrapped phase (degrees) of
// H(f) from DC to Nyquist, in Hz when the rate is known.
struct FilterView {
  Taps taps;
  std::vector<double> h;
  std::optional<std::vector<double>> h_true;
  std::optional<double> sample_rate;
  std::string taps_title = "Taps";
};
Figure taps_figure(const FilterView& f);
Figure magnitude_figure(const FilterView& f);
Figure phase_figure(const FilterView& f);

// The loss F(h) of an iterative solver per iteration, log scale, with its excess over the
// lowest value reached.
Figure loss_figure(const std::vector<std::pair<double, double>>& loss_history);

// A signal over time (its envelope when long), in seconds when the rate is known. `samples`,
// when not 0, is how many samples v stands for (v then the minima and maxima of equal stretches
// of a longer signal, in order): the time axis spans them.
Figure signal_figure(std::span<const double> v, const std::string& title, const std::string& y_label,
                     std::optional<double> sample_rate, const std::string& colour = "#1f77b4",
                     std::uint64_t samples = 0);

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
  std::uint64_t residual_samples = 0;  // how many samples `residual` stands for (signal_figure)
  std::optional<double> sample_rate;   // Hz, when known
};

// The fit's pictures: the loss curve (iterative solvers), the learned (and true) taps, the
// residual, and the magnitude and phase response (in Hz when the rate is known).
std::vector<Figure> fit_figures(const FitPage& page);

// One self-contained HTML page: the facts and fit_figures with their captions.
std::string fit_page(const FitPage& page);

// What the adaptive filter's report shows (convgrad adapt --report).
struct AdaptPage {
  std::string title;
  std::vector<std::pair<std::string, std::string>> facts;
  std::uint64_t window = 0;                  // samples per ERLE window
  std::vector<double> erle_db;               // per window, 10 log10(sum y^2 / sum e^2)
  std::vector<double> misalignment;          // per window, ||h - h_true|| / ||h_true|| (with --true-h)
  std::optional<std::uint64_t> diverged_at;  // the sample where the filter diverged
  FilterView filter;                         // the taps learned (at the end, or when it diverged)
};

// ERLE over time, the misalignment over time (when known), the taps, the magnitude and phase
// response; a line marks where the filter diverged.
std::vector<Figure> adapt_figures(const AdaptPage& page);

// One self-contained HTML page: the facts and adapt_figures with their captions.
std::string adapt_page(const AdaptPage& page);

// Escapes &, <, >, " and ' for HTML and SVG text.
std::string escape(const std::string& text);

}  // namespace convgrad::report
