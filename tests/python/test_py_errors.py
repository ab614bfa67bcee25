"""Hostile input: every function raises the documented exception with a message that names
the argument -- TypeError for types and dtypes, ValueError for shapes and values (the
library's own message), MemoryError above the Jacobian budget -- and never crashes."""

import numpy as np
import pytest
import torch

import convgrad
from convgrad.torch import ConvSame, conv_same

X = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
Y = np.array([0.0, 1.0, 0.0, -1.0, 2.0])
H = np.array([1.0, 2.0, 3.0])

# Each function as f(**arrays, **rest), with its array arguments named.
CALLS = {
    "conv": (convgrad.conv, dict(x=X, h=H), {}),
    "loss_and_grad": (convgrad.loss_and_grad, dict(x=X, y=Y, h=H), {"input_grad": True}),
    "grad_kernel": (convgrad.grad_kernel, dict(x=X, r=Y), {"K": 3}),
    "grad_input": (convgrad.grad_input, dict(h=H, r=Y), {}),
    "jacobians": (convgrad.jacobians, dict(x=X, y=Y, h=H), {}),
    "check": (convgrad.check, dict(x=X, y=Y, h=H), {}),
}
ARRAY_ARGS = [(f, a) for f, (_, arrays, _) in CALLS.items() for a in arrays]


def call(fname, **override):
    f, arrays, rest = CALLS[fname]
    kwargs = {**arrays, **rest, **override}
    return f(**kwargs)


def test_valid_calls_succeed():
    for fname in CALLS:
        call(fname)


@pytest.mark.parametrize("fname,arg", ARRAY_ARGS)
@pytest.mark.parametrize("bad", [np.int64, np.int32, np.float16, np.complex128, np.bool_, object, np.longdouble])
def test_non_float_dtype_is_a_type_error(fname, arg, bad):
    a = CALLS[fname][1][arg].astype(bad)
    with pytest.raises(TypeError, match=rf"^{arg} has dtype"):
        call(fname, **{arg: a})


@pytest.mark.parametrize("fname,arg", ARRAY_ARGS)
def test_strings_are_type_errors_and_integer_lists_are_taken(fname, arg):
    with pytest.raises(TypeError, match=rf"^{arg} has dtype"):
        call(fname, **{arg: ["a", "b", "c"]})
    # A Python list of ints is taken as NumPy takes it (issue 14; test_py_lists.py): the
    # same call as with the float64 array of those values.
    ints = [int(v) for v in np.round(CALLS[fname][1][arg])]
    by_list = call(fname, **{arg: ints})
    by_array = call(fname, **{arg: np.array(ints, dtype=np.float64)})
    assert repr(by_list) == repr(by_array)


@pytest.mark.parametrize("fname,arg", [(f, a) for f, a in ARRAY_ARGS if list(CALLS[f][1])[0] != a])
def test_mixed_dtypes_are_type_errors_naming_the_argument(fname, arg):
    a = CALLS[fname][1][arg].astype(np.float32)
    with pytest.raises(TypeError, match=rf"^{arg} has dtype float32 but \w+ has float64"):
        call(fname, **{arg: a})


@pytest.mark.parametrize("fname,arg", ARRAY_ARGS)
def test_arrays_must_be_1d(fname, arg):
    a = CALLS[fname][1][arg]
    with pytest.raises(ValueError, match=rf"^{arg} must be a 1-D array, got shape \(1, {len(a)}\)"):
        call(fname, **{arg: a[None, :]})
    with pytest.raises(ValueError, match=rf"^{arg} must be a 1-D array, got shape \(\)"):
        call(fname, **{arg: np.float64(1.0)})


@pytest.mark.parametrize("fname,arg", ARRAY_ARGS)
def test_empty_arrays_are_value_errors(fname, arg):
    with pytest.raises(ValueError):
        call(fname, **{arg: np.array([], dtype=np.float64)})


def test_empty_signal_message_is_the_librarys():
    with pytest.raises(ValueError, match=r"^x is empty"):
        convgrad.conv(np.array([]), H)
    with pytest.raises(ValueError, match=r"K = 0 taps"):
        convgrad.conv(X, np.array([]))


