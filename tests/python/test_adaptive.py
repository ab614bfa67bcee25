"""convgrad.adaptive from Python and `convgrad adapt` from the command line.

Oracles: NumPy loops written from the update equations (one sample per iteration) and the
ridge least-squares solution of the pre-windowed model; the library's own promises (the
stream may be cut anywhere, the state pickles, bad input is refused and leaves the state
unchanged, divergence is reported).
"""
import copy
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.io.wavfile

import convgrad
import convgrad.adaptive as ad

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps  # the WAV files of the command tests hold float32 samples
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def system(h, x):
    """y = h * x, causal taps, x = 0 before the stream (the pre-windowed model)."""
    return np.convolve(x, h)[: x.size]


def numpy_nlms(x, y, K, mu, delta):
    """NLMS as Python users write it: one sample per iteration, r = yhat - y."""
    h = np.zeros(K)
    u = np.zeros(K)  # u[j] = x[n - j]
    yhat = np.zeros(x.size)
    for n in range(x.size):
        u = np.roll(u, 1)
        u[0] = x[n]
        yhat[n] = h @ u
        r = yhat[n] - y[n]
        h -= mu * r * u / (delta + u @ u)
    return h, yhat


def run(f, x, y, piece):
    out = [f.process(x[i:i + piece], y[i:i + piece]) for i in range(0, x.size, piece)]
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])


# ---- the Python API -------------------------------------------------------------------------------

def test_nlms_matches_the_numpy_loop():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(500), rng.standard_normal(500)
    f = ad.NLMS(taps=16, mu=0.5, delta=0.1)
    yhat, r = f.process(x, y)
    h_ref, yhat_ref = numpy_nlms(x, y, 16, 0.5, 0.1)
    np.testing.assert_array_equal(r, yhat - y)
    # Each prediction sums 16 products; NLMS contracts errors (mu < 2), so rounding does not grow.
    tol = 100 * 16 * EPS64 * np.max(np.abs(yhat_ref))
    np.testing.assert_allclose(yhat, yhat_ref, rtol=0, atol=tol)
    np.testing.assert_allclose(f.h, h_ref, rtol=0, atol=tol)


def test_rls_with_lam_1_is_the_ridge_least_squares_fit():
    rng = np.random.default_rng(2)
    K, delta, n = 10, 0.3, 300
    x, y = rng.standard_normal(n), rng.standard_normal(n)
    f = ad.RLS(taps=K, lam=1.0, delta=delta)
    f.process(x, y)
    X = np.array([[x[i - j] if i >= j else 0.0 for j in range(K)] for i in range(n)])
    want = np.linalg.solve(X.T @ X + delta * np.eye(K), X.T @ y)
    assert np.linalg.norm(f.h - want) / np.linalg.norm(want) < 1e-9  # the requirement


@pytest.mark.parametrize("make, samples", [
    (lambda: ad.LMS(taps=16, mu=0.02), 8000),
    (lambda: ad.NLMS(taps=16, mu=0.8), 2000),
    (lambda: ad.RLS(taps=16, delta=1e-8), 500),
    (lambda: ad.FDAF(taps=16, mu=0.5, block=16), 30000),
])
def test_each_algorithm_finds_a_noise_free_system(make, samples):
    rng = np.random.default_rng(3)
    h_true = 0.3 * rng.standard_normal(16)
    x = rng.standard_normal(samples)
    f = make()
    run(f, x, system(h_true, x), 1000)
    assert np.linalg.norm(f.h - h_true) / np.linalg.norm(h_true) < 1e-8


@pytest.mark.parametrize("cls, kw", [(ad.LMS, {"mu": 0.005}), (ad.NLMS, {}), (ad.SignLMS, {}), (ad.RLS, {}),
                                     (ad.FDAF, {"block": 8})])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cutting_the_stream_changes_nothing(cls, kw, dtype):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal(2000).astype(dtype), rng.standard_normal(2000).astype(dtype)
    whole, cut = cls(taps=12, dtype=dtype, **kw), cls(taps=12, dtype=dtype, **kw)
    want = whole.process(x, y)
    got = run(cut, x, y, 8 * 13)  # a multiple of the FDAF's block
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(cut.h, whole.h)
    if cls is not ad.FDAF:  # odd pieces: cuts inside the LMS family's pairs of samples
        odd = cls(taps=12, dtype=dtype, **kw)
        got = run(odd, x, y, 13)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(odd.h, whole.h)


