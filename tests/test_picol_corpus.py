"""Differential tests: every script in tests/tcl/ runs on Picol (real MicroPython, all scripts in one process)
and on tclsh 8.6. Stdout, the first line of stderr and the exit status must be equal."""

import binascii
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hyperion.picol import Interp

CORPUS = Path(__file__).resolve().parent / "tcl"
SCRIPTS = sorted(CORPUS.glob("*.tcl"))
TCLSH = shutil.which("tclsh")

# Runs on MicroPython: each script in a fresh interpreter, like `tclsh file.tcl`. Output is captured through
# Interp.write; the uncaught error is what tclsh prints first on stderr. Results are hex-encoded lines.
DRIVER = r"""
import binascii
from hyperion.picol import Interp, TclError
class Cap(Interp):
    def write(self, chan, text):
        (OUT if chan == 'stdout' else ERR).append(text)
def hx(parts):
    return binascii.hexlify(''.join(parts).encode()).decode()
for path in PATHS:
    OUT = []
    ERR = []
    with open(path) as f:
        src = f.read()
    rc = 0
    try:
        Cap().eval(src)
    except TclError as e:
        ERR.append(str(e) + '\n')
        rc = 1
    except Exception as e:
        ERR.append('PYTHON %s: %s\n' % (type(e).__name__, e))
        rc = 99
    print('@@', rc, hx(OUT), hx(ERR))
"""


@pytest.fixture(scope="module")
def picol_results(micropython_module):
    r = micropython_module("PATHS = %r\n" % [str(p) for p in SCRIPTS] + DRIVER, timeout=120)
    assert r.ok, r
    rows = [line.split(" ") for line in r.stdout.splitlines() if line.startswith("@@ ")]
    assert len(rows) == len(SCRIPTS), r.stdout[-2000:]
    return {p.name: (int(rc), binascii.unhexlify(o).decode(), binascii.unhexlify(e).decode())
            for p, (_, rc, o, e) in zip(SCRIPTS, rows)}


@pytest.fixture(scope="module")
def micropython_module():
    from hyperion_host.device.local import run_micropython

    return run_micropython


def first_line(text):
    return text.splitlines()[0] if text else ""


@pytest.mark.skipif(TCLSH is None, reason="tclsh 8.6 (Debian tcl8.6) not installed")
@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_script_matches_tclsh(path, picol_results):
    t = subprocess.run([TCLSH, str(path)], capture_output=True, timeout=30)
    want = (1 if t.returncode else 0, t.stdout.decode(), first_line(t.stderr.decode()))
    rc, out, err = picol_results[path.name]
    assert rc != 99, err
    assert (rc, out, first_line(err)) == want


def test_tclsh_is_8_6():
    if TCLSH is None:
        pytest.skip("tclsh not installed")
    p = subprocess.run([TCLSH], input="puts [info tclversion]", capture_output=True, text=True)
    assert p.stdout.strip() == "8.6"


def test_corpus_covers_every_command_and_rule():
    assert len(SCRIPTS) >= 80
    text = "\n".join(p.read_text() for p in SCRIPTS)
    words = set(re.findall(r"[A-Za-z_]+", text))
    missing = [c for c in Interp().commands() if c not in words]
    assert not missing, "commands no corpus script uses: %s" % missing
    for sub in ("length", "index", "range", "equal", "compare", "first", "last", "toupper", "tolower", "trim",
                "trimleft", "trimright", "map", "repeat", "match", "is", "exists", "commands", "procs",
                "complete", "nonewline", "stderr", "elseif", "then", "args", "nocomplain"):
        assert sub in words, sub
    rules = {int(p.name[4:6]) for p in SCRIPTS if p.name.startswith("rule")}
    assert rules == set(range(1, 13)), "Dodekalogue rules without a script: %s" % (set(range(1, 13)) - rules)
    errors = [p for p in SCRIPTS if p.name.startswith("err_")]
    assert len(errors) >= 15
