"""The host reference runtime (numpy). It runs a Program: the float graph before quantization, or a .hyq file.

For quantized weights it computes exactly what the board computes: int8 activations (dynamic per row, or the
static calibrated scale), int32 block dot products, integer block codes summed per row, float scales applied
once per row (docs/hyq-format.md, "Arithmetic"). So the board's integer accumulators match these bit for bit."""

import math

import numpy as np

from hyperion.hyq import Q_DYNAMIC, Q_FLOAT, Q_STATIC, S_ASYM, S_SYM
from hyperion_host.model import requant
from hyperion_host.model.weights import CSRWeight, QuantizedWeight


class Program:
    """ops: [(op, inputs, outputs, attrs)]; consts: name -> ndarray | QuantizedWeight | CSRWeight;
    shapes: name -> shape; scales: name -> static int8 scale of an activation (0 or missing: dynamic)."""

    def __init__(self, ops, consts, shapes, inputs, outputs, scales=None, dtypes=None, meta=None):
        self.ops = ops
        self.consts = consts
        self.shapes = shapes
        self.inputs = inputs
        self.outputs = outputs
        self.scales = scales or {}
        self.dtypes = dtypes or {}
        self.meta = meta or {}

    @classmethod
    def from_graph(cls, g, act_mode="float"):
        """The float graph (unquantized weights); linear/conv get qmode float."""
        ops = [(op.op, list(op.inputs), list(op.outputs), dict(op.attrs, qmode=Q_FLOAT)) for op in g.ops]
        consts = {n: v.const for n, v in g.values.items() if v.const is not None}
        shapes = {n: v.shape for n, v in g.values.items()}
        dtypes = g.meta.get("dtypes", {})
        return cls(ops, consts, shapes, list(g.inputs), list(g.outputs), dtypes=dtypes, meta=g.meta)

    def run(self, feeds, hook=None):
        """feeds: input name -> array (or a list in input order). Returns {output name: array}.
        hook(op, inputs, outputs) sees every op's arrays (used for calibration)."""
        if not isinstance(feeds, dict):
            feeds = dict(zip(self.inputs, feeds))
        env = {}
        for name in self.inputs:
            if name not in feeds:
                raise ValueError("missing input '%s'" % name)
            want = tuple(self.shapes[name])
            a = np.asarray(feeds[name])
            if a.shape != want:
                if a.size == int(np.prod(want)):
                    a = a.reshape(want)
                else:
                    raise ValueError("input '%s' has shape %s; the model expects %s" % (name, a.shape, want))
            if self.dtypes.get(name) == "i8":  # quantized with its static scale, as the board does in set_input
                q, _ = quantize_rows(a.reshape(1, -1).astype(np.float32), Q_STATIC, float(self.scales[name]), False)
                env[name] = q.reshape(want)
                continue
            env[name] = a.astype(np.int64 if self.dtypes.get(name) == "i32" else np.float32)
        for op, ins, outs, attrs in self.ops:
            args = [env[n] if n in env else self.consts[n] for n in ins]
            res = KERNELS[op](self, args, attrs, [self.shapes[o] for o in outs], ins)
            if not isinstance(res, tuple):
                res = (res,)
            for n, r in zip(outs, res):
                env[n] = r
            if hook is not None:
                hook(op, ins, outs, args, res, attrs)
        return {n: env[n] for n in self.outputs}


# -- activations ------------------------------------------------------------------------------------------

def erf(x):
    """erf for float32 arrays: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the same formula the board uses
    where math.erf is missing."""
    x = np.asarray(x, np.float64)
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


def apply_act(y, attrs):
    act = attrs.get("act", "none")
    if act == "none":
        return y
    if act == "relu":
        return np.maximum(y, 0)
    if act == "clip":
        return np.clip(y, attrs.get("p0", -3.4e38), attrs.get("p1", 3.4e38)).astype(np.float32)
    if act == "leakyrelu":
        return np.where(y >= 0, y, y * np.float32(attrs.get("p0", 0.01))).astype(np.float32)
    if act == "sigmoid":
        return (1 / (1 + np.exp(-y.astype(np.float64)))).astype(np.float32)
    if act == "tanh":
        return np.tanh(y).astype(np.float32)
    if act == "gelu":
        return (0.5 * y * (1 + erf(y / math.sqrt(2)))).astype(np.float32)
    if act == "gelu_tanh":
        y64 = y.astype(np.float64)
        return (0.5 * y64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (y64 + 0.044715 * y64**3)))).astype(np.float32)
    if act in FUNCTIONS:
        p0, p1 = np.float32(attrs.get("p0", 0.0)), np.float32(attrs.get("p1", 0.0))
        with np.errstate(all="ignore"):
            return np.asarray(FUNCTIONS[act](y.astype(np.float32), p0, p1), np.float32)
    raise ValueError("unknown activation %s" % act)


