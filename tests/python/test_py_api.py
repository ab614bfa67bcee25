"""The package's public face: what it exports, the words it uses (K = kernel_size counts taps,
lo..hi is their range), the one-recording fit(x, y), the old spellings kept with a
DeprecationWarning, and the tuning cache's problems reaching method="auto" as a warning."""

import warnings

import numpy as np
import pytest

import convgrad

X = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
Y = np.array([0.0, 1.0, 0.0, -1.0, 2.0])


def test_namespace_is_the_api_only():
    names = set(dir(convgrad))
    assert names == set(convgrad.__all__) | {"__version__"}
    for leaked in ("np", "numpy", "operator", "json", "os", "warnings", "_core", "_checks", "_ops",
                   "_fit", "_tuning"):
        assert leaked not in names
    for name in convgrad.__all__:
        assert callable(getattr(convgrad, name)) or name == "adaptive", name
    assert convgrad.adaptive.__name__ == "convgrad.adaptive"  # the adaptive filters' module
    star = {}
    exec("from convgrad import *", star)
    assert set(star) - {"__builtins__"} == set(convgrad.__all__)


def test_fit_takes_one_recording_like_other_fitting_apis():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new spellings warn about nothing
        one = convgrad.fit(X, Y, kernel_size=3)
        positional = convgrad.fit(X, Y, 3)
        pairs = convgrad.fit([(X, Y)], kernel_size=3)
    assert np.array_equal(one.h, pairs.h) and np.array_equal(positional.h, pairs.h)
    assert one.summary["K"] == 3 and (one.lo, one.hi) == (-1, 1)
    with pytest.raises(TypeError, match=r"fit\(x\) needs the target too"):
        convgrad.fit(X, kernel_size=3)
    with pytest.raises(TypeError, match="y has dtype float32 but x has float64"):
        convgrad.fit(X, Y.astype(np.float32), kernel_size=3)


def test_old_spellings_still_work_with_a_deprecation_warning():
    expected = convgrad.fit(X, Y, kernel_size=3).h
    with pytest.warns(DeprecationWarning, match="taps= is deprecated: use kernel_size="):
        assert np.array_equal(convgrad.fit([(X, Y)], taps=3).h, expected)
    with pytest.warns(DeprecationWarning, match="taps= is deprecated"):
        assert np.array_equal(convgrad.fit(X, Y, taps=3).h, expected)  # the reported failure
    with pytest.warns(DeprecationWarning, match=r"fit\(pairs, K\) is deprecated"):
        assert np.array_equal(convgrad.fit([(X, Y)], 3).h, expected)
    with pytest.raises(TypeError, match="give kernel_size only"):
        convgrad.fit(X, Y, kernel_size=3, taps=3)
    summary = convgrad.fit(X, Y, kernel_size=3).summary
    with pytest.warns(DeprecationWarning, match='"taps" is deprecated: use "K"'):
        assert summary["taps"] == summary["K"] == 3


def test_the_warning_points_at_the_callers_line():
    with pytest.warns(DeprecationWarning) as caught:
        convgrad.fit([(X, Y)], taps=3)
    assert caught[0].filename == __file__


def test_batch_zero_is_the_old_spelling_of_all_pairs():
    pairs = [(X, Y), (Y, X), (X, X)]
    every = convgrad.fit(pairs, kernel_size=3, solver="gd", max_iter=20, batch=None)
    with pytest.warns(DeprecationWarning, match="batch=0 is deprecated"):
        old = convgrad.fit(pairs, kernel_size=3, solver="gd", max_iter=20, batch=0)
    assert np.array_equal(old.h, every.h)
    with pytest.raises(ValueError, match="batch = -1 must be >= 1"):
        convgrad.fit(pairs, kernel_size=3, solver="gd", batch=-1)
    with pytest.raises(ValueError, match="batch: 4 pairs per step, but the data set has only 3"):
        convgrad.fit(pairs, kernel_size=3, solver="gd", batch=4)


def test_the_default_solver_is_exact():
    assert convgrad.fit(X, Y, kernel_size=3).solver == "exact"


@pytest.fixture
def cache_problem(monkeypatch):
    """A tuning-cache problem waiting in the core, as _core.take_tune_warning reports it."""
    pending = ["tuning cache /x/tune.json: unreadable (Permission denied); using the cost model"]

    def take():
        return pending.pop() if pending else None

    monkeypatch.setattr(convgrad._core, "take_tune_warning", take, raising=False)
    return pending


@pytest.mark.parametrize("call", [
    lambda: convgrad.conv(X, np.ones(3)),
    lambda: convgrad.loss_and_grad(X, Y, np.ones(3)),
    lambda: convgrad.grad_kernel(X, Y, 3),
    lambda: convgrad.grad_input(np.ones(3), Y),
    lambda: convgrad.fit(X, Y, kernel_size=3, solver="gd", max_iter=3),
])
def test_a_tuning_cache_problem_reaches_auto_users_once(cache_problem, call):
    with pytest.warns(RuntimeWarning, match="tuning cache /x/tune.json: unreadable"):
        call()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        call()  # reported once, not again


def test_an_explicit_method_does_not_report_the_cache(cache_problem):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        convgrad.conv(X, np.ones(3), method="direct")
    assert cache_problem  # still waiting for the next "auto" call


def test_torch_layer_reports_the_cache_and_takes_kernel_size(cache_problem):
    torch = pytest.importorskip("torch")
    from convgrad.torch import ConvSame, conv_same
    with pytest.warns(RuntimeWarning, match="unreadable"):
        conv_same(torch.tensor(X), torch.ones(3, dtype=torch.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer = ConvSame(kernel_size=5, dtype=torch.float64)
    assert (layer.lo, layer.hi) == (-2, 2) and "kernel_size=5" in repr(layer)
    with pytest.warns(DeprecationWarning, match="taps= is deprecated"):
        assert ConvSame(taps=5).h.shape == (5,)


def test_tune_takes_kernel_size(tmp_path):
    convgrad.set_tuning(False, cache=tmp_path / "tune.json")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rec = convgrad.tune(500, kernel_size=3)
        assert rec["K"] == 3
        with pytest.warns(DeprecationWarning, match="taps= is deprecated"):
            assert convgrad.tune(500, taps=3)["K"] == 3
        with pytest.warns(DeprecationWarning, match='"taps" is deprecated'):
            assert rec["taps"] == 3
    finally:
        convgrad.set_tuning(False)


def test_half_width_names_the_centred_range():
    res = convgrad.fit(X, Y, half_width=1)
    assert (res.lo, res.hi) == (-1, 1)
    assert np.array_equal(res.h, convgrad.fit(X, Y, kernel_size=3).h)
    with pytest.raises(ValueError, match="give half_width alone"):
        convgrad.fit(X, Y, kernel_size=3, half_width=1)
    with pytest.raises(ValueError, match="half_width = -1 must be >= 0"):
        convgrad.fit(X, Y, half_width=-1)
