# The kernels as viper code: mpy-cross compiles them to machine code for the board's arch
# (`hyperion-host build-kernels`). Same functions and results as python.py; the calling convention is in
# kernels/__init__.py. Loads from ptr8 are unsigned, so activations are stored as x + 128 and codes
# sign-extended by hand.
import micropython

PATH = "viper"


@micropython.viper
def block_sums(xq: ptr8, K: int, B: int, nb: int, sx: ptr32):
    k = 0
    b = 0
    while b < nb:
        end = k + B
        if end > K:
            end = K
        s = 0
        while k < end:
            s += xq[k]
            k += 1
        sx[b] = s - 128 * (end - (b * B))
        b += 1


@micropython.viper
def q4_rows(w: ptr8, wo: int, stride: int, hdr: int, cb: int, nb: int, B: int, K: int, r0: int, r1: int,
            xq: ptr8, sx: ptr32, acc: ptr32, asym: int):
    half = cb >> 1
    r = r0
    while r < r1:
        cod = wo + r * stride + hdr
        q = cod + cb
        a1 = 0
        a2 = 0
        k = 0
        b = 0
        while b < nb:
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
                mc = 0
            end = k + B
            if end > K:
                end = K
            p = 0
            su = 0
            while k + 1 < end:
                v = w[q + (k >> 1)]
                lo = v & 15
                hi = v >> 4
                p += lo * xq[k] + hi * xq[k + 1]
                su += lo + hi
                k += 2
            if k < end:
                lo = w[q + (k >> 1)] & 15
                p += lo * xq[k]
                su += lo
                k += 1
            p -= su << 7  # xq holds x + 128
            if asym:
                a1 += sc * p
                a2 += mc * sx[b]
            else:
                a1 += sc * (p - 8 * sx[b])
            b += 1
        acc[2 * r] = a1
        acc[2 * r + 1] = a2
        r += 1


@micropython.viper
def q8_rows(w: ptr8, wo: int, stride: int, hdr: int, cb: int, nb: int, B: int, K: int, r0: int, r1: int,
            xq: ptr8, sx: ptr32, acc: ptr32, asym: int):
    r = r0
    while r < r1:
        cod = wo + r * stride + hdr
        q = cod + cb
        a = 0
        k = 0
        b = 0
        while b < nb:
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
            b += 1
        acc[2 * r] = a
        acc[2 * r + 1] = 0
        r += 1


@micropython.viper
def csr_rows(w: ptr8, wo: int, rows: int, ptr_off: int, col_off: int, val_off: int, r0: int, r1: int,
             xq: ptr8, acc: ptr32):
    r = r0
    while r < r1:
        po = ptr_off + 4 * r
        i = w[po] | (w[po + 1] << 8) | (w[po + 2] << 16) | (w[po + 3] << 24)
        e = w[po + 4] | (w[po + 5] << 8) | (w[po + 6] << 16) | (w[po + 7] << 24)
        s = 0
        while i < e:
            co = col_off + 2 * i
            col = w[co] | (w[co + 1] << 8)
            v = w[val_off + (i >> 1)]
            if i & 1:
                v = v >> 4
            s += ((v & 15) - 8) * (xq[col] - 128)
            i += 1
        acc[2 * r] = s
        acc[2 * r + 1] = 0
        r += 1


@micropython.viper
def dot8(a: ptr8, ao: int, stride: int, rows: int, b: ptr8, n: int, out: ptr32):
    r = 0
    while r < rows:
        o = ao + r * stride
        s = 0
        k = 0
        while k < n:
            s += (a[o + k] - 128) * (b[k] - 128)
            k += 1
        out[r] = s
        r += 1


