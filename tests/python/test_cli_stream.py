"""`convgrad fit` and `convgrad apply` stream their inputs (issue 10, item 1).

The files are read a chunk at a time (--chunk-rows), so the answers must not depend on the
format the data came in, a streamed fit must equal the in-memory fit, hostile files must give one
error line and leave no output, and the memory must stay bounded by the chunk, not the data.
"""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import convgrad
from conftest import run_on_terminal

EPS64 = np.finfo(np.float64).eps


def save(path, v):
    """v as .npy, text (%.17g, exact) or float WAV by the extension."""
    path = pathlib.Path(path)
    if path.suffix == ".npy":
        np.save(path, v)
    elif path.suffix == ".wav":
        import scipy.io.wavfile
        scipy.io.wavfile.write(path, 8000, np.asarray(v, dtype=np.float32))
    else:
        path.write_text("".join(f"{s:.17g}\n" for s in v))
    return path


def taps_of(path):
    return np.array(json.loads(pathlib.Path(path).read_text())["h"])


def system(seed, n, h=(0.5, -0.25, 0.125, 0.3, -0.1)):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n)
    y = np.convolve(x, h, mode="same") + 0.01 * rng.standard_normal(n)
    return x, y


def leftovers(tmp_path):
    """Everything in tmp_path that is not an input: outputs and temporaries."""
    return sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("in_"))


# ---- fit ------------------------------------------------------------------------------------


def test_streamed_fit_equals_the_in_memory_fit_bit_for_bit(run_cli, tmp_path):
    # One chunk (N below the default 2^20 rows): the command's streamed fit and Python's
    # in-memory fit share the chunk and the arithmetic, so the taps agree to the last bit.
    x, y = system(1, 30000)
    save(tmp_path / "in_x.npy", x), save(tmp_path / "in_y.npy", y)
    r = run_cli("fit", "--x", tmp_path / "in_x.npy", "--y", tmp_path / "in_y.npy", "--lo", -3, "--hi", 8,
                "--out", tmp_path / "h.json", "--quiet")
    assert r.returncode == 0, r.stderr
    want = convgrad.fit(x, y, lo=-3, hi=8).h
    np.testing.assert_array_equal(taps_of(tmp_path / "h.json"), want)
    # Many chunks (997 rows): the same with Python's fit given the same chunk rows.
    r = run_cli("fit", "--x", tmp_path / "in_x.npy", "--y", tmp_path / "in_y.npy", "--lo", -3, "--hi", 8,
                "--chunk-rows", 997, "--out", tmp_path / "h997.json", "--quiet")
    assert r.returncode == 0, r.stderr
    want = convgrad.fit(x, y, lo=-3, hi=8, chunk_rows=997).h
    np.testing.assert_array_equal(taps_of(tmp_path / "h997.json"), want)


@pytest.mark.parametrize("solver", ["exact", "gd"])
def test_every_format_streams_to_the_same_taps(run_cli, tmp_path, solver):
    # Many odd chunks (997 rows) across .npy, text and WAV: the readers give the same samples
    # whole or in windows, so the taps are the same bits whatever the files were.
    x, y = system(2, 12345)
    x = x.astype(np.float32).astype(np.float64) * 0.25  # exact in a float WAV
    y = y.astype(np.float32).astype(np.float64) * 0.25
    outs = []
    for ext in (".npy", ".txt", ".wav"):
        save(tmp_path / f"in_x{ext}", x), save(tmp_path / f"in_y{ext}", y)
        out = tmp_path / f"h{ext}.json"
        extra = ["--max-iter", "40"] if solver != "exact" else []
        r = run_cli("fit", "--x", tmp_path / f"in_x{ext}", "--y", tmp_path / f"in_y{ext}", "--half-width", 6,
                    "--solver", solver, "--chunk-rows", 997, *extra, "--out", out, "--quiet")
        assert r.returncode == 0, r.stderr
        outs.append(taps_of(out))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_chunking_changes_the_exact_taps_only_by_rounding(run_cli, tmp_path):
    # Different chunk rows add the same sums in another order: equal to rounding. Bound: each
    # entry of G and b moves by at most about (log2 C + K) eps of its magnitude, and the solve
    # amplifies relative changes by the condition number kappa (summary).
    x, y = system(3, 20000)
    save(tmp_path / "in_x.npy", x), save(tmp_path / "in_y.npy", y)
    taps = {}
    for rows in (1000, 7777, 1 << 20):
        r = run_cli("fit", "--x", tmp_path / "in_x.npy", "--y", tmp_path / "in_y.npy", "--half-width", 4,
                    "--chunk-rows", rows, "--out", tmp_path / f"h{rows}.json",
                    "--summary", tmp_path / f"s{rows}.json", "--quiet")
        assert r.returncode == 0, r.stderr
        taps[rows] = taps_of(tmp_path / f"h{rows}.json")
    kappa = json.loads((tmp_path / f"s{1 << 20}.json").read_text())["condition_number"]
    K = 9
    bound = 4 * kappa * (np.log2(20000 / 1000) + K) * EPS64 * np.linalg.norm(taps[1 << 20])
    for rows in (1000, 7777):
        assert np.linalg.norm(taps[rows] - taps[1 << 20]) <= bound


