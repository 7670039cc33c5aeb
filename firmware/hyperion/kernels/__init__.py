"""The integer (and a few float32) kernels of the runtime, one module per kernel path, and the choice of path.

Paths (PATHS, best first where the board can run them; docs/runtime.md):
    c       C (firmware/native/): the builtin module hyperion_c of a frozen firmware (firmware/manifest.py), else
            kernels/c.mpy, built per arch as a dynamic native module (x64, x86, armv6m, armv7emsp, rv32imc); it
            also has whole-op kernels the other paths run as Python glue (WHOLE_OP)
    viper   kernels/viper.py: @micropython.viper code, machine code from mpy-cross -march per arch
    ulab    kernels/ulab.py: ulab.numpy array code, where ulab imports with 32-bit floats (CircuitPython, some
            MicroPython builds). It is laid over a base path per function (select): over viper it takes the
            whole-op float kernels viper lacks; over bytecode it takes the integer row products too
    python  kernels/python.py: the same functions as bytecode (CircuitPython, ports without a native emitter)
The op table (hyperion/ops.py) says which kernel function each op runs, so which path it runs on.

Calling convention (every path module exposes these functions with these arguments, and sets PATH to its name;
results are identical across paths, tested by tests/test_kernels.py):
- Buffers are passed whole with an item offset beside them (w, wo; x, xo; y, yo ...): any object with the
  buffer protocol (bytes, bytearray, array, memoryview). Results go into buffers the caller made; the viper
  kernels allocate nothing (the bytecode ones box what Python boxes).
- int8 activations are bytes holding x + 128 (x in -127..127; 128 is 0), as viper's unsigned ptr8 loads them.
- Weight rows are the .hyq q4/q8 row layout (docs/hyq-format.md, "Arithmetic"): a row starts at w[wo + r*stride] with hdr
  header bytes (fp16 d, dmin), cb bytes of block scale codes, then the codes; nb blocks of B columns, K columns.
- sx: array('i') of nb per-block sums of x (block_sums fills it).
- acc: array('i'), two int32 slots per output row r: acc[2r], acc[2r+1] = A1, A2 for asym rows, A, 0 for sym
  and q8 rows, and for csr_rows; conv_row writes acc[2*(ox*rows + r)] for each output column ox.
- float32 arguments are array('f') (or views of them): the viper versions read their bits through ptr32.

    block_sums(xq, K, B, nb, sx)                                   sx[b] = sum of x over block b
    q4_rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym)   rows r0..r1-1 of a q4 matrix
    q8_rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym)   the same for q8 (asym unused)
    csr_rows(w, wo, rows, ptr_off, col_off, val_off, r0, r1, xq, acc)      pruned q4 rows (CSR: offsets in w of
                                              the u32 row pointers, u16 columns, nibbles; A = sum (q - 8) * x)
    dot8(a, ao, stride, rows, b, n, out)      out[r] = sum_k (a[ao + r*stride + k] - 128) * (b[k] - 128)
    conv_row(xin, c0, cg, H, W, kh, kw, oy, Wo, sh, sw, pt, pl, dh, dw, xq, w, wo, stride, hdr, cb, nb, B, K,
             rows, sx, acc, asym, q8)         one output row of a conv group over channels c0..c0+cg-1 of xin:
                                              per column, the window (padding x = 0) into xq, its sums into sx,
                                              then weight rows 0..rows-1 (q4, or q8 if q8)
    requant(acc, n, rows, rq, r0, y, yo, rstep, pstep)     int8 outputs: acc[2*(p*rows + r)] for positions p < n,
                                              table rq (7 int32 per row, from row r0), y[yo + r*rstep + p*pstep]
    absmax(x, xo, n) -> i                     an index (from xo) of the largest |x| of x[xo:xo+n], -1 if all are
                                              zero (of equal |x|, paths may pick different ones)
    quantize(x, xo, n, y, yo, d, di, mul)     y[yo+i] = clip(floor(mul * x[xo+i] / |d[di]| + 1/2), -127, 127) + 128
                                              (mul 127 over the largest |x|: dynamic; 1 over a scale: static)
    maxpool(x, y, planes, H, W, Ho, Wo, kh, kw, sh, sw, pt, pl, dh, dw, width, fill)   items of width 1 (int8)
                                              or 4 (float32) bytes; fill[0] where a window holds no input
    argmax(x, n) -> i                         the first index of the largest float32 of x[0:n]
    ctr_fill(ctr, nb, counter)                blocks i < nb of ctr (16 bytes each) get counter + i, big-endian, in
                                              bytes 12..15: AES-CTR counter blocks (hyperion/crypt.py)
    xor(y, yo, ks, ko, n)                     y[yo + i] ^= ks[ko + i] for i < n: a keystream onto data, in place

Whole-op kernels (WHOLE_OP): a path may also have these; where it does, the op glue calls them instead of its
own Python loop (float results within float32 rounding of the loop's; int8 results identical). The ulab path's
act, binary and finish return False for cases they do not have (rare activations, pow, prelu): the loop runs.
    conv(xin, g, xq, w, wo, sx, acc, y, yo, rq, sc, bias, f)   a conv layer over one image (layers.op_conv)
    finish(acc, n, rows, sc, r0, s, bias, act, p0, p1, y, yo, rstep, pstep, asym)   float outputs of row sums
    act(x, xo, y, yo, n, act, p0, p1)         binary(kind, big, small, y, n, inner, ns, rev, act, p0, p1)
    softmax(x, y, outer, n, inner)            layernorm(x, xo, rows, n, g, beta, eps, y, yo)
    matmul(a, ao, b, bo, y, yo, M, K, N)      gap(x, y, planes, hw, i8, scale)
    attention(kn, vn, q, kc, vt, ks, vs, att, q8, w8, iacc, cv, li, n, C, H, hd, inv_sqrt)   one token of the
                                              decoder's attention over its int8 KV cache (lm.Decoder.step)
    decode_row(w, wo, hdr, cb, B, K, scheme, y, yo)   one q4/q8 row as floats (embeddings, layers._dequant_row)
    nonfinite(x, n) -> i                      the first NaN or infinity among float32 x[0:n], or -1 (set_input)

C only (C_ONLY): the AES-256 block cipher, for firmware without cryptolib (hyperion/crypt.py falls back to it):
    aes_key(key, state)                       a 32-byte key expanded into state (496 bytes: round keys, S-box)
    aes_ecb(state, src, dst, nb)              dst = AES-256(src), nb blocks of 16 bytes (src may be dst)
"""
import sys

