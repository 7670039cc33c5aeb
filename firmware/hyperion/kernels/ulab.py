# The ulab kernel path: the calling convention's functions (kernels/__init__.py) as ulab.numpy array code, for
# boards that have ulab and no faster path for them (CircuitPython; a MicroPython board without C kernels). It
# runs what ulab does well: float element-wise work, reductions, float matmul (here), and the integer row
# products kept exact (kernels/ulab_rows.py, imported here). Imported only where `ulab` imports and its float is
# 32-bit: the runtime's tensors are array('f'), read here in place through np.frombuffer (no copies).
import array
import math

from ulab import numpy as np

from hyperion.kernels import ulab_rows as _rows
from hyperion.kernels.ulab_rows import (  # noqa: F401 (this path's functions: kernels.select takes them from here)
    _acc_f,
    _fv,
    _sums_e,
    _u8,
    absmax,
    block_sums,
    budget,
    conv_e,
    conv_row,
    conv_rows,
    dot8,
    expand,
    q4_rows,
    q4_rows_e,
    q8_rows,
    quantize,
)

PATH = "ulab"
_F = np.float
_FB = array.array("f", (1.5, 2.5))
if np.frombuffer(_FB, dtype=_F).size != 2:  # a double-precision port: array('f') cannot be read in place
    raise ImportError("ulab's float is 64-bit on this port; the ulab kernels need 32-bit floats")
try:
    from ulab import scipy as _sp

    _erf = _sp.special.erf
except (ImportError, AttributeError):
    _erf = None

# the functions this path has (kernels.select overlays them on a base path): the float ones everywhere, the
# integer ones only over bytecode (viper and C do those faster)
FLOAT = ("finish", "act", "binary", "softmax", "layernorm", "matmul", "gap", "nonfinite", "argmax")
INTEGER = ("block_sums", "q4_rows", "q8_rows", "dot8", "conv_row", "absmax", "quantize", "expand", "q4_rows_e",
           "budget", "linear_e", "conv_e", "conv_rows")


# the activation codes handled here (hyq.A_*; kernels import nothing above them: tests/test_ulab.py checks these)
A_RELU, A_CLIP, A_LEAKY, A_SIGMOID, A_TANH, A_GELU, A_GELU_TANH, A_HSIG, A_HSWISH = 1, 2, 3, 4, 5, 6, 7, 8, 9
A_ABS, A_NEG = 16, 17


def linear_e(E, x, rows, K, y, sc, asym, bias, act, p0, p1, scale):
    """A linear layer over rows float input rows at once: each row quantized to int8 as _quantize does it
    (dynamic: 127 over its largest |x|; static: 1 over scale), the row sums exact, then the float step as
    finish. False (the glue's per-row loop runs) for an activation this module does not have."""
    if act and act not in _ACTS:
        return False
    N = E[0].shape[0]
    per = _rows.CHUNK // K or 1
    for r0 in range(0, rows, per):
        n = min(per, rows - r0)
        s = np.zeros(n, dtype=_F)
        q = bytearray(n * K)
        for i in range(n):  # the quantize kernel per row (its exact rounding near a half)
            if scale > 0.0:
                _SC[0] = scale
                quantize(x, (r0 + i) * K, K, q, i * K, _SC, 0, 1)
                s[i] = scale
                continue
            j = absmax(x, (r0 + i) * K, K)
            if j < 0:
                q[i * K: i * K + K] = b"\x80" * K
                s[i] = 1.0
            else:
                quantize(x, (r0 + i) * K, K, q, i * K, x, (r0 + i) * K + j, 127)
                s[i] = abs(x[(r0 + i) * K + j]) / 127.0
        Xq = (np.array(np.frombuffer(q, dtype=np.uint8).reshape((n, K)), dtype=np.int16) - 128).transpose()
        a1h, a1l, a2h, a2l = _sums_e(E, 0, N, Xq)
        scv = _fv(sc, 0, 2 * N)
        s = s.reshape((n, 1))
        v = (scv[0::2] * s) * (a1h * 4096.0 + a1l).transpose()
        if bias is not None:
            v = v + _fv(bias, 0, N)
        if asym:
            v = v - (scv[1::2] * s) * (a2h * 4096.0 + a2l).transpose()
        if act:
            v = _act(v, act, p0, p1)
        _fv(y, r0 * N, n * N)[:] = v.reshape((n * N,))


_SC = array.array("f", [0.0])


# -- float whole-op kernels ---------------------------------------------------------------------------------

def finish(acc, n, rows, sc, r0, s, bias, act, p0, p1, y, yo, rstep, pstep, asym):
    """y[yo + r*rstep + p*pstep] = act(s*d[r]*A1 + bias[r] - s*dmin[r]*A2) for p < n positions, r < rows.
    False (nothing written: the glue's loop runs) for an activation this module does not have."""
    if act and act not in _ACTS:
        return False
    scv = _fv(sc, 2 * r0, 2 * rows)
    d = scv[0::2] * s
    for p in range(n):
        v = d * _acc_f(acc, 2 * p * rows, rows, 2)
        if bias is not None:
            v = v + _fv(bias, r0, rows)
        if asym:
            v = v - (scv[1::2] * s) * _acc_f(acc, 2 * p * rows + 1, rows, 2)
        if act:
            v = _act(v, act, p0, p1)
        if rstep == 1:
            _fv(y, yo + p * pstep, rows)[:] = v
        else:
            _fv(y, yo + p * pstep, (rows - 1) * rstep + 1)[0::rstep] = v


