"""`convgrad fit` and `convgrad apply` through the command line, against independent oracles.

- The exact solver against numpy.linalg.lstsq on the explicit design matrix X[n, j] = x[n - m_j]
  (the 'same' model, x zero outside), seeded, several pairs, with and without ridge, K > N
  included (with ridge; without it the problem has no unique answer and must be refused).
  A backward-stable solve is accurate to about cond * eps * (N + K) relative, the tolerance used.
- gd and nesterov reach the exact answer to 1e-8 relative in double on well-conditioned
  problems; adam gets close; gd's loss history never increases beyond rounding.
- apply: 'same' convolution with causal taps equals scipy.signal.lfilter; WAV keeps its rate.
- Hostile inputs: one line `convgrad: error: ...`, exit 2 for usage and 1 for data, no files left.
"""
import json
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from conftest import run_on_terminal

EPS = np.finfo(np.float64).eps


def design(x, lo, hi):
    """The explicit N x K design matrix of the 'same' model: X[n, j] = x[n - (lo + j)]."""
    n = np.arange(len(x))[:, None]
    q = n - (lo + np.arange(hi - lo + 1))[None, :]
    inside = (q >= 0) & (q < len(x))
    return np.where(inside, x[np.clip(q, 0, len(x) - 1)], 0.0)


def lstsq_answer(xs, ys, lo, hi, ridge):
    """Ridge least squares by lstsq on the stacked problem [X_1; ...; X_P; sqrt(ridge) I] h ~ [y; 0]."""
    K = hi - lo + 1
    A = np.vstack([design(x, lo, hi) for x in xs] + [np.sqrt(ridge) * np.eye(K)])
    b = np.concatenate(list(ys) + [np.zeros(K)])
    h, *_ = np.linalg.lstsq(A, b, rcond=None)
    G = sum(design(x, lo, hi).T @ design(x, lo, hi) for x in xs) + ridge * np.eye(K)
    return h, np.linalg.cond(G)


def save_pairs(tmp_path, xs, ys, ext=".npy"):
    args = []
    for p, (x, y) in enumerate(zip(xs, ys)):
        xp, yp = tmp_path / f"x{p}{ext}", tmp_path / f"y{p}{ext}"
        if ext == ".npy":
            np.save(xp, x)
            np.save(yp, y)
        else:
            np.savetxt(xp, x, fmt="%.17g")
            np.savetxt(yp, y, fmt="%.17g")
        args += ["--x", xp, "--y", yp]
    return args


def tap_args(lo, hi):
    return ["--lo", lo, "--hi", hi]


def fit(run_cli, tmp_path, args, name="h.json"):
    out, summary = tmp_path / name, tmp_path / "summary.json"
    r = run_cli("fit", *args, "--out", out, "--summary", summary, "--quiet")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""  # --quiet, and not a terminal
    return json.loads(out.read_text()), json.loads(summary.read_text())


CASES = [  # (seed, pair lengths, lo, hi, ridge)
    (1, [60], -3, 3, 0.0),
    (2, [60, 35], -3, 3, 2.5),
    (3, [200, 9, 120], 0, 11, 0.0),
    (4, [64], -9, -6, 0.0),
    (5, [5], -6, 6, 0.5),          # K = 13 > N = 5, with ridge
    (6, [9, 4], 0, 19, 1e-3),      # K = 20 > total N = 13
    (7, [400], -40, 40, 0.0),
    (8, [500, 300], 0, 63, 10.0),
    (9, [3], 1, 2, 0.0),
]


