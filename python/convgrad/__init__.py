"""convgrad: a learnable 1-D filter, its loss and its gradients, computed by a C++ core.

The model (docs/derivation.md), with 0-based indices and taps ``m = lo..hi``::

    yhat[n] = sum_{m=lo..hi} h[m] x[n-m]      n = 0..N-1, x = 0 outside [0, N)
    r       = yhat - y                        (prediction minus target)
    loss    = 1/2 sum_n r[n]^2
    dh[m]   = sum_n x[n-m] r[n]               m = lo..hi
    dx[k]   = sum_m h[m] r[k+m]               r = 0 outside [0, N)

``h[j]`` holds tap ``m = lo + j``; ``lo`` defaults to ``-(K-1)//2``, the centred filter
``m = -M..M`` of an odd ``K = 2M+1`` (an even ``K`` needs an explicit ``lo``).

Functions: :func:`conv`, :func:`loss_and_grad`, :func:`grad_kernel`, :func:`grad_input`,
:func:`jacobians` (the two factors of ``dh = r^T J_h``), :func:`check` (every method against
the reference loops), :func:`fit` (learn h from a recording ``fit(x, y, kernel_size=K)`` or
from a list of (x, y) pairs; memory-mapped arrays are read a chunk at a time),
:class:`NormalEquations` with :func:`chunk_plan` and :func:`window` (the exact fit
accumulated in pieces, merged and serialised: for data beyond memory or spread over workers)
and :func:`set_tuning` / :func:`tune` (the measured choice of
``method="auto"``). PyTorch: ``convgrad.torch``.

Many channels: :func:`fit` with x of shape (C_in, N) and y of shape (C_out, N) identifies
every filter from each input to each output (:class:`MimoFitResult`); :func:`conv_channels`,
:func:`grad_channels` and :func:`train_step_channels` are the batched multi-channel filter of
a convolutional layer (B x C_in x N -> B x C_out x N) and its gradients; in PyTorch,
``convgrad.torch.Conv1d`` is a drop-in ``torch.nn.Conv1d``.

Words, as in the library and the command (docs/derivation.md): ``K`` (``kernel_size``) is
the number of taps, ``lo..hi`` their range, ``M`` the half-width of a centred filter
(``K = 2M + 1``). Arguments come in one order: signals first, then the kernel, then the tap
range (``conv(x, h, lo)``, ``loss_and_grad(x, y, h, lo)``).

Arrays: 1-D float32 or float64 NumPy arrays (or anything ``numpy.asarray`` turns into one),
any strides; a copy is made only when the layout needs one (non-contiguous, misaligned or
byte-swapped). All array arguments of one call must share a dtype; results have that dtype.
Nothing is cast silently: an integer array is refused. Python lists (and tuples) of ints and
floats are taken as NumPy's own functions take them, ``conv([1, 2, 3], [1, 0.5])``: as arrays
of the dtype of the arrays given with them, else float64.

Errors:

* ``TypeError`` -- an array is not float32/float64, the arrays mix dtypes, or ``lo``,
  ``K`` or ``method`` has the wrong type. The message names the argument.
* ``ValueError`` -- bad shapes or values: an array that is not 1-D, an empty signal, sizes
  that disagree, NaN or infinity (the message gives the first bad index), an even ``K``
  without ``lo``, an unknown method. The message is the library's.
* ``MemoryError`` -- the Jacobian method or :func:`jacobians` would need matrices larger
  than their memory budget (256 MiB by default); the message gives the size.
* ``numpy.linalg.LinAlgError`` -- :func:`fit` met normal equations that are singular to
  working precision (an all-zero input, more taps than the data determine); add ``ridge``.
* ``KeyboardInterrupt`` -- Ctrl-C: long calls check for signals at least every ~0.1 s of
  work and stop cleanly.
* ``RuntimeWarning`` -- with tuning on (:func:`set_tuning`), a ``method="auto"`` call met a
  tuning cache file it could not read or write; the result is still right (the cost
  model's choice).
* ``DeprecationWarning`` -- an old spelling: ``taps=`` (now ``kernel_size=``),
  ``fit(pairs, K)``, ``batch=0`` (now None), the result key ``"taps"`` (now ``"K"``).

The GIL is released while the C++ core computes.
"""

from ._ops import check, conv, grad_input, grad_kernel, jacobians, loss_and_grad
from ._fit import FitResult, NormalEquations, chunk_plan, fit, window
from ._tuning import set_tuning, tune, tuning_enabled
from .taps_file import read_taps, write_taps
from . import adaptive  # convgrad.adaptive: LMS, NLMS, SignLMS, RLS, FDAF
from ._channels import conv_channels, grad_channels, train_step_channels  # many channels
from ._fit import MimoFitResult  # fit()'s result for several channels

__all__ = ["conv", "loss_and_grad", "grad_kernel", "grad_input", "jacobians", "check", "fit",
           "FitResult", "NormalEquations", "chunk_plan", "window", "set_tuning", "tuning_enabled", "tune", "read_taps", "write_taps", "adaptive"]

# The version's one home is project(convgrad VERSION ...) in CMakeLists.txt: the compiled core
# carries it (convgrad/version.hpp), as the library and the `convgrad --version` command do.
from ._core import __version__  # noqa: E402

# Many channels: the multi-channel filter, and fit()'s result for several channels.
__all__ += ["MimoFitResult", "conv_channels", "grad_channels", "train_step_channels"]


def __dir__():
    # The public API only: the modules the package is built from (_ops, _fit, _tuning,
    # _checks, the compiled _core) stay importable but out of sight.
    return sorted(__all__ + ["__version__"])
