"""The unix ports with ulab built from the pinned sources (hyperion_host.mpbuild): micropython-ulab (MicroPython with
ulab) and micropython-cpy (configured like CircuitPython: no native code emitter, no machine module), both with
the float32 floats of a microcontroller, and `infer` / `generate --on` them. The fixtures build them when `make
firmware` has not: a build that fails fails these tests, it never skips them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyperion_host import mpbuild
from hyperion_host.device.local import run_micropython

import onnx_examples as models
from helpers import assert_user_error, run_cli

ROOT = Path(__file__).resolve().parent.parent
TINYLM = ROOT / "models" / "tinylm" / "tinylm.hyq"

PROBE = """
import sys, array, micropython
from ulab import numpy as np
a = np.frombuffer(array.array('f', [0.1, 1.5]), dtype=np.float)
print(1.0 / 3, array.array('f', [1.0 / 3])[0] == 1.0 / 3, a.itemsize, a[1] * 2, np.sum(np.array([1, 2, 3])))
print((sys.implementation._mpy >> 10) & 15, hasattr(micropython, 'mem_peak'))
try:
    import machine
    print('machine')
except ImportError:
    print('no machine')
"""

VIPER = """
import micropython

@micropython.viper
def twice(x: int) -> int:
    return x * 2

print(twice(21))
"""


@pytest.fixture(params=["ulab", "cpy"])
def interp(request, micropython_ulab, micropython_cpy):
    return request.param, {"ulab": micropython_ulab, "cpy": micropython_cpy}[request.param]


def test_interpreters_are_linked_in_the_environment(micropython_ulab, micropython_cpy):
    for name, path in (("micropython-ulab", micropython_ulab), ("micropython-cpy", micropython_cpy)):
        assert Path(path) == Path(sys.prefix) / "bin" / name
        assert os.access(path, os.X_OK) and Path(path).resolve().parent.parent == mpbuild.builds_dir()
        assert mpbuild.interpreter(name) == Path(path)  # built once: the second call finds it
    p = subprocess.run([micropython_ulab, "-c", "import ulab; print(ulab.__version__)"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.startswith("6.12."), p


def test_ulab_with_float32(interp):
    kind, binary = interp
    r = run_micropython(PROBE, binary=binary)
    assert r.ok, r
    floats, emitter, machine = r.stdout.split("\n")[:3]
    # single precision as on a microcontroller: ulab's float dtype is float32, what array('f') holds
    assert floats.split() == ["0.33333334", "True", "4", "3.0", "6.0"], r.stdout
    assert emitter.split() == (["2", "True"] if kind == "ulab" else ["0", "True"])  # x64 native code, or none
    assert machine == ("machine" if kind == "ulab" else "no machine")
    assert r.mem_peak is not None and r.mem_peak > 0  # the heap figures infer reports


def test_cpy_has_no_native_emitter(micropython_ulab, micropython_cpy):
    ok = run_micropython(VIPER, binary=micropython_ulab)
    assert ok.ok and ok.stdout.strip() == "42", ok
    r = run_micropython(VIPER, binary=micropython_cpy)
    assert not r.ok and "SyntaxError" in r.stderr, r
    r = run_micropython("@micropython.native\ndef f():\n    return 1\nprint(f())", binary=micropython_cpy)
    assert not r.ok and "SyntaxError" in r.stderr, r


def test_missing_ulab_source_is_a_one_line_error(tmp_path):
    missing = str(tmp_path / "no-ulab")
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    models.cnn(tmp_path / "m.onnx")
    assert run_cli("quantize", str(tmp_path / "m.onnx"), "--input-shape", "x=1,1,8,8").returncode == 0
    for on in ("micropython-ulab", "micropython-cpy"):
        p = run_cli("infer", str(tmp_path / "m.hyq"), "-i", str(tmp_path / "x.npy"), "--on", on,
                    env={"ULAB_SRC": missing})
        assert_user_error(p, "ULAB_SRC=%s does not exist" % missing)
    # `make firmware` (and so CI) fails on it, it does not skip
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "build_firmware.py"), "unix-ulab"], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, ULAB_SRC=missing))
    assert p.returncode != 0 and p.stderr.strip().splitlines() == [
        "error: ULAB_SRC=%s does not exist; point it at ulab's source (a folder holding code/) or its .tar.gz "
        "(tag 6.12, commit d161443327)" % missing], p.stderr
    # a folder that is not ulab's source
    p = run_cli("generate", str(TINYLM), "Once", "--on", "micropython-cpy", env={"ULAB_SRC": str(tmp_path)})
    assert_user_error(p, "ULAB_SRC=%s is not ulab's source (no code/micropython.mk)" % tmp_path)


def test_infer_on_ulab_interpreters_matches_host(micropython_ulab, micropython_cpy, tmp_path):
    models.cnn(tmp_path / "cnn.onnx")
    x = np.random.default_rng(1).standard_normal((1, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    p = run_cli("quantize", str(tmp_path / "cnn.onnx"), "--input-shape", "x=1,1,8,8")
    assert p.returncode == 0, p.stderr
    model = str(tmp_path / "cnn.hyq")
    host = run_cli("infer", model, "-i", str(tmp_path / "x.npy"), "--json")
    assert host.returncode == 0, host.stderr
    ref = np.array(json.loads(host.stdout)["outputs"]["y"])
    for on in ("micropython-ulab", "micropython-cpy"):
        p = run_cli("infer", model, "-i", str(tmp_path / "x.npy"), "--on", on, "--json", timeout=300)
        assert p.returncode == 0, (on, p.stderr)
        got = json.loads(p.stdout)
        np.testing.assert_allclose(np.array(got["outputs"]["y"]), ref, atol=2e-3, err_msg=on)
        st = got["stats"]
        assert st["speed"] == "host" and st["peak_heap_bytes"] > 0, st
        if on == "micropython-cpy":  # no native code: the C and viper kernels are not even tried
            assert not {"c", "viper"} & set(st["kernels"]), st
            assert "no native code emitter" in p.stderr, p.stderr
        else:
            assert "c" in st["kernels"], st
    p = run_cli("infer", model, "-i", str(tmp_path / "x.npy"), "--on", "micropython-ulab", "--kernels", "python",
                "-o", str(tmp_path / "y.npy"))
    assert p.returncode == 0, p.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, atol=2e-3)
    bad = run_cli("infer", model, "-i", str(tmp_path / "x.npy"), "--on", "micropython-circuit")
    assert_user_error(bad, "--on must be host, micropython, micropython-ulab or micropython-cpy")


def test_generate_on_ulab_interpreters(micropython_ulab, micropython_cpy):
    """Greedy text is the host's, and the runtime's notices (here: viper asked for on micropython-cpy, which
    has no native code) go to stderr, not into the text."""
    def gen(on, *extra):
        p = run_cli("generate", str(TINYLM), "Once upon", "-n", "12", "-t", "0", "--json", *extra,
                    *(["--on", on] if on else []), timeout=300)
        assert p.returncode == 0, (on, p.stderr)
        return json.loads(p.stdout)["text"], p.stderr

    text, _ = gen(None)
    assert gen("micropython-ulab")[0] == text
    got, err = gen("micropython-cpy", "--kernels", "viper")
    assert got == text and "note: no native code emitter on this port" in err, err
