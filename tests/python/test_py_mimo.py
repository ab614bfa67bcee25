"""Multi-input, multi-output system identification from Python: convgrad.fit(x, y) with x of
shape (C_in, N) and y of shape (C_out, N), against numpy.linalg.lstsq on the explicit design
matrix [X_0 ... X_{C_in-1}] and against the literal definition of its normal equations.

A backward-stable solve with condition number c from sums of N products is accurate to about
c eps (N + 2 C_in K) relative (the tolerance of test_fit_cli.py, with C_in K unknowns). The
iterative solvers stop at ||dF/dH|| <= grad_tol ||X^T Y||; F is quadratic with Hessian
X^T X + ridge I on every output, so they are within ||dF/dH|| / lambda_min of the exact answer.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import convgrad
from test_fit_cli import design  # X[n, j] = x[n - (lo + j)], the explicit design matrix

EPS = np.finfo(np.float64).eps


def mimo_design(x, lo, hi):
    """[X_0 ... X_{C_in-1}]: N x (C_in K)."""
    return np.hstack([design(xc, lo, hi) for xc in x])


def lstsq_answer(x, y, lo, hi, ridge):
    """(h of shape (C_out, C_in, K), cond(X^T X + ridge I)) by lstsq of [X; sqrt(ridge) I] h ~ [y; 0]."""
    X = mimo_design(x, lo, hi)
    n = X.shape[1]
    A = np.vstack([X, np.sqrt(ridge) * np.eye(n)])
    B = np.vstack([y.T, np.zeros((n, y.shape[0]))])
    H, *_ = np.linalg.lstsq(A, B, rcond=None)
    return H.T.reshape(y.shape[0], x.shape[0], hi - lo + 1), np.linalg.cond(X.T @ X + ridge * np.eye(n))


def tolerance(cond, N, unknowns):
    return 4 * cond * EPS * (N + 2 * unknowns)


SHAPES = [  # (C_in, C_out, N, lo, hi, ridge)
    (2, 1, 80, -1, 1, 0.0),
    (3, 2, 200, 0, 7, 0.0),
    (1, 3, 50, -6, -3, 0.0),
    (4, 2, 20, -6, 6, 0.5),
    (2, 2, 300, -40, 29, 0.0),
    (3, 4, 120, 2, 5, 3.0),
]


@pytest.mark.parametrize("C_in, C_out, N, lo, hi, ridge", SHAPES)
def test_fit_matches_lstsq_on_the_explicit_design_matrix(C_in, C_out, N, lo, hi, ridge):
    rng = np.random.default_rng(C_in * 100 + C_out * 10 + N)
    x, y = rng.standard_normal((C_in, N)), rng.standard_normal((C_out, N))
    res = convgrad.fit(x, y, lo=lo, hi=hi, ridge=ridge)
    want, cond = lstsq_answer(x, y, lo, hi, ridge)
    assert res.h.shape == (C_out, C_in, hi - lo + 1)
    assert res.h.dtype == np.float64
    tol = tolerance(cond, N, C_in * (hi - lo + 1))
    assert np.linalg.norm(res.h - want) <= tol * np.linalg.norm(want)
    assert res.condition == pytest.approx(cond, rel=1e-6)
    # The losses are those of the answer: 1/2 ||X h_o - y_o||^2 per output, plus the ridge term.
    X = mimo_design(x, lo, hi)
    r = X @ want.reshape(C_out, -1).T - y.T
    out_loss = 0.5 * np.sum(r * r, axis=0)
    np.testing.assert_allclose(res.output_loss, out_loss, rtol=0, atol=tol * 0.5 * np.sum(y * y))
    assert res.loss == pytest.approx(out_loss.sum() + 0.5 * ridge * np.sum(want * want),
                                     abs=tol * 0.5 * np.sum(y * y))


def test_normal_equations_hold_at_the_answer():
    """The literal reference: sum_n x_c[n-m_i] r_o[n] + ridge h_{o,c}[i] = 0 for every o, c, i,
    with r_o = sum_c h_{o,c} * x_c - y_o computed by convgrad.conv (one channel at a time)."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((3, 150)), rng.standard_normal((2, 150))
    lo, ridge = -2, 0.25
    res = convgrad.fit(x, y, kernel_size=5, lo=lo, ridge=ridge)
    for o in range(2):
        r = sum(convgrad.conv(x[c], res.h[o, c], lo) for c in range(3)) - y[o]
        for c in range(3):
            dh = np.array([sum(x[c][n - m] * r[n] for n in range(150) if 0 <= n - m < 150)
                           for m in range(lo, lo + 5)])
            scale = np.linalg.norm(x[c]) * np.linalg.norm(r) + ridge * np.linalg.norm(res.h[o, c])
            assert np.linalg.norm(dh + ridge * res.h[o, c]) <= tolerance(res.condition, 150, 15) * scale


