# The weight-bearing ops (linear, conv, an embedding row) and activation quantization: the glue between a
# model's buffers and its kernel module (m.k), for the op table in ops.py. Also the helpers every op module
# shares (zeros, the activation functions, fp16, node attributes by name).
import array
import math

from hyperion import hyq
from hyperion.hyq import A_CLIP, A_GELU, A_GELU_TANH, A_HSIG, A_LEAKY, A_RELU, A_SIGMOID, A_TANH


def zeros(code, n):
    """A zero-filled array('f'/'i') of n items in one allocation. array(code, bytes(4 * n)) holds a copy of
    the bytes while it builds the array: on a small heap that transient decides whether a big block fits."""
    a = array.array(code, range(n))  # sized once from len(range): no copy
    for i in range(n):  # small-int stores: no garbage left between long-lived blocks
        a[i] = 0
    return a


def _erf_as(x):
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), as the host runtime uses where math.erf is missing
    s = 1.0 if x >= 0 else -1.0
    a = x * s
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * math.exp(-a * a)
    return s * y


# math.erf is C code where the port has it (unix, ports with MICROPY_PY_MATH_SPECIAL_FUNCTIONS)
_erf = getattr(math, "erf", None) or _erf_as


def _act(v, act, p0, p1):
    if act == A_RELU:
        return v if v > 0.0 else 0.0
    if act == A_CLIP:  # max then min, as numpy does (min > max gives max)
        if v < p0:
            v = p0
        return p1 if v > p1 else v
    if act == A_LEAKY:
        return v if v >= 0.0 else v * p0
    if act == A_SIGMOID:
        if v < -80.0:
            return 0.0
        return 1.0 / (1.0 + math.exp(-v))
    if act == A_TANH:
        return math.tanh(v)
    if act == A_GELU:
        return 0.5 * v * (1.0 + _erf(v * 0.7071067811865476))
    if act == A_GELU_TANH:
        return 0.5 * v * (1.0 + math.tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)))
    if act >= A_HSIG:
        f = _MORE[0]
        if f is None:  # the rarer functions: imported on first use
            from hyperion.funcs import fn as f

            _MORE[0] = f
        return f(v, act, p0, p1)
    return v


_MORE = [None]




def _f16(b0, b1):
    """fp16 (two bytes, little-endian) -> float, without struct tuples."""
    h = b0 | (b1 << 8)
    e = (h >> 10) & 31
    m = h & 1023
    if e == 0:
        v = m * 5.960464477539063e-08
    elif e == 31:
        v = float("inf")
    else:
        v = (1024 + m) * (2.0 ** (e - 25))
    return -v if h & 0x8000 else v


def _attrs(m, nd):
    """The node's int attributes by name (decoded once per model)."""
    a = m.named.get(id(nd))
    if a is None:
        a = m.named[id(nd)] = dict(zip(hyq.IATTRS[nd.op], nd.iattrs))
    return a


# -- int8 activations ------------------------------------------------------------------------------------

_SCALE = array.array("f", [0.0])  # a static scale as float32, where the quantize kernel reads its bits
_CONV_F = array.array("f", [0.0, 0.0, 0.0])  # the whole-layer conv kernel's input scale, p0, p1


def _quantize(k, src, n, dst, scale, so=0, do=0):
    """x = src[so:so+n] (floats) -> dst[do:do+n] bytes holding clip(floor(x/s + 1/2), -127, 127) + 128, with
    kernel module k; returns s. scale 0: dynamic, s = max|x| / 127 (and x/s computed as 127*x / max|x|)."""
    if scale <= 0.0:
        i = k.absmax(src, so, n)
        if i < 0:  # all zero
            for j in range(do, do + n):
                dst[j] = 128
            return 1.0
        k.quantize(src, so, n, dst, do, src, so + i, 127)
        return abs(src[so + i]) / 127.0
    _SCALE[0] = scale
    k.quantize(src, so, n, dst, do, _SCALE, 0, 1)
    return scale


