"""Learning a filter from recordings: :func:`fit` and its result, :class:`FitResult`;
the normal equations accumulated in pieces, :class:`NormalEquations`, and the fixed chunk
plan that makes pieces computed anywhere add up to the same bits, :func:`chunk_plan`."""

import collections
import os
import tempfile
import warnings

import numpy as np

from . import _checks, _core
from ._tuning import after_auto

SOLVERS = ("exact", "gd", "nesterov", "adam")
CHUNK_ROWS = _core.fit_chunk_rows  # rows per chunk of the fixed chunk plan, 2^20


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


class MimoFitResult:
    """What :func:`fit` found for several input or output channels (x of shape (C_in, N), y of
    shape (C_out, N)): every filter from input c to output o, by any solver.

    Attributes
    ----------
    h : ndarray, shape (C_out, C_in, K)
        ``h[o, c, j]`` is tap ``m = lo + j`` of the filter from input c to output o (dtype of
        the data): ``yhat[o] = sum_c conv(x[c], h[o, c], lo)``.
    lo, hi : int
        The tap range.
    solver : str
        "exact", "gd", "nesterov" or "adam".
    iterations : int
        Iterations taken (1 for "exact").
    stop_reason : str
        Why the solver stopped ("solved", "gradient tolerance", "max iterations", ...).
    loss : float
        ``sum_o 1/2 ||yhat_o - y_o||^2 + ridge/2 ||h||^2``.
    grad_norm : float
        ``||dF/dh||`` at `h` (every filter's gradient together).
    output_loss : ndarray, shape (C_out,)
        ``1/2 ||yhat_o - y_o||^2`` for each output.
    condition : float or None
        Condition number of the block normal equations ``X^T X + ridge I`` (C_in K unknowns;
        exact solver only).
    condition_estimated : bool
        True above 512 unknowns, where it comes from power and inverse iteration.
    lambda_min, lambda_max : float
        Extreme eigenvalues of ``X^T X + ridge I`` (lambda_min: exact solver only, else None;
        lambda_max for gd and nesterov from power iteration, 0 for adam).
    step, step_halvings : float, int
        gd and nesterov's step ``1/lambda_max`` (after any halving) and its halvings.
    history : dict of ndarray
        One entry per iteration of the iterative solvers: "iteration", "loss", "grad_norm",
        "seconds" (empty for "exact" or ``history=False``).
    advice : str
        Empty, or a sentence when the condition number is large (correlated inputs): it
        suggests a ridge value.
    seconds, ridge : float
    summary : dict
        The scalar facts above plus C_in, C_out and K, JSON-serialisable.
    """

    _SUMMARY = ("solver", "lo", "hi", "iterations", "stop_reason", "seconds", "loss", "grad_norm", "ridge",
                "condition", "condition_estimated", "lambda_min", "lambda_max", "step", "step_halvings",
                "advice")

    def __init__(self, raw, lo, hi, ridge):
        self.h = raw["h"]
        self.output_loss = raw["output_loss"]
        self.history = dict(raw["history"])
        self.lo, self.hi, self.ridge = lo, hi, ridge
        for key in self._SUMMARY[3:]:
            if key != "ridge":
                setattr(self, key, raw[key])
        self.solver = raw["solver"]

    @property
    def summary(self):
        out = {key: getattr(self, key) for key in self._SUMMARY}
        out["C_out"], out["C_in"], out["K"] = (int(v) for v in self.h.shape)
        out["output_loss"] = [float(v) for v in self.output_loss]
        return out

    def __repr__(self):
        return (f"MimoFitResult(h.shape={self.h.shape}, lo={self.lo}, hi={self.hi}, "
                f"solver={self.solver!r}, iterations={self.iterations}, loss={self.loss:.6g}, "
                f"stop_reason={self.stop_reason!r})")


def _channels(name, a):
    """A (C, N) array of channels (a 1-D signal is one channel), C-contiguous, one float type."""
    arr = np.asarray(a)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (N,) or (channels, N), got {arr.shape}")
    (flat,) = _checks.signals(**{name: arr.reshape(-1)})
    return flat.reshape(arr.shape)


def _is_multichannel(x, y):
    return y is not None and not _checks.is_integer(y) and (np.ndim(x) == 2 or np.ndim(y) == 2)