@pytest.mark.parametrize("seed,lengths,lo,hi,ridge", CASES)
def test_exact_matches_lstsq_on_the_design_matrix(run_cli, tmp_path, seed, lengths, lo, hi, ridge):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(n) for n in lengths]
    ys = [rng.standard_normal(n) for n in lengths]
    args = save_pairs(tmp_path, xs, ys) + tap_args(lo, hi) + ["--solver", "exact", "--ridge", ridge]
    out, summary = fit(run_cli, tmp_path, args)
    want, cond = lstsq_answer(xs, ys, lo, hi, ridge)
    h = np.array(out["h"])
    assert (out["lo"], out["hi"], out["K"]) == (lo, hi, hi - lo + 1)
    tol = 4 * cond * EPS * (sum(lengths) + 2 * (hi - lo + 1))
    assert np.linalg.norm(h - want) <= tol * np.linalg.norm(want)
    # The condition number reported is that of X^T X + ridge I (eigenvalues to ~eps * lambda_max).
    assert abs(summary["condition_number"] - cond) <= 100 * (hi - lo + 1) * EPS * cond * cond
    assert summary["solver"] == "exact" and summary["iterations"] == 1
    # Loss per pair, recomputed with numpy from the returned taps.
    for p, (x, y) in enumerate(zip(xs, ys)):
        r = design(x, lo, hi) @ h - y
        assert summary["pairs"][p]["loss"] == pytest.approx(0.5 * r @ r, rel=1e-12, abs=1e-14)


def test_more_taps_than_samples_without_ridge_is_refused(run_cli, tmp_path):
    rng = np.random.default_rng(10)
    args = save_pairs(tmp_path, [rng.standard_normal(5)], [rng.standard_normal(5)])
    r = run_cli("fit", *args, "--half-width", 6, "--solver", "exact", "--out", tmp_path / "h.npy")
    assert r.returncode == 1
    assert r.stderr.startswith("convgrad: error: ") and "--ridge" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "h.npy").exists()


def test_output_formats_round_trip(run_cli, tmp_path):
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal(100), rng.standard_normal(100)
    args = save_pairs(tmp_path, [x], [y], ext=".csv") + ["--causal", 4, "--solver", "exact", "--quiet"]
    for name in ("h.csv", "h.json", "h.txt"):
        assert run_cli("fit", *args, "--out", tmp_path / name).returncode == 0
    h_json = np.array(json.loads((tmp_path / "h.json").read_text())["h"])
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "h.txt", comments="#"), h_json)
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "h.csv", comments="#"), h_json)  # 17 digits round-trip
    assert (tmp_path / "h.csv").read_text().startswith("# convgrad taps m = 0..3 (lo = 0)")


def well_conditioned(tmp_path, seed=12, lengths=(700, 500, 300), K=15, noise=0.1):
    rng = np.random.default_rng(seed)
    M = K // 2
    h_true = rng.standard_normal(K)
    xs = [rng.standard_normal(n) for n in lengths]
    ys = [scipy.signal.convolve(x, h_true, mode="same") + noise * rng.standard_normal(len(x)) for x in xs]
    return xs, ys, save_pairs(tmp_path, xs, ys) + ["--half-width", M], h_true


@pytest.mark.parametrize("ridge", [0.0, 30.0])
@pytest.mark.parametrize("solver", ["gd", "nesterov"])
def test_gd_and_nesterov_reach_the_exact_answer(run_cli, tmp_path, solver, ridge):
    xs, ys, args, _ = well_conditioned(tmp_path)
    want, _ = lstsq_answer(xs, ys, -7, 7, ridge)
    out, summary = fit(run_cli, tmp_path, args + ["--solver", solver, "--ridge", ridge])
    assert summary["stop_reason"] == "gradient tolerance"
    assert np.linalg.norm(np.array(out["h"]) - want) <= 1e-8 * np.linalg.norm(want)


