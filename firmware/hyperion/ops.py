# THE op table (OPS, at the end): for each op code of hyq.OPS, its glue function and whether it runs the
# model's kernel path. The weight-bearing ops are in layers.py; here the float ops and the tensor copies.
import array
import math

from hyperion import hyq
from hyperion.layers import _act, _attrs, _copy, _dequant_row, _outer_inner, op_conv, op_linear


def op_matmul(m, nd):
    at, bt, yt = (m.h.tensors[i] for i in (nd.inputs[0], nd.inputs[1], nd.outputs[0]))
    a, b, y = m.view(nd.inputs[0]), m.view(nd.inputs[1]), m.view(nd.outputs[0])
    M, K = (1, at.shape[0]) if len(at.shape) == 1 else (at.shape[-2], at.shape[-1])
    Nn = 1 if len(bt.shape) == 1 else bt.shape[-1]
    # batch dims broadcast as numpy does: walk the output's batch index, map it onto each operand
    if len(at.shape) > 1 and len(bt.shape) > 1:
        yb = list(yt.shape[:-2])
    elif len(at.shape) == 1 and len(bt.shape) == 1:
        yb = []
    else:  # one operand is a vector: its matrix dim is dropped from the output
        yb = list(yt.shape[:-1])
    nb = len(yb)
    ab = [1] * (nb - len(at.shape[:-2])) + list(at.shape[:-2])
    bb = [1] * (nb - len(bt.shape[:-2])) + list(bt.shape[:-2])
    idx = [0] * nb
    batches = 1
    for d in yb:
        batches *= d
    mm = getattr(m.k, "matmul", None)
    for i in range(batches):
        ao = bo = 0
        for d in range(nb):
            ao = ao * ab[d] + (idx[d] if ab[d] != 1 else 0)
            bo = bo * bb[d] + (idx[d] if bb[d] != 1 else 0)
        ao *= M * K
        bo *= K * Nn
        yo = i * M * Nn
        if mm is not None:
            mm(a, ao, b, bo, y, yo, M, K, Nn)
        else:
            _matmul(a, ao, b, bo, y, yo, M, K, Nn)
        d = nb - 1
        while d >= 0:
            idx[d] += 1
            if idx[d] < yb[d]:
                break
            idx[d] = 0
            d -= 1


def _matmul(a, ao, b, bo, y, yo, M, K, Nn):
    for r in range(M):
        for c in range(Nn):
            v = 0.0
            for k in range(K):
                v += a[ao + r * K + k] * b[bo + k * Nn + c]
            y[yo + r * Nn + c] = v


def _add8(m, nd, y):
    """int8 + int8 -> int8, a residual add between int8 layers: y = clamp((qa*ma + qb*mb + 2^15) >> 16) with
    the multipliers ma = sa/sy, mb = sb/sy in Q16 (float attributes p0, p1, exact integers), relu as the clamp's
    floor. Small ints throughout: no float work and no allocation."""
    a, b = m.view(nd.inputs[0]), m.view(nd.inputs[1])
    ma, mb = int(nd.fattrs[0]), int(nd.fattrs[1])
    lo = 128 if nd.iattrs[0] == hyq.A_RELU else 1
    k = getattr(m.k, "add8", None)
    if k is not None:
        k(a, b, y, len(y), ma, mb, lo)
        return
    for i in range(len(y)):
        r = (((a[i] - 128) * ma + (b[i] - 128) * mb + 32768) >> 16) + 128
        y[i] = lo if r < lo else (255 if r > 255 else r)


