"""The ulab kernel path and the CircuitPython profile, on real MicroPython builds with ulab (mpbuild:
micropython-ulab, the unix port with ulab and 32-bit floats; micropython-cpy, the same with no native emitter and
the CircuitPython shim of tests/circuitpython_shim.py): every op against the host runtime, the integer kernels
bit for bit against the bytecode ones, the per-op report, the audio front end, and the firmware running end to
end where MicroPython-only APIs are gone."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import test_kernels
from test_runtime import host_mismatches, op_models, run_batch  # noqa: F401 (op_models: a fixture)

from hyperion_host.device.local import run_micropython
from hyperion_host.firmware import cached_firmware
from hyperion_host.model.hyqfile import load_program
from hyperion_host.paths import firmware_dir

ROOT = Path(__file__).resolve().parents[1]
SHIM = (Path(__file__).parent / "circuitpython_shim.py").read_text()


def _on(binary):
    def run(code, **kw):
        return run_micropython(code, binary=binary, **kw)
    return run


@pytest.mark.parametrize("kernels", ["ulab", "auto"])
def test_every_op_matches_the_host_runtime_on_the_ulab_path(op_models, micropython_ulab, kernels):  # noqa: F811
    """'ulab': ulab over bytecode (CircuitPython's path); 'auto': the C kernels where they load, which on this
    interpreter they do (c.mpy for x64), so this also checks that C and ulab live side by side."""
    got = run_batch(_on(micropython_ulab), [(p, ins) for p, ins, _ in op_models], kernels)
    bad = host_mismatches(op_models, got)  # the same tolerances as the other paths
    assert len(op_models) > 150
    assert not bad, bad


def test_ulab_integer_kernels_equal_the_bytecode_ones_bit_for_bit(micropython_ulab):
    """Every case of test_kernels for the functions the ulab module has: the same return value and the same
    bytes in every buffer as kernels/python.py (ulab's float32 sums are kept exact: kernels/ulab.py)."""
    cases = test_kernels._cases()
    r = run_micropython("CASES = %r\n" % (cases,) + test_kernels.RUNNER, heap=8 * 1024 * 1024,
                        firmware=cached_firmware("x64"), binary=micropython_ulab, timeout=600)
    assert r.ok, r
    lines = r.stdout.splitlines()
    paths = [ln.split()[1:] for ln in lines if ln.startswith("PATHS")][0]
    assert paths == ["c", "viper", "ulab", "python"]
    funcs = {ln.split()[1]: set(ln.split()[2:]) for ln in lines if ln.startswith("FUNCTIONS")}
    have = funcs["ulab"] & set(test_kernels.FUNCTIONS)
    assert have == {"block_sums", "q4_rows", "q8_rows", "dot8", "conv_row", "absmax", "quantize", "argmax"}
    got = {}
    for ln in lines:
        if ln.startswith("CASE "):
            _, ci, fn, p, res, *crcs = ln.split(" ")
            got.setdefault(int(ci), {})[p] = (res, crcs)
    compared = 0
    for ci, (fn, _) in enumerate(cases):
        if fn in have:
            assert not got[ci]["python"][0].startswith("'ERROR"), (ci, fn)
            assert got[ci]["ulab"] == got[ci]["python"], (ci, fn, got[ci]["ulab"], got[ci]["python"])
            compared += 1
    assert compared > 100


MODEL_INFO = """
import array, hyperion
for k in ('auto', 'ulab', 'python'):
    m = hyperion.load(%r, kernels=k)
    m.set_input(array.array('f', [0.1] * %d))
    m.run()
    i = m.info()
    print(k, ' '.join('%%s:%%s' %% (o, p) for o, p in zip(i['ops'], i['kernels'])))
print('AVAILABLE', ' '.join(hyperion.info()['kernels']))
"""


def _block(tmp_path):
    from hyperion_host.files import write_atomic
    from hyperion_host.model.quantize import Options, quantize_model

    import onnx_examples

    src = tmp_path / "block.onnx"
    onnx_examples.transformer(str(src), vocab=32, dim=32, heads=2, seq=4, ffn=64)
    blob, _ = quantize_model(str(src), Options())
    write_atomic(tmp_path / "block.hyq", blob)
    prog, _ = load_program(str(tmp_path / "block.hyq"))
    return tmp_path / "block.hyq", int(np.prod(prog.shapes[prog.inputs[0]]))


def _paths(line):
    return dict(x.split(":") for x in line.split()[1:])


def _report(stdout):
    """The three per-op lines and the AVAILABLE line (the runtime's notices printed between them left out)."""
    return [ln for ln in stdout.splitlines() if ln.split(" ")[0] in ("auto", "ulab", "python", "AVAILABLE")]


def test_model_info_shows_ulab_for_the_float_ops(tmp_path, micropython_ulab, micropython_cpy):
    path, size = _block(tmp_path)
    code = MODEL_INFO % (str(path), size)
    # the firmware from source (no C kernels): viper for the integer ops, ulab for the float ones
    r = run_micropython(code, heap=4 * 1024 * 1024, binary=micropython_ulab, firmware=firmware_dir())
    assert r.ok, r
    auto, ulab, python = [_paths(ln) for ln in _report(r.stdout)[:3]]
    assert auto["layernorm"] == auto["softmax"] == auto["matmul"] == auto["add"] == "ulab"
    assert auto["linear"] == "viper"
    assert ulab["layernorm"] == ulab["linear"] == ulab["softmax"] == "ulab"
    assert set(python.values()) == {"python"}
    assert _report(r.stdout)[3] == "AVAILABLE viper ulab python"
    # with the C kernels installed (the compiled firmware), auto is C throughout
    r = run_micropython(code, heap=4 * 1024 * 1024, binary=micropython_ulab, firmware=cached_firmware("x64"))
    assert r.ok, r
    assert set(_paths(_report(r.stdout)[0]).values()) <= {"c", "python"}
    # configured like CircuitPython: no native code, so auto is ulab over bytecode
    r = run_micropython(code, heap=4 * 1024 * 1024, binary=micropython_cpy, firmware=firmware_dir())
    assert r.ok, r
    auto = _paths(_report(r.stdout)[0])
    assert auto["linear"] == auto["layernorm"] == "ulab"
    assert _report(r.stdout)[3] == "AVAILABLE ulab python"
    assert "no native code emitter on this port: using ulab and bytecode kernels" in r.stdout


def test_the_ulab_kernels_activation_codes_are_the_formats(micropython_ulab):
    """kernels/ulab.py names the activation codes it handles itself (a kernel module imports nothing above it)."""
    names = ("RELU", "CLIP", "LEAKY", "SIGMOID", "TANH", "GELU", "GELU_TANH", "HSIG", "HSWISH", "ABS", "NEG")
    r = run_micropython("from hyperion import hyq\nfrom hyperion.kernels import ulab\n"
                        "print([getattr(ulab, 'A_' + n) == getattr(hyq, 'A_' + n) for n in %r])" % (names,),
                        binary=micropython_ulab, firmware=firmware_dir())
    assert r.ok, r
    assert r.stdout.strip() == str([True] * len(names))


def test_the_ulab_audio_front_end_matches_the_bytecode_one(micropython_ulab):
    r = run_micropython(
        "import array, math\nfrom hyperion import audio\n"
        "s = array.array('h', [int(9000 * math.sin(i * 0.043) + 2500 * math.sin(i * 0.29 + 1)) for i in range(8000)])\n"
        "a = audio.Frontend(use_ulab=False).mfcc(s)\nb = audio.Frontend().mfcc(s)\n"
        "f = audio.Frontend(); print(f.ulab)\n"
        "print(len(a), max(abs(a[i] - b[i]) for i in range(len(a))), max(abs(v) for v in a))\n",
        binary=micropython_ulab, firmware=firmware_dir())
    assert r.ok, r
    flag, stats = r.stdout.splitlines()
    n, diff, top = stats.split()
    assert flag == "True" and int(n) == 48 * 10
    assert float(diff) < 1e-3 * float(top)  # float32 FFTs in a different order: agreement to 1e-3 of the range


CPY_RUN = """
install()
import array, json, sys
import hyperion
from hyperion import audio
from hyperion.picol import Interp
out = {}
info = hyperion.info()
out['kernels'] = info['kernels']
out['no_peak'] = 'mem_peak' not in info
m = hyperion.load(%r)
x = array.array('f', %r)
m.set_input(x)
y = m.run()
out['y'] = list(y)
out['paths'] = sorted(set(m.info()['kernels']))
st = [0] * len(m.h.nodes)
m.run(stats=st)
out['timed'] = sum(st) >= 0
lm = hyperion.load(%r)
out['text'] = ''.join(lm.generate('Once upon', 12, temperature=0))
it = Interp()
out['tcl'] = it.eval('set s 0; foreach i {1 2 3 4} { incr s [expr {$i * $i}] }; format %%d-%%s $s [string toupper ab]')
out['mfcc'] = len(audio.Frontend().mfcc(array.array('h', range(0, 32000, 4))))
try:
    import machine
    out['machine'] = 'present'
except ImportError:
    out['machine'] = 'gone'
remove()
print(json.dumps(out))
"""


def test_the_firmware_runs_unchanged_configured_like_circuitpython(micropython_cpy, micropython):
    """On micropython-cpy (no native emitter, ulab, 32-bit floats) with the CircuitPython shim: the firmware
    imports, a CNN matches the host runtime, tinylm writes the same text as on the standard unix port, Picol
    and the audio front end run."""
    digits = ROOT / "models" / "digits" / "digits.hyq"
    tiny = ROOT / "models" / "tinylm" / "tinylm.hyq"
    x = (np.arange(64, dtype=np.float32) % 17 / 16.0).tolist()
    r = run_micropython(SHIM + CPY_RUN % (str(digits), x, str(tiny)), heap=2 * 1024 * 1024, binary=micropython_cpy,
                        firmware=firmware_dir(), timeout=300)
    assert r.ok, r
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["kernels"] == ["ulab", "python"] and out["no_peak"] and out["machine"] == "gone"
    assert out["paths"] == ["python", "ulab"] and out["timed"]
    prog, _ = load_program(str(digits))
    host = prog.run({prog.inputs[0]: np.asarray(x, np.float32).reshape(prog.shapes[prog.inputs[0]])})
    want = np.asarray(host[prog.outputs[0]], np.float32).ravel()
    assert np.abs(np.asarray(out["y"]) - want).max() <= 2e-3 * max(1.0, float(np.abs(want).max()))
    ref = micropython("import hyperion\nprint(repr(''.join(hyperion.load(%r).generate('Once upon', 12, "
                      "temperature=0))))" % str(tiny))
    assert ref.ok, ref
    assert repr(out["text"]) == ref.stdout.strip() and len(out["text"]) > 0
    assert out["tcl"] == "30-AB"
    assert out["mfcc"] == 48 * 10  # frames * coefficients


EXPANDED = """
import array, binascii
from hyperion.kernels import python, ulab
for fn, args in CASES:
    w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym = args
    w, xq = bytearray(w[1]), bytearray(xq[1])
    sx = array.array('i', sx[1])
    a = array.array('i', acc[1])
    python.block_sums(xq, K, B, nb, sx)
    python.q4_rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, a, asym)
    E = ulab.expand(w, wo + r0 * stride, stride, hdr, cb, nb, B, K, r1 - r0, asym, 1 << 30)
    b = array.array('i', acc[1])
    ulab.q4_rows_e(E, K, xq, memoryview(b)[2 * r0:])
    print(binascii.crc32(bytes(a)) == binascii.crc32(bytes(b)), K, B, asym, r1 - r0)
"""


def test_expanded_q4_weights_give_the_bytecode_sums_bit_for_bit(micropython_ulab):
    """The ulab path's cached form of q4 tensors (kernels/ulab.py expand, q4_rows_e): every q4_rows case of
    test_kernels (asym and sym, whole and partial last blocks, odd K, edge weights and inputs) plus wide rows
    (K = 1024: many 128-column parts), against the bytecode kernel."""
    import random

    from hyperion import hyq

    cases = [c for c in test_kernels._cases() if c[0] == "q4_rows"]
    rnd = random.Random(5)
    for scheme in (hyq.S_ASYM, hyq.S_SYM):
        K, rows = 1024, 6
        qp = scheme << 4
        nb, hdr, cb, _, stride = hyq.q4_layout(K, qp)
        B = hyq.block_size(qp)
        for edge in (0, 255, None):
            w = bytes(edge if edge is not None else rnd.randrange(256) for _ in range(rows * stride))
            xq = bytes(255 if edge == 255 else (1 if edge == 0 else rnd.randrange(1, 256)) for _ in range(K))
            cases.append(("q4_rows", [("b", w), 0, stride, hdr, cb, nb, B, K, 0, rows, ("b", xq),
                                      ("i", bytes(4 * nb)), ("i", bytes(8 * rows)), 1 if scheme == hyq.S_ASYM else 0]))
    r = run_micropython("CASES = %r\n" % (cases,) + EXPANDED, heap=8 * 1024 * 1024, binary=micropython_ulab,
                        firmware=firmware_dir())
    assert r.ok, r
    lines = r.stdout.splitlines()
    assert len(lines) == len(cases) > 20
    assert all(ln.startswith("True ") for ln in lines), [ln for ln in lines if not ln.startswith("True ")]
    assert {ln.split()[3] for ln in lines} == {"0", "1"} and any(int(ln.split()[1]) % int(ln.split()[2]) for ln in lines)


def test_quantized_models_match_the_host_on_the_ulab_path(tmp_path, micropython_cpy):
    """Whole q4/q8 models through the ulab path's cached expansions and block products (the op cases above are
    too small to quantize): a calibrated int8 CNN, the same with no calibration, a transformer block (its larger
    tensors are read from the file for their expansion), sym and q8 MLPs, on micropython-cpy."""
    from hyperion_host.files import write_atomic
    from hyperion_host.model.quantize import Options, quantize_model

    import onnx_examples

    onnx_examples.transformer(str(tmp_path / "block.onnx"), vocab=32, dim=64, heads=2, seq=4, ffn=128)
    onnx_examples.mlp(str(tmp_path / "mlp.onnx"), k=200, hidden=96, n_out=10)
    digits = ROOT / "models" / "digits"
    shutil.copy(digits / "digits.hyq", tmp_path / "digits.hyq")  # (run_batch writes inputs beside each model)
    files = [(tmp_path / "digits.hyq", None)]
    for name, src, opts in (("digits_nocalib", digits / "digits.onnx", Options()),
                            ("block", tmp_path / "block.onnx", Options()),
                            ("mlp_sym", tmp_path / "mlp.onnx", Options(scheme="sym")),
                            ("mlp_q8", tmp_path / "mlp.onnx", Options(bits=8))):
        blob, _ = quantize_model(str(src), opts)
        write_atomic(tmp_path / (name + ".hyq"), blob)
        files.append((tmp_path / (name + ".hyq"), None))
    rng = np.random.default_rng(3)
    cases, want = [], {}
    for f, _ in files:
        prog, _ = load_program(str(f))
        feeds = {n: (rng.random(prog.shapes[n]) * (16 if "digits" in f.name else 1)).astype(np.float32)
                 for n in prog.inputs}
        if "block" in f.name:
            feeds = {n: rng.integers(0, 32, prog.shapes[n]).astype(np.float32) for n in prog.inputs}
        want[str(f)] = [np.asarray(prog.run(feeds)[o], np.float32).ravel() for o in prog.outputs]
        cases.append((f, [feeds[n] for n in prog.inputs]))
    for kernels in ("auto", "python"):
        got = run_batch(_on(micropython_cpy), cases, kernels, heap=4 * 1024 * 1024)
        for f, _ in cases:
            res = got[str(f)]
            assert isinstance(res, list), (f.name, res)
            for g, h in zip(res, want[str(f)]):
                assert np.abs(g - h).max() <= 2e-3 * max(1.0, float(np.abs(h).max())), (kernels, f.name)
    r = run_micropython("import hyperion, array\nm = hyperion.load(%r, kernels='ulab')\n"
                        "m.set_input(array.array('f', [0.5] * 200))\nm.run()\n"
                        "print(m.info()['expanded_bytes'] > 0, sorted(set(m.info()['kernels'])))"
                        % str(tmp_path / "mlp_sym.hyq"), binary=micropython_cpy, firmware=firmware_dir())
    assert r.ok and r.stdout.split("\n")[-2] == "True ['ulab']", r


HEAP_RUN = """
import array, gc, hyperion
m = hyperion.load(%r, kernels=%r)
m.set_input(array.array('f', [0.5] * 64))
m.run()
m.run()
gc.collect()
print('OK', sorted(set(m.info()['kernels'])), m.info()['expanded_bytes'])
"""


@pytest.mark.parametrize("source,kernels", [("py", "python"), ("py", "ulab"), ("mpy", "ulab")])
def test_digits_fits_a_pico_heap_configured_like_circuitpython(micropython32_cpy, source, kernels):
    """On the 32-bit build configured like CircuitPython (object sizes as on the board), the digits CNN loads
    and runs in 200 KB of heap (cp_pico.toml: about 190 KB for user code): from .py source (what a bundle
    holds: CircuitPython compiles it on import) on either path, and from .mpy with the ulab path. The ulab path
    sizes its expansions and temporaries to the heap it finds (kernels/ulab_rows.py, budget)."""
    fw = firmware_dir() if source == "py" else cached_firmware("x86")
    r = run_micropython(HEAP_RUN % (str(ROOT / "models" / "digits" / "digits.hyq"), kernels), heap=200 * 1024,
                        binary=micropython32_cpy, firmware=fw)
    assert r.ok, r
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith("OK ['python']" if kernels == "python" else "OK ['python', 'ulab']"), line


@pytest.mark.emulated
def test_the_ulab_path_runs_on_the_emulated_cortex_m0():
    """`profile --kernels ulab`: the emulated Cortex-M0's firmware built with ulab (mpbuild), the ulab kernels in
    the ROMFS image; the digits CNN matches the host there, on the ulab path, in fewer instructions than on the
    bytecode path (instruction counts: deterministic)."""
    from helpers import run_cli

    got = {}
    for k in ("ulab", "python"):
        p = run_cli("profile", str(ROOT / "models" / "digits" / "digits.hyq"), "--board", "rp2040", "--kernels", k,
                    "--json", timeout=900)
        assert p.returncode == 0, p.stderr
        got[k] = json.loads(p.stdout)
        assert got[k]["parity"]["ok"], got[k]["parity"]
    assert {o["kernel"] for o in got["ulab"]["ops"]} == {"ulab", "python"}
    assert {o["kernel"] for o in got["python"]["ops"]} == {"python"}
    assert got["ulab"]["instructions"] < got["python"]["instructions"]