def test_adam_gets_close(run_cli, tmp_path):
    xs, ys, args, _ = well_conditioned(tmp_path)
    want, _ = lstsq_answer(xs, ys, -7, 7, 0.0)
    out, summary = fit(run_cli, tmp_path, args + ["--solver", "adam", "--max-iter", 5000])
    assert np.linalg.norm(np.array(out["h"]) - want) <= 1e-3 * np.linalg.norm(want)
    assert summary["adam"] == {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def test_gd_history_never_increases(run_cli, tmp_path):
    rng = np.random.default_rng(13)
    x = np.convolve(rng.standard_normal(800), np.ones(4) / 4, mode="same")  # smooth: ill-conditioned, slow
    y = scipy.signal.convolve(x, rng.standard_normal(15), mode="same") + 0.1 * rng.standard_normal(800)
    args = save_pairs(tmp_path, [x], [y]) + ["--half-width", 7, "--solver", "gd", "--max-iter", 400]
    hist = tmp_path / "hist.csv"
    fit(run_cli, tmp_path, args + ["--history", hist])
    rows = np.loadtxt(hist, delimiter=",", skiprows=1)
    assert hist.read_text().startswith("iteration,loss,grad_norm,seconds\n")
    assert rows.shape == (401, 4) and (rows[:, 0] == np.arange(401)).all()
    loss = rows[:, 1]
    # Rounding of one loss evaluation: eps (N + K) times the largest loss (every intermediate is
    # bounded by the starting scale on this descent).
    rounding = EPS * (800 + 15) * loss.max()
    assert (np.diff(loss) <= rounding).all()
    assert loss[-1] < 1e-2 * loss[0]


def test_summary_validation_true_h_warm_start(run_cli, tmp_path):
    xs, ys, args, h_true = well_conditioned(tmp_path, noise=0.0, lengths=(400, 300))
    np.save(tmp_path / "htrue.npy", h_true)
    rng = np.random.default_rng(14)
    xv = rng.standard_normal(200)
    np.save(tmp_path / "xv.npy", xv)
    np.save(tmp_path / "yv.npy", scipy.signal.convolve(xv, h_true, mode="same") + 0.01)
    out, s = fit(run_cli, tmp_path, args + ["--solver", "nesterov", "--true-h", tmp_path / "htrue.npy",
                                            "--validate", tmp_path / "xv.npy", tmp_path / "yv.npy"])
    assert s["true_h"]["relative_error"] < 1e-8  # noise-free data determine h
    # The held-out target is off by 0.01 everywhere: loss 1/2 * 200 * 0.01^2.
    assert s["validation"]["loss"] == pytest.approx(0.5 * 200 * 1e-4, rel=1e-6)
    assert s["validation"]["N"] == 200
    for key in ("solver", "iterations", "seconds", "loss", "grad_norm", "pairs", "taps", "lambda_max", "step"):
        assert key in s
    # Warm start from the answer: nothing left to do.
    (tmp_path / "h0.json").write_text(json.dumps(out))
    _, s2 = fit(run_cli, tmp_path, args + ["--solver", "gd", "--h0", tmp_path / "h0.json"], name="h2.json")
    assert s2["iterations"] == 0 and s2["stop_reason"] == "gradient tolerance"


def test_summary_times_the_command_around_the_fit(run_cli, tmp_path):
    # command_seconds: the command's own wall time, from before the files are opened to the
    # outputs written; it holds the fit's own clock (seconds) and lies within the process's life.
    _, _, args, _ = well_conditioned(tmp_path)
    start = time.perf_counter()
    _, s = fit(run_cli, tmp_path, args)
    wall = time.perf_counter() - start
    assert 0 < s["seconds"] <= s["command_seconds"] <= wall


def test_minibatches_on_consistent_data(run_cli, tmp_path):
    xs, ys, args, h_true = well_conditioned(tmp_path, noise=0.0, lengths=(300, 300, 300, 300))
    out, s = fit(run_cli, tmp_path, args + ["--solver", "gd", "--batch", 1, "--max-iter", 3000])
    assert s["batch"] == 1
    assert np.linalg.norm(np.array(out["h"]) - h_true) <= 1e-8 * np.linalg.norm(h_true)


def test_report_is_self_contained(run_cli, tmp_path):
    rng = np.random.default_rng(15)
    x = rng.standard_normal(6000).astype(np.float32)
    h = scipy.signal.firwin(21, 0.3)
    y = (scipy.signal.lfilter(h, 1, x) + 0.01 * rng.standard_normal(6000)).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "x.wav", 8000, x)
    scipy.io.wavfile.write(tmp_path / "y.wav", 8000, y)
    np.save(tmp_path / "h.npy", h)
    report = tmp_path / "r.html"
    r = run_cli("fit", "--x", tmp_path / "x.wav", "--y", tmp_path / "y.wav", "--causal", 21, "--out", tmp_path / "o.json",
                "--solver", "gd", "--report", report, "--true-h", tmp_path / "h.npy", "--summary", tmp_path / "s.json")
    assert r.returncode == 0, r.stderr
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and not re.search(r"(src|href)\s*=", page) and "@import" not in page
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    assert len(svgs) == 5  # loss, taps, residual, magnitude and phase response
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert "frequency (Hz)" in page and "1e" in svgs[0]  # Hz from the WAV rate; log-scale loss ticks
    assert json.loads((tmp_path / "s.json").read_text())["sample_rate"] == 8000


