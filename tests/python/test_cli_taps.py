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


# ---- taps keep their range and their sample rate (issue 9, item 4) -----------------------------

def test_npy_holds_only_centred_taps_and_reads_back_centred(run_cli, tmp_path):
    # Was: fit --causal 63 --out h.npy wrote the values, and apply re-centred them (output 31 samples early).
    x, y = fit_causal(run_cli, tmp_path, 0.0, "h.json", K=5)
    r = run_cli("fit", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--causal", 5, "--out",
                tmp_path / "h.npy")
    assert r.returncode == 2 and ".json or .csv" in r.stderr and not (tmp_path / "h.npy").exists()
    r = run_cli("fit", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--half-width", 2, "--out",
                tmp_path / "c.npy", "--quiet")
    assert r.returncode == 0, r.stderr
    r = run_cli("fit", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--half-width", 2, "--out",
                tmp_path / "c.json", "--quiet")
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), json.loads((tmp_path / "c.json").read_text())["h"])
    loss_npy, (lo, hi) = grad_loss(run_cli, tmp_path, "c.npy")
    assert (lo, hi) == (-2, 2) and loss_npy == grad_loss(run_cli, tmp_path, "c.json")[0]


def wav_pair(tmp_path, rate, seed=41, N=2000):
    rng = np.random.default_rng(seed)
    x = (0.3 * rng.standard_normal(N)).astype(np.float32)
    y = scipy.signal.lfilter([0.5, 0.25, 0.125], 1, x).astype(np.float32)
    scipy.io.wavfile.write(tmp_path / f"x{rate}.wav", rate, x)
    scipy.io.wavfile.write(tmp_path / f"y{rate}.wav", rate, y)
    return tmp_path / f"x{rate}.wav", tmp_path / f"y{rate}.wav"


@pytest.mark.parametrize("name", ["h.json", "h.csv"])
def test_taps_record_their_rate_and_apply_refuses_another(run_cli, tmp_path, name):
    x48, y48 = wav_pair(tmp_path, 48000)
    x44, _ = wav_pair(tmp_path, 44100)
    r = run_cli("fit", "--x", x48, "--y", y48, "--causal", 3, "--out", tmp_path / name, "--quiet")
    assert r.returncode == 0, r.stderr
    r = run_cli("apply", "--h", tmp_path / name, "--x", x48, "--out", tmp_path / "ok.wav", "--quiet")
    assert r.returncode == 0, r.stderr
    r = run_cli("apply", "--h", tmp_path / name, "--x", x44, "--out", tmp_path / "no.wav")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "48000 Hz" in r.stderr and "44100 Hz" in r.stderr and "--ignore-rate" in r.stderr
    assert not (tmp_path / "no.wav").exists()
    r = run_cli("apply", "--h", tmp_path / name, "--x", x44, "--out", tmp_path / "forced.wav", "--ignore-rate",
                "--quiet")
    assert r.returncode == 0, r.stderr


# ---- the same tap options in every command ------------------------------------------------------

@pytest.fixture
def xy(tmp_path):
    rng = np.random.default_rng(51)
    np.save(tmp_path / "x.npy", rng.standard_normal(40))
    np.save(tmp_path / "y.npy", rng.standard_normal(40))
    return ["--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy"]


@pytest.mark.parametrize("options,lo,hi", [
    (["--causal", 4], 0, 3),                 # was "not expected: 4 --causal" in grad and check
    (["--lo", -1, "--hi", 2], -1, 2),        # grad and check had no --hi
    (["--kernel-size", 5], -2, 2),           # fit and tune had no --kernel-size
    (["--kernel-size", 4, "--lo", 1], 1, 4),
    (["--half-width", 2, "--lo", 0], 0, 4),  # --lo is the first tap m, whatever gives the count
])
@pytest.mark.parametrize("command", ["grad", "check", "fit", "tune"])
def test_every_command_takes_the_same_tap_options(run_cli, tmp_path, xy, options, lo, hi, command):
    if command == "grad":
        r = run_cli("grad", *xy, *options, "--json")
        j = json.loads(r.stdout)
    elif command == "check":
        r = run_cli("check", *xy, *options, "--json", "--no-fd")
        j = json.loads(r.stdout)
    elif command == "fit":
        r = run_cli("fit", *xy, *options, "--out", tmp_path / "h.json", "--quiet")
        j = json.loads((tmp_path / "h.json").read_text())
    else:
        r = run_cli("tune", "--n", 64, *options, "--json")
        j = json.loads(r.stdout)
        j["lo"], j["hi"] = j.get("lo", j.get("taps", {}).get("lo")), j.get("hi", j.get("taps", {}).get("hi"))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert (j["lo"], j["hi"]) == (lo, hi)


@pytest.mark.parametrize("command", ["grad", "check", "fit", "tune", "explain"])
def test_the_old_taps_spelling_still_works_with_a_warning(run_cli, tmp_path, xy, command):
    args = {"grad": ["grad", *xy, "--taps", 1, "--json"],
            "check": ["check", "--taps", 1, "--json"],
            "fit": ["fit", *xy, "--taps", 1, "--out", tmp_path / "h.json", "--quiet"],
            "tune": ["tune", "--n", 64, "--taps", 1, "--json"],
            "explain": ["explain", "--taps", 1]}[command]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "convgrad: warning: --taps is deprecated; use --half-width M (K = 2M+1 taps m = -M..M)\n"
    new = run_cli(*[("--half-width" if a == "--taps" else a) for a in args])
    assert new.returncode == 0 and new.stderr == ""


def test_fit_solves_exactly_by_default(run_cli, tmp_path, xy):
    r = run_cli("fit", *xy, "--half-width", 1, "--out", tmp_path / "h.json", "--summary", tmp_path / "s.json",
                "--quiet")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "s.json").read_text())["solver"] == "exact"


@pytest.mark.parametrize("command", ["grad", "check", "tune"])
def test_more_taps_than_samples_is_warned_about(run_cli, xy, command):
    args = {"grad": ["grad", *xy, "--causal", 41],
            "check": ["check", *xy, "--causal", 41, "--no-fd"],
            "tune": ["tune", "--n", 40, "--causal", 41]}[command]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "warning: the filter has K = 41 taps but the signal only N = 40 samples" in r.stderr
    r = run_cli(*[("40" if str(a) == "41" else a) for a in args])
    assert "warning" not in r.stderr
