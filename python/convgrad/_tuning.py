"""The measured choice of ``method="auto"`` (docs/tune.md): turning it on, timing a problem now,
and passing the tuning cache's problems on as warnings."""

import json
import os
import warnings

import numpy as np

from . import _checks, _core


def after_auto(method, stacklevel=3):
    """Call after every operation run with `method`: when it was "auto", pass on a
    tuning-cache problem the library met as a RuntimeWarning.

    With tuning on, "auto" reads and writes the cache file; when that fails (unreadable,
    corrupt, not writable) the library still computes, with the cost model's choice, and
    keeps one message for the caller. ``_core.take_tune_warning()`` returns it (or None) and
    clears it, so each problem is reported once. `stacklevel` points the warning at the
    user's line (the default suits a public function calling this directly).
    """
    if method != "auto":
        return
    message = _core.take_tune_warning()
    if message:
        warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)


def set_tuning(enabled=True, cache=None):
    """Turn the measured choice of ``method="auto"`` on or off for this process.

    With tuning on, the first "auto" call for a problem (dtype, N, the taps, the thread
    count, the machine) times one training step by "direct" and by "fft" and keeps the
    faster, in memory and in a JSON cache file; later calls, here or in another process, use
    that record. Results are bitwise those of the method chosen. Without a call, tuning is on
    when the environment variable ``CONVGRAD_TUNE`` is 1. A cache file that cannot be read or
    written is reported as a RuntimeWarning by the "auto" call that met it.

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
    path = "" if cache is None else os.fspath(cache)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    _core.set_tuning(bool(enabled), path)


def tuning_enabled():
    """True when ``method="auto"`` uses measured choices (:func:`set_tuning`, ``CONVGRAD_TUNE``)."""
    return _core.tuning_enabled()


def tune(n, kernel_size=None, *, lo=None, hi=None, half_width=None, dtype="float64", taps=None):
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
    kernel_size : int, optional
        Number of taps K, as ``len(h)``; with `lo` unset the filter is centred (odd K).
    lo, hi : int, optional
        The tap range ``m = lo..hi``: give `kernel_size` (and optionally `lo`), or `lo` and `hi`.
    half_width : int, optional
        M, for the centred taps ``m = -M..M`` (instead of the above).
    dtype : {"float64", "float32"} or numpy dtype, optional
        The precision to time.
    taps : int, optional
        Deprecated name of `kernel_size` (DeprecationWarning).

    Returns
    -------
    record : dict
        The key: ``dtype``, ``n``, ``lo``, ``hi``, ``K`` (the number of taps), ``threads``,
        ``target`` (the SIMD instruction set) and ``hardware_threads``. The result:
        ``choice`` ("direct" or "fft"), ``model_choice`` (the cost model's), ``direct_s`` and
        ``fft_s`` (best seconds of one step; None for a method not timed), ``source``
        ("measured", or "model: ..." saying why a method was not timed) and ``cache`` (the
        file the record was saved to; None if it could not be written, with a
        RuntimeWarning). ``"taps"`` is the deprecated name of ``"K"``.

    Raises
    ------
    TypeError
        Non-integer `n`, `kernel_size`, `lo` or `hi`; a dtype other than float32 or float64.
    ValueError
        ``n < 1``, no tap range or a contradictory one, an even K without `lo`.

    Examples
    --------
    >>> import os, tempfile, convgrad
    >>> convgrad.set_tuning(False, cache=os.path.join(tempfile.mkdtemp(), "tune.json"))
    >>> rec = convgrad.tune(10000, kernel_size=31, dtype="float32")
    >>> rec["choice"] in ("direct", "fft"), rec["K"], rec["cache"].endswith("tune.json")
    (True, 31, True)
    >>> convgrad.set_tuning(False)
    """
    n = _checks.as_int("n", n)
    if n < 1:
        raise ValueError(f"n = {n} must be >= 1 (the signal length)")
    kernel_size = _checks.renamed("taps", "kernel_size", taps, kernel_size, stacklevel=3)
    lo, hi = _checks.tap_range(kernel_size, lo, hi, half_width)
    try:
        kind = np.dtype(dtype)
    except TypeError:
        kind = None
    if kind is None or kind not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")
    text, saved, warning = _core.tune(kind.name, n, lo, hi)
    if warning:
        warnings.warn(warning, RuntimeWarning, stacklevel=2)
    record = _checks.KeyedByK(json.loads(text))
    record["K"] = record["hi"] - record["lo"] + 1
    record["taps"] = record["K"]
    record["cache"] = saved or None
    return record
