"""Adaptive filters: learn the taps while the signal streams (docs/adaptive.md).

The model and signs are the library's: taps ``m = lo..lo+K-1`` with ``lo >= 0`` (causal, or
delayed by ``lo``), ``yhat[n] = sum_m h[m] x[n-m]`` with ``x = 0`` before the stream starts,
and the residual ``r = yhat - y``. Each filter descends ``L = 1/2 sum r^2``; the gradient of
one sample's loss with respect to ``h[m]`` is ``r[n] x[n-m]``.

* :class:`LMS` -- ``h[m] -= mu r[n] x[n-m]``
* :class:`NLMS` -- the same step divided by ``delta + ||x_n||^2`` (stable for ``0 < mu < 2``)
* :class:`SignLMS` -- ``h[m] -= mu sign(r[n]) x[n-m]``
* :class:`RLS` -- the exact minimiser of the exponentially weighted loss (``lam`` in (0, 1])
  plus ``delta/2 ||h||^2``; with ``lam = 1`` it equals ``convgrad.fit`` with ``ridge=delta``
  on the samples seen so far
* :class:`FDAF` -- partitioned-block frequency-domain filter (block LMS with a per-bin
  normalised step, its gradient computed through FFTs)

Every filter is a state object::

    f = convgrad.adaptive.NLMS(taps=512, mu=0.5)
    for x_block, y_block in blocks:
        yhat, r = f.process(x_block, y_block)   # e = -r is the echo-cancelled signal
    f.h                                          # the taps, a NumPy array

``process`` may be given the stream in pieces of any size: the results are the same (bit for
bit; for the FDAF for pieces that are multiples of its block, and otherwise its taps still are).
The state copies (``copy.copy``, ``copy.deepcopy``) and pickles. The GIL is released while a
block is processed, so filters in several threads run in parallel.

Errors: ``ValueError`` for a parameter outside its range (the message names it and the range)
and for a NaN or infinity in a block (the message gives the index; the filter is unchanged);
``TypeError`` for arrays that are not float32/float64 or not of the filter's dtype;
:class:`DivergedError` (a ``RuntimeError``) when the filter diverges, with the stream index
in ``.sample``.
"""

import numpy as np

from . import _checks, _core

__all__ = ["LMS", "NLMS", "SignLMS", "RLS", "FDAF", "DivergedError"]

DivergedError = _core.DivergedError

_CORE = {np.dtype(np.float32): _core.AdaptiveFilter32, np.dtype(np.float64): _core.AdaptiveFilter64}


def _dtype_of(dtype):
    dt = np.dtype(dtype)
    if dt not in _CORE:
        raise TypeError(f"dtype: {dt} is not float32 or float64")
    return dt


def _block(a, name, dtype):
    """A 1-D C-contiguous array of the filter's dtype (nothing is cast silently; a Python list
    of ints and floats takes the filter's dtype, as NumPy would take it)."""
    a = np.asarray(a, dtype=dtype) if _checks.is_number_list(a) else np.asarray(a)
    if a.dtype != dtype:
        raise TypeError(f"{name}: dtype {a.dtype} does not match the filter's {dtype}")
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {a.shape}")
    return np.ascontiguousarray(a)


