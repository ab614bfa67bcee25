"""convgrad: a learnable 1-D filter, its loss and its gradients, computed by a C++ core.

The model (DESIGN.md section 2), with 0-based indices and taps ``m = lo..hi``::

    yhat[n] = sum_{m=lo..hi} h[m] x[n-m]      n = 0..N-1, x = 0 outside [0, N)
    r       = yhat - y                        (prediction minus target)
    loss    = 1/2 sum_n r[n]^2
    dh[m]   = sum_n x[n-m] r[n]               m = lo..hi
    dx[k]   = sum_m h[m] r[k+m]               r = 0 outside [0, N)

``h[j]`` holds tap ``m = lo + j``; ``lo`` defaults to ``-(K-1)//2``, the centred filter
``m = -M..M`` of an odd ``K = 2M+1`` (an even ``K`` needs an explicit ``lo``).

Functions: :func:`conv`, :func:`loss_and_grad`, :func:`grad_kernel`, :func:`grad_input`,
:func:`jacobians` (the two factors of ``dh = r^T J_h``), :func:`check` (every method against
the reference loops) and :func:`fit` (learn h from (x, y) pairs). PyTorch: ``convgrad.torch``.

Arrays: 1-D float32 or float64 NumPy arrays (or anything ``numpy.asarray`` turns into one),
any strides; a copy is made only when the layout needs one (non-contiguous, misaligned or
byte-swapped). All array arguments of one call must share a dtype; results have that dtype.
Nothing is cast silently.

Errors:

* ``TypeError`` -- an array is not float32/float64, the arrays mix dtypes, or ``lo``,
  ``K`` or ``method`` has the wrong type. The message names the argument.
* ``ValueError`` -- bad shapes or values: an array that is not 1-D, an empty signal, sizes
  that disagree, NaN or infinity (the message gives the first bad index), an even ``K``
  without ``lo``, an unknown method. The message is the library's.
* ``MemoryError`` -- the Jacobian method or :func:`jacobians` would need matrices larger
  than their memory budget (256 MiB by default); the message gives the size.
* ``numpy.linalg.LinAlgError`` -- :func:`fit` met normal equations that are singular to
  working precision (an all-zero input, more taps than the data determine); add ``ridge``.

The GIL is released while the C++ core computes.
"""

import operator

import numpy as np

from . import _core

__all__ = ["conv", "loss_and_grad", "grad_kernel", "grad_input", "jacobians", "check", "fit",
           "FitResult"]

__version__ = "0.1.0"

METHODS = ("auto", "reference", "direct", "fft", "jacobian")


# ---- argument checks: once, here, with messages that name the argument --------------------

def _as_signal(name, a):
    """Return ``a`` as a 1-D, C-contiguous, aligned, native-endian float32/float64 array.

    Copies only when the layout requires it; never changes the float type.
    """
    arr = np.asarray(a)
    if arr.dtype.kind != "f" or arr.dtype.itemsize not in (4, 8):
        raise TypeError(
            f"{name} has dtype {arr.dtype}; convgrad computes in float32 or float64 and does "
            f"not cast silently (convert explicitly, e.g. {name}.astype(numpy.float64))")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.isnative and arr.flags.c_contiguous and arr.flags.aligned:
        return arr
    native = arr.dtype.newbyteorder("=")
    return np.require(arr, dtype=native, requirements=["C_CONTIGUOUS", "ALIGNED"])


def _signals(**named):
    """Check several arrays at once: each as in _as_signal, and all of one dtype."""
    out = {name: _as_signal(name, a) for name, a in named.items()}
    dtypes = {name: arr.dtype for name, arr in out.items()}
    first_name, first = next(iter(dtypes.items()))
    for name, dtype in dtypes.items():
        if dtype != first:
            raise TypeError(
                f"{name} has dtype {dtype} but {first_name} has {first}; convgrad does not mix "
                f"float32 and float64 in one call (convert one of them explicitly)")
    return tuple(out.values())


def _as_int(name, value, optional=False):
    """An integer argument (Python int, numpy integer; not bool, not float)."""
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from None
    if not -(2**62) <= v <= 2**62:
        raise ValueError(f"{name} = {v} is out of range")
    return v