_ACTS = (A_RELU, A_CLIP, A_LEAKY, A_SIGMOID, A_TANH, A_GELU_TANH, A_HSIG, A_HSWISH, A_ABS, A_NEG) + \
    ((A_GELU,) if _erf is not None else ())


def _act(v, act, p0, p1):
    """act (one of _ACTS) of ndarray v, a new ndarray."""
    if act == A_RELU:
        return np.maximum(v, 0.0)
    if act == A_CLIP:
        return np.minimum(np.maximum(v, p0), p1)
    if act == A_LEAKY:
        return np.where(v >= 0.0, v, v * p0)
    if act == A_SIGMOID:
        return 1.0 / (1.0 + np.exp(-np.maximum(v, -88.0)))
    if act == A_TANH:
        return np.tanh(v)
    if act == A_GELU:
        return 0.5 * v * (1.0 + _erf(v * 0.7071067811865476))
    if act == A_GELU_TANH:
        return 0.5 * v * (1.0 + np.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
    if act == A_HSIG:
        return np.clip(p0 * v + p1, 0.0, 1.0)
    if act == A_HSWISH:
        return v * np.clip(v / 6.0 + 0.5, 0.0, 1.0)
    if act == A_ABS:
        return abs(v)
    return -v


def act(x, xo, y, yo, n, act, p0, p1):
    if act not in _ACTS:
        return False
    _fv(y, yo, n)[:] = _act(_fv(x, xo, n), act, p0, p1)


def binary(kind, big, small, y, n, inner, ns, rev, act, p0, p1):
    """y[i] = big[i] op small[(i // inner) % ns] (operands swapped if rev), then act. False for pow and prelu
    (the glue's exact special cases) and activations this module does not have."""
    if kind >= 6 or (act and act not in _ACTS):
        return False
    sv = _fv(small, 0, ns)
    if inner == 1:
        rows, cols = n // ns, ns
    else:
        sv = sv.reshape((ns, 1))
        rows, cols = n // inner, inner
    for o in range(0, rows, ns if inner > 1 else rows):
        k = (ns if inner > 1 else rows) * cols
        u = _fv(big, o * cols, k).reshape((k // cols, cols))
        a, b = (sv, u) if rev else (u, sv)
        if kind == 0:
            r = a + b
        elif kind == 1:
            r = a - b
        elif kind == 2:
            r = a * b
        elif kind == 3:
            r = a / b
        elif kind == 4:
            r = np.minimum(a, b)
        else:
            r = np.maximum(a, b)
        if act:
            r = _act(r.reshape((k,)), act, p0, p1)
        _fv(y, o * cols, k)[:] = r.reshape((k,)) if r.size == k else r


def softmax(x, y, outer, n, inner):
    for o in range(outer):
        v = _fv(x, o * n * inner, n * inner)
        if inner > 1:
            v = v.reshape((n, inner))
            e = np.exp(v - np.max(v, axis=0))
            _fv(y, o * n * inner, n * inner)[:] = (e / np.sum(e, axis=0)).reshape((n * inner,))
        else:
            e = np.exp(v - np.max(v))
            _fv(y, o * n, n)[:] = e / np.sum(e)


def layernorm(x, xo, rows, n, g, beta, eps, y, yo):
    gv = _fv(g, 0, n)
    bv = _fv(beta, 0, n) if beta is not None else None
    for r in range(rows):
        v = _fv(x, xo + r * n, n)
        d = v - np.sum(v) / n
        inv = 1.0 / math.sqrt(np.sum(d * d) / n + eps)
        v = d * inv * gv
        _fv(y, yo + r * n, n)[:] = v + bv if bv is not None else v


def matmul(a, ao, b, bo, y, yo, M, K, N):
    av = _fv(a, ao, M * K).reshape((M, K))
    bv = _fv(b, bo, K * N).reshape((K, N))
    _fv(y, yo, M * N)[:] = np.dot(av, bv).reshape((M * N,))


def gap(x, y, planes, hw, i8, scale):
    if i8:
        v = np.array(_u8(x, 0, planes * hw), dtype=_F).reshape((planes, hw))
        _fv(y, 0, planes)[:] = (np.sum(v, axis=1) - 128.0 * hw) * (scale / hw)
        return
    _fv(y, 0, planes)[:] = np.sum(_fv(x, 0, planes * hw).reshape((planes, hw)), axis=1) / hw


def nonfinite(x, n):
    bad = np.nonzero(np.isfinite(_fv(x, 0, n)) == False)[0]  # noqa: E712 (an ndarray comparison)
    return int(bad[0]) if len(bad) else -1


def argmax(x, n):
    return int(np.argmax(_fv(x, 0, n)))