@pytest.mark.parametrize("fname,arg", ARRAY_ARGS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_value_errors_with_the_index(fname, arg, bad):
    a = CALLS[fname][1][arg].copy()
    a[2] = bad
    with pytest.raises(ValueError, match=rf"^{arg} has a non-finite value .* at index 2$"):
        call(fname, **{arg: a})


@pytest.mark.parametrize("fname", ["conv", "loss_and_grad", "grad_input", "jacobians", "check"])
def test_even_kernel_without_lo_is_a_value_error(fname):
    h4 = np.array([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"K = 4 taps is even.*lo"):
        call(fname, h=h4)
    call(fname, h=h4, lo=-1)  # and accepted with an explicit tap range


def test_grad_kernel_tap_count():
    with pytest.raises(ValueError, match=r"K = 4 taps is even"):
        convgrad.grad_kernel(X, Y, 4)
    for K in (0, -3):
        with pytest.raises(ValueError, match=rf"K = {K} taps; need at least one"):
            convgrad.grad_kernel(X, Y, K, lo=0)
    for K in (3.0, "3", None, True):
        with pytest.raises(TypeError, match=r"^K must be an integer"):
            convgrad.grad_kernel(X, Y, K)


@pytest.mark.parametrize("fname", list(CALLS))
def test_lo_must_be_an_integer(fname):
    for lo in (0.5, "1", True):
        with pytest.raises(TypeError, match=r"^lo must be an integer"):
            call(fname, lo=lo)
    with pytest.raises(ValueError, match=r"lo = .* out of"):
        call(fname, lo=2**70)


def test_size_mismatches_are_value_errors():
    with pytest.raises(ValueError, match=r"^y has 4 values, expected 5"):
        convgrad.loss_and_grad(X, Y[:4], H)
    with pytest.raises(ValueError, match=r"^r has 4 values, expected 5"):
        convgrad.grad_kernel(X, Y[:4], 3)
    with pytest.raises(ValueError, match=r"^y has 4 values, expected 5"):
        convgrad.jacobians(X, Y[:4], H)


@pytest.mark.parametrize("fname", ["conv", "loss_and_grad", "grad_kernel", "grad_input"])
def test_method_names(fname):
    with pytest.raises(ValueError, match=r"^method: 'magic' is not one of"):
        call(fname, method="magic")
    with pytest.raises(TypeError, match=r"^method must be a string"):
        call(fname, method=3)


def test_jacobian_budget_is_a_memory_error():
    with pytest.raises(MemoryError, match=r"jacobian"):
        convgrad.jacobians(X, Y, H, budget=16)
    with pytest.raises(ValueError, match=r"budget = -1"):
        convgrad.jacobians(X, Y, H, budget=-1)
    # The Jacobian method refuses matrices above its 256 MiB default before allocating them:
    # dyhat/dh of a 2^20-sample signal and 33 taps in double is 264 MiB.
    x = np.ones(1 << 20)
    with pytest.raises(MemoryError, match=r"MiB"):
        convgrad.conv(x, np.ones(33), method="jacobian")


# ---- convgrad.torch ------------------------------------------------------------------------

XT = torch.tensor(X)
HT = torch.tensor(H)


def test_torch_wrong_types():
    with pytest.raises(TypeError, match=r"^x must be a torch.Tensor"):
        conv_same(X, HT)
    with pytest.raises(TypeError, match=r"^h must be a torch.Tensor"):
        conv_same(XT, [1.0, 2.0, 3.0])
    for dt in (torch.int64, torch.float16, torch.complex128, torch.bfloat16):
        with pytest.raises(TypeError, match=r"^x has dtype"):
            conv_same(XT.to(dt), HT)
    with pytest.raises(TypeError, match=r"^h has dtype torch.float32 but x has torch.float64"):
        conv_same(XT, HT.float())
    with pytest.raises(TypeError, match=r"^lo must be an integer"):
        conv_same(XT, HT, lo=0.5)


def test_torch_bad_shapes_and_values():
    with pytest.raises(ValueError, match=r"^x must have shape \(N,\) or \(B, N\)"):
        conv_same(XT[None, None], HT)
    with pytest.raises(ValueError, match=r"^x must have shape"):
        conv_same(torch.tensor(1.0, dtype=torch.float64), HT)
    with pytest.raises(ValueError, match=r"^h must have shape \(K,\)"):
        conv_same(XT, HT[None])
    with pytest.raises(ValueError, match=r"K = 4 taps is even"):
        conv_same(XT, torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x is empty"):
        conv_same(torch.zeros(0, dtype=torch.float64), HT)
    with pytest.raises(ValueError, match=r"K = 0 taps"):
        conv_same(XT, torch.zeros(0, dtype=torch.float64))
    bad = XT.clone()
    bad[3] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite value .* at index 3"):
        conv_same(bad, HT)
    # A non-finite upstream gradient is refused in the backward too.
    h = HT.clone().requires_grad_()
    yhat = conv_same(XT, h)
    with pytest.raises(ValueError, match=r"non-finite"):
        yhat.backward(torch.full_like(yhat, float("inf")))


def test_conv_same_module_arguments():
    with pytest.raises(ValueError, match=r"K = 4 taps is even"):
        ConvSame(4)
    with pytest.raises(ValueError, match=r"K = 0 taps"):
        ConvSame(0)
    with pytest.raises(TypeError, match=r"^kernel_size must be an integer"):
        ConvSame(3.0)
    with pytest.raises(TypeError, match=r"dtype must be torch.float32 or torch.float64"):
        ConvSame(3, dtype=torch.int32)
    layer = ConvSame(3)  # default dtype float32
    with pytest.raises(TypeError, match=r"h has dtype torch.float32 but x has torch.float64"):
        layer(XT)


@pytest.mark.parametrize("solver", ["exact", "gd", "nesterov", "adam"])
@pytest.mark.parametrize("dtype,scale", [(np.float64, 1e200), (np.float32, 1e30)])
def test_fit_on_data_whose_products_overflow_is_a_value_error(solver, dtype, scale):
    # Finite data whose squares overflow the dtype: adam used to stop at once with
    # "gradient tolerance" (inf <= tol * inf) and return h = 0 as converged; exact reported
    # NaN eigenvalues as a singular system; gd and nesterov blamed a non-finite "h".
    # (float32's exact solver accumulates the Gram matrix in double, so 1e30 is fine there.)
    x = (scale * np.array([1.0, 2.0, -1.0, 3.0, 1.0])).astype(dtype)
    if solver == "exact" and dtype == np.float32:
        assert np.all(np.isfinite(convgrad.fit([(x, x)], kernel_size=3, solver=solver).h))
        return
    with pytest.raises(ValueError, match="too large"):
        convgrad.fit([(x, x)], kernel_size=3, solver=solver, max_iter=50)


def test_fit_that_diverges_is_a_value_error():
    x = np.array([1.0, 2.0, -1.0, 3.0, 1.0])
    with pytest.raises(ValueError, match="diverged"):
        convgrad.fit([(x, x)], kernel_size=3, solver="adam", lr=1e300, max_iter=50)


@pytest.mark.parametrize("falsy", [0, "", np.int64(0), []])
def test_fit_progress_is_tested_for_truth(falsy):
    # Any false value stops the fit as False does (0 and "" used to raise a bare RuntimeError
    # "Unable to cast Python instance to C++ type"); a true one lets it go on.
    x = np.array([1.0, 2.0, -1.0, 3.0, 1.0])
    res = convgrad.fit([(x, x)], kernel_size=3, solver="gd", progress=lambda *a: falsy)
    assert res.stop_reason == "stopped by caller" and res.iterations == 0
    res = convgrad.fit([(x, x)], kernel_size=3, solver="gd", max_iter=3, grad_tol=0.0, progress=lambda *a: "yes")
    assert res.stop_reason == "max iterations"


@pytest.mark.parametrize("bad", [-1.0, -2, -1e-300, float("inf"), float("nan")])
def test_fit_negative_grad_tol_is_a_value_error(bad):
    # A negative grad_tol used to be read silently as "the dtype's default".
    x = np.array([1.0, 2.0, -1.0, 3.0, 1.0])
    with pytest.raises(ValueError, match="grad_tol"):
        convgrad.fit([(x, x)], kernel_size=3, solver="gd", grad_tol=bad)