def _fit_mimo(x, y, lo, hi, options, ridge, h0, progress):
    """The multi-input, multi-output fit behind fit(x (C_in, N), y (C_out, N)), any solver."""
    x, y = _channels("x", x), _channels("y", y)
    if x.dtype != y.dtype:
        raise TypeError(f"y has dtype {y.dtype} but x has {x.dtype}; convgrad does not mix float32 "
                        f"and float64 in one call (convert one of them explicitly)")
    if h0 is not None:
        expected = (y.shape[0], x.shape[0], hi - lo + 1)
        h0 = np.asarray(h0)
        if h0.shape != expected:
            raise ValueError(f"h0 has shape {h0.shape}, expected (C_out, C_in, K) = {expected}")
        (flat,) = _checks.signals(h0=h0.reshape(-1))
        if flat.dtype != x.dtype:
            raise TypeError(f"h0 has dtype {flat.dtype} but the data have {x.dtype}; convgrad does "
                            f"not mix float32 and float64 in one call")
        h0 = flat
    return MimoFitResult(_core.fit_mimo(x, y, lo, hi, options, h0, progress), lo, hi, ridge)


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


def _chunk_rows(chunk_rows):
    """Rows per chunk: None (CHUNK_ROWS) or an integer >= 1."""
    if chunk_rows is None:
        return CHUNK_ROWS
    rows = _checks.as_int("chunk_rows", chunk_rows)
    if rows < 1:
        raise ValueError(f"chunk_rows = {rows} must be >= 1 (None: {CHUNK_ROWS})")
    return rows


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
        array of one dtype, float32 or float64. Or, for several input channels, shape
        (C_in, N): the multi-input, multi-output fit (below).
    y : array_like, shape (N,) or (C_out, N), optional
        The target of the one recording `x`; several output channels as (C_out, N).
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
        Rows per chunk of the fixed chunk plan (None: 2^20). The data are
        read chunk by chunk with their halos and the chunks' sums added by one fixed tree, so
        the taps equal those of a streamed, MPI or Dask fit with the same `chunk_rows` bit for
        bit. Arrays are never copied whole: a ``numpy.memmap`` (or any buffer of float32 /
        float64) is read in place, a chunk at a time.

    Returns
    -------
    FitResult
        ``.h`` (the filter, dtype of the data), ``.history`` (dict of arrays),
        ``.summary`` (dict), and the fields listed in :class:`FitResult`.
    MimoFitResult
        When `x` or `y` is 2-D (channels x samples; a 1-D one counts as one channel): ``.h``
        of shape (C_out, C_in, K), the exact least squares of ``y[o] ~ sum_c h[o, c] * x[c]``
        for every output at once (the exact solver: one Cholesky factor of the block Gram
        matrix, with ``.condition`` and ``.advice``; the iterative solvers: the same loops,
        options and history as for one filter, `h0` of shape (C_out, C_in, K), no `batch`);
        see :class:`MimoFitResult`.

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
    lo, hi = _checks.tap_range(kernel_size, lo, hi, half_width)
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
    ridge = _checks.as_float("ridge", ridge)
    options = _core.FitOptions(
        solver=solver, method=method, ridge=ridge,
        grad_tol=grad_tol,
        loss_tol=_checks.as_float("loss_tol", loss_tol),
        time_limit=_checks.as_float("time_limit", time_limit), lr=_checks.as_float("lr", lr),
        beta1=_checks.as_float("beta1", beta1), beta2=_checks.as_float("beta2", beta2),
        eps=_checks.as_float("eps", eps), max_iter=max_iter, batch=_batch(batch), seed=seed,
        keep_history=bool(history), chunk_rows=_chunk_rows(chunk_rows))
    if _is_multichannel(x, y):
        result = _fit_mimo(x, y, lo, hi, options, ridge, h0, progress)
        after_auto(method)
        return result
    xs, ys = _recordings(x, y)
    dtype = xs[0].dtype
    if h0 is not None:
        (h0,) = _checks.signals(h0=h0)
        if h0.dtype != dtype:
            raise TypeError(f"h0 has dtype {h0.dtype} but the data have {dtype}; convgrad does "
                            f"not mix float32 and float64 in one call")
    result = FitResult(_core.fit(xs, ys, lo, hi, options, h0, progress))
    after_auto(method)
    return result


Chunk = collections.namedtuple("Chunk", "index pair begin end window_first window_size halo")
Chunk.__doc__ = """Chunk `index` of the plan: rows ``[begin, end)`` of pair `pair`, whose input window
is ``x[window_first : window_first + window_size]``: the samples ``x[begin - hi, end - lo)`` the
rows reach, clipped to the signal (and widened to hold the rows themselves when the taps do
not); row `begin` is the window's sample `halo` (= begin - window_first)."""


