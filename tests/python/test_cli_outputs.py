"""What the command guarantees about its outputs, tested against a hostile environment:
special files as targets (devices, FIFOs, symbolic links, sockets, standard output), full and
read-only disks, standard output that fails, signals during a large write, and concurrent
writers. Outputs are all or nothing; a special file is written, never replaced.

The device nodes and file systems are made in a temporary directory (never under /dev); the
tests that need root (mknod, mount) are skipped with a message without it."""
import os
import pathlib
import signal
import socket
import stat
import subprocess
import threading
import time

import numpy as np
import pytest

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (mknod / mount a tmpfs)")

X, Y, H = "1\n2\n3\n4\n5\n", "0\n1\n0\n-1\n2\n", "1\n2\n3\n"
DH = [214.0, 262.0, 190.0]  # the worked example of docs/derivation.md


@pytest.fixture
def case(tmp_path):
    for name, text in (("x.csv", X), ("y.csv", Y), ("h.csv", H)):
        (tmp_path / name).write_text(text)
    return tmp_path


def grad_args(d, *more):
    return ["grad", "--x", d / "x.csv", "--y", d / "y.csv", "--h", d / "h.csv", *more]


def temporaries(d):
    return sorted(p.name for p in pathlib.Path(d).iterdir() if ".convgrad-tmp." in p.name)


def assert_one_line_error(p, code, *parts):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("convgrad: error: "), p.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])


def values(text):
    return [float(v) for v in text.split()]


# ---- special files as targets ----------------------------------------------------------------


@needs_root
def test_a_device_node_is_written_not_replaced(case, run_cli):
    null = case / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    p = run_cli(*grad_args(case, "--out-dh", null))
    assert p.returncode == 0, p.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode), "the device node was replaced by a file"


@needs_root
def test_a_full_device_is_an_error_and_stays_a_device(case, run_cli):
    full = case / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # /dev/full's numbers
    p = run_cli(*grad_args(case, "--out-dh", full))
    assert_one_line_error(p, 1, str(full), "No space left on device")
    assert "wrote" not in p.stdout
    assert stat.S_ISCHR(os.lstat(full).st_mode)
    assert temporaries(case) == []


def test_a_symlink_is_followed_and_stays_a_link(case, run_cli):
    (case / "sub").mkdir()
    link = case / "dh.txt"
    os.symlink("sub/real.txt", link)  # relative, into another directory, dangling at first
    for _ in range(2):  # creates the target, then replaces it
        p = run_cli(*grad_args(case, "--out-dh", link))
        assert p.returncode == 0, p.stderr
        assert os.path.islink(link)
        assert values((case / "sub" / "real.txt").read_text()) == DH
    assert temporaries(case) == [] and temporaries(case / "sub") == []


def test_a_chain_of_symlinks_reaches_the_final_target(case, run_cli):
    real = case / "real.npy"
    os.symlink(real, case / "a.npy")
    os.symlink(case / "a.npy", case / "b.npy")
    p = run_cli(*grad_args(case, "--out-dh", case / "b.npy"))
    assert p.returncode == 0, p.stderr
    assert os.path.islink(case / "a.npy") and os.path.islink(case / "b.npy")
    assert np.load(real).tolist() == DH


def test_a_symlink_loop_is_an_error(case, run_cli):
    os.symlink("loop2", case / "loop1")
    os.symlink("loop1", case / "loop2")
    p = run_cli(*grad_args(case, "--out-dh", case / "loop1"))
    assert_one_line_error(p, 1, "loop1", "symbolic links")


def test_a_fifo_is_written_and_stays_a_fifo(case, run_cli):
    fifo = case / "dh.fifo"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.update(text=open(fifo).read()))
    reader.start()
    p = run_cli(*grad_args(case, "--out-dh", fifo))
    reader.join(timeout=30)
    assert p.returncode == 0, p.stderr
    assert values(got["text"]) == DH
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_socket_is_refused(case, run_cli):
    path = case / "sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    try:
        p = run_cli(*grad_args(case, "--out-dh", path))
    finally:
        s.close()
    assert_one_line_error(p, 1, str(path), "not a regular file, a device or a FIFO")
    assert stat.S_ISSOCK(os.lstat(path).st_mode)


@pytest.mark.parametrize("name", ["-", "/dev/stdout"])
def test_dash_and_dev_stdout_write_to_standard_output(case, run_cli, name):
    p = run_cli(*grad_args(case, "--out-dh", name))
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[:3]
    assert values("\n".join(first)) == DH, p.stdout


def test_dash_for_two_outputs_is_a_usage_error(case, run_cli):
    p = run_cli(*grad_args(case, "--out-dh", "-", "--out-dx", "-"))
    assert p.returncode == 2, p.stderr


