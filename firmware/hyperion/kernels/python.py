# The kernels in plain Python (bytecode): what CircuitPython and any board without native code run.
# viper.py holds the same functions as viper code; both give identical results (tests/test_kernels.py).
# Arguments, buffers and the accumulator layout: the calling convention in kernels/__init__.py.
import struct

PATH = "python"


def block_sums(xq, K, B, nb, sx):
    k = 0
    for b in range(nb):
        end = k + B
        if end > K:
            end = K
        s = 0
        while k < end:
            s += xq[k] - 128
            k += 1
        sx[b] = s


def q4_rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym):
    """A1/A2 (asym) or A (sym) for weight rows r0..r1-1 of a q4 tensor whose row 0 starts at w[wo]."""
    half = cb >> 1
    for r in range(r0, r1):
        base = wo + r * stride
        cod = base + hdr
        q = cod + cb
        a1 = 0
        a2 = 0
        k = 0
        for b in range(nb):
            if asym:
                g = cod + (b >> 2) * 3
                sh = (b & 3) * 6
                sc = ((w[g] | (w[g + 1] << 8) | (w[g + 2] << 16)) >> sh) & 63
                g += half
                mc = ((w[g] | (w[g + 1] << 8) | (w[g + 2] << 16)) >> sh) & 63
            else:
                sc = w[cod + b]
                if sc > 127:
                    sc -= 256
            end = k + B
            if end > K:
                end = K
            p = 0
            while k + 1 < end:
                v = w[q + (k >> 1)]
                p += (v & 15) * (xq[k] - 128) + (v >> 4) * (xq[k + 1] - 128)
                k += 2
            if k < end:
                p += (w[q + (k >> 1)] & 15) * (xq[k] - 128)
                k += 1
            k = end
            if asym:
                a1 += sc * p
                a2 += mc * sx[b]
            else:
                a1 += sc * (p - 8 * sx[b])
        acc[2 * r] = a1
        acc[2 * r + 1] = a2


def q8_rows(w, wo, stride, hdr, cb, nb, B, K, r0, r1, xq, sx, acc, asym):
    for r in range(r0, r1):
        base = wo + r * stride
        cod = base + hdr
        q = cod + cb
        a = 0
        k = 0
        for b in range(nb):
            c = w[cod + b]
            if c > 127:
                c -= 256
            end = k + B
            if end > K:
                end = K
            p = 0
            while k < end:
                v = w[q + k]
                if v > 127:
                    v -= 256
                p += v * (xq[k] - 128)
                k += 1
            a += c * p
        acc[2 * r] = a
        acc[2 * r + 1] = 0


def csr_rows(w, wo, rows, ptr_off, col_off, val_off, r0, r1, xq, acc):
    """Pruned weights: A = sum over the row's nonzeros of q * x (q = nibble - 8)."""
    for r in range(r0, r1):
        po = ptr_off + 4 * r
        a0 = w[po] | (w[po + 1] << 8) | (w[po + 2] << 16) | (w[po + 3] << 24)
        a1 = w[po + 4] | (w[po + 5] << 8) | (w[po + 6] << 16) | (w[po + 7] << 24)
        s = 0
        for i in range(a0, a1):
            co = col_off + 2 * i
            col = w[co] | (w[co + 1] << 8)
            v = w[val_off + (i >> 1)]
            if i & 1:
                v >>= 4
            s += ((v & 15) - 8) * (xq[col] - 128)
        acc[2 * r] = s
        acc[2 * r + 1] = 0


def dot8(a, ao, stride, rows, b, n, out):
    """out[r] = sum_k (a[ao + r*stride + k] - 128) * (b[k] - 128) for r < rows, k < n (int8 rows . int8 vector:
    attention over a KV cache)."""
    for r in range(rows):
        o = ao + r * stride
        s = 0
        for k in range(n):
            s += (a[o + k] - 128) * (b[k] - 128)
        out[r] = s


def _patch(xin, c0, cg, H, W, kh, kw, oy, ox, sh, sw, pt, pl, dh, dw, xq):
    """Gather one conv window (channels c0..c0+cg-1) into xq, in (channel, ky, kx) order; padding is 0."""
    k = 0
    y0 = oy * sh - pt
    x0 = ox * sw - pl
    for c in range(c0, c0 + cg):
        cb = c * H * W
        for ky in range(kh):
            y = y0 + ky * dh
            for kx in range(kw):
                x = x0 + kx * dw
                if 0 <= y < H and 0 <= x < W:
                    xq[k] = xin[cb + y * W + x]
                else:
                    xq[k] = 128
                k += 1


