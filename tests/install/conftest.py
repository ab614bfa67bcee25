"""Shared pieces of the install tests (test_install.py, test_pip_install.py).

They check convgrad from the outside, as a user gets it: `cmake --install` into a temporary
prefix, and `pip install .` into a clean virtual environment. Environment variables (the
Makefile sets them):

  CONVGRAD_BUILD       the configured and built CMake build to install (default: build/)
  CONVGRAD_WHEELHOUSE  wheels of the pinned PEP 517 backend (default: .venv/wheelhouse,
                       which scripts/venv.sh fills)
"""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def project_version():
    """The version's one home: project(convgrad VERSION ...) in CMakeLists.txt."""
    match = re.search(r"project\(convgrad VERSION ([0-9.]+)", (ROOT / "CMakeLists.txt").read_text())
    assert match, "CMakeLists.txt has no project(convgrad VERSION ...)"
    return match.group(1)


def run(*args, cwd=None, env=None, timeout=900):
    """Runs a command; fails the test with its output unless it exits 0. Returns stdout."""
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}\n"
                    f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc.stdout


def cmake_cache_value(build_dir, name):
    match = re.search(rf"^{name}:[A-Z]+=(.*)$", (build_dir / "CMakeCache.txt").read_text(), re.MULTILINE)
    return match.group(1) if match else None


@pytest.fixture(scope="session")
def build_dir():
    path = pathlib.Path(os.environ.get("CONVGRAD_BUILD", ROOT / "build"))
    if not (path / "CMakeCache.txt").is_file():
        pytest.fail(f"no CMake build at {path}; build first (make build) or set CONVGRAD_BUILD")
    return path


@pytest.fixture(scope="session")
def compile_env(build_dir):
    """The environment for compiling against the install: the build's own C++ compiler (CXX,
    which CMake and scikit-build-core take), ccache as the launcher where it is installed,
    and no PYTHONPATH (only what is installed may be found). With the same compiler, named
    the same (ccache tells compilers apart by name), `pip install .` reuses the objects the
    build compiled."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["CXX"] = cmake_cache_value(build_dir, "CMAKE_CXX_COMPILER") or env.get("CXX", "c++")
    if "CMAKE_CXX_COMPILER_LAUNCHER" not in env and shutil.which("ccache"):
        env["CMAKE_CXX_COMPILER_LAUNCHER"] = "ccache"
    return env
