#!/usr/bin/python3
"""Exact least-squares filter fitting: `convgrad fit --solver exact` side by side with what a
NumPy/SciPy user would otherwise write, in the same run on the same machine.

Peers, for a causal K-tap filter and N samples ('same' model, X[n, m] = x[n - m]):
  convgrad   the CLI: reads .npy, builds X^T X from the FFT autocorrelation plus O(K^2) edge
             corrections and X^T y, Cholesky; timed end to end (process wall time, file reading
             included) and by the solver's own clock (summary "seconds").
  lstsq      numpy.linalg.lstsq on the explicit N x K design matrix (LAPACK gelsd), where it fits
             in memory; the script says where it does not (N K 8 bytes, plus LAPACK's copy).
  toeplitz   scipy.linalg.solve_toeplitz (Levinson) on the autocorrelation, with X^T y by FFT
             correlation. Fast, but it solves the autocorrelation-method APPROXIMATION: it
             replaces the edge-dependent Gram matrix by a Toeplitz one, so its answer differs from
             the exact least-squares solution (the difference is reported).

Differences are ||h - h_convgrad|| / ||h_convgrad||. convgrad and toeplitz are timed --repeat
times each, alternately, and the best time is kept (the machine may be shared: the best run is
the one least disturbed); lstsq, a minute per run, once. Usage:
  bench/fit_compare.py [--bin build/cli/convgrad] [--cases 1e6:255,1e7:1023] [--memory-gb 10] [--repeat 5]
"""
import argparse
import json
import os
import pathlib
import platform
import subprocess
import tempfile
import time

import numpy as np
import scipy
import scipy.linalg
import scipy.signal

ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_case(N, K, seed=1):
    """A coloured input through a random causal filter plus noise (float64)."""
    rng = np.random.default_rng(seed)
    x = scipy.signal.lfilter([1.0], [1.0, -0.5], rng.standard_normal(N))
    h = rng.standard_normal(K) / np.sqrt(K)
    y = scipy.signal.oaconvolve(x, h)[:N] + 0.1 * rng.standard_normal(N)
    return x, y


def run_convgrad(binary, x, y, K, tmp):
    np.save(tmp / "x.npy", x)
    np.save(tmp / "y.npy", y)
    t0 = time.perf_counter()
    subprocess.run([binary, "fit", "--x", tmp / "x.npy", "--y", tmp / "y.npy", "--causal", str(K), "--solver", "exact",
                    "--out", tmp / "h.json", "--summary", tmp / "s.json", "--quiet"], check=True)
    wall = time.perf_counter() - t0
    s = json.loads((tmp / "s.json").read_text())
    return np.array(json.loads((tmp / "h.json").read_text())["h"]), wall, s["seconds"], s["condition_number"]


def run_lstsq(x, y, K):
    t0 = time.perf_counter()
    xp = np.concatenate([np.zeros(K - 1), x])
    X = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(xp, K)[:, ::-1])  # X[n, m] = x[n - m]
    h, *_ = np.linalg.lstsq(X, y, rcond=None)
    return h, time.perf_counter() - t0


def run_toeplitz(x, y, K):
    t0 = time.perf_counter()
    N = len(x)
    r = scipy.signal.correlate(x, x, mode="full", method="fft")[N - 1:N - 1 + K]  # r[d] = sum x[n] x[n-d]
    b = scipy.signal.correlate(y, x, mode="full", method="fft")[N - 1:N - 1 + K]  # b[m] = sum y[n] x[n-m]
    h = scipy.linalg.solve_toeplitz((r, r), b)
    return h, time.perf_counter() - t0


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("CONVGRAD_BIN", str(ROOT / "build" / "cli" / "convgrad")))
    ap.add_argument("--cases", default="1e6:255,1e7:1023")
    ap.add_argument("--memory-gb", type=float, default=10.0, help="skip lstsq when its matrices would exceed this")
    ap.add_argument("--repeat", type=int, default=5, help="time convgrad and toeplitz this many times, keep the best")
    a = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, python {platform.python_version()}; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    rows = []
    for case in a.cases.split(","):
        n_str, k_str = case.split(":")
        N, K = int(float(n_str)), int(k_str)
        x, y = make_case(N, K)
        wall = solver_s = t_tp = float("inf")
        for _ in range(max(1, a.repeat)):
            with tempfile.TemporaryDirectory() as d:
                h_cg, w, s_cg, cond = run_convgrad(a.bin, x, y, K, pathlib.Path(d))
            wall, solver_s = min(wall, w), min(solver_s, s_cg)
            h_tp, t = run_toeplitz(x, y, K)
            t_tp = min(t_tp, t)
        row = {"N": N, "K": K, "convgrad_wall": wall, "convgrad_solver": solver_s, "cond": cond}
        row.update(toeplitz=t_tp, toeplitz_diff=rel(h_tp, h_cg))
        need_gb = 2 * N * K * 8 / 2 ** 30  # the design matrix and LAPACK's working copy
        if need_gb <= a.memory_gb:
            h_ls, t_ls = run_lstsq(x, y, K)
            row.update(lstsq=t_ls, lstsq_diff=rel(h_ls, h_cg))
        else:
            row.update(lstsq=None, lstsq_note=f"needs ~{need_gb:.0f} GB (> {a.memory_gb:g} GB): not run")
        rows.append(row)
        print(json.dumps(row))
    print()
    print("| N | K | convgrad exact (wall / solver) | numpy lstsq (design matrix) | ratio | "
          "scipy solve_toeplitz (approximation) | ratio | diff lstsq | diff toeplitz | cond |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ls = f"{r['lstsq']:.2f} s" if r["lstsq"] is not None else r["lstsq_note"]
        ls_ratio = f"{r['lstsq'] / r['convgrad_wall']:.3g}x" if r["lstsq"] is not None else "-"
        ls_diff = f"{r['lstsq_diff']:.1e}" if r["lstsq"] is not None else "-"
        print(f"| 10^{np.log10(r['N']):.0f} | {r['K']} | {r['convgrad_wall']:.2f} s / {r['convgrad_solver']:.2f} s | {ls} | "
              f"{ls_ratio} | {r['toeplitz']:.2f} s | {r['toeplitz'] / r['convgrad_wall']:.3g}x | {ls_diff} | "
              f"{r['toeplitz_diff']:.1e} | {r['cond']:.3g} |")
    print("\nratio = peer time / convgrad wall time (above 1: convgrad is faster); "
          "diff = ||h_peer - h_convgrad|| / ||h_convgrad||")


if __name__ == "__main__":
    main()
