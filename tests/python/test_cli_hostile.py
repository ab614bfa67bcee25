"""Hostile input to the `convgrad` command: every case gets exit status 2 (usage) or 1 (data
or I/O), one line `convgrad: error: ...` naming the option or file, the position and the
problem, nothing on stdout, and no output file (or temporary) left behind."""
import json
import os
import subprocess
import struct

import numpy as np
import pytest


def npy_bytes(descr, shape, data, fortran=False, major=1):
    """A .npy file by hand, so that broken ones can be made too."""
    header = "{'descr': %r, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    prefix = 10 if major == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    size = struct.pack("<H", len(header)) if major == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + size + header.encode() + data


GOOD = "1\n2\n3\n4\n5\n"

# name -> bytes or text of the bad x file, and what the message must say.
BAD_X = {
    "empty.txt": ("", ["empty.txt", "no values"]),
    "comments_only.csv": ("# nothing\n\n", ["comments_only.csv", "no values"]),
    "words.txt": ("1\n2\nthree\n4\n5\n", ["words.txt:3", "'three'", "not a number"]),
    # (a header line of names is read since issue 14: tests/python/test_cli_conventions.py)
    "typo_header.csv": ("1O\n1\n2\n3\n4\n", ["typo_header.csv:1", "'1O'"]),
    "nan.txt": ("1\n2\n3\nnan\n5\n", ["nan.txt:4", "sample index 3", "finite"]),
    "inf.csv": ("1,2,inf,4,5\n", ["inf.csv:1", "sample index 2", "finite"]),
    "huge.txt": ("1\n2\n1e999\n4\n5\n", ["huge.txt:3", "'1e999'", "range"]),
    "table.csv": ("1,2\n3,4\n5,6\n", ["table.csv:1", "table"]),
    "decimal_comma.csv": ("1,5 2,5 3,5 4,5 5,5\n", ["decimal_comma.csv:1", "decimal commas"]),
    "empty_field.csv": ("1,2,,4,5\n", ["empty_field.csv:1", "empty value after value 2"]),
    "binary.txt": (b"\x00\x01\x02garbage\xff", ["binary.txt:1", "\\x00"]),
    "truncated.npy": (npy_bytes("<f8", "(5,)", struct.pack("<4d", 1, 2, 3, 4)),
                      ["truncated.npy", "truncated", "40 bytes", "has 32"]),
    "int.npy": (npy_bytes("<i8", "(5,)", struct.pack("<5q", 1, 2, 3, 4, 5)), ["int.npy", "'<i8'", "integer"]),
    "bigendian.npy": (npy_bytes(">f8", "(5,)", struct.pack(">5d", 1, 2, 3, 4, 5)), ["bigendian.npy", "big-endian"]),
    "complex.npy": (npy_bytes("<c16", "(5,)", bytes(80)), ["complex.npy", "complex"]),
    "matrix.npy": (npy_bytes("<f8", "(5, 2)", bytes(80)), ["matrix.npy", "(5, 2)", "1-D"]),
    "fortran.npy": (npy_bytes("<f8", "(5, 1)", bytes(40), fortran=True), ["fortran.npy", "Fortran"]),
    "nomagic.npy": (b"NUMPY" + bytes(100), ["nomagic.npy", "not a .npy file"]),
    "nan.npy": (npy_bytes("<f8", "(5,)", struct.pack("<5d", 1, 2, 3, 4, float("nan"))), ["nan.npy", "sample 4", "NaN"]),
    "empty.npy": (npy_bytes("<f8", "(0,)", b""), ["empty.npy", "no samples"]),
    "notwav.wav": ("RIFF but not really", ["notwav.wav", "not a readable sound file"]),
}


def assert_one_line_error(p, code, parts):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("convgrad: error: "), p.stderr
    for part in parts:
        assert part in lines[0], (part, lines[0])
    assert "terminate" not in p.stderr and "Traceback" not in p.stderr


def write(path, content):
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


@pytest.fixture
def files(tmp_path):
    d = {name: write(tmp_path / name, text) for name, text in
         [("x.txt", GOOD), ("y.txt", "0\n1\n0\n-1\n2\n"), ("h.txt", "1\n2\n3\n"), ("h4.txt", "1 2 3 4\n"),
          ("y4.txt", "1\n2\n3\n4\n")]}
    d["dir"] = tmp_path
    return d


def listing(d):
    return sorted(os.listdir(d))


@pytest.mark.parametrize("name", sorted(BAD_X))
@pytest.mark.parametrize("role", ["x", "y", "h"])
def test_bad_data_files(run_cli, files, name, role):
    bad = write(files["dir"] / name, BAD_X[name][0])
    before = listing(files["dir"])
    args = {"x": files["x.txt"], "y": files["y.txt"], "h": files["h.txt"]}
    args[role] = bad
    out_dh, out_dx = files["dir"] / "dh.npy", files["dir"] / "dx.csv"
    p = run_cli("grad", "--x", args["x"], "--y", args["y"], "--h", args["h"], "--out-dh", out_dh, "--out-dx", out_dx)
    assert_one_line_error(p, 1, BAD_X[name][1])
    assert p.stdout == ""
    assert listing(files["dir"]) == before  # no outputs, no temporaries


