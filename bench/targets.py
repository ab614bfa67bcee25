#!/usr/bin/python3
"""Issue 5's targets, judged from the JSON of one or more bench/compare.py runs.

    /usr/bin/python3 bench/compare.py --build build --json run1.json
    /usr/bin/python3 bench/targets.py [--peak-float 117 --peak-double 59] run1.json [run2.json ...]

For every target it prints the range of the measured values over the points it covers, and
each point that falls short, per run, so that a miss in one run only (a noisy 2-thread run)
can be told from a miss in every run. The targets (the 'training step' is the loss and dh,
compare.py's convgrad and forced columns; 'full' also writes yhat and r):

  peak     direct method >= 50% of the FMA peak of the cores used, K >= 31, N >= 1e5,
           float and double, 1 and 2 threads
  direct   the training step >= 10x the best peer where the direct method is the faster
  fft      >= 2x the best peer where the FFT method is the faster
  auto     the method 'auto' chose within 10% of the faster one, 1 and 2 threads
  threads  2 threads >= 1.8x one thread, N >= 1e6, for the method auto chooses
"""
import json
import sys


def rate(row, seconds):
    return row["N"] * row["K"] / seconds / 1e6


def judge(run):
    """Yields (target, point, value, ok) for every point a target covers."""
    peak = run["peak"]
    for row in run["rows"]:
        cg = {k: v for k, v in row["convgrad"].items() if "s" in v}
        peers = [v["s"] for v in row["peers"].values() if "s" in v]
        n, k, dtype = row["N"], row["K"], row["dtype"]
        point = f"{dtype} N={n:.0e} K={k}"
        per_core = peak["float_flops"] if dtype == "float" else peak["double_flops"]
        taps = n * min(k, 2 * n - 1)  # the direct method multiplies only the taps that reach
        if k >= 31 and n >= 1e5:
            for t, cores in (("1t", 1), ("2t", 2)):
                if "direct-" + t in cg:
                    pct = 4 * taps / cg["direct-" + t]["s"] / (per_core * cores)
                    yield "peak", f"{point} {t}", pct, pct >= 0.5
        direct = min((cg[k2]["s"] for k2 in ("direct-1t", "direct-2t") if k2 in cg), default=None)
        fft = min((cg[k2]["s"] for k2 in ("fft-1t", "fft-2t") if k2 in cg), default=None)
        autos = [cg[k2]["s"] for k2 in ("auto-1t", "auto-2t") if k2 in cg]
        if peers and autos and direct and fft:
            ratio = min(peers) / min(autos)
            winner = "direct" if direct <= fft else "fft"
            need = 10 if winner == "direct" else 2
            yield winner, point, ratio, ratio >= need
        for t in ("1t", "2t"):
            d, f, a = cg.get("direct-" + t), cg.get("fft-" + t), cg.get("auto-" + t)
            if d and f and a:
                chosen = d if a["method"] == "direct" else f
                slack = chosen["s"] / min(d["s"], f["s"])
                yield "auto", f"{point} {t}", slack, slack <= 1.10
        if n >= 1e6 and "auto-1t" in cg:
            method = cg["auto-1t"]["method"]
            one, two = cg.get(f"{method}-1t"), cg.get(f"{method}-2t")
            if one and two:
                speedup = one["s"] / two["s"]
                yield "threads", f"{point} ({method})", speedup, speedup >= 1.8


def main():
    args = sys.argv[1:]
    # --peak-float G / --peak-double G: judge the fraction of peak against at least G GFLOP/s
    # per core (a run whose own peak measurement was disturbed would flatter its fractions).
    floor = {}
    for key in ("float", "double"):
        if f"--peak-{key}" in args:
            i = args.index(f"--peak-{key}")
            floor[key] = float(args[i + 1]) * 1e9
            del args[i:i + 2]
    if not args:
        sys.exit(__doc__)
    runs = [json.load(open(path)) for path in args]
    for run in runs:
        for key, value in floor.items():
            run["peak"][f"{key}_flops"] = max(run["peak"][f"{key}_flops"], value)
    names = {"peak": "direct >= 50% of peak (fraction)", "direct": "direct wins: >= 10x best peer",
             "fft": "fft wins: >= 2x best peer", "auto": "auto within 10% (time / best)",
             "threads": "2 threads >= 1.8x (speedup)"}
    for target, title in names.items():
        print(f"{title}:")
        for path, run in zip(args, runs):
            results = [(p, v, ok) for t, p, v, ok in judge(run) if t == target]
            if not results:
                continue
            values = [v for _, v, _ in results]
            short = [f"{p} {v:.2f}" for p, v, ok in results if not ok]
            verdict = "met" if not short else f"short at {len(short)} of {len(results)}: " + "; ".join(short)
            print(f"  {path}: {len(results)} points, {min(values):.2f} .. {max(values):.2f}; {verdict}")


if __name__ == "__main__":
    main()
