// SVG plots and the HTML fit report, drawn by hand: a plot maps data coordinates to pixels
// linearly (or through log10), draws ticks at 1-2-5 steps, and each series as a polyline,
// stems or dots. No scripts, no external resources: the page renders offline.
#include "convgrad/report.hpp"
#include "convgrad/numbers.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <limits>
#include <numbers>
#include <sstream>

namespace convgrad::report {
namespace {

std::string num(double v, int digits = 4) { return format_number(v, digits); }

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Tick positions covering [lo, hi] at a 1-2-5 step giving about `target` ticks.
std::vector<double> nice_ticks(double lo, double hi, int target = 5) {
  const double span = hi - lo;
  if (!(span > 0)) return {lo};
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (const double f : {1.0, 2.0, 5.0, 10.0})
    if (f * mag >= raw) {
      step = f * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
  // Pads a degenerate range so the axis has some extent. A range of rounding noise (|H| = 1
  // computed as 1 +- 1e-16, i.e. +-1e-15 dB) counts as degenerate: spread over the whole axis,
  // the noise would look like a signal.
  void settle() {
    if (empty()) lo = 0, hi = 1;
    if (hi - lo <= 1e-9 * std::max({1.0, std::abs(lo), std::abs(hi)})) {
      const double mid = 0.5 * (lo + hi), d = std::abs(mid) < 1e-9 ? 1 : std::abs(mid) * 0.1;
      lo = mid - d, hi = mid + d;
    }
  }
};

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// The plot as an <svg> element; `y` places it inside an outer document (0: standalone).
std::string draw(const Plot& plot, int width, int height, int y) {
  const double left = 72, right = 16, top = plot.top_scale ? 48 : 28, bottom = 44;
  const double W = width - left - right, H = height - top - bottom;
  // Data ranges; on a log axis, y is log10(y) and non-positive values sit at the bottom.
  Range xr, yr;
  for (const auto& s : plot.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      xr.add(s.x[i]);
      if (plot.log_y) {
        if (s.y[i] > 0) yr.add(std::log10(s.y[i]));
      } else {
        yr.add(s.y[i]);
        if (s.style == Style::stems) yr.add(0);
      }
    }
  xr.settle();
  yr.settle();
  // Stems and dots at the ends of the x range would sit on the frame: a little air beside them.
  if (std::any_of(plot.series.begin(), plot.series.end(),
                  [](const Series& s) { return s.style != Style::line; })) {
    const double pad = 0.03 * (xr.hi - xr.lo);
    xr.lo -= pad, xr.hi += pad;
  }
  if (!plot.log_y) {  // a little air above and below
    const double pad = 0.05 * (yr.hi - yr.lo);
    yr.lo -= pad, yr.hi += pad;
  } else {
    yr.lo = std::floor(yr.lo), yr.hi = std::max(std::ceil(yr.hi), yr.lo + 1);
  }
  auto X = [&](double v) { return left + (v - xr.lo) / (xr.hi - xr.lo) * W; };
  auto Y = [&](double v) {
    const double t = plot.log_y ? (v > 0 ? std::log10(v) : yr.lo) : v;
    return top + (yr.hi - std::clamp(t, yr.lo, yr.hi)) / (yr.hi - yr.lo) * H;
  };
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\"";
  if (y != 0) o << " x=\"0\" y=\"" << y << '"';
  o << " width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 " << width << ' ' << height
    << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  o << "<rect x=\"0\" y=\"0\" width=\"" << width << "\" height=\"" << height << "\" fill=\"white\"/>\n";
  o << "<text x=\"" << px(left) << "\" y=\"18\" font-size=\"13\" font-weight=\"bold\">" << escape(plot.title)
    << "</text>\n";
  // Grid and ticks.
  for (const double t : nice_ticks(xr.lo, xr.hi, 6)) {
    o << "<line x1=\"" << px(X(t)) << "\" y1=\"" << px(top) << "\" x2=\"" << px(X(t)) << "\" y2=\""
      << px(top + H) << "\" stroke=\"#e5e5e5\"/>";
    o << "<text x=\"" << px(X(t)) << "\" y=\"" << px(top + H + 15) << "\" text-anchor=\"middle\">" << num(t)
      << "</text>\n";
  }
  if (plot.top_scale) {  // the second x axis: ticks at nice values of x * scale, along the top
    const double k = *plot.top_scale;
    for (const double t : nice_ticks(xr.lo * k, xr.hi * k, 6))
      o << "<line x1=\"" << px(X(t / k)) << "\" y1=\"" << px(top) << "\" x2=\"" << px(X(t / k)) << "\" y2=\""
        << px(top - 4) << "\" stroke=\"#333\"/><text x=\"" << px(X(t / k)) << "\" y=\"" << px(top - 7)
        << "\" text-anchor=\"middle\">" << num(t) << "</text>\n";
    o << "<text x=\"" << px(left + W) << "\" y=\"18\" text-anchor=\"end\">" << escape(plot.top_label)
      << " (top axis)</text>\n";
  }
  std::vector<double> yt;
  if (plot.log_y) {
    const int decades = static_cast<int>(yr.hi - yr.lo);
    const int every = std::max(1, decades / 6);
    for (int d = static_cast<int>(yr.lo); d <= static_cast<int>(yr.hi); d += every) yt.push_back(d);
  } else {
    yt = nice_ticks(yr.lo, yr.hi, 5);
  }
  for (const double t : yt) {
    const double y = plot.log_y ? top + (yr.hi - t) / (yr.hi - yr.lo) * H : Y(t);
    o << "<line x1=\"" << px(left) << "\" y1=\"" << px(y) << "\" x2=\"" << px(left + W) << "\" y2=\"" << px(y)
      << "\" stroke=\"" << (t == 0 && !plot.log_y ? "#999" : "#e5e5e5") << "\"/>";
    o << "<text x=\"" << px(left - 6) << "\" y=\"" << px(y + 4) << "\" text-anchor=\"end\">"
      << (plot.log_y ? "1e" + num(t) : num(t)) << "</text>\n";
  }
  o << "<rect x=\"" << px(left) << "\" y=\"" << px(top) << "\" width=\"" << px(W) << "\" height=\"" << px(H)
    << "\" fill=\"none\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << px(left + W / 2) << "\" y=\"" << height - 8 << "\" text-anchor=\"middle\">"
    << escape(plot.x_label) << "</text>\n";
  o << "<text transform=\"translate(14," << px(top + H / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << escape(plot.y_label) << "</text>\n";
  // Series.
  for (const auto& s : plot.series) {
    const std::size_t n = std::min(s.x.size(), s.y.size());
    if (s.style == Style::line) {
      o << "<polyline fill=\"none\" stroke=\"" << s.colour << "\" stroke-width=\"1.5\" points=\"";
      for (std::size_t i = 0; i < n; ++i)
        if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) o << px(X(s.x[i])) << ',' << px(Y(s.y[i])) << ' ';
      o << "\"/>\n";
    } else {
      const double r = n > 200 ? 1.5 : 3;
      for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        if (s.style == Style::stems)
          o << "<line x1=\"" << px(X(s.x[i])) << "\" y1=\"" << px(Y(0)) << "\" x2=\"" << px(X(s.x[i]))
            << "\" y2=\"" << px(Y(s.y[i])) << "\" stroke=\"" << s.colour << "\"/>";
        o << "<circle cx=\"" << px(X(s.x[i])) << "\" cy=\"" << px(Y(s.y[i])) << "\" r=\"" << r << "\" fill=\""
          << (s.style == Style::dots ? "none" : s.colour) << "\" stroke=\"" << s.colour << "\"/>";
      }
      o << '\n';
    }
  }
  // Marks: dashed vertical lines, labelled at their top.
  for (const Mark& m : plot.marks) {
    if (!std::isfinite(m.x)) continue;
    const double mx = X(std::clamp(m.x, xr.lo, xr.hi));
    o << "<line x1=\"" << px(mx) << "\" y1=\"" << px(top) << "\" x2=\"" << px(mx) << "\" y2=\"" << px(top + H)
      << "\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/><text x=\"" << px(mx - 4)
      << "\" y=\"" << px(top + H - 6) << "\" text-anchor=\"end\" fill=\"#d62728\">" << escape(m.label)
      << "</text>\n";
  }
  // Legend, top right, on a white panel so lines under it do not cross the labels.
  double ly = top + 14;
  std::size_t labelled = 0;
  for (const auto& s : plot.series) labelled += s.label.empty() ? 0 : 1;
  if (labelled > 0)
    o << "<rect x=\"" << px(left + W - 156) << "\" y=\"" << px(top + 3) << "\" width=\"152\" height=\""
      << px(15.0 * static_cast<double>(labelled) + 4) << "\" fill=\"white\" fill-opacity=\"0.85\"/>\n";
  for (const auto& s : plot.series) {
    if (s.label.empty()) continue;
    const double lx = left + W - 150;
    o << "<line x1=\"" << px(lx) << "\" y1=\"" << px(ly - 4) << "\" x2=\"" << px(lx + 18) << "\" y2=\""
      << px(ly - 4) << "\" stroke=\"" << s.colour << "\" stroke-width=\"2\"/>";
    o << "<text x=\"" << px(lx + 24) << "\" y=\"" << px(ly) << "\">" << escape(s.label) << "</text>\n";
    ly += 15;
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace

std::string svg(const Plot& plot, int width, int height) { return draw(plot, width, height, 0); }

std::string svg_document(const std::vector<Plot>& plots, int width, int height) {
  const int total = height * static_cast<int>(std::max<std::size_t>(plots.size(), 1));
  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""
    << width << "\" height=\"" << total << "\" viewBox=\"0 0 " << width << ' ' << total << "\">\n"
    << "<rect x=\"0\" y=\"0\" width=\"" << width << "\" height=\"" << total << "\" fill=\"white\"/>\n";
  for (std::size_t i = 0; i < plots.size(); ++i)
    o << draw(plots[i], width, height, height * static_cast<int>(i));
  o << "</svg>\n";
  return o.str();
}

std::string svg_document(const std::vector<Figure>& figures, int width, int height) {
  std::vector<Plot> plots;
  for (const Figure& f : figures) plots.push_back(f.plot);
  return svg_document(plots, width, height);
}

std::vector<std::complex<double>> frequency_response(std::span<const double> h, Taps taps,
                                                     std::size_t points) {
  std::vector<std::complex<double>> H(points);
  for (std::size_t k = 0; k < points; ++k) {
    const double f = points > 1 ? 0.5 * static_cast<double>(k) / static_cast<double>(points - 1) : 0.0;
    for (std::size_t j = 0; j < h.size(); ++j) {
      const double m = static_cast<double>(taps.lo + static_cast<std::int64_t>(j));
      H[k] += h[j] * std::polar(1.0, -2 * std::numbers::pi * f * m);
    }
  }
  return H;
}

std::vector<double> magnitude_response(std::span<const double> h, Taps taps, std::size_t points) {
  std::vector<double> mag;
  for (const std::complex<double>& H : frequency_response(h, taps, points)) mag.push_back(std::abs(H));
  return mag;
}

Series envelope(std::span<const double> v, std::size_t bins, std::string label, double x_scale) {
  Series s;
  s.label = std::move(label);
  if (v.size() <= 2 * bins) {
    for (std::size_t n = 0; n < v.size(); ++n)
      s.x.push_back(static_cast<double>(n) * x_scale), s.y.push_back(v[n]);
    return s;
  }
  for (std::size_t b = 0; b < bins; ++b) {
    const std::size_t n0 = v.size() * b / bins, n1 = v.size() * (b + 1) / bins;
    const auto [mn, mx] = std::minmax_element(v.begin() + n0, v.begin() + n1);
    const double x = static_cast<double>(n0) * x_scale;
    const bool min_first = mn < mx;  // keep the order in which they occur
    s.x.push_back(x), s.y.push_back(min_first ? *mn : *mx);
    s.x.push_back(x), s.y.push_back(min_first ? *mx : *mn);
  }
  return s;
}

namespace {

const std::string blue = "#1f77b4", orange = "#ff7f0e";
constexpr std::size_t kResponsePoints = 512;

// The frequencies of frequency_response in Hz (cycles per sample without a rate).
std::vector<double> response_frequencies(std::optional<double> rate) {
  std::vector<double> f(kResponsePoints);
  for (std::size_t k = 0; k < kResponsePoints; ++k)
    f[k] = 0.5 * rate.value_or(1.0) * static_cast<double>(k) / static_cast<double>(kResponsePoints - 1);
  return f;
}

std::string frequency_label(std::optional<double> rate) {
  return rate ? "frequency (Hz)" : "frequency (cycles per sample)";
}

std::string nyquist_note(std::optional<double> rate) {
  return rate ? " (fs = " + num(*rate, 8) + " Hz)." : ".";
}

// 20 log10 |H| (floored at -120 dB, where |H| = 0 has no logarithm).
Series magnitude_series(const FilterView& f, const std::vector<double>& h, std::string label,
                        std::string colour) {
  Series s{std::move(label), response_frequencies(f.sample_rate), {}, Style::line, std::move(colour)};
  for (const double m : magnitude_response(h, f.taps, kResponsePoints))
    s.y.push_back(20 * std::log10(std::max(m, 1e-6)));
  return s;
}

// arg H in degrees, unwrapped: a jump of more than 180 degrees between neighbouring
// frequencies is a wrap of the principal value, so a whole turn is added or taken away.
Series phase_series(const FilterView& f, const std::vector<double>& h, std::string label,
                    std::string colour) {
  Series s{std::move(label), response_frequencies(f.sample_rate), {}, Style::line, std::move(colour)};
  double turns = 0, previous = 0;
  for (const std::complex<double>& H : frequency_response(h, f.taps, kResponsePoints)) {
    const double deg = std::arg(H) * 180 / std::numbers::pi;
    if (!s.y.empty()) turns += std::round((previous - deg) / 360);
    previous = deg;
    s.y.push_back(deg + 360 * turns);
  }
  return s;
}

std::string range_text(Taps t) { return "m = " + std::to_string(t.lo) + ".." + std::to_string(t.hi); }

}  // namespace

Figure taps_figure(const FilterView& f) {
  Plot p{f.taps_title, "tap m (samples)", "h[m]", false, {}, std::nullopt, "", {}};
  Series learned{"learned", {}, f.h, Style::stems, blue};
  for (std::size_t j = 0; j < f.h.size(); ++j)
    learned.x.push_back(static_cast<double>(f.taps.lo) + static_cast<double>(j));
  const std::vector<double> m = learned.x;
  p.series.push_back(std::move(learned));
  if (f.h_true) p.series.push_back({"true", m, *f.h_true, Style::dots, orange});
  if (f.sample_rate) {  // the same taps in time: tap m acts m / fs seconds after its input
    const double span = static_cast<double>(f.taps.K()) / *f.sample_rate;
    const double unit = span < 1e-3 ? 1e6 : span < 1 ? 1e3 : 1;
    p.top_scale = unit / *f.sample_rate;
    p.top_label = unit == 1e6 ? "time (us)" : unit == 1e3 ? "time (ms)" : "time (s)";
  }
  return {std::move(p), "The filter h[m], " + range_text(f.taps) +
                            (f.h_true ? " (filled), and the true taps (open circles)" : "") +
                            (f.sample_rate ? "; the top axis reads the tap delay m / fs in time." : ".")};
}

Figure magnitude_figure(const FilterView& f) {
  Plot p{
      "Magnitude response", frequency_label(f.sample_rate), "|H(f)| (dB)", false, {}, std::nullopt, "", {}};
  p.series.push_back(magnitude_series(f, f.h, "learned", blue));
  if (f.h_true) p.series.push_back(magnitude_series(f, *f.h_true, "true", orange));
  return {std::move(p), "20 log10 |sum_m h[m] exp(-i 2 pi f m / fs)| from 0 to the Nyquist frequency" +
                            nyquist_note(f.sample_rate)};
}

Figure phase_figure(const FilterView& f) {
  Plot p{"Phase response",
         frequency_label(f.sample_rate),
         "arg H(f) (degrees, unwrapped)",
         false,
         {},
         std::nullopt,
         "",
         {}};
  p.series.push_back(phase_series(f, f.h, "learned", blue));
  if (f.h_true) p.series.push_back(phase_series(f, *f.h_true, "true", orange));
  return {std::move(p),
          "The phase of H(f), unwrapped; a delay of d samples adds a slope of -360 d degrees per "
          "unit of f / fs" +
              nyquist_note(f.sample_rate)};
}

Figure loss_figure(const std::vector<std::pair<double, double>>& loss_history) {
  Plot p{"Loss", "iteration", "F(h) (log scale)", true, {}, std::nullopt, "", {}};
  Series s{"loss F(h)", {}, {}, Style::line, blue};
  // The excess F - min F shows the rate of convergence once F itself has flattened at the
  // noise floor (a straight line on this axis is linear convergence).
  Series excess{"excess F(h) - min F", {}, {}, Style::line, orange};
  double lowest = std::numeric_limits<double>::infinity();
  for (const auto& [it, loss] : loss_history) lowest = std::min(lowest, loss);
  for (const auto& [it, loss] : loss_history) {
    s.x.push_back(it), s.y.push_back(loss);
    if (loss - lowest > 0) excess.x.push_back(it), excess.y.push_back(loss - lowest);
  }
  p.series.push_back(std::move(s));
  if (excess.x.size() > 1) p.series.push_back(std::move(excess));
  return {std::move(p),
          "The objective F(h) = sum over pairs of 1/2 ||h * x - y||^2 + ridge/2 ||h||^2 at each iteration, "
          "and its excess over the lowest value reached."};
}

Figure signal_figure(std::span<const double> v, const std::string& title, const std::string& y_label,
                     std::optional<double> sample_rate, const std::string& colour, std::uint64_t samples) {
  // Entry i of v is at sample i (or, standing for `samples` samples, at i samples / |v|).
  const double per_entry =
      samples != 0 && !v.empty() ? static_cast<double>(samples) / static_cast<double>(v.size()) : 1.0;
  Series s = envelope(v, 1000, "", per_entry * (sample_rate ? 1.0 / *sample_rate : 1.0));
  s.colour = colour;
  Plot p{title, sample_rate ? "time (s)" : "sample n", y_label, false, {std::move(s)}, std::nullopt, "", {}};
  return {std::move(p), v.size() > 2000 ? "The envelope (minimum and maximum of each of 1000 stretches)."
                                        : "Sample by sample."};
}

std::vector<Figure> fit_figures(const FitPage& page) {
  std::vector<Figure> figures;
  if (!page.loss_history.empty()) figures.push_back(loss_figure(page.loss_history));
  const FilterView f{page.taps, page.h, page.h_true, page.sample_rate, "Taps"};
  figures.push_back(taps_figure(f));
  if (!page.residual.empty())
    figures.push_back(signal_figure(page.residual, "Residual of the first pair", "r[n] = yhat[n] - y[n]",
                                    page.sample_rate, "#1f77b4", page.residual_samples));
  figures.push_back(magnitude_figure(f));
  figures.push_back(phase_figure(f));
  return figures;
}

namespace {

// The page around the facts and figures: inline CSS and SVG only, nothing fetched.
std::string html_page(const std::string& title, const std::vector<std::pair<std::string, std::string>>& facts,
                      const std::vector<Figure>& figures, const std::string& note) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" << escape(title)
    << "</title>\n<style>body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}"
       "td:first-child{color:#555}figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}</style>\n"
       "</head><body>\n<h1>"
    << escape(title) << "</h1>\n<table>\n";
  for (const auto& [name, value] : facts)
    o << "<tr><td>" << escape(name) << "</td><td>" << escape(value) << "</td></tr>\n";
  o << "</table>\n";
  if (!note.empty()) o << "<p>" << escape(note) << "</p>\n";
  for (const Figure& f : figures)
    o << "<figure>\n" << svg(f.plot) << "<figcaption>" << escape(f.caption) << "</figcaption></figure>\n";
  o << "</body></html>\n";
  return o.str();
}

}  // namespace

std::string fit_page(const FitPage& page) {
  return html_page(page.title, page.facts, fit_figures(page),
                   page.loss_history.empty()
                       ? "The exact solver solves the normal equations directly: there is no loss curve."
                       : "");
}

std::vector<Figure> adapt_figures(const AdaptPage& page) {
  const std::optional<double> rate = page.filter.sample_rate;
  // Window w covers samples [w W, (w + 1) W): drawn at its end, when its figure is known.
  auto window_end = [&](std::size_t w) {
    const double n = static_cast<double>((w + 1) * page.window);
    return rate ? n / *rate : n;
  };
  const std::string time_label = rate ? "time (s)" : "sample n";
  std::vector<Mark> marks;
  if (page.diverged_at) {
    const double n = static_cast<double>(*page.diverged_at);
    marks.push_back({rate ? n / *rate : n, "diverged at sample " + std::to_string(*page.diverged_at)});
  }
  std::vector<Figure> figures;
  {
    Plot p{"ERLE", time_label, "ERLE (dB)", false, {}, std::nullopt, "", marks};
    Series s{"", {}, {}, page.erle_db.size() > 1 ? Style::line : Style::dots, blue};
    for (std::size_t w = 0; w < page.erle_db.size(); ++w)
      s.x.push_back(window_end(w)), s.y.push_back(page.erle_db[w]);
    p.series.push_back(std::move(s));
    figures.push_back({std::move(p), "Echo return loss enhancement per window of " +
                                         std::to_string(page.window) +
                                         " samples: 10 log10(sum y^2 / sum e^2), how much of the target the "
                                         "filter removes (higher is better; a silent window has none)."});
  }
  if (!page.misalignment.empty()) {
    Plot p{"Misalignment", time_label, "||h - h_true|| / ||h_true|| (log scale)", true, {}, std::nullopt, "",
           marks};
    Series s{"", {}, {}, page.misalignment.size() > 1 ? Style::line : Style::dots, orange};
    for (std::size_t w = 0; w < page.misalignment.size(); ++w)
      s.x.push_back(window_end(w)), s.y.push_back(page.misalignment[w]);
    p.series.push_back(std::move(s));
    figures.push_back(
        {std::move(p), "The distance of the taps from the true filter at the end of each window."});
  }
  figures.push_back(taps_figure(page.filter));
  figures.push_back(magnitude_figure(page.filter));
  figures.push_back(phase_figure(page.filter));
  return figures;
}

std::string adapt_page(const AdaptPage& page) {
  return html_page(page.title, page.facts, adapt_figures(page),
                   page.diverged_at ? "The filter diverged at sample " + std::to_string(*page.diverged_at) +
                                          " (the dashed line); the taps shown are those it had then."
                                    : "");
}

}  // namespace convgrad::report
