"""convgrad.dask.fit against convgrad.fit: the same taps to the last bit, computed on workers.

A distributed LocalCluster with two worker processes (one thread each) is started once for
the module. The oracle is convgrad.fit on the same NumPy data with the same chunk plan
(chunk_rows): both cut the rows into the same chunks and add the chunks' normal equations by
the same fixed tree, so equality is exact (numpy.array_equal), whatever the dask arrays'
own chunking, the number of workers or the scheduler.
"""

import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import convgrad  # noqa: E402
import convgrad.dask  # noqa: E402

# Debian's tornado 6.2 under distributed 2022.12 warns when a cluster starts; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:make_current is deprecated:DeprecationWarning")

ROWS = 64  # rows per chunk of the plan: small, so a few hundred samples make a deep tree


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=":0", silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def recordings(lengths, dtype, seed):
    """Seeded (x, y) pairs: y a filtered x plus noise, so the fit has something to find."""
    rng = np.random.default_rng(seed)
    out = []
    for N in lengths:
        x = rng.standard_normal(N).astype(dtype)
        y = (np.convolve(x, rng.standard_normal(5))[:N] + 0.1 * rng.standard_normal(N)).astype(dtype)
        out.append((x, y))
    return out


def blocks(a, chunks):
    return da.from_array(a, chunks=chunks)


