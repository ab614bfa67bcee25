"""Pictures as files (issue 14 item 4) and the adaptive filter's report (issue 12 item 3).

--plot FILE.svg|.png on fit, grad, apply and adapt draws the same pictures as the HTML
reports, from src/report's one SVG writer. Each is checked as a user would see it: the SVG
parses as XML, rsvg-convert (Debian's librsvg2-bin, what the command itself runs for .png)
renders it, and the rendered image is not blank: a good share of its pixels is not the white
background, and it holds the plot colours."""
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import scipy.io.wavfile
from PIL import Image

RATE = 16000
SVG = "{http://www.w3.org/2000/svg}"

needs_rsvg = pytest.mark.skipif(shutil.which("rsvg-convert") is None, reason="rsvg-convert (librsvg2-bin) missing")


def panels(svg_path):
    """The titles of the stacked plots of a --plot SVG (each is one nested <svg>)."""
    root = ET.parse(svg_path).getroot()  # well-formed XML, or this raises
    assert root.tag == SVG + "svg"
    titles = []
    for panel in root.findall(SVG + "svg"):
        bold = [t.text for t in panel.iter(SVG + "text") if t.get("font-weight") == "bold"]
        titles.append(bold[0])
    return titles


def image_stats(png_path):
    """(fraction of pixels that are not white, number of distinct colours) of a PNG."""
    img = np.asarray(Image.open(png_path).convert("RGB")).astype(int)
    not_white = np.any(img < 250, axis=2)
    colours = len(np.unique(img.reshape(-1, 3), axis=0))
    return not_white.mean(), colours, img.shape


def assert_drawn(png_path, n_panels):
    frac, colours, shape = image_stats(png_path)
    assert shape[0] == 320 * n_panels and shape[1] == 720
    # Axes, ticks, labels and the curves: far from blank, far from filled.
    assert 0.02 < frac < 0.6, frac
    assert colours > 20, colours
    img = np.asarray(Image.open(png_path).convert("RGB")).astype(int)
    blue = np.all(np.abs(img - [0x1F, 0x77, 0xB4]) < 30, axis=2).sum()
    assert blue > 200, blue  # the learned taps / curves are drawn in the plot blue


def render(svg_path, png_path):
    subprocess.run(["rsvg-convert", "--format", "png", "-o", str(png_path), str(svg_path)], check=True)


@pytest.fixture
def system(tmp_path):
    rng = np.random.default_rng(21)
    x = rng.standard_normal(4000)
    h = np.array([0.1, 0.5, 1.0, -0.4, 0.2])
    y = np.convolve(x, h)[2:2 + len(x)] + 0.01 * rng.standard_normal(len(x))
    scipy.io.wavfile.write(tmp_path / "x.wav", RATE, (0.3 * x).astype(np.float32))
    scipy.io.wavfile.write(tmp_path / "y.wav", RATE, (0.3 * y).astype(np.float32))
    np.savetxt(tmp_path / "x.txt", x)
    np.savetxt(tmp_path / "y.txt", y)
    np.save(tmp_path / "h.npy", h)
    return tmp_path


@needs_rsvg
@pytest.mark.parametrize("solver, titles", [
    ("gd", ["Loss", "Taps", "Residual of the first pair", "Magnitude response", "Phase response"]),
    ("exact", ["Taps", "Residual of the first pair", "Magnitude response", "Phase response"]),
])
def test_fit_plot_svg_and_png(run_cli, system, solver, titles):
    d = system
    args = ["fit", "--x", d / "x.wav", "--y", d / "y.wav", "--half-width", 2, "--out", d / "h.json",
            "--solver", solver, "--max-iter", 300, "--true-h", d / "h.npy"]
    if solver == "exact":
        args.remove("--max-iter"), args.remove(300)
    p = run_cli(*args, "--plot", d / "p.svg", "--report", d / "r.html")
    assert p.returncode == 0, p.stderr
    assert panels(d / "p.svg") == titles
    text = (d / "p.svg").read_text()
    # The WAV's rate: frequencies in Hz and the taps' time along the top axis.
    assert "frequency (Hz)" in text and "time (us) (top axis)" in text and "true" in text
    # The same pictures as the HTML report: each panel is one of the report's figures.
    page = (d / "r.html").read_text()
    assert len(re.findall(r"<svg ", page)) == len(titles)
    render(d / "p.svg", d / "rendered.png")
    assert_drawn(d / "rendered.png", len(titles))
    p = run_cli(*args, "--plot", d / "p.png")
    assert p.returncode == 0, p.stderr
    assert_drawn(d / "p.png", len(titles))


