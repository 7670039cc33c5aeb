"""The board runtime on real MicroPython: parity with the host runtime for every op and model, both kernel
paths, every arch's native build, memory errors, configuration and bad input."""

import json
import shutil

import numpy as np
import onnx
import pytest

from hyperion import ARCH_NAMES
from hyperion_host.files import write_atomic
from hyperion_host.firmware import ARCHS, cached_firmware, compile_firmware, mpy_arch
from hyperion_host.model.hyqfile import load_program
from hyperion_host.model.onnx_import import import_onnx
from hyperion_host.model.quantize import Options, quantize_model

import onnx_examples as models
from onnx_cases import ALL_ACTIVATIONS, broadcast_cases, data_cases, freeze_inputs, node_cases

BATCH = """
import gc, array, binascii, hyperion
for path, raws in CASES:
    try:
        m = hyperion.load(path, kernels=KERNELS)
        for i in range(len(raws)):
            m.set_input(array.array('f', raws[i]), i)
        y = m.run()
        y = y if isinstance(y, tuple) else (y,)
        print('OK', path, ' '.join(binascii.hexlify(bytes(a)).decode() for a in y))
        m.close()
    except Exception as e:
        print('ERR', path, repr(e))
    m = None
    gc.collect()
"""


# the same, each case's inputs read from the file beside its model (PATH.in: the inputs' float32 bytes in turn)
BATCH_FILES = BATCH.replace("for path, raws in CASES:", "for path, sizes in CASES:").replace(
    "        for i in range(len(raws)):\n            m.set_input(array.array('f', raws[i]), i)\n",
    "        with open(path + '.in', 'rb') as f:\n            for i in range(len(sizes)):\n"
    "                m.set_input(array.array('f', f.read(sizes[i])), i)\n")


def run_batch(micropython, cases, kernels, heap=16 * 1024 * 1024):
    """cases: [(hyq path, [input arrays])] -> {path: [output arrays]} from one MicroPython process."""
    sizes = []
    for p, ins in cases:
        raws = [np.ascontiguousarray(a, "<f4").tobytes() for a in ins]
        with open(str(p) + ".in", "wb") as f:
            f.write(b"".join(raws))
        sizes.append((str(p), [len(r) for r in raws]))
    code = "CASES = %r\nKERNELS = %r\n" % (sizes, kernels) + BATCH_FILES
    assert "f.read(sizes[i])" in code
    r = micropython(code, heap=heap, firmware=cached_firmware("x64"), timeout=600)
    assert r.ok, r
    out = {}
    for line in r.stdout.splitlines():
        kind, path, rest = (line.split(" ", 2) + [""])[:3]
        if kind == "OK":
            out[path] = [np.frombuffer(bytes.fromhex(h), "<f4") for h in rest.split()]
        elif kind == "ERR":
            out[path] = rest
    return out


@pytest.fixture(scope="module")
def op_models(tmp_path_factory):
    """Every onnx node case as .hyq (float weights), plus weight ops quantized, with inputs and host outputs."""
    d = tmp_path_factory.mktemp("ops")
    cases = []
    stored = [(n.replace("/", "_"), m, ins, outs) for n, m, ins, outs in data_cases()] + broadcast_cases()
    for name, model, ins, outs in node_cases() + stored:
        if sum(np.asarray(a).nbytes for a in ins) > 256 * 1024:  # test_operator_conv's 3.7 MB input: host only
            continue
        m, feeds = freeze_inputs(model, ins, len(ins) if ALL_ACTIVATIONS.match(name) or name.startswith("pytorch")
                                 or "_two_way_" in name else 1)
        src = d / (name + ".onnx")
        onnx.save(m, str(src))
        g = import_onnx(str(src))
        variants = [("f", Options(act="float", keep_float=[op.name for op in g.ops]))]
        if any(op.op in ("linear", "conv") for op in g.ops):
            variants += [("q", Options()), ("qs", Options(scheme="sym", act="float")), ("q8", Options(bits=8))]
        for tag, opts in variants:
            blob, _ = quantize_model(str(src), opts)
            path = d / ("%s.%s.hyq" % (name, tag))
            write_atomic(path, blob)
            prog, _ = load_program(str(path))
            host = [prog.run(feeds)[o] for o in prog.outputs]
            cases.append((path, [np.asarray(feeds[n], np.float32) for n in prog.inputs], host))
    return cases


