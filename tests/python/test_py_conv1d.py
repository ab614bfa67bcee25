"""convgrad.torch.Conv1d / conv1d / conv_channels and the NumPy channel functions.

- Conv1d loaded from an nn.Conv1d's state_dict agrees with it (forward, d/dinput, d/dweight,
  d/dbias) on seeded random shapes: every padding ('same' with odd and even K, 'valid', ints,
  'causal' against F.conv1d on a left-padded input), dilation, groups from 1 to C_in, bias or
  not, batch sizes 0..5 and unbatched inputs. Agreement: the issue's 1e-5 (float32) and
  1e-12 (float64), relative to the size of the quantity compared.
- The same seed gives nn.Conv1d's initial weight and bias bit for bit.
- gradcheck and gradgradcheck (the backward is built from the same Functions).
- stride != 1 and padding_mode != 'zeros' are refused with errors naming them.
- The NumPy functions against literal loops of the formulas in convgrad/channels.hpp, and the
  one-channel case against conv / grad_kernel / grad_input.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convgrad
from convgrad.torch import Conv1d, conv1d, conv_channels

TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def close(a, b, dtype):
    """|a - b| within the issue's tolerance, relative to the size of b (at least 1)."""
    scale = max(1.0, b.abs().max().item()) if b.numel() else 1.0
    return (a - b).abs().max().item() <= TOL[dtype] * scale if b.numel() else a.shape == b.shape


def random_layers(count, seed):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        groups = int(rng.choice([1, 2, 3]))
        C_in, C_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
        K, d = int(rng.integers(1, 8)), int(rng.integers(1, 4))
        padding = [0, 1, 3, "same", "valid", int(rng.integers(0, 6))][int(rng.integers(0, 6))]
        N = int(rng.integers(max(1, d * (K - 1) + 1), 60))
        B = int(rng.integers(0, 6))
        yield dict(C_in=C_in, C_out=C_out, K=K, dilation=d, groups=groups, padding=padding, N=N, B=B,
                   bias=bool(rng.integers(0, 2)))