def test_known_filters_are_recovered_from_noiseless_data():
    rng = np.random.default_rng(9)
    C_in, C_out, N, lo, K = 3, 2, 3000, -2, 12
    x = rng.standard_normal((C_in, N))
    h_true = rng.standard_normal((C_out, C_in, K))
    y = np.array([sum(convgrad.conv(x[c], h_true[o, c], lo) for c in range(C_in)) for o in range(C_out)])
    res = convgrad.fit(x, y, kernel_size=K, lo=lo)
    assert np.linalg.norm(res.h - h_true) <= tolerance(res.condition, N, C_in * K) * np.linalg.norm(h_true)
    assert res.advice == ""
    summary = res.summary
    assert (summary["C_out"], summary["C_in"], summary["K"]) == (C_out, C_in, K)
    assert summary["condition"] == res.condition


def test_float32_data_give_float32_taps_solved_in_double():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, 400)).astype(np.float32), rng.standard_normal((3, 400)).astype(np.float32)
    res = convgrad.fit(x, y, kernel_size=5)
    want = convgrad.fit(x.astype(np.float64), y.astype(np.float64), kernel_size=5)
    assert res.h.dtype == np.float32
    np.testing.assert_array_equal(res.h, want.h.astype(np.float32))


def test_a_1d_target_is_one_output_and_a_1d_input_one_input():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((2, 100)), rng.standard_normal(100)
    res = convgrad.fit(x, y, kernel_size=3)
    assert res.h.shape == (1, 2, 3)
    np.testing.assert_array_equal(res.h, convgrad.fit(x, y[None, :], kernel_size=3).h)
    # One input, one output given as 2-D: the single-channel fit's answer.
    one = convgrad.fit(x[:1], y[None, :], kernel_size=3)
    single = convgrad.fit(x[0], y, kernel_size=3)
    np.testing.assert_allclose(one.h[0, 0], single.h, rtol=0,
                               atol=tolerance(one.condition, 100, 3) * np.linalg.norm(single.h))


def test_correlated_inputs_give_a_large_condition_number_and_ridge_advice():
    rng = np.random.default_rng(4)
    x0 = rng.standard_normal(500)
    x = np.stack([x0, x0 + 1e-5 * rng.standard_normal(500)])
    y = rng.standard_normal((1, 500))
    res = convgrad.fit(x, y, kernel_size=3)
    assert res.condition > 1e8
    assert "correlated" in res.advice and "ridge" in res.advice
    assert res.summary["advice"] == res.advice
    # Equal inputs: singular, refused with the hint; a ridge makes it well posed.
    with pytest.raises(np.linalg.LinAlgError, match="ridge"):
        convgrad.fit(np.stack([x0, x0]), y, kernel_size=3)
    steady = convgrad.fit(np.stack([x0, x0]), y, kernel_size=3, ridge=res.lambda_max * 1e-6)
    assert steady.condition < 1e7


