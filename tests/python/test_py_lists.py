"""The Python package speaks its user's language (issue 14, item 6).

Every public function takes Python lists of ints and floats where NumPy's own functions
would, with the same result as float64 arrays (or float32, beside a float32 array); an
integer *array* is still refused (nothing is cast silently). help(convgrad.torch) states how
conv_same relates to F.conv1d, and that relation holds. The user documentation (README,
docs/, the command's help and man page, the package's docstrings) uses no internal terms and
links only to files that exist.
"""
import os
import pathlib
import re
import subprocess

import numpy as np
import pytest

import convgrad
import convgrad.adaptive

ROOT = pathlib.Path(__file__).resolve().parents[2]

X = [1, -2, 3, 0.5, -1, 2, 0, 1.5]  # ints and floats mixed, as a user types them
Y = [0, 1, 2.5, -1, 0, 3, 1, -2]
H = [1, 2, 3]


def f64(a):
    return np.asarray(a, dtype=np.float64)


def same(a, b):
    """Results equal, array by array (tuples, dicts and scalars alike)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            same(u, v)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


CALLS = {  # every public NumPy function, called with lists and with float64 arrays
    "conv": lambda a: convgrad.conv(a(X), a(H), lo=0),
    "loss_and_grad": lambda a: convgrad.loss_and_grad(a(X), a(Y), a(H), lo=0, input_grad=True),
    "grad_kernel": lambda a: convgrad.grad_kernel(a(X), a(Y), 3, lo=0),
    "grad_input": lambda a: convgrad.grad_input(a(H), a(Y), lo=0),
    "jacobians": lambda a: convgrad.jacobians(a(X), a(Y), a(H), lo=0),
    "fit": lambda a: convgrad.fit(a(X), a(Y), kernel_size=3, lo=0).h,
    "fit pairs": lambda a: convgrad.fit([(a(X), a(Y))], kernel_size=3, lo=0).h,
    "fit h0": lambda a: convgrad.fit(a(X), a(Y), kernel_size=3, lo=0, solver="gd", max_iter=3, h0=a(H)).h,
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_function_takes_lists_of_ints_and_floats(name):
    same(CALLS[name](list), CALLS[name](f64))
    same(CALLS[name](tuple), CALLS[name](f64))


def test_check_takes_lists():
    by_list = convgrad.check(X, Y, H, lo=0)
    by_array = convgrad.check(f64(X), f64(Y), f64(H), lo=0)
    assert by_list["ok"] and by_list["loss"] == by_array["loss"]


def test_a_list_beside_a_float32_array_is_float32():
    out = convgrad.conv(np.asarray(X, dtype=np.float32), H, lo=0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, convgrad.conv(np.asarray(X, dtype=np.float32),
                                                     np.asarray(H, dtype=np.float32), lo=0))


def test_an_integer_array_is_still_refused_and_a_list_of_words_too():
    with pytest.raises(TypeError, match="x has dtype int64"):
        convgrad.conv(np.array([1, 2, 3]), f64(H), lo=0)
    with pytest.raises(TypeError, match="h has dtype <U1"):
        convgrad.conv(X, ["a", "b"], lo=0)


@pytest.mark.parametrize("make", [lambda: convgrad.adaptive.NLMS(3), lambda: convgrad.adaptive.RLS(3),
                                  lambda: convgrad.adaptive.LMS(3, mu=0.01)])
def test_adaptive_filters_take_lists(make):
    by_list, by_array = make(), make()
    same(by_list.process(X, Y), by_array.process(f64(X), f64(Y)))
    by_list.h = H
    by_array.h = f64(H)
    same(by_list.h, by_array.h)


def test_write_taps_takes_a_list(tmp_path):
    convgrad.write_taps(tmp_path / "h.json", H, lo=0)
    h, lo, _ = convgrad.read_taps(tmp_path / "h.json")
    np.testing.assert_array_equal(h, f64(H))
    assert lo == 0


# ---- convgrad.torch and F.conv1d ------------------------------------------------------------------

def test_torch_help_states_the_conv1d_equivalence_and_it_holds():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    import convgrad.torch as ct
    doc = ct.__doc__
    assert "F.conv1d" in doc and "flip" in doc and "padding='same'" in doc and "lo = -(K//2)" in doc
    rng = np.random.default_rng(1)
    for K in range(1, 8):
        x = torch.from_numpy(rng.standard_normal((2, 13)))
        w = torch.from_numpy(rng.standard_normal(K))
        lo = -(K // 2)
        hi = lo + K - 1
        ours = ct.conv_same(x, w.flip(0), lo=lo)
        same_pad = F.conv1d(x[:, None], w[None, None], padding="same")[:, 0]
        torch.testing.assert_close(ours, same_pad, rtol=0, atol=1e-12 * K)
        padded = F.conv1d(F.pad(x, (hi, -lo))[:, None], w[None, None])[:, 0]
        torch.testing.assert_close(ct.conv_same(x, w.flip(0), lo=lo), padded, rtol=0, atol=1e-12 * K)


# ---- the user's language ---------------------------------------------------------------------------

INTERNAL = [r"\bissues? \d", r"the seed'?s?\b", r"DESIGN\.md"]


def user_texts(convgrad_bin):
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    import convgrad.torch
    for module in [convgrad, convgrad.torch, convgrad.adaptive, convgrad.taps_file]:
        texts[f"help({module.__name__})"] = module.__doc__ or ""
    for name in convgrad.__all__:
        texts[f"help(convgrad.{name})"] = getattr(convgrad, name).__doc__ or ""
    for sub in ["", "demo", "grad", "check", "explain", "fit", "apply", "tune", "adapt"]:
        args = [str(convgrad_bin), *([sub] if sub else []), "--help"]
        texts[f"convgrad {sub} --help"] = subprocess.run(args, capture_output=True, text=True).stdout
    texts["convgrad.1"] = (pathlib.Path(convgrad_bin).parent / "convgrad.1").read_text()
    return texts


def test_user_documentation_has_no_internal_terms(convgrad_bin):
    for where, text in user_texts(convgrad_bin).items():
        flat = " ".join(text.split())
        for pattern in INTERNAL:
            m = re.search(pattern, flat)
            assert not m, f"{where}: internal term {m.group(0)!r} in ...{flat[max(0, m.start() - 60):m.end() + 60]}..."
    readme = " ".join((ROOT / "README.md").read_text().split())
    if "Mtaps/s" in readme:
        assert "Mtaps/s is millions of taps per second" in readme  # defined where it is used


def test_links_in_the_docs_resolve():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