def test_progress_line_only_on_a_terminal(run_cli, convgrad_bin, tmp_path):
    xs, ys, args, _ = well_conditioned(tmp_path)
    r = run_cli("fit", *args, "--out", tmp_path / "h.npy")
    assert r.returncode == 0 and r.stderr == "" and "\r" not in r.stdout  # piped: no progress line
    # On a terminal: a progress line on stderr with the iteration, loss, gradient and rate.
    code, text = run_on_terminal([convgrad_bin, "fit", *args, "--out", tmp_path / "h2.npy", "--solver", "gd",
                                  "--tol", "0", "--max-iter", "3000"])
    assert code == 0
    s = text.decode()
    assert "iteration" in s and "it/s" in s and "|grad|" in s and "left" in s
    assert "\r" in s
    assert "wrote" in s
    r = run_cli("fit", *args, "--out", tmp_path / "h3.npy", "--quiet")
    assert r.stdout == "" and r.stderr == ""


# ---- apply ---------------------------------------------------------------------------------

def test_apply_wav_keeps_rate_and_matches_lfilter(run_cli, tmp_path):
    rng = np.random.default_rng(16)
    x = (0.3 * rng.standard_normal(3000)).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "x.wav", 44100, x)
    h = scipy.signal.firwin(31, 0.2)
    (tmp_path / "h.json").write_text(json.dumps({"lo": 0, "hi": 30, "K": 31, "h": list(h)}))
    r = run_cli("apply", "--h", tmp_path / "h.json", "--x", tmp_path / "x.wav", "--out", tmp_path / "y.wav")
    assert r.returncode == 0, r.stderr
    rate, y = scipy.io.wavfile.read(tmp_path / "y.wav")
    assert rate == 44100 and y.dtype == np.float32 and len(y) == 3000
    want = scipy.signal.lfilter(h, 1, x.astype(np.float64))
    # Computed in double, stored as float32: half an ulp of float32 per sample.
    assert np.max(np.abs(y - want)) <= np.finfo(np.float32).eps * np.max(np.abs(want))
    # Centred taps from .npy (odd K, default lo = -(K-1)/2) equal scipy's 'same' convolution.
    np.save(tmp_path / "hc.npy", h)
    r = run_cli("apply", "--h", tmp_path / "hc.npy", "--x", tmp_path / "x.wav", "--out", tmp_path / "yc.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "yc.npy"), scipy.signal.convolve(x.astype(np.float64), h, "same"),
                               rtol=0, atol=64 * EPS * np.abs(h).sum() * np.abs(x).max())


def test_fit_then_apply_round_trip_uses_the_recorded_range(run_cli, tmp_path):
    rng = np.random.default_rng(17)
    x = rng.standard_normal(500)
    h = rng.standard_normal(6)
    y = scipy.signal.lfilter(h, 1, x)
    args = save_pairs(tmp_path, [x], [y]) + ["--lo", 0, "--hi", 5, "--solver", "exact", "--quiet"]
    for name in ("h.csv", "h.json"):
        assert run_cli("fit", *args, "--out", tmp_path / name).returncode == 0
        r = run_cli("apply", "--h", tmp_path / name, "--x", tmp_path / "x0.npy", "--out", tmp_path / "yy.npy")
        assert r.returncode == 0, r.stderr
        np.testing.assert_allclose(np.load(tmp_path / "yy.npy"), y, rtol=0, atol=1e-10 * np.abs(y).max())


# ---- hostile inputs ------------------------------------------------------------------------

