"""convgrad.fit against numpy.linalg.lstsq on the explicit design matrix.

The design matrix of one pair is built here independently with NumPy indexing,
X[n, j] = x[n - (lo + j)] (zero outside the signal); ridge enters lstsq as extra rows
sqrt(lambda) I. The exact solver's error is bounded by the conditioning of the normal
equations: |h - h*| <= c eps_64 cond(G + lambda I) |h*| with c = 8 K (the Cholesky and
Gram accumulation constants, generous), plus the final rounding to the data's dtype.
"""

import json

import numpy as np
import pytest

import convgrad

EPS64 = np.finfo(np.float64).eps


def design(x, lo, K):
    N = len(x)
    idx = np.arange(N)[:, None] - (lo + np.arange(K))[None, :]
    ok = (idx >= 0) & (idx < N)
    X = np.zeros((N, K))
    X[ok] = np.asarray(x, np.float64)[idx[ok]]
    return X


def lstsq(pairs, lo, K, ridge=0.0):
    X = np.vstack([design(x, lo, K) for x, _ in pairs])
    Y = np.concatenate([np.asarray(y, np.float64) for _, y in pairs])
    if ridge > 0:
        X = np.vstack([X, np.sqrt(ridge) * np.eye(K)])
        Y = np.concatenate([Y, np.zeros(K)])
    return np.linalg.lstsq(X, Y, rcond=None)[0]


def exact_tolerance(res, h_star, dtype):
    K = len(h_star)
    return (8 * K * EPS64 * res.condition + np.finfo(dtype).eps) * np.linalg.norm(h_star)


def test_known_answers():
    x, y = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([0.0, 1.0, 0.0, -1.0, 2.0])
    res = convgrad.fit([(x, y)], kernel_size=3)
    np.testing.assert_allclose(res.h, [-0.5, 1.6, -1.5], rtol=0, atol=exact_tolerance(res, np.array([-0.5, 1.6, -1.5]), np.float64))
    res = convgrad.fit([(x, y)], lo=-1, hi=1, ridge=1.0)
    want = np.array([-126, 209, -86]) / 403
    np.testing.assert_allclose(res.h, want, rtol=0, atol=exact_tolerance(res, want, np.float64))


