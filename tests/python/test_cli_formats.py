"""The formats users already have (issue 14 item 3): MATLAB .mat files in (v5 written by
scipy; v7.3 is read through the same libmatio call, tested in tests/cpp/test_io.cpp) and out,
every output option writing the format its extension names or refusing it with the list, and
WAV output as float, 16-bit or 24-bit PCM that scipy reads without a warning."""
import json
import warnings

import numpy as np
import pytest
import scipy.io
import scipy.io.wavfile

RATE = 8000


def conv_same(x, h, lo):
    """yhat[n] = sum_{m=lo..hi} h[m] x[n-m] ('same' length), the library's convention."""
    full = np.convolve(x, h)
    return full[-lo:-lo + len(x)] if lo < 0 else np.concatenate([np.zeros(lo), full])[:len(x)]


def grads(x, y, h, lo):
    r = conv_same(x, h, lo) - y
    dh = np.array([sum(r[n] * x[n - m] for n in range(len(x)) if 0 <= n - m < len(x))
                   for m in range(lo, lo + len(h))])
    return r, dh


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(40)
    h = np.array([0.5, -1.0, 0.25])
    y = conv_same(x, h, -1) + 0.1 * rng.standard_normal(40)
    scipy.io.savemat(tmp_path / "d.mat", {"x": x, "y": y, "fs": float(RATE)})
    scipy.io.savemat(tmp_path / "named.mat", {"far": x[None, :].astype(np.float32), "mic": y[:, None]})
    scipy.io.savemat(tmp_path / "one.mat", {"sig": x})
    scipy.io.savemat(tmp_path / "matrix.mat", {"m": np.ones((3, 4)), "s": "text"})
    np.savetxt(tmp_path / "x.txt", x)
    np.savetxt(tmp_path / "y.txt", y)
    return tmp_path, x, y


def test_mat_inputs_by_role_name_by_var_and_by_role_var(run_cli, data):
    d, x, y = data
    _, dh = grads(x, y, np.zeros(3), -1)
    # Several vectors: the one named like the option (x for --x, y for --y).
    for args in (["--x", d / "d.mat", "--y", d / "d.mat"],
                 ["--x", d / "named.mat", "--y", d / "named.mat", "--var", "x=far", "--var", "y=mic"],
                 ["--x", d / "one.mat", "--y", d / "y.txt"]):  # the file's only vector
        p = run_cli("grad", *args, "--half-width", 1, "--json")
        assert p.returncode == 0, p.stderr
        # float32 'far' widens exactly; the tolerance is the rounding of N products (float32 x).
        got = np.array(json.loads(p.stdout)["dh"])
        tol = 64 * np.finfo(np.float32).eps * np.linalg.norm(x) * np.linalg.norm(y)
        assert np.max(np.abs(got - dh)) <= tol


def test_mat_errors_list_the_variables(run_cli, data):
    d, _, _ = data
    p = run_cli("grad", "--x", d / "d.mat", "--y", d / "d.mat", "--var", "nope", "--half-width", 1)
    assert p.returncode == 1 and "no variable 'nope'" in p.stderr
    assert "x (1 x 40 double)" in p.stderr and "fs (1 x 1 double)" in p.stderr
    p = run_cli("grad", "--x", d / "named.mat", "--y", d / "y.txt", "--half-width", 1)  # far, mic: which?
    assert p.returncode == 1 and "--var NAME" in p.stderr and "far (1 x 40 single)" in p.stderr
    p = run_cli("grad", "--x", d / "matrix.mat", "--y", d / "y.txt", "--var", "m", "--half-width", 1)
    assert p.returncode == 1 and "3 x 4 double" in p.stderr and "not a signal" in p.stderr
    p = run_cli("grad", "--x", d / "x.txt", "--y", d / "y.txt", "--half-width", 1, "--var", "=x")
    p2 = run_cli("grad", "--x", d / "d.mat", "--y", d / "y.txt", "--half-width", 1, "--var", "=x")
    assert p2.returncode == 2 and "ROLE=NAME" in p2.stderr
    (d / "bad.mat").write_text("MATLAB 5.0 but not really")
    p = run_cli("grad", "--x", d / "bad.mat", "--y", d / "y.txt", "--half-width", 1)
    assert p.returncode == 1 and "not a readable MATLAB .mat file" in p.stderr


