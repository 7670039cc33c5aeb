# The ulab path's integer kernels (kernels/ulab.py is the path; it takes these from here): the row products of
# q4/q8 weights against int8 activations, kept exact. ulab has no int32 dtype, and its dot and sums are float32,
# exact below 2^24. So a product of a block of columns (at most 32 * 15 * 128 for q4, 32 * 127 * 128 for q8) is
# exact; block results are multiplied by their scale codes and summed as two float32 halves (hi * 4096 + lo,
# each exact), and written to the int32 accumulators through 16-bit views. The results equal the bytecode
# path's bit for bit.
#
# Allocation: array code makes temporaries. They are bounded (CHUNK items: rows are taken CHUNK // K at a time)
# and short-lived; the bytecode glue around them allocates nothing more than before.
from ulab import numpy as np

from hyperion.kernels import python as _py

CHUNK = 4096  # items of the largest temporary matrix a kernel makes (budget() lowers it on a small heap)
_F = np.float


def _fv(buf, o, n):
    """n float32s of buf from item o, as an ndarray over the same memory."""
    return np.frombuffer(buf, dtype=_F, count=n, offset=4 * o)


def _u8(buf, o, n):
    return np.frombuffer(buf, dtype=np.uint8, count=n, offset=o)


# -- exact integer sums ------------------------------------------------------------------------------------

def _split(v):
    """v (float32 integers, |v| < 2^24) as (hi, lo) with v = hi * 4096 + lo, 0 <= lo < 4096."""
    h = np.floor(v / 4096.0)
    return h, v - h * 4096.0


def _store(acc, o, step, rows, hi, lo):
    """acc[o + i*step] = hi[i] * 4096 + lo[i] for i < rows, as int32 (through its 16-bit halves). hi, lo: exact
    float32 integers, lo >= 0 (any size below 2^24)."""
    c = np.floor(lo / 4096.0)
    hi = hi + c
    lo = lo - c * 4096.0
    h16 = np.floor(hi / 16.0)  # int32 = h16 * 65536 + l16
    l16 = (hi - h16 * 16.0) * 4096.0 + lo
    lo16 = np.frombuffer(acc, dtype=np.uint16, count=2 * ((rows - 1) * step + 1), offset=4 * o)
    hi16 = np.frombuffer(acc, dtype=np.int16, count=2 * ((rows - 1) * step + 1), offset=4 * o)
    lo16[0::2 * step] = l16
    hi16[1::2 * step] = h16


def _acc_f(acc, o, n, step):
    """acc[o + i*step] for i < n as float32 (the int32 rounded once, as C's (float))."""
    lo = np.frombuffer(acc, dtype=np.uint16, count=2 * ((n - 1) * step + 1), offset=4 * o)
    hi = np.frombuffer(acc, dtype=np.int16, count=2 * ((n - 1) * step + 1), offset=4 * o)
    return hi[1::2 * step] * 65536.0 + lo[0::2 * step]


def _x16(xq, xo, n):
    """int8 (+128) bytes as int16 values x - 128."""
    return np.array(_u8(xq, xo, n), dtype=np.int16) - 128


# -- the calling convention's integer kernels ---------------------------------------------------------------

def block_sums(xq, K, B, nb, sx):
    x = _x16(xq, 0, K)
    for b in range(nb):
        e = b * B + B
        sx[b] = int(np.sum(x[b * B: e if e < K else K]))


def _add(h, l, v, c):
    """(h, l) + c * v, exactly: v split into halves that stay exact times a code c (|c| < 2^7), the low half
    renormalized into the high one."""
    vh, vl = _split(v)
    h = h + vh * c
    l = l + vl * c
    k = np.floor(l / 4096.0)
    return h + k, l - k * 4096.0