@needs_rsvg
def test_grad_and_apply_plots(run_cli, system):
    d = system
    p = run_cli("grad", "--x", d / "x.txt", "--y", d / "y.txt", "--h", d / "h.npy", "--plot", d / "g.png")
    assert p.returncode == 0, p.stderr
    assert_drawn(d / "g.png", 5)
    p = run_cli("grad", "--x", d / "x.txt", "--y", d / "y.txt", "--h", d / "h.npy", "--plot", d / "g.svg")
    assert panels(d / "g.svg") == ["Taps h", "Gradient dL/dh", "Residual", "Magnitude response", "Phase response"]
    # No sample rate (text inputs): no time axis, frequency in cycles per sample.
    assert "top axis" not in (d / "g.svg").read_text()
    assert "cycles per sample" in (d / "g.svg").read_text()
    p = run_cli("apply", "--h", d / "h.npy", "--x", d / "x.wav", "--out", d / "o.wav", "--plot", d / "a.svg")
    assert p.returncode == 0, p.stderr
    assert panels(d / "a.svg") == ["Taps", "Magnitude response", "Phase response", "Input", "Output"]
    render(d / "a.svg", d / "a.png")
    assert_drawn(d / "a.png", 5)


def test_phase_and_magnitude_are_those_of_the_taps(run_cli, system):
    """A pure delay of d samples: |H| = 1 (0 dB) and a phase of -360 d f degrees (unwrapped)."""
    d = system
    (d / "delay.json").write_text(json.dumps({"lo": 0, "hi": 3, "h": [0, 0, 0, 1]}))
    p = run_cli("apply", "--h", d / "delay.json", "--x", d / "x.txt", "--out", d / "o.npy", "--plot", d / "d.svg")
    assert p.returncode == 0, p.stderr
    root = ET.parse(d / "d.svg").getroot()
    mag, phase = root.findall(SVG + "svg")[1:3]

    def curve(panel):
        pts = [tuple(map(float, q.split(","))) for q in panel.find(SVG + "polyline").get("points").split()]
        return np.array(pts)

    # The magnitude is one flat line (every point at the same height), the phase a straight one
    # from 0 down to -3 * 180 degrees at Nyquist: equal steps in pixels.
    m = curve(mag)
    assert np.ptp(m[:, 1]) < 0.11  # pixel coordinates are written to 0.1
    ph = curve(phase)
    steps = np.diff(ph[:, 1])
    assert np.all(steps > 0) and np.ptp(steps) < 0.21  # monotone, straight (to the 0.1-pixel rounding)
    # Read the y axis from its tick labels (drawn 4 px below each tick): the line ends at
    # -3 samples x 180 degrees = -540 at Nyquist, to the 0.1-pixel rounding of the coordinates.
    ticks = {float(t.text): float(t.get("y")) - 4 for t in phase.iter(SVG + "text")
             if t.get("text-anchor") == "end" and re.fullmatch(r"-?\d+", t.text or "")}
    (v0, y0), (v1, y1) = sorted(ticks.items())[-1], sorted(ticks.items())[0]
    per_pixel = (v1 - v0) / (y1 - y0)
    assert abs(v0 + (ph[0, 1] - y0) * per_pixel) <= abs(per_pixel) * 0.1
    assert abs(v0 + (ph[-1, 1] - y0) * per_pixel - (-540)) <= abs(per_pixel) * 0.1


