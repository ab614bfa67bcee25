"""Argument checks shared by every public function: once, here, with messages that name the
argument. Nothing in this module is public API."""

import operator
import warnings

import numpy as np

from . import _core

METHODS = ("auto", "reference", "direct", "fft", "jacobian")


def as_signal(name, a):
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


def is_number_list(a):
    """True for a Python list or tuple (not an array) of ints and floats, which NumPy's own
    functions take as readily as an array."""
    return isinstance(a, (list, tuple)) and np.asarray(a).dtype.kind in "iuf"


def as_list_signal(name, a, dtype):
    """A list of numbers as a 1-D array of `dtype` (the value a Python float or int denotes;
    ints beyond 2**53 round as float64 does)."""
    return as_signal(name, np.asarray(a, dtype=dtype))


def signals(**named):
    """Check several arrays at once: each as in as_signal, and all of one dtype.

    Python lists of ints and floats are taken as NumPy would: as arrays of the dtype of the
    arrays given with them (float32 beside a float32 array), else float64."""
    arrays = {name: as_signal(name, a) for name, a in named.items() if not is_number_list(a)}
    dtypes = {arr.dtype for arr in arrays.values()}
    list_dtype = dtypes.pop() if len(dtypes) == 1 else np.dtype(np.float64)
    out = {name: arrays[name] if name in arrays else as_list_signal(name, a, list_dtype)
           for name, a in named.items()}
    dtypes = {name: arr.dtype for name, arr in out.items()}
    first_name, first = next(iter(dtypes.items()))
    for name, dtype in dtypes.items():
        if dtype != first:
            raise TypeError(
                f"{name} has dtype {dtype} but {first_name} has {first}; convgrad does not mix "
                f"float32 and float64 in one call (convert one of them explicitly)")
    return tuple(out.values())


def is_integer(value):
    """True for a Python or NumPy integer (not a bool): what as_int accepts."""
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def as_int(name, value, optional=False):
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


def as_float(name, value):
    """A real-number argument (int or float, Python or NumPy; not bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def method_name(method):
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {', '.join(METHODS)}; got {method!r}")
    return method


def renamed(old, new, old_value, new_value, stacklevel=4):
    """The value of a keyword renamed from `old` to `new`: the new one, or the old one with a
    DeprecationWarning (both at once is a TypeError, as for any duplicated argument)."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise TypeError(f"give {new} only ({old} is its deprecated name), not both")
    warnings.warn(f"{old}= is deprecated: use {new}= (the number of taps K)", DeprecationWarning,
                  stacklevel=stacklevel)
    return old_value


def tap_range(kernel_size, lo, hi, half_width=None):
    """(lo, hi) from ``kernel_size=K`` (and optionally `lo`), from ``half_width=M`` (the
    centred ``-M..M``), or from `lo` and `hi`."""
    K = as_int("kernel_size", kernel_size, optional=True)
    M = as_int("half_width", half_width, optional=True)
    lo = as_int("lo", lo, optional=True)
    hi = as_int("hi", hi, optional=True)
    if M is not None:
        if K is not None or lo is not None or hi is not None:
            raise ValueError("give half_width alone (the taps -M..M), not with kernel_size, lo or hi")
        if M < 0:
            raise ValueError(f"half_width = {M} must be >= 0 (the taps -M..M)")
        return -M, M
    if K is not None and hi is not None:
        raise ValueError("give kernel_size (and optionally lo), or lo and hi; not kernel_size and hi")
    if K is None:
        if lo is None or hi is None:
            raise ValueError("the filter's taps are not given: pass kernel_size=K (and optionally "
                             "lo), half_width=M, or lo and hi")
        return lo, hi
    return _core.tap_range(K, lo)


class KeyedByK(dict):
    """A result dict whose number of taps is "K"; reading its deprecated name "taps" warns."""

    def __getitem__(self, key):
        if key == "taps":
            warnings.warn('the key "taps" is deprecated: use "K" (the number of taps)',
                          DeprecationWarning, stacklevel=2)
        return super().__getitem__(key)
