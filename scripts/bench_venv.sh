#!/bin/bash
# Makes .venv-bench (or $VENV_BENCH): the benchmark peers Debian lacks or has only in an old
# release (scripts/requirements-bench.txt, pinned), from PyPI, never into the system Python.
# Idempotent; `make bench-venv`. Then, for example:
#     .venv-bench/bin/python bench/channels_compare.py --build build --json torch25.json
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV_BENCH:-.venv-bench}
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-bench.txt
"$venv/bin/python" -c "import torch; print('bench venv:', '$venv', 'torch', torch.__version__)"
