"""convgrad.torch under torch.distributed: DistributedDataParallel, gloo, two processes.

Two processes on this machine (torch.multiprocessing spawn, MASTER_ADDR=127.0.0.1, a free
port) each take a different shard of one batch -- rank r the rows [r B_r, (r+1) B_r) -- and
train a ConvSame layer wrapped in DistributedDataParallel with the mean squared error. The
oracle is one process on the whole batch of 2 B_r rows.

Why the averaged gradient equals the whole batch's, bit for bit with one row per rank:

* The mean's backward scales the upstream gradient by 2/numel. A shard has half the elements
  of the whole batch, so its scale is exactly 2 times the whole batch's (a power of two, which
  commutes with every rounding), and each row's gradient p_b on a rank is exactly 2 p_b of the
  whole batch (the row's conv and grad_kernel are the same computation on the same row).
* DDP divides by the world size 2 (exact) and all-reduces: the result is fl(p_0 + p_1), and two
  operands add the same in either order.
* The whole batch's grad_kernel_rows sums the rows in double and rounds once to T:
  fl_T(fl_64(p_0 + p_1)). For T = float64 that is fl(p_0 + p_1); for T = float32 rounding the
  double sum of two floats to float is the correctly rounded float sum, because double has
  at least 2 * 24 + 2 significand bits (the double-rounding theorem for + - * / sqrt).

So the gradients agree exactly, every rank applies the same optimiser update to the same
weights, and a few steps of training give identical weights. With several rows per rank the
rows are summed in a different grouping (rank 0's rows, rank 1's, then the two sums), which is
equal to rounding only: the bound is derived below from the per-row gradients.
"""

import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from convgrad.torch import ConvSame

WORLD = 2
STEPS = 4  # optimiser steps of the training comparison
LR, MOMENTUM = 0.05, 0.9
# (dtype, rows per rank, N, K, lo): bitwise with one row per rank; several rows per rank are
# equal to the derived rounding bound. K > N and off-centre taps included.
SCENARIOS = [
    ("float64", 1, 300, 9, None), ("float32", 1, 300, 9, None), ("float64", 1, 40, 65, -3),
    ("float32", 1, 257, 32, 0), ("float64", 3, 200, 15, None), ("float32", 4, 128, 7, -6),
]


def scenario_id(s):
    dtype, rows, N, K, lo = s
    return f"{dtype}-rows{rows}-N{N}-K{K}-lo{lo}"


def batch(scenario):
    """The whole batch (X, Y) of 2 * rows rows, the same in every process (seeded)."""
    dtype, rows, N, K, lo = scenario
    gen = torch.Generator().manual_seed(1000 * N + K)
    X = torch.randn(WORLD * rows, N, generator=gen, dtype=torch.float64)
    Y = torch.randn(WORLD * rows, N, generator=gen, dtype=torch.float64)
    return X.to(getattr(torch, dtype)), Y.to(getattr(torch, dtype))


def layer(scenario):
    dtype, rows, N, K, lo = scenario
    torch.manual_seed(K)  # the same initial filter in every process (DDP broadcasts rank 0's too)
    return ConvSame(K, lo, dtype=getattr(torch, dtype))


def train(model, h, X, Y):
    """The gradient of the mean squared error at the start, then the filter after each of STEPS
    SGD steps (with momentum) on the same batch: [grad, h_1, ..., h_STEPS]."""
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    out = []
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(X), Y).backward()
        if not out:
            out.append(h.grad.detach().clone())
        opt.step()
        out.append(h.detach().clone())
    return out


# DDP options besides the defaults: h.grad as a view of DDP's communication bucket (autograd
# then accumulates the layer's gradient into that view), and the graph declared static.
OPTIONS = {"default": {}, "bucketview": {"gradient_as_bucket_view": True}, "static": {"static_graph": True}}


