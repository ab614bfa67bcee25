"""convgrad on Dask: fit a filter to dask arrays, the sums computed where the data live.

:func:`fit` takes dask arrays (one recording ``fit(x, y, ...)`` or a list of (x, y) pairs)
and returns what :func:`convgrad.fit` returns on the same data, with the same taps to the
last bit. The exact solver needs only the normal equations ``G h = b``, ``G = X^T X``,
``b = X^T y``, and these add over pieces of the data, so:

1. The rows of each pair are cut by the library's fixed chunk plan (``chunk_rows`` rows per
   chunk, numbered pair by pair), whatever the arrays' own chunking.
2. Each chunk ``[a, b)`` is one task on a worker: it reads the input window
   ``x[a - hi, b - lo)`` (its own rows plus a halo of ``K - 1`` samples, zero outside the
   signal; Dask moves the halo from the neighbouring blocks) and ``y[a, b)``, and returns
   that chunk's normal equations, a ``K x K`` Gram matrix and two small vectors, as bytes.
3. Tasks merge those partials pairwise in the library's one fixed tree over the chunks (a
   node ``[s, e)`` is its left child ``[s, s + 2^k)`` plus its right child, ``2^k`` the
   largest power of two below ``e - s``), on the workers; only the root comes back.
4. The client solves once. A second pass, shaped the same way, computes the loss and
   gradient at the solution for the report (``loss``, ``grad_norm``, ``pair_loss``).

The in-memory fit uses the same plan and tree, so the answer does not depend on the
workers, their number, the arrays' chunking or the scheduler.

Memory: a worker holds one chunk's window (``chunk_rows + K - 1`` samples) and a few
``K x K`` matrices; the client holds ``K x K``. Dask's own ``dask.array.linalg.lstsq``
works on the ``N x K`` design matrix instead: 41 GB at ``N = 10^7``, ``K = 512``, against a
2 MB Gram matrix here.

This module imports dask; ``import convgrad`` does not.
"""

import math
import time

import dask
import dask.array as da
import numpy as np

from . import _checks, _core
from ._fit import FitResult, NormalEquations, _chunk_rows, chunk_plan

__all__ = ["fit"]

# ---- The data: dask arrays, checked once ----

def _as_dask(name, a):
    """A 1-D float32/float64 dask array (a NumPy array is wrapped, as one block)."""
    arr = a if isinstance(a, da.Array) else da.from_array(np.asarray(a), chunks=-1)
    if arr.dtype.kind != "f" or arr.dtype.itemsize not in (4, 8):
        raise TypeError(f"{name} has dtype {arr.dtype}; convgrad computes in float32 or float64 and does "
                        f"not cast silently (convert explicitly, e.g. {name}.astype(numpy.float64))")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if any(np.isnan(n) for n in arr.shape):
        raise ValueError(f"{name} has an unknown length; call {name}.compute_chunk_sizes() first")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: a signal needs at least one sample")
    return arr


def _pairs(x, y):
    """[(x_p, y_p)] as dask arrays: each 1-D, x_p and y_p of one length, one dtype throughout."""
    if y is not None:
        items, names = [(x, y)], ["x", "y"]
    else:
        if isinstance(x, (da.Array, np.ndarray)):
            raise TypeError("fit(x) needs the target too: fit(x, y, kernel_size=K) for one recording, "
                            "or fit([(x1, y1), (x2, y2), ...], kernel_size=K) for several")
        try:
            items = list(x)
        except TypeError:
            raise TypeError(f"pairs must be a sequence of (x, y) pairs, got {type(x).__name__}") from None
        if not items:
            raise ValueError("pairs is empty: fitting needs at least one (x, y) pair")
        names = None
    pairs = []
    for p, pair in enumerate(items):
        try:
            xp, yp = pair
        except (TypeError, ValueError):
            raise TypeError(f"pairs[{p}] must be an (x, y) pair of arrays") from None
        nx, ny = names or (f"pairs[{p}] x", f"pairs[{p}] y")
        xp, yp = _as_dask(nx, xp), _as_dask(ny, yp)
        if xp.shape != yp.shape:
            raise ValueError(f"{nx} has {xp.shape[0]} samples but {ny} has {yp.shape[0]} "
                             f"(an input and its target must have the same length)")
        first = pairs[0][0].dtype if pairs else xp.dtype
        for name, arr in ((nx, xp), (ny, yp)):
            if arr.dtype != first:
                raise TypeError(f"{name} has dtype {arr.dtype} but {names[0] if names else 'pairs[0] x'} "
                                f"has {first}; convgrad does not mix float32 and float64 in one call")
        pairs.append((xp, yp))
    return pairs


# ---- The tree over the chunks (the library's rule, docs/scale.md) and the chunks' inputs ----

