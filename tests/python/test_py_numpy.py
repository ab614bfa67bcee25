"""convgrad's NumPy functions against independent oracles: PyTorch autograd and SciPy.

Every oracle runs in float64 on the same input values (a float32 input widens exactly), so
the comparison measures convgrad's own rounding. The tolerance is the library's documented
agreement bound (include/convgrad/check.hpp):

    tol = eps_T * (terms + 8 ceil(log2 length)) * ||a||_2 ||b||_2

for outputs that are sums of `terms` products a_i b_i; both the method and the float64
oracle stay inside it. Each comparison also holds the error to the project's bar, 1e-12 in
float64 and 1e-5 in float32 relative to the same scale ||a|| ||b|| (for the sizes here the
bound exceeds the bar in float32 when terms + 8 log2(length) > 84; the bar, tighter
there, must hold too).
"""

import json
import math
import os

import numpy as np
import pytest
import scipy.signal
import torch

import convgrad
from convgrad import _core

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "known_answers.json")
DTYPES = [np.float32, np.float64]
METHODS = ["auto", "reference", "direct", "fft", "jacobian"]
BAR = {np.float32: 1e-5, np.float64: 1e-12}

# (N, K, lo): centred odd K (lo None), K > N, N = 1, even K with lo, causal, taps reaching
# entirely outside the signal, primes.
SHAPES = [
    (1, 1, None), (1, 3, None), (1, 4, 0), (2, 7, None), (5, 3, None), (6, 13, None),
    (7, 2, -1), (13, 5, 0), (17, 31, None), (31, 6, -9), (64, 9, None), (97, 11, 40),
    (128, 1, 3), (200, 65, None), (257, 4, -300),
]


def name_of(dtype):
    return np.dtype(dtype).name