def variants(scenario):
    """(result key, DDP options): the defaults, and with one row per rank every OPTIONS entry."""
    names = OPTIONS if scenario[1] == 1 else ["default"]
    return [(f"{scenario_id(scenario)}-{name}", OPTIONS[name]) for name in names]


def worker(rank, port, folder):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        results = {}
        for s in SCENARIOS:
            X, Y = batch(s)
            rows = s[1]
            shard = slice(rank * rows, (rank + 1) * rows)  # this rank's rows only
            for key, options in variants(s):
                local = layer(s)
                ddp = DistributedDataParallel(local, **options)
                results[key] = train(ddp, local.h, X[shard], Y[shard])
        torch.save(results, os.path.join(folder, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Every scenario trained once under DDP by two spawned processes: their results per rank."""
    folder = tmp_path_factory.mktemp("ddp")
    mp.spawn(worker, args=(free_port(), str(folder)), nprocs=WORLD, join=True)
    return [torch.load(folder / f"rank{r}.pt") for r in range(WORLD)]


def whole_batch(scenario):
    X, Y = batch(scenario)
    model = layer(scenario)
    return train(model, model.h, X, Y)


def rounding_bound(scenario):
    """|DDP gradient - whole-batch gradient| per tap, from the per-row gradients p_b.

    Both are sums of the same B = 2 * rows values p_b (scaled by exact powers of two): the
    whole batch as one double sum rounded to T; DDP as two double sums (one per rank), each
    rounded to T, then added in T. Each double sum of B terms errs by at most
    gamma_B(u_64) sum |p_b|, and the roundings to T add at most 3 u_T sum |p_b| between them
    (two per-rank roundings and the final add on one side, one rounding on the other), so
    |difference| <= (gamma_3(u_T) + 2 gamma_B(u_64)) sum_b |p_b|.
    """
    dtype, rows, N, K, lo = scenario
    X, Y = batch(scenario)
    B = X.shape[0]
    model = layer(scenario)
    total = torch.zeros(K, dtype=torch.float64)
    for b in range(B):  # p_b: row b's share of the whole batch's gradient
        model.zero_grad()
        yhat = model(X[b:b + 1])
        torch.nn.functional.mse_loss(yhat, Y[b:b + 1], reduction="sum").div(X.numel()).backward()
        total += model.h.grad.double().abs()

    def gamma(n, u):
        return n * u / (1 - n * u)

    u_T = float(torch.finfo(X.dtype).eps) / 2
    u_64 = float(torch.finfo(torch.float64).eps) / 2
    return (gamma(3, u_T) + 2 * gamma(B, u_64)) * total


@pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_id)
def test_ddp_gradient_equals_the_whole_batch(ranks, scenario):
    key = f"{scenario_id(scenario)}-default"
    grads = [r[key][0] for r in ranks]
    want = whole_batch(scenario)[0]
    assert grads[0].dtype == want.dtype and grads[0].shape == want.shape
    assert torch.equal(grads[0], grads[1]), "the ranks hold different averaged gradients"
    if scenario[1] == 1:
        assert torch.equal(grads[0], want), "one row per rank must give the whole batch's gradient bit for bit"
    else:
        diff = (grads[0].double() - want.double()).abs()
        bound = rounding_bound(scenario)
        assert bool((diff <= bound).all()), f"max excess {float((diff - bound).max()):.3e}"


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s[1] == 1], ids=scenario_id)
def test_ddp_training_gives_the_same_weights(ranks, scenario, options):
    key = f"{scenario_id(scenario)}-{options}"
    want = whole_batch(scenario)[1:]
    assert torch.equal(ranks[0][key][0], whole_batch(scenario)[0]), "the first gradient differs"
    for r, result in enumerate(ranks):
        for step, (got, expected) in enumerate(zip(result[key][1:], want), start=1):
            assert torch.equal(got, expected), f"rank {r}, step {step}: weights differ from one process"
    assert not torch.equal(want[0], want[-1]), "training did not move the filter"