def test_summary_and_validation_are_those_of_the_data(run_cli, tmp_path):
    x, y = system(4, 5000)
    xv, yv = system(5, 3000)
    for name, v in (("in_x.npy", x), ("in_y.npy", y), ("in_xv.txt", xv), ("in_yv.txt", yv)):
        save(tmp_path / name, v)
    r = run_cli("fit", "--x", tmp_path / "in_x.npy", "--y", tmp_path / "in_y.npy", "--half-width", 2,
                "--validate", tmp_path / "in_xv.txt", tmp_path / "in_yv.txt", "--chunk-rows", 700,
                "--out", tmp_path / "h.json", "--summary", tmp_path / "s.json",
                "--report", tmp_path / "r.html", "--quiet")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    h = np.array(s["h"])
    assert s["pairs"][0]["N"] == 5000 and s["validation"]["N"] == 3000
    # The validation loss 1/2 ||h * xv - yv||^2, recomputed here: equal to rounding (a sum of
    # 3000 squares, each from a 5-term product: a few hundred eps of the loss at most).
    want = 0.5 * np.sum((np.convolve(xv, h, mode="same") - yv) ** 2)
    assert abs(s["validation"]["loss"] - want) <= 3000 * 8 * EPS64 * want
    energy = 0.5 * np.sum(yv ** 2)
    assert abs(s["validation"]["relative_loss"] - want / energy) <= 3000 * 8 * EPS64 * want / energy
    assert "Residual of the first pair" in (tmp_path / "r.html").read_text()


def corrupt_npy(tmp_path, name, n=5000):
    """(x, y) files whose y holds a NaN at sample 3210, deep in the fourth chunk of 1000."""
    x, y = system(6, n)
    y[3210] = np.nan
    return save(tmp_path / "in_x.npy", x), save(tmp_path / name, y)


@pytest.mark.parametrize("command", ["fit", "apply"])
def test_a_bad_sample_deep_in_the_stream_names_itself_and_leaves_nothing(run_cli, tmp_path, command):
    xf, yf = corrupt_npy(tmp_path, "in_y.npy")
    if command == "fit":
        r = run_cli("fit", "--x", xf, "--y", yf, "--half-width", 3, "--chunk-rows", 1000,
                    "--out", tmp_path / "h.json", "--summary", tmp_path / "s.json")
    else:
        save(tmp_path / "in_h.npy", np.array([0.5, 0.25, 0.125]))
        r = run_cli("apply", "--h", tmp_path / "in_h.npy", "--x", yf, "--chunk-rows", 1000,
                    "--out", tmp_path / "out.npy")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("convgrad: error:")
    assert "in_y.npy: sample 3210 (0-based) is NaN" in r.stderr
    assert leftovers(tmp_path) == []


def hostile_npy(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.arange(4000, dtype=np.float64))
    data = good.read_bytes()
    good.unlink()
    truncated = tmp_path / "in_truncated.npy"
    truncated.write_bytes(data[:-100])
    lying = tmp_path / "in_lying.npy"
    lying.write_bytes(data.replace(b"(4000,)", b"(9000,)"))
    short_header = tmp_path / "in_header.npy"
    short_header.write_bytes(data[:9])
    return {"truncated": truncated, "lying": lying, "header": short_header}


