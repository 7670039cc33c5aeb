# Hyperion: `make demo` runs the main flow on a virtual board; `make test` runs the tests.
# Both work as the first command on a fresh clone: they create .venv and install what they need.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: all demo test bench lint sysdeps venv clean

all: test

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# Debian tools the tests and examples use (tclsh is the Tcl oracle). Installed when run as root.
sysdeps:
	@sh tools/dev/sysdeps.sh

demo: $(STAMP)
	$(PY) tools/demo.py

test: $(STAMP) sysdeps
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) tools/bench/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check host firmware tests tools

clean:
	rm -rf $(VENV) bench .pytest_cache .ruff_cache
