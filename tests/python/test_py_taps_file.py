"""convgrad.read_taps / write_taps: the command line's taps files from Python, range and rate kept."""
import json

import numpy as np
import pytest
import scipy.io.wavfile

import convgrad


@pytest.mark.parametrize("name", ["h.json", "h.csv", "h.txt"])
@pytest.mark.parametrize("lo,rate", [(0, 48000.0), (-3, None), (7, 22050.5)])
def test_round_trip_keeps_values_range_and_rate(tmp_path, name, lo, rate):
    h = np.random.default_rng(3).standard_normal(6)
    convgrad.write_taps(tmp_path / name, h, lo, sample_rate=rate)
    got, got_lo, got_rate = convgrad.read_taps(tmp_path / name)
    np.testing.assert_array_equal(got, h)  # 17 significant digits: every double round-trips
    assert got.dtype == np.float64 and got_lo == lo and got_rate == rate


def test_npy_holds_centred_taps_only(tmp_path):
    h = np.arange(5.0)
    convgrad.write_taps(tmp_path / "c.npy", h, -2)  # centred: nothing lost
    got, lo, rate = convgrad.read_taps(tmp_path / "c.npy")
    np.testing.assert_array_equal(got, h)
    assert lo is None and rate is None  # no recorded range means the centred convention
    with pytest.raises(ValueError, match=r"\.json or \.csv"):
        convgrad.write_taps(tmp_path / "causal.npy", h, 0)
    assert not (tmp_path / "causal.npy").exists()


def test_lo_none_means_centred_and_needs_an_odd_count(tmp_path):
    convgrad.write_taps(tmp_path / "h.json", np.ones(3), None)
    assert json.loads((tmp_path / "h.json").read_text())["lo"] == -1
    with pytest.raises(ValueError, match="even"):
        convgrad.write_taps(tmp_path / "e.json", np.ones(4), None)


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(TypeError, match="lo"):
        convgrad.write_taps(tmp_path / "h.json", np.ones(3), 1.5)
    with pytest.raises(TypeError, match="sample_rate"):
        convgrad.write_taps(tmp_path / "h.json", np.ones(3), 0, sample_rate="fast")
    with pytest.raises(ValueError, match="sample_rate"):
        convgrad.write_taps(tmp_path / "h.json", np.ones(3), 0, sample_rate=-1.0)
    with pytest.raises(ValueError, match="1-D"):
        convgrad.write_taps(tmp_path / "h.json", np.ones((2, 2)), 0)
    with pytest.raises(OSError, match="missing.json"):
        convgrad.read_taps(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"lo": 0, "h": [1, "a"]}')
    with pytest.raises(OSError, match=r"bad\.json.*h\[1\]"):
        convgrad.read_taps(tmp_path / "bad.json")
    assert list(p.name for p in tmp_path.iterdir()) == ["bad.json"]  # nothing half-written


@pytest.mark.parametrize("name", ["h.json", "h.csv"])
def test_reads_what_the_command_writes(run_cli, tmp_path, name):
    rng = np.random.default_rng(5)
    x = (0.3 * rng.standard_normal(500)).astype(np.float32)
    y = np.convolve(x, [0.5, -0.25, 0.125])[:500].astype(np.float32)
    scipy.io.wavfile.write(tmp_path / "x.wav", 16000, x)
    scipy.io.wavfile.write(tmp_path / "y.wav", 16000, y)
    r = run_cli("fit", "--x", tmp_path / "x.wav", "--y", tmp_path / "y.wav", "--causal", 3, "--out", tmp_path / name,
                "--quiet")
    assert r.returncode == 0, r.stderr
    h, lo, rate = convgrad.read_taps(tmp_path / name)
    assert lo == 0 and rate == 16000.0
    # The taps apply in Python exactly as the command applies them: same range, same filter.
    np.testing.assert_allclose(convgrad.conv(x.astype(np.float64), h, lo), y, atol=1e-6)
