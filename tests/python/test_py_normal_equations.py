"""convgrad.NormalEquations, chunk_plan and window (issue 10): the exact fit accumulated in
pieces -- whole signals, or chunks with their halos computed anywhere -- merged, serialised
and solved, equal to convgrad.fit bit for bit with the same chunk_rows; and fit reading a
numpy.memmap a chunk at a time instead of copying it."""

import os
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import convgrad

RNG = np.random.default_rng(10)


def pairs(lengths, dtype=np.float64, truth=(0.5, -1.0, 2.0, 0.25, 0.1)):
    out = []
    for n in lengths:
        x = RNG.standard_normal(n).astype(dtype)
        y = (np.convolve(x, truth, "same") + 0.1 * RNG.standard_normal(n)).astype(dtype)
        out.append((x, y))
    return out


def same_bits(a, b):
    return np.array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


def test_add_whole_pairs_solves_to_the_bits_of_fit():
    data = pairs([900, 431, 77])
    ne = convgrad.NormalEquations(kernel_size=5, chunk_rows=100)
    for x, y in data:
        ne.add(x, y)
    assert ne.pairs == 3 and ne.end_chunk == 9 + 5 + 1
    s = ne.solve(ridge=0.01)
    res = convgrad.fit(data, kernel_size=5, ridge=0.01, chunk_rows=100)
    assert same_bits(s.h, res.h)
    assert s.condition == res.condition and s.lambda_max == res.lambda_max
    assert (s.lo, s.hi) == (-2, 2)


def test_pieces_of_chunks_with_halos_merged_through_bytes_equal_fit():
    """As a Dask task would: each worker takes a range of the plan's chunks, cuts each chunk's
    window with its halo, adds it to a NormalEquations numbered from the range's first chunk,
    and ships the bytes; the pieces merged in chunk order solve to fit's bits."""
    data = pairs([1000, 250], dtype=np.float32)
    lo, hi, rows = -3, 4, 64
    plan = convgrad.chunk_plan([len(x) for x, _ in data], lo=lo, hi=hi, chunk_rows=rows)
    assert len(plan) == 16 + 4
    for cuts in ([0, 20], [0, 3, 11, 17, 20], list(range(21))):
        blobs = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            piece = convgrad.NormalEquations(lo=lo, hi=hi, first_chunk=a)
            for c in plan[a:b]:
                x, y = data[c.pair]
                xw = convgrad.window(x, c.begin, c.end, lo, hi)
                assert xw.shape == (c.window_size,)
                piece.add(xw, y[c.begin:c.end], halo=True)
            blobs.append(piece.to_bytes())
        total = convgrad.NormalEquations(lo=lo, hi=hi)
        for blob in blobs:
            total += convgrad.NormalEquations.from_bytes(blob)
        res = convgrad.fit(data, lo=lo, hi=hi, chunk_rows=rows)
        assert same_bits(total.solve().h.astype(np.float32), res.h), cuts


def test_window_is_the_rows_with_their_halo():
    x = np.arange(1.0, 11.0)
    assert np.array_equal(convgrad.window(x, 0, 3, -1, 2), [0, 0, 1, 2, 3, 4])
    assert np.array_equal(convgrad.window(x, 8, 10, -2, 1), [8, 9, 10, 0, 0])
    inner = convgrad.window(x, 4, 6, -1, 1)
    assert np.array_equal(inner, [4, 5, 6, 7]) and inner.base is x  # a view, no copy


def test_merge_plus_and_iadd_of_separate_pairs_equal_one_object():
    (x0, y0), (x1, y1) = pairs([300, 200])
    both = convgrad.NormalEquations(kernel_size=5)
    both.add(x0, y0)
    both.add(x1, y1)
    a, b = convgrad.NormalEquations(kernel_size=5), convgrad.NormalEquations(kernel_size=5)
    a.add(x0, y0)
    b.add(x1, y1)
    summed = a + b
    assert same_bits(summed.gram, both.gram) and same_bits(summed.rhs, both.rhs) and summed.yy == both.yy
    assert a.pairs == 1  # + made a new object
    a += b
    assert same_bits(a.gram, both.gram) and a.pairs == 2
    with pytest.raises(ValueError, match="taps"):
        a.merge(convgrad.NormalEquations(kernel_size=3))
    with pytest.raises(TypeError):
        a.merge(b.to_bytes())


