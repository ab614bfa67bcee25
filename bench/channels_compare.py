#!/usr/bin/python3
"""Side by side: convgrad's multi-channel layer step against PyTorch's F.conv1d (issue 11 item 4).

One layer step is the forward y = bias + W * x and the backward for a given r = dL/dy: dx, dW
(summed over the batch) and dbias. convgrad runs conv_channels + grad_channels through
bench/convgrad_channels_step (built with -DCONVGRAD_BENCH=ON; inputs from a formula, see
bench/formula_inputs.hpp), PyTorch runs F.conv1d forward + backward(r), both at 1 and 2 threads
in this one run, on the same float32 inputs:

    dense    B=32, 64 -> 64,  N=1024,  K=3      ('same', centred taps)
    wide     B=8,  16 -> 16,  N=65536, K in {15, 63, 255, 1023}   ('same')
    depthw.  B=8,  C=256 (groups 256), N=4096, K=63 ('same') and K=4096 causal; for the causal
             long convolution also PyTorch's FFT route, y = irfft(rfft(x, 2N) rfft(k, 2N))[:N],
             as long-convolution models (Hyena, H3) write it, with its autograd backward.

Every result (y, dx, dW, dbias) is first checked against a float64 reference computed here
with NumPy FFTs (independent of both): max |got - ref| / max |ref| <= 10 eps (sqrt(terms) +
log2 L), terms the products per output; a wrong result is reported, never timed.

    /usr/bin/python3 bench/channels_compare.py [--build build] [--quick] [--json out.json]

Times: the best wall-clock time of a few runs (a run over ~1 s is its own measurement), and
the process CPU time of the best run. The machine is shared: with other work running, wall
time includes waiting for a core, CPU time does not (for 2 threads it sums both threads, so it
is a cost in core-seconds, not a latency, and it includes OpenMP threads spinning at a wait). The ratio is PyTorch's time over convgrad's at the same thread
count; the fraction of peak counts 2 flops per multiply-add, three passes (forward, dW, dx) of
B C_out (C_in/g) N K multiply-adds, against the FMA peak of the cores used (direct points; in
CPU time against one core's peak per CPU-second).

    /usr/bin/python3 bench/channels_compare.py --from-json out.json   # reprint a recorded run
"""
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

# (name, B, C_in, C_out, N, K, lo, groups); lo = -(K-1)/2 is 'same', lo = 0 causal.
POINTS = [
    ("dense", 32, 64, 64, 1024, 3, -1, 1),
    ("wide", 8, 16, 16, 65536, 15, -7, 1),
    ("wide", 8, 16, 16, 65536, 63, -31, 1),
    ("wide", 8, 16, 16, 65536, 255, -127, 1),
    ("wide", 8, 16, 16, 65536, 1023, -511, 1),
    ("depthwise", 8, 256, 256, 4096, 63, -31, 256),
    ("depthwise", 8, 256, 256, 4096, 4096, 0, 256),
]
PEAK_FLOAT = 270e9  # flops/s per core, bench/RESULTS.md (convgrad_step --peak on this machine)


# --- inputs: the formula of bench/formula_inputs.hpp, vectorised --------------------------------

def splitmix64(z):
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def signal_values(seed, n, scale):
    idx = np.arange(n, dtype=np.uint64) + np.uint64(seed << 32)
    u = (splitmix64(idx) >> np.uint64(40)).astype(np.float64) / 16777216.0 - 0.5
    return (u * scale).astype(np.float32)


def inputs(B, Cin, Cout, N, K, groups):
    cig = Cin // groups
    x = signal_values(1, B * Cin * N, 1.0).reshape(B, Cin, N)
    W = signal_values(3, Cout * cig * K, 1.0 / math.sqrt(cig * K)).reshape(Cout, cig, K)
    bias = signal_values(5, Cout, 1.0)
    r = signal_values(4, B * Cout * N, 1.0).reshape(B, Cout, N)
    return x, W, bias, r


# --- the float64 reference (NumPy FFTs) ----------------------------------------------------------