def _row_scales(m, t):
    """Per-row (d, dmin) of a q4/q8 weight tensor, read from its buffer."""
    buf, off = m._weights(t)
    nb, hdr, cb, data, stride = hyq.q4_layout(t.shape[1], t.qparam)
    return buf, off, nb, hdr, cb, stride


def _scales(m, t, buf, off, stride):
    """(d, dmin) of every row as array('f'), decoded once per tensor and cached."""
    sc = m.rowscales.get(t.index)
    if sc is None:
        sc = m.rowscales[t.index] = _fill_scales(None, t, buf, off, stride, 0, t.shape[0])
    return sc


def _scales_of(m, t, stride):
    """t's row scales: cached (an expansion of a streamed tensor decodes them), else decoded now."""
    sc = m.rowscales.get(t.index)
    if sc is None:
        buf, off = m._weights(t)
        sc = _scales(m, t, buf, off, stride)
    return sc


def _fill_scales(sc, t, buf, off, stride, r0, r1):
    """Decode rows r0..r1's (d, dmin) from buf (row r at off + r*stride) into sc (made if None)."""
    if sc is None:
        sc = zeros("f", 2 * t.shape[0])
    asym = (t.qparam >> 4) == hyq.S_ASYM
    for r in range(r0, r1):
        b = off + r * stride
        sc[2 * r] = _f16(buf[b], buf[b + 1])
        if asym:
            sc[2 * r + 1] = _f16(buf[b + 2], buf[b + 3])
    return sc


def _q_rows(m, t, xq, K):
    """The int32 row sums of quantized matrix t against xq (int8 + 128) into m.acc, for every row; returns
    (row scales, asym). A streamed tensor bigger than the weight buffer is read WBUF_CHUNK bytes of rows at
    a time, so the buffer never holds a whole layer."""
    lay = m.layouts.get(t.index)
    if lay is None:  # decoded once per tensor: small layers are called often (a decoder, per token)
        nb, hdr, cb, data, stride = hyq.q4_layout(K, t.qparam)
        scheme = t.qparam >> 4
        lay = m.layouts[t.index] = (nb, hdr, cb, stride, hyq.block_size(t.qparam), 1 if scheme == hyq.S_ASYM else 0,
                                    m.k.q8_rows if scheme == hyq.S_Q8 else m.k.q4_rows)
    nb, hdr, cb, stride, B, asym, kern = lay
    rows = t.shape[0]
    E = m.expanded.get(t.index)
    if E:  # the path's own form of the weights (ulab: hyperion/expanded.py)
        m.k.q4_rows_e(E, K, xq, m.acc)
        return _scales_of(m, t, stride), asym
    m.k.block_sums(xq, K, B, nb, m.sx)
    if m.mapped is not None or t.nbytes <= len(m.wbuf):
        buf, off = m._weights(t)
        kern(buf, off, stride, hdr, cb, nb, B, K, 0, rows, xq, m.sx, m.acc, asym)
        return _scales(m, t, buf, off, stride), asym
    sc = m.rowscales.get(t.index)
    fill = sc is None
    per = len(m.wbuf) // stride
    m.loaded = -1
    wb = memoryview(m.wbuf)
    for r0 in range(0, rows, per):
        r1 = min(rows, r0 + per)
        m.h.read_at(t.offset + r0 * stride, wb[: (r1 - r0) * stride], (r1 - r0) * stride)
        kern(m.wbuf, -r0 * stride, stride, hdr, cb, nb, B, K, r0, r1, xq, m.sx, m.acc, asym)
        if fill:
            sc = _fill_scales(sc, t, m.wbuf, -r0 * stride, stride, r0, r1)
    m.rowscales[t.index] = sc
    return sc, asym


