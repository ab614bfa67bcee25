"""Defects found by hostile use of the command (issue 13), each pinned by the case that showed it."""
import json
import math
import os
import struct
import subprocess

import numpy as np
import pytest


def write_text(path, values):
    path.write_text("".join(f"{v!r}\n" for v in values))
    return path


# -- check on large but finite data ---------------------------------------------------------
# x = 1e160 with a zero kernel: every output is exact, yet ||x||^2 overflows the double range.
# The tolerances must stay finite and every row agree (exit 0), in float64 and near the
# float32 limit in float32.
@pytest.mark.parametrize("dtype,big", [("float64", 1e160), ("float64", 1e300), ("float32", 2e37)])
@pytest.mark.parametrize("y_value", [0.0, 1.0])
def test_check_on_huge_finite_data_agrees_with_finite_tolerances(run_cli, tmp_path, dtype, big, y_value):
    x = write_text(tmp_path / "x.txt", [big * (0.5 if n % 2 else -1.0) for n in range(8)])
    y = write_text(tmp_path / "y.txt", [y_value] * 8)
    p = run_cli("check", "--x", x, "--y", y, "--half-width", 1, "--dtype", dtype, "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads(p.stdout)
    rows = [r for r in report["rows"] if not r.get("skipped")]
    assert len(rows) == 11
    for r in rows:
        assert r["tolerance"] is not None and math.isfinite(r["tolerance"]), r
        assert r["ok"], r
    plain = run_cli("check", "--x", x, "--y", y, "--half-width", 1, "--dtype", dtype)
    assert plain.returncode == 0 and "all agree" in plain.stdout, plain.stdout
    assert "nan" not in plain.stdout and "inf" not in plain.stdout


# -- file content quoted in an error is escaped ----------------------------------------------
def npy_with_descr(path, descr):
    header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (3,), }"
    header = header.encode("latin-1") + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(24))
    return path


def assert_one_printable_error_line(p):
    assert p.returncode == 1, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("convgrad: error: "), repr(p.stderr)
    assert all(0x20 <= ord(c) < 0x7F for c in p.stderr.rstrip("\n")), repr(p.stderr)


@pytest.mark.parametrize("descr", ["<i4\n\x1b[31mred", "\x1b]0;title\x07", "\n", "<f8\xc2\x9b"])
def test_npy_dtype_is_escaped_in_the_error(run_cli, tmp_path, descr):
    x = npy_with_descr(tmp_path / "x.npy", descr)
    y = write_text(tmp_path / "y.txt", [1.0, 2.0, 3.0])
    p = run_cli("grad", "--x", x, "--y", y, "--half-width", 1)
    assert_one_printable_error_line(p)
    assert "dtype" in p.stderr


