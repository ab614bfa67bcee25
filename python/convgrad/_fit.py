"""Learning a filter from recordings: :func:`fit` and its result, :class:`FitResult`."""

import warnings

import numpy as np

from . import _checks, _core
from ._tuning import after_auto

SOLVERS = ("exact", "gd", "nesterov", "adam")


class FitResult:
    """What :func:`fit` found: the filter, how it got there and how good it is.

    Attributes
    ----------
    h : ndarray, shape (K,)
        The learned filter (dtype of the data), ``h[j]`` = tap ``m = lo + j``.
    lo, hi : int
        The tap range.
    solver : str
        "exact", "gd", "nesterov" or "adam".
    iterations : int
        Iterations taken (1 for "exact").
    seconds : float
        Wall time of the fit.
    loss : float
        ``F(h) = sum_p 1/2 ||X_p h - y_p||^2 + ridge/2 ||h||^2`` on all the data.
    grad_norm : float
        ``||dF/dh||`` at `h`.
    pair_loss : ndarray, shape (P,)
        ``1/2 ||X_p h - y_p||^2`` for each pair.
    stop_reason : str
        Why the solver stopped ("solved", "gradient tolerance", "max iterations", ...).
    condition : float or None
        Condition number of ``X^T X + ridge I`` (exact solver only).
    lambda_max : float
        Largest eigenvalue of ``X^T X + ridge I`` (exact, gd, nesterov).
    history : dict of ndarray
        One entry per iteration of the iterative solvers: "iteration", "loss",
        "grad_norm", "seconds" (empty arrays for "exact" or ``history=False``).
    summary : dict
        The scalar facts above plus ``K`` (the number of taps), ridge, step and
        step_halvings, JSON-serialisable. ``"taps"`` is the deprecated name of ``"K"``.
    """

    _SUMMARY = ("solver", "lo", "hi", "iterations", "seconds", "loss", "grad_norm", "stop_reason",
                "ridge", "lambda_max", "step", "step_halvings", "condition", "condition_estimated")

    def __init__(self, raw):
        self.h = raw["h"]
        self.history = dict(raw["history"])
        self.pair_loss = raw["pair_loss"]
        for key in self._SUMMARY:
            setattr(self, key, raw[key])

    @property
    def summary(self):
        out = _checks.KeyedByK({key: getattr(self, key) for key in self._SUMMARY})
        out["K"] = int(self.h.shape[0])
        out["taps"] = out["K"]
        out["pair_loss"] = [float(v) for v in self.pair_loss]
        return out

    def __repr__(self):
        return (f"FitResult(solver={self.solver!r}, lo={self.lo}, hi={self.hi}, "
                f"iterations={self.iterations}, loss={self.loss:.6g}, "
                f"grad_norm={self.grad_norm:.3g}, stop_reason={self.stop_reason!r})")


def _pairs(pairs):
    """[(x_p, y_p)] -> (xs, ys): every array 1-D, one float dtype throughout."""
    if isinstance(pairs, np.ndarray) and pairs.ndim == 1:
        raise TypeError("fit(x) needs the target too: fit(x, y, kernel_size=K) for one recording, "
                        "or fit([(x1, y1), (x2, y2), ...], kernel_size=K) for several")
    try:
        items = list(pairs)
    except TypeError:
        raise TypeError(f"pairs must be a sequence of (x, y) pairs, got {type(pairs).__name__}") from None
    if not items:
        raise ValueError("pairs is empty: fitting needs at least one (x, y) pair")
    xs, ys = [], []
    for p, pair in enumerate(items):
        try:
            x, y = pair
        except (TypeError, ValueError):
            raise TypeError(f"pairs[{p}] must be an (x, y) pair of arrays") from None
        x, y = _checks.signals(**{f"pairs[{p}] x": x, f"pairs[{p}] y": y})
        if xs and x.dtype != xs[0].dtype:
            raise TypeError(f"pairs[{p}] has dtype {x.dtype} but pairs[0] has {xs[0].dtype}; "
                            f"convgrad does not mix float32 and float64 in one call")
        xs.append(x)
        ys.append(y)
    return xs, ys