def test_dev_stdout_redirected_to_a_file_keeps_the_other_lines(case, convgrad_bin):
    out = case / "out.txt"
    with open(out, "w") as f:
        p = subprocess.run([str(convgrad_bin), *map(str, grad_args(case, "--out-dh", "/dev/stdout"))],
                           stdout=f, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert values("\n".join(text.splitlines()[:3])) == DH
    assert "loss" in text  # the printed summary follows, in the same file


# ---- standard output that fails ----------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["grad", "--json"], ["check"], ["demo"], ["fit", "--half-width", "1", "--out", "h.json"], ["explain"]])
def test_stdout_to_dev_full_is_an_error(case, convgrad_bin, args):
    if args[0] in ("grad", "fit", "check"):
        args = [args[0], "--x", case / "x.csv", "--y", case / "y.csv", *args[1:]]
        if args[0] in ("grad", "check"):
            args += ["--h", case / "h.csv"]
    with open("/dev/full", "w") as full:
        p = subprocess.run([str(convgrad_bin), *map(str, args)], stdout=full, stderr=subprocess.PIPE,
                           text=True, cwd=case)
    assert p.returncode == 1, (args, p.returncode, p.stderr)
    lines = p.stderr.splitlines()
    assert lines and lines[-1].startswith("convgrad: error: cannot write to standard output"), p.stderr


def test_a_broken_pipe_ends_quietly(case, convgrad_bin):
    """With SIGPIPE ignored (as Python and some shells leave it), a reader that went away is
    the conventional end of a pipeline, not an error: status 128 + SIGPIPE, nothing said."""
    r, w = os.pipe()
    os.close(r)
    p = subprocess.run([str(convgrad_bin), "explain", "--n", "12", "--half-width", "2"], stdout=w,
                       stderr=subprocess.PIPE, text=True,
                       preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_IGN))
    os.close(w)
    assert p.returncode == 128 + signal.SIGPIPE, (p.returncode, p.stderr)
    assert p.stderr == ""


# ---- full and read-only disks -------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path):
    if not IS_ROOT:
        pytest.skip("needs root to mount a tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = []

    def mount(options):
        if mounted:
            subprocess.run(["umount", str(mnt)], check=True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
        mounted.append(True)
        return mnt

    yield mount
    if mounted:
        subprocess.run(["umount", str(mnt)])


def test_a_full_disk_leaves_nothing(case, run_cli, small_tmpfs):
    mnt = small_tmpfs("size=64k")
    x = np.random.default_rng(2).standard_normal(20000)
    np.save(case / "big_x.npy", x)
    np.save(case / "big_y.npy", -x)
    target = mnt / "dx.txt"  # 20000 lines of 17 digits: far beyond 64 KiB
    p = run_cli("grad", "--x", case / "big_x.npy", "--y", case / "big_y.npy", "--h", case / "h.csv",
                "--out-dx", target, "--out-dh", mnt / "dh.txt")
    assert_one_line_error(p, 1, str(target), "No space left on device")
    assert sorted(os.listdir(mnt)) == [], "a full disk left a file or a temporary"


def test_a_read_only_directory_is_an_error(case, run_cli, small_tmpfs):
    mnt = small_tmpfs("ro,size=64k")
    p = run_cli(*grad_args(case, "--out-dh", mnt / "dh.npy"))
    assert_one_line_error(p, 1, str(mnt / "dh.npy"), "Read-only file system")
    assert os.listdir(mnt) == []


def test_an_unwritable_directory_is_an_error_for_a_user(case, run_cli):
    if IS_ROOT:
        pytest.skip("root writes to a mode-0555 directory; the read-only mount covers root")
    d = case / "locked"
    d.mkdir(mode=0o555)
    p = run_cli(*grad_args(case, "--out-dh", d / "dh.npy"))
    assert_one_line_error(p, 1, "Permission denied")


# ---- signals during a large write -------------------------------------------------------------


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_a_large_write_leaves_no_temporary(tmp_path, convgrad_bin, signo):
    n = 3_000_000
    x = np.random.default_rng(1).standard_normal(n)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x)
    out = tmp_path / "out"
    out.mkdir()
    args = [str(convgrad_bin), "grad", "--x", str(tmp_path / "x.npy"), "--y", str(tmp_path / "y.npy"),
            "--half-width", "1", "--out-dx", str(out / "dx.txt")]
    for attempt in range(5):  # the temporary exists for a short while: catch it in the act
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        caught = False
        while proc.poll() is None:
            if temporaries(out):
                proc.send_signal(signo)
                caught = True
                break
        proc.wait(timeout=60)
        if caught and proc.returncode == -signo:
            break
        for p in out.iterdir():
            p.unlink()
    else:
        pytest.fail("never caught the write in progress")
    assert temporaries(out) == [], "the signal left a temporary behind"
    assert not (out / "dx.txt").exists()


def test_temporaries_of_a_killed_process_are_removed_by_the_next_write(case, run_cli):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = case / f".dh.npy.convgrad-tmp.{dead.pid}.0.0"
    live = case / f".dh.npy.convgrad-tmp.{os.getpid()}.0.0"  # a writer still running
    other = case / f".other.npy.convgrad-tmp.{dead.pid}.0.0"  # another target's: not ours to touch
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    p = run_cli(*grad_args(case, "--out-dh", case / "dh.npy"))
    assert p.returncode == 0, p.stderr
    assert not stale.exists()
    assert live.exists() and other.exists()


# ---- concurrent writers ----------------------------------------------------------------------


def test_concurrent_writers_leave_one_complete_file(case, convgrad_bin):
    target = case / "dh.npy"
    expected = []
    procs = []
    for k in range(8):
        h = case / f"h{k}.csv"
        h.write_text(f"{k}\n{k + 1}\n{k + 2}\n")
        hv, xv, yv = np.array([k, k + 1, k + 2.0]), np.arange(1, 6.0), np.array([0, 1, 0, -1, 2.0])
        yhat = np.convolve(xv, hv)[1:6]
        expected.append([float(np.dot(np.pad(xv, 1)[2 - j:7 - j], yhat - yv)) for j in range(3)])
        procs.append(subprocess.Popen(
            [str(convgrad_bin), "grad", "--x", str(case / "x.csv"), "--y", str(case / "y.csv"),
             "--h", str(h), "--out-dh", str(target)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for p in procs:
        assert p.wait(timeout=60) == 0, p.stderr.read()
    got = np.load(target).tolist()
    assert got in expected, got
    assert temporaries(case) == []