# After 701 samples the LMS family is between the two samples of a pair (its state holds the
# taps before the first and the first's step): copies and pickles carry that too.
@pytest.mark.parametrize("split", [700, 701])
@pytest.mark.parametrize("cls", [ad.LMS, ad.NLMS, ad.SignLMS, ad.RLS, ad.FDAF])
def test_state_copies_and_pickles(cls, split):
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(1500), rng.standard_normal(1500)
    f = cls(taps=9, lo=2)
    f.process(x[:split], y[:split])
    clones = [copy.copy(f), copy.deepcopy(f), pickle.loads(pickle.dumps(f))]
    for c in clones:
        np.testing.assert_array_equal(c.h, f.h)
    want = f.process(x[split:], y[split:])
    for c in clones:
        assert c.samples == split and c.lo == 2 and c.K == 9
        got = c.process(x[split:], y[split:])
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_array_equal(c.h, f.h)


def test_taps_read_and_set():
    f = ad.NLMS(taps=5, lo=3)
    assert f.h.dtype == np.float64 and f.h.shape == (5,) and not f.h.any()
    f.h = np.arange(5.0)
    np.testing.assert_array_equal(f.h, np.arange(5.0))
    x = np.zeros(10)
    x[0] = 1.0
    yhat, _ = f.process(x, np.zeros(10))
    assert yhat[3] == 0.0 and yhat[4] == 1.0  # tap m = 3 + j holds j: the impulse shows delayed
    with pytest.raises(ValueError, match="K = 5"):
        f.h = np.zeros(4)


@pytest.mark.parametrize("make, word", [
    (lambda: ad.NLMS(taps=4, mu=2.5), "mu"),
    (lambda: ad.NLMS(taps=4, delta=-1e-300), "delta"),
    (lambda: ad.LMS(taps=4, mu=-0.5), "mu"),
    (lambda: ad.LMS(taps=4, mu=0.0), "mu"),
    (lambda: ad.RLS(taps=4, lam=1.5), "lambda"),
    (lambda: ad.RLS(taps=4, lam=0.0), "lambda"),
    (lambda: ad.RLS(taps=4, delta=0.0), "delta"),
    (lambda: ad.FDAF(taps=4, mu=1.5), "mu"),
    (lambda: ad.NLMS(taps=4, lo=-2), "lo >= 0"),
])
def test_parameters_outside_their_range_are_refused_by_name(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_a_nan_is_refused_with_its_index_and_the_state_is_unchanged():
    rng = np.random.default_rng(6)
    f = ad.RLS(taps=6)
    f.process(rng.standard_normal(50), rng.standard_normal(50))
    before = pickle.dumps(f)
    x = rng.standard_normal(40)
    x[17] = np.nan
    with pytest.raises(ValueError, match="17"):
        f.process(x, np.zeros(40))
    assert pickle.dumps(f) == before


def test_dtypes_are_never_cast_silently():
    f = ad.NLMS(taps=4, dtype=np.float32)
    with pytest.raises(TypeError, match="float64"):
        f.process(np.zeros(3), np.zeros(3))
    yhat, r = f.process(np.zeros(3, np.float32), np.zeros(3, np.float32))
    assert yhat.dtype == r.dtype == f.h.dtype == np.float32


def test_divergence_is_a_typed_error_with_the_sample():
    rng = np.random.default_rng(7)
    f = ad.LMS(taps=16, mu=0.5)
    with pytest.raises(ad.DivergedError) as info:
        f.process(rng.standard_normal(100000), rng.standard_normal(100000))
    assert 0 < info.value.sample < 100000
    assert np.isfinite(f.h).all()


def test_echo_cancel_example_reaches_20_db():
    for algo in ["nlms", "fdaf"]:
        proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "echo_cancel.py"), "--algo", algo],
                              capture_output=True, text=True, timeout=300, env=dict(os.environ))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ERLE of the last second" in proc.stdout


# ---- the command ----------------------------------------------------------------------------------

RATE = 16000


