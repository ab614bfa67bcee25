#!/usr/bin/python3
"""Side-by-side speed of one training step: convgrad against PyTorch, NumPy and SciPy.

A training step is yhat = h * x ('same', centred taps), r = yhat - y, loss = 1/2 |r|^2 and
dh[m] = sum_n x[n-m] r[n]. Every implementation runs in this same process run, on the same
inputs, over the grid N in {1e3, 1e5, 1e6, 1e7} x K in {3, 31, 255, 4095}, float32 and
float64. Each result (loss and dh) is checked against a float64 reference before it is
timed; a wrong result is reported, never timed.

    /usr/bin/python3 bench/compare.py [--build build] [--quick] [--json out.json]

convgrad runs through bench/convgrad_step (built with -DCONVGRAD_BENCH=ON), a small C++
driver that reads no files and builds the same inputs from a formula (see step_driver.cpp),
at 1 and 2 threads with Method::automatic, and with direct and fft forced so the automatic
choice can be judged. These runs time loss_and_dh, the training step a training loop calls
(the loss and dh; yhat and r stay in cache); the 'full' runs time loss_and_grad, which also
writes yhat and r to memory, as every peer here does. PyTorch runs at 1 and 2 threads;
NumPy and SciPy are single-threaded here. Throughput is million taps per second (N K /
time); the fraction of peak counts 4 flops per tap (two multiply-adds: forward and dh)
against the measured FMA peak of the cores used. The ratio is convgrad's best over the
best peer's ('ratio' for the training step, 'r-full' for the full step).

Time is capped: a peer whose single run is estimated (from its previous, smaller N at the
same K) to take more than --cap seconds is skipped and marked 'skip (est. Xs)'; PyTorch's
float64 conv1d builds an N x K im2col buffer, skipped when that would exceed --mem GB.

NumPy's np.convolve and np.correlate do not go through BLAS, so OPENBLAS_CORETYPE (set on
some machines here) does not affect these figures.
"""
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np
import scipy
import scipy.signal as signal
import torch

GRID_N = [1_000, 100_000, 1_000_000, 10_000_000]
GRID_K = [3, 31, 255, 4095]
DTYPES = {"float": np.float32, "double": np.float64}


# --- inputs: the formula of step_driver.cpp, vectorised --------------------------------------

def splitmix64(z):
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def signal_values(seed, n, scale, dtype):
    idx = np.arange(n, dtype=np.uint64) + np.uint64(seed << 32)
    u = (splitmix64(idx) >> np.uint64(40)).astype(np.float64) / 16777216.0 - 0.5
    return (u * scale).astype(dtype)


def inputs(n, k, dtype):
    return (signal_values(1, n, 1.0, dtype), signal_values(2, n, 1.0, dtype),
            signal_values(3, k, 1.0 / k, dtype))


# --- the float64 reference ----------------------------------------------------------------------

def reference(x, y, h):
    """loss and dh in float64 through scipy's FFT (rounding ~1e-16 relative to the norms)."""
    x, y, h = (a.astype(np.float64) for a in (x, y, h))
    M = (len(h) - 1) // 2
    yhat = signal.fftconvolve(x, h, mode="full")[M:M + len(x)]
    r = yhat - y
    rp = np.pad(r, (M, M))
    dh = signal.fftconvolve(rp, x[::-1], mode="valid")  # dh[m] = sum_n r[n+m] x[n], m = -M..M
    return 0.5 * float(r @ r), dh


def check(name, dtype, n, loss, dh, ref):
    """Relative error of dh against max |dh_ref|; tolerance 10 eps sqrt(N) (an N-term sum's
    typical rounding, with room), and the loss to the same relative tolerance."""
    ref_loss, ref_dh = ref
    eps = np.finfo(dtype).eps
    tol = 10 * eps * math.sqrt(n)
    err = float(np.max(np.abs(np.asarray(dh, dtype=np.float64) - ref_dh)) / np.max(np.abs(ref_dh)))
    lerr = abs(loss - ref_loss) / abs(ref_loss)
    if not (err <= tol and lerr <= tol):
        raise AssertionError(f"{name}: dh error {err:.2e}, loss error {lerr:.2e} > {tol:.2e}")
    return err


