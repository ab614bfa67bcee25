"""System identification end to end: a known causal FIR recovered from recordings.

A real signal (speech synthesised by espeak-ng, or a noise + chirp mix) passes through a 63-tap
scipy.signal.firwin low-pass, and white noise at 30 dB SNR is added; `convgrad fit --causal 63`
must recover the taps within the error the noise predicts.

The bound. With causal taps the 'same' model is y = X h + e, X[n, m] = x[n - m] (m = 0..62,
x = 0 before the start: exactly scipy.signal.lfilter(h, 1, x)), e white with variance sigma^2
and independent of x. The least-squares estimate is

    h_hat = (X^T X)^-1 X^T y = h + (X^T X)^-1 X^T e,

so the error d = (X^T X)^-1 X^T e has mean 0 and covariance sigma^2 (X^T X)^-1 (X^T X)(X^T X)^-1
= sigma^2 (X^T X)^-1, and

    E ||h_hat - h||^2 = trace(Cov d) = sigma^2 trace((X^T X)^-1).

||d||^2 is a weighted sum of chi-squared(1) variables (weights sigma^2 / lambda_i), so it exceeds
t times its mean with probability at most 1/t (Markov), and far less when many weights share
the sum. The test asserts ||h_hat - h||^2 <= 5 sigma^2 trace((X^T X)^-1) on seeded data (the
observed ratio is printed by the assertion and sits near 1), and that a one-sample shift of the
true filter, a plausible wrong answer, fails the same bound.
"""
import json
import shutil
import subprocess

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

K = 63
RATE = 22050


def speech(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh installs it)")
    wav = tmp_path / "speech.wav"
    text = ("The quick brown fox jumps over the lazy dog. System identification recovers an unknown filter "
            "from what goes in and what comes out.")
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    rate, pcm = scipy.io.wavfile.read(wav)
    x = pcm.astype(np.float64) / 32768.0  # exact in float32 too
    return rate, x


def noise_chirp(tmp_path):
    rng = np.random.default_rng(31)
    n = 3 * RATE
    t = np.arange(n) / RATE
    x = 0.2 * rng.standard_normal(n) + 0.5 * scipy.signal.chirp(t, f0=50, t1=t[-1], f1=10000)
    return RATE, x.astype(np.float32).astype(np.float64)


def gram(x):
    """X^T X of the causal design matrix, X[n, m] = x[n - m]."""
    xp = np.concatenate([np.zeros(K - 1), x])
    X = np.lib.stride_tricks.sliding_window_view(xp, K)[:, ::-1]
    return X.T @ X, X


@pytest.mark.parametrize("source", [speech, noise_chirp], ids=["espeak-speech", "noise-chirp"])
def test_recovers_a_firwin_lowpass_within_the_noise_bound(run_cli, tmp_path, source):
    rate, x = source(tmp_path)
    h = scipy.signal.firwin(K, 0.25)  # cutoff at a quarter of Nyquist
    clean = scipy.signal.lfilter(h, 1, x)
    rng = np.random.default_rng(32)
    sigma = np.sqrt(np.mean(clean ** 2) / 10 ** (30 / 10))  # 30 dB SNR
    y = (clean + sigma * rng.standard_normal(len(x))).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "x.wav", rate, x.astype(np.float32))
    scipy.io.wavfile.write(tmp_path / "y.wav", rate, y)
    # Storing y as float32 adds rounding noise of variance ~ (eps_32 |y|)^2 / 12: 1e-7 of sigma^2.

    r = run_cli("fit", "--x", tmp_path / "x.wav", "--y", tmp_path / "y.wav", "--causal", K, "--solver", "exact",
                "--out", tmp_path / "h.json", "--summary", tmp_path / "s.json", "--quiet")
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "h.json").read_text())
    summary = json.loads((tmp_path / "s.json").read_text())
    assert (out["lo"], out["hi"]) == (0, K - 1)
    assert summary["sample_rate"] == rate
    h_hat = np.array(out["h"])

    G, X = gram(x)
    predicted = sigma ** 2 * np.trace(np.linalg.inv(G))
    err2 = np.sum((h_hat - h) ** 2)
    print(f"{source.__name__}: ||h_hat - h||^2 / (sigma^2 tr((X^T X)^-1)) = {err2 / predicted:.3f}, cond {np.linalg.cond(G):.3g}")
    assert err2 <= 5 * predicted, f"||h_hat - h||^2 = {err2:.3e}, sigma^2 tr((X^T X)^-1) = {predicted:.3e}"
    assert np.sum((np.roll(h, 1) - h) ** 2) > 5 * predicted  # a wrong answer fails the same bound

    # And convgrad's estimate is numpy's least-squares solution of the same normal equations.
    h_np = np.linalg.solve(G, X.T @ y.astype(np.float64))
    cond = summary["condition_number"]
    assert cond == pytest.approx(np.linalg.cond(G), rel=1e-6)
    assert np.linalg.norm(h_hat - h_np) <= 4 * cond * np.finfo(float).eps * (len(x) + 2 * K) * np.linalg.norm(h_np)


def test_nesterov_identifies_the_filter_from_noise_and_chirp(run_cli, tmp_path):
    rate, x = noise_chirp(tmp_path)
    h = scipy.signal.firwin(K, 0.25)
    clean = scipy.signal.lfilter(h, 1, x)
    rng = np.random.default_rng(33)
    sigma = np.sqrt(np.mean(clean ** 2) / 1000)
    y = clean + sigma * rng.standard_normal(len(x))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    G, X = gram(x)
    r = run_cli("fit", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--causal", K, "--solver", "nesterov",
                "--out", tmp_path / "h.json", "--quiet")
    assert r.returncode == 0, r.stderr
    h_hat = np.array(json.loads((tmp_path / "h.json").read_text())["h"])  # .npy cannot hold m = 0..62
    h_ls = np.linalg.solve(G, X.T @ y)
    assert np.linalg.norm(h_hat - h_ls) <= 1e-7 * np.linalg.norm(h_ls)  # well-conditioned: cond(G) is modest
    assert np.sum((h_hat - h) ** 2) <= 5 * sigma ** 2 * np.trace(np.linalg.inv(G))