class _Filter:
    """The shared machinery; use one of the algorithm classes."""

    _algorithm = ""

    def __init__(self, taps, lo=0, mu=None, delta=None, lam=1.0, block=0, partitions=0, normalise=True,
                 dtype=np.float64, divergence_window=8192, divergence_ratio=1e6):
        if isinstance(taps, bool) or not isinstance(taps, (int, np.integer)):
            raise TypeError(f"taps: expected an integer number of taps, got {type(taps).__name__}")
        if isinstance(lo, bool) or not isinstance(lo, (int, np.integer)):
            raise TypeError(f"lo: expected an integer, got {type(lo).__name__}")
        if taps < 1:
            raise ValueError(f"taps: K = {taps} must be at least 1")
        self._dtype = _dtype_of(dtype)
        self._f = _CORE[self._dtype](
            self._algorithm, int(taps), int(lo), None if mu is None else float(mu),
            None if delta is None else float(delta), float(lam), int(block), int(partitions), bool(normalise),
            int(divergence_window), float(divergence_ratio))

    def process(self, x, y):
        """The next samples: returns ``(yhat, r)`` with ``r = yhat - y``, and updates the taps."""
        x = _block(x, "x", self._dtype)
        y = _block(y, "y", self._dtype)
        if x.shape != y.shape:
            raise ValueError(f"y has {y.size} samples but x has {x.size}")
        return self._f.process(x, y)

    @property
    def h(self):
        """The taps ``h[j]`` for ``m = lo + j`` (a copy); assign to set them."""
        return self._f.h()

    @h.setter
    def h(self, value):
        value = _block(value, "h", self._dtype)
        self._f.set_h(value)

    @property
    def lo(self):
        return self._f.lo

    @property
    def K(self):
        return self._f.K

    @property
    def dtype(self):
        return self._dtype

    @property
    def samples(self):
        """How many samples the filter has processed."""
        return self._f.samples

    @property
    def options(self):
        """The parameters in use (defaults filled in)."""
        return dict(self._f.options)

    def __getstate__(self):
        return {"dtype": self._dtype.str, "state": self._f.save()}

    def __setstate__(self, state):
        self._dtype = _dtype_of(state["dtype"])
        self._f = _CORE[self._dtype].restore(state["state"])

    def __copy__(self):
        new = object.__new__(type(self))
        new._dtype = self._dtype
        new._f = self._f.clone()
        return new

    def __deepcopy__(self, memo):
        return self.__copy__()

    def __repr__(self):
        opts = ", ".join(f"{k}={v:g}" for k, v in self.options.items())
        return (f"convgrad.adaptive.{type(self).__name__}(taps={self.K}, lo={self.lo}, {opts}, "
                f"dtype={self._dtype.name}, samples={self.samples})")


class LMS(_Filter):
    """Least mean squares: ``h[m] -= mu r[n] x[n-m]`` (mu > 0, default 0.01; stable below
    2 / (K times the input power))."""

    _algorithm = "lms"

    def __init__(self, taps, mu=None, lo=0, dtype=np.float64, **kw):
        super().__init__(taps, lo=lo, mu=mu, dtype=dtype, **kw)


class NLMS(_Filter):
    """Normalised LMS: ``h[m] -= mu r[n] x[n-m] / (delta + ||x_n||^2)``, 0 < mu < 2
    (default 0.5), delta >= 0 (default 1e-6 K)."""

    _algorithm = "nlms"

    def __init__(self, taps, mu=None, delta=None, lo=0, dtype=np.float64, **kw):
        super().__init__(taps, lo=lo, mu=mu, delta=delta, dtype=dtype, **kw)


class SignLMS(_Filter):
    """Sign-error LMS: ``h[m] -= mu sign(r[n]) x[n-m]`` (mu > 0, default 0.001)."""

    _algorithm = "sign-lms"

    def __init__(self, taps, mu=None, lo=0, dtype=np.float64, **kw):
        super().__init__(taps, lo=lo, mu=mu, dtype=dtype, **kw)


class RLS(_Filter):
    """Recursive least squares with forgetting factor ``lam`` in (0, 1] (default 1) and
    ``P = I / delta`` at the start (delta > 0, default 1e-2: the ridge weight)."""

    _algorithm = "rls"

    def __init__(self, taps, lam=1.0, delta=None, lo=0, dtype=np.float64, **kw):
        super().__init__(taps, lo=lo, lam=lam, delta=delta, dtype=dtype, **kw)


class FDAF(_Filter):
    """Partitioned-block frequency-domain adaptive filter: blocks of ``block`` samples,
    ``partitions`` partitions (defaults from K), per-bin normalised step 0 < mu <= 1
    (default 0.5), delta > 0 (default 1e-6, a per-sample power). ``normalise=False`` gives
    constrained block LMS."""

    _algorithm = "fdaf"

    def __init__(self, taps, mu=None, delta=None, block=0, partitions=0, normalise=True, lo=0,
                 dtype=np.float64, **kw):
        super().__init__(taps, lo=lo, mu=mu, delta=delta, block=block, partitions=partitions,
                         normalise=normalise, dtype=dtype, **kw)