def host_mismatches(op_models, got):
    """The cases of op_models whose outputs in got (run_batch's) differ from the host runtime's beyond the
    tolerance: 1e-5 of the range for float models, 2e-3 for quantized ones (int8 rounding ties)."""
    bad = []
    for path, _, host in op_models:
        res = got.get(str(path))
        if not isinstance(res, list):
            bad.append("%s: %s" % (path.name, res))
            continue
        for h, g in zip(host, res):
            h = np.asarray(h, np.float32).ravel()
            scale = max(1.0, float(np.abs(h).max()))
            tol = 1e-5 if ".f." in path.name else 2e-3  # float ops / int8 rounding ties (float32 vs double)
            if g.shape != h.shape or float(np.abs(g - h).max()) > tol * scale:
                bad.append("%s: max diff %s" % (path.name, np.abs(g - h).max() if g.shape == h.shape else g.shape))
    return bad


@pytest.mark.parametrize("kernels", ["python", "viper", "c"])
def test_every_op_matches_the_host_runtime(op_models, micropython, kernels):
    got = run_batch(micropython, [(p, ins) for p, ins, _ in op_models], kernels)
    bad = host_mismatches(op_models, got)
    assert len(op_models) > 150
    assert not bad, bad


def test_python_and_viper_kernels_agree_exactly(op_models, micropython):
    quantized = [(p, ins) for p, ins, _ in op_models if ".q" in p.name]
    a = run_batch(micropython, quantized, "python")
    b = run_batch(micropython, quantized, "viper")
    assert len(quantized) > 20
    for p, _ in quantized:
        assert isinstance(a[str(p)], list), a[str(p)]
        for x, y in zip(a[str(p)], b[str(p)]):
            np.testing.assert_array_equal(x, y)


def test_integer_accumulators_are_bit_exact(micropython):
    """Both kernel paths on MicroPython give the host's int32 accumulators for random blocks."""
    from hyperion import hyq
    from hyperion_host.model.fit import quantize_weight
    from hyperion_host.model.reference import int_accumulators

    r = np.random.default_rng(5)
    cases = []
    for rows, cols, block, scheme, bits in ((7, 100, 32, "asym", 4), (5, 64, 64, "sym", 4), (3, 300, 128, "asym", 4),
                                            (4, 96, 32, "asym", 8)):
        w = quantize_weight(r.standard_normal((rows, cols)).astype(np.float32), bits, block, scheme)
        xq = r.integers(-127, 128, cols)
        A1, A2 = int_accumulators(w, xq[None, :])
        want = np.stack([A1[0], A2[0] if A2 is not None else np.zeros(rows, np.int64)], 1).ravel()
        cases.append((w.to_bytes(), cols, w.qparam, rows, (xq + 128).astype(np.uint8).tobytes(), want.tolist()))
    code = (
        "import array\nfrom hyperion import hyq\nfrom hyperion.kernels import python, viper\n"
        "for blob, K, qp, N, xq, want in %r:\n"
        "    nb, hdr, cb, data, stride = hyq.q4_layout(K, qp)\n"
        "    B = hyq.block_size(qp)\n"
        "    for k in (python, viper):\n"
        "        sx = array.array('i', [0] * nb)\n"
        "        acc = array.array('i', [0] * (2 * N))\n"
        "        x = bytearray(xq)\n"
        "        k.block_sums(x, K, B, nb, sx)\n"
        "        kern = k.q8_rows if (qp >> 4) == hyq.S_Q8 else k.q4_rows\n"
        "        kern(blob, 0, stride, hdr, cb, nb, B, K, 0, N, x, sx, acc, 1 if (qp >> 4) == hyq.S_ASYM else 0)\n"
        "        print(list(acc) == want)\n" % (cases,)
    )
    r2 = micropython(code, firmware=cached_firmware("x64"))
    assert r2.ok, r2
    assert r2.stdout.split() == ["True"] * 8
    assert hyq.S_Q8 == 2


def test_zeros_makes_zero_filled_arrays(micropython):
    code = ("from hyperion import layers\n"
            "for code in 'fi':\n"
            "    for n in (0, 1, 63, 64, 65, 200):\n"
            "        a = layers.zeros(code, n)\n"
            "        print(code, len(a), sum(a) == 0 and all(v == 0 for v in a))\n")
    r = micropython(code)
    assert r.ok, r
    assert r.stdout.split("\n")[:12] == ["%s %d True" % (c, n) for c in "fi" for n in (0, 1, 63, 64, 65, 200)]


