"""The C kernels as built for each arch, and what a board without them does: a wrong-arch or missing
kernels/c.mpy falls back to viper (or bytecode) with a notice, and the model still runs with the same result."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from hyperion_host import mpbuild, natmod
from hyperion_host.errors import HyperionError
from hyperion_host.firmware import cached_firmware, mpy_arch

from helpers import run_cli

MODEL = "models/digits/digits.hyq"

# prints the path select() gives for each preference, its notice, then digits' output on the auto path
PROBE = """
import array, hyperion
from hyperion import kernels
for pref in ('auto', 'c', 'viper'):
    k, notice = kernels.select(pref)
    print('PATH', pref, k.PATH, '|', notice)
m = hyperion.load(%r)
m.set_input(array.array('f', [0.25 * (i %% 7) for i in range(64)]))
print('OUT', m.info()['kernels'][0], ' '.join('%%.5f' %% v for v in m.run()))
"""


def _firmware_with(tmp_path, c_arch=None, viper_arch=None):
    """A copy of the x64 firmware whose kernels/c.mpy (None: removed) and viper.mpy come from other archs."""
    fw = tmp_path / "fw"
    shutil.copytree(cached_firmware("x64"), fw)
    k = fw / "hyperion" / "kernels"
    if c_arch is None:
        (k / "c.mpy").unlink()
    elif c_arch != "x64":
        shutil.copy(natmod.build(c_arch), k / "c.mpy")
    if viper_arch:
        shutil.copy(cached_firmware(viper_arch) / "hyperion" / "kernels" / "viper.mpy", k / "viper.mpy")
    return fw


def _probe(micropython, fw):
    r = micropython(PROBE % MODEL, firmware=fw)
    assert r.ok, r
    paths = {}
    for line in r.stdout.splitlines():
        if line.startswith("PATH"):
            _, pref, path, rest = line.split(" ", 3)
            paths[pref] = (path, rest[2:])
        elif line.startswith("OUT"):
            out = line.split()[1:]
    return paths, out[0], np.array([float(v) for v in out[1:]])


def test_the_c_kernels_are_built_for_every_arch_with_a_compiler():
    for arch in ("x64", "x86", "armv6m", "armv7emsp", "rv32imc"):
        p = natmod.build(arch)
        assert mpy_arch(p) == arch and 4000 < p.stat().st_size < 40000  # copied to RAM at import: kept small
    path, notice = natmod.try_build("xtensawin")
    assert path is None and "no xtensawin compiler" in notice and "viper" in notice


def test_a_board_without_matching_c_kernels_runs_viper_with_a_notice(micropython, tmp_path):
    good, kind, want = _probe(micropython, cached_firmware("x64"))
    assert kind == "c" and good["auto"] == ("c", "") and good["c"] == ("c", "") and good["viper"] == ("viper", "")
    for c_arch, says in ((None, "no C kernels for x64 here"), ("armv6m", "holds c kernels for armv6m, but this "
                                                                         "board is x64")):
        paths, kind, got = _probe(micropython, _firmware_with(tmp_path / str(c_arch), c_arch))
        assert kind == "viper"
        for pref in ("auto", "c"):
            assert paths[pref][0] == "viper" and says in paths[pref][1] and "using viper" in paths[pref][1], paths
        assert paths["viper"] == ("viper", "")
        np.testing.assert_allclose(got, want, atol=1e-4)  # the same answer on the slower path


def test_no_native_module_for_the_arch_at_all_runs_bytecode_with_a_notice(micropython, tmp_path):
    paths, kind, _ = _probe(micropython, _firmware_with(tmp_path, "rv32imc", "rv32imc"))
    assert kind == "python"
    assert paths["auto"][0] == "python" and "rv32imc" in paths["auto"][1] and "bytecode" in paths["auto"][1]


def test_build_kernels_builds_every_arch_and_says_which_has_no_c(tmp_path):
    p = run_cli("build-kernels", "-o", str(tmp_path), timeout=900)
    assert p.returncode == 0, p.stderr
    for arch in ("x64", "armv6m", "armv7emsp", "rv32imc"):
        assert mpy_arch(tmp_path / arch / "hyperion" / "kernels" / "c.mpy") == arch
    assert not (tmp_path / "xtensawin" / "hyperion" / "kernels" / "c.mpy").exists()
    assert "xtensawin has no C kernels" in p.stderr and "Traceback" not in p.stderr


def test_a_missing_cross_compiler_is_a_one_line_error_naming_its_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(mpbuild, "builds_dir", lambda: tmp_path)  # nothing cached
    monkeypatch.setenv("PATH", str(tmp_path))  # and no compiler
    with pytest.raises(HyperionError, match="sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"):
        natmod.build("armv6m")
    path, notice = natmod.try_build("rv32imc")
    assert path is None and "picolibc-riscv64-unknown-elf" in notice and "viper kernels" in notice


# c.conv (a whole layer per call, with its depthwise loop) against the bytecode path's row-by-row loop
# (python.conv_row, then python.requant), on random layers: bit for bit, on the x64 port
CONV = """
import array, random
from hyperion import hyq
from hyperion.kernels import c, python
random.seed(7)
bad = 0
n = 0
for C, H, W, G, og, kh, kw, s, p, d, qp in CASES:
    cg = C // G
    K = cg * kh * kw
    nb, hdr, cb, data, stride = hyq.q4_layout(K, qp)
    B = hyq.block_size(qp)
    scheme = qp >> 4
    asym = 1 if scheme == hyq.S_ASYM else 0
    q8 = 1 if scheme == hyq.S_Q8 else 0
    rows = G * og
    Ho = (H + 2 * p - d * (kh - 1) - 1) // s + 1
    Wo = (W + 2 * p - d * (kw - 1) - 1) // s + 1
    w = bytearray(random.getrandbits(8) for _ in range(stride * rows))
    xin = bytearray(random.getrandbits(8) | 1 for _ in range(C * H * W))
    rq = array.array('i')
    for r in range(rows):  # within the tables' bounds (model/requant.py): A >> P and m1, m2 below 2^15
        rq.extend([random.randrange(1, 1 << 15), random.randrange(0, 1 << 15), random.randrange(-1 << 20, 1 << 20),
                   random.randrange(12, 22), 14, -127, random.choice((127, 100))])
    g = array.array('i', (C, H, W, G, kh, kw, Ho, Wo, s, s, p, p, d, d, og, stride, hdr, cb, nb, B, K, asym, q8, 0))
    xq = bytearray(K); sx = array.array('i', [0] * nb); acc = array.array('i', [0] * 2 * og * Wo)
    y1 = bytearray(rows * Ho * Wo)
    c.conv(xin, g, xq, w, 0, sx, acc, y1, 0, rq, None, None, None)
    y2 = bytearray(rows * Ho * Wo)
    hw = Ho * Wo
    for gi in range(G):
        for oy in range(Ho):
            python.conv_row(xin, gi * cg, cg, H, W, kh, kw, oy, Wo, s, s, p, p, d, d, xq, w, gi * og * stride, stride,
                            hdr, cb, nb, B, K, og, sx, acc, asym, q8)
            python.requant(acc, Wo, og, rq, gi * og, y2, gi * og * hw + oy * Wo, hw, 1)
    n += 1
    if y1 != y2:
        bad += 1
        print('DIFF', (C, H, W, G, og, kh, kw, s, p, d, qp))
