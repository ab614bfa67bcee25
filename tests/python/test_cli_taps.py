"""Taps files through every command that takes taps: one reader, the recorded range honoured.

The oracle is `apply` (and numpy): the loss that `grad` and `check` report for a taps file must
be 1/2 ||apply(h, x) - y||^2, whatever format `fit --out` wrote the taps in.
"""
import json

import numpy as np
import pytest
import scipy.signal

EPS = np.finfo(np.float64).eps


def fit_causal(run_cli, tmp_path, y_noise, name, K=3, seed=31, N=400):
    """x, y = h_true (causal) * x + noise, and the taps `fit --causal K` writes to `name`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(N)
    y = scipy.signal.lfilter(rng.standard_normal(K), 1, x) + y_noise * rng.standard_normal(N)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    r = run_cli("fit", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--causal", K, "--solver", "exact",
                "--out", tmp_path / name, "--quiet")
    assert r.returncode == 0, r.stderr
    return x, y


def apply_loss(run_cli, tmp_path, name, y):
    r = run_cli("apply", "--h", tmp_path / name, "--x", tmp_path / "x.npy", "--out", tmp_path / "yhat.npy", "--quiet")
    assert r.returncode == 0, r.stderr
    res = np.load(tmp_path / "yhat.npy") - y
    return 0.5 * res @ res


def grad_loss(run_cli, tmp_path, name):
    r = run_cli("grad", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--h", tmp_path / name, "--json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    return j["loss"], (j["lo"], j["hi"])


def check_loss(run_cli, tmp_path, name):
    r = run_cli("check", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--h", tmp_path / name, "--json",
                "--no-fd")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    return j["loss"], (j["lo"], j["hi"])


@pytest.mark.parametrize("name", ["h.csv", "h.json"])
@pytest.mark.parametrize("command", [grad_loss, check_loss])
def test_an_exact_fit_has_zero_loss_in_grad_and_check(run_cli, tmp_path, name, command):
    # Was: the .csv read as a plain signal, its taps centred at m = -1..1 (loss 124); the .json refused.
    x, y = fit_causal(run_cli, tmp_path, 0.0, name)
    loss, (lo, hi) = command(run_cli, tmp_path, name)
    assert (lo, hi) == (0, 2)
    # y is exactly h * x up to rounding: each residual is a few ulps of the largest sum.
    bound = 0.5 * len(y) * (16 * EPS * np.abs(x).max() * np.abs(y).max() * 3) ** 2
    assert loss <= bound
    assert apply_loss(run_cli, tmp_path, name, y) <= bound


@pytest.mark.parametrize("name", ["h.csv", "h.json"])
@pytest.mark.parametrize("command", [grad_loss, check_loss])
def test_grad_and_check_report_the_loss_apply_confirms(run_cli, tmp_path, name, command):
    x, y = fit_causal(run_cli, tmp_path, 0.3, name)
    loss, _ = command(run_cli, tmp_path, name)
    want = apply_loss(run_cli, tmp_path, name, y)
    assert want > 1  # the noise keeps the loss far from rounding
    assert loss == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("command", ["grad", "check"])
def test_a_lo_that_contradicts_the_recorded_range_names_both(run_cli, tmp_path, command):
    fit_causal(run_cli, tmp_path, 0.0, "h.json")
    r = run_cli(command, "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--h", tmp_path / "h.json",
                "--lo", -1)
    assert r.returncode == 2
    assert r.stderr.startswith("convgrad: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "--lo -1" in r.stderr and "lo = 0" in r.stderr and "h.json" in r.stderr