def reference(x, W, bias, r, lo, groups):
    """y, dx, dW, dbias in float64 of the library's formulas (channels.hpp), d = 1:
    y[b,o,n] = bias[o] + sum_c sum_j W[o,c,j] x[b,c,n-lo-j], dW[o,c,j] = sum_b sum_n x[b,c,n-lo-j] r[b,o,n],
    dx[b,c,k] = sum_o sum_j W[o,c,j] r[b,o,k+lo+j], dbias[o] = sum_b sum_n r[b,o,n]. With L >= 2N + K no
    circular product wraps onto a used index."""
    x, W, bias, r = (a.astype(np.float64) for a in (x, W, bias, r))
    B, Cin, N = x.shape
    Cout, cig, K = W.shape
    cog = Cout // groups
    L = 1 << math.ceil(math.log2(2 * N + K))
    X = np.fft.rfft(x, L)                  # B, Cin, f
    R = np.fft.rfft(r, L)                  # B, Cout, f
    Wf = np.fft.rfft(W, L)                 # Cout, cig, f
    n = np.arange(N)
    y = np.empty((B, Cout, N))
    dx = np.empty((B, Cin, N))
    dW = np.empty((Cout, cig, K))
    for g in range(groups):
        ci, co = slice(g * cig, (g + 1) * cig), slice(g * cog, (g + 1) * cog)
        # full convolution z[p] = sum_j W[j] x[p-j]; y[n] = z[n - lo]
        z = np.fft.irfft(np.einsum("bcf,ocf->bof", X[:, ci], Wf[co]), L)
        y[:, co] = z[..., (n - lo) % L]
        # q[t] = sum_n r[n] x[n-t] = IFFT(conj(X) R)[t]; dW[o,c,j] = q[lo + j]
        q = np.fft.irfft(np.einsum("bcf,bof->ocf", np.conj(X[:, ci]), R[:, co]), L)
        dW[co] = q[..., (lo + np.arange(K)) % L]
        # u[s] = sum_j W[j] r[s+j] = IFFT(conj(W) R)[s]; dx[k] = u[k + lo]
        u = np.fft.irfft(np.einsum("ocf,bof->bcf", np.conj(Wf[co]), R[:, co]), L)
        dx[:, ci] = u[..., (n + lo) % L]
    y += bias[None, :, None]
    return {"y": y, "dx": dx, "dW": dW, "dbias": r.sum(axis=(0, 2))}


def check(name, got, ref, terms):
    """Relative max error of each output against max |ref|; raises when over the tolerance."""
    eps = np.finfo(np.float32).eps
    errs = {}
    for key, want in ref.items():
        L = want.shape[-1]
        tol = 10 * eps * (math.sqrt(terms[key]) + math.log2(max(L, 2) * 4))
        err = float(np.max(np.abs(np.asarray(got[key], dtype=np.float64).reshape(want.shape) - want))
                    / max(np.max(np.abs(want)), 1e-300))
        if not err <= tol:
            raise AssertionError(f"{name}: {key} error {err:.2e} > tolerance {tol:.2e}")
        errs[key] = err
    return max(errs.values())


# --- peers ---------------------------------------------------------------------------------------

def torch_conv1d(threads, lo, groups):
    """F.conv1d forward + backward(r). F.conv1d correlates: w = W flipped; 'same' is padding
    -(lo) = (K-1)/2 both sides; causal pads K-1 on the left only."""
    def step(x, W, bias, r):
        torch.set_num_threads(threads)
        K = W.shape[-1]
        xt = torch.from_numpy(x).requires_grad_(True)
        wt = torch.from_numpy(np.ascontiguousarray(W[..., ::-1])).requires_grad_(True)
        bt = torch.from_numpy(bias).requires_grad_(True)
        if lo == 0:
            y = F.conv1d(F.pad(xt, (K - 1, 0)), wt, bt, groups=groups)
        else:
            y = F.conv1d(xt, wt, bt, padding=-lo, groups=groups)
        y.backward(torch.from_numpy(r))
        return {"y": y.detach().numpy(), "dx": xt.grad.numpy(), "dW": wt.grad.numpy()[..., ::-1],
                "dbias": bt.grad.numpy()}
    return step