def chunk_plan(lengths, kernel_size=None, *, lo=None, hi=None, half_width=None, chunk_rows=None):
    """The fixed chunk plan of a data set: each pair's rows cut into chunks of `chunk_rows`
    rows, numbered pair by pair, with each chunk's input window for the taps lo..hi.

    The plan depends only on the lengths and `chunk_rows`, never on who computes what: a
    Dask task, a process or a thread computing any contiguous range of chunks, one
    :class:`NormalEquations` per range (``first_chunk`` = the range's first index, one
    ``add(window(x, c), y[c.begin:c.end], halo=c.halo)`` per chunk c, in order), and merging the pieces in chunk
    order gives the bits of :func:`fit` on the whole data. A worker reads only
    ``x[window_first : window_first + window_size]`` and ``y[begin:end]`` of each chunk.

    Parameters
    ----------
    lengths : sequence of int
        N_p, the samples of each pair (>= 1).
    kernel_size, lo, hi, half_width :
        The taps, as in :func:`fit`.
    chunk_rows : int, optional
        Rows per chunk (None: 2^20), as in :func:`fit`.

    Returns
    -------
    list of Chunk
        ``(index, pair, begin, end, window_first, window_size, halo)`` per chunk.

    Examples
    --------
    >>> import convgrad
    >>> [tuple(c) for c in convgrad.chunk_plan([5, 2], kernel_size=3, chunk_rows=3)]
    [(0, 0, 0, 3, 0, 4, 0), (1, 0, 3, 5, 2, 3, 1), (2, 1, 0, 2, 0, 2, 0)]
    """
    lo, hi = _checks.tap_range(kernel_size, lo, hi, half_width)
    lengths = [_checks.as_int("lengths", n) for n in lengths]
    rows = _chunk_rows(chunk_rows)
    return [Chunk(c, *t) for c, t in enumerate(_core.chunk_plan(lengths, rows, lo, hi))]


def window(x, chunk):
    """The input window of `chunk` (a :class:`Chunk` of :func:`chunk_plan`) in the signal `x`:
    ``x[chunk.window_first : chunk.window_first + chunk.window_size]``, a view (no copy). With
    ``y[chunk.begin:chunk.end]`` it is what ``NormalEquations.add(..., halo=chunk.halo)`` takes."""
    (x,) = _checks.signals(x=x)
    if chunk.window_first + chunk.window_size > x.shape[0]:
        raise ValueError(f"chunk {chunk.index} needs x[{chunk.window_first}:"
                         f"{chunk.window_first + chunk.window_size}] but x has {x.shape[0]} samples")
    return x[chunk.window_first:chunk.window_first + chunk.window_size]


Solution = collections.namedtuple("Solution", "h lo hi condition lambda_min lambda_max condition_estimated")
Solution.__doc__ = """The exact solution of the normal equations: the taps `h` (float64, ``m = lo..hi``)
and the eigenvalues and condition number of ``G + ridge I``."""


