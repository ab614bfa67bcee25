#!/usr/bin/python3
"""Issue 10's memory target, by hand (the full tier; CI runs the small one in
tests/python/test_cli_stream.py): a streamed exact fit of a pair of float32 .npy files of N
samples each (10^9 by default: 8 GB of data) must peak under 256 MiB plus the K x K Gram
matrix of resident memory.

The files are written a block at a time, the fit runs as the child of a small helper process
that reads its peak resident size with getrusage(RUSAGE_CHILDREN) (the kernel's high-water mark,
ru_maxrss), and the files are deleted afterwards. The data: x white noise (one block repeated),
y = 0.5 x[n] - 0.25 x[n-1] + 0.125 x[n-2] (the fit must find those taps).

Usage: bench/scale_memory.py [--bin build/cli/convgrad] [--n 1000000000] [--k 63] [--dir /tmp]
Needs 8 N bytes of free disk (check df -h first).
"""
import argparse
import json
import pathlib
import sys
import shutil
import subprocess
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
TAPS = (0.5, -0.25, 0.125)


def npy_header(n):
    """The .npy 1.0 header of n little-endian float32 values (what np.save writes)."""
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }" % n
    d += " " * ((64 - (10 + len(d) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(d).to_bytes(2, "little") + d.encode()


def write_pair(xf, yf, n, block=1 << 24, seed=1):
    """x: one block of white noise repeated (periodic: writing 8 GB is then disk-bound, not
    generation-bound); y = the taps applied circularly to the block, so y follows x across the
    block boundaries too (only y[0], y[1] see the wrapped samples where the model has zeros)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(block).astype(np.float32)
    y = sum(t * np.roll(x.astype(np.float64), m) for m, t in enumerate(TAPS)).astype(np.float32)
    with open(xf, "wb") as fx, open(yf, "wb") as fy:
        fx.write(npy_header(n)), fy.write(npy_header(n))
        for a in range(0, n, block):
            k = min(block, n - a)
            fx.write(x[:k].tobytes()), fy.write(y[:k].tobytes())


# Runs the command on its command line and prints its peak resident size in KiB. A fresh, small
# process does it: a forked child's high-water mark includes what its parent had resident when
# it forked (Linux keeps the pre-exec figure), so this script, which held the data blocks, must
# not be the parent.
PEAK_RSS = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], check=True)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "cli" / "convgrad"))
    ap.add_argument("--n", type=int, default=10 ** 9)
    ap.add_argument("--k", type=int, default=63)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    a = ap.parse_args()
    need = 8 * a.n + (1 << 30)
    free = shutil.disk_usage(a.dir).free
    if free < need:
        raise SystemExit(f"{a.dir}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed")
    with tempfile.TemporaryDirectory(dir=a.dir, prefix="convgrad_memory_") as tmp:
        tmp = pathlib.Path(tmp)
        xf, yf = tmp / "x.npy", tmp / "y.npy"
        start = time.perf_counter()
        write_pair(xf, yf, a.n)
        print(f"wrote 2 x {a.n} float32 samples ({8 * a.n / 1e9:.1f} GB) in {time.perf_counter() - start:.0f} s",
              flush=True)
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PEAK_RSS, a.bin, "fit", "--x", str(xf), "--y", str(yf), "--lo",
                              "0", "--hi", str(a.k - 1), "--dtype", "float32", "--out", str(tmp / "h.json"),
                              "--summary", str(tmp / "s.json"), "--quiet"],
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak_mib = int(out.stdout) / 1024
        gram_mib = 8 * a.k * a.k / (1 << 20)
        h = json.loads((tmp / "s.json").read_text())["h"]
        err = max(abs(h[m] - t) for m, t in enumerate(TAPS))
        print(f"fit of N = {a.n}, K = {a.k}: {wall:.1f} s ({8 * a.n / wall / 1e9:.2f} GB/s); peak RSS "
              f"{peak_mib:.0f} MiB (target < 256 MiB + Gram {gram_mib:.2f} MiB); max |h - h_true| = {err:.2e}")
        if peak_mib >= 256 + gram_mib:
            raise SystemExit("peak resident size above the target")


if __name__ == "__main__":
    main()