# (pair lengths, K, lo, ridge): one and several pairs of different lengths, K > N,
# causal and off-centre taps, with and without ridge.
CASES = [
    ([50], 5, None, 0.0), ([40, 70, 13], 7, None, 0.0), ([30], 4, 0, 0.0), ([25, 60], 9, -2, 0.5),
    ([6], 13, None, 2.0), ([200], 31, None, 0.0), ([3, 4], 5, None, 1.0), ([64], 8, 3, 0.0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("lengths,K,lo,ridge", CASES)
def test_exact_against_lstsq(lengths, K, lo, ridge, dtype):
    rng = np.random.default_rng([K, len(lengths), int(ridge * 10)])
    pairs = [(rng.standard_normal(N).astype(dtype), rng.standard_normal(N).astype(dtype)) for N in lengths]
    m = -((K - 1) // 2) if lo is None else lo
    res = convgrad.fit(pairs, kernel_size=K, lo=lo, ridge=ridge, solver="exact")
    assert res.h.dtype == dtype and res.h.shape == (K,) and (res.lo, res.hi) == (m, m + K - 1)
    h_star = lstsq(pairs, m, K, ridge)
    err = np.linalg.norm(res.h.astype(np.float64) - h_star)
    assert err <= exact_tolerance(res, h_star, dtype), f"{err:.3e}"
    # The reported loss is F(h) over all pairs, and its gradient norm ~ 0 at the optimum.
    F = sum(convgrad.loss_and_grad(x.astype(np.float64), y.astype(np.float64), res.h.astype(np.float64), lo=m)[0]
            for x, y in pairs) + ridge / 2 * float(np.sum(res.h.astype(np.float64) ** 2))
    assert res.loss == pytest.approx(F, rel=1e-6 if dtype == np.float32 else 1e-12)
    assert len(res.pair_loss) == len(pairs)
    assert res.stop_reason == "solved" and res.condition >= 1
    json.dumps(res.summary)  # JSON-serialisable


@pytest.mark.parametrize("solver", ["gd", "nesterov"])
def test_iterative_solvers_reach_the_exact_answer(solver):
    rng = np.random.default_rng(21)
    pairs = [(rng.standard_normal(N), rng.standard_normal(N)) for N in (80, 120)]
    h_star = lstsq(pairs, -3, 7)
    res = convgrad.fit(pairs, kernel_size=7, solver=solver)
    # The library documents 1e-8 relative on well-conditioned problems in double.
    assert np.linalg.norm(res.h - h_star) <= 1e-8 * np.linalg.norm(h_star)
    hist = res.history
    assert len(hist["loss"]) >= 1 and set(hist) == {"iteration", "loss", "grad_norm", "seconds"}
    if solver == "gd":  # gd never increases the loss (beyond the rounding of one evaluation)
        inc = np.diff(hist["loss"])
        assert np.all(inc <= 64 * EPS64 * hist["loss"][:-1])


def test_adam_gets_close_and_warm_start():
    rng = np.random.default_rng(5)
    pairs = [(rng.standard_normal(200), rng.standard_normal(200))]
    h_star = lstsq(pairs, -2, 5)
    res = convgrad.fit(pairs, kernel_size=5, solver="adam", lr=0.01, max_iter=3000)
    assert np.linalg.norm(res.h - h_star) <= 1e-2 * np.linalg.norm(h_star)
    warm = convgrad.fit(pairs, kernel_size=5, solver="gd", h0=h_star)
    assert warm.iterations <= 2  # starts at the optimum


def test_progress_callback_and_history_flag():
    rng = np.random.default_rng(2)
    pairs = [(rng.standard_normal(100), rng.standard_normal(100))]
    seen = []

    def progress(iteration, loss, grad_norm, seconds):
        seen.append((iteration, loss))
        return iteration < 5

    res = convgrad.fit(pairs, kernel_size=5, solver="gd", progress=progress)
    # Called once per iteration (the library also reports the starting point, iteration 0),
    # and returning False stops the fit there.
    its = [i for i, _ in seen]
    assert its[-5:] == [1, 2, 3, 4, 5] and its[0] in (0, 1) and res.iterations == 5
    res = convgrad.fit(pairs, kernel_size=5, solver="gd", history=False, max_iter=10)
    assert len(res.history["loss"]) == 0

    def boom(*args):
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        convgrad.fit(pairs, kernel_size=5, solver="gd", progress=boom)


def test_hostile_fit_inputs():
    x, y = np.ones(10), np.arange(10.0)
    with pytest.raises(np.linalg.LinAlgError, match="ridge"):
        convgrad.fit([(np.zeros(10), y)], kernel_size=3)
    convgrad.fit([(np.zeros(10), y)], kernel_size=3, ridge=1.0)  # ridge makes it well-posed
    with pytest.raises(TypeError, match=r"pairs\[1\] has dtype float32 but pairs\[0\] has float64"):
        convgrad.fit([(x, y), (x.astype(np.float32), y.astype(np.float32))], kernel_size=3)
    with pytest.raises(TypeError, match=r"pairs\[0\] y has dtype float32 but pairs\[0\] x has float64"):
        convgrad.fit([(x, y.astype(np.float32))], kernel_size=3)
    with pytest.raises(TypeError, match=r"pairs\[0\] x has dtype int64"):
        convgrad.fit([(np.ones(10, int), y)], kernel_size=3)
    with pytest.raises(TypeError, match=r"pairs\[0\] must be an \(x, y\) pair"):
        convgrad.fit([(x, y, y)], kernel_size=3)
    with pytest.raises(TypeError, match=r"pairs must be a sequence"):
        convgrad.fit(3, kernel_size=3)
    with pytest.raises(ValueError, match="pairs is empty"):
        convgrad.fit([], kernel_size=3)
    with pytest.raises(ValueError, match=r"pairs\[0\] x must be a 1-D array"):
        convgrad.fit([(x[None], y)], kernel_size=3)
    with pytest.raises(ValueError, match="non-finite"):
        convgrad.fit([(x, np.full(10, np.nan))], kernel_size=3)
    with pytest.raises(ValueError, match="10 samples but y has 9"):
        convgrad.fit([(x, y[:9])], kernel_size=3)
    with pytest.raises(ValueError, match="K = 4 taps is even"):
        convgrad.fit([(x, y)], kernel_size=4)
    with pytest.raises(ValueError, match="taps are not given"):
        convgrad.fit([(x, y)])
    with pytest.raises(ValueError, match="not kernel_size and hi"):
        convgrad.fit([(x, y)], kernel_size=3, hi=1)
    with pytest.raises(ValueError, match=r"hi = -2 is below lo = 0"):
        convgrad.fit([(x, y)], lo=0, hi=-2)
    with pytest.raises(ValueError, match="solver: 'sgd'"):
        convgrad.fit([(x, y)], kernel_size=3, solver="sgd")
    with pytest.raises(ValueError, match="ridge"):
        convgrad.fit([(x, y)], kernel_size=3, ridge=-1.0)
    with pytest.raises(TypeError, match="ridge must be a real number"):
        convgrad.fit([(x, y)], kernel_size=3, ridge="1")
    with pytest.raises(ValueError, match="initial h has 2 taps, expected 3"):
        convgrad.fit([(x, y)], kernel_size=3, solver="gd", h0=np.ones(2))
    with pytest.raises(TypeError, match="h0 has dtype float32"):
        convgrad.fit([(x, y)], kernel_size=3, solver="gd", h0=np.ones(3, np.float32))
    with pytest.raises(TypeError, match="progress must be callable"):
        convgrad.fit([(x, y)], kernel_size=3, progress=3)
    with pytest.raises(ValueError, match="batch"):
        convgrad.fit([(x, y)], kernel_size=3, solver="gd", batch=2)
