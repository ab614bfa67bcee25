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
  // Pads a degenerate range so the axis has some extent.
  void settle() {
    if (empty()) lo = 0, hi = 1;
    if (lo == hi) {
      const double d = lo == 0 ? 1 : std::abs(lo) * 0.1;
      lo -= d, hi += d;
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

std::string svg(const Plot& plot, int width, int height) {
  const double left = 72, right = 16, top = 28, bottom = 44;
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
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" viewBox=\"0 0 " << width << ' ' << height << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
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

std::vector<double> magnitude_response(std::span<const double> h, Taps taps, std::size_t points) {
  std::vector<double> mag(points);
  for (std::size_t k = 0; k < points; ++k) {
    const double f = points > 1 ? 0.5 * static_cast<double>(k) / static_cast<double>(points - 1) : 0.0;
    std::complex<double> H = 0;
    for (std::size_t j = 0; j < h.size(); ++j) {
      const double m = static_cast<double>(taps.lo + static_cast<std::int64_t>(j));
      H += h[j] * std::polar(1.0, -2 * std::numbers::pi * f * m);
    }
    mag[k] = std::abs(H);
  }
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

std::string fit_page(const FitPage& page) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" << escape(page.title)
    << "</title>\n<style>body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}"
       "td:first-child{color:#555}figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}</style>\n"
       "</head><body>\n<h1>"
    << escape(page.title) << "</h1>\n<table>\n";
  for (const auto& [name, value] : page.facts)
    o << "<tr><td>" << escape(name) << "</td><td>" << escape(value) << "</td></tr>\n";
  o << "</table>\n";
  auto figure = [&](const Plot& plot, const std::string& caption) {
    o << "<figure>\n" << svg(plot) << "<figcaption>" << escape(caption) << "</figcaption></figure>\n";
  };
  const std::string blue = "#1f77b4", orange = "#ff7f0e";
  // 1. Loss curve.
  if (!page.loss_history.empty()) {
    Plot p{"Loss", "iteration", "F(h) (log scale)", true, {}};
    Series s{"loss F(h)", {}, {}, Style::line, blue};
    // The excess F - min F shows the rate of convergence once F itself has flattened at the
    // noise floor (a straight line on this axis is linear convergence).
    Series excess{"excess F(h) - min F", {}, {}, Style::line, orange};
    double lowest = std::numeric_limits<double>::infinity();
    for (const auto& [it, loss] : page.loss_history) lowest = std::min(lowest, loss);
    for (const auto& [it, loss] : page.loss_history) {
      s.x.push_back(it), s.y.push_back(loss);
      if (loss - lowest > 0) excess.x.push_back(it), excess.y.push_back(loss - lowest);
    }
    p.series.push_back(std::move(s));
    if (excess.x.size() > 1) p.series.push_back(std::move(excess));
    figure(p,
           "The objective F(h) = sum over pairs of 1/2 ||h * x - y||^2 + ridge/2 ||h||^2 at each iteration, "
           "and its excess over the lowest value reached.");
  } else {
    o << "<p>The exact solver solves the normal equations directly: there is no loss curve.</p>\n";
  }
  // 2. Taps.
  {
    Plot p{"Taps", "tap m", "h[m]", false, {}};
    Series learned{"learned", {}, page.h, Style::stems, blue};
    for (std::size_t j = 0; j < page.h.size(); ++j)
      learned.x.push_back(static_cast<double>(page.taps.lo) + static_cast<double>(j));
    if (page.h_true) {
      Series truth{"true", learned.x, *page.h_true, Style::dots, orange};
      p.series.push_back(std::move(learned));
      p.series.push_back(std::move(truth));
    } else {
      p.series.push_back(std::move(learned));
    }
    figure(p, "The learned filter h[m], m = " + std::to_string(page.taps.lo) + ".." +
                  std::to_string(page.taps.hi) +
                  (page.h_true ? " (filled), and the true taps (open circles)." : "."));
  }
  // 3. Residual.
  if (!page.residual.empty()) {
    const double scale = page.sample_rate ? 1.0 / *page.sample_rate : 1.0;
    Series s = envelope(page.residual, 1000, "", scale);
    s.colour = blue;
    Plot p{"Residual of the first pair",
           page.sample_rate ? "time (s)" : "sample n",
           "r[n] = yhat[n] - y[n]",
           false,
           {s}};
    figure(p, page.residual.size() > 2000
                  ? "The residual's envelope (minimum and maximum of each of 1000 stretches)."
                  : "The residual, sample by sample.");
  }
  // 4. Magnitude response.
  {
    const std::size_t points = 512;
    const double fs = page.sample_rate.value_or(1.0);
    Plot p{"Magnitude frequency response",
           page.sample_rate ? "frequency (Hz)" : "frequency (cycles per sample)",
           "|H(f)| (dB)",
           false,
           {}};
    auto db_series = [&](const std::vector<double>& h, std::string label, std::string colour) {
      const auto mag = magnitude_response(h, page.taps, points);
      Series s{std::move(label), {}, {}, Style::line, std::move(colour)};
      for (std::size_t k = 0; k < points; ++k) {
        s.x.push_back(0.5 * fs * static_cast<double>(k) / static_cast<double>(points - 1));
        s.y.push_back(20 * std::log10(std::max(mag[k], 1e-6)));  // floor at -120 dB
      }
      return s;
    };
    p.series.push_back(db_series(page.h, "learned", blue));
    if (page.h_true) p.series.push_back(db_series(*page.h_true, "true", orange));
    figure(p, "20 log10 |sum_m h[m] exp(-i 2 pi f m / fs)| from 0 to the Nyquist frequency" +
                  std::string(page.sample_rate ? " (fs = " + num(fs, 8) + " Hz)." : "."));
  }
  o << "</body></html>\n";
  return o.str();
}

}  // namespace convgrad::report