print('DONE', n, bad)
"""


def test_the_whole_layer_conv_kernel_matches_the_row_loop(micropython):
    cases = [
        (8, 9, 7, 8, 1, 3, 3, 1, 1, 1, 0x00),  # depthwise 3x3, padded: the unrolled loop
        (6, 10, 5, 6, 1, 3, 3, 2, 1, 1, 0x10),  # stride 2, sym codes
        (4, 9, 9, 4, 1, 5, 5, 1, 2, 2, 0x00),  # 5x5 dilated: the general depthwise loop
        (4, 9, 9, 4, 2, 3, 3, 1, 1, 1, 0x00),  # two rows per group: not depthwise
        (16, 8, 8, 1, 32, 3, 3, 1, 1, 1, 0x00),  # digits' middle layer: cached codes, 5 blocks
        (48, 7, 5, 1, 48, 1, 1, 1, 0, 1, 0x00),  # pointwise, a partial last block
        (10, 6, 6, 2, 3, 3, 3, 1, 1, 1, 0x20),  # groups, q8
        (3, 12, 12, 1, 5, 7, 7, 2, 3, 1, 0x01),  # 64-wide blocks, K = 147 (odd)
        (1, 20, 4, 1, 12, 10, 4, 2, 4, 1, 0x00),  # kws' first layer shape
        (130, 3, 3, 1, 4, 3, 3, 1, 1, 1, 0x00),  # K = 1170: several stack chunks
        (1, 8, 8, 1, 16, 3, 3, 1, 1, 1, 0x00),  # digits' first layer: one input channel, codes decoded once
        (1, 9, 7, 1, 32, 3, 3, 2, 1, 1, 0x10),  # too many rows to keep decoded: per output row
        (2, 6, 6, 2, 9, 3, 3, 1, 1, 1, 0x10),  # two groups of one channel, 9 rows each
    ]
    r = micropython("CASES = %r\n" % cases + CONV, firmware=cached_firmware("x64"), heap=4 << 20)
    assert r.ok, r
    assert "DONE %d 0" % len(cases) in r.stdout, r.stdout


HOSTILE = """
import array
from hyperion.kernels import c
w = bytearray(64); xq = bytearray(32); sx = array.array('i', [0] * 4); acc = array.array('i', [0] * 8)
g = array.array('i', (1, 4, 4, 1, 3, 3, 4, 4, 1, 1, 1, 1, 1, 1, 1, 0, 4, 6, 1, 32, 9, 1, 0, 0))
bad_g = array.array('i', g); bad_g[8] = 0  # a stride of 0
csr = bytearray(64); csr[4] = 200  # row 0 claims 200 nonzeros
def _att(li=0, n=0):  # one layer, 4 positions, 2 heads of 4: buffers that fit; li, n as given
    f = lambda k: array.array('f', [0.5] * k)
    return (f(8), f(8), f(8), bytearray(32), bytearray(32), f(8), f(8), f(4), bytearray(4), bytearray(4),
            array.array('i', [0] * 4), f(8), li, n, 4, 2, 4, 0.5)