def _recordings(x, y):
    """(xs, ys) from one recording fit(x, y) or from a list of pairs fit(pairs)."""
    if y is None:
        return _pairs(x)
    x, y = _checks.signals(x=x, y=y)
    return [x], [y]


def _batch(batch):
    """Pairs per step: None (all pairs) or a count the library checks (>= 1, <= P)."""
    if batch is None:
        return None
    batch = _checks.as_int("batch", batch)
    if batch == 0:  # the old spelling of "all pairs"; the library refuses 0
        warnings.warn("batch=0 is deprecated: leave batch unset (None) to take all pairs each step",
                      DeprecationWarning, stacklevel=3)
        return None
    if batch < 0:
        raise ValueError(f"batch = {batch} must be >= 1 (None: all pairs)")
    return batch


def fit(x, y=None, kernel_size=None, *, lo=None, hi=None, solver="exact", ridge=0.0, max_iter=100000,
        grad_tol=None, loss_tol=0.0, time_limit=0.0, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8,
        batch=None, seed=1, method="auto", h0=None, history=True, progress=None, half_width=None,
        taps=None, chunk_rows=None):
    """Learn a filter from recordings: minimise the loss summed over (x, y) pairs.

    ``F(h) = sum_p 1/2 ||h * x_p - y_p||^2 + ridge/2 ||h||^2``, ``dF/dh = sum_p
    grad_kernel(x_p, r_p) + ridge h``. The exact solver solves the normal equations
    ``(X^T X + ridge I) h = X^T y`` with the true Gram matrix of the 'same' model (not a
    Toeplitz approximation); the iterative solvers descend along ``dF/dh``.

    Parameters
    ----------
    x : array_like, shape (N,), or sequence of (x, y)
        One recording's input (with `y`), or a list of recordings ``[(x_1, y_1), ...]``
        (without `y`): each x and y 1-D of one length (pairs may differ in length), every
        array of one dtype, float32 or float64.
    y : array_like, shape (N,), optional
        The target of the one recording `x`.
    kernel_size : int, optional
        Number of taps K, as ``len(h)`` (the command line's ``--kernel-size K``). With `lo`
        unset the filter is centred, ``m = -(K-1)//2 ..``, which needs an odd K.
    lo, hi : int, optional
        The tap range ``m = lo..hi``: give `kernel_size` and optionally `lo`, `half_width`,
        or `lo` and `hi`.
    solver : {"exact", "gd", "nesterov", "adam"}, optional
        "exact" (the default, as in the library and the command): normal equations by
        Cholesky. "gd": steps of ``1/lambda_max`` (power iteration), the loss never
        increases. "nesterov": accelerated with restart. "adam": the usual Adam with `lr`,
        `beta1`, `beta2`, `eps`.
    ridge : float, optional
        Ridge weight ``lambda >= 0``.
    max_iter, grad_tol, loss_tol, time_limit : optional
        Stopping rules of the iterative solvers, whichever comes first: iterations;
        ``||dF/dh|| <= grad_tol ||X^T y||`` (None: 1e-10 in float64, 1e-5 in float32);
        relative loss change (0: off); seconds (0: none).
    lr, beta1, beta2, eps : float, optional
        Adam's parameters.
    batch : int, optional
        Pairs per step, 1..P (mini-batches, shuffled with `seed`); None (the default) takes
        all pairs each step. ``batch=0`` is the deprecated spelling of None.
    seed : int, optional
        Seed of the mini-batch order and of the power iteration.
    method : {"auto", "reference", "direct", "fft", "jacobian"}, optional
        How the convolutions inside the solver are computed.
    h0 : array_like, shape (K,), optional
        Warm start (same dtype as the data); default zeros.
    history : bool, optional
        Record the loss history of the iterative solvers.
    progress : callable, optional
        ``progress(iteration, loss, grad_norm, seconds)`` after every iteration; return
        False to stop.
    half_width : int, optional
        M: the centred taps ``m = -M..M`` (K = 2M + 1; the command line's ``--half-width M``).
    taps : int, optional
        Deprecated name of `kernel_size` (DeprecationWarning); so is passing K as the second
        positional argument after a list of pairs, ``fit(pairs, K)``.
    chunk_rows : int, optional
        Rows per chunk of the fixed chunk plan whose per-chunk sums the solvers add in one
        fixed tree (default: the library's, 2^20). Fits that must agree to the last bit --
        this one and a :func:`convgrad.dask.fit`, a streamed or an MPI fit -- use the same value.

    Returns
    -------
    FitResult
        ``.h`` (the filter, dtype of the data), ``.history`` (dict of arrays),
        ``.summary`` (dict), and the fields listed in :class:`FitResult`.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, pairs that are not (x, y), non-numeric options.
    ValueError
        Bad shapes or values, bad tap range, unknown solver or method, invalid options
        (negative ridge, lr <= 0, betas outside [0, 1), batch < 1 or > number of pairs).
    numpy.linalg.LinAlgError
        Singular normal equations (exact solver, or an all-zero input for gd/nesterov):
        add a ridge penalty.
    MemoryError
        The exact solver's K x K matrices do not fit in memory (the message gives the size).
    KeyboardInterrupt
        Ctrl-C: every solver checks for signals at least every ~0.1 s of work.

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> x, y = np.array([1., 2., 3., 4., 5.]), np.array([0., 1., 0., -1., 2.])
    >>> res = convgrad.fit(x, y, kernel_size=3)
    >>> np.allclose(res.h, [-1/2, 8/5, -3/2], rtol=1e-12, atol=0)
    True
    """
    if y is not None and _checks.is_integer(y):  # the old fit(pairs, K)
        if kernel_size is not None or taps is not None:
            raise TypeError("fit(pairs, K, ...): K given twice")
        warnings.warn("fit(pairs, K) is deprecated: use fit(pairs, kernel_size=K)", DeprecationWarning,
                      stacklevel=2)
        y, kernel_size = None, y
    kernel_size = _checks.renamed("taps", "kernel_size", taps, kernel_size, stacklevel=3)
    xs, ys = _recordings(x, y)
    dtype = xs[0].dtype
    lo, hi = _checks.tap_range(kernel_size, lo, hi, half_width)
    if h0 is not None:
        (h0,) = _checks.signals(h0=h0)
        if h0.dtype != dtype:
            raise TypeError(f"h0 has dtype {h0.dtype} but the data have {dtype}; convgrad does "
                            f"not mix float32 and float64 in one call")
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a string, one of {', '.join(SOLVERS)}; got {solver!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, got {type(progress).__name__}")
    max_iter = _checks.as_int("max_iter", max_iter)
    seed = _checks.as_int("seed", seed)
    for name, v in (("max_iter", max_iter), ("seed", seed)):
        if v < 0:
            raise ValueError(f"{name} = {v} must be >= 0")
    if grad_tol is not None:
        grad_tol = _checks.as_float("grad_tol", grad_tol)
        if not (np.isfinite(grad_tol) and grad_tol >= 0):
            raise ValueError(f"grad_tol = {grad_tol} must be a finite number >= 0 (None: the default)")
    method = _checks.method_name(method)
    plan = {}
    if chunk_rows is not None:
        plan["chunk_rows"] = _checks.as_int("chunk_rows", chunk_rows)
        if plan["chunk_rows"] < 1:
            raise ValueError(f"chunk_rows = {plan['chunk_rows']} must be >= 1")
    options = _core.FitOptions(
        solver=solver, method=method, ridge=_checks.as_float("ridge", ridge),
        grad_tol=grad_tol,
        loss_tol=_checks.as_float("loss_tol", loss_tol),
        time_limit=_checks.as_float("time_limit", time_limit), lr=_checks.as_float("lr", lr),
        beta1=_checks.as_float("beta1", beta1), beta2=_checks.as_float("beta2", beta2),
        eps=_checks.as_float("eps", eps), max_iter=max_iter, batch=_batch(batch), seed=seed,
        keep_history=bool(history), **plan)
    result = FitResult(_core.fit(xs, ys, lo, hi, options, h0, progress))
    after_auto(method)
    return result