def test_png_needs_rsvg_convert_and_nothing_is_half_written(run_cli, system):
    d = system
    env_path = os.environ.get("PATH", "")
    try:
        os.environ["PATH"] = str(d)  # no rsvg-convert here
        p = run_cli("fit", "--x", d / "x.txt", "--y", d / "y.txt", "--half-width", 2, "--out", d / "h.json",
                    "--plot", d / "p.png", "--summary", d / "s.json")
    finally:
        os.environ["PATH"] = env_path
    assert p.returncode == 1 and "rsvg-convert" in p.stderr and "librsvg2-bin" in p.stderr
    # All outputs or none: the taps and the summary were staged, and are not left behind.
    assert sorted(f.name for f in d.iterdir()) == ["h.npy", "x.txt", "x.wav", "y.txt", "y.wav"]
    p = run_cli("fit", "--x", d / "x.txt", "--y", d / "y.txt", "--half-width", 2, "--out", d / "h.json",
                "--plot", d / "no" / "p.svg")
    assert p.returncode == 1 and "does not exist" in p.stderr and not (d / "h.json").exists()


@pytest.fixture
def echo(tmp_path):
    rng = np.random.default_rng(8)
    h = rng.standard_normal(32) * np.exp(-np.arange(32) / 6.0)
    h *= 0.5 / np.linalg.norm(h)
    x = 0.3 * rng.standard_normal(2 * RATE)
    y = np.convolve(x, h)[:len(x)]
    scipy.io.wavfile.write(tmp_path / "far.wav", RATE, x.astype(np.float32))
    scipy.io.wavfile.write(tmp_path / "mic.wav", RATE, y.astype(np.float32))
    np.save(tmp_path / "h.npy", h)
    return tmp_path


@needs_rsvg
def test_adapt_report_and_plot(run_cli, echo):
    d = echo
    p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic.wav", "--causal", 32, "--true-h", d / "h.npy",
                "--report", d / "r.html", "--plot", d / "p.svg", "--summary", d / "s.json")
    assert p.returncode == 0, p.stderr
    page = (d / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and not re.search(r"(src|href)\s*=", page) and "@import" not in page
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 5  # ERLE, misalignment, taps, magnitude, phase
    for svg in svgs:
        ET.fromstring(svg)
    assert panels(d / "p.svg") == ["ERLE", "Misalignment", "Taps learned", "Magnitude response", "Phase response"]
    s = json.loads((d / "s.json").read_text())
    # The ERLE curve holds the summary's numbers, one point per window, at each window's end (s).
    erle_panel = ET.parse(d / "p.svg").getroot().findall(SVG + "svg")[0]
    points = erle_panel.find(SVG + "polyline").get("points").split()
    assert len(points) == len(s["erle_db"]) and "time (s)" in ET.tostring(erle_panel, encoding="unicode")
    assert "ERLE in the last window" in page and f"{s['erle_db'][-1]:.4g}" in page.replace(" dB", "")
    render(d / "p.svg", d / "p.png")
    assert_drawn(d / "p.png", 5)


def test_adapt_report_marks_where_the_filter_diverged(run_cli, echo):
    d = echo
    p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic.wav", "--algo", "lms", "--causal", 32, "--mu", 50,
                "--report", d / "r.html", "--summary", d / "s.json", "--out-h", d / "h.json")
    assert p.returncode == 1 and "diverged" in p.stderr
    sample = json.loads((d / "s.json").read_text())["diverged"]["sample"]
    page = (d / "r.html").read_text()
    assert f"diverged at sample {sample}" in page and "stroke-dasharray" in page  # the dashed mark
    assert not (d / "h.json").exists()  # the other outputs of a diverged run are not written


def test_a_long_signal_is_drawn_over_its_whole_duration(run_cli, tmp_path):
    """apply keeps a long input as the envelope of 2^15 stretches: the time axis still spans the
    whole recording (100,000 samples at 8 kHz: 12.5 s, ticks up to 10 s)."""
    x = (0.1 * np.random.default_rng(1).standard_normal(100_000)).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "long.wav", 8000, x)
    (tmp_path / "h.json").write_text('{"h": [0.5, 0.25], "lo": 0}')
    p = run_cli("apply", "--x", tmp_path / "long.wav", "--h", tmp_path / "h.json", "--out", tmp_path / "o.wav",
                "--plot", tmp_path / "a.svg", "--chunk-rows", 30000)
    assert p.returncode == 0, p.stderr
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", (tmp_path / "a.svg").read_text())
    after_input = labels[labels.index("Input"):labels.index("Output")]
    assert "10" in after_input, after_input  # (drawn over 65,536 entries it ended at 8.2 s: ticks to 8)