def _softplus(x):
    return np.where(x > 30, x, np.log1p(np.exp(np.minimum(x, 30))))


# the element-wise functions past the fused activations (hyq.A_HSIG onwards): f(x, p0, p1)
FUNCTIONS = {
    "hardsigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "hardswish": lambda x, a, b: x * np.clip(x / 6 + 0.5, 0, 1),
    "elu": lambda x, a, b: np.where(x > 0, x, a * np.expm1(x)),
    "selu": lambda x, a, g: np.where(x > 0, g * x, g * a * np.expm1(x)),
    "softplus": lambda x, a, b: _softplus(x),
    "exp": lambda x, a, b: np.exp(x),
    "log": lambda x, a, b: np.log(x),
    "sqrt": lambda x, a, b: np.sqrt(x),
    "abs": lambda x, a, b: np.abs(x),
    "neg": lambda x, a, b: -x,
    "reciprocal": lambda x, a, b: np.reciprocal(x),
    "pow": lambda x, a, b: np.power(x, a),
    "softsign": lambda x, a, b: x / (1 + np.abs(x)),
}


# -- int8 activations and the integer dot products ---------------------------------------------------------

def quantize_rows(x, qmode, scale=0.0, per_row=True):
    """x [R, K] float -> (xq int [R, K], s [R]) as the board's quantize kernel makes them: xq = floor(x/s + 1/2)
    clipped to -127..127, the exact rounding of the rational value (float64 division of float32 values rounds
    correctly here: no result lands on the wrong side of a half). Static: s = scale. Dynamic: s = max|x|/127 per
    row (or per tensor), and x/s is taken as 127*x / max|x|."""
    x64 = x.astype(np.float64)
    if qmode == Q_STATIC and scale > 0:
        s = np.full(x.shape[0], scale, np.float32)
        y = x64 / np.float64(np.float32(scale))
    else:
        amax = np.abs(x).max(1) if per_row else np.full(x.shape[0], np.abs(x).max() if x.size else 0, np.float32)
        zero = amax == 0
        s = np.where(zero, np.float32(1), amax.astype(np.float32) / np.float32(127)).astype(np.float32)
        y = x64 * 127 / np.where(zero, 1.0, amax.astype(np.float64))[:, None]
    y += 0.5
    np.floor(y, out=y)
    np.clip(y, -127, 127, out=y)
    return y.astype(np.int64), s


def int_accumulators(qw, xq):
    """Integer accumulators of a blocked weight against int8 rows: (A1, A2) [R, N] int64, as the board makes them."""
    R, K = xq.shape
    B = qw.block
    nb = qw.nblocks
    c = getattr(qw, "_int_cache", None)
    if c is None:  # the weight's integer views, made once per weight
        U = qw.u[:, : nb * B].reshape(qw.rows, nb, B).astype(np.int64)
        c = qw._int_cache = (U, qw.sc.astype(np.int64), qw.mc.astype(np.int64))
    U, sc, mc = c
    if K == nb * B:
        xb = np.asarray(xq, np.int64).reshape(R, nb, B)
    else:
        xp = np.zeros((R, nb * B), np.int64)
        xp[:, :K] = xq
        xb = xp.reshape(R, nb, B)
    P = np.einsum("rbk,nbk->rnb", xb, U)  # per-block dot products
    Sx = xb.sum(2)  # per-block sums of x
    if qw.scheme == S_ASYM:
        return np.einsum("rnb,nb->rn", P, sc), Sx @ mc.T
    if qw.scheme == S_SYM:
        return np.einsum("rnb,nb->rn", P - 8 * Sx[:, None, :], sc), None
    return np.einsum("rnb,nb->rn", P, sc), None