@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(18)
    d = tmp_path / "data"
    d.mkdir()
    np.save(d / "x.npy", rng.standard_normal(50))
    np.save(d / "y.npy", rng.standard_normal(50))
    np.save(d / "y40.npy", rng.standard_normal(40))
    np.save(d / "zero.npy", np.zeros(50))
    (d / "nan.csv").write_text("1\n2\nnan\n4\n")
    stereo = (0.1 * rng.standard_normal((50, 2))).astype(np.float32)
    scipy.io.wavfile.write(d / "stereo.wav", 8000, stereo)
    scipy.io.wavfile.write(d / "mono8k.wav", 8000, stereo[:, 0].copy())
    scipy.io.wavfile.write(d / "mono16k.wav", 16000, stereo[:, 1].copy())
    (d / "bad.json").write_text('{"lo": 0, "h": [1, 2,')
    (d / "wronglo.json").write_text('{"lo": 3, "hi": 5, "h": [1, 2, 3]}')
    (d / "badhi.json").write_text('{"lo": 0, "hi": 7, "h": [1, 2, 3]}')
    (d / "strings.json").write_text('{"h": [1, "a", 3]}')
    np.save(d / "h3.npy", np.ones(3))
    np.save(d / "h4.npy", np.ones(4))
    (d / "h3.json").write_text('{"lo": -1, "hi": 1, "h": [1, 2, 3]}')
    # Tap ranges recorded in files: out of range is the file's fault (exit 1), never a wrap-around.
    (d / "hugelo.json").write_text('{"lo": 18446744073709551615, "h": [1]}')  # was read as lo = -1
    (d / "farlo.json").write_text('{"lo": -2000000000000, "h": [1]}')
    (d / "farlo.csv").write_text("# convgrad taps m = 0..0 (lo = 2000000000000)\n1\n")
    (d / "overlo.csv").write_text("# convgrad taps m = 0..0 (lo = 99999999999999999999999)\n1\n")
    (d / "inf.json").write_text('{"h": [1e400]}')
    np.save(d / "big.npy", 1e200 * rng.standard_normal(50))  # finite, but its squares overflow
    return d