def _finish_rows(m, y, yo, rows, sc, r0, asym, s, bias, act, p0, p1, ystep):
    """y[yo + r*ystep] = act(s*(d*A1 - dmin*A2) + bias[r]) for rows r0.. (acc holds rows from 0)."""
    acc = m.acc
    fin = getattr(m.k, "finish", None)
    if fin is not None and fin(acc, 1, rows, sc, r0, s, bias, act, p0, p1, y, yo, ystep, 0, asym) is not False:
        return  # (False: the path declines this activation)
    if r0 == 0 and ystep == 1 and asym and bias is not None and act in (0, A_RELU, A_GELU):
        # the common case (a linear layer's whole output), in loops with nothing else to decide per row;
        # the same arithmetic in the same order as the general loop below
        if act == 0:
            for r in range(rows):
                y[yo + r] = (sc[2 * r] * acc[2 * r] - sc[2 * r + 1] * acc[2 * r + 1]) * s + bias[r]
        elif act == A_RELU:
            for r in range(rows):
                v = (sc[2 * r] * acc[2 * r] - sc[2 * r + 1] * acc[2 * r + 1]) * s + bias[r]
                y[yo + r] = v if v > 0.0 else 0.0
        else:
            erf = _erf
            for r in range(rows):
                v = (sc[2 * r] * acc[2 * r] - sc[2 * r + 1] * acc[2 * r + 1]) * s + bias[r]
                y[yo + r] = 0.5 * v * (1.0 + erf(v * 0.7071067811865476))
        return
    for r in range(rows):
        i = 2 * (r0 + r)
        v = sc[i] * acc[2 * r]
        if asym:
            v -= sc[i + 1] * acc[2 * r + 1]
        v *= s
        if bias is not None:
            v += bias[r0 + r]
        if act:
            if act == A_RELU:
                if v < 0.0:
                    v = 0.0
            else:
                v = _act(v, act, p0, p1)
        y[yo + r * ystep] = v


def _matvec(m, t, xsrc, xo, K, y, yo, ystep, bias, act, p0, p1, qmode, scale, xq):
    """One input vector through a weight matrix: y[yo + r*ystep] for every row r. Returns the input's int8
    scale where it quantized the input into xq for a q4/q8 matrix, else None."""
    rows = t.shape[0]
    if t.kind == hyq.K_CSR4:
        buf, off = m._weights(t)
        if qmode != hyq.Q_FLOAT:
            s = _quantize(m.k, xsrc, K, xq, scale, xo)
            so, po, co, vo = hyq.csr_layout(rows, t.extra)
            m.k.csr_rows(buf, off, rows, off + so, off + so + po, off + so + po + co, 0, rows, xq, m.acc)
            for r in range(rows):
                b = off + 2 * r
                v = s * _f16(buf[b], buf[b + 1]) * m.acc[2 * r]
                if bias is not None:
                    v += bias[r]
                y[yo + r * ystep] = _act(v, act, p0, p1) if act else v
            return
    if t.kind == hyq.K_F32:
        w = m.consts.get(t.index) or m.view(t.index)
        for r in range(rows):
            v = 0.0
            wo = r * K
            for k in range(K):
                v += w[wo + k] * xsrc[xo + k]
            if bias is not None:
                v += bias[r]
            y[yo + r * ystep] = _act(v, act, p0, p1) if act else v
        return
    if qmode == hyq.Q_FLOAT:
        buf, off, nb, hdr, cb, stride = _row_scales(m, t)
        _float_rows(buf, off, rows, t.qparam >> 4, hdr, cb, stride, hyq.block_size(t.qparam), K, xsrc, xo, y, yo,
                    ystep, bias, act, p0, p1)
        return
    s = _quantize(m.k, xsrc, K, xq, scale, xo)
    sc, asym = _q_rows(m, t, xq, K)
    _finish_rows(m, y, yo, rows, sc, 0, asym, s, bias, act, p0, p1, ystep)
    return s  # xq holds the quantized input at this scale (another matrix may reuse it)


