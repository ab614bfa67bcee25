#!/usr/bin/env bash
# Installs the Debian packages convgrad needs, only those missing. Idempotent; needs root
# (or sudo) the first time. Called by `make demo` and `make test`.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libfftw3-dev libhwy-dev libeigen3-dev libcli11-dev nlohmann-json3-dev libsndfile1-dev
  libgtest-dev libbenchmark-dev pybind11-dev python3-dev python3-pybind11
  python3-numpy python3-scipy python3-torch python3-pytest python3-venv ccache
  espeak-ng libspeexdsp-dev
  clang libclang-rt-14-dev libomp-dev
  libopenmpi-dev openmpi-bin python3-dask python3-distributed
  libmatio-dev librsvg2-bin python3-pil
  man-db zsh
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
