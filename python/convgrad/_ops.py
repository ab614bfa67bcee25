"""The operations of the model: the filter, its loss and gradients, the Jacobians and the
agreement check (the math in the package docstring and docs/derivation.md)."""

from . import _checks, _core
from ._tuning import after_auto


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
    x, h = _checks.signals(x=x, h=h)
    method = _checks.method_name(method)
    yhat = _core.conv(h, x, _checks.as_int("lo", lo, optional=True), method)
    after_auto(method)
    return yhat


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
    x, y, h = _checks.signals(x=x, y=y, h=h)
    method = _checks.method_name(method)
    result = _core.loss_and_grad(x, y, h, _checks.as_int("lo", lo, optional=True), method, bool(input_grad))
    after_auto(method)
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
    x, r = _checks.signals(x=x, r=r)
    method = _checks.method_name(method)
    dh = _core.grad_kernel(x, r, _checks.as_int("K", K), _checks.as_int("lo", lo, optional=True), method)
    after_auto(method)
    return dh


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
    h, r = _checks.signals(h=h, r=r)
    method = _checks.method_name(method)
    dx = _core.grad_input(h, r, _checks.as_int("lo", lo, optional=True), method)
    after_auto(method)
    return dx


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
    x, y, h = _checks.signals(x=x, y=y, h=h)
    budget = _core.default_jacobian_budget if budget is None else _checks.as_int("budget", budget)
    if budget < 0:
        raise ValueError(f"budget = {budget} bytes must be >= 0")
    return tuple(_core.jacobians(x, y, h, _checks.as_int("lo", lo, optional=True), budget))


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
    x, y, h = _checks.signals(x=x, y=y, h=h)
    if jacobian_budget is None:
        jacobian_budget = _core.default_jacobian_budget
    jacobian_budget = _checks.as_int("jacobian_budget", jacobian_budget)
    if jacobian_budget < 0:
        raise ValueError(f"jacobian_budget = {jacobian_budget} bytes must be >= 0")
    return _core.check(x, y, h, _checks.as_int("lo", lo, optional=True), jacobian_budget,
                       bool(finite_differences))
