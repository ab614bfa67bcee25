"""`convgrad grad` against independent oracles on seeded random cases.

PyTorch autograd gives the loss, dh and dx; scipy.signal.convolve(x, h, 'same') gives yhat
for centred odd K. The bar, from the issue: norm-wise relative error at most 1e-12 in
float64 and 1e-5 in float32, for every method, K > N included, N = 1, causal tap ranges.

The oracle computes in float64 on exactly the values the command read (float32 data is
generated as float32 and saved as float32 .npy), so the only error measured is convgrad's.
"""
import json

import numpy as np
import pytest
import scipy.signal
import torch

METHODS = ["reference", "direct", "jacobian", "fft", "auto"]
TOL = {"float64": 1e-12, "float32": 1e-5}
NP_DTYPE = {"float64": np.float64, "float32": np.float32}

# (N, K, lo): lo None means centred. K > N, N = 1, even K with an explicit lo, causal and
# purely anticausal ranges, a prime N and one long enough for auto to pick the FFT.
SHAPES = [
    (1, 1, None), (1, 5, None), (2, 7, None), (5, 3, None), (6, 13, None), (17, 5, None),
    (31, 9, 0), (31, 8, 0), (12, 4, -7), (40, 6, 3), (97, 21, None), (64, 67, None), (600, 101, None),
]


def oracle(x, y, h, lo):
    """loss, dh, dx, yhat by PyTorch autograd, for yhat[n] = sum_{m=lo..hi} h[m] x[n-m].

    conv1d is a cross-correlation: out[i] = sum_k w[k] xp[i + k]. With w = flip(h) and x
    zero-padded by P on both sides, out[i] = sum_j h[j] x[i + K-1-j - P], so
    yhat[n] = out[n - hi + P] with hi = lo + K - 1 (P large enough for any lo).
    """
    N, K = len(x), len(h)
    hi = lo + K - 1
    P = K + abs(lo) + abs(hi)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ht = torch.tensor(h, dtype=torch.float64, requires_grad=True)
    yt = torch.tensor(y, dtype=torch.float64)
    xp = torch.nn.functional.pad(xt, (P, P)).view(1, 1, -1)
    out = torch.nn.functional.conv1d(xp, ht.flip(0).view(1, 1, -1)).view(-1)
    yhat = out[P - hi:P - hi + N]
    loss = 0.5 * ((yhat - yt) ** 2).sum()
    loss.backward()
    return loss.item(), ht.grad.numpy(), xt.grad.numpy(), yhat.detach().numpy()