class NormalEquations:
    """The normal equations ``G = sum X^T X``, ``b = sum X^T y``, ``yy = sum y^T y`` of the
    'same' model, accumulated in pieces and solved once: for data too large for memory, or
    spread over processes and machines.

    The pieces are the chunks of the fixed chunk plan (:func:`chunk_plan`), numbered from
    `first_chunk`; their sums are added by one fixed pairwise tree over the chunk numbers, so
    however the chunks were divided among workers, the merged result has the same bits, and
    solving it gives the taps of :func:`fit` (solver "exact") with the same `chunk_rows`.

    Parameters
    ----------
    kernel_size, lo, hi, half_width :
        The taps, as in :func:`fit`.
    chunk_rows : int, optional
        Rows per chunk for :meth:`add` of whole signals (None: 2^20).
    first_chunk : int, optional
        The global index of the first chunk this object will hold (a piece of a larger data
        set: the ``index`` of its first chunk in :func:`chunk_plan`).
    gram_budget : int, optional
        Bytes allowed for the K x K Gram matrix (None: 2 GiB); MemoryError beyond.

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> x, y = np.array([1., 2., 3., 4., 5.]), np.array([0., 1., 0., -1., 2.])
    >>> ne = convgrad.NormalEquations(kernel_size=3)
    >>> ne.add(x, y)
    >>> np.allclose(ne.solve().h, [-1/2, 8/5, -3/2], rtol=1e-12, atol=0)
    True
    """

    def __init__(self, kernel_size=None, *, lo=None, hi=None, half_width=None, chunk_rows=None, first_chunk=0,
                 gram_budget=None, _core_object=None):
        if _core_object is not None:
            self._ne = _core_object
            self.chunk_rows = _chunk_rows(chunk_rows)
            return
        lo, hi = _checks.tap_range(kernel_size, lo, hi, half_width)
        first_chunk = _checks.as_int("first_chunk", first_chunk)
        if first_chunk < 0:
            raise ValueError(f"first_chunk = {first_chunk} must be >= 0")
        self.chunk_rows = _chunk_rows(chunk_rows)
        self._ne = _core.NormalEquations(lo, hi, _budget(gram_budget), first_chunk)

    def add(self, x, y, halo=None):
        """Add one pair ``(x, y)`` as chunks of `chunk_rows` rows; or, with `halo`, one chunk:
        `x` its input window (:func:`window`: the samples the rows reach, clipped to the signal),
        `y` its rows ``y[begin:end]`` and `halo` the number of samples of `x` before row `begin`
        (:class:`Chunk`'s ``halo``). The chunk is number :attr:`end_chunk`. Returns None."""
        x, y = _checks.signals(x=x, y=y)
        if halo is None:
            self._ne.add(x, y, self.chunk_rows)
        else:
            halo = _checks.as_int("halo", halo)
            if halo < 0:
                raise ValueError(f"halo = {halo} must be >= 0 (the samples of x before the first row)")
            self._ne.add_window(x, y, halo)

    def merge(self, other):
        """Add `other`'s sums (same taps): its chunks follow this object's (or precede them,
        when its range ends where this one's starts; an object numbered from chunk 0 is moved
        after this one's). Returns self."""
        if not isinstance(other, NormalEquations):
            raise TypeError(f"can only merge NormalEquations, got {type(other).__name__}")
        self._ne.merge(other._ne)
        return self

    def __iadd__(self, other):
        return self.merge(other)

    def __add__(self, other):
        out = NormalEquations.from_bytes(self.to_bytes())
        out.chunk_rows = self.chunk_rows
        return out.merge(other)

    def to_bytes(self):
        """A versioned, checksummed byte string holding everything (taps, pairs, chunk range and
        the tree's node sums): :meth:`from_bytes` reads it back bit for bit."""
        return self._ne.to_bytes()

    @classmethod
    def from_bytes(cls, data, gram_budget=None):
        """The object :meth:`to_bytes` wrote; ValueError for a corrupt, truncated or foreign blob."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, got {type(data).__name__}")
        return cls(_core_object=_core.NormalEquations.from_bytes(bytes(data), _budget(gram_budget)))

    def save(self, path):
        """Write to a .npz file (written whole or not at all): "blob" (what :meth:`to_bytes`
        gives, which :meth:`load` reads) and, for inspection, "gram", "rhs", "yy", "lo", "hi"."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".convgrad-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, blob=np.frombuffer(self.to_bytes(), dtype=np.uint8), gram=self.gram, rhs=self.rhs,
                         yy=np.float64(self.yy), lo=np.int64(self.lo), hi=np.int64(self.hi))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path, gram_budget=None):
        """The object :meth:`save` wrote; ValueError when the file holds no valid blob."""
        with np.load(os.fspath(path), allow_pickle=False) as f:
            if "blob" not in f.files:
                raise ValueError(f"{path}: not a convgrad NormalEquations file (no 'blob' array)")
            blob = f["blob"]
        if blob.dtype != np.uint8 or blob.ndim != 1:
            raise ValueError(f"{path}: 'blob' is {blob.dtype} of shape {blob.shape}, not 1-D uint8")
        return cls.from_bytes(blob.tobytes(), gram_budget)

    def solve(self, ridge=0.0):
        """The taps solving ``(G + ridge I) h = b`` by Cholesky, with the eigenvalues and
        condition number of ``G + ridge I``. numpy.linalg.LinAlgError when singular (add a
        ridge), ValueError for ridge < 0 or no data."""
        s = self._ne.solve(_checks.as_float("ridge", ridge))
        return Solution(h=s["h"], lo=self.lo, hi=self.hi, condition=s["condition"], lambda_min=s["lambda_min"],
                        lambda_max=s["lambda_max"], condition_estimated=s["condition_estimated"])

    lo = property(lambda self: self._ne.lo, doc="The first tap m.")
    hi = property(lambda self: self._ne.hi, doc="The last tap m.")
    K = property(lambda self: self._ne.hi - self._ne.lo + 1, doc="The number of taps.")
    pairs = property(lambda self: self._ne.pairs, doc="Whole pairs added (with their merges).")
    first_chunk = property(lambda self: self._ne.first_chunk, doc="The first chunk held.")
    end_chunk = property(lambda self: self._ne.end_chunk, doc="One past the last chunk held.")
    gram = property(lambda self: self._ne.gram, doc="G = X^T X, K x K float64 (a copy).")
    rhs = property(lambda self: self._ne.rhs, doc="b = X^T y, K float64 (a copy).")
    yy = property(lambda self: self._ne.yy, doc="y^T y.")

    def __repr__(self):
        return (f"NormalEquations(lo={self.lo}, hi={self.hi}, pairs={self.pairs}, "
                f"chunks=[{self.first_chunk}, {self.end_chunk}))")


def _budget(gram_budget):
    if gram_budget is None:
        return 2 << 30
    budget = _checks.as_int("gram_budget", gram_budget)
    if budget < 0:
        raise ValueError(f"gram_budget = {budget} must be >= 0")
    return budget