def _rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, X, acc, asym, q8):
    """Row sums of q4 (q8) weight rows r0..r1-1 (row r at w[wo + r*stride]) against the columns of X (int16
    x - 128, shape (K, nc)): A1, A2 of row r, column j into acc[2*(j*r1 + r)], acc[2*(j*r1 + r) + 1]. Rows are
    taken CHUNK items at a time: q4 rows expanded as expand() does and summed as a cached expansion is, q8 rows
    block by block."""
    nc = X.shape[1]
    nq = K if q8 else (K + 1) >> 1
    per = CHUNK // (nq * nc) or 1
    for c0 in range(r0, r1, per):
        n = min(per, r1 - c0)
        m = np.frombuffer(w, dtype=np.uint8, count=n * stride, offset=wo + c0 * stride).reshape((n, stride))
        if q8:
            a1h, a1l, a2h, a2l = _q8_blocks(m, n, nb, B, K, hdr, cb, X)
        else:
            a1h, a1l, a2h, a2l = _sums_e(_expand_rows(m, n, nb, B >> 1, nq, nb * (B >> 1), hdr, cb, asym) + (B,),
                                         0, n, X)
        for j in range(nc):
            o = 2 * (j * r1 + c0)
            _store(acc, o, 2, n, a1h[:, j], a1l[:, j])
            _store(acc, o + 1, 2, n, a2h[:, j], a2l[:, j])


def _q8_blocks(m, n, nb, B, K, hdr, cb, X):
    """(A1 hi, A1 lo, 0, 0) of n q8 rows: each block's product is exact (< 2^24), times its int8 code in two
    exact halves."""
    q = np.array(m[:, hdr + cb: hdr + cb + K], dtype=np.int16)
    q = q - np.array(q >= 128, dtype=np.int16) * 256
    sc = np.array(m[:, hdr: hdr + nb], dtype=np.int16)
    sc = sc - np.array(sc >= 128, dtype=np.int16) * 256
    a1h = a1l = z = np.zeros((n, X.shape[1]), dtype=_F)
    for b in range(nb):
        s = b * B
        e = s + B if s + B < K else K
        a1h, a1l = _add(a1h, a1l, np.dot(q[:, s:e], X[s:e, :]), sc[:, b: b + 1])
    return a1h, a1l, z, z


# -- cached expanded weights -------------------------------------------------------------------------------
# Unpacking nibbles and codes costs more array passes than the products themselves, so the glue (layers.py) asks
# for each q4 tensor's expansion once: E = code * nibble as int16 (2 bytes a weight, 4x the q4 bytes), while
# the model's budget allows. The row sums are then a few dot products per call; tensors past the budget take the
# block-by-block products every call.
CACHE = None  # bytes of expansions a model may keep; None: half the heap free at its first expansion, <= 1 MB