def _decode_row(buf, base, hdr, cb, B, K, scheme, out):
    """The K weights of the q4/q8 row starting at buf[base], decoded to floats in out (the float paths).
    A block's scale products are made once: d * sc * code is (d * sc) * code, so the values are the same."""
    d = _f16(buf[base], buf[base + 1])
    dmin = _f16(buf[base + 2], buf[base + 3]) if scheme == hyq.S_ASYM else 0.0
    cod = base + hdr
    q = cod + cb
    half = cb >> 1
    b = 0
    for k in range(0, K, B):
        end = k + B if k + B < K else K
        if scheme == hyq.S_ASYM:
            g = cod + (b >> 2) * 3
            sh = (b & 3) * 6
            a = d * (((buf[g] | (buf[g + 1] << 8) | (buf[g + 2] << 16)) >> sh) & 63)
            g += half
            c = dmin * (((buf[g] | (buf[g + 1] << 8) | (buf[g + 2] << 16)) >> sh) & 63)
            for j in range(k, end):
                u = buf[q + (j >> 1)]
                out[j] = a * ((u >> 4) if j & 1 else (u & 15)) - c
        else:
            sc = buf[cod + b]
            a = d * (sc - 256 if sc > 127 else sc)
            if scheme == hyq.S_Q8:
                for j in range(k, end):
                    u = buf[q + j]
                    out[j] = a * (u - 256 if u > 127 else u)
            else:
                for j in range(k, end):
                    u = buf[q + (j >> 1)]
                    out[j] = a * (((u >> 4) if j & 1 else (u & 15)) - 8)
        b += 1


def _float_rows(buf, off, rows, scheme, hdr, cb, stride, B, K, xsrc, xo, y, yo, ystep, bias, act, p0, p1):
    """--act float: decode each weight row and multiply in float (slow; for accuracy-critical layers)."""
    w = zeros("f", K)
    for r in range(rows):
        _decode_row(buf, off + r * stride, hdr, cb, B, K, scheme, w)
        v = 0.0
        for k in range(K):
            v += w[k] * xsrc[xo + k]
        if bias is not None:
            v += bias[r]
        y[yo + r * ystep] = _act(v, act, p0, p1) if act else v


# -- linear, conv ----------------------------------------------------------------------------------------

def _int8_input(m, xt, x, o, n, dst, scale):
    """(int8 bytes, scale) of x[o:o+n] for an integer kernel: a view of an int8 tensor, or x quantized into dst
    (scale 0: dynamic)."""
    if xt.dtype == hyq.D_I8:
        return (x if o == 0 and n == len(x) else memoryview(x)[o: o + n]), xt.scale
    return dst, _quantize(m.k, x, n, dst, scale, o)


def op_linear(m, nd):
    a = nd.iattrs  # act, has_bias, qmode, rq
    act, has_bias, qmode, rq = a[0], a[1], a[2], a[3]
    p0, p1 = nd.fattrs[0], nd.fattrs[1]
    xt = m.h.tensors[nd.inputs[0]]
    x = m.view(nd.inputs[0])
    t = m.h.tensors[nd.inputs[1]]
    bias = m.view(nd.inputs[2]) if has_bias else None
    y = m.view(nd.outputs[0])
    K = t.shape[1]
    N = t.shape[0]
    rows = xt.size // K
    if xt.dtype == hyq.D_I8 or rq:
        # integer in (int8 tensor) and/or integer out (requantized int8 tensor)
        table = m.view(nd.inputs[-1]) if rq else None
        for r in range(rows):
            xq, s = _int8_input(m, xt, x, r * K, K, m.xq, xt.scale)
            sc, asym = _q_rows(m, t, xq, K)
            if rq:
                m.k.requant(m.acc, 1, N, table, 0, y, r * N, 1, 0)
            else:
                _finish_rows(m, y, r * N, N, sc, 0, asym, s, bias, act, p0, p1, 1)
        return
    scale = xt.scale if qmode == hyq.Q_STATIC else 0.0
    many = getattr(m.k, "linear_e", None)
    if many is not None and rows > 1 and t.kind == hyq.K_Q4 and qmode != hyq.Q_FLOAT:
        # the path's batched form (ulab): every row through the expanded weights at once
        E = m.expanded.get(t.index)
        if E and many(E, x, rows, K, y, _scales_of(m, t, hyq.q4_layout(K, t.qparam)[4]),
                      (t.qparam >> 4) == hyq.S_ASYM, bias, act, p0, p1, scale) is not False:
            return
    for r in range(rows):
        _matvec(m, t, x, r * K, K, y, r * N, 1, bias, act, p0, p1, qmode, scale, m.xq)