def pair(C_in, C_out, K, dilation, groups, padding, bias, dtype, **_):
    ref = torch.nn.Conv1d(C_in, C_out, K, padding=padding, dilation=dilation, groups=groups, bias=bias,
                          dtype=dtype)
    ours = Conv1d(C_in, C_out, K, padding=padding, dilation=dilation, groups=groups, bias=bias, dtype=dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def outputs_and_grads(layer, x, g):
    x = x.clone().requires_grad_(True)
    y = layer(x)
    y.backward(g)
    grads = [x.grad] + [p.grad for p in layer.parameters()]
    layer.zero_grad(set_to_none=True)
    return y.detach(), grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", list(random_layers(40, 11)), ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_conv1d_agrees_with_nn_conv1d_forward_and_backward(case, dtype):
    torch.manual_seed(case["N"])
    ref, ours = pair(**case, dtype=dtype)
    x = torch.randn(case["B"], case["C_in"], case["N"], dtype=dtype)
    y_ref = ref(x)
    g = torch.randn(y_ref.shape, dtype=dtype)
    y_ref, grads_ref = outputs_and_grads(ref, x, g)
    y, grads = outputs_and_grads(ours, x, g)
    assert y.shape == y_ref.shape and y.dtype == dtype
    assert close(y, y_ref, dtype)
    for got, want in zip(grads, grads_ref):
        assert got is not None and close(got, want, dtype)


@pytest.mark.parametrize("K", [1, 2, 4, 5])
@pytest.mark.parametrize("dilation", [1, 2, 3])
def test_causal_padding_is_left_padding_of_d_k_minus_1(K, dilation):
    torch.manual_seed(K * 10 + dilation)
    x, w, b = torch.randn(3, 2, 30, dtype=torch.float64), torch.randn(4, 2, K, dtype=torch.float64), None
    want = F.conv1d(F.pad(x, (dilation * (K - 1), 0)), w, b, dilation=dilation)
    y = conv1d(x, w, b, padding="causal", dilation=dilation)
    assert y.shape == (3, 4, 30) and close(y, want, torch.float64)
    # y[n] reads x up to n only: changing x after n leaves y[:n+1] as it was.
    x2 = x.clone()
    x2[..., 20:] += 1.0
    assert torch.equal(conv1d(x2, w, padding="causal", dilation=dilation)[..., :20], y[..., :20])


@pytest.mark.parametrize("K", [2, 4, 6])
def test_same_padding_with_an_even_kernel_is_taps_minus_k_over_2(K):
    """PyTorch puts the extra zero on the right: the library's taps are lo = -K/2 .. K/2 - 1 of
    the flipped weight (docs/python.md)."""
    torch.manual_seed(K)
    x, w = torch.randn(2, 3, 25, dtype=torch.float64), torch.randn(5, 3, K, dtype=torch.float64)
    want = F.conv1d(x, w, padding="same")
    assert close(conv_channels(x, w.flip(-1), lo=-K // 2), want, torch.float64)
    assert close(conv1d(x, w, padding="same"), want, torch.float64)


def test_the_same_seed_gives_nn_conv1ds_initial_parameters():
    for args in [(4, 6, 5), (6, 3, 4), (2, 2, 1)]:
        for kwargs in [{}, {"groups": 2} if args[0] % 2 == 0 and args[1] % 2 == 0 else {}, {"bias": False}]:
            torch.manual_seed(7)
            ref = torch.nn.Conv1d(*args, **kwargs)
            torch.manual_seed(7)
            ours = Conv1d(*args, **kwargs)
            assert list(ours.state_dict()) == list(ref.state_dict())
            for name, p in ref.named_parameters():
                assert torch.equal(getattr(ours, name), p), name
            assert ours.weight.shape == ref.weight.shape and ours.weight.dtype == ref.weight.dtype
    # And both ways: nn.Conv1d loads ours.
    ours = Conv1d(3, 4, 3, padding=1)
    ref = torch.nn.Conv1d(3, 4, 3, padding=1)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 10)
    assert close(ours(x).detach(), ref(x).detach(), torch.float32)


@pytest.mark.parametrize("C_in, C_out, K, dilation, groups, padding, bias", [
    (2, 3, 3, 1, 1, "same", True),
    (4, 2, 2, 2, 2, "same", True),
    (3, 3, 4, 1, 3, "valid", False),
    (2, 4, 3, 3, 2, "causal", True),
    (1, 2, 5, 2, 1, 3, True),
])
def test_gradcheck_and_gradgradcheck(C_in, C_out, K, dilation, groups, padding, bias):
    torch.manual_seed(0)
    x = torch.randn(2, C_in, 14, dtype=torch.float64, requires_grad=True)
    w = torch.randn(C_out, C_in // groups, K, dtype=torch.float64, requires_grad=True)
    b = torch.randn(C_out, dtype=torch.float64, requires_grad=True) if bias else None
    inputs = (x, w, b) if bias else (x, w)

    def f(*args):
        return conv1d(args[0], args[1], args[2] if bias else None, padding=padding, dilation=dilation,
                      groups=groups)

    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_the_functional_conv_channels_is_differentiable_twice():
    torch.manual_seed(1)
    x = torch.randn(2, 4, 12, dtype=torch.float64, requires_grad=True)
    W = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    f = lambda x, W: conv_channels(x, W, lo=-2, dilation=2, groups=2, n_out=15)  # noqa: E731
    assert f(x, W).shape == (2, 6, 15)
    assert torch.autograd.gradcheck(f, (x, W)) and torch.autograd.gradgradcheck(f, (x, W))


def test_no_grad_batch_sizes_and_unbatched_inputs():
    torch.manual_seed(2)
    ref = torch.nn.Conv1d(3, 5, 3, padding="same", dtype=torch.float64)
    ours = Conv1d(3, 5, 3, padding="same", dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    for B in (0, 1, 7):
        x = torch.randn(B, 3, 20, dtype=torch.float64)
        with torch.no_grad():
            y = ours(x)
            assert not y.requires_grad and close(y, ref(x), torch.float64)
    x = torch.randn(3, 20, dtype=torch.float64)
    assert ours(x).shape == (5, 20) and close(ours(x).detach(), ref(x).detach(), torch.float64)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"stride": 2}, ValueError, "stride"),
    ({"stride": (3,)}, ValueError, "stride"),
    ({"padding_mode": "reflect"}, ValueError, "padding_mode"),
    ({"padding": "full"}, ValueError, "padding"),
    ({"padding": -1}, ValueError, "padding"),
    ({"groups": 4}, ValueError, "groups"),
    ({"dtype": torch.float16}, TypeError, "dtype"),
])
def test_what_convgrad_does_not_compute_is_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        Conv1d(2, 6, 3, **kwargs)


def test_bad_inputs_are_refused_with_one_clear_error():
    layer = Conv1d(2, 3, 3)
    with pytest.raises(TypeError, match="dtype"):
        layer(torch.randn(1, 2, 10, dtype=torch.float64))
    with pytest.raises(ValueError, match="channels"):
        layer(torch.randn(1, 3, 10))
    with pytest.raises(ValueError, match="output of"):
        layer(torch.randn(1, 2, 1))
    with pytest.raises(ValueError, match="NaN|finite"):
        layer(torch.full((1, 2, 10), float("nan")))
    with pytest.raises(ValueError, match="stride"):
        conv1d(torch.randn(1, 2, 10), layer.weight, stride=2)


# ---- the NumPy functions against the literal formulas ------------------------------------------