def _matvec_rows(w, x2, qmode, scale, per_row):
    """x2 [R, K] float -> y [R, N] float32 with weight w (ndarray, QuantizedWeight or CSRWeight)."""
    if isinstance(w, np.ndarray):
        return (x2 @ w.reshape(w.shape[0], -1).T).astype(np.float32)
    if qmode == Q_FLOAT:
        return (x2 @ w.dequantize().T).astype(np.float32)
    xq, s = quantize_rows(x2, qmode, scale, per_row)
    if isinstance(w, QuantizedWeight):
        # s * (d*A1 - dmin*A2) equals s * (xq @ dequantized W^T): the integer sums are exact in float64, so one
        # matrix product gives the same values (to float32 rounding) as the block-by-block integer formula
        wd = getattr(w, "_deq64", None)
        if wd is None:
            wd = w._deq64 = np.ascontiguousarray(w.dequantize().astype(np.float64).T)
        return (s[:, None] * (xq @ wd)).astype(np.float32)
    if isinstance(w, CSRWeight):
        A = np.zeros((x2.shape[0], w.rows), np.int64)
        rows = np.repeat(np.arange(w.rows), np.diff(w.row_ptr.astype(np.int64)))
        np.add.at(A.T, rows, (xq[:, w.col_idx.astype(np.int64)] * w.q).T)
        return (s[:, None] * (w.d[None, :] * A.astype(np.float32))).astype(np.float32)
    A1, A2 = int_accumulators(w, xq)
    y = w.d[None, :] * A1.astype(np.float32)
    if A2 is not None:
        y = y - w.dmin[None, :] * A2.astype(np.float32)
    return (s[:, None] * y).astype(np.float32)


def _split_args(args, attrs):
    """(x, w, bias or None, requant table or None) of a linear/conv."""
    rq = args[-1] if attrs.get("rq") else None
    rest = args[:-1] if rq is not None else args
    return rest[0], rest[1], (rest[2] if len(rest) > 2 else None), rq


def _int_rows_any(w, xq, s):
    """(A1, A2) for int8 rows xq against a quantized weight, and the float result s*(...)."""
    A1, A2 = int_accumulators(w, xq)
    y = w.d[None, :] * A1.astype(np.float32)
    if A2 is not None:
        y = y - w.dmin[None, :] * A2.astype(np.float32)
    return A1, A2, (s * y).astype(np.float32)


def k_linear(p, args, attrs, out_shapes, names):
    x, w, bias, rq = _split_args(args, attrs)
    K = x.shape[-1]
    if p.dtypes.get(names[0]) == "i8":  # already int8: no quantization at the input
        xq = np.asarray(x, np.int64).reshape(-1, K)
        A1, A2, y = _int_rows_any(w, xq, np.float32(p.scales[names[0]]))
        if rq is not None:
            return requant.apply(A1, A2, rq).reshape(out_shapes[0])
    else:
        x2 = x.reshape(-1, K).astype(np.float32)
        if rq is not None:
            xq, s = quantize_rows(x2, attrs.get("qmode", Q_STATIC), p.scales.get(names[0], 0.0), True)
            A1, A2 = int_accumulators(w, xq)
            return requant.apply(A1, A2, rq).reshape(out_shapes[0])
        y = _matvec_rows(w, x2, attrs.get("qmode", Q_FLOAT), p.scales.get(names[0], 0.0), True)
    if bias is not None:
        y = y + bias
    return apply_act(y.reshape(out_shapes[0]).astype(np.float32), attrs)


def _pad(x, pt, pl, pb, pr, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=value)


def _as4d(x):
    return x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]) if x.ndim == 3 else x


def _patches(xp, kh, kw, sh, sw, dh, dw, Ho, Wo):
    """[N, C, Hp, Wp] -> [N, C, kh, kw, Ho, Wo] views of each window position."""
    N, C = xp.shape[:2]
    out = np.empty((N, C, kh, kw, Ho, Wo), xp.dtype)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dh, kx * dw
            out[:, :, ky, kx] = xp[:, :, y0: y0 + sh * (Ho - 1) + 1: sh, x0: x0 + sw * (Wo - 1) + 1: sw]
    return out


