"""Taps files: learned taps on disk with their tap range and the sample rate they were learned at.

The formats are the command line's (``convgrad fit --out``, ``convgrad apply --h``), read and
written by the C++ library (``convgrad/taps_file.hpp``)::

    .json   {"lo": L, "hi": H, "K": K, "h": [...], "sample_rate": R}
    .csv    (or any text) "# convgrad taps m = L..H (lo = L) (sample_rate = R)", then one tap per line
    .npy    the K values only: no room for the range or the rate

A file that records no range (``.npy``, text without the header) means the centred taps
``m = -(K-1)/2..(K-1)/2`` of an odd ``K``, the same convention as ``lo=None`` everywhere in
convgrad; so a range that is not centred is refused for ``.npy`` (write ``.json`` or ``.csv``).

Errors: ``OSError`` for a file that cannot be read or written or does not hold valid taps (the
message names the file); ``ValueError`` for bad values (an even ``K`` without ``lo``, a
non-centred range for ``.npy``, a non-positive sample rate); ``TypeError`` for wrong types.
"""
import operator
import os

import numpy as np

from . import _core

__all__ = ["read_taps", "write_taps"]


def read_taps(path):
    """Read taps: ``(h, lo, sample_rate)``.

    ``h`` is a float64 array, ``h[j]`` being tap ``m = lo + j``; ``lo`` is the first tap the file
    records, or ``None`` when it records none (the centred convention: pass it on as ``lo=None``);
    ``sample_rate`` is in Hz, or ``None`` when the file does not record it.
    """
    return _core.read_taps(os.fspath(path))


def write_taps(path, h, lo, sample_rate=None):
    """Write taps ``h`` (``m = lo .. lo+K-1``; ``lo=None``: centred, odd ``K``) in the format of
    the file name's extension, with the range and, where the format records it, the sample rate.

    The file appears complete or not at all (written beside its target, then renamed).
    """
    a = np.asarray(h)
    if a.dtype.kind not in "fiu" or a.dtype == np.float16:
        raise TypeError(f"h must hold real numbers (float32 or float64), got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"h must be 1-D, got shape {a.shape}")
    if lo is not None:
        if isinstance(lo, (bool, np.bool_)):
            raise TypeError(f"lo must be an integer or None, got {lo!r}")
        try:
            lo = operator.index(lo)
        except TypeError:
            raise TypeError(f"lo must be an integer or None, got {type(lo).__name__} {lo!r}") from None
    if sample_rate is not None:
        if isinstance(sample_rate, (bool, np.bool_)) or not isinstance(sample_rate, (int, float, np.number)):
            raise TypeError(f"sample_rate must be a number of Hz or None, got {sample_rate!r}")
        sample_rate = float(sample_rate)
    _core.write_taps(os.fspath(path), np.ascontiguousarray(a, dtype=np.float64), lo, sample_rate)
