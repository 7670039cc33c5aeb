"""Integer requantization: a linear/conv whose output feeds other integer ops writes int8 directly.

Per output row, int32 constants (docs/hyq-format.md, "Requantization"):
    y = clamp((((A1 + h) >> P) * m1 - ((A2 + h) >> P) * m2 + bq + (1 << (S - 1))) >> S, lo, hi)
with h = (1 << P) >> 1 (every shift rounds half up). P keeps A >> P below 2^15 and m1, m2 stay below 2^15:
every product and sum fits in an int32 on a 32-bit MCU, and the board and the host compute the same integers."""

import math

import numpy as np

from hyperion import hyq
from hyperion_host.model.weights import QuantizedWeight

LIMIT = 1 << 15


def _bitlen(v):
    return int(v).bit_length()


def accumulator_bounds(qw):
    """Largest |A1| and |A2| per row for any int8 input (|x| <= 127)."""
    B = qw.block
    u = qw.u[:, : qw.nblocks * B].reshape(qw.rows, qw.nblocks, B).astype(np.int64)
    if qw.scheme == hyq.S_ASYM:
        a1 = (qw.sc.astype(np.int64) * u.sum(2)).sum(1) * 127
        a2 = (qw.mc.astype(np.int64) * B).sum(1) * 127
    elif qw.scheme == hyq.S_SYM:
        a1 = (np.abs(qw.sc).astype(np.int64) * np.abs(u - 8).sum(2)).sum(1) * 127
        a2 = np.zeros(qw.rows, np.int64)
    else:
        a1 = (np.abs(qw.sc).astype(np.int64) * np.abs(u).sum(2)).sum(1) * 127
        a2 = np.zeros(qw.rows, np.int64)
    return a1, a2


def requant_table(qw, s_in, s_out, bias, act, p0=0.0, p1=0.0):
    """int32 [rows, RQ_COLS] table, or None if this layer cannot requantize in int32 (it then stays float)."""
    if not isinstance(qw, QuantizedWeight) or s_out <= 0 or s_in <= 0:
        return None
    if act == "relu":
        lo, hi = 0, 127
    elif act == "clip":
        lo = max(-127, int(math.floor(p0 / s_out + 0.5)))
        hi = min(127, int(math.floor(p1 / s_out + 0.5)))
    elif act in ("none", None, ""):
        lo, hi = -127, 127
    else:
        return None
    a1max, a2max = accumulator_bounds(qw)
    a1max, a2max = a1max + 1, a2max + 1  # room for the rounding term
    rows = qw.rows
    t = np.zeros((rows, hyq.RQ_COLS), np.int64)
    for r in range(rows):
        P = max(0, _bitlen(max(a1max[r], a2max[r])) - 15)
        M1 = s_in * float(qw.d[r]) * (1 << P) / s_out
        M2 = s_in * float(qw.dmin[r]) * (1 << P) / s_out if qw.scheme == hyq.S_ASYM else 0.0
        b = 0.0 if bias is None else float(bias[r]) / s_out
        top = max(M1, M2, 1e-30)
        S = 14 - int(math.floor(math.log2(top)))
        S = min(S, 30 - _bitlen(abs(b) * 2 + 1) - 1, 30)
        if S < 1:
            return None
        m1, m2 = int(round(M1 * (1 << S))), int(round(M2 * (1 << S)))
        bq = int(round(b * (1 << S)))
        if m1 >= LIMIT or m2 >= LIMIT or abs(bq) >= (1 << 30):
            return None
        t[r] = (m1, m2, bq, S, P, lo, hi)
    return t.astype(np.int32)


def apply(A1, A2, table):
    """The integer requantization of accumulators A1, A2 [R, rows] (int64) -> int8 values [R, rows]."""
    t = table.astype(np.int64)
    m1, m2, bq, S, P, lo, hi = (t[:, i] for i in range(hyq.RQ_COLS))
    a2 = np.zeros_like(A1) if A2 is None else A2
    h = (np.int64(1) << P) >> 1
    acc = ((A1 + h) >> P) * m1 - ((a2 + h) >> P) * m2 + bq
    y = (acc + (np.int64(1) << (S - 1))) >> S
    return np.clip(y, lo, hi)