def tap_lo(K, lo):
    return -((K - 1) // 2) if lo is None else lo


def draw(rng, dtype, N, K):
    """Gaussian x, y, h in `dtype`."""
    return (rng.standard_normal(N).astype(dtype), rng.standard_normal(N).astype(dtype),
            rng.standard_normal(K).astype(dtype))


def tolerance(dtype, terms, length, a, b):
    """The documented bound, or the bar (relative to ||a|| ||b||) where that is tighter."""
    norm_a = float(np.linalg.norm(np.asarray(a, np.float64)))
    norm_b = float(np.linalg.norm(np.asarray(b, np.float64)))
    tol = _core.agreement_tolerance(name_of(dtype), terms, length, norm_a, norm_b)
    return min(tol, BAR[dtype] * norm_a * norm_b)


def assert_close(got, want, tol, what):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, what
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    assert err <= tol, f"{what}: max |diff| {err:.3e} > tol {tol:.3e}"


# ---- oracles ----------------------------------------------------------------------------

def torch_oracle(x, y, h, lo):
    """yhat, loss, dh, dx in float64 by PyTorch: conv1d on a zero-padded x, autograd back.

    conv1d is a cross-correlation: out[p] = sum_j w[j] xp[p + j]. With w = h flipped
    (w[j] = h[K-1-j], tap m = hi - j) and x placed at offset P in xp, out[p] picks
    x[p + j - P]; matching x[n - m] = x[n - hi + j] takes p = n - hi + P.
    """
    N, K = len(x), len(h)
    hi = lo + K - 1
    P = N + K + abs(lo) + abs(hi)
    xt = torch.tensor(np.asarray(x, np.float64), requires_grad=True)
    ht = torch.tensor(np.asarray(h, np.float64), requires_grad=True)
    yt = torch.tensor(np.asarray(y, np.float64))
    xp = torch.nn.functional.pad(xt, (P, P))
    full = torch.nn.functional.conv1d(xp[None, None], ht.flip(0)[None, None])[0, 0]
    yhat = full[P - hi: P - hi + N]
    loss = 0.5 * ((yhat - yt) ** 2).sum()
    loss.backward()
    return yhat.detach().numpy(), loss.item(), ht.grad.numpy(), xt.grad.numpy()


def take(a, idx):
    """a[idx] where 0 <= idx < len(a), else 0."""
    idx = np.asarray(idx)
    ok = (idx >= 0) & (idx < len(a))
    out = np.zeros(idx.shape)
    out[ok] = a[idx[ok]]
    return out


def scipy_oracle(x, y, h, lo):
    """yhat, dh, dx in float64 through scipy.signal.convolve ('full'), by index shifts:

    c = x conv h:           c[k] = sum_j h[j] x[k-j],        yhat[n] = c[n - lo]
    d = r conv reverse(x):  d[k] = sum_i r[i] x[N-1-k+i],    dh[j]  = d[N-1 + lo + j]
    e = r conv reverse(h):  e[t] = sum_j h[j] r[t-K+1+j],    dx[k]  = e[k + lo + K-1]
    """
    x, y, h = (np.asarray(v, np.float64) for v in (x, y, h))
    N, K = len(x), len(h)
    n, j = np.arange(N), np.arange(K)
    yhat = take(scipy.signal.convolve(x, h, method="direct"), n - lo)
    r = yhat - y
    dh = take(scipy.signal.convolve(r, x[::-1], method="direct"), N - 1 + lo + j)
    dx = take(scipy.signal.convolve(r, h[::-1], method="direct"), n + lo + K - 1)
    return yhat, r, dh, dx


# ---- the oracles themselves, on documented known answers -------------------------------

def known_cases():
    with open(DATA) as f:
        return json.load(f)["cases"]


@pytest.mark.parametrize("case", known_cases(), ids=lambda c: c["name"])
def test_oracles_reproduce_known_answers(case):
    lo = case["lo"]
    yhat_t, loss_t, dh_t, dx_t = torch_oracle(case["x"], case["y"], case["h"], lo)
    yhat_s, _, dh_s, dx_s = scipy_oracle(case["x"], case["y"], case["h"], lo)
    for got in (yhat_t, yhat_s):
        np.testing.assert_allclose(got, case["yhat"], rtol=1e-13, atol=0)
    for got in (dh_t, dh_s):
        np.testing.assert_allclose(got, case["dh"], rtol=1e-13, atol=1e-13)
    for got in (dx_t, dx_s):
        np.testing.assert_allclose(got, case["dx"], rtol=1e-13, atol=1e-13)
    assert loss_t == pytest.approx(case["loss"], rel=1e-14)


@pytest.mark.parametrize("dtype", DTYPES, ids=name_of)
@pytest.mark.parametrize("case", known_cases(), ids=lambda c: c["name"])
def test_known_answers(case, dtype):
    x, y, h = (np.array(case[k], dtype) for k in ("x", "y", "h"))
    lo = case["lo"]
    assert len(h) == case["hi"] - lo + 1
    for method in METHODS:
        yhat = convgrad.conv(x, h, lo=lo, method=method)
        loss, dh, dx = convgrad.loss_and_grad(x, y, h, lo=lo, method=method, input_grad=True)
        L = 2 * len(x) + len(h)
        r = np.asarray(case["yhat"]) - np.asarray(case["y"])
        assert_close(yhat, case["yhat"], tolerance(dtype, len(h), L, h, x), f"yhat {method}")
        assert_close(dh, case["dh"], tolerance(dtype, len(x), L, x, r), f"dh {method}")
        assert_close(dx, case["dx"], tolerance(dtype, len(h), L, h, r), f"dx {method}")
        # Each of the N squared residuals is within N eps_T * |r| of the exact one.
        loss_tol = len(x) * np.finfo(dtype).eps * 4 * case["loss"]
        assert abs(loss - case["loss"]) <= loss_tol


# ---- every function against both oracles, seeded random shapes ---------------------------

@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", DTYPES, ids=name_of)
@pytest.mark.parametrize("N,K,lo", SHAPES)
def test_functions_against_oracles(N, K, lo, dtype, method):
    rng = np.random.default_rng([N, K, 0 if lo is None else lo + 1000, DTYPES.index(dtype)])
    x, y, h = draw(rng, dtype, N, K)
    m = tap_lo(K, lo)
    yhat_t, loss_t, dh_t, dx_t = torch_oracle(x, y, h, m)
    yhat_s, r_s, dh_s, dx_s = scipy_oracle(x, y, h, m)
    L = 2 * N + K

    yhat = convgrad.conv(x, h, lo=lo, method=method)
    assert yhat.dtype == dtype and yhat.shape == (N,)
    tol_yhat = tolerance(dtype, K, L, h, x)
    assert_close(yhat, yhat_t, tol_yhat, "conv vs torch")
    assert_close(yhat, yhat_s, tol_yhat, "conv vs scipy")

    loss, dh, dx = convgrad.loss_and_grad(x, y, h, lo=lo, method=method, input_grad=True)
    loss2, dh2 = convgrad.loss_and_grad(x, y, h, lo=lo, method=method)
    assert isinstance(loss, float) and dh.dtype == dtype and dx.dtype == dtype
    assert loss2 == loss and np.array_equal(dh2, dh)
    tol_dh = tolerance(dtype, N, L, x, r_s)
    tol_dx = tolerance(dtype, K, L, h, r_s)
    assert_close(dh, dh_t, tol_dh, "loss_and_grad dh vs torch")
    assert_close(dh, dh_s, tol_dh, "loss_and_grad dh vs scipy")
    assert_close(dx, dx_t, tol_dx, "loss_and_grad dx vs torch")
    assert_close(dx, dx_s, tol_dx, "loss_and_grad dx vs scipy")
    # |L - L*| <= ||r*|| ||r - r*|| + ||r - r*||^2 / 2, with ||r - r*|| <= sqrt(N) (tol_yhat
    # + eps_T |r|max) from the conv bound plus the rounding of the subtraction.
    dr = math.sqrt(N) * (tol_yhat + np.finfo(dtype).eps * float(np.max(np.abs(r_s))))
    assert abs(loss - loss_t) <= float(np.linalg.norm(r_s)) * dr + dr * dr / 2 + 4 * N * np.finfo(np.float64).eps * loss_t

    # The gradient primitives on any upstream vector: here the oracle's own residual.
    r = r_s.astype(dtype)
    tol_dh_r = tolerance(dtype, N, L, x, r)
    tol_dx_r = tolerance(dtype, K, L, h, r)
    dh_ref = take(scipy.signal.convolve(r.astype(np.float64), x.astype(np.float64)[::-1]), N - 1 + m + np.arange(K))
    dx_ref = take(scipy.signal.convolve(r.astype(np.float64), h.astype(np.float64)[::-1]), np.arange(N) + m + K - 1)
    got_dh = convgrad.grad_kernel(x, r, K, lo=lo, method=method)
    got_dx = convgrad.grad_input(h, r, lo=lo, method=method)
    assert got_dh.dtype == dtype and got_dx.dtype == dtype
    assert_close(got_dh, dh_ref, tol_dh_r, "grad_kernel vs scipy")
    assert_close(got_dx, dx_ref, tol_dx_r, "grad_input vs scipy")


@pytest.mark.parametrize("dtype", DTYPES, ids=name_of)
@pytest.mark.parametrize("N,K,lo", [(1, 1, None), (5, 3, None), (4, 9, None), (12, 4, -1), (30, 7, 2)])
def test_jacobians_against_torch(N, K, lo, dtype):
    rng = np.random.default_rng([N, K, 7])
    x, y, h = draw(rng, dtype, N, K)
    m = tap_lo(K, lo)
    dl_dyhat, dyhat_dh = convgrad.jacobians(x, y, h, lo=lo)
    assert dl_dyhat.shape == (1, N) and dyhat_dh.shape == (N, K)
    assert dl_dyhat.dtype == dtype and dyhat_dh.dtype == dtype

    # dyhat/dh by torch.autograd.functional.jacobian of the oracle's forward map.
    def forward(ht):
        P = N + K + abs(m) + abs(m + K - 1)
        xp = torch.nn.functional.pad(torch.tensor(x.astype(np.float64)), (P, P))
        full = torch.nn.functional.conv1d(xp[None, None], ht.flip(0)[None, None])[0, 0]
        return full[P - (m + K - 1): P - (m + K - 1) + N]

    J = torch.autograd.functional.jacobian(forward, torch.tensor(h.astype(np.float64))).numpy()
    assert np.array_equal(dyhat_dh.astype(np.float64), J)  # entries are copies of x: exact
    yhat_t, _, dh_t, _ = torch_oracle(x, y, h, m)
    r_t = yhat_t - y.astype(np.float64)
    L = 2 * N + K
    assert_close(dl_dyhat[0], r_t, tolerance(dtype, K, L, h, x), "dL/dyhat = r^T")
    # The matrix product of the two Jacobians is the gradient.
    dh = (dl_dyhat.astype(np.float64) @ dyhat_dh.astype(np.float64))[0]
    assert_close(dh, dh_t, tolerance(dtype, N, L, x, r_t), "r^T J_h vs torch dh")


@pytest.mark.parametrize("dtype", DTYPES, ids=name_of)
def test_check_report(dtype):
    rng = np.random.default_rng(11)
    x, y, h = draw(rng, dtype, 40, 7)
    rep = convgrad.check(x, y, h)
    assert rep["ok"] is True
    assert (rep["n"], rep["k"], rep["lo"], rep["hi"], rep["dtype"]) == (40, 7, -3, 3, name_of(dtype))
    _, loss_t, _, _ = torch_oracle(x, y, h, -3)
    assert rep["loss"] == pytest.approx(loss_t, rel=40 * 8 * np.finfo(dtype).eps)
    methods = {(row["method"], row["quantity"]) for row in rep["rows"]}
    for method in ("direct", "fft", "jacobian"):
        assert {(method, "yhat"), (method, "dh"), (method, "dx")} <= methods
    assert {("finite-difference", "dh"), ("finite-difference", "dx")} <= methods
    for row in rep["rows"]:
        assert row["ok"] and not row["skipped"]
        assert 0 <= row["max_abs_diff"] <= row["tolerance"]

    # A zero budget skips the Jacobian method; finite differences can be left out.
    rep = convgrad.check(x, y, h, jacobian_budget=0, finite_differences=False)
    skipped = {(row["method"], row["quantity"]) for row in rep["rows"] if row["skipped"]}
    assert ("jacobian", "dh") in skipped and ("jacobian", "dx") in skipped
    assert ("finite-difference", "dh") in skipped and ("finite-difference", "dx") in skipped
    assert rep["ok"] is True


# ---- array layouts: any strides, copies only when needed, nothing cast -------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=name_of)
def test_non_contiguous_and_foreign_layouts_give_identical_results(dtype):
    rng = np.random.default_rng(5)
    x, y, h = draw(rng, dtype, 50, 5)
    want = convgrad.loss_and_grad(x, y, h, input_grad=True)
    # Strided views: every other sample of a longer buffer, a reversed view, a column.
    xs = np.repeat(x, 2)[::2]
    ys = np.ascontiguousarray(y[::-1])[::-1]
    hs = np.stack([h, -h], axis=1)[:, 0]
    assert not xs.flags.c_contiguous and not ys.flags.c_contiguous and not hs.flags.c_contiguous
    got = convgrad.loss_and_grad(xs, ys, hs, input_grad=True)
    assert got[0] == want[0]
    for g, w in zip(got[1:], want[1:]):
        assert np.array_equal(g, w)
    # Byte-swapped and read-only arrays, and Python lists (floats make float64).
    swapped = x.astype(x.dtype.newbyteorder(">"))
    assert np.array_equal(convgrad.conv(swapped, h), convgrad.conv(x, h))
    frozen = x.copy()
    frozen.flags.writeable = False
    assert np.array_equal(convgrad.conv(frozen, h), convgrad.conv(x, h))
    if dtype == np.float64:
        assert np.array_equal(convgrad.conv(list(x), list(h)), convgrad.conv(x, h))


def test_contiguous_inputs_are_not_copied():
    from convgrad._checks import as_signal
    x = np.arange(8.0)
    assert as_signal("x", x) is x
    x32 = np.arange(8, dtype=np.float32)
    assert as_signal("x", x32) is x32
    view = x[::2]
    copied = as_signal("x", view)
    assert copied.flags.c_contiguous and np.array_equal(copied, view)
    assert not np.shares_memory(copied, x)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(3)
    x, y, h = draw(rng, np.float64, 20, 3)
    before = [a.copy() for a in (x, y, h)]
    convgrad.loss_and_grad(x, y, h, input_grad=True)
    convgrad.jacobians(x, y, h)
    for a, b in zip((x, y, h), before):
        assert np.array_equal(a, b)


def test_default_lo_is_centred():
    rng = np.random.default_rng(9)
    x, _, h = draw(rng, np.float64, 30, 7)
    assert np.array_equal(convgrad.conv(x, h), convgrad.conv(x, h, lo=-3))
    assert np.array_equal(convgrad.conv(x, h), convgrad.conv(x, h, lo=np.int64(-3)))
    # Odd K, centred: scipy's 'same' mode, the equivalence DESIGN.md pins down.
    assert_close(convgrad.conv(x, h), scipy.signal.convolve(x, h, mode="same", method="direct"),
                 tolerance(np.float64, 7, 67, h, x), "conv vs scipy same")
