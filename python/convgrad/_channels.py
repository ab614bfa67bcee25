"""Many channels: the batched multi-channel filter of a convolutional layer and its gradients
(the library's convgrad/channels.hpp), on NumPy arrays.

Shapes: x (B, C_in, N_in), W (C_out, C_in/groups, K), bias (C_out,), y and r (B, C_out, N_out);
``W[o, c', j]`` is tap ``m = lo + j``; dilation d; output channel o sees the input channels
of its group ``c = (o // (C_out/groups)) * C_in/groups + c'``::

    y[b, o, n]   = bias[o] + sum_{c'} sum_j W[o, c', j] x[b, c, n - d (lo + j)]     n < N_out
    dW[o, c', j] = sum_b sum_n x[b, c, n - d (lo + j)] r[b, o, n]
    dx[b, c, k]  = sum_{o in group(c)} sum_j W[o, c', j] r[b, o, k + d (lo + j)]
    dbias[o]     = sum_b sum_n r[b, o, n]

x is zero outside [0, N_in) and r outside [0, N_out). This is the library's convolution (the
single-channel ``conv`` with channels), not PyTorch's cross-correlation: ``convgrad.torch``'s
``conv1d`` and ``Conv1d`` map PyTorch's layer onto it.
"""

import numpy as np

from . import _checks, _core

__all__ = ["conv_channels", "grad_channels", "train_step_channels"]


def _tensor3(name, a, layout, batched_ok=False):
    """A C-contiguous, aligned, native float32/float64 array of 3 dimensions (or 2 when
    `batched_ok`: one example without its batch axis, given one), and whether the axis was added.
    Copies only when the layout needs it; never changes the float type."""
    arr = np.asarray(a)
    if arr.dtype.kind != "f" or arr.dtype.itemsize not in (4, 8):
        raise TypeError(f"{name} has dtype {arr.dtype}; convgrad computes in float32 or float64 and does "
                        f"not cast silently (convert explicitly, e.g. {name}.astype(numpy.float64))")
    added = batched_ok and arr.ndim == 2
    if added:
        arr = arr[None]
    if arr.ndim != 3:
        allowed = f"{layout} or its unbatched 2-D form" if batched_ok else layout
        raise ValueError(f"{name} must have shape {allowed}, got {arr.shape}")
    return np.require(arr, dtype=arr.dtype.newbyteorder("="), requirements=["C_CONTIGUOUS", "ALIGNED"]), added


def _same_dtype(**named):
    first_name, first = next(iter(named.items()))
    for name, arr in named.items():
        if arr is not None and arr.dtype != first.dtype:
            raise TypeError(f"{name} has dtype {arr.dtype} but {first_name} has {first.dtype}; convgrad "
                            f"does not mix float32 and float64 in one call (convert one explicitly)")


def _bias(bias, dtype):
    if bias is None:
        return np.empty(0, dtype=dtype)
    (b,) = _checks.signals(bias=bias)
    return b


def _options(W, lo, dilation, groups):
    """(lo, dilation, groups) checked: lo defaults to the centred range of W's K taps."""
    K = W.shape[2]
    lo, _ = _core.tap_range(K, _checks.as_int("lo", lo, optional=True))
    dilation, groups = _checks.as_int("dilation", dilation), _checks.as_int("groups", groups)
    for name, v in (("dilation", dilation), ("groups", groups)):
        if v < 1:
            raise ValueError(f"{name} = {v} must be >= 1")
    return lo, dilation, groups