def _method(method):
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {', '.join(METHODS)}; got {method!r}")
    return method


# ---- the operations ---------------------------------------------------------------------

def conv(x, h, lo=None, method="auto"):
    """Filter a signal: ``yhat = h * x``, the same length as ``x``.

    ``yhat[n] = sum_{m=lo..hi} h[m] x[n-m]`` for ``n = 0..N-1``, with ``x`` zero outside
    the signal.

    Parameters
    ----------
    x : array_like, shape (N,), float32 or float64
        Input signal, N >= 1.
    h : array_like, shape (K,), same dtype as `x`
        Filter; ``h[j]`` is tap ``m = lo + j``. K may exceed N.
    lo : int, optional
        First tap m. Default ``-(K-1)//2``: the centred filter, which needs an odd K.
    method : {"auto", "reference", "direct", "fft", "jacobian"}, optional
        How to compute; all agree to rounding. "auto" picks direct or fft by cost.

    Returns
    -------
    yhat : ndarray, shape (N,), dtype of `x`
        The prediction.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, or a non-integer `lo`.
    ValueError
        Arrays not 1-D, empty, non-finite values, even K without `lo`, unknown method.
    MemoryError
        ``method="jacobian"`` with matrices above the memory budget.

    Notes
    -----
    For odd K and the default `lo` this equals ``scipy.signal.convolve(x, h, mode="same")``
    and ``torch.nn.functional.conv1d(x, h.flip(0), padding=(K-1)//2)``.

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> convgrad.conv(np.array([1., 2., 3., 4., 5.]), np.array([1., 2., 3.]))
    array([ 4., 10., 16., 22., 22.])
    """
    x, h = _signals(x=x, h=h)
    return _core.conv(h, x, _as_int("lo", lo, optional=True), _method(method))


def loss_and_grad(x, y, h, lo=None, method="auto", input_grad=False):
    """The loss ``1/2 ||h * x - y||^2`` and its gradient with respect to h (and x).

    ``dh[m] = sum_n x[n-m] r[n]`` and ``dx[k] = sum_m h[m] r[k+m]`` with ``r = yhat - y``.

    Parameters
    ----------
    x : array_like, shape (N,), float32 or float64
        Input signal.
    y : array_like, shape (N,), same dtype
        Target.
    h : array_like, shape (K,), same dtype
        Filter, ``h[j]`` = tap ``m = lo + j``.
    lo : int, optional
        First tap m; default ``-(K-1)//2`` (odd K only).
    method : {"auto", "reference", "direct", "fft", "jacobian"}, optional
        How to compute the convolution and gradients.
    input_grad : bool, optional
        Also return ``dx = dL/dx``.

    Returns
    -------
    loss : float
        ``1/2 sum r^2``, accumulated in double precision whatever the dtype.
    dh : ndarray, shape (K,)
        ``dL/dh``.
    dx : ndarray, shape (N,)
        ``dL/dx``; only when `input_grad` is true.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Bad shapes (not 1-D, empty, ``len(y) != len(x)``), non-finite values, even K
        without `lo`, unknown method.
    MemoryError
        ``method="jacobian"`` above its memory budget.

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> x, y = np.array([1., 2., 3., 4., 5.]), np.array([0., 1., 0., -1., 2.])
    >>> loss, dh = convgrad.loss_and_grad(x, y, np.array([1., 2., 3.]))
    >>> loss, dh
    (641.0, array([214., 262., 190.]))
    """
    x, y, h = _signals(x=x, y=y, h=h)
    result = _core.loss_and_grad(x, y, h, _as_int("lo", lo, optional=True), _method(method),
                                 bool(input_grad))
    return tuple(result)