def test_bytes_round_trip_and_corrupt_blobs():
    (x, y), = pairs([500], dtype=np.float32)
    ne = convgrad.NormalEquations(lo=0, hi=6, chunk_rows=128)
    ne.add(x, y)
    blob = ne.to_bytes()
    back = convgrad.NormalEquations.from_bytes(blob)
    assert back.to_bytes() == blob and (back.lo, back.hi, back.pairs) == (0, 6, 1)
    assert same_bits(back.solve().h, ne.solve().h)
    for i in (0, 5, 12, 40, len(blob) // 2, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(ValueError, match="normal equations blob"):
            convgrad.NormalEquations.from_bytes(bytes(bad))
    with pytest.raises(ValueError, match="truncated|checksum|header"):
        convgrad.NormalEquations.from_bytes(blob[:-9])
    with pytest.raises(ValueError, match="no 'CGNE' header"):
        convgrad.NormalEquations.from_bytes(b"PK\x03\x04" + blob[4:])
    with pytest.raises(TypeError):
        convgrad.NormalEquations.from_bytes("not bytes")


def test_save_and_load_npz(tmp_path):
    (x, y), = pairs([400])
    ne = convgrad.NormalEquations(kernel_size=5)
    ne.add(x, y)
    path = tmp_path / "ne.npz"
    ne.save(path)
    back = convgrad.NormalEquations.load(path)
    assert back.to_bytes() == ne.to_bytes()
    with np.load(path) as f:  # readable without convgrad
        assert np.array_equal(f["gram"], ne.gram) and int(f["lo"]) == -2
    assert os.listdir(tmp_path) == ["ne.npz"]  # no temporary left behind
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="no 'blob'"):
        convgrad.NormalEquations.load(tmp_path / "other.npz")
    with pytest.raises(OSError):
        ne.save(tmp_path / "missing" / "ne.npz")
    assert sorted(os.listdir(tmp_path)) == ["ne.npz", "other.npz"]


def test_solve_errors_and_bad_chunks():
    ne = convgrad.NormalEquations(kernel_size=3)
    with pytest.raises(ValueError, match="no \\(x, y\\) pairs"):
        ne.solve()
    ne.add(np.zeros(10), np.ones(10))
    with pytest.raises(np.linalg.LinAlgError, match="ridge"):
        ne.solve()
    assert ne.solve(ridge=1.0).h.shape == (3,)
    with pytest.raises(ValueError, match="rows \\+ K - 1"):
        ne.add(np.ones(5), np.ones(5), halo=True)
    with pytest.raises(ValueError, match="chunk_rows"):
        convgrad.NormalEquations(kernel_size=3, chunk_rows=0)
    with pytest.raises(ValueError, match="first_chunk"):
        convgrad.NormalEquations(kernel_size=3, first_chunk=-1)
    with pytest.raises(ValueError, match="chunk_rows"):
        convgrad.fit(np.ones(5), np.ones(5), kernel_size=3, chunk_rows=0)


def test_fit_of_a_memmap_equals_fit_of_its_copy_and_copies_nothing_in_python(tmp_path):
    data = pairs([200_000], dtype=np.float32)
    x, y = data[0]
    mx = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="w+", shape=x.shape)
    my = np.memmap(tmp_path / "y.f32", dtype=np.float32, mode="w+", shape=y.shape)
    mx[:], my[:] = x, y
    mx.flush(), my.flush()
    rx = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="r", shape=x.shape)
    ry = np.memmap(tmp_path / "y.f32", dtype=np.float32, mode="r", shape=y.shape)
    tracemalloc.start()
    res = convgrad.fit(rx, ry, kernel_size=5, chunk_rows=1 << 14)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < x.nbytes // 10, peak  # numpy made no copy of the 800 kB arrays
    assert same_bits(res.h, convgrad.fit(x.copy(), y.copy(), kernel_size=5, chunk_rows=1 << 14).h)


# A child process caps its private memory (RLIMIT_DATA: the heap and anonymous maps, not a
# read-only file map) at what it uses plus 48 MiB, then fits a pair of 16M-sample float32
# memmaps (64 MiB each): reading them whole (or widening x to float64, 128 MiB) cannot fit.
CHILD = textwrap.dedent("""
    import resource, sys, numpy as np, convgrad
    n, path = 16 << 20, sys.argv[1]
    x = np.memmap(path + "/x", dtype=np.float32, mode="r", shape=(n,))
    y = np.memmap(path + "/y", dtype=np.float32, mode="r", shape=(n,))
    convgrad.fit(np.ones(1 << 16, np.float32), np.ones(1 << 16, np.float32), kernel_size=31, ridge=1.0)
    used = int(open("/proc/self/status").read().split("VmData:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (used + (48 << 20), resource.RLIM_INFINITY))
    res = convgrad.fit(x, y, kernel_size=31, chunk_rows=int(sys.argv[2]))
    target = np.zeros(31, np.float32)
    target[15] = 2  # y = 2 x exactly
    print(np.abs(res.h - target).max())
""")


def test_fit_of_a_memmap_larger_than_the_memory_budget(tmp_path):
    n = 16 << 20
    rng = np.random.default_rng(3)
    x = np.memmap(tmp_path / "x", dtype=np.float32, mode="w+", shape=(n,))
    y = np.memmap(tmp_path / "y", dtype=np.float32, mode="w+", shape=(n,))
    for a in range(0, n, 1 << 22):  # written in slices: the test itself stays small too
        xs = rng.standard_normal(1 << 22).astype(np.float32)
        x[a:a + (1 << 22)] = xs
        y[a:a + (1 << 22)] = 2 * xs
    x.flush(), y.flush()
    del x, y
    def child(rows):
        return subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(rows)], capture_output=True,
                              text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="2"))
    run = child(1 << 18)
    assert run.returncode == 0, run.stderr[-2000:]
    # The double solve errs far below float32's spacing at 2: the taps are 2 e_0 to one ulp.
    assert float(run.stdout) <= np.spacing(np.float32(2)), run.stdout
    # The budget is real: one chunk of all 16M rows (a 128 MiB float64 window) does not fit in it.
    whole = child(n)
    assert whole.returncode != 0 and "MemoryError" in whole.stderr, whole.stderr[-2000:]
