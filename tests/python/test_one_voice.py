"""One voice for errors (issue 9, item 6): the library speaks of its parameters, the command of its
options, and the command translates in one place; limits that exist once are enforced once."""
import pathlib
import re

import numpy as np
import pytest

import convgrad

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_no_library_message_names_a_command_line_option():
    # Python users saw "--ridge LAMBDA": a string literal in the library naming a flag.
    literal = re.compile(r'"(?:[^"\\]|\\.)*"')
    hits = []
    sources = [*(ROOT / "src").rglob("*.[ch]pp"), *(ROOT / "include").rglob("*.hpp"),
               ROOT / "python" / "src" / "module.cpp"]
    for path in sources:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("//"):
                continue
            if any(re.search(r"--[a-z]", s) for s in literal.findall(line)):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert hits == []


def test_python_sees_the_parameter_the_command_line_sees_the_option(run_cli, tmp_path):
    x, y = np.zeros(20), np.ones(20)
    with pytest.raises(np.linalg.LinAlgError) as e:
        convgrad.fit([(x, y)], kernel_size=3)
    assert "ridge = " in str(e.value) and "--" not in str(e.value)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    r = run_cli("fit", "--x", tmp_path / "x.npy", "--y", tmp_path / "y.npy", "--half-width", 1,
                "--out", tmp_path / "h.json")
    assert r.returncode == 1 and "(--ridge 1, for example)" in r.stderr and "ridge = " not in r.stderr


@pytest.mark.parametrize("option,value,solver", [
    ("--ridge", "-1", "exact"), ("--ridge", "inf", "exact"), ("--lr", "0", "adam"), ("--beta1", "1", "adam"),
    ("--beta2", "-0.5", "adam"), ("--adam-eps", "0", "adam"), ("--loss-tol", "-1", "gd"),
    ("--time-limit", "nan", "gd"),
])
def test_the_libraries_limits_reach_the_command_under_the_options_name(run_cli, tmp_path, option, value, solver):
    # The command no longer re-checks these; the library's check, translated, is a usage error.
    np.save(tmp_path / "x.npy", np.arange(10.0))
    r = run_cli("fit", "--x", tmp_path / "x.npy", "--y", tmp_path / "x.npy", "--half-width", 1, "--solver", solver,
                option, value, "--out", tmp_path / "h.json")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"convgrad: error: {option}: ") and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "h.json").exists()


@pytest.mark.parametrize("command", ["grad", "fit", "apply"])
def test_one_channel_limit_everywhere(run_cli, tmp_path, command):
    # It was 65535 in grad and 65536 in fit and apply: a WAV file counts channels in 16 bits.
    np.save(tmp_path / "x.npy", np.arange(10.0))
    np.save(tmp_path / "h.npy", np.ones(3))
    x = tmp_path / "x.npy"
    args = {"grad": ["grad", "--x", x, "--y", x, "--half-width", 1],
            "fit": ["fit", "--x", x, "--y", x, "--half-width", 1, "--out", tmp_path / "o.json"],
            "apply": ["apply", "--h", tmp_path / "h.npy", "--x", x, "--out", tmp_path / "o.npy"]}[command]
    r = run_cli(*args, "--channel", 65535)
    assert r.returncode == 2 and "--channel: 65535 is out of range [0, 65534]" in r.stderr, r.stderr