@pytest.mark.parametrize("which", ["truncated", "lying", "header"])
@pytest.mark.parametrize("command", ["fit", "apply"])
def test_hostile_npy_gives_one_error_line_and_no_output(run_cli, tmp_path, which, command):
    bad = hostile_npy(tmp_path)[which]
    other = save(tmp_path / "in_other.npy", np.ones(4000))
    if command == "fit":
        r = run_cli("fit", "--x", other, "--y", bad, "--half-width", 2, "--out", tmp_path / "h.json")
    else:
        save(tmp_path / "in_h.npy", np.array([0.5, 0.25, 0.125]))
        r = run_cli("apply", "--h", tmp_path / "in_h.npy", "--x", bad, "--out", tmp_path / "out.wav",
                    "--sample-rate", 8000)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("convgrad: error:"), r.stderr
    assert str(bad) in r.stderr
    want = {"truncated": "truncated", "lying": "truncated", "header": "truncated .npy header"}[which]
    assert want in r.stderr
    assert leftovers(tmp_path) == []


# ---- apply ----------------------------------------------------------------------------------


@pytest.mark.parametrize("lo,hi", [(-2, 6), (3, 9), (-9, -4)])
def test_apply_in_chunks_equals_apply_whole(run_cli, tmp_path, lo, hi):
    # Chunks of 333 rows, taps causal, centred or all in the future: the windows hold every
    # sample each row needs. Direct convolution sums the same K products per row whatever
    # window holds them; equal to the whole run within the rounding of a K-term sum.
    x, _ = system(7, 5000)
    h = np.random.default_rng(8).standard_normal(hi - lo + 1)
    save(tmp_path / "in_x.npy", x)
    (tmp_path / "in_h.json").write_text(json.dumps({"h": list(h), "lo": lo}))
    outs = []
    for rows in (333, 1 << 20):
        out = tmp_path / f"y{rows}.npy"
        r = run_cli("apply", "--h", tmp_path / "in_h.json", "--x", tmp_path / "in_x.npy", "--method", "direct",
                    "--chunk-rows", rows, "--out", out, "--quiet")
        assert r.returncode == 0, r.stderr
        outs.append(np.load(out))
    K = hi - lo + 1
    bound = K * EPS64 * np.sum(np.abs(h)) * np.max(np.abs(x))
    assert outs[0].shape == (5000,)
    assert np.max(np.abs(outs[0] - outs[1])) <= bound
    # And it is the filter: yhat[n] = sum_m h[m] x[n - m], x zero outside [0, N).
    want = sum(h[j] * shifted(x, lo + j) for j in range(K))
    assert np.max(np.abs(outs[0] - want)) <= 2 * bound


def shifted(x, m):
    """s[n] = x[n - m], zero where n - m is outside [0, N)."""
    s = np.zeros_like(x)
    if m >= 0:
        s[m:] = x[:len(x) - m]
    else:
        s[:m] = x[-m:]
    return s


def test_apply_streams_text_and_wav(run_cli, tmp_path):
    x, _ = system(9, 3000)
    x *= 0.2
    save(tmp_path / "in_x.txt", x)
    (tmp_path / "in_h.json").write_text(json.dumps({"h": [0.5, 0.25], "lo": 0}))
    r = run_cli("apply", "--h", tmp_path / "in_h.json", "--x", tmp_path / "in_x.txt", "--chunk-rows", 250,
                "--out", tmp_path / "y.txt", "--quiet")
    assert r.returncode == 0, r.stderr
    got = np.loadtxt(tmp_path / "y.txt")
    want = 0.5 * x + 0.25 * np.concatenate([[0.0], x[:-1]])
    np.testing.assert_allclose(got, want, rtol=0, atol=4 * EPS64)
    r = run_cli("apply", "--h", tmp_path / "in_h.json", "--x", tmp_path / "in_x.txt", "--chunk-rows", 250,
                "--out", tmp_path / "y.wav", "--sample-rate", 8000, "--quiet")
    assert r.returncode == 0, r.stderr
    import scipy.io.wavfile
    rate, w = scipy.io.wavfile.read(tmp_path / "y.wav")
    assert rate == 8000 and w.dtype == np.float32
    np.testing.assert_array_equal(w, want.astype(np.float32))


