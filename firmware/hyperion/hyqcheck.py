# The .hyq structure check: every count, dimension, offset, stride, window and group of a parsed file against
# the header, the arenas and the op it serves, before anything runs (the runtime's Model and the host's reader
# run it after hyq.Model has parsed the file).
# The kernels (viper and C) trust their arguments, so a file that passes here cannot make them read or write
# outside a buffer; a file that does not raises hyq.FormatError naming the field. Runs on MicroPython and CPython.
from hyperion.hyq import (
    ACT_NAMES,
    D_I8,
    FATTRS,
    IATTRS,
    K_ACT,
    K_CSR4,
    K_F32,
    K_I32,
    K_Q4,
    K_Q8,
    OPS,
    RQ_COLS,
    S_Q8,
    FormatError,
    csr_layout,
    numel,
    q4_layout,
)

MAX_DIM = 1 << 24  # a dimension; a tensor holds at most MAX_SIZE elements (32-bit kernel arguments stay exact)
MAX_SIZE = 1 << 28
MAX_BLOCK_CODE = 5  # blocks of up to 32 << 5 = 1024 columns


def _bad(where, what):
    raise FormatError("%s: %s" % (where, what))


def _tensor(h, t):
    w = "tensor %d" % t.index
    if t.kind > K_CSR4 or t.dtype > D_I8:
        _bad(w, "kind %d / dtype %d unknown" % (t.kind, t.dtype))
    if not t.shape and t.kind != K_ACT and t.kind != K_F32 and t.kind != K_I32:
        _bad(w, "no shape")
    for d in t.shape:
        if d < 1 or d > MAX_DIM:
            _bad(w, "dimension %d out of range" % d)
    if t.size > MAX_SIZE:
        _bad(w, "%d elements" % t.size)
    if not t.scale == t.scale or t.scale < 0 or t.scale > 3e38:  # NaN, negative or infinite
        _bad(w, "scale %r" % t.scale)
    if t.kind == K_ACT:
        if t.dtype == D_I8:
            if t.offset + t.size > h.arena8_size:
                _bad(w, "offset %d + %d bytes past the int8 arena (%d)" % (t.offset, t.size, h.arena8_size))
        elif t.offset & 3 or t.offset + 4 * t.size > h.arena_size:
            _bad(w, "offset %d + %d floats past the arena (%d)" % (t.offset, t.size, h.arena_size))
        return
    if t.kind == K_F32 or t.kind == K_I32:
        want = 4 * t.size
    elif t.kind == K_CSR4:
        if len(t.shape) != 2 or t.extra > t.size:
            _bad(w, "pruned weights need 2 dimensions and at most rows*cols nonzeros")
        want = sum(csr_layout(t.shape[0], t.extra))
    else:
        if len(t.shape) != 2:
            _bad(w, "weights need 2 dimensions")
        if (t.kind == K_Q8) != (t.qparam >> 4 == S_Q8) or t.qparam >> 4 > S_Q8 or t.qparam & 15 > MAX_BLOCK_CODE:
            _bad(w, "qparam 0x%02x does not fit kind %d" % (t.qparam, t.kind))
        want = t.shape[0] * q4_layout(t.shape[1], t.qparam)[4]
    if t.nbytes != want:
        _bad(w, "nbytes %d, its shape needs %d" % (t.nbytes, want))


def _geometry(w, a, xs, ys, win):
    """Checks a window op's attributes a (dict) over input shape xs, output ys (3-D or 4-D); returns planes."""
    if len(xs) not in (3, 4) or len(ys) != len(xs) or xs[0] != ys[0]:
        _bad(w, "shapes %s -> %s" % (xs, ys))
    for k in ("kh", "kw", "sh", "sw", "dh", "dw"):
        if a.get(k, 1) < 1:
            _bad(w, "%s = %d" % (k, a[k]))
    for k in ("pt", "pl", "pb", "pr"):
        if a[k] < 0 or a[k] > MAX_DIM:
            _bad(w, "%s = %d" % (k, a[k]))
    if win and len(xs) == 3 and a["kh"] != 1:
        _bad(w, "a 1-D window with kh = %d" % a["kh"])