def torch_fft_route(threads):
    """The long-convolution route of Hyena/H3 (depthwise, causal):
    y = irfft(rfft(x, 2N) * rfft(k, 2N), 2N)[..., :N] + bias, with autograd's backward."""
    def step(x, W, bias, r):
        torch.set_num_threads(threads)
        N = x.shape[-1]
        xt = torch.from_numpy(x).requires_grad_(True)
        kt = torch.from_numpy(W[:, 0, :]).requires_grad_(True)
        bt = torch.from_numpy(bias).requires_grad_(True)
        n = 2 * N
        y = torch.fft.irfft(torch.fft.rfft(xt, n=n) * torch.fft.rfft(kt, n=n), n=n)[..., :N] + bt[:, None]
        y.backward(torch.from_numpy(r))
        return {"y": y.detach().numpy(), "dx": xt.grad.numpy(), "dW": kt.grad.numpy()[:, None, :],
                "dbias": bt.grad.numpy()}
    return step


def cpu_now():
    return time.process_time()


def time_peer(fn, args, ref, name, terms, budget):
    """A checked first run, then more runs while they fit in `budget` seconds (at most 5):
    the best wall time and the CPU time of that run."""
    t0, c0 = time.perf_counter(), cpu_now()
    out = fn(*args)
    best, best_cpu = time.perf_counter() - t0, cpu_now() - c0
    err = check(name, out, ref, terms)
    del out
    for _ in range(max(0, min(5, int(budget / max(best, 1e-6)) - 1))):
        t0, c0 = time.perf_counter(), cpu_now()
        fn(*args)
        t, c = time.perf_counter() - t0, cpu_now() - c0
        if t < best:
            best, best_cpu = t, c
    return {"s": best, "cpu_s": best_cpu, "err": err}


def run_convgrad(driver, point, method, threads, reps, dump_dir=None):
    _, B, Cin, Cout, N, K, lo, groups = point
    cmd = [driver, str(B), str(Cin), str(Cout), str(N), str(K), str(lo), str(groups), "float", method,
           str(threads), str(reps)] + (["--dump", dump_dir] if dump_dir else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def time_convgrad(driver, point, threads, ref, terms, budget):
    with tempfile.TemporaryDirectory() as d:
        first = run_convgrad(driver, point, "auto", threads, 1, d)
        got = {k: np.fromfile(os.path.join(d, k + ".f64"), dtype=np.float64) for k in ref}
    err = check(f"convgrad-{threads}t", got, ref, terms)
    reps = max(2, min(10, int(budget / max(first["best_s"], 1e-6))))
    timed = run_convgrad(driver, point, "auto", threads, reps)
    return {"s": timed["best_s"], "cpu_s": timed["cpu_best_s"], "method": timed["method"], "err": err}


def machine():
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "load_average_start": os.getloadavg()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="CMake build folder holding bench/convgrad_channels_step")
    ap.add_argument("--quick", action="store_true", help="the dense point and K = 15, 63 only")
    ap.add_argument("--budget", type=float, default=2.0, help="seconds of repeated runs per measurement")
    ap.add_argument("--json", help="also write every measurement here")
    ap.add_argument("--from-json", help="print the table and verdicts of a recorded run, measure nothing")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            run = json.load(f)
        print(f"machine: {run['machine']['cpu']}, {run['machine']['cores']} cores; load average "
              f"{run['machine']['load_average_start']} at start, {run['machine'].get('load_average_end')} at end")
        for row in run["rows"]:
            print_row(row)
        verdicts(run["rows"])
        return
    driver = os.path.join(args.build, "bench", "convgrad_channels_step")
    if not os.access(driver, os.X_OK):
        sys.exit(f"{driver} not found: build with -DCONVGRAD_BENCH=ON")
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores; load average at start {info['load_average_start']}")
    print(f"torch {info['torch']}, numpy {info['numpy']}; FMA peak {PEAK_FLOAT / 1e9:.0f} GFLOP/s float32 per core")
    points = POINTS[:3] if args.quick else POINTS
    rows = []
    for point in points:
        name, B, Cin, Cout, N, K, lo, groups = point
        cig, cog = Cin // groups, Cout // groups
        x, W, bias, r = inputs(B, Cin, Cout, N, K, groups)
        ref = reference(x, W, bias, r, lo, groups)
        terms = {"y": cig * K + 1, "dx": cog * K, "dW": B * N, "dbias": B * N}
        flops = 2 * 3 * B * Cout * cig * N * K
        row = {"point": name, "B": B, "C_in": Cin, "C_out": Cout, "N": N, "K": K, "lo": lo, "groups": groups,
               "flops": flops}
        for threads in (1, 2):
            row[f"convgrad_{threads}t"] = time_convgrad(driver, point, threads, ref, terms, args.budget)
            row[f"torch_{threads}t"] = time_peer(torch_conv1d(threads, lo, groups), (x, W, bias, r), ref,
                                                 f"torch-{threads}t", terms, args.budget)
            if groups == Cin and lo == 0 and K == N:
                row[f"torchfft_{threads}t"] = time_peer(torch_fft_route(threads), (x, W, bias, r), ref,
                                                        f"torch-fft-{threads}t", terms, args.budget)
        rows.append(row)
        print_row(row)
        sys.stdout.flush()
    info["load_average_end"] = os.getloadavg()
    print(f"load average at end {info['load_average_end']}")
    verdicts(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "rows": rows}, f, indent=1)


