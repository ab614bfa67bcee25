"""The command behaves as users expect a command to (issue 14, items 1 and 2).

Basics: one version everywhere (project(VERSION) in CMakeLists.txt, the command, every
subcommand, the Python package); an unknown subcommand named with the list; `help
[SUBCOMMAND]`; --quiet and --verbose on every subcommand, each doing what the help says; the
exit status listed; one placeholder word per meaning; the man page and the bash and zsh
completions generated from the parser, listing every subcommand and option.

Streams and tables: '-' is standard input for every input option (text, .npy and WAV
recognised from their first bytes; taps as JSON too) and standard output for every output
option (the report is then left out); at most one of each; CSV tables read with --column
NAME|INDEX (0-based; x=... and y=... for one input), errors listing the columns; x and y of
different lengths refused with the difference and the fix.
"""
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SUBCOMMANDS = ["demo", "grad", "check", "explain", "fit", "apply", "tune", "adapt"]
GENERIC_PLACEHOLDERS = {"TEXT", "INT", "UINT", "FLOAT", "NUMBER", "BOOLEAN", "VALUE", "ENUM", "CHAR"}


def project_version():
    match = re.search(r"project\(convgrad VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text())
    assert match
    return match.group(1)


@pytest.fixture
def cli(convgrad_bin, tmp_path, monkeypatch):
    """Runs the command in tmp_path with `stdin` bytes (or none); a private tuning cache."""
    monkeypatch.setenv("CONVGRAD_TUNE_CACHE", str(tmp_path / "tune.json"))

    def run(*args, stdin=b""):
        p = subprocess.run([str(convgrad_bin), *map(str, args)], input=stdin, capture_output=True,
                           cwd=tmp_path, timeout=120)
        p.out, p.err = p.stdout.decode(), p.stderr.decode()
        return p
    return run


def docs_dir(convgrad_bin):
    """Where the build wrote the man page and completions: beside the command."""
    return pathlib.Path(convgrad_bin).parent


def options_in_help(text):
    """{--option: placeholder or None} from a subcommand's --help."""
    found = {}
    for line in text.splitlines():
        m = re.match(r"\s+(?:-\w,)?(--[\w-]+)(?: ([A-Z][A-Z0-9_]*(?: x \d)?))?(?: \.\.\.)?(?:\s|$)", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


@pytest.fixture
def signals(tmp_path):
    """x (N = 8), y = h * x for h = [1, 2, 3] causal, as text, .npy and CSV table."""
    x = np.array([1.0, -2.0, 3.0, 0.5, -1.0, 2.0, 0.0, 1.5])
    y = np.convolve(x, [1.0, 2.0, 3.0])[:len(x)]
    np.savetxt(tmp_path / "x.txt", x)
    np.savetxt(tmp_path / "y.txt", y)
    np.save(tmp_path / "x.npy", x)
    with open(tmp_path / "xy.csv", "w") as f:
        f.write("time,input,output\n")
        for n, (a, b) in enumerate(zip(x, y)):
            f.write(f"{n},{a!r},{b!r}\n")
    return x, y


# ---- 1. basics -------------------------------------------------------------------------------

def test_one_version_everywhere(cli, convgrad_bin):
    version = project_version()
    assert cli("--version").out == f"convgrad {version}\n"
    for sub in SUBCOMMANDS + ["help"]:
        r = cli(sub, "--version")
        assert (r.returncode, r.out) == (0, f"convgrad {version}\n"), sub
    # The Python package carries the same version, from the compiled core (in a fresh
    # interpreter, as the tests' PYTHONPATH points it at this build).
    py = subprocess.run([sys.executable, "-c", "import convgrad; print(convgrad.__version__)"],
                        capture_output=True, text=True, env=dict(os.environ))
    assert py.stdout.strip() == version, py.stderr
    header = pathlib.Path(convgrad_bin).parents[1] / "include" / "convgrad" / "version.hpp"
    assert f'#define CONVGRAD_VERSION "{version}"' in header.read_text()


@pytest.mark.parametrize("word, suggestion", [("foo", None), ("fitt", "fit"), ("gard", "grad")])
def test_an_unknown_subcommand_is_named_with_the_list(cli, word, suggestion):
    r = cli(word, "--x", "a.txt")
    assert r.returncode == 2 and r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith(f"convgrad: error: unknown subcommand '{word}'")
    for sub in SUBCOMMANDS:
        assert sub in r.err
    assert "convgrad help" in r.err
    assert ("did you mean" in r.err) == (suggestion is not None)
    if suggestion:
        assert f"did you mean '{suggestion}'" in r.err


def test_no_subcommand_points_to_help(cli):
    r = cli()
    assert r.returncode == 2 and "no subcommand given" in r.err and "convgrad help" in r.err


def test_help_prints_the_help_of_the_command_or_of_one_subcommand(cli):
    assert cli("help").out == cli("--help").out
    for sub in SUBCOMMANDS:
        r = cli("help", sub)
        assert r.returncode == 0 and r.out == cli(sub, "--help").out and f"convgrad {sub}" in r.out
    r = cli("help", "nope")
    assert r.returncode == 2 and "unknown subcommand 'nope'" in r.err


def test_every_subcommand_lists_quiet_verbose_version_and_the_exit_status(cli):
    for sub in SUBCOMMANDS:
        text = cli(sub, "--help").out
        for option in ["--quiet", "--verbose", "--version", "--help"]:
            assert option in options_in_help(text), (sub, option)
        assert "Exit status: 0 success; 1 " in text and "; 2 a usage error" in text, sub
    assert "Exit status: 0 success" in cli("--help").out
    r = cli("check", "--quiet", "--verbose")
    assert r.returncode == 2 and "--quiet and --verbose exclude each other" in r.err


def test_placeholders_are_one_word_per_meaning(cli):
    words = {}
    for sub in SUBCOMMANDS:
        for option, word in options_in_help(cli(sub, "--help").out).items():
            if word is None:
                continue
            word = word.split(" x ")[0]
            assert word not in GENERIC_PLACEHOLDERS, f"{sub} {option} {word}"
            words.setdefault(option, set()).add(word)
    for option, seen in words.items():
        assert len(seen) == 1, f"{option} has placeholders {seen}"
    files = ["--x", "--y", "--h", "--out", "--out-dh", "--out-dx", "--out-error", "--out-h", "--summary",
             "--history", "--report", "--validate", "--true-h", "--h0"]
    for option in files:
        assert words[option] == {"FILE"}, option


# ---- quiet and verbose, subcommand by subcommand ------------------------------------------------

def quiet_and_verbose_cases(tmp_path):
    """Every subcommand with arguments that succeed, and the outputs each writes."""
    return {
        "demo": ([], []),
        "explain": ([], []),
        "check": (["--n", 16], []),
        "tune": (["--n", 64, "--half-width", 1], []),
        "grad": (["--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out-dh", "dh.txt"], ["dh.txt"]),
        "fit": (["--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out", "h.json"], ["h.json"]),
        "apply": (["--x", "x.txt", "--h", "h0.json", "--out", "yhat.txt"], ["yhat.txt"]),
        "adapt": (["--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out-h", "ha.json"], ["ha.json"]),
    }


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_quiet_prints_no_report_and_verbose_tells_what_was_read_and_written(cli, tmp_path, signals, sub):
    (tmp_path / "h0.json").write_text('{"h": [1, 2, 3], "lo": 0}')
    args, outputs = quiet_and_verbose_cases(tmp_path)[sub]
    normal = cli(sub, *args)
    assert normal.returncode == 0 and normal.out != "", normal.err
    for f in outputs:
        (tmp_path / f).unlink()
    quiet = cli(sub, *args, "--quiet")
    assert quiet.returncode == 0 and quiet.out == "" and quiet.err == "", quiet.err
    for f in outputs:
        assert (tmp_path / f).is_file(), f  # --quiet says nothing but does the work
    verbose = cli(sub, *args, "--verbose")
    assert verbose.returncode == 0 and verbose.out != ""  # the report, as without it
    lines = verbose.err.splitlines()
    assert all(line.startswith("convgrad: ") for line in lines), verbose.err
    assert re.search(rf"^convgrad: {sub} finished in [0-9.]+ s \(exit status 0\)$", verbose.err, re.M)
    if "--x" in args:
        assert "convgrad: read x from x.txt: text, 8 samples" in lines
    for f in outputs:
        assert f"convgrad: wrote {f}" in lines


# ---- man page and completions ---------------------------------------------------------------------

def all_options(cli):
    return {sub: sorted(options_in_help(cli(sub, "--help").out)) for sub in SUBCOMMANDS}


def test_the_man_page_renders_and_lists_every_subcommand_and_option(cli, convgrad_bin):
    page = docs_dir(convgrad_bin) / "convgrad.1"
    r = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                       env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "100", "MAN_KEEP_FORMATTING": "0"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = re.sub(r".\x08", "", r.stdout)  # no overstrike
    assert f"convgrad {project_version()}" in text
    for section in ["NAME", "SYNOPSIS", "SUBCOMMANDS", "STANDARD INPUT AND OUTPUT", "EXIT STATUS"]:
        assert re.search(rf"^{section}$", text, re.M), section
    for sub, options in all_options(cli).items():
        block = text.split(f"convgrad {sub}\n", 1)[1]
        for option in options:
            assert option in block, (sub, option)


def bash_complete(convgrad_bin, words, cwd=None):
    """COMPREPLY of the generated bash completion for the command line `words` (the last one
    being completed)."""
    script = docs_dir(convgrad_bin) / "convgrad.bash"
    line = " ".join(words)
    program = (f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
               f"_convgrad; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    if words[-1] == "":
        program = program.replace(f"COMP_WORDS=({line})", f"COMP_WORDS=({line} '')")
    r = subprocess.run(["bash", "-c", program], capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_the_bash_completion_offers_every_subcommand_and_option(cli, convgrad_bin, tmp_path):
    assert bash_complete(convgrad_bin, ["convgrad", ""]) >= set(SUBCOMMANDS) | {"help", "--version"}
    assert bash_complete(convgrad_bin, ["convgrad", "f"]) == {"fit"}
    for sub, options in all_options(cli).items():
        assert bash_complete(convgrad_bin, ["convgrad", sub, "--"]) == set(options), sub
    assert bash_complete(convgrad_bin, ["convgrad", "help", ""]) >= set(SUBCOMMANDS)
    # After a file option: file names (here, the test's own directory).
    (tmp_path / "signal_x.txt").write_text("1\n")
    assert bash_complete(convgrad_bin, ["convgrad", "grad", "--x", "signal_"], cwd=tmp_path) == {"signal_x.txt"}
    assert bash_complete(convgrad_bin, ["convgrad", "grad", "--dtype", ""]) == set()


def test_the_zsh_completion_is_valid_and_lists_every_subcommand_and_option(cli, convgrad_bin):
    script = docs_dir(convgrad_bin) / "_convgrad"
    text = script.read_text()
    assert text.startswith("#compdef convgrad\n")
    zsh = shutil.which("zsh")
    assert zsh, "zsh is not installed (scripts/setup.sh installs it)"
    r = subprocess.run([zsh, "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for sub, options in all_options(cli).items():
        block = text.split(f"\n        {sub})\n", 1)[1].split(";;", 1)[0]
        for option in options:
            assert f"'*{option}[" in block, (sub, option)
        assert f"'{sub}:" in text


# ---- 2. standard input and output ------------------------------------------------------------------

def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def wav_bytes(a, rate=8000):
    from scipy.io import wavfile
    b = io.BytesIO()
    wavfile.write(b, rate, a.astype(np.float32))
    return b.getvalue()


def grad_json(cli, *args, stdin=b""):
    r = cli("grad", *args, "--causal", 3, "--json", stdin=stdin)
    assert r.returncode == 0, r.err
    return json.loads(r.out)


@pytest.mark.parametrize("form", ["text", "csv_row", "npy", "wav"])
def test_standard_input_is_read_in_the_format_its_first_bytes_show(cli, signals, tmp_path, form):
    x = signals[0]
    if form == "wav":  # a float WAV holds float32: compare with the same values from a file
        x = (x / 4).astype(np.float32).astype(np.float64)
    np.save(tmp_path / "same.npy", x)
    stdin = {"text": "\n".join(map(repr, x)).encode(), "csv_row": ",".join(map(repr, x)).encode(),
             "npy": npy_bytes(x), "wav": wav_bytes(x)}[form]
    from_file = grad_json(cli, "--x", "same.npy", "--y", "y.txt")
    piped = grad_json(cli, "--x", "-", "--y", "y.txt", stdin=stdin)
    assert piped == from_file


def test_taps_are_read_from_standard_input_as_json_or_text(cli, signals):
    by_file = grad_json(cli, "--x", "x.txt", "--y", "y.txt", "--h", "-", stdin=b"1\n2\n3\n")
    by_json = grad_json(cli, "--x", "x.txt", "--y", "y.txt", "--h", "-", stdin=b'{"h": [1, 2, 3], "lo": 0}')
    assert by_json["loss"] == 0 and by_json["lo"] == 0  # the recorded range: y = h * x exactly
    assert by_file["dh"] == by_json["dh"]


def test_only_one_input_reads_standard_input(cli, signals):
    r = cli("grad", "--x", "-", "--y", "-", "--causal", 3)
    assert r.returncode == 2 and "--x and --y both read standard input" in r.err
    r = cli("fit", "--x", "-", "--y", "y.txt", "--x", "x.txt", "--y", "-", "--causal", 3, "--out", "h.json")
    assert r.returncode == 2 and "both read standard input" in r.err


def test_a_standard_input_error_names_it(cli):
    r = cli("grad", "--x", "-", "--y", "y.txt", "--causal", 3, stdin=b"1\n2\nthree\n")
    assert r.returncode == 1 and "standard input:3: 'three' is not a number" in r.err
    assert "/proc/" not in r.err


OUTPUTS = {  # every output option of every subcommand, with arguments that succeed
    "grad --out-dh": ["grad", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out-dh", "-"],
    "grad --out-dx": ["grad", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out-dx", "-"],
    "apply --out": ["apply", "--x", "x.txt", "--h", "h0.json", "--out", "-"],
    "fit --out": ["fit", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out", "-"],
    "fit --summary": ["fit", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out", "h.json", "--summary", "-"],
    "fit --history": ["fit", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--solver", "gd", "--max-iter", 5,
                      "--out", "h.json", "--history", "-"],
    "fit --report": ["fit", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out", "h.json", "--report", "-"],
    "adapt --out-error": ["adapt", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out-error", "-"],
    "adapt --out-h": ["adapt", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out-h", "-"],
    "adapt --summary": ["adapt", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--summary", "-"],
}


@pytest.mark.parametrize("case", sorted(OUTPUTS))
def test_every_output_writes_standard_output_without_the_report(cli, tmp_path, signals, case):
    (tmp_path / "h0.json").write_text('{"h": [1, 2, 3], "lo": 0}')
    args = OUTPUTS[case]
    r = cli(*args)
    assert r.returncode == 0, r.err
    option = case.split()[1]
    # Only the data: the bytes the option writes to a file of a name without extension (text).
    to_file = cli(*["same_as_stdout" if a == "-" else a for a in args])
    assert to_file.returncode == 0, to_file.err
    written = (tmp_path / "same_as_stdout").read_text()
    if option == "--summary":  # times differ from run to run
        times = {"seconds", "command_seconds"}
        assert {k: v for k, v in json.loads(r.out).items() if k not in times} == \
            {k: v for k, v in json.loads(written).items() if k not in times}
    elif option == "--history":
        assert [line.rsplit(",", 1)[0] for line in r.out.splitlines()] == \
            [line.rsplit(",", 1)[0] for line in written.splitlines()]
    elif option == "--report":
        assert r.out.startswith("<!DOCTYPE html>") and len(r.out) > 1000
    else:
        assert r.out == written


def test_one_output_at_most_on_standard_output_and_not_with_json(cli, signals):
    r = cli("grad", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out-dh", "-", "--out-dx", "-")
    assert r.returncode == 2 and "--out-dh and --out-dx both write standard output" in r.err
    r = cli("grad", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out-dh", "-", "--json")
    assert r.returncode == 2 and "--json" in r.err


def test_a_pipe_from_one_run_to_the_next(cli, signals, tmp_path):
    fitted = cli("fit", "--x", "x.txt", "--y", "y.txt", "--causal", 3, "--out", "-")
    assert fitted.returncode == 0
    applied = cli("apply", "--x", "x.txt", "--h", "-", "--out", "-", stdin=fitted.stdout)
    assert applied.returncode == 0, applied.err
    np.testing.assert_allclose(np.loadtxt(io.StringIO(applied.out)), signals[1], rtol=1e-9, atol=1e-9)


# ---- tables ----------------------------------------------------------------------------------------

def test_a_column_is_chosen_by_header_name_or_0_based_index(cli, signals):
    reference = grad_json(cli, "--x", "x.txt", "--y", "y.txt")
    by_name = grad_json(cli, "--x", "xy.csv", "--y", "xy.csv", "--column", "x=input", "--column", "y=output")
    by_index = grad_json(cli, "--x", "xy.csv", "--y", "xy.csv", "--column", "x=1", "--column", "y=2")
    assert by_name == by_index
    np.testing.assert_allclose(by_name["dh"], reference["dh"], rtol=1e-12)
    # One --column for every table input; here x from the table, y from a plain file.
    plain = grad_json(cli, "--x", "xy.csv", "--y", "y.txt", "--column", "input")
    np.testing.assert_allclose(plain["dh"], reference["dh"], rtol=1e-12)


def test_a_table_without_column_or_with_a_wrong_one_lists_the_columns(cli, signals):
    r = cli("grad", "--x", "xy.csv", "--y", "y.txt", "--causal", 3)
    assert r.returncode == 1
    assert "xy.csv:1: a table of 3 columns (0 'time', 1 'input', 2 'output')" in r.err
    assert "--column NAME or INDEX, 0-based" in r.err
    for wrong in ["speed", "3"]:
        r = cli("grad", "--x", "xy.csv", "--y", "y.txt", "--causal", 3, "--column", wrong)
        assert r.returncode == 1 and f"xy.csv: no column '{wrong}'" in r.err
        assert "0 'time', 1 'input', 2 'output'" in r.err


def test_a_headerless_table_and_a_one_column_header_file(cli, signals, tmp_path):
    x, _ = signals
    np.savetxt(tmp_path / "two.csv", np.c_[x, 2 * x], delimiter=",")
    r = cli("grad", "--x", "two.csv", "--y", "y.txt", "--causal", 3)
    assert r.returncode == 1 and "a table of 2 columns (0..1 (no header line))" in r.err
    assert grad_json(cli, "--x", "two.csv", "--y", "y.txt", "--column", 0) == grad_json(cli, "--x", "x.txt",
                                                                                        "--y", "y.txt")
    (tmp_path / "named.csv").write_text("x\n" + "\n".join(map(repr, x)) + "\n")
    assert grad_json(cli, "--x", "named.csv", "--y", "y.txt") == grad_json(cli, "--x", "x.txt", "--y", "y.txt")


def test_a_ragged_table_names_its_line_and_npy_takes_no_column(cli, signals, tmp_path):
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n4,5\n")
    r = cli("grad", "--x", "ragged.csv", "--y", "y.txt", "--causal", 3, "--column", "a")
    assert r.returncode == 1 and "ragged.csv:3: 1 values on one line but 2 on line 1 (the header)" in r.err
    r = cli("grad", "--x", "-", "--y", "y.txt", "--causal", 3, "--column", "x=a", stdin=npy_bytes(signals[0]))
    assert r.returncode == 1 and "standard input: column 'a' asked for, but a .npy file" in r.err
    # A plain --column is for the tables among the inputs: the .npy one ignores it.
    r = cli("grad", "--x", "-", "--y", "y.txt", "--causal", 3, "--column", "a", stdin=npy_bytes(signals[0]))
    assert r.returncode == 0, r.err


# ---- x and y of different lengths --------------------------------------------------------------------

@pytest.mark.parametrize("sub", ["grad", "check", "fit", "adapt"])
def test_x_and_y_of_different_lengths_say_by_how_much_and_how_to_fix_it(cli, signals, tmp_path, sub):
    x, _ = signals
    np.savetxt(tmp_path / "full.txt", np.convolve(x, [1.0, 2.0, 3.0]))  # N + K - 1 = 10 samples
    extra = {"grad": [], "check": [], "fit": ["--out", "h.json"], "adapt": []}[sub]
    r = cli(sub, "--x", "x.txt", "--y", "full.txt", "--causal", 3, *extra)
    assert r.returncode == 1 and r.err.count("\n") == 1
    assert "y (full.txt) has 10 samples but x (x.txt) has 8 samples (2 more in y)" in r.err
    assert "full convolution (N + K - 1 samples, here K = 3 taps)" in r.err and "'same'" in r.err
    r = cli(sub, "--x", "full.txt", "--y", "x.txt", "--causal", 3, *extra)
    assert r.returncode == 1 and "x (full.txt) has 10 samples (2 fewer in y)" in r.err and "Trim x" in r.err


# ---- fit and apply read their inputs a window at a time: the same tables and standard input ----

@pytest.mark.parametrize("source", ["text", "npy", "table"])
def test_fit_and_apply_stream_standard_input_and_table_columns_as_files(cli, signals, tmp_path, source):
    x, _ = signals

    def fit(*args, stdin=b""):
        r = cli("fit", *args, "--causal", 3, "--out", "h.json", stdin=stdin)
        assert r.returncode == 0, r.err
        return json.loads((tmp_path / "h.json").read_text())["h"]

    def apply(*args, stdin=b""):
        r = cli("apply", *args, "--h", "h0.json", "--out", "yhat.npy", stdin=stdin)
        assert r.returncode == 0, r.err
        return np.load(tmp_path / "yhat.npy")

    (tmp_path / "h0.json").write_text('{"h": [1, 2, 3], "lo": 0}')
    want_h, want_yhat = fit("--x", "x.txt", "--y", "y.txt"), apply("--x", "x.txt")
    if source == "table":  # x and y from one table's columns, by name and by index
        assert fit("--x", "xy.csv", "--y", "xy.csv", "--column", "x=input", "--column", "y=output") == want_h
        assert fit("--x", "xy.csv", "--y", "xy.csv", "--column", "x=1", "--column", "y=2") == want_h
        assert np.array_equal(apply("--x", "xy.csv", "--column", "input"), want_yhat)
        r = cli("fit", "--x", "xy.csv", "--y", "y.txt", "--causal", 3, "--out", "h.json")
        assert r.returncode == 1 and "a table of 3 columns (0 'time', 1 'input', 2 'output')" in r.err
    else:
        stdin = npy_bytes(x) if source == "npy" else "\n".join(map(repr, x)).encode()
        assert fit("--x", "-", "--y", "y.txt", stdin=stdin) == want_h
        assert np.array_equal(apply("--x", "-", stdin=stdin), want_yhat)
    assert np.allclose(want_h, [1, 2, 3], rtol=1e-12)


def test_a_column_for_one_input_is_refused_by_a_file_without_columns(cli, signals, tmp_path):
    """--column x=NAME names x's column: a .npy x (any case of the extension) has none and says
    so, where a plain --column is for the tables among the inputs only."""
    x, _ = signals
    with open(tmp_path / "X.NPY", "wb") as f:  # np.save would add ".npy"
        np.save(f, x)
    for name in ["x.npy", "X.NPY"]:
        r = cli("grad", "--x", name, "--y", "y.txt", "--causal", 3, "--column", "x=a")
        assert r.returncode == 1 and f"{name}: column 'a' asked for, but a .npy file" in r.err, r.err
        r = cli("fit", "--x", name, "--y", "y.txt", "--causal", 3, "--column", "x=a", "--out", "h.json")
        assert r.returncode == 1 and f"{name}: column 'a' asked for, but a .npy file" in r.err, r.err
    assert cli("grad", "--x", "X.NPY", "--y", "y.txt", "--causal", 3, "--column", "a").returncode == 0


def test_apply_checks_the_plot_directory_before_filtering(cli, signals, tmp_path):
    (tmp_path / "h0.json").write_text('{"h": [1, 2, 3], "lo": 0}')
    r = cli("apply", "--x", "x.txt", "--h", "h0.json", "--out", "yhat.npy", "--plot", "nowhere/a.svg")
    assert r.returncode != 0 and "nowhere" in r.err and "does not exist" in r.err, r.err
    assert not (tmp_path / "yhat.npy").exists()