WHOLE_OP = ("conv", "finish", "act", "binary", "softmax", "layernorm", "matmul", "gap", "attention", "decode_row", "nonfinite")
C_ONLY = ("aes_key", "aes_ecb")
PATHS = ("c", "viper", "ulab", "python")
# every function of the calling convention (a mix of paths copies these from its base)
NAMES = ("block_sums", "q4_rows", "q8_rows", "csr_rows", "dot8", "conv_row", "requant", "absmax", "quantize",
         "maxpool", "argmax", "ctr_fill", "xor", "add8", "expand", "q4_rows_e", "budget",
         "linear_e", "conv_e", "conv_rows") + WHOLE_OP + C_ONLY

# Index = the native arch number in sys.implementation._mpy (bits 10..13),
# as MicroPython's mpconfig.h numbers them (MP_NATIVE_ARCH_*).
ARCH_NAMES = (
    None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
    "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc",
)


def clock_us():
    """A function giving microseconds from a free-running clock: time.ticks_us, or one over CircuitPython's
    time.monotonic_ns (it has no ticks_*). Differences of nearby readings are what count."""
    import time

    f = getattr(time, "ticks_us", None)
    if f is None:
        def f():
            return time.monotonic_ns() // 1000
    return f


def arch_from_mpy(mpy):
    """Name of the native arch encoded in a sys.implementation._mpy value."""
    n = (mpy >> 10) & 0xF
    if n < len(ARCH_NAMES):
        return ARCH_NAMES[n]
    return None


def arch():
    """Native arch of the running interpreter, or None (CPython, no native emitter)."""
    mpy = getattr(sys.implementation, "_mpy", 0)
    return arch_from_mpy(mpy) if mpy else None


def runs(code_arch, board_arch):
    """True if native code for arch number code_arch loads on a board of arch board_arch: the same arch, or on
    ARM any older ARM arch (an armv7emdp core runs armv6m and armv7emsp code, as MicroPython checks)."""
    if ARCH_NAMES[code_arch] == board_arch:
        return True
    board = ARCH_NAMES.index(board_arch) if board_arch in ARCH_NAMES else -1
    return 3 <= code_arch <= board <= 8  # armv6 .. armv7emdp


def _find(name):
    """(path of hyperion/kernels/<name>.mpy on sys.path or None, why it cannot load here or '')."""
    import os

    for d in sys.path:
        p = (d + "/" if d else "") + "hyperion/kernels/" + name + ".mpy"
        try:
            os.stat(p)
        except OSError:
            continue
        with open(p, "rb") as f:
            head = f.read(4)
        if len(head) < 3 or head[0] != ord("M"):
            return p, "%s is not a valid .mpy file" % p
        a = arch()
        if head[2] & 3 and not runs(head[2] >> 2, a):
            got = ARCH_NAMES[head[2] >> 2]
            return p, ("%s holds %s kernels for %s, but this board is %s: install the %s build "
                       "(hyperion-host build-kernels --arch %s)" % (p, name, got, a, a, a))
        return p, ""
    return None, ""


