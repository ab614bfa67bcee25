"""`convgrad fit` with several inputs: several --x for one --y, or multi-channel WAV files,
fitted by the exact least squares of y_o = sum_c h_{o,c} * x_c, against numpy.linalg.lstsq on
the explicit design matrix [X_0 ... X_{C_in-1}] (tolerance: cond eps (N + 2 C_in K), as in
test_fit_cli.py), or by the iterative solvers (within ||dF/dH|| / lambda_min of it, the bound
their stopping rule gives), and the refusals of what the multi-input fit does not do.
"""
import json
import os
import subprocess

import numpy as np
import pytest
import scipy.io.wavfile

from test_py_mimo import lstsq_answer, tolerance


def test_several_x_for_one_y_match_lstsq(tmp_path, run_cli):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 400)), rng.standard_normal(400)
    args = []
    for c in range(3):
        np.save(tmp_path / f"x{c}.npy", x[c])
        args += ["--x", tmp_path / f"x{c}.npy"]
    np.save(tmp_path / "y.npy", y)
    out, summary = tmp_path / "h.json", tmp_path / "s.json"
    p = run_cli("fit", *args, "--y", tmp_path / "y.npy", "--kernel-size", 6, "--lo", -2, "--ridge", 0.5,
                "--out", out, "--summary", summary)
    assert p.returncode == 0, p.stderr
    assert "3 input(s) -> 1 output(s)" in p.stdout and "condition number" in p.stdout
    taps = json.loads(out.read_text())
    h = np.array(taps["h"])
    assert (taps["lo"], taps["hi"], taps["K"], taps["inputs"], taps["outputs"]) == (-2, 3, 6, 3, 1)
    want, cond = lstsq_answer(x, y[None, :], -2, 3, 0.5)
    assert h.shape == (1, 3, 6)
    assert np.linalg.norm(h - want) <= tolerance(cond, 400, 18) * np.linalg.norm(want)
    s = json.loads(summary.read_text())
    assert s["condition_number"] == pytest.approx(cond, rel=1e-6)
    assert s["advice"] is None
    assert [i["file"] for i in s["inputs"]] == [str(tmp_path / f"x{c}.npy") for c in range(3)]
    np.testing.assert_array_equal(np.array(s["h"]), h)


def test_multichannel_wavs_fit_every_output_channel(tmp_path, run_cli):
    rng = np.random.default_rng(2)
    x = (0.3 * rng.standard_normal((2, 600))).astype(np.float32)
    h_true = 0.2 * rng.standard_normal((3, 2, 5))
    y = np.zeros((3, 600))
    for o in range(3):
        for c in range(2):
            y[o] += np.convolve(x[c].astype(np.float64), h_true[o, c])[2:602]  # centred taps -2..2
    scipy.io.wavfile.write(tmp_path / "x.wav", 16000, x.T.copy())
    scipy.io.wavfile.write(tmp_path / "y.wav", 16000, y.T.astype(np.float32).copy())
    out = tmp_path / "h.json"
    p = run_cli("fit", "--x", tmp_path / "x.wav", "--y", tmp_path / "y.wav", "--kernel-size", 5, "--out", out)
    assert p.returncode == 0, p.stderr
    taps = json.loads(out.read_text())
    assert taps["sample_rate"] == 16000
    h = np.array(taps["h"])
    # The WAV holds y in float32: the answer is lstsq's for the stored values.
    xs = x.astype(np.float64)
    ys = y.astype(np.float32).astype(np.float64)
    want, cond = lstsq_answer(xs, ys, -2, 2, 0.0)
    assert h.shape == (3, 2, 5)
    assert np.linalg.norm(h - want) <= tolerance(cond, 600, 10) * np.linalg.norm(want)
    # ...and within float32 rounding of y of the true filters.
    assert np.linalg.norm(h - h_true) <= 1e-5 * np.linalg.norm(h_true) * np.sqrt(cond)
    # --channel picks one channel of each file: the single-input, single-output fit.
    p = run_cli("fit", "--x", tmp_path / "x.wav", "--y", tmp_path / "y.wav", "--channel", 1,
                "--kernel-size", 5, "--out", tmp_path / "one.json")
    assert p.returncode == 0, p.stderr
    assert len(json.loads((tmp_path / "one.json").read_text())["h"]) == 5


def test_correlated_inputs_warn_and_suggest_ridge(tmp_path, run_cli):
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal(500)
    np.save(tmp_path / "a.npy", x0)
    np.save(tmp_path / "b.npy", x0 + 1e-5 * rng.standard_normal(500))
    np.save(tmp_path / "y.npy", rng.standard_normal(500))
    summary = tmp_path / "s.json"
    p = run_cli("fit", "--x", tmp_path / "a.npy", "--x", tmp_path / "b.npy", "--y", tmp_path / "y.npy",
                "--kernel-size", 3, "--out", tmp_path / "h.json", "--summary", summary)
    assert p.returncode == 0, p.stderr
    assert "warning" in p.stderr and "correlated" in p.stderr and "--ridge" in p.stderr
    s = json.loads(summary.read_text())
    assert s["condition_number"] > 1e8 and "--ridge" in s["advice"]
    # Copies of one input: singular, refused with the hint, nothing written.
    p = run_cli("fit", "--x", tmp_path / "a.npy", "--x", tmp_path / "a.npy", "--y", tmp_path / "y.npy",
                "--kernel-size", 3, "--out", tmp_path / "copy.json")
    assert p.returncode == 1 and "ridge" in p.stderr
    assert not (tmp_path / "copy.json").exists()


