"""Defects found by hostile use of the command (issue 13), each pinned by the case that showed it."""
import json
import math

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
    p = run_cli("check", "--x", x, "--y", y, "--taps", 1, "--dtype", dtype, "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    report = json.loads(p.stdout)
    rows = [r for r in report["rows"] if not r.get("skipped")]
    assert len(rows) == 11
    for r in rows:
        assert r["tolerance"] is not None and math.isfinite(r["tolerance"]), r
        assert r["ok"], r
    plain = run_cli("check", "--x", x, "--y", y, "--taps", 1, "--dtype", dtype)
    assert plain.returncode == 0 and "all agree" in plain.stdout, plain.stdout
    assert "nan" not in plain.stdout and "inf" not in plain.stdout