def builtin():
    """The C kernels compiled into the firmware (the module hyperion_c: firmware/manifest.py), or None."""
    try:
        import hyperion_c

        return hyperion_c
    except ImportError:
        return None


def _c():
    """The C kernels: built in (no RAM for their code) or hyperion/kernels/c.mpy."""
    m = builtin()
    if m is None:
        from hyperion.kernels import c as m
    return m


def status():
    """(path, notice): the best native kernel path this board can run ('c', 'viper' or 'python'), and why not
    a better one where it cannot (a missing or wrong-arch module, no native code on this port)."""
    if builtin() is not None:
        return "c", ""
    a = arch()
    if a is None:
        return "python", "no native code emitter on this port: using bytecode kernels"
    notice = ""
    p, why = _find("c")
    if p is not None and not why:
        try:
            from hyperion.kernels import c  # noqa: F401

            return "c", ""
        except (ImportError, ValueError, MemoryError) as e:  # native .mpy loading off on this port, or no RAM
            why = "the C kernels do not load here (%s)" % e
    vp, vwhy = _find("viper")
    if why:
        notice = why
    elif vp is not None:  # a compiled package without C kernels (from source, viper.py compiles: no notice)
        notice = "no C kernels for %s here (hyperion/kernels/c.mpy; `hyperion-host build` and `deploy` " \
                 "install them)" % a
    if vwhy:
        return "python", (notice + "; " if notice else "") + vwhy + ": using bytecode kernels"
    return "viper", notice + ": using viper kernels" if notice else ""


class Mix:
    """A kernel path made of two: the ulab functions laid over a base module's (viper or python). PATH is the
    base's (what the base functions need to know, e.g. whether they read through pointers); SOURCE names the
    path of each function laid over it, for reports (ops.kernel_path)."""

    def __init__(self, base, ulab, names):
        for n in NAMES:
            f = getattr(base, n, None)
            if f is not None:
                setattr(self, n, f)
        self.SOURCE = {}
        for n in names:
            setattr(self, n, getattr(ulab, n))
            self.SOURCE[n] = "ulab"
        self.PATH = base.PATH


def _ulab():
    """kernels/ulab.py, or None where ulab does not import (or its float is not 32-bit)."""
    try:
        from hyperion.kernels import ulab

        return ulab
    except (ImportError, MemoryError):
        return None


def _with_ulab(base):
    """base with the ulab functions it is slower at (bytecode: all of them) or lacks (viper: the whole-op ones)
    laid over it, or base alone where ulab is not here."""
    u = _ulab()
    if u is None:
        return base
    names = u.FLOAT + u.INTEGER if base.PATH == "python" else [n for n in u.FLOAT if not hasattr(base, n)]
    return Mix(base, u, names)


def available():
    """(paths, notice): the kernel paths this board can run, best first, and why not native where it cannot."""
    paths = ["python"]
    notice = ""
    if sys.implementation.name == "micropython":
        native, notice = status()
        if native != "python" and arch() is not None:
            paths.insert(0, "viper")
        if native == "c":
            paths.insert(0, "c")
    if _ulab() is not None:
        paths.insert(len(paths) - 1, "ulab")
    return paths, notice


def select(pref):
    """(kernel module, notice) for a preference: 'auto' (the best the board runs: c; else viper with ulab's
    float kernels; else ulab over bytecode; else bytecode), 'c', 'viper', 'python' (each alone) or 'ulab' (ulab
    over bytecode: what CircuitPython runs). notice: why the path asked for is not the one given ('' when there
    is nothing to say)."""
    notice = ""
    if pref in ("auto", "c", "viper"):
        path, notice = status()
        if pref == "viper" and path == "c":
            path, notice = "viper", ""
        if path == "c":
            return _c(), ""
        if path == "viper":
            try:
                from hyperion.kernels import viper

                return (viper if pref == "viper" else _with_ulab(viper)), "" if pref == "viper" else notice
            except (ImportError, ValueError, MemoryError, AttributeError, SyntaxError) as e:
                # a port that loads no native code at all (CircuitPython: no micropython.viper)
                notice = "the native kernels do not load here (%s): using bytecode kernels" % e
    from hyperion.kernels import python

    if pref == "python":
        return python, notice
    k = _with_ulab(python)
    if pref == "ulab" and k is python:
        notice = "ulab is not on this board (or its float is not 32-bit): using bytecode kernels"
    elif k is not python and pref == "auto":
        notice = notice.replace("using bytecode kernels", "using ulab and bytecode kernels")
    return k, notice