def op_conv(m, nd):
    a = _attrs(m, nd)
    c = a.get("_c")
    if c is not None:  # the whole-layer kernel with its arguments from the first run (see below)
        _conv_whole(m, c)
        return
    p0, p1 = nd.fattrs[0], nd.fattrs[1]
    xt = m.h.tensors[nd.inputs[0]]
    yt = m.h.tensors[nd.outputs[0]]
    t = m.h.tensors[nd.inputs[1]]
    x = m.view(nd.inputs[0])
    y = m.view(nd.outputs[0])
    bias = m.view(nd.inputs[2]) if a["has_bias"] else None
    s = xt.shape
    N, C = s[0], s[1]
    H, W = (1, s[2]) if len(s) == 3 else (s[2], s[3])
    o = yt.shape
    Ho, Wo = (1, o[2]) if len(o) == 3 else (o[2], o[3])
    G = a["groups"]
    cg = C // G
    cout = t.shape[0]
    og = cout // G
    K = t.size // cout  # float weights keep their 4-D shape
    qmode = a["qmode"]
    act = a["act"]
    per_img = C * H * W
    hw = Ho * Wo
    if qmode == hyq.Q_FLOAT or t.kind == hyq.K_F32:
        col = zeros("f", K)
        for n in range(N):
            for g in range(G):
                for oy in range(Ho):
                    for ox in range(Wo):
                        _patch_float(x, n * per_img, g * cg, cg, H, W, a, oy, ox, col)
                        _matvec_group(m, t, g * og, og, col, K, y, (n * cout + g * og) * hw + oy * Wo + ox, hw,
                                      bias, act, p0, p1, hyq.Q_FLOAT, 0.0)
        return
    # int8: quantize the whole input once (one scale per tensor) unless it is an int8 tensor already, then
    # one output row at a time; the output is requantized to int8 (rq) or finished in float
    rq = a["rq"]
    table = m.view(nd.inputs[-1]) if rq else None
    buf, off, nb, hdr, cb, stride = _row_scales(m, t)
    B = hyq.block_size(t.qparam)
    scheme = t.qparam >> 4
    asym = 1 if scheme == hyq.S_ASYM else 0
    rs = None if rq else _scales(m, t, buf, off, stride)  # int8 outputs requantize from the table alone
    q8 = 1 if scheme == hyq.S_Q8 else 0
    acc = m.conv_acc
    whole = getattr(m.k, "conv", None)
    if whole is not None:  # the layer in one kernel call per image
        g = array.array("i", (C, H, W, G, a["kh"], a["kw"], Ho, Wo, a["sh"], a["sw"], a["pt"], a["pl"], a["dh"],
                              a["dw"], og, stride, hdr, cb, nb, B, K, asym, q8, act))
        c = (whole, g, t, xt, x, y, table, rs, bias, N, per_img, cout * hw,
             xt.scale if qmode == hyq.Q_STATIC else 0.0, p0, p1)
        if m.mapped is not None:  # views into the mapped file: keeping them costs no RAM; later runs skip all this
            a["_c"] = c
        _conv_whole(m, c)
        return
    fin = getattr(m.k, "finish", None)
    E = m.expanded.get(t.index)
    if E:  # the path's expanded weights (ulab), several output rows at once
        _conv_e(m, a, E, xt, x, y, N, C, H, W, G, og, Ho, Wo, K, qmode, table, rs, bias, act, p0, p1, asym)
        return
    for n in range(N):
        xin, sc = _int8_input(m, xt, x, n * per_img, per_img, m.xin, xt.scale if qmode == hyq.Q_STATIC else 0.0)
        for g in range(G):
            r0 = g * og
            for oy in range(Ho):
                # one native call per output row fills acc for every (position, channel) of the group
                m.k.conv_row(xin, g * cg, cg, H, W, a["kh"], a["kw"], oy, Wo, a["sh"], a["sw"], a["pt"], a["pl"],
                             a["dh"], a["dw"], m.xq, buf, off + r0 * stride, stride, hdr, cb, nb, B, K, og, m.sx, acc,
                             asym, q8)
                if rq:
                    m.k.requant(acc, Wo, og, table, r0, y, (n * cout + r0) * hw + oy * Wo, hw, 1)
                elif fin is None or fin(acc, Wo, og, rs, r0, sc, bias, act, p0, p1, y, (n * cout + r0) * hw + oy * Wo,
                                        hw, 1, asym) is False:  # the path's float step for a whole row (ulab)
                    _finish_conv_row(y, (n * cout + r0) * hw + oy * Wo, og, Wo, hw, acc, rs, r0, asym, sc, bias,
                                     act, p0, p1)


