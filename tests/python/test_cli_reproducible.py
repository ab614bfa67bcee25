"""The same command run in separate processes writes the same bytes (issue 9, item 7).

Identical bits for any thread count is one promise (tests/cpp/test_core_invariants.cpp);
identical bits from one process to the next is another, and it is the one a user sees when a
script is run twice. It rests on every choice that fixes the order of the floating-point
operations being made from the inputs alone, never from a timing: the FFT method's plans
(FFTW_MEASURE timed candidate algorithms and kept the fastest, so two runs could take
different algorithms and differ in the last bits), the blocks and chunks, the SIMD kernels.

Each case runs the command RUNS times, each in a fresh process, and compares the output
files byte for byte. The signals are long enough (N = 10^5, K = 255) for the FFT method to
work in many overlap-save blocks of one transform length, where a measured plan used to
differ between runs (with FFTW_MEASURE, 2-3 of 4 runs of the FFT step differed here).
"""
import json
import numpy as np
import pytest

METHODS = ["reference", "direct", "fft", "auto"]
DTYPES = ["float32", "float64"]
RUNS = 3  # fresh processes per case; a timing-dependent plan rarely agrees three times
N, K = 100_000, 255
N_JACOBIAN = 2_000  # the Jacobian method forms N x N matrices for dx


@pytest.fixture(scope="module")
def signals(tmp_path_factory):
    """x, y (N samples) and centred taps h (K), float64 .npy; --dtype picks the working type."""
    d = tmp_path_factory.mktemp("signals")
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal(N), rng.standard_normal(N)
    h = rng.standard_normal(K) / np.sqrt(K)
    for name, v in {"x": x, "y": y, "h": h, "xs": x[:N_JACOBIAN], "ys": y[:N_JACOBIAN]}.items():
        np.save(d / f"{name}.npy", v)
    return d


def outputs_of_runs(run_cli, tmp_path, args, outputs):
    """Runs `convgrad *args` RUNS times in fresh processes, each writing `outputs` (names of
    files in its own folder, given as {out} in args); returns each run's bytes per output."""
    runs = []
    for i in range(RUNS):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        res = run_cli(*[a.format(out=folder) if isinstance(a, str) else a for a in args])
        assert res.returncode == 0, res.stderr
        runs.append({name: (folder / name).read_bytes() for name in outputs})
    return runs


def assert_identical(runs):
    for i, run in enumerate(runs[1:], start=1):
        for name, data in run.items():
            assert data == runs[0][name], f"{name}: run {i} wrote other bytes than run 0"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS + ["jacobian"])
def test_grad_writes_the_same_bytes_in_every_process(run_cli, signals, tmp_path, method, dtype):
    x, y = ("xs", "ys") if method == "jacobian" else ("x", "y")
    args = ["grad", "--x", signals / f"{x}.npy", "--y", signals / f"{y}.npy", "--h", signals / "h.npy",
            "--method", method, "--dtype", dtype, "--out-dh", "{out}/dh.npy", "--out-dx", "{out}/dx.npy"]
    runs = outputs_of_runs(run_cli, tmp_path, args, ["dh.npy", "dx.npy"])
    assert np.any(np.load(tmp_path / "run0" / "dh.npy") != 0)  # a real gradient, not zeros
    assert_identical(runs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["exact", "gd"])
def test_fit_writes_the_same_bytes_in_every_process(run_cli, signals, tmp_path, solver, dtype):
    # exact: X^T X from the FFT autocorrelation; gd: training steps by the automatic method.
    args = ["fit", "--x", signals / "x.npy", "--y", signals / "y.npy", "--causal", K, "--solver", solver,
            "--dtype", dtype, "--out", "{out}/h.json", "--quiet"]
    if solver == "gd":
        args += ["--max-iter", 10]
    runs = outputs_of_runs(run_cli, tmp_path, args, ["h.json"])
    assert np.any(np.array(json.loads((tmp_path / "run0" / "h.json").read_text())["h"]) != 0)
    assert_identical(runs)
