"""The example scripts run and reach their own success criteria (exit status 0)."""

import os
import re
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def run(script):
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_train_torch_recovers_the_filter():
    out = run("train_torch.py")
    err = float(re.search(r"final relative error (\S+)", out).group(1))
    assert err < 1e-6


def test_train_conv1d_gives_nn_conv1ds_losses():
    out = run("train_conv1d.py")
    worst = float(re.search(r"largest relative difference of the losses (\S+)", out).group(1))
    fall = float(re.search(r"\((\S+)x\)", out).group(1))
    # float64 throughout: the two models differ only in the rounding of their sums.
    assert worst <= 1e-9 and fall >= 10


def test_fit_compare_agrees_with_lstsq():
    out = run("fit_compare.py")
    diffs = [float(v) for v in re.findall(r"vs lstsq: relative difference (\S+)", out)]
    assert diffs and all(d < 1e-8 for d in diffs)
    import convgrad
    assert ("exact vs lstsq" in out) == hasattr(convgrad, "fit")


@pytest.mark.parametrize("module", ["convgrad", "convgrad._ops", "convgrad._fit", "convgrad._tuning", "convgrad._channels",
                                    "convgrad.torch"])
def test_docstring_examples(module):
    import doctest
    import importlib
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    # The package's own docstring has no example (they live beside each function).
    assert (result.attempted > 0 or module == "convgrad") and result.failed == 0