def _conv(w, h, nd, a, ts):
    x, wt, y = ts[0], ts[1], h.tensors[nd.outputs[0]]
    _geometry(w, a, x.shape, y.shape, True)
    g = a["groups"]
    C, cout = x.shape[1], y.shape[1]
    if g < 1 or C % g or cout % g:
        _bad(w, "groups %d for %d -> %d channels" % (g, C, cout))
    H, W = (1, x.shape[2]) if len(x.shape) == 3 else (x.shape[2], x.shape[3])
    Ho, Wo = (1, y.shape[2]) if len(y.shape) == 3 else (y.shape[2], y.shape[3])
    eh = (H + a["pt"] + a["pb"] - a["dh"] * (a["kh"] - 1) - 1) // a["sh"] + 1
    ew = (W + a["pl"] + a["pr"] - a["dw"] * (a["kw"] - 1) - 1) // a["sw"] + 1
    if (Ho, Wo) != (eh, ew):
        _bad(w, "output %dx%d, the window gives %dx%d" % (Ho, Wo, eh, ew))
    K = C // g * a["kh"] * a["kw"]
    if wt.kind == K_F32 and wt.size != cout * K or wt.kind != K_F32 and (wt.shape[0] != cout or wt.shape[1] != K):
        _bad(w, "weights %s for %d outputs of %d columns" % (wt.shape, cout, K))
    return cout


def _weights(w, nd, ts, ni, rows, y, a):
    """bias and requantization table of linear/conv (rows outputs); the tensor kinds."""
    if ts[0].kind != K_ACT or ts[1].kind not in (K_F32, K_Q4, K_Q8, K_CSR4):
        _bad(w, "input kinds %d, %d" % (ts[0].kind, ts[1].kind))
    if a["act"] >= len(ACT_NAMES) or a["qmode"] > 2 or a["has_bias"] > 1 or a["rq"] > 1:
        _bad(w, "act %d, qmode %d, has_bias %d, rq %d" % (a["act"], a["qmode"], a["has_bias"], a["rq"]))
    if ni != 2 + a["has_bias"] + a["rq"]:
        _bad(w, "%d inputs" % ni)
    if a["has_bias"] and (ts[2].kind != K_F32 or ts[2].size != rows):
        _bad(w, "bias of %d values for %d outputs" % (ts[2].size, rows))
    if a["rq"]:
        t = ts[-1]
        if t.kind != K_I32 or t.size != rows * RQ_COLS or y.dtype != D_I8:
            _bad(w, "requantization table of %d values for %d int8 outputs" % (t.size, rows))
    elif y.dtype == D_I8:
        _bad(w, "int8 output without a requantization table")