# --- peers ---------------------------------------------------------------------------------------

def step_numpy(x, y, h):
    M = (len(h) - 1) // 2
    yhat = np.convolve(x, h)[M:M + len(x)]  # 'full' then slice: 'same' for every N, even N < K
    r = yhat - y
    dh = np.correlate(np.pad(r, (M, M)), x, mode="valid")
    return 0.5 * float(np.dot(r.astype(np.float64), r.astype(np.float64))), dh


def step_scipy(method):
    def step(x, y, h):
        M = (len(h) - 1) // 2
        yhat = signal.convolve(x, h, mode="full", method=method)[M:M + len(x)]
        r = yhat - y
        dh = signal.correlate(np.pad(r, (M, M)), x, mode="valid", method=method)
        return 0.5 * float(np.dot(r.astype(np.float64), r.astype(np.float64))), dh
    return step


def step_torch(threads):
    def step(x, y, h):
        torch.set_num_threads(threads)
        M = (len(h) - 1) // 2
        xt = torch.from_numpy(x).view(1, 1, -1)
        yt = torch.from_numpy(y)
        ht = torch.from_numpy(h.copy()).requires_grad_(True)
        yhat = torch.nn.functional.conv1d(xt, ht.flip(0).view(1, 1, -1), padding=M).view(-1)
        r = yhat - yt
        loss = 0.5 * (r * r).sum()
        loss.backward()
        return float(loss), ht.grad.numpy()
    return step


PEERS = [
    ("torch-1t", step_torch(1)),
    ("torch-2t", step_torch(2)),
    ("numpy", step_numpy),
    ("scipy-direct", step_scipy("direct")),
    ("scipy-fft", step_scipy("fft")),
]


def time_peer(fn, x, y, h, ref, name, dtype):
    """Checked first run, then best of up to 5 more within about 1 s (a run over 1 s is its
    own measurement: warm-up effects are negligible there)."""
    t0 = time.perf_counter()
    loss, dh = fn(x, y, h)
    first = time.perf_counter() - t0
    err = check(name, dtype, len(x), loss, dh, ref)
    best = first
    if first < 1.0:
        for _ in range(max(1, min(5, int(1.0 / max(first, 1e-6))))):
            t0 = time.perf_counter()
            fn(x, y, h)
            best = min(best, time.perf_counter() - t0)
    return best, err


# --- convgrad through the driver -------------------------------------------------------------------

def run_driver(driver, n, k, dtype, method, threads, reps, dump=False, lean=True):
    cmd = ([driver, str(n), str(k), dtype, method, str(threads), str(reps)] + (["--dump"] if dump else [])
           + (["--lean"] if lean else []))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def time_convgrad(driver, n, k, dtype, method, threads, ref, lean):
    # Checked run (with dh dumped), then a timing run whose reps fit about 1 s.
    res = run_driver(driver, n, k, dtype, method, threads, 1, dump=True, lean=lean)
    err = check(f"convgrad-{method}-{threads}t", DTYPES[dtype], n, res["loss"], np.array(res["dh"]), ref)
    reps = max(1, min(10, int(1.0 / max(res["best_s"], 1e-6))))
    timed = run_driver(driver, n, k, dtype, method, threads, reps, lean=lean)
    return timed["best_s"], timed["method"], err


# --- the run -------------------------------------------------------------------------------------

