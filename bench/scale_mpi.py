#!/usr/bin/python3
"""Strong scaling of `mpirun -np P convgrad fit` (issue 10 item 5 (b) and (c); docs/scale.md).

One exact fit, N samples, K causal taps, float32 .npy files read from the page cache (the
files are read once before the first run), timed:
  plain     `convgrad fit` without mpirun (the program MPI must agree with, bit for bit);
  np P      `mpirun -np P convgrad fit` for each P in --ranks, each rank one thread
            (OMP_NUM_THREADS=1, so P ranks use P cores; the machine has os.cpu_count()).
Each is run --repeat times, alternately, and the best wall time kept (a shared machine: the
best run is the least disturbed). Two wall times: the whole command's (mpirun's start-up of
the ranks included), and the program's own, the summary's command_seconds (rank 0's clock from
before the first file is opened to the outputs written; MPI's start-up is before it). mpirun
is given `--mca pml ob1` (--pml): Open MPI's shared-memory and TCP transports, what ranks on
one machine use anyway; its default tries UCX first, which probes for network devices and adds
a quarter of a second to every start on this machine, more than the fit's exchanges take.
Reported per run, from the summary the program writes
(--summary, its "distributed" field): the solver's own seconds, the seconds rank 0 waited for
the slowest rank (imbalance), the seconds of the reduction proper (nodes sent to rank 0, the
tree completed there, the root sent back), and the bytes each rank sent, which should be about
(canonical nodes) x 8 (K^2 + K + 1) whatever N is. The taps of every run must equal the plain
run's bit for bit; the script stops otherwise. The machine's load (/proc/loadavg) is recorded
before each run.

Usage (from the repository root, Release build):
  /usr/bin/python3 bench/scale_mpi.py [--bin build/cli/convgrad] [--n 1e8] [--K 1023]
      [--ranks 1 2] [--repeat 3] [--pml ob1] [--dir /tmp/convgrad-scale-mpi] [--json bench/SCALE_MPI.json]
"""
import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import time

import numpy as np
import scipy.signal

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = 1 << 24  # samples written at a time, so that making the data stays within a few hundred MB


def make_data(directory, N, seed=1):
    """x: white noise through a one-pole low-pass; y = 0.5 x[n] + 0.25 x[n-1] + noise (float32)."""
    x_path, y_path = directory / f"x_{N}.npy", directory / f"y_{N}.npy"
    if x_path.exists() and y_path.exists():
        return x_path, y_path
    rng = np.random.default_rng(seed)
    x = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float32, shape=(N,))
    y = np.lib.format.open_memmap(y_path, mode="w+", dtype=np.float32, shape=(N,))
    state, last = np.zeros(1), 0.0
    for a in range(0, N, BLOCK):
        b = min(N, a + BLOCK)
        xb, state = scipy.signal.lfilter([1.0], [1.0, -0.5], rng.standard_normal(b - a), zi=state)
        x[a:b] = xb
        y[a:b] = 0.5 * xb + 0.25 * np.concatenate([[last], xb[:-1]]) + 0.01 * rng.standard_normal(b - a)
        last = xb[-1]
    x.flush()
    y.flush()
    del x, y
    return x_path, y_path