def k_conv(p, args, attrs, out_shapes, names):
    x, w, bias, rq = _split_args(args, attrs)
    in8 = p.dtypes.get(names[0]) == "i8"
    if x.shape[0] > 1 and not in8 and attrs.get("qmode", Q_FLOAT) == Q_DYNAMIC and not isinstance(w, np.ndarray):
        # the board quantizes a batch's float input image by image (each its own dynamic scale)
        one = [(1,) + tuple(out_shapes[0][1:])]
        return np.concatenate([k_conv(p, [x[i: i + 1]] + list(args[1:]), attrs, one, names) for i in range(x.shape[0])])
    x = _as4d(x).astype(np.int64 if in8 else np.float32)
    a = attrs
    N, C, H, W = x.shape
    oshape = out_shapes[0]
    Ho, Wo = (1, oshape[2]) if len(oshape) == 3 else oshape[2:]
    G = a["groups"]
    cout = w.shape[0] if isinstance(w, np.ndarray) else w.rows
    cg = C // G
    og = cout // G
    qmode = a.get("qmode", Q_FLOAT)
    if in8:
        x_used, scale = x.astype(np.float64), float(np.float32(p.scales[names[0]]))
    elif qmode != Q_FLOAT and not isinstance(w, np.ndarray):
        # int8 activations: one scale for the whole input tensor (dynamic) or the calibrated one
        xq, s = quantize_rows(x.reshape(1, -1), qmode, p.scales.get(names[0], 0.0), False)
        x_used = xq.reshape(x.shape).astype(np.float64)
        scale = float(s[0])
    else:
        x_used, scale = x, None
    pat = _patches(_pad(x_used, a["pt"], a["pl"], a["pb"], a["pr"]), a["kh"], a["kw"], a["sh"], a["sw"], a["dh"],
                   a["dw"], Ho, Wo)
    y = np.empty((N, cout, Ho, Wo), np.int64 if rq is not None else np.float32)
    for gi in range(G):
        cols = pat[:, gi * cg: (gi + 1) * cg].transpose(0, 4, 5, 1, 2, 3).reshape(N * Ho * Wo, -1)
        if rq is not None:
            A1, A2 = int_accumulators(_rows(w, gi * og, og), cols.astype(np.int64))
            yg = requant.apply(A1, A2, rq[gi * og: (gi + 1) * og])
            y[:, gi * og: (gi + 1) * og] = yg.reshape(N, Ho, Wo, og).transpose(0, 3, 1, 2)
            continue
        if isinstance(w, np.ndarray):
            wg = w[gi * og: (gi + 1) * og].reshape(og, -1)
            yg = cols @ wg.T
        elif scale is None:
            yg = cols @ _rows(w, gi * og, og).dequantize().T
        else:
            yg = _int_rows(_rows(w, gi * og, og), cols.astype(np.int64), scale)
        y[:, gi * og: (gi + 1) * og] = yg.reshape(N, Ho, Wo, og).transpose(0, 3, 1, 2)
    if rq is not None:
        return y.reshape(oshape)
    if bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return apply_act(y.reshape(oshape), a)


def _rows(w, start, count):
    if start == 0 and count == w.rows:
        return w
    return QuantizedWeight(count, w.cols, w.block, w.scheme, w.u[start: start + count], w.d[start: start + count],
                           w.dmin[start: start + count], w.sc[start: start + count], w.mc[start: start + count])


def _int_rows(w, xq, scale):
    A1, A2 = int_accumulators(w, xq)
    y = w.d[None, :] * A1.astype(np.float32)
    if A2 is not None:
        y = y - w.dmin[None, :] * A2.astype(np.float32)
    return (np.float32(scale) * y).astype(np.float32)


def k_matmul(p, args, attrs, out_shapes, names):
    return np.matmul(args[0], args[1]).astype(np.float32)