DATA_ERRORS = [
    # (args, message parts); {d} is the directory of the good files
    (["--x", "{d}/x.txt", "--y", "{d}/y4.txt", "--half-width", "1"], ["x.txt", "5 samples", "y4.txt", "4"]),
    (["--x", "{d}/x.txt", "--y", "{d}/y.txt", "--h", "{d}/h4.txt"], ["h4.txt", "4 taps", "even", "--lo"]),
    (["--x", "{d}/missing.txt", "--y", "{d}/y.txt", "--half-width", "1"], ["missing.txt", "no such file"]),
    (["--x", "{d}/x.txt", "--y", "{d}/y.txt", "--h", "{d}/nope.npy"], ["nope.npy", "no such file"]),
    (["--x", "{d}", "--y", "{d}/y.txt", "--half-width", "1"], ["directory"]),
    (["--x", "{d}/x.txt", "--y", "{d}/y.txt", "--half-width", "1", "--out-dh", "{d}/no/such/dir/dh.npy"],
     ["no/such/dir/dh.npy", "does not exist"]),
    (["--x", "{d}/x.txt", "--y", "{d}/y.txt", "--half-width", "1", "--out-dx", "{d}"], ["is a directory"]),
    (["--x", "{d}/x.txt", "--y", "{d}/y.txt", "--half-width", "1", "--out-dx", "{d}/x.txt/dx.npy"], ["not a directory"]),
    (["--x", "{d}/big.txt", "--y", "{d}/big.txt", "--half-width", "0"], ["overflows"]),
    # computed in float64 already: no advice to "use --dtype float64" (it used to give it)
    (["--x", "{d}/big.txt", "--y", "{d}/big.txt", "--half-width", "0"], ["too large for float64 (scale them down)"]),
    (["--x", "{d}/big.txt", "--y", "{d}/big.txt", "--half-width", "0", "--dtype", "float32"], ["float32 range", "index 0"]),
]


@pytest.mark.parametrize("args,parts", DATA_ERRORS)
def test_data_and_io_errors_exit_1(run_cli, files, args, parts):
    write(files["dir"] / "big.txt", "1e300\n")
    before = listing(files["dir"])
    d = str(files["dir"])
    p = run_cli("grad", *[a.format(d=d) for a in args])
    assert_one_line_error(p, 1, parts)
    assert listing(files["dir"]) == before


def test_second_output_failing_leaves_the_first_unwritten(run_cli, files):
    d = files["dir"]
    before = listing(d)
    p = run_cli("grad", "--x", files["x.txt"], "--y", files["y.txt"], "--half-width", 1,
                "--out-dh", d / "dh.npy", "--out-dx", d / "missing" / "dx.npy")
    assert_one_line_error(p, 1, ["missing/dx.npy", "does not exist"])
    assert listing(d) == before


def test_existing_output_survives_a_failed_run(run_cli, files):
    d = files["dir"]
    np.save(d / "dh.npy", np.arange(3.0))
    bad = write(d / "bad.txt", "1\nx\n")
    p = run_cli("grad", "--x", bad, "--y", files["y.txt"], "--half-width", 1, "--out-dh", d / "dh.npy")
    assert p.returncode == 1
    assert np.load(d / "dh.npy").tolist() == [0.0, 1.0, 2.0]