c.attention(*_att(n=3))  # the last position: fits
calls = [
    ('rows past the weights', lambda: c.q4_rows(w, 0, 40, 4, 6, 1, 32, 32, 0, 4, xq, sx, acc, 1)),
    ('a negative offset', lambda: c.q4_rows(w, -100, 20, 4, 6, 1, 32, 32, 0, 1, xq, sx, acc, 1)),
    ('acc too small', lambda: c.q8_rows(w, 0, 2, 0, 1, 1, 32, 1, 0, 20, xq, sx, acc, 0)),
    ('a stride of 0', lambda: c.conv(bytearray(16), bad_g, xq, w, 0, sx, acc, bytearray(16), 0,
                                     array.array('i', [1] * 7), None, None, None)),
    ('y too small', lambda: c.conv(bytearray(16), g, xq, w, 0, sx, array.array('i', [0] * 8), bytearray(3), 0,
                                   array.array('i', [1] * 7), None, None, None)),
    ('csr pointers', lambda: c.csr_rows(csr, 0, 1, 0, 8, 16, 0, 1, xq, acc)),
    ('quantize past x', lambda: c.quantize(array.array('f', [1.0] * 4), 2, 4, bytearray(8), 0,
                                           array.array('f', [1.0]), 0, 1)),
    ('requant past y', lambda: c.requant(acc, 1, 4, array.array('i', [1] * 28), 0, bytearray(2), 0, 1, 0)),
    ('softmax past x', lambda: c.softmax(array.array('f', [0.0] * 4), array.array('f', [0.0] * 4), 2, 3, 1)),
    ('read-only output', lambda: c.act(array.array('f', [0.0]), 0, b'abcd', 0, 1, 1, 0.0, 0.0)),
    ('decode_row past w', lambda: c.decode_row(w, 60, 4, 6, 32, 32, 0, array.array('f', [0.0] * 32), 0)),
    ('decode_row scheme', lambda: c.decode_row(w, 0, 4, 6, 32, 32, 7, array.array('f', [0.0] * 32), 0)),
    ('attention past the cache', lambda: c.attention(*_att(n=5))),
    ('attention layer past the cache', lambda: c.attention(*_att(li=1))),
]
for name, f in calls:
    try:
        f()
        print('NO ERROR', name)
    except (ValueError, TypeError) as e:
        print('OK', name, type(e).__name__)