def _binary(kind):
    def op(m, nd):
        if kind == 0 and m.h.tensors[nd.outputs[0]].dtype == hyq.D_I8:
            _add8(m, nd, m.view(nd.outputs[0]))
            return
        act, rev, inner, n = nd.iattrs
        p0, p1 = nd.fattrs
        big, small = m.view(nd.inputs[0]), m.view(nd.inputs[1])
        y = m.view(nd.outputs[0])
        k = getattr(m.k, "binary", None)
        if k is not None and k(kind, big, small, y, len(y), inner, n, rev, act, p0, p1) is not False:
            return  # (a path's kernel may decline a case with False: then the loop below runs)
        more = None
        if kind >= 4:
            from hyperion.funcs import binary2 as more
        for i in range(len(y)):
            u = big[i]
            v = small[(i // inner) % n]
            if rev:
                u, v = v, u
            if kind == 0:
                r = u + v
            elif kind == 1:
                r = u - v
            elif kind == 2:
                r = u * v
            elif kind == 3:
                r = u / v if v != 0.0 else (float("inf") if u > 0 else (float("-inf") if u < 0 else float("nan")))
            else:
                r = more(kind, u, v)
            y[i] = _act(r, act, p0, p1) if act else r

    return op


def op_act(m, nd):
    act = nd.iattrs[0]
    p0, p1 = nd.fattrs
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    k = getattr(m.k, "act", None)
    if k is not None and k(x, 0, y, 0, len(y), act, p0, p1) is not False:
        return
    for i in range(len(y)):
        y[i] = _act(x[i], act, p0, p1)


def op_softmax(m, nd):
    xt = m.h.tensors[nd.inputs[0]]
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    outer, n, inner = _outer_inner(xt.shape, nd.iattrs[0])
    k = getattr(m.k, "softmax", None)
    if k is not None:
        k(x, y, outer, n, inner)
        return
    for o in range(outer):
        for j in range(inner):
            base = o * n * inner + j
            mx = x[base]
            for i in range(1, n):
                v = x[base + i * inner]
                if v > mx:
                    mx = v
            s = 0.0
            for i in range(n):
                e = math.exp(x[base + i * inner] - mx)
                y[base + i * inner] = e
                s += e
            for i in range(n):
                y[base + i * inner] /= s


def op_layernorm(m, nd):
    axis, has_beta = nd.iattrs
    eps = nd.fattrs[0]
    xt = m.h.tensors[nd.inputs[0]]
    x, y, g = m.view(nd.inputs[0]), m.view(nd.outputs[0]), m.view(nd.inputs[1])
    beta = m.view(nd.inputs[2]) if has_beta else None
    n = hyq.numel(xt.shape[axis:])
    norm(m.k, x, 0, xt.size // n, n, g, beta, eps, y)


def norm(k, x, xo, rows, n, g, beta, eps, y):
    """y[xo:xo+rows*n] = LayerNorm of each n-item row of x from xo, with k's layernorm kernel where it has one
    (op_layernorm, and the language-model decoder)."""
    f = getattr(k, "layernorm", None)
    if f is not None:
        f(x, xo, rows, n, g, beta, eps, y, xo)
        return
    for o in range(rows):
        _norm_row(x, xo + o * n, n, g, beta, eps, y)


def _norm_row(x, base, n, g, beta, eps, y):
    """y[base:base+n] = LayerNorm of x[base:base+n]."""
    mean = 0.0
    for i in range(n):
        mean += x[base + i]
    mean /= n
    var = 0.0
    for i in range(n):
        d = x[base + i] - mean
        var += d * d
    inv = 1.0 / math.sqrt(var / n + eps)
    for i in range(n):
        v = (x[base + i] - mean) * inv * g[i]
        y[base + i] = v + beta[i] if beta is not None else v


def _pool_geometry(m, nd):
    """(x, y, planes, H, W, Ho, Wo) of a pooling node over [N, C, H, W] or [N, C, L] tensors."""
    xt, yt = m.h.tensors[nd.inputs[0]], m.h.tensors[nd.outputs[0]]
    s, o = xt.shape, yt.shape
    H, W = (1, s[2]) if len(s) == 3 else (s[2], s[3])
    Ho, Wo = (1, o[2]) if len(o) == 3 else (o[2], o[3])
    return m.view(nd.inputs[0]), m.view(nd.outputs[0]), s[0] * s[1], H, W, Ho, Wo


_FILL = array.array("f", [-3.4e38])  # a max-pool window that holds no input (float; int8 gets 0)
_FILL8 = bytes(1)


def op_maxpool(m, nd):
    a = _attrs(m, nd)
    x, y, planes, H, W, Ho, Wo = _pool_geometry(m, nd)
    i8 = m.h.tensors[nd.inputs[0]].dtype == hyq.D_I8
    m.k.maxpool(x, y, planes, H, W, Ho, Wo, a["kh"], a["kw"], a["sh"], a["sw"], a["pt"], a["pl"], a["dh"], a["dw"],
                1 if i8 else 4, _FILL8 if i8 else _FILL)


def op_avgpool(m, nd):
    a = _attrs(m, nd)
    x, y, planes, H, W, Ho, Wo = _pool_geometry(m, nd)
    kh, kw, sh, sw, pt, pl = a["kh"], a["kw"], a["sh"], a["sw"], a["pt"], a["pl"]
    dh, dw = a.get("dh", 1), a.get("dw", 1)
    incl = a.get("count_include_pad", 0)
    Hp, Wp = H + a["pt"] + a["pb"], W + a["pl"] + a["pr"]
    for p in range(planes):
        xb = p * H * W
        yb = p * Ho * Wo
        for oy in range(Ho):
            for ox in range(Wo):
                acc = 0.0
                cnt = 0
                for ky in range(kh):
                    yy = oy * sh - pt + ky * dh
                    for kx in range(kw):
                        xx = ox * sw - pl + kx * dw
                        if 0 <= yy < H and 0 <= xx < W:
                            acc += x[xb + yy * W + xx]
                            cnt += 1
                        elif incl and -pt <= yy < Hp - pt and -pl <= xx < Wp - pl:
                            cnt += 1
                y[yb + oy * Wo + ox] = acc / cnt if cnt else 0.0




def op_gap(m, nd):
    xt = m.h.tensors[nd.inputs[0]]
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    hw = xt.shape[2] * xt.shape[3]
    k = getattr(m.k, "gap", None)
    if k is not None:
        k(x, y, xt.shape[0] * xt.shape[1], hw, 1 if xt.dtype == hyq.D_I8 else 0, xt.scale)
        return
    if xt.dtype == hyq.D_I8:  # int8 (+128) in: integer sums, one float scale per channel
        k = xt.scale / hw
        for p in range(xt.shape[0] * xt.shape[1]):
            s = 0
            for i in range(p * hw, p * hw + hw):
                s += x[i]
            y[p] = (s - 128 * hw) * k
        return
    for p in range(xt.shape[0] * xt.shape[1]):
        s = 0.0
        for i in range(p * hw, p * hw + hw):
            s += x[i]
        y[p] = s / hw


def op_reshape(m, nd):
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    if m.h.tensors[nd.inputs[0]].offset != m.h.tensors[nd.outputs[0]].offset or \
            m.h.tensors[nd.inputs[0]].kind != hyq.K_ACT:
        _copy(x, 0, y, 0, len(y))


def _strides(shape):
    st = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        st[i] = st[i + 1] * shape[i + 1]
    return st


def op_transpose(m, nd):
    perm = nd.iattrs
    xt = m.h.tensors[nd.inputs[0]]
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    xs = _strides(xt.shape)
    ys = [xt.shape[p] for p in perm]
    src = [xs[p] for p in perm]
    run = 1
    if src[-1] == 1:  # the innermost dim stays innermost: whole runs of it are copied at once
        run = ys.pop()
        src.pop()
    nd_ = len(ys)
    idx = [0] * nd_
    for i in range(0, len(y), run):
        off = 0
        for d in range(nd_):
            off += idx[d] * src[d]
        if run > 1:
            _copy(x, off, y, i, run)
        else:
            y[i] = x[off]
        d = nd_ - 1
        while d >= 0:
            idx[d] += 1
            if idx[d] < ys[d]:
                break
            idx[d] = 0
            d -= 1


def op_concat(m, nd):
    axis = nd.iattrs[0]
    yt = m.h.tensors[nd.outputs[0]]
    y = m.view(nd.outputs[0])
    outer, _, inner = _outer_inner(yt.shape, axis)
    ystride = yt.shape[axis] * inner
    pos = 0
    for i in nd.inputs:
        t = m.h.tensors[i]
        x = m.view(i)
        chunk = t.shape[axis] * inner
        for o in range(outer):
            _copy(x, o * chunk, y, o * ystride + pos, chunk)
        pos += chunk


def op_gather(m, nd):
    axis = nd.iattrs[0]
    tt, it = m.h.tensors[nd.inputs[0]], m.h.tensors[nd.inputs[1]]
    idx = m.view(nd.inputs[1])
    y = m.view(nd.outputs[0])
    if tt.kind in (hyq.K_Q4, hyq.K_Q8):
        dim = tt.shape[1]
        for j in range(it.size):
            _dequant_row(m, tt, int(idx[j]), y, j * dim)
        return
    table = m.view(nd.inputs[0])
    outer, n, inner = _outer_inner(tt.shape, axis)
    k = 0
    for o in range(outer):
        for j in range(it.size):
            _copy(table, (o * n + int(idx[j])) * inner, y, k, inner)
            k += inner


def op_slice(m, nd):
    axis, start, step = nd.iattrs
    xt, yt = m.h.tensors[nd.inputs[0]], m.h.tensors[nd.outputs[0]]
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    outer, n, inner = _outer_inner(xt.shape, axis)
    cnt = yt.shape[axis]
    k = 0
    for o in range(outer):
        if step == 1:  # one block
            _copy(x, (o * n + start) * inner, y, k, cnt * inner)
            k += cnt * inner
        elif inner == 1:  # every step-th value
            for j in range(o * n + start, o * n + start + cnt * step, step):
                y[k] = x[j]
                k += 1
        else:
            for j in range(cnt):
                _copy(x, (o * n + start + j * step) * inner, y, k, inner)
                k += inner


def _more(name):
    """The glue of a rarer op (ops_more.py), imported on its first use: its bytecode costs no RAM until then."""
    def op(m, nd):
        from hyperion import ops_more

        getattr(ops_more, name)(m, nd)

    return op


# The op table: two entries per op code c (hyq.OPS order), OPS[2c] = glue, OPS[2c + 1] = the kernel function the
# glue runs (one flat tuple: a tuple per row would cost heap). glue(m, nd) runs node nd of model m. The kernel
# decides the path an op runs on: the model's kernel path (m.k) where m.k has that function (every path has the
# calling convention's; only some have the whole-op ones, kernels.WHOLE_OP), else Python glue on every path
# (None, or a whole-op kernel the path lacks: reported as "python"). A node costs one lookup here per run.
OPS = (
    op_linear, "q4_rows",  # linear
    op_conv, "conv_row",  # conv (whole layers with "conv" where the path has it)
    op_matmul, "matmul",  # matmul
    _binary(0), "binary",  # add
    _binary(1), "binary",  # sub
    _binary(2), "binary",  # mul
    _binary(3), "binary",  # div
    op_act, "act",  # act
    op_softmax, "softmax",  # softmax
    op_layernorm, "layernorm",  # layernorm
    op_maxpool, "maxpool",  # maxpool
    op_avgpool, None,  # avgpool
    op_gap, "gap",  # gap
    op_reshape, None,  # reshape
    op_transpose, None,  # transpose
    op_concat, None,  # concat
    op_gather, None,  # gather
    op_slice, None,  # slice
    _binary(4), "binary",  # min
    _binary(5), "binary",  # max
    _binary(6), "binary",  # pow
    _binary(7), "binary",  # prelu
    _more("op_reduce"), None,  # reduce
    _more("op_argmax"), None,  # argmax
    _more("op_topk"), None,  # topk
    _more("op_pad"), None,  # pad
)


def kernel_path(op, k):
    """The kernel path op code `op` runs on in a model loaded with kernel module k."""
    fn = OPS[2 * op + 1]
    if fn is None or not hasattr(k, fn):
        return "python"
    src = getattr(k, "SOURCE", None)  # a mix of paths (kernels.Mix): the path of that function
    return src.get(fn, k.PATH) if src else k.PATH
