"""convgrad inside PyTorch: the learnable filter as an autograd function and an nn.Module.

``conv_same(x, h, lo)`` computes ``yhat[b, n] = sum_{m=lo..hi} h[m] x[b, n-m]`` ('same'
length, x zero outside the signal) with convgrad's C++ core, and its backward with
convgrad's gradients::

    dL/dx[b, k] = sum_m h[m] g[b, k+m]           (grad_input: g correlated with h)
    dL/dh[m]    = sum_b sum_n x[b, n-m] g[b, n]   (grad_kernel: g correlated with x, summed
                                                   over the batch, since h is shared)

for any upstream gradient ``g = dL/dyhat``. The three maps -- conv, grad_kernel and
grad_input -- are each bilinear, and the derivative of each is again one of the three
(derived beside each backward below), so the backward is built from the same autograd
functions and is itself differentiable: double backward, Hessian-vector products and
``torch.autograd.gradgradcheck`` work, all computed by convgrad.

PyTorch's own ``F.conv1d`` computes a cross-correlation, ``out[n] = sum_j w[j] xpad[n + j]``,
so it is the same filter with the taps flipped and the input padded by ``hi`` zeros on the
left and ``-lo`` on the right (for ``lo <= 0 <= hi``)::

    # x of shape (B, N), h of shape (K,), hi = lo + K - 1
    conv_same(x, h, lo) == F.conv1d(F.pad(x, (hi, -lo))[:, None], h.flip(0)[None, None])[:, 0]

``padding='same'`` pads ``(K-1)//2`` on the left and the rest on the right, which is
``lo = -(K//2)``: the centred filter for an odd ``K`` (``lo = -(K-1)/2``, the default) and,
for an even ``K``, one more tap before the centre than after (``K = 4``: ``lo = -2``, taps
``m = -2..1``). So ``F.conv1d(x, w, padding='same') == conv_same(x, w.flip(0), lo=-(K//2))``.

Tensors: CPU, float32 or float64 (x and h alike; nothing is cast), x of shape (N,) or
(B, N), h of shape (K,). Errors as in :mod:`convgrad`: TypeError for wrong types, dtypes or
devices, ValueError for bad shapes and values (including NaN or infinity, in the forward
inputs or in an upstream gradient).
"""

import math

import torch

from . import _checks, _core
from ._tuning import after_auto

__all__ = ["conv_same", "ConvSame"]


def _array(t):
    """A C-contiguous NumPy view of a CPU tensor (a copy only if the tensor is strided)."""
    return t.detach().contiguous().numpy()


def _rows(t):
    return torch.from_numpy(t)


class _Conv(torch.autograd.Function):
    """Y[b] = h * X[b] for X of shape (B, N), h of shape (K,), taps m = lo..lo+K-1."""

    @staticmethod
    def forward(ctx, x, h, lo):
        ctx.lo = lo
        ctx.save_for_backward(x, h)
        return _rows(_core.conv_rows(_array(h), _array(x), lo))

    @staticmethod
    def backward(ctx, g):
        # Forward: Y[b, n] = sum_m h[m] X[b, n-m]. So
        #   dL/dX[b, k] = sum_m h[m] g[b, k+m]         = grad_input(h, g)
        #   dL/dh[m]    = sum_b sum_n X[b, n-m] g[b, n] = grad_kernel(X, g)
        x, h = ctx.saved_tensors
        dx = _GradInput.apply(h, g, ctx.lo) if ctx.needs_input_grad[0] else None
        dh = _GradKernel.apply(x, g, h.shape[0], ctx.lo) if ctx.needs_input_grad[1] else None
        return dx, dh, None


class _GradKernel(torch.autograd.Function):
    """dh[m] = sum_b sum_n X[b, n-m] R[b, n], m = lo..lo+K-1: shape (K,)."""

    @staticmethod
    def forward(ctx, x, r, K, lo):
        ctx.lo = lo
        ctx.save_for_backward(x, r)
        return torch.from_numpy(_core.grad_kernel_rows(_array(x), _array(r), K, lo))

    @staticmethod
    def backward(ctx, gdh):
        # Forward: dh[m] = sum_b sum_n X[b, n-m] R[b, n]. With upstream gdh (K,):
        #   d/dX[b, k] = sum_m gdh[m] R[b, k+m]  = grad_input(gdh, R)   (k = n - m)
        #   d/dR[b, n] = sum_m gdh[m] X[b, n-m]  = conv(gdh, X)
        x, r = ctx.saved_tensors
        dx = _GradInput.apply(gdh, r, ctx.lo) if ctx.needs_input_grad[0] else None
        dr = _Conv.apply(x, gdh, ctx.lo) if ctx.needs_input_grad[1] else None
        return dx, dr, None, None


class _GradInput(torch.autograd.Function):
    """DX[b, k] = sum_m h[m] R[b, k+m] (R zero outside the signal): shape (B, N)."""

    @staticmethod
    def forward(ctx, h, r, lo):
        ctx.lo = lo
        ctx.save_for_backward(h, r)
        return _rows(_core.grad_input_rows(_array(h), _array(r), lo))

    @staticmethod
    def backward(ctx, gdx):
        # Forward: DX[b, k] = sum_m h[m] R[b, k+m]. With upstream gdx (B, N), n = k + m:
        #   d/dh[m]    = sum_b sum_n gdx[b, n-m] R[b, n] = grad_kernel(gdx, R)
        #   d/dR[b, n] = sum_m h[m] gdx[b, n-m]          = conv(h, gdx)
        h, r = ctx.saved_tensors
        dh = _GradKernel.apply(gdx, r, h.shape[0], ctx.lo) if ctx.needs_input_grad[0] else None
        dr = _Conv.apply(gdx, h, ctx.lo) if ctx.needs_input_grad[1] else None
        return dh, dr, None