def grad_kernel(x, r, K, lo=None, method="auto"):
    """Gradient with respect to the filter: ``dh[m] = sum_n x[n-m] r[n]``.

    The residual correlated with the input -- the vector-Jacobian product of
    :func:`conv` with respect to h, for any upstream gradient `r`.

    Parameters
    ----------
    x : array_like, shape (N,), float32 or float64
        Input signal.
    r : array_like, shape (N,), same dtype
        Residual ``yhat - y`` (or any upstream gradient dL/dyhat).
    K : int
        Number of taps, K >= 1.
    lo : int, optional
        First tap m; default ``-(K-1)//2`` (odd K only).
    method : {"auto", "reference", "direct", "fft", "jacobian"}, optional
        How to compute.

    Returns
    -------
    dh : ndarray, shape (K,)
        ``dL/dh`` for taps ``m = lo..lo+K-1``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, non-integer `K` or `lo`.
    ValueError
        Bad shapes, non-finite values, K < 1, even K without `lo`, unknown method.
    MemoryError
        ``method="jacobian"`` above its memory budget.
    """
    x, r = _signals(x=x, r=r)
    return _core.grad_kernel(x, r, _as_int("K", K), _as_int("lo", lo, optional=True),
                             _method(method))


def grad_input(h, r, lo=None, method="auto"):
    """Gradient with respect to the input: ``dx[k] = sum_m h[m] r[k+m]``.

    The residual correlated with the filter (``r`` zero outside the signal) -- the
    vector-Jacobian product of :func:`conv` with respect to x.

    Parameters
    ----------
    h : array_like, shape (K,), float32 or float64
        Filter, ``h[j]`` = tap ``m = lo + j``.
    r : array_like, shape (N,), same dtype
        Residual (or any upstream gradient dL/dyhat).
    lo : int, optional
        First tap m; default ``-(K-1)//2`` (odd K only).
    method : {"auto", "reference", "direct", "fft", "jacobian"}, optional
        How to compute.

    Returns
    -------
    dx : ndarray, shape (N,)
        ``dL/dx``.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes, non-integer `lo`.
    ValueError
        Bad shapes, non-finite values, even K without `lo`, unknown method.
    MemoryError
        ``method="jacobian"`` above its memory budget.
    """
    h, r = _signals(h=h, r=r)
    return _core.grad_input(h, r, _as_int("lo", lo, optional=True), _method(method))


def jacobians(x, y, h, lo=None, *, budget=None):
    """The two Jacobians whose matrix product is the gradient: ``dh = dL/dyhat @ dyhat/dh``.

    ``dL/dyhat`` is the 1 x N row ``r^T = (yhat - y)^T``; ``dyhat/dh`` is the N x K matrix
    with entries ``x[n - m]`` (``m = lo + j``, zero outside the signal). Their element-wise
    "product" -- the common mistake -- does not even have matching shapes.

    Parameters
    ----------
    x, y : array_like, shape (N,), float32 or float64
        Input and target.
    h : array_like, shape (K,), same dtype
        Filter.
    lo : int, optional
        First tap m; default ``-(K-1)//2`` (odd K only).
    budget : int, optional
        Largest matrix, in bytes, this call may build (default 256 MiB).

    Returns
    -------
    dl_dyhat : ndarray, shape (1, N)
        ``dL/dyhat``.
    dyhat_dh : ndarray, shape (N, K)
        ``dyhat/dh``, the design matrix of the least-squares problem.

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Bad shapes, non-finite values, even K without `lo`.
    MemoryError
        The N x K matrix would exceed `budget`.

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> x, y, h = np.array([1., 2., 3., 4., 5.]), np.array([0., 1., 0., -1., 2.]), np.array([1., 2., 3.])
    >>> a, b = convgrad.jacobians(x, y, h)
    >>> a.shape, b.shape, a @ b
    ((1, 5), (5, 3), array([[214., 262., 190.]]))
    """
    x, y, h = _signals(x=x, y=y, h=h)
    budget = _core.default_jacobian_budget if budget is None else _as_int("budget", budget)
    if budget < 0:
        raise ValueError(f"budget = {budget} bytes must be >= 0")
    return tuple(_core.jacobians(x, y, h, _as_int("lo", lo, optional=True), budget))