def irregular(N, seed):
    """An arbitrary chunking of N samples: blocks of 1 to ~N/3 samples."""
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < N:
        sizes.append(int(min(rng.integers(1, max(2, N // 3)), N - sum(sizes))))
    return tuple(sizes)


def assert_same_fit(got, want):
    assert type(got) is type(want)
    assert got.h.dtype == want.h.dtype and got.h.shape == want.h.shape
    assert np.array_equal(got.h, want.h), f"max |diff| {np.abs(got.h - want.h).max():.3e}"
    assert (got.lo, got.hi, got.solver, got.iterations, got.stop_reason) == \
        (want.lo, want.hi, want.solver, want.iterations, want.stop_reason)
    assert set(got.summary) == set(want.summary)
    assert got.condition == want.condition and got.lambda_max == want.lambda_max
    assert got.loss == want.loss and np.array_equal(got.pair_loss, want.pair_loss)
    assert got.grad_norm == want.grad_norm


# (K, lo): centred odd, even with lo, causal, taps reaching past the chunk length (K > ROWS),
# taps all after / all before n.
TAPS = [(1, None), (7, None), (8, 0), (16, -3), (65, None), (9, 4), (9, -12)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("K,lo", TAPS)
def test_taps_equal_convgrad_fit_on_two_workers(client, K, lo, dtype):
    (x, y), = recordings([700], dtype, seed=K)
    want = convgrad.fit(x, y, kernel_size=K, lo=lo, chunk_rows=ROWS)
    with distributed.get_task_stream(client) as tasks:
        got = convgrad.dask.fit(blocks(x, irregular(700, K)), blocks(y, 100), kernel_size=K, lo=lo,
                                chunk_rows=ROWS)
    assert_same_fit(got, want)
    workers = {t["worker"] for t in tasks.data if "normal_equations" in t["key"]}
    assert len(workers) == 2, "the chunks' normal equations were not computed on both workers"


@pytest.mark.parametrize("chunking", ["one block", "plan rows", "halo-sized", "irregular"])
def test_several_pairs_and_any_chunking(client, chunking):
    lengths = [300, 1, 129, 64, 517]
    data = recordings(lengths, np.float64, seed=3)
    K, lo = 12, -5
    chunks = {"one block": lambda N, p: -1, "plan rows": lambda N, p: ROWS,
              "halo-sized": lambda N, p: K - 1, "irregular": lambda N, p: irregular(N, p)}[chunking]
    pairs = [(blocks(x, chunks(len(x), p)), blocks(y, chunks(len(x), p + 50))) for p, (x, y) in enumerate(data)]
    want = convgrad.fit(data, kernel_size=K, lo=lo, ridge=0.5, chunk_rows=ROWS)
    got = convgrad.dask.fit(pairs, kernel_size=K, lo=lo, ridge=0.5, chunk_rows=ROWS)
    assert_same_fit(got, want)


def test_default_plan_and_numpy_inputs(client):
    data = recordings([2000, 333], np.float32, seed=9)
    want = convgrad.fit(data, half_width=4)
    assert_same_fit(convgrad.dask.fit(data, half_width=4), want)  # NumPy arrays are taken as one block each


# The module's cluster may be running: choosing a local scheduler over it is the point here.
@pytest.mark.filterwarnings("ignore:Running on a single-machine scheduler:UserWarning")
@pytest.mark.parametrize("scheduler", ["synchronous", "threads"])
def test_local_schedulers(scheduler):
    (x, y), = recordings([450], np.float64, seed=5)
    want = convgrad.fit(x, y, kernel_size=21, chunk_rows=ROWS)
    got = convgrad.dask.fit(blocks(x, 97), blocks(y, 31), kernel_size=21, chunk_rows=ROWS, scheduler=scheduler)
    assert_same_fit(got, want)


@pytest.mark.parametrize("where,p,n,value", [("x", 1, 250, np.nan), ("y", 0, 17, np.inf), ("x", 0, 299, -np.inf)])
def test_bad_block_is_the_library_error(client, where, p, n, value):
    data = recordings([300, 400], np.float64, seed=7)
    data[p][0 if where == "x" else 1][n] = value  # one bad sample inside one block of 100
    pairs = [(blocks(x, 100), blocks(y, 100)) for x, y in data]
    with pytest.raises(ValueError) as dask_error:
        convgrad.dask.fit(pairs, kernel_size=5, chunk_rows=ROWS)
    with pytest.raises(ValueError) as memory_error:
        convgrad.fit(data, kernel_size=5, chunk_rows=ROWS)
    assert str(dask_error.value) == str(memory_error.value)
    assert f"pair {p}: {where}" in str(dask_error.value) and f"index {n}" in str(dask_error.value)


def test_taps_no_sample_reaches(client):
    # K far beyond the signals: the library fits the taps some sample reaches (ridge: the
    # others solve to zero), and so must the distributed fit, with the same condition number.
    data = recordings([6, 3, 5], np.float64, seed=11)
    pairs = [(blocks(x, 2), blocks(y, 4)) for x, y in data]
    want = convgrad.fit(data, kernel_size=31, ridge=0.25, chunk_rows=2)
    assert_same_fit(convgrad.dask.fit(pairs, kernel_size=31, ridge=0.25, chunk_rows=2), want)


def test_singular_system_is_linalg_error(client):
    x, y = np.zeros(200), np.ones(200)
    with pytest.raises(np.linalg.LinAlgError, match="ridge"):
        convgrad.dask.fit(blocks(x, 50), blocks(y, 50), kernel_size=3, chunk_rows=ROWS)


@pytest.mark.parametrize("call,error,match", [
    (lambda x, y: convgrad.dask.fit(x, y, kernel_size=3, solver="adam"), ValueError, "exact"),
    (lambda x, y: convgrad.dask.fit(x, y[:10], kernel_size=3), ValueError, "same length"),
    (lambda x, y: convgrad.dask.fit(x, y.astype(np.float32), kernel_size=3), TypeError, "float32"),
    (lambda x, y: convgrad.dask.fit(x.astype(np.int64), y, kernel_size=3), TypeError, "int64"),
    (lambda x, y: convgrad.dask.fit(x.reshape(4, 5), y.reshape(4, 5), kernel_size=3), ValueError, "1-D"),
    (lambda x, y: convgrad.dask.fit(x, y, kernel_size=4), ValueError, "lo"),
    (lambda x, y: convgrad.dask.fit(x, y, kernel_size=3, chunk_rows=0), ValueError, "chunk_rows"),
    (lambda x, y: convgrad.dask.fit(x, y, kernel_size=3, ridge=-1.0), ValueError, "ridge"),
    (lambda x, y: convgrad.fit(x.compute(), y.compute(), kernel_size=3, chunk_rows=0), ValueError, "chunk_rows"),
    (lambda x, y: convgrad.fit(x.compute(), y.compute(), kernel_size=3, chunk_rows=2.5), TypeError, "chunk_rows"),
    (lambda x, y: convgrad.dask.fit([], kernel_size=3), ValueError, "empty"),
    (lambda x, y: convgrad.dask.fit(x, kernel_size=3), TypeError, "target"),
])
def test_hostile_arguments(call, error, match):
    x, y = recordings([20], np.float64, seed=1)[0]
    with pytest.raises(error, match=match):
        call(blocks(x, 7), blocks(y, 7))


def test_import_convgrad_does_not_import_dask():
    code = "import sys, convgrad; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
