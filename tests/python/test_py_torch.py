"""convgrad.torch against PyTorch's own conv1d and autograd.

The oracle is torch.nn.functional.conv1d with the flipped kernel on a zero-padded input
(conv1d is a cross-correlation), differentiated by torch's autograd, in float64. Tolerances
are the library's documented agreement bound (include/convgrad/check.hpp), at most the
project's bar (1e-12 relative in float64, 1e-5 in float32, relative to ||a|| ||b||).
"""

import math

import numpy as np
import pytest
import torch

from convgrad import _core
from convgrad.torch import ConvSame, conv_same

DTYPES = [torch.float32, torch.float64]
BAR = {torch.float32: 1e-5, torch.float64: 1e-12}
# (shape of x, K, lo): single and batched, K > N, N = 1, even K with lo, off-centre taps.
CASES = [
    ((1,), 1, None), ((1,), 5, None), ((9,), 3, None), ((4, 6), 13, None), ((3, 1), 3, None),
    ((2, 17), 4, 0), ((5, 40), 7, -6), ((40,), 9, 2), ((3, 64), 65, None), ((1, 100), 11, None),
]


def dname(dtype):
    return str(dtype).replace("torch.", "")


def tap_lo(K, lo):
    return -((K - 1) // 2) if lo is None else lo


def tolerance(dtype, terms, length, a, b):
    norm_a, norm_b = float(a.double().norm()), float(b.double().norm())
    tol = _core.agreement_tolerance(dname(dtype), terms, length, norm_a, norm_b)
    return min(tol, BAR[dtype] * norm_a * norm_b)


def assert_close(got, want, tol, what):
    assert got.shape == want.shape, what
    err = float((got.double() - want.double()).abs().max()) if got.numel() else 0.0
    assert err <= tol, f"{what}: max |diff| {err:.3e} > tol {tol:.3e}"


def oracle_conv(x, h, lo):
    """yhat by torch's conv1d: h flipped, x zero-padded so the taps m = lo..hi line up."""
    K = h.shape[0]
    hi = lo + K - 1
    N = x.shape[-1]
    P = N + K + abs(lo) + abs(hi)
    xb = x.reshape(-1, 1, N)
    full = torch.nn.functional.conv1d(torch.nn.functional.pad(xb, (P, P)), h.flip(0)[None, None])
    return full[:, 0, P - hi: P - hi + N].reshape(x.shape)


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
@pytest.mark.parametrize("shape,K,lo", CASES)
def test_forward_and_backward_agree_with_conv1d(shape, K, lo, dtype):
    gen = torch.Generator().manual_seed(K * 100000 + tap_lo(K, lo) * 1000 + 10 * len(shape) + shape[-1] + 7919)
    x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    h = torch.randn(K, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    g = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)  # any upstream gradient
    m = tap_lo(K, lo)

    yhat = conv_same(x, h, lo)
    assert yhat.shape == x.shape and yhat.dtype == dtype
    dx, dh = torch.autograd.grad(yhat, (x, h), g)
    assert dx.dtype == dtype and dh.dtype == dtype and dh.shape == (K,)

    # The oracle in float64 on the same values.
    x64 = x.detach().double().requires_grad_()
    h64 = h.detach().double().requires_grad_()
    yhat64 = oracle_conv(x64, h64, m)
    dx64, dh64 = torch.autograd.grad(yhat64, (x64, h64), g.double())

    N = shape[-1]
    B = x.numel() // N
    L = 2 * N + K
    assert_close(yhat, yhat64, tolerance(dtype, K, L, h.detach(), x.detach()), "yhat")
    assert_close(dx, dx64, tolerance(dtype, K, L, h.detach(), g), "dx")
    # dh sums B per-row gradients (each N terms): B N terms over the whole batch.
    assert_close(dh, dh64, tolerance(dtype, B * N, L, x.detach(), g), "dh")


@pytest.mark.parametrize("dtype", DTYPES, ids=dname)
def test_centred_filter_equals_conv1d_padding_M(dtype):
    # The form DESIGN.md gives: conv1d(x, h.flip(0), padding=M).
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 50, generator=gen, dtype=dtype, requires_grad=True)
    h = torch.randn(7, generator=gen, dtype=dtype, requires_grad=True)
    yhat = conv_same(x, h)
    want = torch.nn.functional.conv1d(x.double()[:, None], h.double().flip(0)[None, None], padding=3)[:, 0]
    assert_close(yhat, want, tolerance(dtype, 7, 107, h.detach(), x.detach()), "padding M")


@pytest.mark.parametrize("shape,K,lo", [((5,), 3, None), ((1,), 3, None), ((3, 4), 5, None),
                                        ((2, 6), 4, -1), ((7,), 2, 3), ((2, 3), 9, None)])