def print_row(row):
    label = f"{row['point']:9s} B={row['B']:<2d} {row['C_in']:>3d}->{row['C_out']:<3d} g={row['groups']:<3d} " \
            f"N={row['N']:<6d} K={row['K']:<5d}"
    for t in (1, 2):
        cg, th = row[f"convgrad_{t}t"], row[f"torch_{t}t"]
        pk = row["flops"] / cg["s"] / (t * PEAK_FLOAT) if cg["method"] == "direct" else float("nan")
        pk_cpu = row["flops"] / cg["cpu_s"] / PEAK_FLOAT if cg["method"] == "direct" else float("nan")
        line = (f"{label} {t}t  convgrad {cg['method']:6s} {cg['s']:.4g}s (cpu {cg['cpu_s']:.4g}s, "
                f"{100 * pk:.0f}% pk, cpu {100 * pk_cpu:.0f}%)  torch {th['s']:.4g}s (cpu {th['cpu_s']:.4g}s)  "
                f"ratio {th['s'] / cg['s']:.1f}x (cpu {th['cpu_s'] / cg['cpu_s']:.1f}x)")
        if f"torchfft_{t}t" in row:
            tf = row[f"torchfft_{t}t"]
            line += f"  torch-fft {tf['s']:.4g}s (cpu {tf['cpu_s']:.4g}s) ratio {tf['s'] / cg['s']:.1f}x " \
                    f"(cpu {tf['cpu_s'] / cg['cpu_s']:.1f}x)"
        print(line)


def verdicts(rows):
    """Issue 11's targets, judged on wall time and on CPU time (the shared machine's wall times
    include waiting for a core)."""
    print("targets:")
    for row in rows:
        for t in (1, 2):
            cg, th = row[f"convgrad_{t}t"], row[f"torch_{t}t"]
            want = 20 if row["K"] >= 255 else 5
            ratio, ratio_cpu = th["s"] / cg["s"], th["cpu_s"] / cg["cpu_s"]
            notes = [f"ratio {ratio:.1f}x / cpu {ratio_cpu:.1f}x vs >= {want}x: "
                     f"{'met' if min(ratio, ratio_cpu) >= want else ('met on cpu time' if ratio_cpu >= want else 'MISSED')}"]
            if cg["method"] == "direct" and row["C_in"] // row["groups"] * row["K"] >= 64:
                pk = row["flops"] / cg["s"] / (t * PEAK_FLOAT)
                pk_cpu = row["flops"] / cg["cpu_s"] / PEAK_FLOAT  # CPU seconds are core-seconds
                notes.append(f"peak {100 * pk:.0f}% / cpu {100 * pk_cpu:.0f}% vs >= 50%: "
                             f"{'met' if pk >= 0.5 else ('met on cpu time' if pk_cpu >= 0.5 else 'MISSED')}")
            if f"torchfft_{t}t" in row:
                tf = row[f"torchfft_{t}t"]
                r, rc = tf["s"] / cg["s"], tf["cpu_s"] / cg["cpu_s"]
                notes.append(f"vs FFT route {r:.1f}x / cpu {rc:.1f}x vs >= 2x: "
                             f"{'met' if min(r, rc) >= 2 else ('met on cpu time' if rc >= 2 else 'MISSED')}")
            print(f"  {row['point']} K={row['K']} {t}t: " + "; ".join(notes))


if __name__ == "__main__":
    main()