def _node(h, k, nd):
    w = "node %d (%s)" % (k, OPS[nd.op])
    n = len(h.tensors)
    for i in nd.inputs + nd.outputs:
        if i >= n:
            _bad(w, "tensor %d of %d" % (i, n))
    if not nd.outputs or not nd.inputs:
        _bad(w, "no inputs or outputs")
    ts = [h.tensors[i] for i in nd.inputs]
    y = h.tensors[nd.outputs[0]]
    for i in nd.outputs:
        if h.tensors[i].kind != K_ACT:
            _bad(w, "writes into constant tensor %d" % i)
    names = IATTRS[nd.op]
    if names is None:  # a permutation: one per input dimension
        if len(nd.iattrs) != len(ts[0].shape):
            _bad(w, "%d attributes for %d dimensions" % (len(nd.iattrs), len(ts[0].shape)))
    elif len(nd.iattrs) != len(names) and not (OPS[nd.op] == "avgpool" and len(nd.iattrs) == len(names) - 2):
        # (an avgpool written before dilations were added has no dh, dw: 1 and 1)
        _bad(w, "%d integer attributes, the op has %d" % (len(nd.iattrs), len(names)))
    if len(nd.fattrs) != len(FATTRS[nd.op]):
        _bad(w, "%d float attributes, the op has %d" % (len(nd.fattrs), len(FATTRS[nd.op])))
    a = {}
    for j in range(min(len(names or ()), len(nd.iattrs))):
        a[names[j]] = nd.iattrs[j]
    op = OPS[nd.op]
    x = ts[0]
    floats = x.dtype != D_I8 and y.dtype != D_I8
    if op == "linear":
        if len(ts) < 2:
            _bad(w, "no weights")
        rows = ts[1].shape[0] if ts[1].shape else 0
        _weights(w, nd, ts, len(ts), rows, y, a)
        K = ts[1].shape[-1] if len(ts[1].shape) == 2 else 0
        if len(ts[1].shape) != 2 or x.size % K or y.size != x.size // K * rows:
            _bad(w, "%d inputs through weights %s into %d outputs" % (x.size, ts[1].shape, y.size))
    elif op == "conv":
        if len(ts) < 2:
            _bad(w, "no weights")
        rows = _conv(w, h, nd, a, ts)
        _weights(w, nd, ts, len(ts), rows, y, a)
    elif op == "matmul":
        _matmul(w, ts, y, len(ts), floats)
    elif op == "add" and y.dtype == D_I8:  # int8 + int8 -> int8: Q16 multipliers in p0, p1; relu or none
        if len(ts) != 2 or x.dtype != D_I8 or ts[1].dtype != D_I8 or x.size != y.size or ts[1].size != y.size or \
                a["act"] > 1 or not (0.0 <= nd.fattrs[0] < 16777216.0 and 0.0 <= nd.fattrs[1] < 16777216.0):
            _bad(w, "int8 add of %d and %d into %d" % (x.size, ts[1].size if len(ts) > 1 else 0, y.size))
    elif op in ("add", "sub", "mul", "div", "min", "max", "pow", "prelu", "act", "softmax", "layernorm"):
        if not floats or x.size != y.size:
            _bad(w, "%d -> %d values, or int8" % (x.size, y.size))
        if op == "act":
            if a["act"] >= len(ACT_NAMES):
                _bad(w, "act %d" % a["act"])
        elif op == "softmax" or op == "layernorm":
            ax = a["axis"]
            if ax >= len(x.shape) or ax < 0:
                _bad(w, "axis %d of %d dimensions" % (ax, len(x.shape)))
            if op == "layernorm":
                m = numel(x.shape[ax:])
                if a["has_beta"] > 1 or len(ts) != 2 + a["has_beta"]:
                    _bad(w, "%d inputs" % len(ts))
                for t in ts[1:]:
                    if t.kind != K_F32 or t.size != m:
                        _bad(w, "scale or shift of %d values for rows of %d" % (t.size, m))
        else:
            s = ts[1] if len(ts) == 2 else None
            if s is None or s.dtype == D_I8 or a["act"] >= len(ACT_NAMES) or a["inner"] < 1 or a["n"] < 1 or a["n"] > s.size:
                _bad(w, "operands (inner %d, n %d)" % (a["inner"], a["n"]))
    elif op in ("maxpool", "avgpool"):
        _geometry(w, a, x.shape, y.shape, True)
        if x.shape[1] != y.shape[1] or x.dtype != y.dtype or op == "avgpool" and not floats:
            _bad(w, "shapes %s -> %s" % (x.shape, y.shape))
    elif op == "gap":
        if len(x.shape) != 4 or y.size != x.shape[0] * x.shape[1] or y.dtype == D_I8:
            _bad(w, "shapes %s -> %s" % (x.shape, y.shape))
    elif op == "reshape":
        if x.size != y.size or (x.dtype == D_I8) != (y.dtype == D_I8):
            _bad(w, "%d -> %d values" % (x.size, y.size))
    elif op == "transpose":
        p = nd.iattrs
        if sorted(p) != list(range(len(x.shape))) or tuple(x.shape[i] for i in p) != y.shape or x.dtype != y.dtype:
            _bad(w, "permutation %s of %s -> %s" % (tuple(p), x.shape, y.shape))
    elif op == "concat":
        _concat(w, ts, y, a["axis"])
    elif op == "gather":
        _gather(w, ts, y, a["axis"])
    elif op in ("reduce", "argmax", "topk", "pad"):
        _along_axis(w, op, a, nd, ts, h, floats)
    elif op == "slice":
        ax, start, step = a["axis"], a["start"], a["step"]
        if ax < 0 or ax >= len(x.shape) or len(y.shape) != len(x.shape) or x.dtype != y.dtype:
            _bad(w, "axis %d of %s -> %s" % (ax, x.shape, y.shape))
        cnt, n = y.shape[ax], x.shape[ax]
        last = start + (cnt - 1) * step  # steps may be negative (a reversed slice), never 0
        if step == 0 or not 0 <= start < n or not 0 <= last < n or \
                any(x.shape[i] != y.shape[i] for i in range(len(x.shape)) if i != ax):
            _bad(w, "start %d, step %d, %d of %s" % (start, step, cnt, x.shape))


def _along_axis(w, op, a, nd, ts, h, floats):
    """reduce, argmax, topk and pad: float tensors of one rank, equal but along the axis (1, k or padded)."""
    x = ts[0]
    ax = a["axis"]
    if len(ts) != 1 or not floats or ax < 0 or ax >= len(x.shape):
        _bad(w, "axis %d of %s" % (ax, x.shape))
    n = x.shape[ax]
    if op == "reduce":
        want, ok = 1, 0 <= a["kind"] <= 4
    elif op == "argmax":
        want, ok = 1, 0 <= a["largest"] <= 1 and 0 <= a["last"] <= 1
    elif op == "topk":
        want, ok = a["k"], 1 <= a["k"] <= n and 0 <= a["largest"] <= 1 and len(nd.outputs) == 2
    else:
        want = n + a["before"] + a["after"]
        ok = 0 <= a["before"] < MAX_DIM and 0 <= a["after"] < MAX_DIM and 0 <= a["mode"] <= 3
    for i in nd.outputs:
        y = h.tensors[i]
        if not ok or y.dtype == D_I8 or len(y.shape) != len(x.shape) or y.shape[ax] != want or \
                any(x.shape[d] != y.shape[d] for d in range(len(x.shape)) if d != ax):
            _bad(w, "%s -> %s along axis %d" % (x.shape, y.shape, ax))