def test_activation_quantization_is_exact_on_both_paths(micropython):
    """layers._quantize with the viper and the bytecode kernels gives the host's int8 values exactly: floats of
    every magnitude, exact halves (ties round up), zeros, subnormals, values past the clip; static and dynamic."""
    from hyperion_host.model.reference import Q_DYNAMIC, Q_STATIC, quantize_rows

    r = np.random.default_rng(11)
    x = (r.standard_normal(3000) * np.exp2(r.integers(-30, 12, 3000))).astype(np.float32)
    x[:9] = [0.0, -0.0, 1e-42, -1e-42, 0.5, -0.5, 1.5, -2.5, 126.5]
    ties = (np.arange(-127, 128) + 0.5).astype(np.float32) * np.float32(0.25)  # x/s = n + 1/2 for s = 0.25
    cases = [(x, 0.0), (x, 0.37), (x[:500] * np.float32(1e-6), 0.0), (ties, 0.25), (ties, 0.0),
             (np.zeros(7, np.float32), 0.0), (x, 3.1e-5)]
    want = []
    for v, scale in cases:
        q, s = quantize_rows(v[None, :], Q_STATIC if scale else Q_DYNAMIC, scale, True)
        want.append(((q[0] + 128).astype(np.uint8).tobytes().hex(), float(s[0])))
    code = (
        "import array, binascii\nfrom hyperion import layers\nfrom hyperion.kernels import python, viper\n"
        "for raw, scale in %r:\n"
        "    x = array.array('f', raw)\n"
        "    n = len(x)\n"
        "    for k in (python, viper):\n"
        "        y = bytearray(n + 3)\n"
        "        xx = array.array('f', bytes(8)) + x\n"  # at an offset, into an offset
        "        s = layers._quantize(k, xx, n, y, scale, 2, 3)\n"
        "        print(binascii.hexlify(y[3:]).decode(), repr(s))\n"
        % ([(v.tobytes(), scale) for v, scale in cases],))
    res = micropython(code, firmware=cached_firmware("x64"))
    assert res.ok, res
    lines = res.stdout.split("\n")
    for i, (hexq, s) in enumerate(want):
        for path in range(2):
            got_q, got_s = lines[2 * i + path].split()
            assert got_q == hexq, (i, path)
            assert abs(float(got_s) - s) <= 1e-6 * s, (i, path, got_s, s)
    assert len(set(want[0][0])) > 10 and want[3][0] != want[4][0]  # varied codes; the tie case rounds up


@pytest.mark.parametrize("maker,shape,calib", [("cnn", ["x=1,1,8,8"], False), ("cnn", ["x=1,1,8,8"], True),
                                                ("mlp", None, False), ("deep_mlp", None, True),
                                                ("transformer", None, False), ("transformer", None, True)])
def test_example_models_match_on_micropython(maker, shape, calib, tmp_path, micropython):
    src = getattr(models, maker)(tmp_path / "m.onnx")
    r = np.random.default_rng(7)
    opts = Options(input_shapes=shape)
    if calib:
        g = import_onnx(src, shape)
        name = g.inputs[0]
        s = g.values[name].shape
        data = r.integers(0, 64, (24,) + s) if maker == "transformer" else r.standard_normal((24,) + s)
        np.savez(tmp_path / "calib.npz", **{name: data.astype(np.float32)})
        opts = Options(input_shapes=shape, calib=str(tmp_path / "calib.npz"))
    blob, _ = quantize_model(src, opts)
    path = tmp_path / "m.hyq"
    write_atomic(path, blob)
    prog, m = load_program(str(path))
    if calib and maker in ("cnn", "deep_mlp"):
        assert m.arena8_size > 0 and "i8" in prog.dtypes.values()  # integer chains between layers
    if maker == "transformer":
        x = r.integers(0, 64, (1, 8)).astype(np.float32)
    else:
        x = r.standard_normal(prog.shapes[prog.inputs[0]]).astype(np.float32)
    host = prog.run({prog.inputs[0]: x})[prog.outputs[0]].ravel()
    for k in ("viper", "python"):
        got = run_batch(micropython, [(path, [x])], k)[str(path)]
        assert isinstance(got, list), got
        assert float(np.abs(got[0] - host).max()) <= 2e-3 * max(1.0, float(np.abs(host).max()))


