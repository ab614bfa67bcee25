#!/usr/bin/python3
"""convgrad.dask.fit against Dask's own least squares, on the same kind of distributed cluster.

Both fit the 'same' model yhat[n] = sum_{m=lo..hi} h[m] x[n-m] (K taps) to dask arrays
(x, y) of N samples in blocks of --block samples, on a LocalCluster of --workers worker
processes with one thread each:

  convgrad    convgrad.dask.fit(x, y, kernel_size=K): each chunk's K x K normal equations
              on a worker (its window plus a K - 1 halo), merged in the fixed tree on the
              workers, solved once; what crosses the network is K x K per chunk.
  dask lstsq  dask.array.linalg.lstsq(X, y) on the N x K design matrix X[n, j] = x[n - m_j],
              built block by block on the workers (map_overlap, so only the halos move), then
              a tall-and-skinny QR: N x K values computed, and the Q factor (N x K) too.

Reported: the best wall time of --repeat runs each (the machine may be shared), the peak
resident memory of the busiest worker process (each method runs on a cluster of its own, so
each peak is that method's: the data's blocks plus what the method builds), the bytes of
the design matrix N K 8 against the Gram matrix's K^2 8, and ||h_lstsq - h|| / ||h||.
Usage: bench/dask_compare.py [--cases 1e6:64,1e6:256] [--block 262144] [--workers 2] [--repeat 3]
"""
import argparse
import platform
import resource
import time

import dask.array as da
import distributed
import numpy as np

import convgrad
import convgrad.dask


def case(N, K, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(N)
    y = np.convolve(x, rng.standard_normal(K), mode="same") + 0.01 * rng.standard_normal(N)
    return x, y


def design_matrix(x, K, lo):
    """The N x K design matrix X[n, j] = x[n - (lo + j)] as a dask array, block by block with
    dask's overlap (each block needs -lo samples after it and hi before it)."""
    hi = lo + K - 1
    depth = max(hi, -lo, 0)

    def rows(block, block_info=None):
        # block = x[start - depth, stop + depth) (zeros outside the signal): its rows n give
        # X[n, j] = block[n - start + depth - lo - j]
        n = block.shape[0] - 2 * depth
        idx = depth - lo + np.arange(n)[:, None] - np.arange(K)[None, :]
        return block[idx]

    xo = da.overlap.overlap(x, depth={0: depth}, boundary={0: 0})
    return xo.map_blocks(rows, chunks=(x.chunks[0], (K,)), new_axis=1, dtype=x.dtype)


def peak_rss_mb():
    """This process's peak resident size in MB (run on each worker)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(workers, x, y, block, repeat, method):
    """(best seconds, result, peak worker MB) of method(xd, yd) on a LocalCluster of its own,
    the data's blocks already on the workers."""
    with distributed.LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        xd = client.persist(da.from_array(x, chunks=block))
        yd = client.persist(da.from_array(y, chunks=block))
        distributed.wait([xd, yd])
        seconds, out = best(repeat, lambda: method(xd, yd))
        return seconds, out, max(client.run(peak_rss_mb).values())


def best(repeat, run):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default="1e6:64,1e6:256")
    ap.add_argument("--block", type=int, default=1 << 18)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {args.workers} worker processes x 1 thread, "
          f"blocks of {args.block} samples, best of {args.repeat}")
    print("| N | K | convgrad.dask.fit (s) | dask lstsq (s) | ratio | peak worker RSS, convgrad / lstsq "
          "| design matrix | Gram matrix | rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for item in args.cases.split(","):
        N, K = (int(float(v)) for v in item.split(":"))
        lo = -((K - 1) // 2) if K % 2 else 0
        x, y = case(N, K)
        t_cg, res, mb_cg = measured(args.workers, x, y, args.block, args.repeat,
                                    lambda xd, yd: convgrad.dask.fit(xd, yd, kernel_size=K, lo=lo))
        t_ls, h_ls, mb_ls = measured(args.workers, x, y, args.block, args.repeat,
                                     lambda xd, yd: da.linalg.lstsq(design_matrix(xd, K, lo), yd)[0].compute())
        diff = np.linalg.norm(h_ls - res.h) / np.linalg.norm(res.h)
        print(f"| {N:.0e} | {K} | {t_cg:.2f} | {t_ls:.2f} | {t_ls / t_cg:.1f}x | {mb_cg:.0f} MB / {mb_ls:.0f} MB "
              f"| {N * K * 8 / 1e9:.2f} GB | {K * K * 8 / 1e6:.2f} MB | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