@micropython.viper
def conv_row(xin: ptr8, c0: int, cg: int, H: int, W: int, kh: int, kw: int, oy: int, Wo: int, sh: int, sw: int,
             pt: int, pl: int, dh: int, dw: int, xq: ptr8, w: ptr8, wo: int, stride: int, hdr: int, cb: int, nb: int,
             B: int, K: int, rows: int, sx: ptr32, acc: ptr32, asym: int, q8: int):
    # one output row of a conv group in a single native call: window gather, block sums, weight rows
    half = cb >> 1
    y0 = oy * sh - pt
    ox = 0
    while ox < Wo:
        # gather the window (channel, ky, kx order), padding as x = 0 (stored 128)
        k = 0
        x0 = ox * sw - pl
        c = c0
        while c < c0 + cg:
            cbase = c * H * W
            ky = 0
            while ky < kh:
                y = y0 + ky * dh
                kx = 0
                while kx < kw:
                    x = x0 + kx * dw
                    if 0 <= y and y < H and 0 <= x and x < W:
                        xq[k] = xin[cbase + y * W + x]
                    else:
                        xq[k] = 128
                    k += 1
                    kx += 1
                ky += 1
            c += 1
        # per-block sums of x
        k = 0
        b = 0
        while b < nb:
            end = k + B
            if end > K:
                end = K
            s = 0
            n = end - k
            while k < end:
                s += xq[k]
                k += 1
            sx[b] = s - 128 * n
            b += 1
        # weight rows
        r = 0
        while r < rows:
            cod = wo + r * stride + hdr
            q = cod + cb
            a1 = 0
            a2 = 0
            k = 0
            b = 0
            while b < nb:
                end = k + B
                if end > K:
                    end = K
                if q8:
                    sc = w[cod + b]
                    if sc > 127:
                        sc -= 256
                    p = 0
                    while k < end:
                        v = w[q + k]
                        if v > 127:
                            v -= 256
                        p += v * (xq[k] - 128)
                        k += 1
                    a1 += sc * p
                else:
                    if asym:
                        g = cod + (b >> 2) * 3
                        sh6 = (b & 3) * 6
                        sc = ((w[g] | (w[g + 1] << 8) | (w[g + 2] << 16)) >> sh6) & 63
                        g += half
                        mc = ((w[g] | (w[g + 1] << 8) | (w[g + 2] << 16)) >> sh6) & 63
                    else:
                        sc = w[cod + b]
                        if sc > 127:
                            sc -= 256
                        mc = 0
                    p = 0
                    su = 0
                    while k + 1 < end:
                        v = w[q + (k >> 1)]
                        lo = v & 15
                        hi = v >> 4
                        p += lo * xq[k] + hi * xq[k + 1]
                        su += lo + hi
                        k += 2
                    if k < end:
                        lo = w[q + (k >> 1)] & 15
                        p += lo * xq[k]
                        su += lo
                        k += 1
                    p -= su << 7
                    if asym:
                        a1 += sc * p
                        a2 += mc * sx[b]
                    else:
                        a1 += sc * (p - 8 * sx[b])
                b += 1
            i = 2 * (ox * rows + r)
            acc[i] = a1
            acc[i + 1] = a2
            r += 1
        ox += 1


@micropython.viper
def requant(acc: ptr32, n: int, rows: int, rq: ptr32, r0: int, y: ptr8, yo: int, rstep: int, pstep: int):
    # int32 loads are zero-extended on 64-bit targets: values above 2^31 - 1 are negative numbers there.
    # Both limits are computed at run time: as literals they would not fit a 32-bit target's small int.
    # On 32-bit, lim wraps to 2^31 - 1 and wrap to 0, and no value is ever above lim.
    wrap = 65536
    wrap = wrap * wrap
    lim = 32768
    lim = lim * 65536 - 1
    r = 0
    while r < rows:
        j = 7 * (r0 + r)
        m1 = rq[j]
        m2 = rq[j + 1]
        bq = rq[j + 2]
        if bq > lim:
            bq -= wrap
        S = rq[j + 3]
        P = rq[j + 4]
        lo = rq[j + 5]
        if lo > lim:
            lo -= wrap
        hi = rq[j + 6]
        h = (1 << P) >> 1
        bq += 1 << (S - 1)
        p = 0
        while p < n:
            i = 2 * (p * rows + r)
            a1 = acc[i]
            if a1 > lim:
                a1 -= wrap
            a2 = acc[i + 1]
            if a2 > lim:
                a2 -= wrap
            v = (((a1 + h) >> P) * m1 - ((a2 + h) >> P) * m2 + bq) >> S
            if v < lo:
                v = lo
            elif v > hi:
                v = hi
            y[yo + r * rstep + p * pstep] = v + 128
            p += 1
        r += 1


@micropython.viper
def absmax(x: ptr32, xo: int, n: int) -> int:
    # |x| compared as (exponent, mantissa) bits; on 64-bit targets the load is zero-extended, on 32-bit it is
    # signed, so the fields are taken with shifts and masks
    best = 0
    bi = -1
    i = 0
    while i < n:
        b = x[xo + i]
        m = (((b >> 23) & 255) << 23) | (b & 0x7FFFFF)
        if m > best:
            best = m
            bi = i
        i += 1
    return bi


