#!/usr/bin/python3
"""Issue 10, part (a): the streamed exact fit's throughput against the in-memory fit.

For each K, one pair of float32 .npy files of N samples each (x coloured noise, y = x through a
random K-tap causal filter plus noise) is fitted three ways:
  in-memory  convgrad.fit(x, y) in Python on arrays already in memory (np.load before timing):
             the library's fit over memory, no file reading timed; this process's allocator is
             given the settings the command gives its own (keep_freed_chunks in cli/main.cpp:
             freed chunk buffers stay in the heap), so that both fits reuse their pages;
  warm       `convgrad fit --x x.npy --y y.npy` streaming the files from the page cache (read
             once before, untimed);
  cold       the same with the files dropped from the page cache first: posix_fadvise
             (POSIX_FADV_DONTNEED) on each file after fsync, since /proc/sys/vm/drop_caches is
             not writable in a container; so the reads go to the disk.
Throughput is the input bytes (both files' samples, 8 N bytes) over the time. The command is
timed by its own clock (the summary's "seconds": the fit, reads included, without process
start-up and the writing of outputs) and end to end (wall). Each is timed --repeat times,
alternately, and the best kept (the machine is shared: the best run is the least disturbed).
The taps of the in-memory and streamed fits are compared bit for bit (same chunk rows).

Usage: bench/scale.py [--bin build/cli/convgrad] [--n 33554432] [--ks 63,255,1023] [--repeat 3]
                      [--dir /tmp] [--json out.json]
"""
import argparse
import ctypes
import json
import os
import pathlib
import subprocess
import tempfile
import time

import numpy as np

import convgrad

ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_pair(directory, N, K, seed=1):
    """x: white noise through a short smoother (coloured); y = h * x + noise; float32 files."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(K) / np.sqrt(K)
    x = rng.standard_normal(N).astype(np.float32)
    x[1:] += np.float32(0.5) * x[:-1]
    y = np.convolve(x, h)[:N].astype(np.float32) + np.float32(0.01) * rng.standard_normal(N).astype(np.float32)
    xf, yf = directory / f"x{K}.npy", directory / f"y{K}.npy"
    np.save(xf, x), np.save(yf, y)
    return xf, yf


def keep_freed_chunks():
    """cli/main.cpp's mallopt for this process (glibc): freed blocks up to 32 MiB stay in the heap,
    so the in-memory fit, like the command, does not fault in fresh pages for every chunk."""
    libc = ctypes.CDLL(None)
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    if not (hasattr(libc, "mallopt") and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
            and libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)):
        print("note: mallopt unavailable; the in-memory fit keeps the allocator's defaults")


def drop_from_page_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def run_cli(binary, xf, yf, K, out_dir):
    summary = out_dir / "s.json"
    start = time.perf_counter()
    subprocess.run([str(binary), "fit", "--x", str(xf), "--y", str(yf), "--lo", "0", "--hi", str(K - 1),
                    "--dtype", "float32", "--out", str(out_dir / "h.json"), "--summary", str(summary),
                    "--quiet"], check=True)
    wall = time.perf_counter() - start
    s = json.loads(summary.read_text())
    return s["seconds"], wall, np.array(s["h"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "build" / "cli" / "convgrad"))
    ap.add_argument("--n", type=int, default=1 << 25)
    ap.add_argument("--ks", default="63,255,1023")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--json")
    a = ap.parse_args()
    keep_freed_chunks()
    rows = []
    with tempfile.TemporaryDirectory(dir=a.dir, prefix="convgrad_scale_") as tmp:
        tmp = pathlib.Path(tmp)
        for K in map(int, a.ks.split(",")):
            xf, yf = make_pair(tmp, a.n, K)
            data_bytes = 2 * 4 * a.n
            x, y = np.load(xf), np.load(yf)
            best = {"memory": np.inf, "warm": np.inf, "warm_wall": np.inf, "cold": np.inf, "cold_wall": np.inf}
            run_cli(a.bin, xf, yf, K, tmp)  # the files into the page cache
            h_mem = h_stream = None
            for _ in range(a.repeat):
                start = time.perf_counter()
                h_mem = convgrad.fit(x, y, lo=0, hi=K - 1).h
                best["memory"] = min(best["memory"], time.perf_counter() - start)
                seconds, wall, h_stream = run_cli(a.bin, xf, yf, K, tmp)
                best["warm"], best["warm_wall"] = min(best["warm"], seconds), min(best["warm_wall"], wall)
                for f in (xf, yf):
                    drop_from_page_cache(f)
                seconds, wall, _ = run_cli(a.bin, xf, yf, K, tmp)
                best["cold"], best["cold_wall"] = min(best["cold"], seconds), min(best["cold_wall"], wall)
            del x, y
            for f in (xf, yf):
                f.unlink()
            row = {"K": K, "N": a.n, "bytes": data_bytes, **{k: v for k, v in best.items()},
                   "bitwise_equal": bool(np.array_equal(np.asarray(h_mem, dtype=np.float64), h_stream))}
            for k in ("memory", "warm", "cold", "warm_wall", "cold_wall"):
                row[k + "_gbps"] = data_bytes / best[k] / 1e9
            row["warm_over_memory"] = best["memory"] / best["warm"]
            rows.append(row)
            print(f"K = {K:5d}: in-memory {row['memory_gbps']:.2f} GB/s, streamed from the page cache "
                  f"{row['warm_gbps']:.2f} GB/s (wall {row['warm_wall_gbps']:.2f}), cold "
                  f"{row['cold_gbps']:.2f} GB/s (wall {row['cold_wall_gbps']:.2f}); streamed / in-memory "
                  f"{row['warm_over_memory']:.0%}; taps bitwise equal: {row['bitwise_equal']}", flush=True)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