def _split(s, e):
    """Where the tree node [s, e) (e - s > 1) splits: s + the largest power of two < e - s."""
    return s + (1 << ((e - s - 1).bit_length() - 1))


def _tree(leaves, merge):
    """The root of the fixed tree over the leaves (delayed values): node [s, e) = merge(left,
    right) with left = [s, split), right = [split, e)."""
    def node(s, e):
        if e - s == 1:
            return leaves[s]
        m = _split(s, e)
        return merge(node(s, m), node(m, e))
    return node(0, len(leaves))


def _chunk_inputs(pairs, plan):
    """Per chunk of the plan, the dask arrays its task reads: (its window's samples inside the
    signal, zeros to put before them, zeros after, y[begin, end)). The plan's window is
    x[begin - hi, end - lo) cut to the signal, so no zeros are added."""
    for chunk in plan:
        xp, yp = pairs[chunk.pair]
        N = xp.shape[0]
        first, size = chunk.window_first, chunk.window_size
        end = first + size
        inside = xp[min(max(first, 0), N):max(min(end, N), 0)]
        before = min(max(-first, 0), size)
        yield chunk, (inside, before, size - before - inside.shape[0], yp[chunk.begin:chunk.end])


def _native(a):
    """A C-contiguous, native-endian array, as the library reads it."""
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))


def _samples(inside, before, after):
    """The window as one NumPy array: the samples with their zeros outside the signal."""
    inside = _native(inside)
    if before == 0 and after == 0:
        return inside
    return np.concatenate([np.zeros(before, inside.dtype), inside, np.zeros(after, inside.dtype)])


# ---- What runs on the workers: one chunk's partial sums, and the tree's additions ----

def _named(p, first, a, w, y_rows):
    """Raise the in-memory fit's error for the first NaN or infinity in a chunk's window
    w = x[first, ...) or its rows y[a, ...), counting samples from the start of the signal."""
    for name, v, start in (("x", w, first), ("y", y_rows, a)):
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            i = int(bad[0])
            value = "nan" if np.isnan(v[i]) else "inf"
            sign = "-" if np.signbit(v[i]) else ""
            raise ValueError(f"pair {p}: {name} has a non-finite value ({sign}{value}) at index {start + i}")


def _chunk_normal_equations(chunk, lo, hi, inside, before, after, y_rows):
    """The chunk's normal equations (G, b, y^T y) from its window, numbered as in the plan so
    that merges follow the tree, serialised."""
    w, y_rows = _samples(inside, before, after), _native(y_rows)
    ne = NormalEquations(lo=lo, hi=hi, first_chunk=chunk.index)
    try:
        ne.add(w, y_rows, halo=chunk.halo)
    except ValueError:
        _named(chunk.pair, chunk.window_first - before, chunk.begin, w, y_rows)
        raise
    return ne.to_bytes()


def _merge(left, right):
    """A tree node: left + right, the library's one addition of normal equations."""
    return NormalEquations.from_bytes(left).merge(NormalEquations.from_bytes(right)).to_bytes()


def _chunk_objective(chunk, n, rows, lo, h, inside, before, after, y_rows):
    """[1/2 ||r||^2, X^T r] at h over the chunk's rows, r = X h - y (no ridge)."""
    return _core.chunk_objective(_samples(inside, before, after), chunk.window_first - before, _native(y_rows),
                                 chunk.begin, n, rows, h, lo)


def _add(left, right):
    """A tree node of objective partials: left + right, elementwise in double (the same
    additions as the library's reduce::add_into)."""
    return left + right


def _loss_of(leaf):
    return float(leaf[0])


# ---- The fit ----

def _solve(pairs, plan, lo, hi, ridge, scheduler):
    """The exact solver over the plan's chunks: the library's Solution (h in float64)."""
    leaves = [dask.delayed(_chunk_normal_equations, pure=True)(chunk, lo, hi, *inputs)
              for chunk, inputs in _chunk_inputs(pairs, plan)]
    root = _tree(leaves, dask.delayed(_merge, pure=True))
    (blob,) = dask.compute(root, scheduler=scheduler)
    return NormalEquations.from_bytes(blob).solve(ridge)


def _report(pairs, plan, rows, lo, hi, h, ridge, scheduler):
    """(loss, grad_norm, pair_loss) at h as the library's fit reports them: one pass of chunk
    objectives added by the tree; per pair the chunks' losses in chunk order."""
    leaves = [dask.delayed(_chunk_objective, pure=True)(chunk, pairs[chunk.pair][0].shape[0], rows, lo, h, *inputs)
              for chunk, inputs in _chunk_inputs(pairs, plan)]
    root = _tree(leaves, dask.delayed(_add, pure=True))
    total, losses = dask.compute(root, [dask.delayed(_loss_of, pure=True)(v) for v in leaves], scheduler=scheduler)
    pair_loss = [0.0] * len(pairs)
    for chunk, chunk_loss in zip(plan, losses):
        pair_loss[chunk.pair] += chunk_loss
    hd = h.astype(np.float64)
    grad = total[1:] + ridge * hd  # dF/dh = X^T r + ridge h
    hh = 0.0
    for hj in hd.tolist():  # in order, in double, as the library sums
        hh += hj * hj
    squares = 0.0
    for gj in grad.tolist():
        squares += gj * gj
    return float(total[0]) + 0.5 * ridge * hh, math.sqrt(squares), np.array(pair_loss)


