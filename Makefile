# The two commands (see README): `make demo` and `make test`. Both install what is missing
# (scripts/setup.sh), configure and build; then run.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
PYTHON := /usr/bin/python3

.PHONY: demo test setup build build-asan fuzz clean

demo: build
	./$(BUILD)/cli/convgrad demo

test: build build-asan
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)
	PYTHONPATH=$(CURDIR)/$(BUILD)/python CONVGRAD_BIN=$(CURDIR)/$(BUILD)/cli/convgrad \
	  $(PYTHON) -m pytest -q tests/python
	$(MAKE) fuzz FUZZ_SECONDS=25

setup:
	bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=$(PYTHON) > /dev/null
	cmake --build $(BUILD) -j $(JOBS)
	$(PYTHON) python/install_pth.py $(CURDIR)/$(BUILD)/python

# The C++ tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
build-asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCONVGRAD_SANITIZE=ON \
	  -DCONVGRAD_PYTHON=OFF -DCONVGRAD_BENCH=OFF > /dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Coverage-guided fuzzing (docs/fuzzing.md): the readers and the command line, built with
# clang, libFuzzer, ASan and UBSan in $(FUZZ_BUILD); each target replays its corpus in
# tests/fuzz/<target>/, then fuzzes for FUZZ_SECONDS (e.g. `make fuzz FUZZ_SECONDS=600`).
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: setup
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONVGRAD_FUZZ=ON -DCONVGRAD_TESTS=OFF -DCONVGRAD_PYTHON=OFF -DCONVGRAD_BENCH=OFF > /dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