def test_every_arch_compiles_with_its_arch_byte(tmp_path):
    for arch in ARCHS:
        d = compile_firmware(arch, tmp_path / arch)
        native = {"kernels/viper.mpy"} | ({"kernels/c.mpy"} if arch != "xtensawin" else set())
        for n in native:
            assert mpy_arch(d / n) == arch
            head = (d / n).read_bytes()[:3]
            assert head[2] & 0xFC == ARCH_NAMES.index(arch) << 2 and head[2] & 3
        for f in d.rglob("*.mpy"):
            if f.relative_to(d).as_posix() not in native:
                assert mpy_arch(f) is None, f  # bytecode only: runs on any arch
    pkg = tmp_path / "x64" / "hyperion"
    assert {p.relative_to(pkg).as_posix() for p in pkg.rglob("*.mpy")} >= {
        "__init__.mpy", "hyq.mpy", "model.mpy", "kernels/python.mpy", "kernels/viper.mpy"}


def test_wrong_arch_kernels_say_which_arch_to_install(tmp_path, micropython):
    fw = tmp_path / "fw"
    shutil.copytree(cached_firmware("x64"), fw)
    compile_firmware("armv6m", tmp_path / "arm")
    for k in ("kernels/viper.mpy", "kernels/c.mpy"):
        shutil.copy(tmp_path / "arm" / "hyperion" / k, fw / "hyperion" / k)
    blob, _ = quantize_model(models.mlp(tmp_path / "m.onnx"), Options())
    write_atomic(tmp_path / "m.hyq", blob)
    r = micropython("import hyperion\nprint(hyperion.kernel_status())\nm = hyperion.load(%r)\n"
                    "print(m.info()['kernels'])" % str(tmp_path / "m.hyq"), firmware=fw)
    assert r.ok, r
    assert "kernels/c.mpy holds c kernels for armv6m, but this board is x64" in r.stdout
    assert "kernels/viper.mpy holds viper kernels for armv6m, but this board is x64" in r.stdout
    assert "build-kernels --arch x64" in r.stdout
    assert "['python', 'python']" in r.stdout


def _mlp_hyq(tmp_path, k=256, **opts):
    blob, _ = quantize_model(models.mlp(tmp_path / "m.onnx", k=k), Options(**opts))
    write_atomic(tmp_path / "m.hyq", blob)
    return str(tmp_path / "m.hyq")


def test_bad_input_shape_names_the_expected_shape(tmp_path, micropython):
    path = _mlp_hyq(tmp_path)
    r = micropython("import hyperion, array\nm = hyperion.load(%r)\n"
                    "try:\n m.run(array.array('f', [0.0] * 10))\nexcept ValueError as e:\n print(e)\n"
                    "try:\n m.run(3)\nexcept ValueError as e:\n print(e)\n"
                    "print(len(m.run([0.5] * 256)), len(m.run(bytearray(256))), len(m.run(array.array('b', [1] * 256))))\n"
                    % path, firmware=cached_firmware("x64"))
    assert r.ok, r
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "input has 10 values; the model expects shape (1, 256) (256 values)"
    assert "shape (1, 256)" in lines[1]
    assert lines[2] == "16 16 16"