def _conv_e(m, a, E, xt, x, y, N, C, H, W, G, og, Ho, Wo, K, qmode, table, rs, bias, act, p0, p1, asym):
    """A conv layer through an expanded tensor, ny output rows per kernel call (the path's conv_rows), into
    an accumulator kept for the model."""
    cg = C // G
    hw = Ho * Wo
    per_img = C * H * W
    ny = m.k.conv_rows(K, Wo, Ho, og)
    acc = m.layouts.get("conv_acc")
    if acc is None or len(acc) < 2 * ny * Wo * og:
        acc = m.layouts["conv_acc"] = zeros("i", 2 * ny * Wo * og)
    for n in range(N):
        xin, sc = _int8_input(m, xt, x, n * per_img, per_img, m.xin, xt.scale if qmode == hyq.Q_STATIC else 0.0)
        for g in range(G):
            r0 = g * og
            for oy in range(0, Ho, ny):
                k = min(ny, Ho - oy)
                m.k.conv_e(xin, g * cg, cg, H, W, a["kh"], a["kw"], oy, k, Wo, a["sh"], a["sw"], a["pt"], a["pl"],
                           a["dh"], a["dw"], E, r0, og, acc)
                yo = (n * G * og + r0) * hw + oy * Wo
                if table is not None:
                    m.k.requant(acc, k * Wo, og, table, r0, y, yo, hw, 1)
                elif m.k.finish(acc, k * Wo, og, rs, r0, sc, bias, act, p0, p1, y, yo, hw, 1, asym) is False:
                    for i in range(k):  # an activation the path's finish does not have: the loop, row by row
                        _finish_conv_row(y, yo + i * Wo, og, Wo, hw, memoryview(acc)[2 * i * Wo * og:], rs, r0,
                                         asym, sc, bias, act, p0, p1)


def _conv_whole(m, c):
    """A conv layer through the kernel path's whole-layer kernel, one call per image; c: its arguments."""
    whole, g, t, xt, x, y, table, rs, bias, N, per_img, step, scale, p0, p1 = c
    buf, off = m._weights(t)
    for n in range(N):
        xin, sc = _int8_input(m, xt, x, n * per_img, per_img, m.xin, scale)
        _CONV_F[0], _CONV_F[1], _CONV_F[2] = sc, p0, p1
        whole(xin, g, m.xq, buf, off, m.sx, m.conv_acc, y, n * step, table, rs, bias, _CONV_F)


