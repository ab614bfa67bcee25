"""Shared pytest fixtures for the command-line tests.

``convgrad_bin`` is the path of the built ``convgrad`` command: the environment variable
CONVGRAD_BIN (the Makefile sets it), or build/cli/convgrad under the repository root.
``run_cli(*args)`` runs it and returns the CompletedProcess (text stdout/stderr, never raising
on a non-zero exit), so a test asserts on the exit code and the messages itself.
"""
import os
import pathlib
import pty
import select
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def convgrad_bin():
    path = pathlib.Path(os.environ.get("CONVGRAD_BIN", ROOT / "build" / "cli" / "convgrad"))
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"the convgrad command is not built at {path}; build it (make build) or set CONVGRAD_BIN")
    return path


@pytest.fixture
def run_cli(convgrad_bin):
    def run(*args, cwd=None, timeout=120):
        return subprocess.run([str(convgrad_bin), *map(str, args)], capture_output=True, text=True,
                              cwd=cwd, timeout=timeout)
    return run


def run_on_terminal(cmd, timeout=60):
    """Runs cmd with stdout and stderr on a pseudo-terminal; returns (exit code, bytes shown)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([str(c) for c in cmd], stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    text = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        text += chunk
    code = p.wait(timeout)
    os.close(master)
    return code, text