def test_gradcheck_and_gradgradcheck(shape, K, lo):
    gen = torch.Generator().manual_seed(K)
    x = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    h = torch.randn(K, generator=gen, dtype=torch.float64, requires_grad=True)
    f = lambda x, h: conv_same(x, h, lo)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, h))
    assert torch.autograd.gradgradcheck(f, (x, h))


def test_double_backward_matches_torch():
    """Hessian-vector product of L = 1/2 ||conv(x, h) - y||^2 through convgrad and torch."""
    gen = torch.Generator().manual_seed(4)
    x0 = torch.randn(3, 30, generator=gen, dtype=torch.float64)
    y = torch.randn(3, 30, generator=gen, dtype=torch.float64)
    h0 = torch.randn(5, generator=gen, dtype=torch.float64)
    v = torch.randn(5, generator=gen, dtype=torch.float64)

    def hvp(forward):
        x = x0.clone().requires_grad_()
        h = h0.clone().requires_grad_()
        loss = 0.5 * ((forward(x, h) - y) ** 2).sum()
        dh, = torch.autograd.grad(loss, h, create_graph=True)
        return torch.autograd.grad((dh * v).sum(), (x, h))  # d/dx and d/dh of <dh, v>

    got = hvp(lambda x, h: conv_same(x, h))
    want = hvp(lambda x, h: oracle_conv(x, h, -2))
    # Both parts are two chained sums (a conv of K terms, then a correlation of at most B N
    # terms) whose products are bounded by ||v|| (||x||^2 + ||h|| ||x|| + ||r||), with
    # ||r|| <= ||h||_1 ||x|| + ||y||; the bound of check.hpp applied to each sum in turn.
    B, N, K = 3, 30, 5
    terms = B * N + 2 * K + 8 * math.ceil(math.log2(2 * N + K))
    r_bound = float(h0.abs().sum() * x0.norm() + y.norm())
    scale = float(v.norm()) * (float(x0.norm()) ** 2 + float(h0.norm() * x0.norm()) + r_bound)
    for a, b in zip(got, want):
        assert_close(a, b, 2 * terms * np.finfo(np.float64).eps * scale, "hvp")
    # Exact Hessian in h: X^T X v, X the stacked design matrices; it does not depend on h.
    assert got[1].abs().max() > 0


def test_no_grad_and_partial_requires_grad():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(20, generator=gen, dtype=torch.float64)
    h = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        y = conv_same(x, h)
    assert not y.requires_grad
    yhat = conv_same(x, h)  # only h needs a gradient
    yhat.sum().backward()
    assert x.grad is None and h.grad is not None
    # dh of sum(yhat) = sum_n x[n-m]: each tap sees the signal minus its shifted-out end.
    m = torch.arange(-1, 2)
    want = torch.stack([x[max(0, -k): 20 - max(0, k)].sum() for k in m.tolist()])
    assert_close(h.grad, want, tolerance(torch.float64, 20, 43, x, torch.ones(20)), "dh of sum")


def test_strided_inputs():
    gen = torch.Generator().manual_seed(6)
    base = torch.randn(8, 60, generator=gen, dtype=torch.float64)
    x = base[::2, ::3]  # non-contiguous
    h = torch.randn(10, generator=gen, dtype=torch.float64)[::2]
    assert not x.is_contiguous() and not h.is_contiguous()
    assert torch.equal(conv_same(x, h), conv_same(x.contiguous(), h.contiguous()))


def test_conv_same_module():
    torch.manual_seed(0)
    layer = ConvSame(7)
    assert layer.h.shape == (7,) and layer.h.dtype == torch.get_default_dtype()
    assert (layer.lo, layer.hi) == (-3, 3)
    bound = 1 / math.sqrt(7)
    assert float(layer.h.detach().abs().max()) <= bound
    assert [name for name, _ in layer.named_parameters()] == ["h"]
    torch.manual_seed(0)
    assert torch.equal(ConvSame(7).h, layer.h)  # reproducible under the seed
    causal = ConvSame(4, lo=0, dtype=torch.float64)
    assert (causal.lo, causal.hi) == (0, 3) and "lo=0" in repr(causal)

    layer = layer.double()
    x = torch.randn(2, 30, dtype=torch.float64)
    assert torch.equal(layer(x), conv_same(x, layer.h, -3))
    # One optimiser step moves h along -dh.
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    y = torch.randn(2, 30, dtype=torch.float64)
    before = layer.h.detach().clone()
    loss = 0.5 * ((layer(x) - y) ** 2).sum()
    opt.zero_grad()
    loss.backward()
    dh = layer.h.grad.clone()
    opt.step()
    assert torch.allclose(layer.h.detach(), before - 0.1 * dh, rtol=0, atol=4 * np.finfo(np.float64).eps * float(before.abs().max() + 0.1 * dh.abs().max()))
    # state_dict round trip
    other = ConvSame(7, dtype=torch.float64)
    other.load_state_dict(layer.state_dict())
    assert torch.equal(other(x), layer(x))