def literal(x, W, bias, lo, d, groups, n_out):
    """y[b, o, n] = bias[o] + sum_{c'} sum_j W[o, c', j] x[b, c, n - d (lo + j)]."""
    B, C_in, N = x.shape
    C_out, Cg, K = W.shape
    y = np.zeros((B, C_out, n_out))
    for o in range(C_out):
        for cp in range(Cg):
            c = (o // (C_out // groups)) * Cg + cp
            for j in range(K):
                for n in range(n_out):
                    q = n - d * (lo + j)
                    if 0 <= q < N:
                        y[:, o, n] += W[o, cp, j] * x[:, c, q]
    return y + (0 if bias is None else bias[None, :, None])


@pytest.mark.parametrize("B, C_in, C_out, groups, K, lo, d, N, n_out", [
    (2, 3, 2, 1, 3, -1, 1, 12, 12),
    (1, 4, 4, 4, 5, -4, 2, 9, 14),
    (3, 2, 6, 2, 2, 0, 3, 7, 5),
    (2, 1, 1, 1, 12, -3, 1, 6, 6),
])
def test_numpy_functions_against_the_literal_loops(B, C_in, C_out, groups, K, lo, d, N, n_out):
    rng = np.random.default_rng(B + K)
    x, W = rng.standard_normal((B, C_in, N)), rng.standard_normal((C_out, C_in // groups, K))
    bias, y = rng.standard_normal(C_out), rng.standard_normal((B, C_out, n_out))
    terms = (C_in // groups) * K
    tol = 4 * terms * np.finfo(np.float64).eps * (np.abs(x).max() * np.abs(W).sum() + np.abs(bias).max())
    got = convgrad.conv_channels(x, W, bias, lo, dilation=d, groups=groups, n_out=n_out)
    want = literal(x, W, bias, lo, d, groups, n_out)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    # The gradients are the transposes of the forward map: <r, A(x, W)> = <dW(x, r), W> = <dx(W, r), x>.
    r = rng.standard_normal((B, C_out, n_out))
    dx, dW, dbias = convgrad.grad_channels(x, r, W, lo, dilation=d, groups=groups)
    plain = literal(x, W, None, lo, d, groups, n_out)
    inner = np.sum(r * plain)
    scale = np.abs(r).sum() * tol
    assert abs(np.sum(dW * W) - inner) <= scale and abs(np.sum(dx * x) - inner) <= scale
    np.testing.assert_allclose(dbias, r.sum(axis=(0, 2)), rtol=0, atol=tol * r.size)
    # The fused step: loss and gradients of 1/2 ||yhat - y||^2 with r = yhat - y.
    loss, dW2, dbias2 = convgrad.train_step_channels(x, y, W, bias, lo, dilation=d, groups=groups)
    res = want - y
    assert loss == pytest.approx(0.5 * np.sum(res * res), rel=tol)
    _, dW_res, dbias_res = convgrad.grad_channels(x, res, W, lo, dilation=d, groups=groups)
    np.testing.assert_allclose(dW2, dW_res, rtol=0, atol=scale)
    np.testing.assert_allclose(dbias2, dbias_res, rtol=0, atol=scale)


def test_one_channel_is_the_single_channel_library():
    rng = np.random.default_rng(3)
    x, h, r = rng.standard_normal(40), rng.standard_normal(5), rng.standard_normal(40)
    y = convgrad.conv_channels(x[None, None], h[None, None], lo=-1)
    np.testing.assert_allclose(y[0, 0], convgrad.conv(x, h, -1), rtol=0, atol=1e-13)
    dx, dW, _ = convgrad.grad_channels(x[None, None], r[None, None], h[None, None], -1)
    np.testing.assert_allclose(dW[0, 0], convgrad.grad_kernel(x, r, 5, -1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx[0, 0], convgrad.grad_input(h, r, -1), rtol=0, atol=1e-12)
    # Unbatched (C, N) inputs drop the batch axis of the result.
    assert convgrad.conv_channels(x[None], h[None, None], lo=-1).shape == (1, 40)


def test_numpy_functions_refuse_mixed_dtypes_and_bad_shapes():
    x, W = np.zeros((1, 2, 8)), np.zeros((3, 2, 3))
    with pytest.raises(TypeError, match="float32"):
        convgrad.conv_channels(x, W.astype(np.float32))
    with pytest.raises(ValueError, match="W must have shape"):
        convgrad.conv_channels(x, W[0])
    with pytest.raises(ValueError, match="groups"):
        convgrad.conv_channels(x, W, groups=2)
    with pytest.raises(TypeError, match="dtype int64"):
        convgrad.conv_channels(x.astype(np.int64), W)
    assert math.isclose(convgrad.train_step_channels(x, np.zeros((1, 3, 8)), W)[0], 0.0)
