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

Many channels: ``Conv1d`` is a drop-in ``torch.nn.Conv1d`` (its weight layout, names,
initialisation and cross-correlation, mapped onto convgrad's convolution by flipping the
weight), ``conv1d`` its functional form as ``torch.nn.functional.conv1d``, and
``conv_channels`` the library's own multi-channel convolution (convgrad/channels.hpp); their
backward is built the same way (see the section at the end of this file).

Tensors: CPU, float32 or float64 (x and h alike; nothing is cast), x of shape (N,) or
(B, N), h of shape (K,). Errors as in :mod:`convgrad`: TypeError for wrong types, dtypes or
devices, ValueError for bad shapes and values (including NaN or infinity, in the forward
inputs or in an upstream gradient).
"""

import math

import numpy as np
import torch

from . import _checks, _core
from ._tuning import after_auto

__all__ = ["conv_same", "ConvSame", "conv_channels", "conv1d", "Conv1d"]


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


# ---- many channels: the library's multi-channel filter and a drop-in torch.nn.Conv1d ----------
#
# The library computes a convolution (convgrad/channels.hpp, x zero outside [0, N_in)):
#
#   y[b, o, n] = sum_{c'} sum_j W[o, c', j] x[b, c, n - d (lo + j)]                 n < N_out
#
# and its three bilinear maps close under differentiation exactly as the single-channel ones
# above, so the backward is built from the same Functions and is itself differentiable:
#
#   Y  = conv(X, W):     dL/dX = grad_input(W, g),   dL/dW = grad_weight(X, g)
#   DW = grad_weight(X, R)[o, c', j] = sum_b sum_n X[b, c, n - d (lo + j)] R[b, o, n]
#        d/dX = grad_input(gDW, R),   d/dR = conv(X, gDW)
#   DX = grad_input(W, R)[b, c, k] = sum_{o, j} W[o, c', j] R[b, o, k + d (lo + j)]
#        d/dW = grad_weight(gDX, R),  d/dR = conv(gDX, W)


class _Geometry:
    """What the three maps share: taps lo.., dilation, groups, N_in, N_out, K."""

    __slots__ = ("lo", "dilation", "groups", "n_in", "n_out", "K")

    def __init__(self, lo, dilation, groups, n_in, n_out, K):
        self.lo, self.dilation, self.groups = lo, dilation, groups
        self.n_in, self.n_out, self.K = n_in, n_out, K


def _bilinear_map(doc, compute, grad_first, grad_second):
    """The autograd Function of Y = compute(a, b, geo) (NumPy arrays in and out), linear in a and
    in b: its backward is grad_first(a, b, g, geo) for a and grad_second(a, b, g, geo) for b, each
    one of these Functions again, so that the backward is differentiable too."""

    class _Map(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, geo):
            ctx.geo = geo
            ctx.save_for_backward(a, b)
            return torch.from_numpy(compute(_array(a), _array(b), geo))

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            da = grad_first(a, b, g, ctx.geo) if ctx.needs_input_grad[0] else None
            db = grad_second(a, b, g, ctx.geo) if ctx.needs_input_grad[1] else None
            return da, db, None

    _Map.__doc__ = doc
    return _Map


_ConvChannels = _bilinear_map(
    "Y = W * X: X (B, C_in, N_in), W (C_out, C_in/groups, K) -> Y (B, C_out, N_out).",
    lambda x, W, geo: _core.conv_channels(x, W, np.empty(0, x.dtype), geo.lo, geo.dilation, geo.groups, geo.n_out, "auto"),
    lambda x, W, g, geo: _GradInputChannels.apply(W, g, geo),
    lambda x, W, g, geo: _GradWeightChannels.apply(x, g, geo))

_GradWeightChannels = _bilinear_map(
    "DW[o, c', j] = sum_b sum_n X[b, c, n - d (lo + j)] R[b, o, n]: shape (C_out, C_in/groups, K).",
    lambda x, r, geo: _core.grad_weight_channels(x, r, geo.K, geo.lo, geo.dilation, geo.groups, "auto"),
    lambda x, r, gdW, geo: _GradInputChannels.apply(gdW, r, geo),
    lambda x, r, gdW, geo: _ConvChannels.apply(x, gdW, geo))

_GradInputChannels = _bilinear_map(
    "DX[b, c, k] = sum_{o in group(c)} sum_j W[o, c', j] R[b, o, k + d (lo + j)]: shape (B, C_in, N_in).",
    lambda W, r, geo: _core.grad_input_channels(W, r, geo.n_in, geo.lo, geo.dilation, geo.groups, "auto"),
    lambda W, r, gdx, geo: _GradWeightChannels.apply(gdx, r, geo),
    lambda W, r, gdx, geo: _ConvChannels.apply(gdx, W, geo))


def _positive_int(name, value):
    v = _checks.as_int(name, value)
    if v < 1:
        raise ValueError(f"{name} = {v} must be >= 1")
    return v


def _check_channel_tensors(x, W, x_name="x", W_name="W"):
    _check_tensor(x_name, x)
    _check_tensor(W_name, W)
    if x.dtype != W.dtype:
        raise TypeError(f"{W_name} has dtype {W.dtype} but {x_name} has {x.dtype}; convgrad does not mix "
                        f"float32 and float64 (convert one explicitly, e.g. module.double())")
    if x.dim() not in (2, 3):
        raise ValueError(f"{x_name} must have shape (B, C_in, N) or (C_in, N), got {tuple(x.shape)}")
    if W.dim() != 3:
        raise ValueError(f"{W_name} must have shape (C_out, C_in/groups, K), got {tuple(W.shape)}")


def conv_channels(x, W, lo=None, *, dilation=1, groups=1, n_out=None):
    """The library's multi-channel filter, differentiable in x and W by convgrad.

    ``y[b, o, n] = sum_{c'} sum_{j} W[o, c', j] x[b, c, n - d (lo + j)]`` for ``n < n_out``
    (a convolution: W[o, c', j] is tap ``m = lo + j``; x zero outside the signal), with
    output channel o reading the input channels of its group. The backward is itself
    differentiable (gradgradcheck passes). See :func:`conv1d` for PyTorch's convention.

    Parameters
    ----------
    x : torch.Tensor, shape (B, C_in, N_in) or (C_in, N_in), float32 or float64, CPU
    W : torch.Tensor, shape (C_out, C_in/groups, K), dtype of `x`
    lo : int, optional
        First tap m; default the centred ``-(K-1)//2`` (odd K only).
    dilation, groups : int, optional
    n_out : int, optional
        Output length; default N_in.

    Returns
    -------
    torch.Tensor, shape (B, C_out, n_out) (no batch axis if `x` had none)

    Examples
    --------
    >>> import torch
    >>> from convgrad.torch import conv_channels
    >>> x = torch.arange(1., 6., dtype=torch.float64).reshape(1, 1, 5)
    >>> conv_channels(x, torch.tensor([[[1., 2., 3.]]], dtype=torch.float64))
    tensor([[[ 4., 10., 16., 22., 22.]]], dtype=torch.float64)
    """
    _check_channel_tensors(x, W)
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(0)
    lo, _ = _core.tap_range(W.shape[2], _checks.as_int("lo", lo, optional=True))
    dilation, groups = _positive_int("dilation", dilation), _positive_int("groups", groups)
    n_out = x.shape[2] if n_out is None else _positive_int("n_out", n_out)
    y = _ConvChannels.apply(x, W, _Geometry(lo, dilation, groups, x.shape[2], n_out, W.shape[2]))
    return y.squeeze(0) if unbatched else y


_PADDING_WORDS = ("same", "valid", "causal")


def _pad_sides(padding, K, dilation):
    """(left, right) zeros PyTorch's padding puts around x: 'valid' none, 'same' d (K-1) in all
    with the extra one on the right for an odd total (as F.conv1d), 'causal' d (K-1) on the
    left only (convgrad's addition: y[n] reads x up to n), an int p on both sides."""
    if isinstance(padding, str):
        if padding not in _PADDING_WORDS:
            raise ValueError(f"padding = {padding!r}: use 'same', 'valid', 'causal' or an int >= 0")
        total = dilation * (K - 1)
        return {"valid": (0, 0), "same": (total // 2, total - total // 2), "causal": (total, 0)}[padding]
    if isinstance(padding, (tuple, list)):
        if len(padding) != 1:
            raise ValueError(f"padding = {padding!r}: a 1-D convolution takes one padding value")
        (padding,) = padding
    p = _checks.as_int("padding", padding)
    if p < 0:
        raise ValueError(f"padding = {p} must be >= 0")
    return p, p


def _single(name, value):
    """An int, or a 1-tuple of one as nn.Conv1d accepts."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name} = {value!r}: a 1-D convolution takes one value")
        (value,) = value
    return _checks.as_int(name, value)


def _require_stride_one(stride):
    s = _single("stride", stride)
    if s != 1:
        raise ValueError(f"stride = {s}: convgrad computes stride 1 only (every output sample); "
                         f"subsample the output (y[..., ::{s}]) or use torch.nn.Conv1d")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv1d``'s layer computed by convgrad (stride 1 only).

    PyTorch computes a cross-correlation, ``out[b, o, t] = bias[o] + sum_{c', k}
    weight[o, c', k] xpad[b, c, t + d k]`` with xpad = x padded by ``left`` zeros (and
    ``right`` after it). That is the library's convolution with the flipped weight
    ``W[o, c', j] = weight[o, c', K-1-j]`` and taps ``lo = left/d - (K-1)`` (so tap j reaches
    ``d (lo + j)`` samples back): for padding 'same' and odd K, the centred ``lo = -(K-1)/2``;
    for even K (one more zero on the right), ``lo = -K/2``; 'valid', ``lo = -(K-1)``; 'causal'
    (left padding d (K-1), N_out = N), ``lo = 0``. When d does not divide ``left``, x is
    first padded on the left by ``left mod d`` zeros and ``lo = left // d - (K-1)``.
    N_out = N + left + right - d (K-1).

    Parameters as in F.conv1d, plus padding='causal'. `stride` other than 1 is refused
    (ValueError naming it). Gradients flow to `input`, `weight` and `bias`; the backward is
    itself differentiable.

    Examples
    --------
    >>> import torch
    >>> from convgrad.torch import conv1d
    >>> x, w = torch.randn(2, 3, 50, dtype=torch.float64), torch.randn(4, 3, 5, dtype=torch.float64)
    >>> torch.allclose(conv1d(x, w, padding="same"), torch.nn.functional.conv1d(x, w, padding="same"))
    True
    """
    _require_stride_one(stride)
    _check_channel_tensors(input, weight, "input", "weight")
    if bias is not None:
        _check_tensor("bias", bias)
        if bias.dtype != input.dtype or bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},) and dtype {input.dtype}, "
                             f"got {tuple(bias.shape)} {bias.dtype}")
    dilation, groups = _positive_int("dilation", _single("dilation", dilation)), _positive_int("groups", groups)
    unbatched = input.dim() == 2
    x = input.unsqueeze(0) if unbatched else input
    C_out, C_per_group, K = weight.shape
    if x.shape[1] != C_per_group * groups:
        raise ValueError(f"input has {x.shape[1]} channels but weight expects {C_per_group * groups} "
                         f"(weight.shape[1] = {C_per_group} per group x groups = {groups})")
    if K < 1:
        raise ValueError("weight has K = 0 taps")
    left, right = _pad_sides(padding, K, dilation)
    N = x.shape[2]
    n_out = N + left + right - dilation * (K - 1)
    if N < 1 or n_out < 1:
        raise ValueError(f"input of {N} samples with padding ({left}, {right}), kernel_size {K} and "
                         f"dilation {dilation} gives an output of {n_out} samples (need >= 1)")
    shift = left % dilation
    if shift:
        x = torch.nn.functional.pad(x, (shift, 0))
    lo = left // dilation - (K - 1)
    y = _ConvChannels.apply(x, weight.flip(-1), _Geometry(lo, dilation, groups, x.shape[2], n_out, K))
    if bias is not None:
        y = y + bias.view(1, C_out, 1)
    return y.squeeze(0) if unbatched else y


class Conv1d(torch.nn.Module):
    """A drop-in ``torch.nn.Conv1d`` computed by convgrad (stride 1, zero padding).

    Same constructor, parameter names and layout (``weight`` of shape (out_channels,
    in_channels/groups, kernel_size), ``bias`` of shape (out_channels,) or None), same
    initialisation (``kaiming_uniform_(a=sqrt(5))`` and a uniform bias, drawn in the same
    order, so ``torch.manual_seed`` gives nn.Conv1d's values) and the same semantics
    (PyTorch's cross-correlation: see :func:`conv1d` for how it maps onto convgrad's
    convolution), so ``load_state_dict`` from an ``nn.Conv1d`` gives the same outputs and
    gradients.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int
    stride : int
        Must be 1 (anything else is refused with a ValueError naming it).
    padding : int, 'same', 'valid' or 'causal'
        As nn.Conv1d (default 0), plus 'causal': d (K-1) zeros on the left, output length N,
        y[n] reading x up to n.
    dilation, groups : int
    bias : bool
    padding_mode : 'zeros'
        The only one (others are refused).
    device : None or 'cpu'
    dtype : torch.float32 or torch.float64, optional

    Examples
    --------
    >>> import torch
    >>> from convgrad.torch import Conv1d
    >>> ref = torch.nn.Conv1d(4, 6, 5, padding="same")
    >>> layer = Conv1d(4, 6, 5, padding="same")
    >>> _ = layer.load_state_dict(ref.state_dict())
    >>> x = torch.randn(8, 4, 100)
    >>> torch.allclose(layer(x), ref(x), atol=1e-5)
    True
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        _require_stride_one(stride)
        if padding_mode != "zeros":
            raise ValueError(f"padding_mode = {padding_mode!r}: convgrad pads with zeros only ('zeros')")
        if device is not None and torch.device(device).type != "cpu":
            raise TypeError(f"device = {device}: convgrad.torch computes on CPU tensors only")
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.kernel_size = (_positive_int("kernel_size", _single("kernel_size", kernel_size)),)
        self.stride = (1,)
        self.dilation = (_positive_int("dilation", _single("dilation", dilation)),)
        self.groups = _positive_int("groups", groups)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"groups = {self.groups} must divide in_channels = {self.in_channels} and "
                             f"out_channels = {self.out_channels}")
        _pad_sides(padding, self.kernel_size[0], self.dilation[0])  # checked now, not at the first call
        self.padding = padding if isinstance(padding, str) else (_single("padding", padding),)
        self.padding_mode = "zeros"
        self.weight = torch.nn.Parameter(
            torch.empty(self.out_channels, self.in_channels // self.groups, self.kernel_size[0], dtype=dtype))
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Redraw weight and bias as nn.Conv1d does: kaiming_uniform_(a=sqrt(5)), i.e. uniform on
        [-1/sqrt(fan_in), 1/sqrt(fan_in)] with fan_in = in_channels/groups x K, then the bias
        uniform on the same interval."""
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.weight.shape[2]
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                torch.nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return conv1d(input, self.weight, self.bias, 1, padding, self.dilation[0], self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