@pytest.mark.parametrize("x, y, kwargs, error, match", [
    (np.zeros((2, 10)), np.zeros((1, 9)), {}, ValueError, "same length"),
    (np.zeros((2, 3, 10)), np.zeros((1, 10)), {}, ValueError, "channels, N"),
    (np.zeros((2, 10), np.float32), np.zeros((1, 10)), {}, TypeError, "float32"),
    (np.zeros((2, 10), np.int64), np.zeros((1, 10)), {}, TypeError, "dtype"),
    (np.ones((2, 10)), np.ones((1, 10)), {"solver": "gd", "batch": 1}, ValueError, "batch"),
    (np.ones((2, 10)), np.ones((1, 10)), {"solver": "gd", "h0": np.zeros(3)}, ValueError, "C_out, C_in, K"),
    (np.ones((2, 10)), np.ones((1, 10)), {"solver": "adam", "lr": 0.0}, ValueError, "lr"),
    (np.ones((2, 10)), np.ones((1, 10)), {"ridge": -1.0}, ValueError, "ridge"),
    (np.full((2, 10), np.nan), np.ones((1, 10)), {}, ValueError, "NaN|finite"),
])
def test_bad_inputs_are_refused_with_one_clear_error(x, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        convgrad.fit(x, y, kernel_size=3, **kwargs)


def noise_free_system(seed, C_in, C_out, N, lo, K):
    """y_o = sum_c h_{o,c} * x_c for white independent inputs (well conditioned) and known h."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((C_in, N))
    h_true = rng.standard_normal((C_out, C_in, K))
    y = np.array([sum(convgrad.conv(x[c], h_true[o, c], lo) for c in range(C_in)) for o in range(C_out)])
    return x, y


@pytest.mark.parametrize("solver, ridge", [("gd", 0.0), ("nesterov", 0.0), ("gd", 20.0), ("adam", 0.0)])
def test_iterative_solvers_reach_the_exact_answer(solver, ridge):
    C_in, C_out, N, lo, K = 3, 2, 1500, -2, 6
    x, y = noise_free_system(11, C_in, C_out, N, lo, K)
    exact = convgrad.fit(x, y, kernel_size=K, lo=lo, ridge=ridge)
    res = convgrad.fit(x, y, kernel_size=K, lo=lo, ridge=ridge, solver=solver,
                       **({"lr": 0.05} if solver == "adam" else {}))
    assert res.solver == solver and res.stop_reason == "gradient tolerance"
    assert res.h.shape == (C_out, C_in, K) and res.h.dtype == np.float64
    assert res.iterations == len(res.history["loss"]) - 1 > 0
    assert res.history["loss"][0] == pytest.approx(0.5 * np.sum(y * y), rel=1e-12)
    assert res.grad_norm <= 1e-10 * res.history["grad_norm"][0]  # the default grad_tol in float64
    assert res.condition is None and res.lambda_min is None
    tol = res.grad_norm / exact.lambda_min / np.linalg.norm(exact.h) + tolerance(exact.condition, N, C_in * K)
    assert np.linalg.norm(res.h - exact.h) <= tol * np.linalg.norm(exact.h)
    summary = res.summary
    assert (summary["iterations"], summary["stop_reason"]) == (res.iterations, res.stop_reason)


def test_warm_start_progress_and_stopping_options():
    x, y = noise_free_system(12, 2, 2, 400, -1, 3)
    exact = convgrad.fit(x, y, kernel_size=3)
    seen = []
    res = convgrad.fit(x, y, kernel_size=3, solver="gd", max_iter=3,
                       progress=lambda it, loss, g, t: seen.append(it) is None)
    assert res.stop_reason == "max iterations" and res.iterations == 3 and seen == [0, 1, 2, 3]
    at = convgrad.fit(x, y, kernel_size=3, solver="nesterov", h0=exact.h, history=False)
    assert at.iterations == 0 and at.history["loss"].size == 0


_THREADED = """
import sys, numpy as np, convgrad
rng = np.random.default_rng(13)
x, y = rng.standard_normal((3, 40000)), rng.standard_normal((2, 40000))
dtype = np.dtype(sys.argv[2])
for method in ("direct", "fft"):
    res = convgrad.fit(x.astype(dtype), y.astype(dtype), kernel_size=33, solver=sys.argv[1],
                       max_iter=10, method=method, ridge=0.1)
    print(res.h.tobytes().hex(), repr(res.loss))
"""


@pytest.mark.parametrize("solver, dtype", [("gd", "float64"), ("nesterov", "float32"), ("adam", "float64")])
def test_iterates_are_the_same_bits_for_one_thread_or_two(solver, dtype):
    outs = []
    for threads in ("1", "2"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        p = subprocess.run([sys.executable, "-c", _THREADED, solver, dtype], capture_output=True, text=True,
                           env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout)
    assert outs[0] == outs[1]