@pytest.fixture
def echo(tmp_path):
    """far.wav, mic.wav (noise through a 64-tap echo path, no noise) and the path as h.npy."""
    rng = np.random.default_rng(8)
    h = rng.standard_normal(64) * np.exp(-np.arange(64) / 10.0)
    h *= 0.5 / np.linalg.norm(h)
    x = 0.3 * rng.standard_normal(3 * RATE)
    y = system(h, x)
    scipy.io.wavfile.write(tmp_path / "far.wav", RATE, x.astype(np.float32))
    scipy.io.wavfile.write(tmp_path / "mic.wav", RATE, y.astype(np.float32))
    np.save(tmp_path / "h.npy", h)
    return tmp_path, h


@pytest.mark.parametrize("algo, extra", [("nlms", []), ("lms", ["--mu", "0.05"]), ("sign-lms", ["--mu", "1e-4"]),
                                         ("rls", ["--delta", "1e-6"]), ("fdaf", ["--block", "32"])])
def test_adapt_learns_the_echo_path(run_cli, echo, algo, extra):
    d, h = echo
    p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic.wav", "--algo", algo, "--causal", 64, *extra,
                "--out-error", d / "e.wav", "--out-h", d / "h.json", "--summary", d / "s.json",
                "--true-h", d / "h.npy", "--frames", 1000)
    assert p.returncode == 0, p.stderr
    rate, e = scipy.io.wavfile.read(d / "e.wav")
    assert rate == RATE and e.size == 3 * RATE  # the sample rate kept, every sample written
    s = json.loads((d / "s.json").read_text())
    assert s["algorithm"] == algo and s["sample_rate"] == RATE and s["diverged"] is None
    assert s["samples"] == 3 * RATE and len(s["erle_db"]) == 6  # half-second windows
    mis = s["misalignment"]
    assert len(mis) == 6 and mis[-1] < mis[0]
    taps = json.loads((d / "h.json").read_text())
    assert taps["lo"] == 0 and taps["K"] == 64 and len(taps["h"]) == 64
    np.testing.assert_array_equal(taps["h"], s["h"])
    # The error signal is y - yhat with the taps of each moment: far below the microphone.
    _, y = scipy.io.wavfile.read(d / "mic.wav")
    assert s["erle_db"][-1] > 20 or algo == "sign-lms"
    if algo != "sign-lms":
        assert np.sum(e[-RATE:] ** 2) < 0.01 * np.sum(y[-RATE:] ** 2)


def test_adapt_rls_reaches_the_true_filter(run_cli, echo):
    d, h = echo
    p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic.wav", "--algo", "rls", "--causal", 64,
                "--delta", "1e-9", "--true-h", d / "h.npy", "--summary", d / "s.json", "--quiet")
    assert p.returncode == 0 and p.stdout == "", p.stderr
    s = json.loads((d / "s.json").read_text())
    # float32 WAV data, float64 filter: y is h * x up to float32 rounding of y, which the fit
    # passes on to the taps at about eps32 times the input's conditioning (white noise: small).
    assert s["misalignment"][-1] < 100 * EPS32


def test_adapt_channel_of_a_stereo_file(run_cli, echo):
    d, _ = echo
    _, x = scipy.io.wavfile.read(d / "far.wav")
    _, y = scipy.io.wavfile.read(d / "mic.wav")
    scipy.io.wavfile.write(d / "far2.wav", RATE, np.stack([x, x], axis=1))
    scipy.io.wavfile.write(d / "mic2.wav", RATE, np.stack([np.zeros_like(y), y], axis=1))
    p = run_cli("adapt", "--x", d / "far2.wav", "--y", d / "mic2.wav", "--causal", 64, "--out-error", d / "e.wav")
    assert p.returncode == 1 and "channels" in p.stderr and not (d / "e.wav").exists()
    p = run_cli("adapt", "--x", d / "far2.wav", "--y", d / "mic2.wav", "--causal", 64, "--channel", 1,
                "--summary", d / "s.json")
    assert p.returncode == 0, p.stderr
    assert json.loads((d / "s.json").read_text())["erle_db"][-1] > 20


