# tinyml: `make setup`, `make test`, `make demo`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# loadgroup: tests marked xdist_group(name) share one worker (and its module fixtures).
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: setup system-deps test test-unit demo clean

setup: $(VENV)/.installed system-deps

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# arm-none-eabi-gcc, newlib and qemu-system-arm from the distribution (apt).
system-deps:
	@bash scripts/install-system-deps.sh

# The test command of the README and of CI: installed tools must not skip.
TINYML_REQUIRE ?= toolchain,qemu
test: setup
	TINYML_REQUIRE=$(TINYML_REQUIRE) $(PY) -m pytest $(PYTEST_ARGS) -q

test-unit: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS) -q tests/unit

# The default demo: examples/digits end to end (train, prune, int8, fit check,
# build, emulate on QEMU Cortex-M4 and Cortex-M0, report).
demo: setup
	$(VENV)/bin/tinyml run examples/digits/tinyml.yaml

clean:
	rm -rf build .pytest_cache
