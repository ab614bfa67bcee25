"""`pip install .` installs the Python package from a clean virtual environment (issue 9,
item 8).

A fresh venv over Debian's /usr/bin/python3 (--system-site-packages: numpy, torch, scipy,
pytest), the pinned PEP 517 backend installed into it from the wheelhouse that
scripts/venv.sh fills (no network), then `pip install --no-build-isolation .`: scikit-build-
core runs the project's CMake (build/pip/, kept between runs; ccache where installed). Then,
outside the source tree and without PYTHONPATH, the package imports from the venv, reports
the version of CMakeLists.txt, and passes tests/python/test_py_numpy.py and test_py_torch.py
(the whole tests/python suite passes too, in about a minute; these two keep `make test`
short); the command lands in the venv's bin/.
"""
import os
import pathlib
import re

import pytest

from conftest import ROOT, project_version, run

REQUIREMENTS = ROOT / "scripts" / "requirements-build.txt"


def test_backend_pin_is_the_same_in_both_places():
    requires = re.search(r'requires = \["(scikit-build-core==[0-9.]+)"\]', (ROOT / "pyproject.toml").read_text())
    assert requires, "pyproject.toml: build-system requires no pinned scikit-build-core"
    assert requires.group(1) in REQUIREMENTS.read_text().split()


@pytest.fixture(scope="module")
def venv(tmp_path_factory, compile_env):
    wheelhouse = pathlib.Path(os.environ.get("CONVGRAD_WHEELHOUSE", ROOT / ".venv" / "wheelhouse"))
    if not wheelhouse.is_dir():
        pytest.fail(f"no wheelhouse at {wheelhouse}; run scripts/venv.sh (make venv) first")
    venv = tmp_path_factory.mktemp("venv")
    run("/usr/bin/python3", "-m", "venv", "--system-site-packages", venv)
    pip = [venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check"]
    run(*pip, "install", "-q", "--no-index", "--find-links", wheelhouse, "-r", REQUIREMENTS)
    run(*pip, "install", "-q", "--no-build-isolation", ROOT, env=compile_env)
    return venv


def venv_python(venv, code, cwd, env):
    return run(venv / "bin" / "python", "-c", code, cwd=cwd, env=env).strip()


def test_the_package_imports_from_the_venv(venv, tmp_path, compile_env):
    site = venv_python(venv, "import sysconfig; print(sysconfig.get_paths()['platlib'])", tmp_path, compile_env)
    where = venv_python(venv, "import convgrad, convgrad._core, convgrad.torch; print(convgrad._core.__file__)",
                        tmp_path, compile_env)
    assert pathlib.Path(where).parent == pathlib.Path(site) / "convgrad"
    version = venv_python(venv, "import importlib.metadata as m; print(m.version('convgrad'))", tmp_path, compile_env)
    assert version == project_version()
    # The package and the command report that version too (issue 14: one version everywhere).
    assert venv_python(venv, "import convgrad; print(convgrad.__version__)", tmp_path, compile_env) == version
    assert run(venv / "bin" / "convgrad", "--version").strip() == f"convgrad {version}"
    # A small computation through the installed extension: DESIGN.md's worked example.
    out = venv_python(venv, "import numpy as np, convgrad\n"
                      "x, y, h = np.arange(1., 6.), np.array([0., 1, 0, -1, 2]), np.array([1., 2, 3])\n"
                      "print(convgrad.conv(x, h).tolist())", tmp_path, compile_env)
    assert out == "[4.0, 10.0, 16.0, 22.0, 22.0]"


def test_the_installed_command_runs(venv):
    assert "grad" in run(venv / "bin" / "convgrad", "--help")


def test_the_installed_package_passes_the_numpy_and_torch_tests(venv, tmp_path, compile_env):
    env = dict(compile_env)
    env["CONVGRAD_BIN"] = str(venv / "bin" / "convgrad")
    run(venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
        *(ROOT / "tests" / "python" / f"test_py_{name}.py" for name in ["numpy", "torch"]), cwd=tmp_path, env=env)