def test_mat_outputs_hold_the_values_under_their_names(run_cli, data):
    d, x, y = data
    p = run_cli("grad", "--x", d / "x.txt", "--y", d / "y.txt", "--half-width", 1,
                "--out-dh", d / "dh.mat", "--out-dx", d / "dx.mat", "--json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert scipy.io.loadmat(d / "dh.mat")["dh"].ravel().tolist() == j["dh"]
    assert scipy.io.loadmat(d / "dx.mat")["dx"].ravel().tolist() == j["dx"]
    # Taps in .mat record their range (and rate): fit -> apply uses the causal range m = 0..3.
    p = run_cli("fit", "--x", d / "x.txt", "--y", d / "y.txt", "--causal", 4, "--out", d / "h.mat")
    assert p.returncode == 0, p.stderr
    m = scipy.io.loadmat(d / "h.mat")
    assert m["lo"].item() == 0 and m["hi"].item() == 3 and m["h"].shape == (4, 1)
    p = run_cli("apply", "--h", d / "h.mat", "--x", d / "x.txt", "--out", d / "yhat.mat")
    assert p.returncode == 0, p.stderr
    yhat = scipy.io.loadmat(d / "yhat.mat")["y"].ravel()
    want = conv_same(x, m["h"].ravel(), 0)
    assert np.max(np.abs(yhat - want)) <= 16 * np.finfo(float).eps * np.sum(np.abs(m["h"])) * np.max(np.abs(x))


# Every output option with every extension: written in that format, or refused (exit 2) with
# the list, before anything is written.
VALUES_OK = [".npy", ".mat", ".json", ".csv", ".txt", ""]
REFUSED = [".h5", ".dat", ".xlsx"]


def read_values(path, name):
    ext = path.suffix
    if ext == ".npy":
        return np.load(path)
    if ext == ".mat":
        return scipy.io.loadmat(path)[name].ravel()
    if ext == ".json":
        return np.array(json.loads(path.read_text()))
    return np.loadtxt(path)


@pytest.mark.parametrize("ext", VALUES_OK + REFUSED + [".wav"])
@pytest.mark.parametrize("option, name", [("--out-dh", "dh"), ("--out-dx", "dx")])
def test_grad_outputs_by_extension(run_cli, data, option, name, ext):
    d, _, _ = data
    out = d / f"o{ext}"
    p = run_cli("grad", "--x", d / "x.txt", "--y", d / "y.txt", "--half-width", 1, option, out, "--json")
    if ext in VALUES_OK:
        assert p.returncode == 0, p.stderr
        assert read_values(out, name).tolist() == json.loads(p.stdout)[name]
    else:
        assert p.returncode == 2 and ".npy, .mat, .json, .csv, .txt" in p.stderr and not out.exists()


@pytest.mark.parametrize("ext", VALUES_OK + REFUSED + [".wav", ".flac"])
def test_apply_out_by_extension(run_cli, data, ext):
    d, x, _ = data
    np.savetxt(d / "h.txt", [0.25, 0.5, 0.25])
    out = d / f"o{ext}"
    p = run_cli("apply", "--h", d / "h.txt", "--x", d / "x.txt", "--out", out, "--sample-rate", RATE)
    want = conv_same(x, [0.25, 0.5, 0.25], -1)
    if ext in VALUES_OK:
        assert p.returncode == 0, p.stderr
        assert np.array_equal(read_values(out, "y"), want)
    elif ext == ".wav":
        assert p.returncode == 0, p.stderr
        assert np.array_equal(scipy.io.wavfile.read(out)[1], want.astype(np.float32))
    else:
        assert p.returncode == 2 and ".wav" in p.stderr and not out.exists()


@pytest.mark.parametrize("option, ok, refused", [
    ("--out", [".json", ".mat", ".csv", ".txt", ""], [".wav", ".h5", ".html"]),
    ("--summary", [".json"], [".txt", ".csv", ".npy"]),
    ("--history", [".csv", ".txt"], [".json", ".npy"]),
    ("--report", [".html", ".htm"], [".svg", ".txt"]),
    ("--plot", [".svg", ".png"], [".jpg", ".html"]),
])
def test_fit_outputs_by_extension(run_cli, data, option, ok, refused):
    d, _, _ = data
    base = ["fit", "--x", d / "x.txt", "--y", d / "y.txt", "--causal", 3, "--solver", "gd", "--max-iter", 50]
    for ext in ok + refused:
        out = d / f"f{option[2:]}{ext}"
        extra = [] if option == "--out" else ["--out", d / "h.json"]
        p = run_cli(*base, *extra, option, out)
        if ext in ok:
            assert p.returncode == 0, (ext, p.stderr)
            assert out.stat().st_size > 0
            if ext == ".json":
                json.loads(out.read_text())
        else:
            assert p.returncode == 2 and not out.exists(), (ext, p.stderr)
            assert "give one of" in p.stderr or "not as a sound file" in p.stderr, p.stderr


@pytest.mark.parametrize("option, ok, refused", [
    ("--out-error", [".wav", ".npy", ".mat", ".json", ".csv"], [".flac", ".h5"]),
    ("--out-h", [".json", ".mat", ".csv"], [".wav", ".h5"]),  # .npy cannot record m = 0..2
    ("--summary", [".json"], [".txt"]),
    ("--report", [".html"], [".svg"]),
    ("--plot", [".svg", ".png"], [".pdf"]),
])
def test_adapt_outputs_by_extension(run_cli, data, option, ok, refused):
    d, x, y = data
    scipy.io.wavfile.write(d / "far.wav", RATE, (0.3 * x).astype(np.float32))
    scipy.io.wavfile.write(d / "mic.wav", RATE, (0.3 * y).astype(np.float32))
    for ext in ok + refused:
        out = d / f"a{option[2:]}{ext}"
        p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic.wav", "--causal", 3, "--lo", 0, option, out)
        if ext in ok:
            assert p.returncode == 0, (ext, p.stderr)
            assert out.stat().st_size > 0
        else:
            assert p.returncode == 2 and not out.exists(), (ext, p.stderr)
            assert "give one of" in p.stderr or "not as a sound file" in p.stderr, p.stderr


def chunks(path):
    data = path.read_bytes()
    at, ids = 12, []
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4:at + 8], "little")
        ids.append(data[at:at + 4].decode("latin-1"))
        at += 8 + size + (size & 1)
    return ids


