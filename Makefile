# tinyml: `make setup`, `make test`, `make demo`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# loadgroup: tests marked xdist_group(name) share one worker (and its module fixtures).
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: setup system-deps renode-deps test test-unit demo clean

# Renode, when one is found: TINYML_RENODE_DIR, else ../shared/renode (CI), else the folder of the
# renode-test on PATH. renode-test's Python packages go into a venv of their own.
RENODE_DIR ?= $(or $(TINYML_RENODE_DIR),$(wildcard $(abspath ../shared/renode)),$(patsubst %/,%,$(dir $(realpath $(shell command -v renode-test 2>/dev/null)))))
RENODE_VENV ?= $(abspath .venv-renode)
RENODE_ENV := $(if $(RENODE_DIR),TINYML_RENODE_DIR=$(RENODE_DIR) TINYML_RENODE_VENV=$(RENODE_VENV))

setup: $(VENV)/.installed system-deps renode-deps

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==25.3"
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# arm-none-eabi-gcc, newlib and qemu-system-arm from the distribution (apt).
system-deps:
	@bash scripts/install-system-deps.sh

# Debian's Mono and renode-test's requirements, when a Renode folder is found.
renode-deps:
	@$(if $(RENODE_DIR),bash scripts/install-renode-deps.sh "$(RENODE_DIR)" "$(RENODE_VENV)" "$(PYTHON)",true)

# The test command of the README and of CI: installed tools must not skip.
TINYML_REQUIRE ?= toolchain,qemu
test: setup
	TINYML_REQUIRE=$(TINYML_REQUIRE) $(RENODE_ENV) $(PY) -m pytest $(PYTEST_ARGS) -q

test-unit: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS) -q tests/unit

# The default demo: examples/digits end to end (train, prune, int8, fit check,
# build, emulate on QEMU Cortex-M4 and Cortex-M0, report).
demo: setup
	$(VENV)/bin/tinyml run examples/digits/tinyml.yaml

clean:
	rm -rf build .pytest_cache