def rel(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = np.linalg.norm(want)
    return np.linalg.norm(got - want) / (scale if scale > 0 else 1.0)


def make_case(tmp_path, N, K, lo, dtype, seed, fmt="npy"):
    rng = np.random.default_rng(seed)
    x, y, h = (rng.standard_normal(n).astype(NP_DTYPE[dtype]) for n in (N, N, K))
    paths = {}
    for name, v in (("x", x), ("y", y), ("h", h)):
        if fmt == "npy":
            paths[name] = tmp_path / f"{name}.npy"
            np.save(paths[name], v)
        else:  # text: repr of the float64 value round-trips exactly
            paths[name] = tmp_path / f"{name}.csv"
            paths[name].write_text("\n".join(repr(float(a)) for a in v) + "\n")
    return x.astype(np.float64), y.astype(np.float64), h.astype(np.float64), paths


def run_grad(run_cli, paths, dtype, method, lo=None):
    args = ["grad", "--x", paths["x"], "--y", paths["y"], "--h", paths["h"], "--dtype", dtype,
            "--method", method, "--json"]
    if lo is not None:
        args += ["--lo", lo]
    p = run_cli(*args)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_oracle_reproduces_the_worked_example():
    # The oracle itself, on DESIGN.md's exact example, so a wrong oracle cannot pass.
    loss, dh, dx, yhat = oracle([1., 2., 3., 4., 5.], [0., 1., 0., -1., 2.], [1., 2., 3.], -1)
    assert loss == 641.0
    assert dh.tolist() == [214.0, 262.0, 190.0]
    assert dx.tolist() == [35.0, 70.0, 110.0, 122.0, 63.0]
    assert yhat.tolist() == [4.0, 10.0, 16.0, 22.0, 22.0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("N,K,lo", SHAPES)
def test_grad_matches_torch_autograd(tmp_path, run_cli, N, K, lo, method, dtype):
    if method == "jacobian" and N * max(N, K) > 10**6:
        pytest.skip("jacobian materialises N x N")
    seed = 1000 * N + 10 * K + METHODS.index(method)
    x, y, h, paths = make_case(tmp_path, N, K, lo, dtype, seed)
    out = run_grad(run_cli, paths, dtype, method, lo)
    lo_used = -((K - 1) // 2) if lo is None else lo
    loss, dh, dx, yhat = oracle(x, y, h, lo_used)
    tol = TOL[dtype]
    assert out["N"] == N and out["K"] == K and out["lo"] == lo_used and out["hi"] == lo_used + K - 1
    assert out["dtype"] == dtype and out["method_requested"] == method
    assert out["method"] in ("reference", "direct", "jacobian", "fft")
    if method != "auto":
        assert out["method"] == method
    assert abs(out["loss"] - loss) <= tol * abs(loss)
    assert rel(out["dh"], dh) <= tol
    assert rel(out["dx"], dx) <= tol
    assert rel(out["yhat"], yhat) <= tol
    assert rel(out["r"], yhat - y) <= tol


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("N,K", [(1, 1), (1, 3), (4, 9), (9, 3), (50, 11), (33, 65)])
def test_yhat_matches_scipy_convolve_same(tmp_path, run_cli, N, K, dtype):
    x, y, h, paths = make_case(tmp_path, N, K, None, dtype, seed=7 * N + K)
    out = run_grad(run_cli, paths, dtype, "auto")
    want = scipy.signal.convolve(x, h, mode="same")
    assert len(want) == N
    assert rel(out["yhat"], want) <= TOL[dtype]


def test_text_inputs_and_written_outputs_agree_with_the_oracle(tmp_path, run_cli):
    x, y, h, paths = make_case(tmp_path, 23, 7, None, "float64", seed=5, fmt="text")
    p = run_cli("grad", "--x", paths["x"], "--y", paths["y"], "--h", paths["h"],
                "--out-dh", tmp_path / "dh.npy", "--out-dx", tmp_path / "dx.csv")
    assert p.returncode == 0, p.stderr
    assert "loss" in p.stdout and "dh" in p.stdout  # the readable summary
    loss, dh, dx, _ = oracle(x, y, h, -3)
    assert rel(np.load(tmp_path / "dh.npy"), dh) <= 1e-12
    assert rel(np.loadtxt(tmp_path / "dx.csv"), dx) <= 1e-12
    assert np.load(tmp_path / "dh.npy").dtype == np.float64


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_zero_kernel_from_taps_is_the_gradient_at_the_start(tmp_path, run_cli, dtype):
    x, y, h, paths = make_case(tmp_path, 30, 5, None, dtype, seed=11)
    p = run_cli("grad", "--x", paths["x"], "--y", paths["y"], "--half-width", 3, "--dtype", dtype, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    loss, dh, dx, _ = oracle(x, y, np.zeros(7), -3)
    assert out["K"] == 7 and out["lo"] == -3 and out["kernel"] == "zeros"
    assert abs(out["loss"] - loss) <= TOL[dtype] * loss
    assert rel(out["dh"], dh) <= TOL[dtype]
    assert out["dx"] == [0.0] * 30  # h = 0, so dx = sum_m h[m] r[k+m] = 0 exactly
    p = run_cli("grad", "--x", paths["x"], "--y", paths["y"], "--kernel-size", 4, "--lo", 0, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert (out["K"], out["lo"], out["hi"]) == (4, 0, 3)
    assert rel(out["dh"], oracle(x, y, np.zeros(4), 0)[1]) <= 1e-12


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_check_agrees_and_reports_json(run_cli, dtype):
    for n, m, seed in [(1, 0, 1), (5, 4, 2), (40, 3, 3), (300, 20, 4)]:
        p = run_cli("check", "--n", n, "--half-width", m, "--seed", seed, "--dtype", dtype, "--json")
        assert p.returncode == 0, p.stdout + p.stderr
        rep = json.loads(p.stdout)
        assert rep["ok"] and rep["N"] == n and rep["K"] == 2 * m + 1 and rep["dtype"] == dtype
        methods = {r["method"] for r in rep["rows"]}
        assert methods == {"direct", "fft", "jacobian", "finite-difference"}
        assert all(r["ok"] for r in rep["rows"])
    p = run_cli("check")
    assert p.returncode == 0 and "all agree" in p.stdout


def test_check_on_files(tmp_path, run_cli):
    _, _, _, paths = make_case(tmp_path, 20, 4, 0, "float64", seed=3)
    p = run_cli("check", "--x", paths["x"], "--y", paths["y"], "--h", paths["h"], "--lo", 0)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "finite-difference" in p.stdout and "all agree" in p.stdout


def test_explain_shows_every_form_equal(run_cli):
    p = run_cli("explain")
    assert p.returncode == 0, p.stderr
    text = p.stdout
    for needle in ["shape 1 x 6", "shape 6 x 3", "(1 x 6)(6 x 3) = 1 x 3", "xflip", "cannot be formed",
                   "matmul: shapes 6 x 3 and 1 x 6 do not fit", "largest difference between any two: 0"]:
        assert needle in text, needle
    # The gradient printed by the Jacobian product is the one autograd gives for the printed case.
    lines = {ln.split("=", 1)[0].strip(): ln.split("=", 1)[1].strip() for ln in text.splitlines()
             if ln.strip().startswith(("x =", "y =", "h ="))}
    x, y = (np.array(json.loads(lines[k])) for k in ("x", "y"))
    h = np.array(json.loads(lines["h"].split("(")[0].strip()))
    _, dh, _, _ = oracle(x, y, h, -1)
    assert f"Jacobian product r^T J_h" in text
    jac_line = next(ln for ln in text.splitlines() if "Jacobian product r^T J_h" in ln)
    assert np.array(json.loads(jac_line.split("J_h", 1)[1].strip())).tolist() == dh.tolist()
    for n, m in [(1, 0), (3, 0), (12, 5)]:
        p = run_cli("explain", "--n", n, "--half-width", m, "--seed", 3)
        assert p.returncode == 0, p.stderr
        assert "largest difference between any two" in p.stdout