def _broadcast(big, small, attrs):
    inner, n = attrs["inner"], attrs["n"]
    flat = np.asarray(small, np.float32).ravel()
    if n == 1:
        return flat[0]
    idx = (np.arange(big.size) // inner) % n
    return flat[idx].reshape(big.shape)


def add8(a, b, ma, mb, relu):
    """The board's int8 residual add (ops._add8): Q16 multipliers, floor shift, clamp (relu: at 0)."""
    r = (np.asarray(a, np.int64) * int(ma) + np.asarray(b, np.int64) * int(mb) + 32768) >> 16
    return np.clip(r, 0 if relu else -127, 127)


def _binary(fn):
    def k(p, args, attrs, out_shapes, names):
        big, small = args
        if fn is np.add and p.dtypes.get(names[0]) == "i8":  # int8 in: the int8 residual add
            return add8(big, small, attrs["p0"], attrs["p1"], attrs.get("act") == "relu").reshape(out_shapes[0])
        s = _broadcast(big, small, attrs)
        y = fn(s, big) if attrs.get("rev") else fn(big, s)
        return apply_act(np.asarray(y, np.float32).reshape(out_shapes[0]), attrs)

    return k


def k_act(p, args, attrs, out_shapes, names):
    return apply_act(args[0].astype(np.float32), attrs)


def k_softmax(p, args, attrs, out_shapes, names):
    x = args[0].astype(np.float32)
    ax = attrs["axis"]
    e = np.exp(x - x.max(ax, keepdims=True))
    return (e / e.sum(ax, keepdims=True)).astype(np.float32)


def k_layernorm(p, args, attrs, out_shapes, names):
    x = args[0].astype(np.float32)
    shape = x.shape
    axis = attrs.get("axis", x.ndim - 1)
    x = x.reshape(int(np.prod(shape[:axis])), -1)  # normalize over the dims from axis to the last
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + np.float32(attrs["eps"])) * np.asarray(args[1], np.float32).reshape(-1)
    if len(args) > 2:
        y = y + np.asarray(args[2], np.float32).reshape(-1)
    return y.reshape(shape).astype(np.float32)


def _pool_windows(x, a, oshape, fill):
    x = _as4d(x)
    x = x if x.dtype == np.float64 else x.astype(np.float32)
    Ho, Wo = (1, oshape[2]) if len(oshape) == 3 else oshape[2:]
    dh, dw = a.get("dh", 1), a.get("dw", 1)
    # extra padding at the end covers ceil_mode windows
    need_h = (Ho - 1) * a["sh"] + (a["kh"] - 1) * dh + 1
    need_w = (Wo - 1) * a["sw"] + (a["kw"] - 1) * dw + 1
    H, W = x.shape[2:]
    eb = max(0, need_h - (H + a["pt"] + a["pb"]))
    er = max(0, need_w - (W + a["pl"] + a["pr"]))
    xp = _pad(x, a["pt"], a["pl"], a["pb"] + eb, a["pr"] + er, fill)
    return _patches(xp, a["kh"], a["kw"], a["sh"], a["sw"], dh, dw, Ho, Wo), (H, W, eb, er)


def k_maxpool(p, args, attrs, out_shapes, names):
    if p.dtypes.get(names[0]) == "i8":  # int8 in, int8 out (same scale)
        pat, _ = _pool_windows(np.asarray(args[0], np.float64), attrs, out_shapes[0], -np.inf)
        return pat.max((2, 3)).reshape(out_shapes[0]).astype(np.int64)
    pat, _ = _pool_windows(args[0], attrs, out_shapes[0], -np.inf)
    return pat.max((2, 3)).reshape(out_shapes[0]).astype(np.float32)


def k_avgpool(p, args, attrs, out_shapes, names):
    a = attrs
    pat, (H, W, eb, er) = _pool_windows(args[0], a, out_shapes[0], 0.0)
    s = pat.sum((2, 3))
    ones = np.ones((1, 1, H, W), np.float32)
    if a.get("count_include_pad"):
        ones = _pad(ones, a["pt"], a["pl"], a["pb"], a["pr"], 1.0)
        ones = _pad(ones, 0, 0, eb, er, 0.0)
    else:
        ones = _pad(ones, a["pt"], a["pl"], a["pb"] + eb, a["pr"] + er, 0.0)
    oshape = out_shapes[0]
    Ho, Wo = (1, oshape[2]) if len(oshape) == 3 else oshape[2:]
    cnt = _patches(ones, a["kh"], a["kw"], a["sh"], a["sw"], 1, 1, Ho, Wo).sum((2, 3))
    return (s / np.maximum(cnt, 1)).reshape(oshape).astype(np.float32)


def k_gap(p, args, attrs, out_shapes, names):
    if p.dtypes.get(names[0]) == "i8":  # int8 in: the integer mean, scaled once
        q = np.asarray(args[0], np.int64)
        return (q.sum((2, 3), keepdims=True) * np.float32(p.scales[names[0]]) / np.float32(q.shape[2] * q.shape[3])
                ).astype(np.float32)
    return args[0].astype(np.float32).mean((2, 3), keepdims=True)