def test_tune_cache_content_is_escaped_in_the_warning(convgrad_bin, tmp_path):
    cache = tmp_path / "tune.json"
    cache.write_text('{"version": 1, "records": [{"dtype": "float\\n\\u001b[2Jx", "n": 5}]}')
    env = dict(os.environ, CONVGRAD_TUNE_CACHE=str(cache))
    p = subprocess.run([str(convgrad_bin), "tune", "--n", "64", "--half-width", "1"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    warnings = [line for line in p.stderr.splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith("convgrad: warning: tune cache"), repr(p.stderr)
    assert all(0x20 <= ord(c) < 0x7F for c in warnings[0]), repr(p.stderr)
    assert "\\x0A\\x1B" in warnings[0], warnings[0]


# -- WAV headers libsndfile cannot decode itself ---------------------------------------------
def wav_bytes(tag, rate=8000, bits=16, tail=b"", data=bytes(256)):
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * 2, 2, bits) + tail
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


MPEG_LAYER3 = struct.pack("<HHIHHH", 12, 1, 2, 417, 1, 1393)
EXTENSIBLE_MPEG = struct.pack("<HHIH", 22, 16, 0, 0x55) + bytes.fromhex("000000001000800000aa00389b71")


@pytest.mark.parametrize("data,reason", [
    (wav_bytes(0x55, bits=0, tail=MPEG_LAYER3), "MPEG audio (format 0x0055)"),
    (wav_bytes(0xFFFE, tail=EXTENSIBLE_MPEG), "MPEG audio (format 0x0055)"),
    (wav_bytes(1, rate=0), "sample rate of 0"),
])
def test_undecodable_wav_gives_one_error_line_and_nothing_else(run_cli, tmp_path, data, reason):
    x = tmp_path / "x.wav"
    x.write_bytes(data)
    p = run_cli("grad", "--x", x, "--y", x, "--half-width", 1)
    assert_one_printable_error_line(p)
    assert "x.wav" in p.stderr and reason in p.stderr, p.stderr


# -- far more taps than samples --------------------------------------------------------------
def test_fit_with_far_more_taps_than_samples_warns_and_is_quick(run_cli, tmp_path):
    rng = np.random.default_rng(5)
    x = write_text(tmp_path / "x.txt", rng.standard_normal(64).tolist())
    y = write_text(tmp_path / "y.txt", rng.standard_normal(64).tolist())
    wide, narrow = tmp_path / "wide.json", tmp_path / "narrow.json"
    # 100000 taps from 64 samples ran for minutes (every gd iteration swept every tap).
    p = run_cli("fit", "--x", x, "--y", y, "--causal", 100000, "--solver", "gd", "--out", wide, timeout=30)
    assert p.returncode == 0, p.stderr
    warning = [line for line in p.stderr.splitlines() if line.startswith("convgrad: warning:")]
    assert len(warning) == 1, p.stderr
    for part in ("100000 taps", "64 samples", "underdetermined", "99936 taps reach no sample",
                 "(--solver exact, --ridge 0.001"):
        assert part in warning[0], warning[0]
    q = run_cli("fit", "--x", x, "--y", y, "--causal", 64, "--solver", "gd", "--out", narrow)
    assert q.returncode == 0 and "warning" not in q.stderr, q.stderr
    h_wide, h_narrow = (np.array(json.loads(f.read_text())["h"]) for f in (wide, narrow))
    assert h_wide.shape == (100000,)
    np.testing.assert_array_equal(h_wide[:64], h_narrow)  # the same iteration on the reached taps
    assert not h_wide[64:].any()  # unreached taps keep their start value, 0
    # The advised tool solves it: 100000 taps, a ridge, the unreached taps zero.
    r = run_cli("fit", "--x", x, "--y", y, "--causal", 100000, "--solver", "exact", "--ridge", "1e-3",
                "--out", wide, timeout=30)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
    assert not np.array(json.loads(wide.read_text())["h"])[64:].any()


# -- one message for one cause, whatever the method ------------------------------------------
METHODS = ["direct", "fft", "reference", "jacobian", "auto"]


def test_float32_overflow_gives_one_message_for_every_method(run_cli, tmp_path):
    # Alternating +-3e37: the FFT's sums overflow float32 (NaN) where the direct sums give inf.
    x = write_text(tmp_path / "x.txt", [3e37 if n % 2 else -3e37 for n in range(64)])
    y = write_text(tmp_path / "y.txt", [0.0] * 64)
    h = write_text(tmp_path / "h.txt", [1e-30] * 3)
    grad = {m: run_cli("grad", "--x", x, "--y", y, "--h", h, "--dtype", "float32", "--method", m) for m in METHODS}
    for m, p in grad.items():
        assert_one_printable_error_line(p)
        assert "too large for float32" in p.stderr and "--dtype float64" in p.stderr, (m, p.stderr)
    assert len({p.stderr for p in grad.values()}) == 1, {m: p.stderr for m, p in grad.items()}
    for solver in ["gd", "nesterov", "adam"]:
        fit = [run_cli("fit", "--x", x, "--y", y, "--h0", h, "--half-width", 1, "--dtype", "float32", "--method", m,
                       "--solver", solver, "--out", tmp_path / "h.npy") for m in METHODS]
        for p in fit:
            assert_one_printable_error_line(p)
            assert "too large for float32" in p.stderr and "float64" in p.stderr, p.stderr
        assert len({p.stderr for p in fit}) == 1, [p.stderr for p in fit]


def test_subnormal_data_are_not_called_zero(run_cli, tmp_path):
    x = write_text(tmp_path / "x.txt", [1e-41 * (n % 3 + 1) for n in range(64)])
    for m in METHODS:
        p = run_cli("fit", "--x", x, "--y", x, "--half-width", 2, "--dtype", "float32", "--method", m,
                    "--solver", "gd", "--out", tmp_path / "h.npy")
        assert_one_printable_error_line(p)
        assert "all zero" not in p.stderr.replace("not all zero", ""), p.stderr
        assert "underflow" in p.stderr and "float64" in p.stderr, p.stderr