def _check_tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise TypeError(f"{name} is on {t.device}; convgrad.torch computes on CPU tensors only")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} has dtype {t.dtype}; convgrad computes in float32 or float64 "
                        f"and does not cast silently")


def conv_same(x, h, lo=None):
    """Filter with a learnable kernel, 'same' length, differentiable in x and h by convgrad.

    ``yhat[..., n] = sum_{m=lo..hi} h[m] x[..., n-m]``, x zero outside the signal.

    Parameters
    ----------
    x : torch.Tensor, shape (N,) or (B, N), float32 or float64, CPU
        Signal, or a batch of B signals that share the filter.
    h : torch.Tensor, shape (K,), same dtype as `x`
        Filter; ``h[j]`` is tap ``m = lo + j``.
    lo : int, optional
        First tap m; default ``-(K-1)//2``, the centred filter (odd K only).

    Returns
    -------
    yhat : torch.Tensor, shape of `x`
        The prediction. Gradients flow to `x` and `h` (dh summed over the batch), and
        the backward is itself differentiable (double backward works).

    Raises
    ------
    TypeError
        Non-tensors, non-CPU tensors, dtypes other than float32/float64, mixed dtypes.
    ValueError
        `x` not 1-D or 2-D, `h` not 1-D, empty signals, NaN or infinity, even K without `lo`.

    Notes
    -----
    Equals ``torch.nn.functional.conv1d(x[:, None], h.flip(0)[None, None], padding=M)``
    for the centred filter ``K = 2M + 1`` (conv1d is a cross-correlation, hence the flip).

    Examples
    --------
    >>> import torch
    >>> from convgrad.torch import conv_same
    >>> h = torch.tensor([1., 2., 3.], dtype=torch.float64, requires_grad=True)
    >>> yhat = conv_same(torch.arange(1., 6., dtype=torch.float64), h)
    >>> yhat.detach()
    tensor([ 4., 10., 16., 22., 22.], dtype=torch.float64)
    """
    _check_tensor("x", x)
    _check_tensor("h", h)
    if x.dtype != h.dtype:
        raise TypeError(f"h has dtype {h.dtype} but x has {x.dtype}; convgrad does not mix "
                        f"float32 and float64 (convert one explicitly, e.g. module.double())")
    if x.dim() not in (1, 2):
        raise ValueError(f"x must have shape (N,) or (B, N), got {tuple(x.shape)}")
    if h.dim() != 1:
        raise ValueError(f"h must have shape (K,), got {tuple(h.shape)}")
    lo, _ = _core.tap_range(h.shape[0], _checks.as_int("lo", lo, optional=True))
    yhat = _Conv.apply(x.unsqueeze(0), h, lo).squeeze(0) if x.dim() == 1 else _Conv.apply(x, h, lo)
    after_auto("auto")  # the batched operations choose their method as "auto" does
    return yhat


class ConvSame(torch.nn.Module):
    """A learnable 1-D filter as a layer: ``forward(x) = conv_same(x, self.h, self.lo)``.

    Parameters
    ----------
    kernel_size : int
        Number of taps K (as in ``torch.nn.Conv1d``).
    lo : int, optional
        First tap m; default ``-(K-1)//2``, the centred filter (odd K only).
    dtype : torch.dtype, optional
        float32 or float64; default ``torch.get_default_dtype()``. Inputs must match
        (use ``.double()`` / ``.float()`` to convert the module).
    taps : int, optional
        Deprecated name of `kernel_size` (DeprecationWarning).

    Attributes
    ----------
    h : torch.nn.Parameter, shape (K,)
        The filter, ``h[j]`` = tap ``m = lo + j``. Initialised like ``torch.nn.Conv1d``
        with one input channel: uniform on ``[-1/sqrt(K), 1/sqrt(K)]`` (reproducible under
        ``torch.manual_seed``); call :meth:`reset_parameters` to redraw.
    lo, hi : int
        The tap range.

    Examples
    --------
    >>> import torch
    >>> from convgrad.torch import ConvSame
    >>> layer = ConvSame(5, dtype=torch.float64)
    >>> layer(torch.randn(8, 100, dtype=torch.float64)).shape
    torch.Size([8, 100])
    """

    def __init__(self, kernel_size=None, lo=None, *, dtype=None, taps=None):
        super().__init__()
        kernel_size = _checks.renamed("taps", "kernel_size", taps, kernel_size, stacklevel=3)
        K = _checks.as_int("kernel_size", kernel_size)
        self.lo, self.hi = _core.tap_range(K, _checks.as_int("lo", lo, optional=True))
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.h = torch.nn.Parameter(torch.empty(K, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        """Redraw h uniformly on [-1/sqrt(K), 1/sqrt(K)], as torch.nn.Conv1d does."""
        bound = 1.0 / math.sqrt(self.h.shape[0])
        with torch.no_grad():
            self.h.uniform_(-bound, bound)

    def forward(self, x):
        return conv_same(x, self.h, self.lo)

    def extra_repr(self):
        return f"kernel_size={self.h.shape[0]}, lo={self.lo}, hi={self.hi}"