@pytest.mark.parametrize("extra, match", [
    (["--solver", "gd", "--batch", "1"], "single-input"),
    (["--solver", "gd", "--h0", "h0.json"], "single-input"),
    (["--history", "hist.csv"], "iterative solvers"),
    (["--report", "r.html"], "single-input"),
    (["--true-h", "t.json"], "single-input"),
])
def test_what_the_multi_input_fit_does_not_do_is_refused(tmp_path, run_cli, extra, match):
    for name in ("a", "b", "y"):
        np.save(tmp_path / f"{name}.npy", np.arange(1.0, 21.0) ** (1 + (name == "b")))
    p = run_cli("fit", "--x", tmp_path / "a.npy", "--x", tmp_path / "b.npy", "--y", tmp_path / "y.npy",
                "--kernel-size", 3, "--out", tmp_path / "h.json", *extra, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert match in p.stderr and p.stderr.count("\n") == 1
    assert not (tmp_path / "h.json").exists()


def test_only_json_holds_the_filters_of_every_pair_and_lengths_must_agree(tmp_path, run_cli):
    np.save(tmp_path / "a.npy", np.ones(20))
    np.save(tmp_path / "b.npy", np.ones(19))
    np.save(tmp_path / "y.npy", np.ones(20))
    p = run_cli("fit", "--x", tmp_path / "a.npy", "--x", tmp_path / "a.npy", "--y", tmp_path / "y.npy",
                "--kernel-size", 3, "--out", tmp_path / "h.npy")
    assert p.returncode == 2 and ".json" in p.stderr
    p = run_cli("fit", "--x", tmp_path / "a.npy", "--x", tmp_path / "a.npy", "--y", tmp_path / "y.npy",
                "--kernel-size", 3)
    assert p.returncode == 2 and "--out: a .json file" in p.stderr
    p = run_cli("fit", "--x", tmp_path / "a.npy", "--x", tmp_path / "b.npy", "--y", tmp_path / "y.npy",
                "--kernel-size", 3, "--out", tmp_path / "h.json")
    assert p.returncode == 1 and "same length" in p.stderr and "b.npy" in p.stderr
    assert not (tmp_path / "h.json").exists()


def write_noise_free_system(tmp_path, seed, C_in, N, lo, K):
    """Inputs x0.npy.. and a two-channel float WAV y.wav of y_o = sum_c h_{o,c} * x_c."""
    import convgrad
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((C_in, N))
    h_true = rng.standard_normal((2, C_in, K)) / 8
    y = np.array([sum(convgrad.conv(x[c], h_true[o, c], lo) for c in range(C_in)) for o in range(2)])
    args = []
    for c in range(C_in):
        np.save(tmp_path / f"x{c}.npy", x[c])
        args += ["--x", tmp_path / f"x{c}.npy"]
    scipy.io.wavfile.write(tmp_path / "y.wav", 8000, y.T.astype(np.float32))
    rate, y32 = scipy.io.wavfile.read(tmp_path / "y.wav")
    return x, y32.T.astype(np.float64), args + ["--y", tmp_path / "y.wav"]


@pytest.mark.parametrize("solver", ["gd", "nesterov", "adam"])
def test_iterative_solvers_reach_the_exact_answer(tmp_path, run_cli, solver):
    C_in, N, lo, K = 3, 1200, -1, 4
    x, y, data = write_noise_free_system(tmp_path, 21, C_in, N, lo, K)
    base = ["fit", *data, "--kernel-size", K, "--lo", lo]
    p = run_cli(*base, "--out", tmp_path / "exact.json", "--summary", tmp_path / "exact_s.json")
    assert p.returncode == 0, p.stderr
    exact = json.loads((tmp_path / "exact_s.json").read_text())
    extra = ["--lr", 0.05] if solver == "adam" else []
    out, summary, history = tmp_path / "h.json", tmp_path / "s.json", tmp_path / "hist.csv"
    p = run_cli(*base, "--solver", solver, *extra, "--out", out, "--summary", summary, "--history", history)
    assert p.returncode == 0, p.stderr
    assert f"fit: {solver}," in p.stdout and "gradient tolerance" in p.stdout
    s = json.loads(summary.read_text())
    assert (s["solver"], s["stop_reason"]) == (solver, "gradient tolerance")
    assert s["condition_number"] is None
    assert ("lambda_max" in s) == (solver != "adam") and ("adam" in s) == (solver == "adam")
    rows = np.loadtxt(history, delimiter=",", skiprows=1, ndmin=2)
    assert rows.shape[0] == s["iterations"] + 1
    assert rows[0, 1] == pytest.approx(0.5 * np.sum(y * y), rel=1e-12)  # the loss at h = 0
    assert s["grad_norm"] <= 1e-10 * rows[0, 2]
    h, want = np.array(json.loads(out.read_text())["h"]), np.array(exact["h"])
    lambda_min = exact["lambda_min"]
    tol = s["grad_norm"] / lambda_min + tolerance(exact["condition_number"], N, C_in * K) * np.linalg.norm(want)
    assert np.linalg.norm(h - want) <= tol


def test_iterative_fit_gives_the_same_bits_for_one_thread_or_two(tmp_path, convgrad_bin):
    _, _, data = write_noise_free_system(tmp_path, 22, 2, 50000, -8, 17)
    outs = []
    for threads in ("1", "2"):
        out = tmp_path / f"h{threads}.json"
        for method in ("direct", "fft"):
            p = subprocess.run([str(a) for a in [convgrad_bin, "fit", *data, "--kernel-size", 17, "--lo", -8,
                                                 "--solver", "nesterov", "--max-iter", 20, "--method", method,
                                                 "--out", out]],
                               capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=threads),
                               timeout=300)
            assert p.returncode == 0, p.stderr
            outs.append(out.read_bytes())
    assert outs[:2] == outs[2:]
