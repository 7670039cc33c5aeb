# The element-wise functions past the fused activations (hardsigmoid ... softsign: hyq.A_HSIG onwards) and the
# binary min/max/pow/prelu, for the paths without a C kernel for them. Imported on first use (layers._act,
# ops._binary): a model that does not use them does not pay their bytecode in RAM.
import math

from hyperion.hyq import A_HSIG

_INF = float("inf")
_NAN = float("nan")


def _exp(v):
    # float32's range (math.exp overflows with an error on CPython, to inf on MicroPython)
    return _INF if v > 88.73 else math.exp(v)


def _log(v):
    # ONNX's Log: -inf at 0, nan below (math.log raises there)
    return math.log(v) if v > 0.0 else (-_INF if v == 0.0 else _NAN)


def _pow(u, v):
    """u ** v as ONNX's Pow (C's powf): nan for a negative base with a fractional exponent, inf for 0 to a
    negative power, never an exception."""
    if u == 0.0:
        return _INF if v < 0.0 else (1.0 if v == 0.0 else 0.0)
    if u < 0.0 and v != math.floor(v):
        return _NAN
    try:
        return math.pow(u, v)
    except (OverflowError, ValueError):
        return _INF


def fn(v, act, p0, p1):
    """The element-wise functions past the fused activations (hyq.A_HSIG onwards), in hyq.ACT_NAMES order."""
    c = act - A_HSIG
    if c == 0:  # hardsigmoid: clip(alpha * x + beta, 0, 1)
        v = p0 * v + p1
        return 0.0 if v < 0.0 else (1.0 if v > 1.0 else v)
    if c == 1:  # hardswish: x * clip(x / 6 + 1/2, 0, 1)
        h = v / 6.0 + 0.5
        return 0.0 if h <= 0.0 else (v if h >= 1.0 else v * h)
    if c == 2:  # elu
        return v if v > 0.0 else p0 * (_exp(v) - 1.0)
    if c == 3:  # selu
        return p1 * v if v > 0.0 else p1 * p0 * (_exp(v) - 1.0)
    if c == 4:  # softplus
        return v if v > 30.0 else _log(1.0 + _exp(v))
    if c == 5:
        return _exp(v)
    if c == 6:
        return _log(v)
    if c == 7:
        return math.sqrt(v) if v >= 0.0 else _NAN
    if c == 8:
        return -v if v < 0.0 else v
    if c == 9:
        return -v
    if c == 10:  # reciprocal
        return 1.0 / v if v != 0.0 else math.copysign(_INF, v)
    if c == 11:
        return _pow(v, p0)
    return v / (1.0 + (-v if v < 0.0 else v))  # softsign


def binary2(kind, u, v):
    """min, max, pow and prelu (op codes 18-21: kinds 4-7), as numpy's minimum/maximum (nan wins)."""
    if kind == 4:
        return v if v < u or v != v else u
    if kind == 5:
        return v if v > u or v != v else u
    if kind == 6:
        return _pow(u, v)
    return u if u >= 0.0 else u * v