def k_reshape(p, args, attrs, out_shapes, names):
    return np.asarray(args[0]).reshape(out_shapes[0])


def k_transpose(p, args, attrs, out_shapes, names):
    return np.ascontiguousarray(np.transpose(args[0], attrs["perm"]))


def k_concat(p, args, attrs, out_shapes, names):
    return np.concatenate([np.asarray(a, np.float32) for a in args], attrs["axis"])


def k_gather(p, args, attrs, out_shapes, names):
    table, idx = args
    idx = np.asarray(idx).astype(np.int64)
    if isinstance(table, QuantizedWeight):
        flat = idx.ravel()
        rows = _rows_dequant(table, flat)
        return rows.reshape(out_shapes[0]).astype(np.float32)
    return np.take(np.asarray(table, np.float32), idx, axis=attrs["axis"]).reshape(out_shapes[0])


def _rows_dequant(qw, rows):
    sub = QuantizedWeight(len(rows), qw.cols, qw.block, qw.scheme, qw.u[rows], qw.d[rows], qw.dmin[rows],
                          qw.sc[rows], qw.mc[rows])
    return sub.dequantize()


def k_slice(p, args, attrs, out_shapes, names):
    x = args[0]
    ax = attrs["axis"]
    n = out_shapes[0][ax]
    idx = attrs["start"] + attrs["step"] * np.arange(n)
    return np.take(x, idx, axis=ax)


def _prelu(x, s):
    return np.where(x >= 0, x, x * s)


def _pow(x, e):
    with np.errstate(all="ignore"):
        return np.power(np.asarray(x, np.float32), np.asarray(e, np.float32))


REDUCERS = (np.mean, np.max, np.min, np.sum, np.prod)  # hyq.R_MEAN ...


def k_reduce(p, args, attrs, out_shapes, names):
    return REDUCERS[attrs["kind"]](np.asarray(args[0], np.float32), axis=attrs["axis"], keepdims=True).astype(
        np.float32)


def k_argmax(p, args, attrs, out_shapes, names):
    x = np.asarray(args[0], np.float32)
    ax = attrs["axis"]
    if not attrs.get("largest", 1):
        x = -x
    if attrs.get("last"):
        n = x.shape[ax]
        return (n - 1 - np.argmax(np.flip(x, ax), ax)).reshape(out_shapes[0]).astype(np.float32)
    return np.argmax(x, ax).reshape(out_shapes[0]).astype(np.float32)


def k_topk(p, args, attrs, out_shapes, names):
    x = np.asarray(args[0], np.float32)
    ax, k = attrs["axis"], attrs["k"]
    key = -x if attrs.get("largest", 1) else x
    idx = np.take(np.argsort(key, axis=ax, kind="stable"), np.arange(k), axis=ax)
    return np.take_along_axis(x, idx, ax), idx.astype(np.float32)


PAD_MODES = ("constant", "reflect", "edge", "wrap")  # hyq.P_CONSTANT ...


def k_pad(p, args, attrs, out_shapes, names):
    x = np.asarray(args[0], np.float32)
    width = [(0, 0)] * x.ndim
    width[attrs["axis"]] = (attrs["before"], attrs["after"])
    mode = PAD_MODES[attrs["mode"]]
    if mode == "constant":
        return np.pad(x, width, constant_values=np.float32(attrs.get("value", 0.0)))
    return np.pad(x, width, mode=mode)


KERNELS = {
    "linear": k_linear, "conv": k_conv, "matmul": k_matmul,
    "add": _binary(np.add), "sub": _binary(np.subtract), "mul": _binary(np.multiply), "div": _binary(np.divide),
    "act": k_act, "softmax": k_softmax, "layernorm": k_layernorm, "maxpool": k_maxpool, "avgpool": k_avgpool,
    "gap": k_gap, "reshape": k_reshape, "transpose": k_transpose, "concat": k_concat, "gather": k_gather,
    "slice": k_slice, "min": _binary(np.minimum), "max": _binary(np.maximum), "pow": _binary(_pow),
    "prelu": _binary(_prelu), "reduce": k_reduce, "argmax": k_argmax, "topk": k_topk, "pad": k_pad,
}

__all__ = ["Program", "KERNELS", "quantize_rows", "int_accumulators", "Q_DYNAMIC", "Q_STATIC", "Q_FLOAT"]