print('ALIVE')
"""


def test_the_c_kernels_refuse_arguments_outside_their_buffers(micropython):
    """What a crafted .hyq could make the glue pass: a clear exception, never a read or write outside a buffer."""
    r = micropython(HOSTILE, firmware=cached_firmware("x64"))
    assert r.ok, r
    lines = r.stdout.splitlines()
    assert lines[-1] == "ALIVE" and len([ln for ln in lines if ln.startswith("OK ")]) == 14, r.stdout


def test_native_modules_that_do_not_load_fall_back_to_bytecode(micropython, tmp_path):
    """As on a port that loads no native .mpy code: the C and viper modules both fail at import (here: an .mpy
    version this MicroPython refuses); load() still runs the model, on bytecode, and says why."""
    fw = _firmware_with(tmp_path, "x64")
    k = fw / "hyperion" / "kernels"
    for name in ("c.mpy", "viper.mpy"):
        data = bytearray((k / name).read_bytes())
        data[1] = 5  # .mpy version 5: "incompatible .mpy file"
        (k / name).write_bytes(bytes(data))
    paths, kind, got = _probe(micropython, fw)
    _, _, want = _probe(micropython, cached_firmware("x64"))
    assert kind == "python"
    assert paths["auto"][0] == "python" and "do not load here" in paths["auto"][1], paths
    np.testing.assert_allclose(got, want, atol=1e-4)


# The C path's float kernels against the bytecode they replace, on the x64 port (floats in double there): GELU from
# its fixed-point table, decode_row, and the decoder's attention (tinylm's tokens through both paths)
FLOATS = """
import array, math
from hyperion import hyq, layers, lm
from hyperion.kernels import c, python
import hyperion
xs = [i * 0.01 - 9.0 for i in range(1801)] + [1e-30, -1e-30, 0.0, -0.0, 1e-9, 40.0, -40.0]
x = array.array('f', xs)
y = array.array('f', [0.0] * len(xs))
c.act(x, 0, y, 0, len(xs), hyq.A_GELU, 0.0, 0.0)
worst = 0.0
for i in range(len(xs)):
    v = x[i]
    worst = max(worst, abs(y[i] - 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))) / max(1.0, abs(v)))
print('GELU', worst)
m = hyperion.load(MODEL, kernels='c')
t = m.h.tensors[lm.Decoder(m).emb.index]
a = array.array('f', [0.0] * t.shape[1])
b = array.array('f', [0.0] * t.shape[1])
worst = 0.0
for row in (0, 7, t.shape[0] - 1):
    layers._dequant_row(m, t, row, a, 0)
    m.k = python
    layers._dequant_row(m, t, row, b, 0)
    m.k = c
    worst = max(worst, max(abs(a[i] - b[i]) for i in range(len(a))))
print('DECODE', worst)
logits = []
for k in ('c', 'python'):
    d = lm.Decoder(hyperion.load(MODEL, kernels=k))
    g = d.prefill([72, 101, 108, 108, 111, 32])
    logits.append(list(d.step(119)))
print('LOGITS', max(abs(p - q) for p, q in zip(*logits)), max(abs(v) for v in logits[1]))
"""


def test_the_c_float_kernels_match_the_bytecode_they_replace(micropython):
    model = str(Path(__file__).resolve().parent.parent / "models" / "tinylm" / "tinylm.hyq")
    r = micropython("MODEL = %r\n" % model + FLOATS, firmware=cached_firmware("x64"), heap=8 << 20)
    assert r.ok, r
    got = {ln.split()[0]: [float(v) for v in ln.split()[1:]] for ln in r.stdout.splitlines()}
    assert got["GELU"][0] < 2e-7, got  # the table's 3e-8 in Phi, and float32 rounding
    assert got["DECODE"][0] < 1e-6, got  # single vs double precision products
    diff, scale = got["LOGITS"]
    assert diff < 2e-3 * max(1.0, scale), got  # the attention kernel's float32 vs the loop's double
