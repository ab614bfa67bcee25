"""`mpirun -np P convgrad fit ...` (issue 10 item 2; docs/scale.md): real mpirun jobs.

- The answer does not depend on P: the taps (and the summary's numbers) are bitwise identical
  for P = 1, 2, 3, 4 and equal to those of a plain `convgrad fit` without mpirun, for the
  exact solver and an iterative one, with chunks small enough that every rank has several.
- Failure is clean on every rank: a missing file, a file bad only in the part one rank reads,
  a singular system, a usage error, a command that does not run across ranks: exactly one
  `convgrad: error:` line (from rank 0), a non-zero exit, no output file, no temporary file,
  and no hang (every job runs under a timeout).
- A rank killed mid-run ends the whole job (Open MPI's default) with nothing written.

Skipped, with the reason, where mpirun is missing or convgrad was built without MPI
(CONVGRAD_MPI=OFF). Ranks beyond the cores run with --oversubscribe; OMP_NUM_THREADS=1
keeps the jobs small on a shared CI machine.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

TIMEOUT = 120  # seconds for one mpirun job: a hang fails the test instead of CI


def mpi_env(threads=1):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    # Tests may run as root (containers, CI); Open MPI refuses that unless told twice.
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    # No search for network interfaces or shared-memory warnings on small CI machines.
    env.update(OMPI_MCA_btl="self,vader", OMPI_MCA_btl_vader_single_copy_mechanism="none")
    return env


@pytest.fixture(scope="session")
def mpirun():
    path = shutil.which("mpirun")
    if path is None:
        pytest.skip("mpirun not found (Debian: openmpi-bin)")
    return path


@pytest.fixture
def run_mpi(mpirun, convgrad_bin):
    """run_mpi(P, *args) runs `mpirun -np P convgrad *args` and returns the CompletedProcess."""
    def run(ranks, *args, timeout=TIMEOUT, threads=1):
        cmd = [mpirun, "--oversubscribe", "--bind-to", "none", "-np", str(ranks), str(convgrad_bin),
               *map(str, args)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=mpi_env(threads))
    return run


@pytest.fixture(scope="session")
def mpi_build(mpirun, convgrad_bin, tmp_path_factory):
    """Skips unless this convgrad was built with MPI (a build without it refuses P > 1 ranks)."""
    d = tmp_path_factory.mktemp("probe")
    np.save(d / "x.npy", np.arange(1.0, 9.0))
    cmd = [mpirun, "--oversubscribe", "-np", "2", str(convgrad_bin), "fit", "--x", d / "x.npy",
           "--y", d / "x.npy", "--half-width", "0", "--out", d / "h.json", "--quiet"]
    r = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=TIMEOUT, env=mpi_env())
    if "built without MPI" in r.stderr:
        pytest.skip("convgrad was built without MPI (CONVGRAD_MPI=OFF)")
    assert r.returncode == 0, r.stderr
    return True


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("convgrad: error:")]


def assert_clean_failure(r, directory, expect_in_message):
    """One error line (rank 0's), a non-zero exit, and nothing written into `directory`."""
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert expect_in_message in lines[0], lines[0]
    assert r.returncode != 0
    written = sorted(p.name for p in directory.iterdir())
    assert written == [], written


def save(directory, name, values):
    path = directory / name
    np.save(path, np.asarray(values))
    return path


@pytest.fixture
def data(tmp_path):
    """Two pairs (the second shorter) of a noisy 9-tap system, inputs in inputs/, outputs in out/."""
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    rng = np.random.default_rng(10)
    h = rng.standard_normal(9)
    args = []
    for p, n in enumerate([30000, 17000]):
        x = rng.standard_normal(n)
        y = np.convolve(x, h, "same") + 0.01 * rng.standard_normal(n)
        args += ["--x", save(inputs, f"x{p}.npy", x), "--y", save(inputs, f"y{p}.npy", y)]
    return inputs, out, args


CHUNK_ROWS = 2000  # 15 + 9 chunks: every rank of 4 has several, and ranges cross the pairs


def fit_args(args, out, solver, extra=()):
    iterative = ["--max-iter", "300", "--tol", "0"] if solver != "exact" else []
    return ["fit", *args, "--half-width", "4", "--solver", solver, *iterative, "--chunk-rows", CHUNK_ROWS,
            "--out", out / "h.npy", "--summary", out / "s.json", "--quiet", *extra]


def numbers_of(summary):
    """What the fit computed (not how long it took or who did it)."""
    keep = ["h", "loss", "grad_norm", "iterations", "stop_reason", "condition_number", "lambda_max", "step"]
    return {k: summary.get(k) for k in keep} | {"pair_loss": [p["loss"] for p in summary["pairs"]]}


@pytest.mark.parametrize("solver", ["exact", "gd"])
def test_the_answer_is_the_same_to_the_last_bit_for_every_number_of_ranks(mpi_build, run_cli, run_mpi, data,
                                                                          solver):
    inputs, out, args = data
    r = run_cli(*fit_args(args, out, solver))  # no mpirun: the program MPI must agree with
    assert r.returncode == 0, r.stderr
    taps, summary = (out / "h.npy").read_bytes(), json.loads((out / "s.json").read_text())
    assert "distributed" not in summary
    for ranks in [1, 2, 3, 4]:
        r = run_mpi(ranks, *fit_args(args, out, solver))
        assert r.returncode == 0, r.stderr
        assert r.stdout == "" and r.stderr == ""
        assert (out / "h.npy").read_bytes() == taps, f"-np {ranks}"
        s = json.loads((out / "s.json").read_text())
        assert numbers_of(s) == numbers_of(summary), f"-np {ranks}"
        assert 0 < s["seconds"] <= s["command_seconds"]  # rank 0's clock, around its fit
        # Every rank computed its own contiguous range of the 24 chunks, in rank order.
        d = s["distributed"]
        assert d["ranks"] == ranks and [p["rank"] for p in d["per_rank"]] == list(range(ranks))
        ranges = [tuple(p["chunks"]) for p in d["per_rank"]]
        assert ranges[0][0] == 0 and ranges[-1][1] == 24
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(ranges, ranges[1:]))
        # ... and read only those chunks' rows (plus halos and the files' headers).
        read = [p["bytes_read"] for p in d["per_rank"]]
        if ranks == 1:
            whole = read[0]
        assert max(read) <= whole * (1.3 / ranks), read
        assert abs(sum(read) - whole) <= 0.02 * whole, read
    # Threads inside the ranks change nothing either.
    r = run_mpi(2, *fit_args(args, out, solver), threads=2)
    assert r.returncode == 0, r.stderr
    assert (out / "h.npy").read_bytes() == taps