def conv_row(xin, c0, cg, H, W, kh, kw, oy, Wo, sh, sw, pt, pl, dh, dw, xq, w, wo, stride, hdr, cb, nb, B, K, rows,
             sx, acc, asym, q8):
    """One output row of a conv group: for each position ox, gather the window, then the weight rows.
    acc[2 * (ox * rows + r)] holds A1 (or A), acc[... + 1] A2."""
    kern = q8_rows if q8 else q4_rows
    for ox in range(Wo):
        _patch(xin, c0, cg, H, W, kh, kw, oy, ox, sh, sw, pt, pl, dh, dw, xq)
        block_sums(xq, K, B, nb, sx)
        base = 2 * ox * rows
        kern(w, wo - base // 2 * stride, stride, hdr, cb, nb, B, K, base // 2, base // 2 + rows, xq, sx, acc, asym)


def requant(acc, n, rows, rq, r0, y, yo, rstep, pstep):
    """int8 outputs from accumulators: acc[2*(p*rows + r)] (A1, A2) for positions p < n and rows r, with the
    requantization table rq (7 int32 per row, docs/hyq-format.md); y[yo + r*rstep + p*pstep] = value + 128."""
    for r in range(rows):
        j = 7 * (r0 + r)
        m1 = rq[j]
        m2 = rq[j + 1]
        bq = rq[j + 2] + (1 << (rq[j + 3] - 1))
        S = rq[j + 3]
        P = rq[j + 4]
        h = (1 << P) >> 1
        lo = rq[j + 5]
        hi = rq[j + 6]
        for p in range(n):
            i = 2 * (p * rows + r)
            v = (((acc[i] + h) >> P) * m1 - ((acc[i + 1] + h) >> P) * m2 + bq) >> S
            if v < lo:
                v = lo
            elif v > hi:
                v = hi
            y[yo + r * rstep + p * pstep] = v + 128


def absmax(x, xo, n):
    """The index (from xo) of the largest |x[i]| of floats x[xo:xo+n], or -1 if they are all zero."""
    v = memoryview(x)[xo: xo + n]
    hi = max(v)
    lo = min(v)
    if hi <= 0.0 and lo >= 0.0:
        return -1
    t = hi if hi >= -lo else lo
    for i in range(n):
        if v[i] == t:
            return i


def quantize(x, xo, n, y, yo, d, di, mul):
    """y[yo+i] = clip(floor(mul * x[xo+i] / |d[di]| + 1/2), -127, 127) + 128: the exact rounding of the
    rational value. The float quotient decides, except within a hair of a half, where the float rounding of a
    single-precision port could tip it: there the integer rounding of the bits decides (as the viper kernel)."""
    dv = abs(d[di])
    for i in range(n):
        v = (x[xo + i] * mul) / dv  # may be inf on a single-float port: clipped before any int()
        if v >= 127.0:
            y[yo + i] = 255
        elif v <= -127.0:
            y[yo + i] = 1
        elif v != v:  # NaN (model.allow_nonfinite): its bits saturate by their sign, as in the viper and C kernels
            y[yo + i] = 1 if struct.unpack_from("<I", x, 4 * (xo + i))[0] >> 31 else 255
        else:
            f = v + 128.5
            q = int(f)  # > 0 here: truncation is floor
            if f - q < 1e-4 or f - q > 0.9999:
                q = _exact(x, xo + i, d, di, mul)
            y[yo + i] = q


def _exact(x, i, d, di, mul):
    """clip(floor(mul * x[i] / |d[di]| + 1/2), -127, 127) + 128 in integers from the float32 bits: x = mx * 2^ex,
    D = md * 2^ed, so the quotient is (mul*mx >> (ed - ex)) / md; the bits shifted out decide the half."""
    db = struct.unpack_from("<I", d, 4 * di)[0]
    ed = (db >> 23) & 255
    md = (db & 0x7FFFFF) | (0x800000 if ed else 0)
    ed = ed or 1
    b = struct.unpack_from("<I", x, 4 * i)[0]
    e = (b >> 23) & 255
    v = mul * ((b & 0x7FFFFF) | (0x800000 if e else 0))
    k = ed - (e or 1)
    h = st = 0
    if k > 0:
        h = (v >> (k - 1)) & 1
        st = v & ((1 << (k - 1)) - 1)
        v >>= k
    elif k < 0:
        v <<= -k
    q = v // md
    r = 2 * (v - q * md) + h
    if b >> 31:
        q = -(q + (1 if r > md or (r == md and st) else 0))
    else:
        q += 1 if r >= md else 0
    return 128 + (-127 if q < -127 else (127 if q > 127 else q))


def maxpool(x, y, planes, H, W, Ho, Wo, kh, kw, sh, sw, pt, pl, dh, dw, width, fill):
    """Max pooling on int8 (+128) or float planes (width: 1 or 4 bytes an item, for the viper version);
    windows clipped to the input, fill[0] where a window holds no input."""
    for c in range(planes):
        xb = c * H * W
        yb = c * Ho * Wo
        for oy in range(Ho):
            for ox in range(Wo):
                best = None
                for ky in range(kh):
                    yy = oy * sh - pt + ky * dh
                    if yy < 0 or yy >= H:
                        continue
                    for kx in range(kw):
                        xx = ox * sw - pl + kx * dw
                        if 0 <= xx < W:
                            v = x[xb + yy * W + xx]
                            if best is None or v > best:
                                best = v
                y[yb + oy * Wo + ox] = fill[0] if best is None else best

def argmax(x, n):
    """The first index of the largest of x[0:n]."""
    best = 0
    for i in range(1, n):
        if x[i] > x[best]:
            best = i
    return best


def ctr_fill(ctr, nb, counter):
    """Blocks i < nb of ctr (16 bytes each) get counter + i, big-endian, in bytes 12..15 (AES-CTR counters)."""
    for i in range(nb):
        v = counter + i
        o = 16 * i + 12
        ctr[o] = (v >> 24) & 255
        ctr[o + 1] = (v >> 16) & 255
        ctr[o + 2] = (v >> 8) & 255
        ctr[o + 3] = v & 255


def xor(y, yo, ks, ko, n):
    """y[yo + i] ^= ks[ko + i] for i < n."""
    for i in range(n):
        y[yo + i] ^= ks[ko + i]