# ---- progress -------------------------------------------------------------------------------


def test_progress_line_with_progress_and_silenced_by_quiet(run_cli, tmp_path):
    x, y = system(10, 200000)
    save(tmp_path / "in_x.npy", x), save(tmp_path / "in_y.npy", y)
    args = ["fit", "--x", tmp_path / "in_x.npy", "--y", tmp_path / "in_y.npy", "--half-width", 3,
            "--chunk-rows", 1000]
    r = run_cli(*args, "--out", tmp_path / "h1.json")
    assert r.returncode == 0 and "read" not in r.stderr  # piped, not asked: no progress line
    r = run_cli(*args, "--out", tmp_path / "h2.json", "--progress")
    assert r.returncode == 0, r.stderr
    # (text mode reads the line's '\r' as a line end)
    assert "  read " in r.stderr and " of 3.2 MB" in r.stderr and "MB/s" in r.stderr and "left" in r.stderr
    r = run_cli(*args, "--out", tmp_path / "h3.json", "--progress", "--quiet")
    assert r.returncode == 0 and r.stderr == "" and r.stdout == ""


def test_progress_line_on_a_terminal(convgrad_bin, tmp_path):
    x, _ = system(11, 300000)
    save(tmp_path / "in_x.npy", x), save(tmp_path / "in_h.npy", np.ones(3))
    code, text = run_on_terminal([convgrad_bin, "apply", "--h", tmp_path / "in_h.npy", "--x", tmp_path / "in_x.npy",
                                  "--chunk-rows", 500, "--out", tmp_path / "y.npy"])
    assert code == 0
    assert b"\r  read " in text and b"MB/s" in text and b"apply: 300000 samples" in text


# ---- memory ---------------------------------------------------------------------------------

# Runs the command given on its command line and prints one field of its resource usage (the
# child's own figure: RUSAGE_CHILDREN of a process with that one child, not pytest's).
CHILD_USAGE = ("import resource, subprocess, sys\n"
               "r = subprocess.run(sys.argv[2:])\n"
               "print(getattr(resource.getrusage(resource.RUSAGE_CHILDREN), sys.argv[1]), r.returncode)\n")


def child_usage(field, *cmd, env=None):
    out = subprocess.run([sys.executable, "-c", CHILD_USAGE, field, *map(str, cmd)], capture_output=True,
                         text=True, timeout=600, env=env)
    value, code = out.stdout.split()
    assert int(code) == 0, out.stderr
    return int(value)


def peak_rss_mib(*cmd, env=None):
    return child_usage("ru_maxrss", *cmd, env=env) / 1024  # KiB on Linux


def page_faults(*cmd, env=None):
    return child_usage("ru_minflt", *cmd, env=env)


def test_memory_is_set_by_the_chunk_not_by_the_data(convgrad_bin, tmp_path):
    # 2e7 float32 samples per file, 153 MiB of data (305 MiB as double), against one chunk of
    # 2^20 rows. Peak memory is the program and its libraries plus one chunk's work per thread
    # (chunks are computed in parallel): with one thread, the fit of 20 chunks must need no
    # more than the fit of two, up to one more chunk's rows of y in double (8 MiB: a chunk read
    # while the last is still held). Far below the data, and the same for any N. (Two chunks,
    # not one: a pair of one chunk is computed by the whole-signal routines, a different path.)
    n = 20_000_000
    rng = np.random.default_rng(12)
    x = rng.standard_normal(n, dtype=np.float32)
    y = (0.5 * x + 0.25 * np.roll(x, 1)).astype(np.float32)
    np.save(tmp_path / "in_x.npy", x), np.save(tmp_path / "in_y.npy", y)
    np.save(tmp_path / "in_xs.npy", x[: 2 << 20]), np.save(tmp_path / "in_ys.npy", y[: 2 << 20])
    del x, y
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["--half-width", 31, "--quiet"]
    one = peak_rss_mib(convgrad_bin, "fit", "--x", tmp_path / "in_xs.npy", "--y", tmp_path / "in_ys.npy",
                       *args, "--out", tmp_path / "hs.json", env=env)
    many = peak_rss_mib(convgrad_bin, "fit", "--x", tmp_path / "in_x.npy", "--y", tmp_path / "in_y.npy",
                        *args, "--out", tmp_path / "h.json", env=env)
    data_mib = 2 * n * 4 / (1 << 20)
    print(f"peak RSS: {many:.0f} MiB for {data_mib:.0f} MiB of data; two chunks' fit {one:.0f} MiB")
    assert many <= one + 8 and many < data_mib / 2
    h = taps_of(tmp_path / "h.json")
    assert abs(h[31] - 0.5) < 1e-5 and abs(h[32] - 0.25) < 1e-5


