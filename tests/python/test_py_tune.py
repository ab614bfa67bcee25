"""convgrad.set_tuning, tuning_enabled and tune (docs/tune.md): the record tune() returns and
saves, that method="auto" obeys a cached record (bit for bit the chosen method's result),
and the errors and warnings. Tuning is switched off again after every test; no test asserts
which method is faster."""
import json

import numpy as np
import pytest

import convgrad


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVGRAD_TUNE", raising=False)
    path = tmp_path / "tune.json"
    convgrad.set_tuning(True, cache=path)
    yield path
    convgrad.set_tuning(False)


def test_set_tuning_switches_it(cache):
    assert convgrad.tuning_enabled() is True
    convgrad.set_tuning(False)
    assert convgrad.tuning_enabled() is False


def test_tune_returns_the_record_it_saves(cache):
    rec = convgrad.tune(3000, kernel_size=5, dtype=np.float32)
    assert (rec["dtype"], rec["n"], rec["lo"], rec["hi"], rec["K"]) == ("float32", 3000, -2, 2, 5)
    assert rec["choice"] in ("direct", "fft") and rec["model_choice"] in ("direct", "fft")
    assert rec["direct_s"] > 0 and rec["fft_s"] > 0 and rec["source"] == "measured"
    assert rec["cache"] == str(cache)
    saved = json.loads(cache.read_text())["records"]
    assert saved == [{k: v for k, v in rec.items() if k not in ("K", "taps", "cache")}]
    rec = convgrad.tune(3000, lo=0, hi=6)
    assert (rec["dtype"], rec["lo"], rec["hi"], rec["K"]) == ("float64", 0, 6, 7)
    assert len(json.loads(cache.read_text())["records"]) == 2


def test_off_means_auto_measures_nothing(tmp_path):
    convgrad.set_tuning(False, cache=tmp_path / "tune.json")
    convgrad.conv(np.ones(100), np.ones(3))
    assert not (tmp_path / "tune.json").exists()


def test_auto_obeys_a_cached_record(cache, tmp_path):
    x = np.random.default_rng(1).standard_normal(1000)
    y = np.random.default_rng(2).standard_normal(1000)
    h = np.array([0.5, 1.0, 0.25])
    rec = convgrad.tune(1000, kernel_size=3)
    other = "fft" if rec["choice"] == "direct" else "direct"
    doc = json.loads(cache.read_text())
    doc["records"][0]["choice"] = other
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    convgrad.set_tuning(True, cache=edited)  # another file: its records are read afresh
    loss, dh, dx = convgrad.loss_and_grad(x, y, h, input_grad=True)
    want = convgrad.loss_and_grad(x, y, h, method=other, input_grad=True)
    assert loss == want[0]
    np.testing.assert_array_equal(dh, want[1])
    np.testing.assert_array_equal(dx, want[2])
    assert json.loads(edited.read_text()) == doc  # obeyed, not measured again


def test_an_unwritable_cache_warns_and_returns_the_record(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVGRAD_TUNE", raising=False)
    (tmp_path / "blocker").write_text("a file, not a directory")
    convgrad.set_tuning(True, cache=tmp_path / "blocker" / "tune.json")
    try:
        with pytest.warns(RuntimeWarning, match="not written"):
            rec = convgrad.tune(500, kernel_size=3)
    finally:
        convgrad.set_tuning(False)
    assert rec["cache"] is None and rec["choice"] in ("direct", "fft")


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(n=0, kernel_size=3), ValueError, "n = 0"),
    (dict(n=1.5, kernel_size=3), TypeError, "n must be an integer"),
    (dict(n=100), ValueError, "taps are not given"),
    (dict(n=100, kernel_size=3, hi=2), ValueError, "not kernel_size and hi"),
    (dict(n=100, kernel_size=4), ValueError, "even"),
    (dict(n=100, kernel_size=3, dtype="int32"), TypeError, "dtype"),
    (dict(n=100, kernel_size=3, dtype="no such type"), TypeError, "dtype"),
])
def test_tune_argument_errors(cache, kwargs, error, message):
    with pytest.raises(error, match=message):
        convgrad.tune(**kwargs)
    assert not cache.exists()


def test_set_tuning_refuses_a_cache_that_is_not_a_path():
    with pytest.raises(TypeError):
        convgrad.set_tuning(True, cache=3)
    assert convgrad.tuning_enabled() is False


@pytest.mark.parametrize("call", [
    lambda x: convgrad.conv(x, np.ones(3)),
    lambda x: convgrad.loss_and_grad(x, x, np.ones(3)),
    lambda x: convgrad.grad_kernel(x, x, 3),
    lambda x: convgrad.grad_input(np.ones(3), x),
    lambda x: convgrad.fit([(x, x)], kernel_size=3, solver="gd", max_iter=2),
], ids=["conv", "loss_and_grad", "grad_kernel", "grad_input", "fit"])
def test_method_auto_warns_about_a_cache_problem_once(cache, call):
    # A corrupt cache met by a method="auto" call (not only by convgrad.tune) reaches Python
    # as one RuntimeWarning; the next call has nothing new to say.
    cache.write_text("{ not json")
    x = np.linspace(-1.0, 1.0, 700)
    with pytest.warns(RuntimeWarning, match="ignored"):
        call(x)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        call(x)


def test_take_tune_warning_is_none_without_a_problem(cache):
    convgrad.conv(np.linspace(-1.0, 1.0, 500), np.ones(3))
    assert convgrad._core.take_tune_warning() is None