XY = ["--x", "{d}/x.npy", "--y", "{d}/y.npy"]
FIT_HOSTILE = [  # (arguments, exit code, part of the message)
    (XY + ["--out", "{o}/h.npy"], 2, "no tap range"),
    (XY + ["--half-width", "1", "--causal", "3", "--out", "{o}/h.npy"], 2, "only one of"),
    (XY + ["--lo", "0", "--out", "{o}/h.npy"], 2, "--hi"),
    (XY + ["--lo", "3", "--hi", "1", "--out", "{o}/h.npy"], 2, "--hi"),
    (XY + ["--causal", "0", "--out", "{o}/h.npy"], 2, "--causal"),
    (XY + ["--half-width", "-1", "--out", "{o}/h.npy"], 2, "--half-width"),
    (XY + ["--half-width", "1"], 2, "--out"),
    (["--x", "{d}/x.npy", "--half-width", "1", "--out", "{o}/h.npy"], 2, "--y"),
    (["--half-width", "1", "--out", "{o}/h.npy"], 2, "no data"),
    (XY + ["--half-width", "1", "--solver", "sgd", "--out", "{o}/h.npy"], 2, "--solver"),
    (XY + ["--half-width", "1", "--ridge", "-1", "--out", "{o}/h.npy"], 2, "--ridge"),
    (XY + ["--half-width", "1", "--ridge", "nan", "--out", "{o}/h.npy"], 2, "--ridge"),
    (XY + ["--half-width", "1", "--lr", "0.1", "--out", "{o}/h.npy"], 2, "--lr"),
    (XY + ["--half-width", "1", "--solver", "adam", "--lr", "0", "--out", "{o}/h.npy"], 2, "--lr"),
    (XY + ["--half-width", "1", "--solver", "adam", "--beta1", "1", "--out", "{o}/h.npy"], 2, "--beta1"),
    (XY + ["--half-width", "1", "--solver", "adam", "--beta2", "-0.5", "--out", "{o}/h.npy"], 2, "--beta2"),
    (XY + ["--half-width", "1", "--batch", "2", "--out", "{o}/h.npy"], 2, "--batch"),
    (XY + ["--half-width", "1", "--batch", "0", "--out", "{o}/h.npy"], 2, "--batch"),
    (XY + ["--half-width", "1", "--max-iter", "0", "--out", "{o}/h.npy"], 2, "--max-iter"),
    (XY + ["--half-width", "1", "--tol", "-1", "--out", "{o}/h.npy"], 2, "--tol"),
    (XY + ["--half-width", "1", "--time-limit", "-2", "--out", "{o}/h.npy"], 2, "--time-limit"),
    (XY + ["--half-width", "1", "--solver", "exact", "--history", "{o}/h.csv", "--out", "{o}/h.npy"], 2, "--history"),
    (XY + ["--half-width", "1", "--solver", "exact", "--h0", "{d}/h3.npy", "--out", "{o}/h.npy"], 2, "--h0"),
    (XY + ["--half-width", "1", "--dtype", "float16", "--out", "{o}/h.npy"], 2, "float16"),
    (XY + ["--half-width", "1", "--validate", "{d}/x.npy", "--out", "{o}/h.npy"], 2, "validate"),
    (XY + ["--half-width", "1", "--out", "{o}/h.npy", "--summary", "{o}/h.npy"], 2, "h.npy"),
    (XY + ["--half-width", "1", "--channel", "-1", "--out", "{o}/h.npy"], 2, "--channel"),
    (["--x", "{d}/missing.npy", "--y", "{d}/y.npy", "--half-width", "1", "--out", "{o}/h.npy"], 1, "missing.npy"),
    (["--x", "{d}/x.npy", "--y", "{d}/y40.npy", "--half-width", "1", "--out", "{o}/h.npy"], 1, "y40.npy"),
    (["--x", "{d}/nan.csv", "--y", "{d}/nan.csv", "--half-width", "1", "--out", "{o}/h.npy"], 1, "nan.csv"),
    # A multi-channel WAV without --channel is the multi-input fit, whose filters need .json.
    (["--x", "{d}/stereo.wav", "--y", "{d}/stereo.wav", "--half-width", "1", "--out", "{o}/h.npy"], 2, ".json"),
    (["--x", "{d}/stereo.wav", "--y", "{d}/stereo.wav", "--channel", "5", "--half-width", "1", "--out", "{o}/h.npy"], 1,
     "channel 5"),
    (["--x", "{d}/mono8k.wav", "--y", "{d}/mono16k.wav", "--half-width", "1", "--out", "{o}/h.npy"], 1, "sample rates"),
    (["--x", "{d}/zero.npy", "--y", "{d}/y.npy", "--half-width", "1", "--solver", "exact", "--out", "{o}/h.npy"], 1,
     "--ridge"),
    (["--x", "{d}/zero.npy", "--y", "{d}/y.npy", "--half-width", "1", "--out", "{o}/h.npy"], 1, "--ridge"),
    (XY + ["--half-width", "2", "--solver", "gd", "--h0", "{d}/h3.npy", "--out", "{o}/h.npy"], 1, "h3.npy"),
    # a .npy cannot record a range that is not centred: refused before any work, not guessed later
    (XY + ["--causal", "3", "--out", "{o}/h.npy"], 2, ".json or .csv"),
    (XY + ["--half-width", "1", "--out", "{o}/h.wav"], 2, "not as a sound file"),
    (XY + ["--half-width", "1", "--true-h", "{d}/wronglo.json", "--out", "{o}/h.npy"], 1, "wronglo.json"),
    (XY + ["--half-width", "1", "--true-h", "{d}/bad.json", "--out", "{o}/h.npy"], 1, "not valid JSON"),
    (XY + ["--half-width", "1", "--true-h", "{d}/badhi.json", "--out", "{o}/h.npy"], 1, "hi"),
    (XY + ["--half-width", "1", "--true-h", "{d}/strings.json", "--out", "{o}/h.npy"], 1, "not a number"),
    (XY + ["--half-width", "1", "--out", "{o}/nodir/h.npy", "--summary", "{o}/s.json"], 1, "does not exist"),
    (XY + ["--half-width", "1", "--out", "{o}/h.npy", "--report", "{o}"], 1, "directory"),
    # an output naming an input used to replace the recording with the taps
    (XY + ["--half-width", "1", "--out", "{d}/y.npy"], 2, "--y input"),
    (XY + ["--half-width", "1", "--out", "{o}/h.npy", "--summary", "{d}/x.npy"], 2, "--x input"),
    # adam used to exit 0 here, writing h = 0 as converged (an infinite gradient passed its test)
    (["--x", "{d}/big.npy", "--y", "{d}/big.npy", "--half-width", "1", "--solver", "adam", "--out", "{o}/h.npy"], 1,
     "too large"),
    (["--x", "{d}/big.npy", "--y", "{d}/big.npy", "--half-width", "1", "--solver", "exact", "--out", "{o}/h.npy"], 1,
     "too large"),
]