def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__, "torch": torch.__version__,
            "load_average": os.getloadavg()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="CMake build folder holding bench/convgrad_step")
    ap.add_argument("--quick", action="store_true", help="N up to 1e5 only")
    ap.add_argument("--cap", type=float, default=20.0, help="skip a peer run estimated longer than this (s)")
    ap.add_argument("--mem", type=float, default=4.0, help="skip PyTorch float64 when im2col exceeds this (GB)")
    ap.add_argument("--json", help="also write every measurement here")
    args = ap.parse_args()

    driver = os.path.join(args.build, "bench", "convgrad_step")
    if not os.access(driver, os.X_OK):
        sys.exit(f"compare.py: error: {driver} not found: build with -DCONVGRAD_BENCH=ON")
    peak = json.loads(subprocess.run([driver, "--peak"], check=True, capture_output=True, text=True).stdout)
    bandwidth = json.loads(subprocess.run([driver, "--bandwidth"], check=True, capture_output=True,
                                          text=True).stdout)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores; load average {info['load_average']}")
    print(f"measured FMA peak per core: {peak['float_flops'] / 1e9:.0f} GFLOP/s float32, "
          f"{peak['double_flops'] / 1e9:.0f} GFLOP/s float64 ({peak['target']})")
    print(f"measured read bandwidth (two arrays of 1e7 doubles): {bandwidth['read_1t'] / 1e9:.1f} GB/s one "
          f"thread, {bandwidth['read_2t'] / 1e9:.1f} GB/s two")
    print(f"numpy {info['numpy']}, scipy {info['scipy']}, torch {info['torch']}")
    print("throughput in million taps/s (N K / time of one training step); %pk: fraction of the FMA peak")
    print("of the cores used at 4 flops/tap (direct only); x2t: direct's 2-thread speedup; auto: the method")
    print("automatic chose is within 10% of the faster one at 1/2 threads (y/N, by the forced runs);")
    print("convgrad and the forced runs: the training step that returns the loss and dh (loss_and_dh);")
    print("full: the step that also writes yhat and r to memory (loss_and_grad), as the peers do;")
    print("ratio: convgrad's best automatic step / the best peer's; ratio-full: full's / the best peer's\n")

    grid_n = GRID_N[:2] if args.quick else GRID_N
    rows = []
    started = time.time()
    for dtype, npdt in DTYPES.items():
        print(HEADER)
        last_time = {}  # (peer, K) -> (N, seconds)
        for n in grid_n:
            for k in GRID_K:
                x, y, h = inputs(n, k, npdt)
                ref = reference(x, y, h)
                taps = n * k
                row = {"dtype": dtype, "N": n, "K": k, "peers": {}, "convgrad": {}}
                # convgrad's training step (loss and dh; --lean) by auto, direct and fft at 1 and 2
                # threads, and the step that also writes yhat and r out ("full", as the peers do).
                for label, method, threads in [("auto-1t", "auto", 1), ("auto-2t", "auto", 2),
                                               ("direct-1t", "direct", 1), ("direct-2t", "direct", 2),
                                               ("fft-1t", "fft", 1), ("fft-2t", "fft", 2),
                                               ("full-1t", "auto", 1), ("full-2t", "auto", 2)]:
                    prev = last_time.get((label, k))
                    est = prev[1] * n / prev[0] if prev else 0.0
                    if est > args.cap:
                        row["convgrad"][label] = {"skipped_est_s": est}
                        continue
                    lean = not label.startswith("full")
                    t, chosen, err = time_convgrad(driver, n, k, dtype, method, threads, ref, lean)
                    row["convgrad"][label] = {"s": t, "method": chosen, "err": err}
                    last_time[(label, k)] = (n, t)
                for name, fn in PEERS:
                    prev = last_time.get((name, k))
                    est = prev[1] * n / prev[0] if prev else 0.0
                    if name.startswith("torch") and npdt == np.float64 and n * k * 8 > args.mem * 1e9:
                        row["peers"][name] = {"skipped": f"im2col {n * k * 8 / 1e9:.0f} GB"}
                        continue
                    if est > args.cap:
                        row["peers"][name] = {"skipped": f"est. {est:.0f}s"}
                        continue
                    try:
                        t, err = time_peer(fn, x, y, h, ref, name, npdt)
                    except (RuntimeError, MemoryError) as e:  # e.g. an allocation the peer cannot make
                        row["peers"][name] = {"skipped": type(e).__name__}
                        continue
                    row["peers"][name] = {"s": t, "err": err}
                    last_time[(name, k)] = (n, t)
                rows.append(row)
                print_row(row, taps, peak, npdt)
                sys.stdout.flush()
        print()
    print(f"total time {time.time() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "peak": peak, "bandwidth": bandwidth, "rows": rows}, f, indent=1)


HEADER = (f"{'dtype':6} {'N':>8} {'K':>5} | {'convgrad':>9} {'how':>10} | {'direct1t':>9} {'%pk':>4} "
          f"{'direct2t':>9} {'%pk':>4} {'x2t':>4} | {'fft1t':>9} {'fft2t':>9} | {'auto':>5} | {'full':>9} | "
          f"{'best peer':>12} {'Mtaps/s':>9} | {'ratio':>6} {'r-full':>6}  peers")


def print_row(row, taps, peak, npdt):
    """One grid point: convgrad's best automatic step, both methods forced at 1 and 2 threads
    (fraction of the FMA peak of the cores used, for direct; 2-thread speedup), whether auto
    was within 10% of the faster method at both thread counts, and the peers."""
    cg = {k: v for k, v in row["convgrad"].items() if "s" in v}
    rate = lambda label: taps / cg[label]["s"] / 1e6 if label in cg else None
    per_core = peak["float_flops"] if npdt == np.float32 else peak["double_flops"]
    autos = [k for k in ("auto-1t", "auto-2t") if k in cg]
    best_label = min(autos, key=lambda k: cg[k]["s"])
    best_rate = rate(best_label)
    how = f"{cg[best_label]['method']}-{best_label[-2:]}"
    fulls = [k for k in ("full-1t", "full-2t") if k in cg]
    full_rate = max(rate(k) for k in fulls) if fulls else float("nan")

    # The direct method multiplies only the taps that reach the signal: min(K, 2N - 1) per sample.
    effective = row["N"] * min(row["K"], 2 * row["N"] - 1) / taps

    def cell(label, cores=None):
        r = rate(label)
        if r is None:
            return f"{'skip':>9}" + (f" {'':>4}" if cores else "")
        text = f"{r:9.0f}"
        if cores:
            text += f" {r * effective * 1e6 * 4 / (per_core * cores):4.0%}"
        return text

    speedup = (f"{rate('direct-2t') / rate('direct-1t'):4.1f}" if rate("direct-1t") and rate("direct-2t")
               else f"{'-':>4}")
    verdicts = []
    for t in ("1t", "2t"):
        d, f, a = cg.get("direct-" + t), cg.get("fft-" + t), cg.get("auto-" + t)
        if d and f and a:  # judge the choice by the forced runs (two runs of one method differ by noise)
            chosen = d if a["method"] == "direct" else f
            verdicts.append("y" if chosen["s"] <= 1.10 * min(d["s"], f["s"]) else "N")
        else:
            verdicts.append("-")
    peers = {k: v for k, v in row["peers"].items() if "s" in v}
    if peers:
        bp = min(peers, key=lambda k: peers[k]["s"])
        bp_rate = taps / peers[bp]["s"] / 1e6
        ratio = f"{best_rate / bp_rate:6.1f} {full_rate / bp_rate:6.1f}"
    else:
        bp, bp_rate, ratio = "none", float("nan"), f"{'-':>6} {'-':>6}"
    others = ", ".join(f"{k} {taps / v['s'] / 1e6:.0f}" if "s" in v else f"{k} skip ({v['skipped']})"
                       for k, v in row["peers"].items())
    print(f"{row['dtype']:6} {row['N']:>8} {row['K']:>5} | {best_rate:9.0f} {how:>10} | "
          f"{cell('direct-1t', 1)} {cell('direct-2t', 2)} {speedup} | {cell('fft-1t')} {cell('fft-2t')} | "
          f"{'/'.join(verdicts):>5} | {full_rate:9.0f} | {bp:>12} {bp_rate:9.0f} | {ratio}  {others}")


if __name__ == "__main__":
    main()
