"""`--tune` and `convgrad tune` through the command line (docs/tune.md).

Each test points CONVGRAD_TUNE_CACHE at its own file under tmp_path. What is checked: a tuned
run says so and writes a version-1 cache with both timings; a second run obeys the cache
(a record edited to name the other method is followed, and not measured again); `--tune`
with an explicit method is a usage error; a corrupt or unwritable cache costs one warning
line, never the exit code. No test asserts which method is faster.
"""
import json
import os
import stat
import subprocess

import numpy as np
import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "tune.json"
    monkeypatch.setenv("CONVGRAD_TUNE_CACHE", str(path))
    monkeypatch.delenv("CONVGRAD_TUNE", raising=False)
    return path


@pytest.fixture
def signals(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(2000)
    y = np.convolve(x, [0.25, 1.0, -0.5], mode="same")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "x.npy", tmp_path / "y.npy"


def grad_json(run_cli, signals, *extra):
    x, y = signals
    r = run_cli("grad", "--x", x, "--y", y, "--half-width", 1, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r


def the_record(cache):
    doc = json.loads(cache.read_text())
    assert doc["version"] == 1
    assert len(doc["records"]) == 1
    return doc, doc["records"][0]


def test_grad_tune_measures_reports_it_and_writes_the_cache(run_cli, cache, signals):
    out, r = grad_json(run_cli, signals, "--tune")
    assert r.stderr == ""
    assert out["method_requested"] == "auto" and out["method_source"] == "tuned"
    assert out["method"] in ("direct", "fft")
    _, rec = the_record(cache)
    assert (rec["dtype"], rec["n"], rec["lo"], rec["hi"]) == ("float64", 2000, -1, 1)
    assert rec["choice"] == out["method"] and rec["source"] == "measured"
    assert rec["direct_s"] > 0 and rec["fft_s"] > 0
    assert rec["model_choice"] in ("direct", "fft") and rec["threads"] >= 1


def test_a_second_run_obeys_the_cache_and_gives_that_methods_result(run_cli, cache, signals):
    grad_json(run_cli, signals, "--tune")
    doc, rec = the_record(cache)
    other = "fft" if rec["choice"] == "direct" else "direct"
    rec.update(choice=other, direct_s=1.0, fft_s=1.0)  # the marks of an edited record
    cache.write_text(json.dumps(doc))

    out, _ = grad_json(run_cli, signals, "--tune")
    assert out["method"] == other and out["method_source"] == "tuned"
    _, after = the_record(cache)
    assert after == rec  # not measured again
    explicit, _ = grad_json(run_cli, signals, "--method", other)
    assert out["dh"] == explicit["dh"] and out["dx"] == explicit["dx"] and out["loss"] == explicit["loss"]


def test_without_tune_the_model_decides_and_nothing_is_written(run_cli, cache, signals):
    out, _ = grad_json(run_cli, signals)
    assert out["method_source"] == "model"
    out, _ = grad_json(run_cli, signals, "--method", "direct")
    assert out["method_source"] == "requested"
    assert not cache.exists()


def test_the_environment_turns_tuning_on(run_cli, cache, signals, monkeypatch):
    monkeypatch.setenv("CONVGRAD_TUNE", "1")
    out, _ = grad_json(run_cli, signals)
    assert out["method_source"] == "tuned"
    assert cache.exists()


def test_the_human_output_says_the_choice_was_measured(run_cli, cache, signals):
    x, y = signals
    r = run_cli("grad", "--x", x, "--y", y, "--half-width", 1, "--tune")
    assert r.returncode == 0, r.stderr
    assert "(chosen by auto, measured by --tune)" in r.stdout


@pytest.mark.parametrize("command", ["grad", "fit", "apply"])
def test_tune_with_an_explicit_method_is_a_usage_error(run_cli, cache, signals, tmp_path, command):
    x, y = signals
    h = tmp_path / "h.txt"
    h.write_text("0.5\n1\n0.25\n")
    args = {"grad": ["--x", x, "--y", y, "--half-width", 1],
            "fit": ["--x", x, "--y", y, "--half-width", 1, "--out", tmp_path / "out.csv"],
            "apply": ["--h", h, "--x", x, "--out", tmp_path / "out.txt"]}[command]
    r = run_cli(command, *args, "--tune", "--method", "direct")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("convgrad: error: --tune")
    assert "--method direct" in r.stderr
    assert not cache.exists() and not (tmp_path / "out.csv").exists() and not (tmp_path / "out.txt").exists()


def test_fit_and_apply_tune_their_sizes(run_cli, cache, signals, tmp_path):
    x, y = signals
    r = run_cli("fit", "--x", x, "--y", y, "--half-width", 1, "--solver", "gd", "--tune", "--quiet",
                "--out", tmp_path / "h.csv")
    assert r.returncode == 0, r.stderr
    doc = json.loads(cache.read_text())
    # The fit convolves chunk windows (issue 10): N + K - 1 = 2002 samples with the taps shifted
    # to 0..K-1, and tunes that size.
    assert [(rec["n"], rec["lo"], rec["hi"]) for rec in doc["records"]] == [(2002, 0, 2)]
    r = run_cli("apply", "--h", tmp_path / "h.csv", "--x", x, "--out", tmp_path / "yhat.npy", "--tune")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "yhat.npy").shape == (2000,)


def test_tune_command_prints_both_timings_the_choices_and_the_file(run_cli, cache):
    r = run_cli("tune", "--n", 5000, "--half-width", 15)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("tune: N = 5000 samples, K = 31 taps (m = -15..15), float64")
    assert lines[1].startswith("  direct  ") and lines[1].endswith(" s per step")
    assert lines[2].startswith("  fft     ") and lines[2].endswith(" s per step")
    _, rec = the_record(cache)
    assert lines[3] == f"  choice  {rec['choice']} (measured); the cost model chooses {rec['model_choice']}"
    assert lines[4] == f"  saved   {cache}"

    r = run_cli("tune", "--n", 5000, "--causal", 8, "--dtype", "float32", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["dtype"], out["n"], out["lo"], out["hi"], out["K"]) == ("float32", 5000, 0, 7, 8)
    assert out["cache"] == str(cache) and out["source"] == "measured"
    assert out["direct_s"] > 0 and out["fft_s"] > 0
    records = json.loads(cache.read_text())["records"]
    assert len(records) == 2
    assert {k: v for k, v in out.items() if k not in ("K", "cache")} in records


def test_tune_command_skips_a_method_the_model_expects_over_a_second(run_cli, cache):
    # N K = 1.6e10 taps: the cost model puts float64 direct at 0.081 ns a tap, 1.3 s
    r = run_cli("tune", "--n", 1000000, "--half-width", 8191, "--dtype", "float64", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["direct_s"] is None and out["fft_s"] > 0
    assert out["choice"] == "fft" and out["source"] == "model: direct predicted > 1 s per step"


@pytest.mark.parametrize("args, message", [
    (["--half-width", 1], "--n"),
    (["--n", 0, "--half-width", 1], "--n: 0 is out of range"),
    (["--n", 10], "no tap range"),
    (["--n", 10, "--half-width", 1, "--causal", 3], "only one of"),
    (["--n", 10, "--half-width", 1, "--dtype", "int8"], "--dtype"),
])
def test_tune_command_usage_errors(run_cli, cache, args, message):
    r = run_cli("tune", *args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("convgrad: error:") and message in r.stderr
    assert not cache.exists()


def test_a_corrupt_cache_costs_one_warning_and_is_replaced(run_cli, cache, signals):
    cache.parent.mkdir()
    cache.write_text("{ not json")
    out, r = grad_json(run_cli, signals, "--tune")
    assert out["method_source"] == "tuned"
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"convgrad: warning: tune cache {cache} ignored")
    the_record(cache)  # a valid cache again


def test_a_cache_of_another_version_is_ignored(run_cli, cache, signals):
    cache.parent.mkdir()
    cache.write_text(json.dumps({"version": 2, "records": []}))
    out, r = grad_json(run_cli, signals, "--tune")
    assert out["method_source"] == "tuned"
    assert "version 2" in r.stderr and r.stderr.startswith("convgrad: warning:")


def test_an_unwritable_cache_costs_one_warning(run_cli, signals, tmp_path, monkeypatch):
    (tmp_path / "blocker").write_text("a file, not a directory")
    monkeypatch.setenv("CONVGRAD_TUNE_CACHE", str(tmp_path / "blocker" / "tune.json"))
    out, r = grad_json(run_cli, signals, "--tune")
    assert out["method_source"] == "tuned"
    assert r.stderr.count("\n") == 1 and "not written" in r.stderr
    r = run_cli("tune", "--n", 100, "--half-width", 1)
    assert r.returncode == 0
    assert "  saved   nowhere (see the warning)" in r.stdout and "not written" in r.stderr


def test_concurrent_tune_runs_keep_every_record(convgrad_bin, tmp_path):
    # Eight processes tuning different sizes against one cache file, three rounds: the
    # read-merge-write of each runs under the lock file beside the cache, so no record is lost
    # (without the lock, about a third were: a writer renamed its merge over another's).
    cache = tmp_path / "tune.json"
    env = {**os.environ, "CONVGRAD_TUNE_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    sizes = [1000 + 37 * i for i in range(24)]
    for round_sizes in (sizes[0:8], sizes[8:16], sizes[16:24]):
        runs = [subprocess.Popen([str(convgrad_bin), "tune", "--n", str(n), "--half-width", "1"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for n in round_sizes]
        for p in runs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0 and err == ""
    records = json.loads(cache.read_text())["records"]
    assert sorted(r["n"] for r in records) == sizes


def test_a_device_as_the_cache_is_never_replaced(run_cli, tmp_path, monkeypatch):
    # CONVGRAD_TUNE_CACHE=/dev/null used to turn /dev/null into a regular file (as root). Now a
    # cache that is not a regular file is refused with one warning and left as it is. The
    # device is a null device made in tmp_path (never /dev itself: a regression must not
    # damage the machine).
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    monkeypatch.setenv("CONVGRAD_TUNE_CACHE", str(device))
    r = run_cli("tune", "--n", 100, "--half-width", 1)
    assert r.returncode == 0
    assert "saved   nowhere (see the warning)" in r.stdout
    assert r.stderr.count("\n") == 1 and str(device) in r.stderr and "not a regular file" in r.stderr
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no lock file, no temporary