def test_adapt_refuses_bad_options_and_inputs(run_cli, echo, tmp_path):
    d, _ = echo
    base = ["adapt", "--x", d / "far.wav", "--y", d / "mic.wav"]
    p = run_cli(*base)
    assert p.returncode == 2 and "--causal" in p.stderr
    p = run_cli(*base, "--causal", 8, "--mu", 3)
    assert p.returncode == 2 and "mu" in p.stderr and "(0, 2)" in p.stderr
    p = run_cli(*base, "--causal", 8, "--algo", "rls", "--lambda", 1.5)
    assert p.returncode == 2 and "lambda" in p.stderr
    p = run_cli(*base, "--causal", 8, "--algo", "kalman")
    assert p.returncode == 2 and "kalman" in p.stderr
    scipy.io.wavfile.write(d / "mic8k.wav", 8000, np.zeros(3 * RATE, np.float32))
    p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic8k.wav", "--causal", 8)
    assert p.returncode == 1 and "8000 Hz" in p.stderr
    x = np.ones(100)
    x[42] = np.nan
    np.save(tmp_path / "bad.npy", x)
    np.save(tmp_path / "ok.npy", np.ones(100))
    p = run_cli("adapt", "--x", tmp_path / "bad.npy", "--y", tmp_path / "ok.npy", "--causal", 8)
    assert p.returncode == 1 and "42" in p.stderr
    # Text/.npy inputs have no sample rate: a WAV output needs one, never a silent default.
    p = run_cli("adapt", "--x", tmp_path / "ok.npy", "--y", tmp_path / "ok.npy", "--causal", 8,
                "--out-error", tmp_path / "e.wav")
    assert p.returncode == 2 and "--sample-rate" in p.stderr and not (tmp_path / "e.wav").exists()
    p = run_cli("adapt", "--x", tmp_path / "ok.npy", "--y", tmp_path / "ok.npy", "--causal", 8,
                "--out-error", tmp_path / "e.wav", "--sample-rate", 8000)
    assert p.returncode == 0, p.stderr
    assert scipy.io.wavfile.read(tmp_path / "e.wav")[0] == 8000


def test_adapt_reports_divergence_and_writes_only_the_summary(run_cli, echo):
    d, _ = echo
    p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic.wav", "--algo", "lms", "--causal", 64,
                "--mu", 50, "--out-error", d / "e.wav", "--out-h", d / "h.json", "--summary", d / "s.json")
    assert p.returncode == 1 and "diverged" in p.stderr
    assert not (d / "e.wav").exists() and not (d / "h.json").exists()
    s = json.loads((d / "s.json").read_text())
    assert s["diverged"]["sample"] < 3 * RATE
    assert all(np.isfinite(s["h"]))


def test_apply_uses_the_learned_taps_with_their_delay(run_cli, tmp_path):
    """adapt --lo L writes the tap range into h.json; apply reads it and reproduces the echo."""
    rng = np.random.default_rng(9)
    x = 0.3 * rng.standard_normal(2 * RATE)
    h = np.zeros(40)
    h[5], h[9] = 0.5, -0.2  # taps m = 5 and 9
    y = system(h, x)
    scipy.io.wavfile.write(tmp_path / "far.wav", RATE, x.astype(np.float32))
    scipy.io.wavfile.write(tmp_path / "mic.wav", RATE, y.astype(np.float32))
    p = run_cli("adapt", "--x", tmp_path / "far.wav", "--y", tmp_path / "mic.wav", "--algo", "rls",
                "--causal", 32, "--lo", 2, "--delta", "1e-9", "--out-h", tmp_path / "h.json", "--quiet")
    assert p.returncode == 0, p.stderr
    taps = json.loads((tmp_path / "h.json").read_text())
    assert (taps["lo"], taps["hi"]) == (2, 33)
    learned = np.asarray(taps["h"])
    assert abs(learned[3] - 0.5) < 100 * EPS32 and abs(learned[7] + 0.2) < 100 * EPS32  # m = 5 and 9
    p = run_cli("apply", "--h", tmp_path / "h.json", "--x", tmp_path / "far.wav", "--out", tmp_path / "yhat.wav")
    assert p.returncode == 0, p.stderr
    _, yhat = scipy.io.wavfile.read(tmp_path / "yhat.wav")
    _, mic = scipy.io.wavfile.read(tmp_path / "mic.wav")
    assert np.max(np.abs(yhat - mic)) < 1000 * EPS32 * np.max(np.abs(mic))  # 40 taps of float32 data