def check(x, y, h, lo=None, *, jacobian_budget=None, finite_differences=True):
    """Compute dh and dx every way and report whether they agree with the reference loops.

    Each method (direct, fft, jacobian) and central finite differences is compared with
    the literal sums of the derivation, within the documented tolerance
    ``eps * (terms + 8 ceil(log2 length)) * ||a|| ||b||`` (include/convgrad/check.hpp).

    Parameters
    ----------
    x, y : array_like, shape (N,), float32 or float64
        Input and target.
    h : array_like, shape (K,), same dtype
        Filter.
    lo : int, optional
        First tap m; default ``-(K-1)//2`` (odd K only).
    jacobian_budget : int, optional
        Memory budget in bytes for the Jacobian method (default 256 MiB); above it that
        method's rows are marked skipped.
    finite_differences : bool, optional
        Include the finite-difference rows (skipped automatically for large problems).

    Returns
    -------
    report : dict
        ``{"ok", "n", "k", "lo", "hi", "dtype", "loss", "rows"}``; ``rows`` is a list of
        dicts ``{"method", "quantity", "max_abs_diff", "tolerance", "ok", "skipped",
        "note"}``, one per method and quantity ("yhat", "dh", "dx").

    Raises
    ------
    TypeError
        Non-float or mixed dtypes.
    ValueError
        Bad shapes, non-finite values, even K without `lo`.
    """
    x, y, h = _signals(x=x, y=y, h=h)
    if jacobian_budget is None:
        jacobian_budget = _core.default_jacobian_budget
    jacobian_budget = _as_int("jacobian_budget", jacobian_budget)
    if jacobian_budget < 0:
        raise ValueError(f"jacobian_budget = {jacobian_budget} bytes must be >= 0")
    return _core.check(x, y, h, _as_int("lo", lo, optional=True), jacobian_budget,
                       bool(finite_differences))


# ---- learning a filter from data ---------------------------------------------------------

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
        The scalar facts above plus ridge, step and step_halvings, JSON-serialisable.
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
        out = {key: getattr(self, key) for key in self._SUMMARY}
        out["taps"] = int(self.h.shape[0])
        out["pair_loss"] = [float(v) for v in self.pair_loss]
        return out

    def __repr__(self):
        return (f"FitResult(solver={self.solver!r}, taps={self.lo}..{self.hi}, "
                f"iterations={self.iterations}, loss={self.loss:.6g}, "
                f"grad_norm={self.grad_norm:.3g}, stop_reason={self.stop_reason!r})")


