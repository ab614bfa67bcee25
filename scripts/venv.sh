#!/usr/bin/env bash
# Makes the project's virtual environment .venv (or $VENV) for `pip install .`:
#   - Debian's /usr/bin/python3 with --system-site-packages, so Debian's numpy, scipy, torch
#     and pytest (scripts/setup.sh) are visible in it;
#   - the pinned PEP 517 backend, scripts/requirements-build.txt (Debian lacks it), from
#     PyPI once into $VENV/wheelhouse, then installed from there; later environments (the
#     install test's clean venv) install it from the wheelhouse without the network.
# Nothing goes into the system Python. Idempotent; called by `make venv`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
requirements=scripts/requirements-build.txt
wheelhouse=$venv/wheelhouse

[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
offline=(--no-index --find-links "$wheelhouse" -r "$requirements")
if ! "$venv/bin/pip" install -q --disable-pip-version-check "${offline[@]}" 2>/dev/null; then
  echo "venv: fetching the pinned build backend into $wheelhouse"
  "$venv/bin/pip" download -q --disable-pip-version-check --only-binary=:all: -d "$wheelhouse" -r "$requirements"
  "$venv/bin/pip" install -q --disable-pip-version-check "${offline[@]}"
fi