def _matmul(w, ts, y, ni, floats):
    if ni != 2 or not floats or ts[1].dtype == D_I8:
        _bad(w, "operands")
    a, b = ts[0].shape, ts[1].shape
    if not a or not b:
        _bad(w, "scalar operands")
    K = a[-1]
    Kb = b[0] if len(b) == 1 else b[-2]
    if K != Kb:
        _bad(w, "%s @ %s" % (a, b))
    ab, bb = a[:-2], b[:-2]
    n = max(len(ab), len(bb))
    ab = (1,) * (n - len(ab)) + tuple(ab)
    bb = (1,) * (n - len(bb)) + tuple(bb)
    batch = []
    for i in range(n):
        if ab[i] != bb[i] and ab[i] != 1 and bb[i] != 1:
            _bad(w, "batch dimensions %s @ %s" % (a, b))
        batch.append(max(ab[i], bb[i]))
    want = tuple(batch) + ((a[-2],) if len(a) > 1 else ()) + ((b[-1],) if len(b) > 1 else ())
    if len(a) == 1 and len(b) == 1:
        want = ()
    if numel(want) != y.size:
        _bad(w, "%s @ %s -> %s" % (a, b, y.shape))


def _concat(w, ts, y, ax):
    if ax < 0 or ax >= len(y.shape):
        _bad(w, "axis %d" % ax)
    tot = 0
    for t in ts:
        if len(t.shape) != len(y.shape) or (t.dtype == D_I8) != (y.dtype == D_I8) or \
                any(t.shape[i] != y.shape[i] for i in range(len(y.shape)) if i != ax):
            _bad(w, "input %s into %s" % (t.shape, y.shape))
        tot += t.shape[ax]
    if tot != y.shape[ax]:
        _bad(w, "%d along axis %d into %d" % (tot, ax, y.shape[ax]))


def _gather(w, ts, y, ax):
    if len(ts) != 2:
        _bad(w, "%d inputs" % len(ts))
    tt, it = ts
    if it.dtype == D_I8 or y.dtype == D_I8:
        _bad(w, "int8 indices or output")
    if tt.kind == K_Q4 or tt.kind == K_Q8:
        if ax != 0 or y.size != it.size * tt.shape[1]:
            _bad(w, "%d rows of %s into %d values" % (it.size, tt.shape, y.size))
        return
    if tt.kind == K_CSR4 or tt.dtype == D_I8 or ax < 0 or ax >= len(tt.shape):
        _bad(w, "table %s, axis %d" % (tt.shape, ax))
    if y.size != tt.size // tt.shape[ax] * it.size:
        _bad(w, "%d indices of %s into %d values" % (it.size, tt.shape, y.size))


def check_once(h):
    """check(h), then this module dropped from sys.modules: it runs once per load, and a board needs the RAM."""
    import sys

    try:
        check(h)
    finally:
        sys.modules.pop("hyperion.hyqcheck", None)
        pkg = sys.modules.get("hyperion")
        if pkg is not None and getattr(pkg, "hyqcheck", None) is not None:
            try:
                delattr(pkg, "hyqcheck")
            except (AttributeError, TypeError):
                pass


def check(h):
    """Raise FormatError unless parsed model h (hyq.Model) is consistent throughout."""
    for t in h.tensors:
        _tensor(h, t)
    n = len(h.tensors)
    for i in h.inputs + h.outputs:
        if i >= n or h.tensors[i].kind != K_ACT:
            _bad("graph input/output", "tensor %d is not an activation" % i)
    for i in h.outputs:
        if h.tensors[i].dtype == D_I8:
            _bad("graph output", "tensor %d is int8 (the graph's outputs are float)" % i)
    for i in h.inputs:  # an int8 input is quantized from the floats given with its static scale
        t = h.tensors[i]
        if t.dtype == D_I8 and not t.scale > 0.0:
            _bad("graph input", "int8 tensor %d without a scale" % i)
    made = bytearray(n)  # activations that hold a value: the graph inputs, then each node's outputs in turn
    for i in h.inputs:
        made[i] = 1
    for k in range(len(h.nodes)):
        nd = h.nodes[k]
        _node(h, k, nd)
        for i in nd.inputs:
            if h.tensors[i].kind == K_ACT and not made[i]:
                _bad("node %d (%s)" % (k, OPS[nd.op]), "reads tensor %d before any node writes it" % i)
        for i in nd.outputs:
            made[i] = 1
    for i in h.outputs:
        if not made[i]:
            _bad("graph output", "no node writes tensor %d" % i)