def test_validation_and_report_come_from_rank_0_as_from_one_process(mpi_build, run_cli, run_mpi, data, tmp_path):
    inputs, out, args = data
    extra = ["--validate", inputs / "x1.npy", inputs / "y1.npy", "--report", out / "r.html"]
    r = run_cli(*fit_args(args, out, "exact", extra))
    assert r.returncode == 0, r.stderr
    plain = json.loads((out / "s.json").read_text())
    report = (out / "r.html").read_text()
    for p in out.iterdir():
        p.unlink()
    r = run_mpi(3, *fit_args(args, out, "exact", extra))
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "s.json").read_text())
    assert s["validation"] == plain["validation"] and numbers_of(s) == numbers_of(plain)
    # The same page but for the time the fit took.
    untimed = lambda page: re.sub(r"<td>[-+0-9.e]+ s</td>", "", page)  # noqa: E731
    assert untimed((out / "r.html").read_text()) == untimed(report)
    assert sorted(p.name for p in out.iterdir()) == ["h.npy", "r.html", "s.json"]


def test_each_rank_sends_nodes_of_the_tree_not_samples(mpi_build, run_mpi, tmp_path):
    """The bytes a rank sends do not grow with N: 8 times as many samples, the same bytes."""
    sent = {}
    for n in [20000, 160000]:
        x = np.random.default_rng(n).standard_normal(n)
        xp, yp = save(tmp_path, f"x{n}.npy", x), save(tmp_path, f"y{n}.npy", np.roll(x, 1))
        r = run_mpi(2, "fit", "--x", xp, "--y", yp, "--half-width", "4", "--chunk-rows", n // 4,
                    "--out", tmp_path / "h.npy", "--summary", tmp_path / "s.json", "--quiet")
        assert r.returncode == 0, r.stderr
        d = json.loads((tmp_path / "s.json").read_text())["distributed"]
        sent[n] = [p["bytes_sent"] for p in d["per_rank"]]
    assert sent[20000] == sent[160000]
    # Rank 1 computes chunks [2, 4), one node of the tree over 4 chunks, and sends it to rank 0
    # in every pass: 8 (K^2 + K + 1) bytes for the normal equations, 8 (K + 1) for the loss and
    # gradient at the solution, 8 a chunk for the pairs' losses, and a few words of framing.
    K = 9
    payload = 8 * (K * K + K + 1) + 8 * (K + 1) + 2 * 8
    assert payload <= sent[20000][1] <= payload + 64 * d["passes"]