@pytest.mark.parametrize("damage,msg", [(lambda b: b[: len(b) // 2], "truncated"),
                                        (lambda b: b[:-9] + bytes([b[-9] ^ 4]) + b[-8:], "CRC mismatch in tensor")])
def test_corrupt_model_gives_a_clear_error(tmp_path, micropython, damage, msg):
    path = _mlp_hyq(tmp_path)
    bad = tmp_path / "bad.hyq"
    bad.write_bytes(damage(open(path, "rb").read()))
    r = micropython("import hyperion\nfrom hyperion import hyq\ntry:\n hyperion.load(%r)\n"
                    "except hyq.FormatError as e:\n print('FormatError:', e)" % str(bad), firmware=cached_firmware("x64"))
    assert r.ok, r
    assert r.stdout.startswith("FormatError:") and msg in r.stdout


def test_out_of_memory_is_reported_and_recoverable(tmp_path, micropython):
    big = _mlp_hyq(tmp_path, k=1024, act="float")  # float activations: its 140 KB matrix is read whole
    small_dir = tmp_path / "s"
    small_dir.mkdir()
    small = _mlp_hyq(small_dir, k=32)
    r = micropython(
        "import gc, hyperion\n"
        "try:\n m = hyperion.load(%r)\nexcept hyperion.OutOfMemory as e:\n"
        " print('OOM', e.needed > 100000, e.free < e.needed, isinstance(e, MemoryError))\n print(e)\n"
        "gc.collect()\nm = hyperion.load(%r)\nprint('small ok', len(m.run([0.1] * 32)))\n" % (big, small),
        heap=112 * 1024, firmware=cached_firmware("x64"))  # (the x64 C kernels alone take about 40 KB)
    assert r.ok, r
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "OOM True True True"
    assert lines[1].startswith("out of memory while loading") and "bytes free" in lines[1]
    assert lines[2] == "small ok 16"


def test_config_file_and_configure(tmp_path, micropython):
    path = _mlp_hyq(tmp_path)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"kernels": "python", "model_dirs": [str(tmp_path)]}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kernels": "fast"}))
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    code = (
        "import hyperion\n"
        "hyperion.CONFIG_PATH = %r\n"
        "m = hyperion.load('m')\nprint(m.path == %r, m.info()['kernels'])\n"
        "hyperion.configure(kernels='viper')\nprint(hyperion.load('m').info()['kernels'])\n"
        "try:\n hyperion.configure(kernels='fast')\nexcept ValueError as e:\n print(e)\n"
        "for p in (%r, %r):\n hyperion._config = None\n hyperion.CONFIG_PATH = p\n"
        " try:\n  hyperion.config()\n except ValueError as e:\n  print(e)\n"
        % (str(good), path, str(bad), str(junk))
    )
    r = micropython(code, firmware=cached_firmware("x64"))
    assert r.ok, r
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "True ['python', 'python']"
    assert lines[1] == "['viper', 'viper']"
    assert lines[2] == "configure(): 'kernels' must be one of auto, c, viper, python, ulab, not 'fast'"
    assert lines[3] == "%s: 'kernels' must be one of auto, c, viper, python, ulab, not 'fast'" % bad
    assert lines[4] == "%s is not valid JSON; fix or delete it" % junk


def test_models_run_in_place_from_romfs(tmp_path, micropython):
    """A ROMFS image (mpremote's writer) mounted with vfs.VfsRom: weights used in place, same outputs."""
    from mpremote.romfs import VfsRomWriter

    path = _mlp_hyq(tmp_path)
    w = VfsRomWriter()
    w.opendir("models")
    w.mkfile("m.hyq", open(path, "rb").read())
    w.closedir()
    img = tmp_path / "rom.img"
    img.write_bytes(w.finalise())
    code = (
        "import vfs, array, hyperion\n"
        "vfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')\n"
        "x = array.array('f', [((i * 7) %% 13 - 6) * 0.1 for i in range(256)])\n"
        "a = hyperion.load('m')\nb = hyperion.load(%r, mode='stream')\n"
        "print(a.path, a.info()['mode'], a.info()['weight_buffer_bytes'], b.info()['mode'], "
        "b.info()['weight_buffer_bytes'])\n"
        "print(list(a.run(x)) == list(b.run(x)))\n"
        "try:\n hyperion.load(%r, mode='rom')\nexcept ValueError as e:\n print(e)\n" % (str(img), path, path)
    )
    r = micropython(code, firmware=cached_firmware("x64"))
    assert r.ok, r
    lines = r.stdout.strip().splitlines()
    # streamed: the 256x256 4-bit matrix (37 KB) passes through a 4 KB buffer in chunks of whole rows
    assert lines[0] == "/rom/models/m.hyq rom 0 stream 4096"
    assert lines[1] == "True"
    assert "needs a memory-mapped file (ROMFS)" in lines[2]


def test_out_of_memory_messages_do_not_contradict_themselves(micropython):
    """An allocation can fail with more bytes free in total than the estimate asks for (a fragmented heap, a
    short estimate): the message says so instead of 'needs about 40 bytes, 102400 bytes free'."""
    r = micropython("from hyperion.errors import OutOfMemory\nprint(OutOfMemory('running m', 40, 102400))\n"
                    "print(OutOfMemory('loading m', 50000, 4000))", firmware=cached_firmware("x64"))
    assert r.ok, r
    frag, short = r.stdout.strip().splitlines()
    assert "one block larger than any of the 102400 bytes free" in frag and "needs about" not in frag, frag
    assert short == "out of memory while loading m: needs about 50000 bytes, 4000 bytes free"