@pytest.mark.parametrize("fmt, dtype, bits", [("float", np.float32, None), ("pcm16", np.int16, 16),
                                              ("pcm24", np.int32, 24)])
def test_wav_formats_read_by_scipy_without_warnings(run_cli, tmp_path, fmt, dtype, bits):
    rng = np.random.default_rng(5)
    x = 0.6 * rng.standard_normal(4000)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "h.txt", [0.5, 1.0, 0.5])
    p = run_cli("apply", "--h", tmp_path / "h.txt", "--x", tmp_path / "x.npy", "--out", tmp_path / "y.wav",
                "--sample-rate", RATE, "--wav-format", fmt)
    assert p.returncode == 0, p.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a WavFileWarning ("Chunk (non-data) not understood") fails
        rate, got = scipy.io.wavfile.read(tmp_path / "y.wav")
    assert rate == RATE and got.dtype == dtype
    assert chunks(tmp_path / "y.wav") == (["fmt ", "fact", "data"] if fmt == "float" else ["fmt ", "data"])
    want = conv_same(x, [0.5, 1.0, 0.5], -1)
    if bits is None:
        assert np.array_equal(got, want.astype(np.float32))
        assert "clipped" not in p.stderr
        return
    # PCM: within half a quantisation step where |v| <= 1; beyond, clipped and counted.
    step = 2.0 ** (1 - bits)
    scale = 2.0 ** (31 if bits == 24 else 15)  # scipy returns 24-bit samples in the top of an int32
    inside = np.abs(want) <= 1
    assert np.max(np.abs(got[inside] / scale - want[inside])) <= step / 2 + step * 2 ** -8
    outside = np.count_nonzero(~inside)
    assert outside > 0 and f"{outside} sample(s) outside [-1, 1] clipped" in p.stderr
    assert f"the first at sample {np.argmax(~inside)}" in p.stderr
    assert np.all(np.abs(got[~inside] / scale) >= 1 - step)