def expand(args, d, o):
    return [a.format(d=d, o=o) for a in args]


@pytest.mark.parametrize("args,code,fragment", FIT_HOSTILE)
def test_fit_hostile_inputs(run_cli, data, tmp_path, args, code, fragment):
    o = tmp_path / "out"
    o.mkdir()
    r = run_cli("fit", *expand(args, data, o))
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stderr.startswith("convgrad: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert fragment in r.stderr, r.stderr
    assert list(o.iterdir()) == []  # nothing written, not even in part


APPLY_HOSTILE = [
    (["--x", "{d}/x.npy", "--out", "{o}/y.npy"], 2, "--h"),
    (["--h", "{d}/h3.npy", "--out", "{o}/y.npy"], 2, "--x"),
    (["--h", "{d}/h3.npy", "--x", "{d}/x.npy"], 2, "--out"),
    (["--h", "{d}/h4.npy", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 1, "even"),
    (["--h", "{d}/bad.json", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 1, "bad.json"),
    (["--h", "{d}/h3.json", "--lo", "0", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 2, "disagrees"),
    (["--h", "{d}/h3.npy", "--x", "{d}/x.npy", "--out", "{o}/y.wav"], 2, "--sample-rate"),
    (["--h", "{d}/h3.npy", "--x", "{d}/x.npy", "--channel", "1", "--out", "{o}/y.npy"], 2, "--channel"),
    (["--h", "{d}/h3.npy", "--x", "{d}/stereo.wav", "--out", "{o}/y.wav"], 1, "channel"),
    (["--h", "{d}/h3.npy", "--x", "{d}/nan.csv", "--out", "{o}/y.npy"], 1, "nan.csv"),
    (["--h", "{d}/missing.json", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 1, "missing.json"),
    (["--h", "{d}/h3.npy", "--x", "{d}/x.npy", "--out", "{o}/no/y.npy"], 1, "does not exist"),
    (["--h", "{d}/h3.npy", "--x", "{d}/x.npy", "--wav-format", "mp3", "--out", "{o}/y.wav"], 2, "--wav-format"),
    (["--h", "{d}/h3.npy", "--x", "{d}/x.npy", "--out", "{d}/x.npy"], 2, "--x input"),
    # used to write text under a .flac name, which no reader (convgrad's included) could open
    (["--h", "{d}/h3.npy", "--x", "{d}/mono8k.wav", "--out", "{o}/y.flac"], 2, "WAV"),
    (["--h", "{d}/h3.npy", "--x", "{d}/x.npy", "--out", "{d}/h3.npy"], 2, "--h input"),
    (["--h", "{d}/hugelo.json", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 1, "hugelo.json"),
    (["--h", "{d}/farlo.json", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 1, "farlo.json"),
    (["--h", "{d}/farlo.csv", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 1, "farlo.csv"),
    (["--h", "{d}/overlo.csv", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 1, "overlo.csv"),
    (["--h", "{d}/inf.json", "--x", "{d}/x.npy", "--out", "{o}/y.npy"], 1, "inf.json"),
]


@pytest.mark.parametrize("args,code,fragment", APPLY_HOSTILE)
def test_apply_hostile_inputs(run_cli, data, tmp_path, args, code, fragment):
    o = tmp_path / "out"
    o.mkdir()
    r = run_cli("apply", *expand(args, data, o))
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stderr.startswith("convgrad: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert fragment in r.stderr, r.stderr
    assert list(o.iterdir()) == []


def test_stereo_with_channel_is_accepted(run_cli, data, tmp_path):
    r = run_cli("fit", "--x", data / "stereo.wav", "--y", data / "stereo.wav", "--channel", 1, "--half-width", 1,
                "--solver", "exact", "--out", tmp_path / "h.json", "--quiet")
    assert r.returncode == 0, r.stderr
    h = json.loads((tmp_path / "h.json").read_text())["h"]
    np.testing.assert_allclose(h, [0, 1, 0], atol=1e-9)  # y = x: the identity filter