@micropython.viper
def quantize(x: ptr32, xo: int, n: int, y: ptr8, yo: int, d: ptr32, di: int, mul: int):
    # q = floor(mul * x / D + 1/2) from the bits: x = mx * 2^ex, D = md * 2^ed, so mul*x/D = (mul*mx >> k) / md
    # with k = ed - ex; the bits shifted out decide the rounding (h: the half bit, st: any bit below it).
    # mul * mx < 2^31 (mul <= 127, mx < 2^24): no 32-bit overflow; for k < 0 (mul = 1) a shift of 7 reaches 128.
    db = d[di]
    ed = (db >> 23) & 255
    md = db & 0x7FFFFF
    if ed:
        md |= 0x800000
    else:
        ed = 1
    i = 0
    while i < n:
        b = x[xo + i]
        e = (b >> 23) & 255
        mx = b & 0x7FFFFF
        if e:
            mx |= 0x800000
        else:
            e = 1
        v = mul * mx
        k = ed - e
        h = 0
        st = 0
        if k > 31:
            st = v
            v = 0
        elif k > 0:
            h = (v >> (k - 1)) & 1
            st = v & ((1 << (k - 1)) - 1)
            v = v >> k
        elif k < -7:
            v = 127 * md
        elif k < 0:
            v = v << (0 - k)
        q = v // md
        r = 2 * (v - q * md) + h
        if (b >> 31) & 1:
            if r > md or (r == md and st):
                q += 1
            q = 0 - q
            if q < -127:
                q = -127
        else:
            if r >= md:
                q += 1
            if q > 127:
                q = 127
        y[yo + i] = q + 128
        i += 1


@micropython.viper
def maxpool(x: ptr8, y: ptr8, planes: int, H: int, W: int, Ho: int, Wo: int, kh: int, kw: int, sh: int, sw: int,
            pt: int, pl: int, dh: int, dw: int, width: int, fill: ptr8):
    # items of `width` bytes: int8 (+128) bytes (1) or float32 bits (4, ordered by a sign-and-magnitude key);
    # each window's largest item is copied whole, fill where a window holds no input
    c = 0
    while c < planes:
        xb = c * H * W
        yb = c * Ho * Wo
        oy = 0
        while oy < Ho:
            ox = 0
            while ox < Wo:
                src = -1
                best = 0
                ky = 0
                while ky < kh:
                    yy = oy * sh - pt + ky * dh
                    if 0 <= yy and yy < H:
                        kx = 0
                        while kx < kw:
                            xx = ox * sw - pl + kx * dw
                            if 0 <= xx and xx < W:
                                i = (xb + yy * W + xx) * width
                                if width == 1:
                                    k = x[i]
                                else:
                                    b = x[i] | (x[i + 1] << 8) | (x[i + 2] << 16) | (x[i + 3] << 24)
                                    k = (((b >> 23) & 255) << 23) | (b & 0x7FFFFF)
                                    if (b >> 31) & 1:
                                        k = 0 - k
                                if src < 0 or k > best:
                                    best = k
                                    src = i
                            kx += 1
                    ky += 1
                o = (yb + oy * Wo + ox) * width
                j = 0
                while j < width:
                    if src < 0:
                        y[o + j] = fill[j]
                    else:
                        y[o + j] = x[src + j]
                    j += 1
                ox += 1
            oy += 1
        c += 1


@micropython.viper
def argmax(x: ptr32, n: int) -> int:
    # the first index of the largest float32, by the same integer key as maxpool
    bi = 0
    best = 0
    i = 0
    while i < n:
        b = x[i]
        k = (((b >> 23) & 255) << 23) | (b & 0x7FFFFF)
        if (b >> 31) & 1:
            k = 0 - k
        if i == 0 or k > best:
            best = k
            bi = i
        i += 1
    return bi


@micropython.viper
def ctr_fill(ctr: ptr8, nb: int, counter: int):
    i = 0
    while i < nb:
        v = counter + i
        o = 16 * i + 12
        ctr[o] = (v >> 24) & 255
        ctr[o + 1] = (v >> 16) & 255
        ctr[o + 2] = (v >> 8) & 255
        ctr[o + 3] = v & 255
        i += 1


@micropython.viper
def xor(y: ptr8, yo: int, ks: ptr8, ko: int, n: int):
    i = 0
    while i < n:
        y[yo + i] = y[yo + i] ^ ks[ko + i]
        i += 1