def test_adapt_streams_pcm16_error_without_warnings(run_cli, data):
    d, x, y = data
    scipy.io.wavfile.write(d / "far.wav", RATE, (0.3 * x).astype(np.float32))
    scipy.io.wavfile.write(d / "mic.wav", RATE, (0.3 * y).astype(np.float32))
    p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic.wav", "--causal", 3, "--out-error", d / "e.wav",
                "--wav-format", "pcm16", "--frames", 7)
    assert p.returncode == 0, p.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rate, e = scipy.io.wavfile.read(d / "e.wav")
    assert rate == RATE and e.dtype == np.int16 and len(e) == len(x)
    p = run_cli("adapt", "--x", d / "far.wav", "--y", d / "mic.wav", "--causal", 3, "--out-error", d / "f.wav",
                "--wav-format", "mp3")
    assert p.returncode == 2 and "float, pcm16, pcm24" in p.stderr


def test_mat_sample_rate_saved_beside_the_signal(run_cli, data):
    """MATLAB users save fs with the signal: a WAV output from a .mat input keeps that rate."""
    d, x, _ = data
    np.savetxt(d / "h.txt", [0.1, 0.2, 0.1])
    p = run_cli("apply", "--h", d / "h.txt", "--x", d / "d.mat", "--out", d / "o.wav")
    assert p.returncode == 0, p.stderr
    assert scipy.io.wavfile.read(d / "o.wav")[0] == RATE  # d.mat holds fs = 8000
    p = run_cli("apply", "--h", d / "h.txt", "--x", d / "one.mat", "--out", d / "o2.wav")
    assert p.returncode == 2 and "--sample-rate" in p.stderr and not (d / "o2.wav").exists()


def test_apply_streams_into_every_output_format_and_plots_across_chunks(run_cli, data):
    """apply reads x a chunk at a time: .npy and text are written as the chunks come, .mat and
    .json gathered first; each holds the same yhat as a run in one chunk, and --plot draws
    the input and output of every chunk (a signal of 100 000 samples: its envelope)."""
    d = data[0]
    x = np.random.default_rng(9).standard_normal(100_000)
    np.save(d / "long.npy", x)
    (d / "h.json").write_text('{"h": [0.5, -1.0, 0.25], "lo": -1}')
    outs = {}
    for rows in (1 << 20, 7000):
        for ext in (".npy", ".mat", ".json", ".txt"):
            out = d / f"yhat{rows}{ext}"
            p = run_cli("apply", "--h", d / "h.json", "--x", d / "long.npy", "--out", out,
                        "--chunk-rows", rows, "--plot", d / f"a{rows}.svg")
            assert p.returncode == 0, p.stderr
            outs[rows, ext] = (np.load(out) if ext == ".npy" else scipy.io.loadmat(out)["y"].ravel()
                               if ext == ".mat" else np.array(json.loads(out.read_text()))
                               if ext == ".json" else np.loadtxt(out))
    for key, v in outs.items():
        assert np.array_equal(v, outs[1 << 20, ".npy"]), key
    np.testing.assert_allclose(outs[1 << 20, ".npy"], conv_same(x, [0.5, -1.0, 0.25], -1), rtol=0, atol=1e-13)
    assert (d / "a7000.svg").read_text() == (d / "a1048576.svg").read_text()