def test_each_chunk_reuses_the_memory_of_the_last(convgrad_bin, tmp_path):
    # Each chunk's buffers (megabytes) are freed and allocated again for the next chunk. Kept by
    # the process (cli/main.cpp), the next chunk finds them already mapped; given back to the
    # kernel, every chunk faults in fresh zeroed pages, about 3000 faults a chunk here, a quarter
    # of a streamed fit's time. So the fit of 8 chunks must fault in no more pages than the fit of
    # 2, up to one chunk's rows in double (what a longer reduction tree or a chunk's losses could
    # add). One thread: the threads' arenas would otherwise depend on the scheduling.
    rows = 1 << 18
    rng = np.random.default_rng(13)
    x = rng.standard_normal(8 * rows)
    y = 0.5 * x + 0.25 * np.roll(x, 1)
    np.save(tmp_path / "in_x.npy", x), np.save(tmp_path / "in_y.npy", y)
    np.save(tmp_path / "in_xs.npy", x[: 2 * rows]), np.save(tmp_path / "in_ys.npy", y[: 2 * rows])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["--half-width", 31, "--chunk-rows", rows, "--quiet"]
    two = page_faults(convgrad_bin, "fit", "--x", tmp_path / "in_xs.npy", "--y", tmp_path / "in_ys.npy", *args,
                      "--out", tmp_path / "hs.json", env=env)
    eight = page_faults(convgrad_bin, "fit", "--x", tmp_path / "in_x.npy", "--y", tmp_path / "in_y.npy", *args,
                        "--out", tmp_path / "h.json", env=env)
    one_chunk_pages = rows * 8 // os.sysconf("SC_PAGE_SIZE")
    print(f"page faults: {two} for 2 chunks, {eight} for 8")
    assert eight <= two + one_chunk_pages


def test_a_pipe_is_read_whole_as_before(convgrad_bin, tmp_path):
    # Standard input cannot be read at an offset: it is read whole, once, and still filtered.
    save(tmp_path / "in_h.npy", np.array([0.0, 2.0, 0.0]))
    r = subprocess.run([str(convgrad_bin), "apply", "--h", str(tmp_path / "in_h.npy"), "--x", "/dev/stdin",
                        "--out", str(tmp_path / "y.txt"), "--chunk-rows", "2", "--quiet"],
                       input="1\n2\n3\n4\n5\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "y.txt"), [2, 4, 6, 8, 10])


def test_many_pairs_need_no_descriptor_each(convgrad_bin, tmp_path):
    # 40 pairs under a limit of 32 open descriptors: the readers open a file for each window
    # and close it after, so the number of pairs is not limited by the descriptors.
    args = []
    for p in range(40):
        x, y = system(20 + p, 300)
        args += ["--x", save(tmp_path / f"in_x{p}.npy", x), "--y", save(tmp_path / f"in_y{p}.txt", y)]
    cmd = [convgrad_bin, "fit", *args, "--half-width", 2, "--quiet", "--out"]
    r = subprocess.run(["bash", "-c", 'ulimit -n 32 && exec "$@"', "fit", *map(str, cmd), tmp_path / "h.json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # The same taps as without the limit.
    r = subprocess.run([*map(str, cmd), tmp_path / "h_free.json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(taps_of(tmp_path / "h.json"), taps_of(tmp_path / "h_free.json"))
