"""`convgrad explain` on the user's own numbers (issue 14 item 5): inline lists or files, every
step with their numbers, checked against NumPy; long inputs shown in part (saying what is left
out) instead of refused; the flipped input defined as docs/derivation.md defines it."""
import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# explain prints 6 significant digits: a printed value v is within this of the true one.
DIGITS = 6


def close(printed, exact):
    exact = np.asarray(exact, dtype=float)
    return np.all(np.abs(np.asarray(printed) - exact) <= 0.5 * 10.0 ** (1 - DIGITS) * np.maximum(np.abs(exact), 1e-300)
                  + 1e-300)


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def after(text, label):
    """The list printed on the line that starts with `label` (first and last values if long)."""
    line = next(ln for ln in text.splitlines() if ln.strip().startswith(label)).strip()[len(label):]
    inside = line[line.index("[") + 1:line.rindex("]")]
    head, _, tail = inside.partition("...")
    tail = tail.split("...", 1)[1] if "..." in tail else tail
    return numbers(head), numbers(tail)


def oracle(x, y, h, lo):
    N, K = len(x), len(h)
    full = np.convolve(x, h)
    yhat = np.array([full[n - lo] if 0 <= n - lo < len(full) else 0.0 for n in range(N)])
    r = yhat - y
    dh = np.array([sum(r[n] * x[n - m] for n in range(N) if 0 <= n - m < N) for m in range(lo, lo + K)])
    dx = np.array([sum(h[m - lo] * r[k + m] for m in range(lo, lo + K) if 0 <= k + m < N) for k in range(N)])
    return yhat, r, 0.5 * r @ r, dh, dx


def test_the_issue_example_every_step_with_their_numbers(run_cli):
    p = run_cli("explain", "--x", "1,2,3,4,5", "--y", "0,1,0,-1,2", "--h", "1,2,3", "--lo", "-1")
    assert p.returncode == 0, p.stderr
    t = p.stdout
    x, y, h = np.arange(1.0, 6.0), np.array([0.0, 1, 0, -1, 2]), np.array([1.0, 2, 3])
    yhat, r, L, dh, dx = oracle(x, y, h, -1)
    assert after(t, "yhat = h * x")[0] == yhat.tolist()
    assert after(t, "r = yhat - y")[0] == r.tolist()
    assert f"= {L:g}\n" in t.split("L = 1/2 sum_n")[1].split("\n2.")[0] + "\n"
    assert after(t, "Jacobian product r^T J_h")[0] == dh.tolist()
    assert after(t, "(xflip * r)[m + N - 1]")[0] == dh.tolist()
    assert after(t, "grad_input")[0] == dx.tolist()
    assert after(t, "r^T J_x")[0] == dx.tolist()
    # The chain rule for tap m = 1: its terms r[n] x[n-1] and their sum.
    chain = t.split("dL/dh[1] = sum_n dL/dyhat[n]")[1].split("\n3.")[0]
    assert "(4)(0) + (9)(1) + (16)(2) + (23)(3) + (20)(4)" in chain and f"= {dh[2]:g}" in chain
    # The Jacobian J_h[n][m] = x[n-m], row by row.
    rows = re.findall(r"n=(\d) \[([^\]]*)\]", t.split("J_h[n][m] = x[n-m]")[1].split("dL/dh = r^T J_h")[0])
    Jh = np.array([[x[n - m] if 0 <= n - m < 5 else 0 for m in (-1, 0, 1)] for n in range(5)])
    assert [numbers(row) for _, row in rows] == Jh.tolist()


def test_flipped_input_is_defined_as_in_the_docs(run_cli):
    docs = (ROOT / "docs" / "derivation.md").read_text()
    assert "xflip[s] = x[N-1-s]" in docs and "(xflip * r)[m + N - 1]" in docs
    p = run_cli("explain", "--x", "1,2,3,4,5", "--y", "0,1,0,-1,2", "--h", "1,2,3", "--lo", "-1")
    t = p.stdout
    assert "xflip[s] = x[N-1-s] (s = 0..4): [5, 4, 3, 2, 1]" in t
    assert "(xflip * r)[m + N - 1]" in t
    # One entry written out: (xflip * r)[m + N - 1] for m = 1 is sum_s xflip[s] r[5 - s] = dh[1].
    x, r = np.arange(1.0, 6.0), np.array([4.0, 9, 16, 23, 20])
    conv = np.convolve(x[::-1], r)
    assert f"(xflip * r)[5] = " in t and f"= {conv[5]:g}" in t
    assert conv[5] == 190  # = dL/dh[1], as the chain rule gave