def warm(paths):
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def env_for(threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    # Open MPI's defaults otherwise: between ranks of one machine, shared memory with a single
    # copy (CMA), which needs no co-scheduling of the two ranks on a busy machine.
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def run_once(args, ranks, x, y, work):
    """ranks None: plain convgrad; else mpirun -np ranks. Returns (wall s, summary, taps bytes, load)."""
    out, summary = work / "h.json", work / "s.json"
    for p in (out, summary):
        p.unlink(missing_ok=True)
    fit = [args.bin, "fit", "--x", x, "--y", y, "--causal", args.K, "--solver", "exact",
           "--out", out, "--summary", summary, "--quiet"]
    pml = ["--mca", "pml", args.pml] if args.pml else []
    cmd = fit if ranks is None else [args.mpirun, *pml, "--oversubscribe", "--bind-to", "none", "-np", ranks, *fit]
    load = open("/proc/loadavg").read().split()[:3]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(list(map(str, cmd)), check=True, env=env_for(1))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(summary.read_text()), json.loads(out.read_text())["h"], load


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=str(ROOT / "build" / "cli" / "convgrad"))
    ap.add_argument("--mpirun", default=shutil.which("mpirun") or "mpirun")
    ap.add_argument("--n", type=float, default=1e8)
    ap.add_argument("--K", type=int, default=1023)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--pml", default="ob1", help="Open MPI's point-to-point layer ('' for its default)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/convgrad-scale-mpi")
    ap.add_argument("--json", default=str(ROOT / "bench" / "SCALE_MPI.json"))
    args = ap.parse_args()
    N = int(args.n)
    work = pathlib.Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    x, y = make_data(work, N)
    warm([x, y])

    configs = [None] + args.ranks
    best, best_command = {}, {}  # the best whole-command wall time's run; the best command_seconds
    reference = None
    for _ in range(args.repeat):
        for ranks in configs:
            wall, cpu, s, taps, load = run_once(args, ranks, x, y, work)
            if reference is None:
                reference = taps
            if taps != reference:
                raise SystemExit(f"taps of {'plain' if ranks is None else f'-np {ranks}'} differ from the first run's")
            key = "plain" if ranks is None else f"np{ranks}"
            if key not in best or wall < best[key]["wall"]:
                best[key] = {"wall": wall, "cpu": cpu, "seconds": s["seconds"], "command": s["command_seconds"],
                             "distributed": s.get("distributed"), "load": load}
            if key not in best_command or s["command_seconds"] < best_command[key]:
                best_command[key] = s["command_seconds"]

    # On a machine shared with other work, wall time measures the other work too. The critical
    # path is also given by CPU time: one rank's CPU seconds against the busiest rank's of P
    # (each rank runs one thread), the speed-up P ranks would have on P idle cores.
    base = best["np1"]
    print(f"N = {N:.3g}, K = {args.K}, exact, float32 .npy from the page cache; best wall time of {args.repeat}")
    print("| run | wall s | speed-up (wall) | program's own wall s | speed-up (own wall) | CPU s, all ranks "
          "| busiest rank CPU s | speed-up (CPU, critical path) | wait s (max over ranks) | exchange s (max) "
          "| bytes sent per rank | load before |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, r in best.items():
        ranks = (r["distributed"] or {}).get("per_rank", [])
        busiest = max((p["cpu_seconds"] for p in ranks), default=r["cpu"])
        base_busiest = max(p["cpu_seconds"] for p in base["distributed"]["per_rank"])
        wait = max((p["wait_seconds"] for p in ranks), default=0)
        exchange = max((p["reduce_seconds"] for p in ranks), default=0)
        sent = ", ".join(f"{p['bytes_sent'] / 2**20:.1f} MiB" for p in ranks) or "-"
        own, base_own = best_command[key], best_command["np1"]
        print(f"| {key} | {r['wall']:.2f} | {base['wall'] / r['wall']:.2f}x | {own:.2f} | {base_own / own:.2f}x "
              f"| {r['cpu']:.2f} | {busiest:.2f} | "
              f"{base_busiest / busiest:.2f}x | {wait:.3f} | {exchange:.3f} | {sent} | {' '.join(r['load'])} |")
    node = 8 * (args.K * args.K + args.K + 1)
    print(f"one node = 8 (K^2 + K + 1) = {node / 2**20:.2f} MiB; taps identical bit for bit in every run")
    record = {"N": N, "K": args.K, "repeat": args.repeat, "machine": platform.processor() or platform.machine(),
              "cores": os.cpu_count(), "node_bytes": node, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "pml": args.pml, "runs": best, "best_command_seconds": best_command}
    pathlib.Path(args.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