def _reached(lo, hi, lengths):
    """The taps some sample reaches, |m| <= N - 1 for the longest N (None if none does)."""
    reach = max(lengths) - 1
    rlo, rhi = max(lo, -reach), min(hi, reach)
    return (rlo, rhi) if rlo <= rhi else None


def _exact(pairs, lo, hi, ridge, rows, scheduler):
    """The raw result of the exact fit over taps lo..hi, as the library's fit() makes it."""
    lengths = [xp.shape[0] for xp, _ in pairs]
    reached = _reached(lo, hi, lengths)
    if reached and reached[1] - reached[0] < hi - lo and ridge > 0:
        # Taps no sample reaches: their rows of G are zero, so with a ridge they solve to zero;
        # fit the reached ones (K follows the data, not the request), as fit() does.
        raw = _exact(pairs, *reached, ridge, rows, scheduler)
        h = np.zeros(hi - lo + 1, raw["h"].dtype)
        h[reached[0] - lo: reached[1] - lo + 1] = raw["h"]
        lambda_min = min(raw["lambda_max"] / raw["condition"], ridge)
        raw["lambda_max"] = max(raw["lambda_max"], ridge)
        raw.update(h=h, lo=lo, hi=hi, condition=raw["lambda_max"] / lambda_min)
        return raw
    plan = chunk_plan(lengths, lo=lo, hi=hi, chunk_rows=rows)
    s = _solve(pairs, plan, lo, hi, ridge, scheduler)
    h = s.h.astype(pairs[0][0].dtype)
    loss, grad_norm, pair_loss = _report(pairs, plan, rows, lo, hi, h, ridge, scheduler)
    return {"h": h, "history": {}, "pair_loss": pair_loss, "solver": "exact", "lo": lo, "hi": hi,
            "iterations": 1, "loss": loss, "grad_norm": grad_norm, "stop_reason": "solved", "ridge": ridge,
            "lambda_max": s.lambda_max, "step": 0.0, "step_halvings": 0, "condition": s.condition,
            "condition_estimated": s.condition_estimated}


def fit(x, y=None, kernel_size=None, *, lo=None, hi=None, half_width=None, solver="exact", ridge=0.0,
        chunk_rows=None, scheduler=None):
    """Learn a filter from dask arrays: :func:`convgrad.fit`'s exact solver, distributed.

    Parameters
    ----------
    x, y : dask.array.Array (or NumPy arrays), or a list of (x, y) pairs
        As for :func:`convgrad.fit`: one recording ``fit(x, y, ...)`` or ``fit(pairs, ...)``;
        1-D, each x and y of one length, one dtype (float32 or float64) throughout. Any
        chunking: the work follows the library's chunk plan, not the arrays' blocks.
    kernel_size, lo, hi, half_width : int, optional
        The taps, as for :func:`convgrad.fit`.
    solver : "exact"
        The normal equations, summed on the workers and solved once.
    ridge : float, optional
        Ridge weight ``lambda >= 0``.
    chunk_rows : int, optional
        Rows per chunk of the plan (default: the library's, as :func:`convgrad.fit` uses).
        Runs that must agree to the last bit use the same value.
    scheduler : optional
        Passed to ``dask.compute`` (default: the active distributed client, else Dask's default).

    Returns
    -------
    FitResult
        As :func:`convgrad.fit` returns: the same taps, loss, gradient norm, per-pair losses
        and condition number to the last bit (``seconds`` is this call's wall time).

    Raises
    ------
    TypeError, ValueError, numpy.linalg.LinAlgError
        As :func:`convgrad.fit`: a NaN or infinity in any block is the in-memory fit's
        ValueError naming the pair and the sample; singular normal equations ask for a ridge.
    """
    start = time.perf_counter()
    pairs = _pairs(x, y)
    lo, hi = _checks.tap_range(kernel_size, lo, hi, half_width)
    if solver != "exact":
        raise ValueError(f"solver = {solver!r}: convgrad.dask.fit has the exact solver only "
                         f"(use convgrad.fit for the iterative solvers)")
    ridge = _checks.as_float("ridge", ridge)
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge = {ridge} must be a finite number >= 0")
    raw = _exact(pairs, lo, hi, ridge, _chunk_rows(chunk_rows), scheduler)
    raw["seconds"] = time.perf_counter() - start
    return FitResult(raw)