def test_files_give_the_same_derivation_as_lists(run_cli, tmp_path):
    (tmp_path / "x.csv").write_text("1\n2\n3\n4\n5\n")
    np.save(tmp_path / "y.npy", np.array([0.0, 1, 0, -1, 2]))
    (tmp_path / "h.txt").write_text("1 2 3\n")
    a = run_cli("explain", "--x", "1,2,3,4,5", "--y", "0 1 0 -1 2", "--h", "1,2,3", "--lo", "-1")
    b = run_cli("explain", "--x", tmp_path / "x.csv", "--y", tmp_path / "y.npy", "--h", tmp_path / "h.txt",
                "--lo", "-1")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout


def test_real_numbers_and_a_causal_range_against_numpy(run_cli):
    rng = np.random.default_rng(4)
    x, y, h = rng.standard_normal(9), rng.standard_normal(9), rng.standard_normal(4)
    lst = lambda v: ",".join(repr(float(a)) for a in v)
    p = run_cli("explain", f"--x={lst(x)}", f"--y={lst(y)}", f"--h={lst(h)}", "--lo", 0)
    assert p.returncode == 0, p.stderr
    yhat, r, L, dh, dx = oracle(x, y, h, 0)
    assert close(after(p.stdout, "yhat = h * x")[0], yhat)
    assert close(after(p.stdout, "r = yhat - y")[0], r)
    assert close(after(p.stdout, "Jacobian product r^T J_h")[0], dh)
    assert close(after(p.stdout, "grad_input")[0], dx)


def test_a_long_case_is_shown_in_part_not_refused(run_cli, tmp_path):
    rng = np.random.default_rng(6)
    N = 500
    x, y = rng.standard_normal(N), rng.standard_normal(N)
    np.savetxt(tmp_path / "x.txt", x)
    np.savetxt(tmp_path / "y.txt", y)
    h = np.array([0.5, -1.0, 0.25, 2.0, 1.0])
    p = run_cli("explain", "--x", tmp_path / "x.txt", "--y", tmp_path / "y.txt", "--h", "0.5,-1,0.25,2,1")
    assert p.returncode == 0, p.stderr
    t = p.stdout
    assert f"N = {N} samples, K = 5 taps m = -2..2" in t
    assert f"shape {N} x 5" in t and f"shape {N} x {N}" in t
    assert f"(shown: the first 8 of {N} rows and 5 of 5 columns)" in t
    assert f"(shown: the first 8 of {N} rows and 12 of {N} columns)" in t
    assert f"({N - 12} more terms)" in t and f"({N} values)" in t
    yhat, r, L, dh, dx = oracle(x, y, h, -2)
    assert close(after(t, "Jacobian product r^T J_h")[0], dh)  # K = 5 values: all shown
    head, tail = after(t, "grad_input")
    assert close(head, dx[:8]) and close(tail, dx[-8:])
    head, tail = after(t, "r = yhat - y")
    assert close(head, r[:8]) and close(tail, r[-8:])


@pytest.mark.parametrize("args, needle", [
    (["--x", "1,2,3"], "give --x and --y together"),
    (["--x", "1,2,3", "--y", "1,2"], "--y has 2 values but --x has 3"),
    (["--x", "1,2,x3", "--y", "1,2,3"], "no such file"),
    (["--x", "1,,3", "--y", "1,2,3"], "an empty entry"),
    (["--x", "1,2,3", "--y", "1,2,3", "--h", "1,2"], "even number"),
    (["--x", "1,2,3", "--y", "1,2,3", "--h", "1e999"], "not a finite number"),
    (["--lo", "0"], "--lo goes with your numbers"),
])
def test_bad_numbers_get_one_clear_error(run_cli, args, needle):
    p = run_cli("explain", *args)
    assert p.returncode in (1, 2) and needle in p.stderr, p.stderr
    assert p.stdout == ""


def test_your_numbers_take_any_half_width_the_random_case_stays_small(run_cli):
    """--half-width with your own x and y (h = 0, the start of learning) is not held to the
    random case's small limits; the random case still is."""
    x = ",".join(str(v) for v in range(1, 17))
    p = run_cli("explain", "--x", x, "--y", x, "--half-width", 6)
    assert p.returncode == 0, p.stderr
    assert "N = 16 samples, K = 13 taps m = -6..6." in p.stdout
    p = run_cli("explain", "--half-width", 6)
    assert p.returncode == 2 and "--half-width: 6 is out of range [0, 5]" in p.stderr