def _finish_conv_row(y, yo, rows, Wo, hw, acc, sc, r0, asym, s, bias, act, p0, p1):
    """Float step for one output row of conv positions: y[yo + r*hw + ox] from acc[2*(ox*rows + r)]."""
    for r in range(rows):
        i = 2 * (r0 + r)
        d = sc[i] * s
        dm = sc[i + 1] * s
        b = bias[r0 + r] if bias is not None else 0.0
        o = yo + r * hw
        j = 2 * r
        step = 2 * rows
        for ox in range(Wo):
            v = d * acc[j] + b
            if asym:
                v -= dm * acc[j + 1]
            if act:
                if act == A_RELU:
                    if v < 0.0:
                        v = 0.0
                else:
                    v = _act(v, act, p0, p1)
            y[o + ox] = v
            j += step


def _matvec_group(m, t, r0, rows, col, K, y, yo, ystep, bias, act, p0, p1, qmode, scale):
    """Float path of conv: rows r0.. of the weight against one column."""
    if t.kind == hyq.K_F32:
        w = m.view(t.index)
        for r in range(rows):
            v = 0.0
            wo = (r0 + r) * K
            for k in range(K):
                v += w[wo + k] * col[k]
            if bias is not None:
                v += bias[r0 + r]
            y[yo + r * ystep] = _act(v, act, p0, p1) if act else v
        return
    buf, off, nb, hdr, cb, stride = _row_scales(m, t)
    _float_rows(buf, off + r0 * stride, rows, t.qparam >> 4, hdr, cb, stride, hyq.block_size(t.qparam), K, col, 0,
                y, yo, ystep, None if bias is None else memoryview(bias)[r0:], act, p0, p1)


def _patch_float(x, xo, c0, cg, H, W, a, oy, ox, col):
    k = 0
    y0 = oy * a["sh"] - a["pt"]
    x0 = ox * a["sw"] - a["pl"]
    for c in range(c0, c0 + cg):
        cb = xo + c * H * W
        for ky in range(a["kh"]):
            yy = y0 + ky * a["dh"]
            for kx in range(a["kw"]):
                xx = x0 + kx * a["dw"]
                col[k] = x[cb + yy * W + xx] if 0 <= yy < H and 0 <= xx < W else 0.0
                k += 1


def _dequant_row(m, t, row, y, yo):
    """One row of a quantized table (an embedding) decoded to floats."""
    nb, hdr, cb, data, stride = hyq.q4_layout(t.shape[1], t.qparam)
    if m.mapped is not None:
        buf, off = m.mapped, m.h.data_offset + t.offset + row * stride
    else:
        if m.wbuf is None or len(m.wbuf) < stride:
            m.wbuf = bytearray(max(stride, len(m.wbuf) if m.wbuf else 0))
        m.h.read_at(t.offset + row * stride, memoryview(m.wbuf)[:stride], stride)
        m.loaded = -1
        buf, off = m.wbuf, 0
    dec = getattr(m.k, "decode_row", None)
    if dec is not None:
        dec(buf, off, hdr, cb, hyq.block_size(t.qparam), t.shape[1], t.qparam >> 4, y, yo)
        return
    _decode_row(buf, off, hdr, cb, hyq.block_size(t.qparam), t.shape[1], t.qparam >> 4,
                memoryview(y)[yo: yo + t.shape[1]])


def _copy(x, xo, y, yo, n):
    """y[yo:yo+n] = x[xo:xo+n] as one memory copy (both hold the same item type)."""
    memoryview(y)[yo: yo + n] = memoryview(x)[xo: xo + n]


def _outer_inner(shape, axis):
    outer = 1
    for d in shape[:axis]:
        outer *= d
    inner = 1
    for d in shape[axis + 1:]:
        inner *= d
    return outer, shape[axis], inner
