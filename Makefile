# The two commands (see README): `make demo` and `make test`. Both install what is missing
# (scripts/setup.sh), configure and build; then run. `make install` and `make install-python`
# install the library and the Python package (README, "Installing").
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3
PREFIX ?= /usr/local
VENV ?= .venv
# ccache, where installed, lets the Python package's build (`pip install .`, its own CMake
# build under build/pip/) reuse the objects this build compiled, given the same compiler by
# the same name (CXX, default c++ as CMake's; scikit-build-core would otherwise take Python's
# x86_64-linux-gnu-g++, which ccache counts as another compiler).
CCACHE := $(shell command -v ccache 2>/dev/null)
LAUNCHER := $(if $(CCACHE),-DCMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE))
# The install tests: `cmake --install` into a temporary prefix and `pip install .` into a
# clean venv, each checked from the outside (tests/install/).
TEST_INSTALL = CONVGRAD_BUILD=$(CURDIR)/$(BUILD) CONVGRAD_WHEELHOUSE=$(CURDIR)/$(VENV)/wheelhouse \
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/install

.PHONY: demo test test-install setup venv bench-venv build build-asan install install-python fuzz clean

demo: build
	./$(BUILD)/cli/convgrad demo

test: build build-asan venv
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)
	PYTHONPATH=$(CURDIR)/$(BUILD)/python CONVGRAD_BIN=$(CURDIR)/$(BUILD)/cli/convgrad \
	  $(PYTHON) -m pytest -q tests/python
	$(TEST_INSTALL)
	$(MAKE) fuzz FUZZ_SECONDS=25

test-install: build venv
	$(TEST_INSTALL)

setup:
	bash scripts/setup.sh

# .venv: Debian's Python with its packages visible, plus the pinned build backend.
venv: setup
	VENV=$(VENV) bash scripts/venv.sh

# .venv-bench: a newer PyTorch for the benchmarks (scripts/requirements-bench.txt), not for tests.
bench-venv: setup
	bash scripts/bench_venv.sh

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=$(PYTHON) $(LAUNCHER) > /dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The C++ tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
build-asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCONVGRAD_SANITIZE=ON \
	  -DCONVGRAD_PYTHON=OFF -DCONVGRAD_BENCH=OFF -DCONVGRAD_SHARED=OFF $(LAUNCHER) > /dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Headers, static and shared library, the command, the CMake package and convgrad.pc.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The Python package and the command into $(VENV) (`pip install .`, PEP 517).
install-python: venv
	$(if $(CCACHE),CMAKE_CXX_COMPILER_LAUNCHER=$(CCACHE)) CXX=$${CXX:-c++} $(VENV)/bin/python -m pip install \
	  --disable-pip-version-check --no-build-isolation .

# Coverage-guided fuzzing (docs/fuzzing.md): the readers and the command line, built with
# clang, libFuzzer, ASan and UBSan in $(FUZZ_BUILD); each target replays its corpus in
# tests/fuzz/<target>/, then fuzzes for FUZZ_SECONDS (e.g. `make fuzz FUZZ_SECONDS=600`).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: setup
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONVGRAD_FUZZ=ON -DCONVGRAD_TESTS=OFF -DCONVGRAD_PYTHON=OFF -DCONVGRAD_BENCH=OFF \
	  -DCONVGRAD_SHARED=OFF $(LAUNCHER) > /dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