def _as_float(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _pairs(pairs):
    """[(x_p, y_p)] -> (xs, ys): every array 1-D, one float dtype throughout."""
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
        x, y = _signals(**{f"pairs[{p}] x": x, f"pairs[{p}] y": y})
        if xs and x.dtype != xs[0].dtype:
            raise TypeError(f"pairs[{p}] has dtype {x.dtype} but pairs[0] has {xs[0].dtype}; "
                            f"convgrad does not mix float32 and float64 in one call")
        xs.append(x)
        ys.append(y)
    return xs, ys


def _tap_range(taps, lo, hi):
    """(lo, hi) from ``taps=K`` (and optionally `lo`) or from `lo` and `hi` (fit, tune)."""
    taps = _as_int("taps", taps, optional=True)
    lo = _as_int("lo", lo, optional=True)
    hi = _as_int("hi", hi, optional=True)
    if taps is not None and hi is not None:
        raise ValueError("give taps (and optionally lo), or lo and hi; not taps and hi")
    if taps is None:
        if lo is None or hi is None:
            raise ValueError("the filter's taps are not given: pass taps=K (and optionally lo), "
                             "or lo and hi")
        return lo, hi
    return _core.tap_range(taps, lo)


def fit(pairs, taps=None, *, lo=None, hi=None, solver="exact", ridge=0.0, max_iter=100000,
        grad_tol=None, loss_tol=0.0, time_limit=0.0, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8,
        batch=0, seed=1, method="auto", h0=None, history=True, progress=None):
    """Learn a filter from recordings: minimise the loss summed over (x, y) pairs.

    ``F(h) = sum_p 1/2 ||h * x_p - y_p||^2 + ridge/2 ||h||^2``, ``dF/dh = sum_p
    grad_kernel(x_p, r_p) + ridge h``. The exact solver solves the normal equations
    ``(X^T X + ridge I) h = X^T y`` with the true Gram matrix of the 'same' model (not a
    Toeplitz approximation); the iterative solvers descend along ``dF/dh``.

    Parameters
    ----------
    pairs : sequence of (x, y)
        Recordings: each x and y 1-D of one length (pairs may differ in length), every
        array of one dtype, float32 or float64.
    taps : int, optional
        Number of taps K -- as ``len(h)`` everywhere in this package (note: the command
        line's ``--taps M`` is the half-width instead). With `lo` unset the filter is
        centred, ``m = -(K-1)//2 ..``, which needs an odd K.
    lo, hi : int, optional
        The tap range ``m = lo..hi``: give `taps` and optionally `lo`, or `lo` and `hi`.
    solver : {"exact", "gd", "nesterov", "adam"}, optional
        "exact": normal equations by Cholesky. "gd": steps of ``1/lambda_max`` (power
        iteration), the loss never increases. "nesterov": accelerated with restart.
        "adam": the usual Adam with `lr`, `beta1`, `beta2`, `eps`.
    ridge : float, optional
        Ridge weight ``lambda >= 0``.
    max_iter, grad_tol, loss_tol, time_limit : optional
        Stopping rules of the iterative solvers, whichever comes first: iterations;
        ``||dF/dh|| <= grad_tol ||X^T y||`` (None: 1e-10 in float64, 1e-5 in float32);
        relative loss change (0: off); seconds (0: none).
    lr, beta1, beta2, eps : float, optional
        Adam's parameters.
    batch : int, optional
        Pairs per step (mini-batches, shuffled with `seed`); 0 takes all pairs each step.
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
        (negative ridge, lr <= 0, betas outside [0, 1), batch > number of pairs).
    numpy.linalg.LinAlgError
        Singular normal equations (exact solver, or an all-zero input for gd/nesterov):
        add a ridge penalty.
    KeyboardInterrupt
        Ctrl-C during a long fit.

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> x, y = np.array([1., 2., 3., 4., 5.]), np.array([0., 1., 0., -1., 2.])
    >>> res = convgrad.fit([(x, y)], taps=3)
    >>> np.allclose(res.h, [-1/2, 8/5, -3/2], rtol=1e-12, atol=0)
    True
    """
    xs, ys = _pairs(pairs)
    dtype = xs[0].dtype
    lo, hi = _tap_range(taps, lo, hi)
    if h0 is not None:
        (h0,) = _signals(h0=h0)
        if h0.dtype != dtype:
            raise TypeError(f"h0 has dtype {h0.dtype} but the data have {dtype}; convgrad does "
                            f"not mix float32 and float64 in one call")
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a string, one of {', '.join(SOLVERS)}; got {solver!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress must be callable, got {type(progress).__name__}")
    max_iter = _as_int("max_iter", max_iter)
    batch = _as_int("batch", batch)
    seed = _as_int("seed", seed)
    for name, v in (("max_iter", max_iter), ("batch", batch), ("seed", seed)):
        if v < 0:
            raise ValueError(f"{name} = {v} must be >= 0")
    if grad_tol is not None:
        grad_tol = _as_float("grad_tol", grad_tol)
        if not (np.isfinite(grad_tol) and grad_tol >= 0):  # the core reads < 0 as "the default"
            raise ValueError(f"grad_tol = {grad_tol} must be a finite number >= 0 (None: the default)")
    options = _core.FitOptions(
        solver=solver, method=_method(method), ridge=_as_float("ridge", ridge),
        grad_tol=-1.0 if grad_tol is None else grad_tol,
        loss_tol=_as_float("loss_tol", loss_tol), time_limit=_as_float("time_limit", time_limit),
        lr=_as_float("lr", lr), beta1=_as_float("beta1", beta1), beta2=_as_float("beta2", beta2),
        eps=_as_float("eps", eps), max_iter=max_iter, batch=batch, seed=seed,
        keep_history=bool(history))
    return FitResult(_core.fit(xs, ys, lo, hi, options, h0, progress))


# ---- the measured choice of method="auto" (docs/tune.md) ------------------------------------

import json as _json
import os as _os
import warnings as _warnings

__all__ += ["set_tuning", "tuning_enabled", "tune"]


def set_tuning(enabled=True, cache=None):
    """Turn the measured choice of ``method="auto"`` on or off for this process.

    With tuning on, the first "auto" call for a problem (dtype, N, the taps, the thread
    count, the machine) times one training step by "direct" and by "fft" and keeps the
    faster, in memory and in a JSON cache file; later calls, here or in another process, use
    that record. Results are bitwise those of the method chosen. Without a call, tuning is on
    when the environment variable ``CONVGRAD_TUNE`` is 1.

    Parameters
    ----------
    enabled : bool, optional
        True (the default) turns tuning on; False goes back to the cost model.
    cache : str or os.PathLike, optional
        The cache file. Default: ``$CONVGRAD_TUNE_CACHE``, else
        ``$XDG_CACHE_HOME/convgrad/tune.json``, else ``~/.cache/convgrad/tune.json``.

    Raises
    ------
    TypeError
        `cache` is not a path.

    Examples
    --------
    >>> import convgrad
    >>> convgrad.set_tuning(True, cache="/tmp/convgrad-example-tune.json")
    >>> convgrad.tuning_enabled()
    True
    >>> convgrad.set_tuning(False)
    """
    path = "" if cache is None else _os.fspath(cache)
    if isinstance(path, bytes):
        path = _os.fsdecode(path)
    _core.set_tuning(bool(enabled), path)


def tuning_enabled():
    """True when ``method="auto"`` uses measured choices (:func:`set_tuning`, ``CONVGRAD_TUNE``)."""
    return _core.tuning_enabled()


def tune(n, taps=None, *, lo=None, hi=None, dtype="float64"):
    """Time one training step by "direct" and by "fft" now, and cache the faster.

    The step (the loss and ``dh``) runs on synthetic signals of `n` samples: one warm-up
    run per method, then the best of a few. A method the cost model expects to take over a second
    while it expects the other to be faster is not timed. The record is kept whether or not
    tuning is on (:func:`set_tuning`), in the cache file in use, and replaces an older record
    of the same problem.

    Parameters
    ----------
    n : int
        Signal length N >= 1.
    taps : int, optional
        Number of taps K, as ``len(h)``; with `lo` unset the filter is centred (odd K).
    lo, hi : int, optional
        The tap range ``m = lo..hi``: give `taps` (and optionally `lo`), or `lo` and `hi`.
    dtype : {"float64", "float32"} or numpy dtype, optional
        The precision to time.

    Returns
    -------
    record : dict
        The key: ``dtype``, ``n``, ``lo``, ``hi``, ``taps`` (K), ``threads``, ``target``
        (the SIMD instruction set) and ``hardware_threads``. The result: ``choice``
        ("direct" or "fft"), ``model_choice`` (the cost model's), ``direct_s`` and ``fft_s``
        (best seconds of one step; None for a method not timed), ``source`` ("measured",
        or "model: ..." saying why a method was not timed) and ``cache`` (the file the
        record was saved to; None if it could not be written, with a RuntimeWarning).

    Raises
    ------
    TypeError
        Non-integer `n`, `taps`, `lo` or `hi`; a dtype other than float32 or float64.
    ValueError
        ``n < 1``, no tap range or a contradictory one, an even K without `lo`.

    Examples
    --------
    >>> import os, tempfile, convgrad
    >>> convgrad.set_tuning(False, cache=os.path.join(tempfile.mkdtemp(), "tune.json"))
    >>> rec = convgrad.tune(10000, taps=31, dtype="float32")
    >>> rec["choice"] in ("direct", "fft"), rec["taps"], rec["cache"].endswith("tune.json")
    (True, 31, True)
    >>> convgrad.set_tuning(False)
    """
    n = _as_int("n", n)
    if n < 1:
        raise ValueError(f"n = {n} must be >= 1 (the signal length)")
    lo, hi = _tap_range(taps, lo, hi)
    try:
        kind = np.dtype(dtype)
    except TypeError:
        kind = None
    if kind is None or kind not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    text, saved, warning = _core.tune(kind.name, n, lo, hi)
    if warning:
        _warnings.warn(warning, RuntimeWarning, stacklevel=2)
    record = _json.loads(text)
    record["taps"] = record["hi"] - record["lo"] + 1
    record["cache"] = saved or None
    return record

from . import adaptive  # noqa: E402,F401  (convgrad.adaptive: LMS, NLMS, SignLMS, RLS, FDAF)