def conv_channels(x, W, bias=None, lo=None, *, dilation=1, groups=1, n_out=None, method="auto"):
    """The multi-channel filter ``y = bias + W * x`` (module docstring), N_out samples out.

    Parameters
    ----------
    x : array_like, shape (B, C_in, N_in) or (C_in, N_in)
    W : array_like, shape (C_out, C_in/groups, K), dtype of `x`
    bias : array_like, shape (C_out,), optional
    lo : int, optional
        First tap m; default the centred ``-(K-1)//2`` (odd K only).
    dilation, groups : int, optional
    n_out : int, optional
        Output length; default N_in (the library's 'same' length).
    method : {"auto", "reference", "direct", "fft"}, optional

    Returns
    -------
    y : ndarray, shape (B, C_out, N_out), or (C_out, N_out) for an unbatched `x`

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> x = np.array([[[1., 2., 3., 4., 5.]]])
    >>> convgrad.conv_channels(x, np.array([[[1., 2., 3.]]]))
    array([[[ 4., 10., 16., 22., 22.]]])
    """
    x, unbatched = _tensor3("x", x, "(B, C_in, N_in)", batched_ok=True)
    W, _ = _tensor3("W", W, "(C_out, C_in/groups, K)")
    _same_dtype(x=x, W=W)
    b = _bias(bias, x.dtype)
    _same_dtype(x=x, bias=b)
    lo, dilation, groups = _options(W, lo, dilation, groups)
    n_out = x.shape[2] if n_out is None else _checks.as_int("n_out", n_out)
    if n_out < 1:
        raise ValueError(f"n_out = {n_out} must be >= 1")
    y = _core.conv_channels(x, W, b, lo, dilation, groups, n_out, _checks.method_name(method))
    return y[0] if unbatched else y


def grad_channels(x, r, W, lo=None, *, dilation=1, groups=1, method="auto"):
    """The gradients ``(dx, dW, dbias)`` of any loss with ``r = dL/dy`` (module docstring).

    `x` (B, C_in, N_in), `r` (B, C_out, N_out) (both may drop the batch axis together), `W`
    (C_out, C_in/groups, K). dW and dbias are summed over the batch.

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> dx, dW, dbias = convgrad.grad_channels(np.ones((1, 1, 4)), np.ones((1, 1, 4)), np.ones((1, 1, 3)))
    >>> dW, dbias
    (array([[[3., 4., 3.]]]), array([4.]))
    """
    x, unbatched = _tensor3("x", x, "(B, C_in, N_in)", batched_ok=True)
    r, r_unbatched = _tensor3("r", r, "(B, C_out, N_out)", batched_ok=True)
    if unbatched != r_unbatched:
        raise ValueError("x and r must both have a batch axis or both not")
    W, _ = _tensor3("W", W, "(C_out, C_in/groups, K)")
    _same_dtype(x=x, r=r, W=W)
    lo, dilation, groups = _options(W, lo, dilation, groups)
    dx, dW, dbias = _core.grad_channels(x, W, r, lo, dilation, groups, True, True, True,
                                        _checks.method_name(method))
    return (dx[0] if unbatched else dx), dW, dbias


def train_step_channels(x, y, W, bias=None, lo=None, *, dilation=1, groups=1, method="auto"):
    """The fused training step for the target `y`: ``(loss, dW, dbias)`` of
    ``loss = 1/2 ||bias + W * x - y||^2`` without storing the prediction (dbias is None when
    `bias` is). N_out is y's length.

    Examples
    --------
    >>> import numpy as np, convgrad
    >>> loss, dW, dbias = convgrad.train_step_channels(np.ones((1, 1, 4)), np.zeros((1, 1, 4)),
    ...                                                np.ones((1, 1, 3)))
    >>> loss, dW
    (13.0, array([[[ 8., 10.,  8.]]]))
    """
    x, unbatched = _tensor3("x", x, "(B, C_in, N_in)", batched_ok=True)
    y, y_unbatched = _tensor3("y", y, "(B, C_out, N_out)", batched_ok=True)
    if unbatched != y_unbatched:
        raise ValueError("x and y must both have a batch axis or both not")
    W, _ = _tensor3("W", W, "(C_out, C_in/groups, K)")
    _same_dtype(x=x, y=y, W=W)
    b = _bias(bias, x.dtype)
    _same_dtype(x=x, bias=b)
    lo, dilation, groups = _options(W, lo, dilation, groups)
    loss, dW, dbias = _core.train_step_channels(x, W, b, y, lo, dilation, groups, _checks.method_name(method))
    return loss, dW, dbias