USAGE_ERRORS = [
    (["grad", "--x", "X", "--y", "Y", "--half-width", "-1"], ["--half-width", "-1"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "1000000000000"], ["--half-width", "1000000000000"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "abc"], ["--half-width"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "2.5"], ["--half-width"]),
    (["grad", "--x", "X", "--y", "Y", "--kernel-size", "4"], ["--kernel-size", "even", "--lo"]),
    (["grad", "--x", "X", "--y", "Y", "--kernel-size", "0"], ["--kernel-size"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "1", "--lo", "99999999999999999"], ["--lo"]),
    (["grad", "--x", "X", "--y", "Y"], ["no kernel"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "1", "--causal", "3"], ["only one of", "--causal"]),
    (["grad", "--x", "X", "--y", "Y", "--lo", "0"], ["--lo 0", "--hi", "--kernel-size"]),
    (["grad", "--y", "Y", "--half-width", "1"], ["--x"]),
    (["grad", "--x", "X", "--half-width", "1"], ["--y"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "1", "--method", "magic"], ["--method", "'magic'"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "1", "--dtype", "int8"], ["--dtype", "'int8'"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "1", "--out-dh", "o.npy", "--out-dx", "./o.npy"], ["same file"]),
    (["grad", "--x", "X", "--y", "Y", "--half-width", "1", "--bogus"], ["--bogus"]),
    # an output naming an input would replace the data (it used to, silently)
    (["grad", "--x", "X", "--y", "Y", "--half-width", "1", "--out-dh", "./X"], ["--out-dh", "--x input"]),
    (["grad", "--x", "X", "--y", "Y", "--h", "H", "--out-dx", "H"], ["--out-dx", "--h input"]),
    (["check", "--n", "0"], ["--n", "0"]),
    (["check", "--n", "-5"], ["--n"]),
    (["check", "--half-width", "-2"], ["--half-width"]),
    (["check", "--x", "X"], ["--y"]),
    (["check", "--x", "X", "--y", "Y"], ["no kernel"]),
    (["check", "--x", "X", "--y", "Y", "--n", "5", "--half-width", "1"], ["--n", "--x"]),
    (["check", "--dtype", "half"], ["--dtype"]),
    # N K beyond the random case's work limit: these ran for minutes (hours for the first)
    (["check", "--n", "4194304", "--half-width", "8388607"], ["--n", "tap options", "limit"]),
    (["check", "--n", "1024", "--kernel-size", "16777216", "--lo", "0"], ["--n", "tap options", "limit"]),
    (["explain", "--n", "0"], ["--n"]),
    (["explain", "--n", "1000"], ["--n", "1000"]),
    (["explain", "--half-width", "-1"], ["--half-width"]),
    (["explain", "--half-width", "50"], ["--half-width"]),
    (["nosuchcommand"], []),
    ([], []),
]


@pytest.mark.parametrize("args,parts", USAGE_ERRORS)
def test_usage_errors_exit_2_before_touching_files(run_cli, tmp_path, args, parts):
    # X, Y, H do not exist: a usage error must be reported before any file is read.
    p = run_cli(*args, cwd=tmp_path)
    assert_one_line_error(p, 2, parts)
    assert os.listdir(tmp_path) == []


def test_stereo_wav_needs_a_channel(run_cli, files):
    import wave  # standard library: a 16-bit PCM stereo file
    path = files["dir"] / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<10h", *range(10)))
    p = run_cli("grad", "--x", path, "--y", files["y.txt"], "--half-width", 1)
    assert_one_line_error(p, 1, ["stereo.wav", "2 channels"])
    p = run_cli("grad", "--x", path, "--y", files["y.txt"], "--half-width", 1, "--channel", 2)
    assert_one_line_error(p, 1, ["stereo.wav", "channel 2 does not exist"])
    p = run_cli("grad", "--x", path, "--y", files["y.txt"], "--half-width", 1, "--channel", -1)
    assert_one_line_error(p, 2, ["--channel"])
    # --channel picks the right channel of the WAV (and leaves the text y alone): the right
    # channel holds 1, 3, 5, 7, 9 in 16-bit PCM, i.e. k / 32768.
    p = run_cli("grad", "--x", path, "--y", files["y.txt"], "--half-width", 0, "--channel", 1, "--json")
    assert p.returncode == 0, p.stderr
    x = np.array([1, 3, 5, 7, 9]) / 32768.0
    y = np.array([0.0, 1, 0, -1, 2])
    assert json.loads(p.stdout)["dh"] == [float(np.dot(x, -y))]


def test_help_documents_the_zero_kernel(run_cli):
    p = run_cli("grad", "--help")
    assert p.returncode == 0
    assert "zeros" in p.stdout and "--lo" in p.stdout


def test_jacobian_beyond_its_memory_budget_names_the_size(run_cli, files):
    d = files["dir"]
    np.save(d / "long.npy", np.ones(20000))
    p = run_cli("grad", "--x", d / "long.npy", "--y", d / "long.npy", "--half-width", 2000, "--method", "jacobian",
                "--out-dh", d / "dh.npy")
    assert_one_line_error(p, 1, ["jacobian", "MiB", "direct or fft"])
    assert not (d / "dh.npy").exists()


@pytest.mark.parametrize("name", ["words.txt", "truncated.npy", "nan.txt"])
def test_check_reports_bad_files_too(run_cli, files, name):
    bad = write(files["dir"] / name, BAD_X[name][0])
    p = run_cli("check", "--x", bad, "--y", files["y.txt"], "--half-width", 1)
    assert_one_line_error(p, 1, BAD_X[name][1])
    p = run_cli("check", "--x", files["x.txt"], "--y", files["y4.txt"], "--half-width", 1)
    assert_one_line_error(p, 1, ["5 samples", "4"])


def test_absurd_omp_num_threads_does_not_crash(convgrad_bin):
    # OMP_NUM_THREADS=100000 made libgomp build a team of 10^5 threads for a handful of
    # chunks and crash (SIGSEGV); teams are now capped by the work (at most a few dozen chunks).
    env = dict(os.environ, OMP_NUM_THREADS="100000")
    p = subprocess.run([str(convgrad_bin), "check", "--n", "100000", "--half-width", "10", "--no-fd"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert "all agree" in p.stdout