def budget():
    """Bytes of expansions a model may keep, decided at its first one: CACHE, or half the free heap less room
    for the temporaries (about 24 bytes an item of CHUNK, which is made smaller to fit a small heap)."""
    global CHUNK
    import gc

    gc.collect()
    free = gc.mem_free()
    CHUNK = max(256, min(4096, free // 96))
    if CACHE is not None:
        return CACHE
    return max(0, min(free // 2 - 24 * CHUNK, 1 << 20))


def expand(w, wo, stride, hdr, cb, nb, B, K, rows, asym, room):
    """(lo, hi, mins, B) of a q4 tensor: int16 code * nibble matrices (rows, nb * B/2) for the even and the odd
    columns (a partial last block padded: those columns meet x = 0), the min codes (rows, nb) of asym rows (else
    None), and the block size; None where that needs more than room bytes."""
    h2 = B >> 1
    nqp = nb * h2
    if rows * (2 * nqp + (nb if asym else 0)) * 2 > room:
        return None
    m = np.frombuffer(w, dtype=np.uint8, count=rows * stride, offset=wo).reshape((rows, stride))
    e = []
    per = CHUNK // nqp or 1  # CHUNK items of temporaries at a time
    for r0 in range(0, rows, per):
        n = min(per, rows - r0)
        e.append(_expand_rows(m[r0: r0 + n, :], n, nb, h2, (K + 1) >> 1, nqp, hdr, cb, asym))
    if len(e) > 1:
        e = [tuple(np.concatenate(tuple(p[i] for p in e)) if e[0][i] is not None else None for i in range(3))]
    return e[0] + (B,)


def _expand_rows(m, n, nb, h2, nq, nqp, hdr, cb, asym):
    q = m[:, hdr + cb: hdr + cb + nq]
    if nqp > nq:  # a partial last block
        p = np.zeros((n, nqp), dtype=np.uint8)
        p[:, 0:nq] = q
        q = p
    lo = np.array(q & 15, dtype=np.int16)
    hi = np.array(np.right_shift(q, 4), dtype=np.int16)
    mc = None
    if asym:
        sc, mc = _codes_all(m, n, nb, hdr, cb)
    else:
        sc = np.array(m[:, hdr: hdr + nb], dtype=np.int16)
        sc = sc - np.array(sc >= 128, dtype=np.int16) * 256  # int8 codes
        lo = lo - 8
        hi = hi - 8
    sc = sc.reshape((n * nb, 1))
    return (lo.reshape((n * nb, h2)) * sc).reshape((n, nqp)), (hi.reshape((n * nb, h2)) * sc).reshape((n, nqp)), \
        (np.array(mc, dtype=np.int16) if mc is not None else None)


def _block_sums(X, B, nb):
    """(nb, nc) float32 sums of each block of B rows of X (int16, (K, nc)): exact, |sum| <= 127 * B."""
    K, nc = X.shape
    if nc == 1 and K == nb * B:
        return np.sum(np.array(X.reshape((nb, B)), dtype=_F), axis=1).reshape((nb, 1))
    out = np.zeros((nb, nc), dtype=_F)
    for b in range(nb):
        out[b, :] = np.sum(np.array(X[b * B: b * B + B, :], dtype=_F), axis=0)
    return out


def rows_e(E, r0, r1, X, acc):
    """Row sums of rows r0..r1-1 of an expanded q4 tensor against the columns of X (int16 x - 128, (K, nc))
    into acc[2*(j*(r1-r0) + r)], acc[... + 1] for row r - r0, column j."""
    a1h, a1l, a2h, a2l = _sums_e(E, r0, r1, X)
    n = r1 - r0
    for j in range(X.shape[1]):
        _store(acc, 2 * j * n, 2, n, a1h[:, j], a1l[:, j])
        _store(acc, 2 * j * n + 1, 2, n, a2h[:, j], a2l[:, j])


def _sums_e(E, r0, r1, X):
    """(A1 hi, A1 lo, A2 hi, A2 lo), each (r1 - r0, nc): A1 = E . x in parts of 128 columns (exact: 2 * 64 *
    1024 * 127 < 2^24), A2 = mins . (block sums of x)."""
    lo, hi, mc, B = E
    nq = lo.shape[1]
    K = X.shape[0]
    nc = X.shape[1]
    xe = X[0::2, :]
    xo = X[1::2, :]
    if nq > K >> 1:  # padded columns (a partial last block, an odd K): x = 0 there
        xe = np.zeros((nq, nc), dtype=np.int16)
        xe[0: (K + 1) >> 1, :] = X[0::2, :]
        xo = np.zeros((nq, nc), dtype=np.int16)
        xo[0: K >> 1, :] = X[1::2, :]
    if r0 or r1 != lo.shape[0]:
        lo, hi = lo[r0:r1, :], hi[r0:r1, :]
        mc = mc[r0:r1, :] if mc is not None else None
    a1h = a1l = a2h = a2l = np.zeros((r1 - r0, nc), dtype=_F)
    for s in range(0, nq, 64):
        e = s + 64 if s + 64 < nq else nq
        a1h, a1l = _add(a1h, a1l, np.dot(lo[:, s:e], xe[s:e, :]) + np.dot(hi[:, s:e], xo[s:e, :]), 1.0)
    if mc is not None:
        nb = mc.shape[1]
        sx = _block_sums(X, B, nb)
        for s in range(0, nb, 32):  # 32 * 63 * 127 * B < 2^24 for B <= 64
            a2h, a2l = _add(a2h, a2l, np.dot(mc[:, s: s + 32], sx[s: s + 32, :]), 1.0)
    return a1h, a1l, a2h, a2l


def q4_rows_e(E, K, xq, acc):
    rows_e(E, 0, E[0].shape[0], _xcol(xq, K), acc)


def conv_rows(K, Wo, Ho, og):
    """How many output rows conv_e takes at once: its window matrix (K x rows*Wo) at most 2 CHUNKs, its sums
    (og x rows*Wo, four of them) at most half a CHUNK each."""
    return max(1, min(Ho, 2 * CHUNK // (K * Wo), CHUNK // (2 * og * Wo)))


def conv_e(xin, c0, cg, H, W, kh, kw, oy0, ny, Wo, sh, sw, pt, pl, dh, dw, E, r0, rows, acc):
    """Output rows oy0..oy0+ny-1 of a conv group at once (their positions p = (oy - oy0)*Wo + ox): the windows
    gathered with one 2-D slice per window element, then rows_e: acc[2*(p*rows + r)], acc[... + 1]."""
    K = cg * kh * kw
    o = np.full((K * ny, Wo), 128, dtype=np.uint8)  # row k*ny + i: window element k of output row oy0 + i
    for c in range(c0, c0 + cg):
        plane = np.frombuffer(xin, dtype=np.uint8, count=H * W, offset=c * H * W).reshape((H, W))
        for ky in range(kh):
            y = oy0 * sh - pt + ky * dh  # input row of output row oy0; then every sh-th
            i0 = 0 if y >= 0 else (sh - 1 - y) // sh
            i1 = ny if y + (ny - 1) * sh < H else (H - 1 - y) // sh + 1
            if i1 <= i0:
                continue
            src = plane[y + i0 * sh: y + (i1 - 1) * sh + 1: sh, :]
            k = ((c - c0) * kh + ky) * kw
            for kx in range(kw):
                off = -pl + kx * dw
                j0 = 0 if off >= 0 else (sw - 1 - off) // sw
                j1 = Wo if off + (Wo - 1) * sw < W else (W - 1 - off) // sw + 1
                if j1 > j0:
                    o[(k + kx) * ny + i0: (k + kx) * ny + i1, j0:j1] = src[:, off + j0 * sw: off + (j1 - 1) * sw + 1: sw]
    X = np.array(o.reshape((K, ny * Wo)), dtype=np.int16) - 128
    rows_e(E, r0, r0 + rows, X, acc)


def _codes_all(m, n, nb, hdr, cb):
    """The 6-bit scale and min codes of n q4-asym rows ((n, nb) int16 each): four codes in each three bytes,
    the scale codes' bytes first."""
    c = np.array(m[:, hdr: hdr + cb], dtype=_F)
    v = c[:, 0::3] + c[:, 1::3] * 256.0 + c[:, 2::3] * 65536.0  # (n, groups): 24 bits, exact
    g = v.shape[1]
    out = np.zeros((n, 4 * g), dtype=np.int16)
    for k in range(4):
        u = np.floor(v / float(1 << (6 * k)))
        out[:, k::4] = u - np.floor(u / 64.0) * 64.0
    g = 2 * g  # groups of the scale codes: the first half
    return out[:, 0:nb], out[:, g: g + nb]


def _xcol(xq, K):
    return (np.array(_u8(xq, 0, K), dtype=np.int16) - 128).reshape((K, 1))


def q4_rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym):
    _rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, _xcol(xq, K), acc, asym, 0)


def q8_rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym):
    _rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, _xcol(xq, K), acc, 0, 1)


def dot8(a, ao, stride, rows, b, n, out):
    """out[r] = sum_k (a[ao + r*stride + k] - 128) * (b[k] - 128): rows whose whole stride lies in a as one
    matrix (CHUNK items at a time), the last ones alone."""
    x = _x16(b, 0, n)
    per = CHUNK // stride or 1
    r = 0
    while r < rows:
        k = min(per, rows - r, (len(a) - ao - r * stride) // stride)
        if k < 2:  # one row
            v = _x16(a, ao + r * stride, n)
            t = 0
            for s in range(0, n, 1024):  # 1024 * 127 * 128 < 2^24: each part exact
                t += int(np.dot(v[s: s + 1024], x[s: s + 1024]))
            out[r] = t
            r += 1
            continue
        m = np.frombuffer(a, dtype=np.uint8, count=k * stride, offset=ao + r * stride).reshape((k, stride))
        v = np.array(m[:, 0:n], dtype=np.int16) - 128
        hi = lo = np.zeros(k, dtype=_F)
        for s in range(0, n, 1024):
            hi, lo = _add(hi, lo, np.dot(v[:, s: s + 1024], x[s: s + 1024]), 1.0)
        _store(out, r, 1, k, hi, lo)
        r += k


def conv_row(xin, c0, cg, H, W, kh, kw, oy, Wo, sh, sw, pt, pl, dh, dw, xq, w, wo, stride, hdr, cb, nb, B, K, rows,
             sx, acc, asym, q8):
    """One output row: the windows of Wo columns gathered into a (K, Wo) matrix with one slice per window
    element, then every weight row against every column (CHUNK items of columns at a time)."""
    per = CHUNK // K or 1
    for x0 in range(0, Wo, per):
        n = min(per, Wo - x0)
        cols = _im2col(xin, c0, cg, H, W, kh, kw, oy, x0, n, sh, sw, pt, pl, dh, dw, K)
        X = np.array(cols, dtype=np.int16) - 128
        _rows(w, wo, stride, hdr, cb, nb, B, K, 0, rows, X, memoryview(acc)[2 * x0 * rows:], asym, q8)
    _u8(xq, 0, K)[:] = cols[:, n - 1]  # the scratch ends as the bytecode kernel leaves it: the last window
    block_sums(xq, K, B, nb, sx)


def _im2col(xin, c0, cg, H, W, kh, kw, oy, x0, n, sh, sw, pt, pl, dh, dw, K):
    """(K, n) uint8: column i holds the window of output column x0 + i, in (channel, ky, kx) order (128, the
    int8 zero, where it lies outside the input). One strided 2-D slice per (channel, kx): the window's rows in
    the input fill every kw-th row of the matrix."""
    o = np.full((K, n), 128, dtype=np.uint8)
    y0 = oy * sh - pt
    k0 = 0 if y0 >= 0 else (dh - 1 - y0) // dh  # the kernel rows inside the input
    k1 = kh if y0 + (kh - 1) * dh < H else (H - 1 - y0) // dh + 1
    if k1 <= k0:
        return o
    for c in range(c0, c0 + cg):
        rows = np.frombuffer(xin, dtype=np.uint8, count=H * W, offset=c * H * W).reshape((H, W))
        rows = rows[y0 + k0 * dh: y0 + (k1 - 1) * dh + 1: dh, :]
        base = (c - c0) * kh * kw
        for kx in range(kw):
            off = x0 * sw - pl + kx * dw  # input column of output column x0; then every sw-th
            i0 = 0 if off >= 0 else (sw - 1 - off) // sw
            i1 = n if off + (n - 1) * sw < W else (W - 1 - off) // sw + 1
            if i1 > i0:
                o[base + k0 * kw + kx: base + (k1 - 1) * kw + kx + 1: kw, i0:i1] = \
                    rows[:, off + i0 * sw: off + (i1 - 1) * sw + 1: sw]
    return o


def absmax(x, xo, n):
    v = abs(_fv(x, xo, n))
    i = int(np.argmax(v))
    return -1 if v[i] == 0.0 else i


def quantize(x, xo, n, y, yo, d, di, mul):
    """As the bytecode kernel: the float quotient decides, the exact integer rounding within a hair of a half
    (and NaN by its sign bit), both from the bytecode kernel."""
    v = _fv(x, xo, n) * float(mul) / abs(d[di])
    f = np.clip(v, -127.0, 127.0) + 128.5
    q = np.floor(f)
    _u8(y, yo, n)[:] = q
    r = f - q
    odd = np.nonzero((r < 1e-4) | (r > 0.9999) | (v != v))[0]  # near a half (or NaN): decided exactly
    for i in odd:
        i = int(i)
        if -127.0 < v[i] < 127.0:
            y[yo + i] = _py._exact(x, xo + i, d, di, mul)
        elif v[i] != v[i]:
            _py.quantize(x, xo + i, 1, y, yo + i, d, di, mul)