def test_a_bad_sample_that_only_one_rank_reads_ends_every_rank(mpi_build, run_mpi, data):
    inputs, out, args = data
    y = np.load(inputs / "y1.npy")
    y[-5] = np.nan  # in the last chunk, which only the last rank reads
    np.save(inputs / "y1.npy", y)
    for ranks in [2, 4]:
        r = run_mpi(ranks, *fit_args(args, out, "exact"))
        assert_clean_failure(r, out, "y1.npy")
        assert "sample 16995" in error_lines(r.stderr)[0] or "16995" in error_lines(r.stderr)[0]
        assert r.returncode == 1


def test_a_usage_error_is_said_once_by_rank_0(mpi_build, run_mpi, data):
    inputs, out, args = data
    r = run_mpi(3, "fit", *args, "--half-width", "4", "--ridge", "-1", "--out", out / "h.json")
    assert_clean_failure(r, out, "--ridge")
    assert r.returncode == 2


def test_help_and_warnings_are_said_once(mpi_build, run_mpi, data):
    inputs, out, args = data
    r = run_mpi(3, "fit", "--help")
    assert r.returncode == 0 and r.stdout.count("Usage:") == 1, r.stdout
    r = run_mpi(3, "fit", *args, "--taps", "4", "--out", out / "h.json", "--quiet")  # deprecated spelling
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("convgrad: warning:") == 1 and "--taps is deprecated" in r.stderr, r.stderr


def test_verbose_notes_are_said_once_and_standard_input_is_refused(mpi_build, run_mpi, data):
    inputs, out, args = data
    r = run_mpi(2, "fit", *args, "--half-width", "4", "--out", out / "h.json", "--verbose")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("convgrad: read x from") == 2 and r.stderr.count("fit finished in") == 1, r.stderr
    (out / "h.json").unlink()
    r = run_mpi(2, "fit", "--x", "-", "--y", inputs / "y0.npy", "--half-width", "4", "--out", out / "h.json")
    assert_clean_failure(r, out, "'-' (standard input) reaches only rank 0 under mpirun")
    assert r.returncode == 2


def test_only_fit_runs_across_ranks(mpi_build, run_mpi, data):
    inputs, out, args = data
    r = run_mpi(2, "apply", "--x", inputs / "x0.npy", "--h", inputs / "x1.npy", "--out", out / "y.npy")
    assert_clean_failure(r, out, "only `convgrad fit` runs across MPI ranks")
    assert r.returncode == 2


def test_a_missing_file_ends_every_rank_with_one_error(mpi_build, run_mpi, data):
    inputs, out, args = data
    (inputs / "y1.npy").unlink()
    r = run_mpi(4, "fit", *args, "--half-width", "4", "--out", out / "h.json", "--summary", out / "s.json")
    assert_clean_failure(r, out, "y1.npy")


def test_a_singular_system_ends_every_rank_with_one_error(mpi_build, run_mpi, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    x = save(tmp_path, "x.npy", np.zeros(20000))
    y = save(tmp_path, "y.npy", np.ones(20000))
    r = run_mpi(3, "fit", "--x", x, "--y", y, "--half-width", "2", "--out", out / "h.json")
    assert_clean_failure(r, out, "the data do not determine every tap")
    assert r.returncode == 1


def ranks_of(mpirun_pid):
    """{rank: pid} of the processes mpirun started, read from their environment."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != mpirun_pid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
        if b"OMPI_COMM_WORLD_RANK" in env:
            found[int(env[b"OMPI_COMM_WORLD_RANK"])] = int(entry)
    return found


@pytest.mark.parametrize("victim", [0, 1])
def test_a_rank_killed_mid_run_ends_the_job_with_nothing_written(mpi_build, mpirun, convgrad_bin, data, victim):
    inputs, out, args = data
    # gd with no tolerance runs until --max-iter: long enough to be killed in the middle.
    cmd = [mpirun, "--oversubscribe", "-np", "3", convgrad_bin, "fit", *args, "--half-width", "4",
           "--solver", "gd", "--tol", "0", "--max-iter", "100000000", "--out", out / "h.json",
           "--summary", out / "s.json", "--history", out / "loss.csv"]
    job = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=mpi_env())
    try:
        deadline = time.monotonic() + TIMEOUT / 2
        ranks = {}
        while len(ranks) < 3 and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.2)
            ranks = ranks_of(job.pid)
        assert len(ranks) == 3, "the ranks did not start"
        time.sleep(1.0)  # into the iterations
        assert job.poll() is None, job.communicate()
        os.kill(ranks[victim], signal.SIGKILL)
        _, stderr = job.communicate(timeout=TIMEOUT / 2)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode != 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [], "something was written"
    assert not any(pid for pid in ranks.values() if os.path.exists(f"/proc/{pid}") and
                   open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"), "a rank lives on"
