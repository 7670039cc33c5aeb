"""Fitting weights to the formats of weights.py: blocked int4/int8 and magnitude pruning.

The quantizer does better than round-to-nearest: block scales and minimums are fitted by (importance-weighted)
least squares, in the spirit of GGML's make_qkx quants, and with calibration data GPTQ-style error feedback
spreads each column's rounding error over the columns not yet quantized."""

import numpy as np

from hyperion.hyq import S_ASYM, S_Q8, S_SYM
from hyperion_host.model.weights import F16_TINY, QuantizedWeight, f16

CHUNK_ROWS = 512


def _rowsum(a):
    """Sum over the last axis as a matrix-vector product: several times faster than a short-axis reduce."""
    return a @ np.ones(a.shape[-1], a.dtype)


# -- fitting block scales ------------------------------------------------------------------------------

def _fit_asym(x, imp, iters=2):
    """Per block (rows of x): scale s >= 0 and min m <= 0 so that x ~ s*u + m, u in 0..15.
    imp: importance weights like x, or None for plain least squares."""
    xmin = np.minimum(x.min(1, keepdims=True), 0)
    xmax = np.maximum(x.max(1, keepdims=True), 0)
    s = (xmax - xmin) / 15
    m = xmin
    xi = x if imp is None else x * imp
    sw = np.float32(x.shape[1]) if imp is None else _rowsum(imp)[:, None]
    sx = _rowsum(xi)[:, None]
    for _ in range(iters):
        u = (x - m) * (1 / np.where(s == 0, 1, s))
        np.rint(u, out=u)
        np.clip(u, 0, 15, out=u)
        ui = u if imp is None else u * imp
        # weighted least squares for (s, m) given u
        su = _rowsum(ui)[:, None]
        suu = _rowsum(ui * u)[:, None]
        sux = _rowsum(ui * x)[:, None]
        det = sw * suu - su * su
        ok = det > 1e-12 * np.maximum(sw * suu, 1e-30)
        s2 = (sw * sux - su * sx) / np.where(ok, det, 1)
        m2 = (sx - s2 * su) / np.where(sw == 0, 1, sw)
        ok &= s2 > 0
        m2 = np.minimum(m2, 0)
        s = np.where(ok, s2, s)
        m = np.where(ok, m2, m)
    return s[:, 0], m[:, 0]


def _fit_sym(x, imp, qmin=-8, qmax=7, cands=(-8.0, -7.5, -8.5, -9.0)):
    """Per block: a signed scale s so that x ~ s*q, q in qmin..qmax. The block's largest magnitude
    goes to the -8 end (the sign trick), and a few clipping levels are tried, keeping the best."""
    idx = np.abs(x).argmax(1)
    mx = np.take_along_axis(x, idx[:, None], 1)
    best_e = np.full(x.shape[0], np.inf, np.float64)
    best_s = np.zeros(x.shape[0], np.float32)
    for c in cands:
        s = mx / c
        q = np.clip(np.rint(x / np.where(s == 0, 1, s)), qmin, qmax)
        # least-squares rescale given q
        qi = q if imp is None else q * imp
        qq = (qi * q).sum(1, keepdims=True)
        s = np.where(qq > 0, (qi * x).sum(1, keepdims=True) / np.where(qq > 0, qq, 1), s)
        q = np.clip(np.rint(x / np.where(s == 0, 1, s)), qmin, qmax)
        e = (x - q * s) ** 2
        e = (e if imp is None else e * imp).sum(1)
        better = e < best_e
        best_e = np.where(better, e, best_e)
        best_s = np.where(better, s[:, 0], best_s)
    return best_s


def _pad_blocks(w, block):
    rows, cols = w.shape
    kp = (cols + block - 1) // block * block
    if kp == cols:
        return w
    out = np.zeros((rows, kp), w.dtype)
    out[:, :cols] = w
    return out


def quantize_weight(w, bits=4, block=32, scheme="asym", importance=None, hessian=None, threads=1):
    """Quantize W [rows, cols]. importance: per-column weights (mean x^2 from calibration) for the fits;
    hessian: X^T X from calibration inputs, which turns on GPTQ error feedback. Returns QuantizedWeight."""
    w = np.asarray(w, np.float32)
    rows, cols = w.shape
    sch = S_Q8 if bits == 8 else (S_ASYM if scheme == "asym" else S_SYM)
    imp = None if importance is None else np.maximum(np.asarray(importance, np.float32), 1e-8)
    if hessian is not None:
        if imp is None:
            imp = np.ones(cols, np.float32)
        return _gptq(w, block, sch, imp, np.asarray(hessian, np.float64))
    if rows > CHUNK_ROWS or (threads > 1 and rows >= 256):
        # cache-sized pieces (several times faster on big matrices), on several cores if asked: numpy
        # releases the GIL, so threads run the pieces in parallel
        step = CHUNK_ROWS if threads <= 1 else max(128, min(CHUNK_ROWS, -(-rows // threads)))
        pieces = [w[i: i + step] for i in range(0, rows, step)]
        one = lambda piece: quantize_weight(piece, bits, block, scheme, importance)  # noqa: E731
        if threads > 1 and len(pieces) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(threads, len(pieces))) as ex:
                parts = list(ex.map(one, pieces))
        else:
            parts = [one(p) for p in pieces]
        return QuantizedWeight(rows, cols, block, sch, *(np.concatenate([getattr(p, k) for p in parts])
                                                         for k in ("u", "d", "dmin", "sc", "mc")))
    wp = _pad_blocks(w, block)
    nb = wp.shape[1] // block
    # padding columns carry no weight in the fits
    impp = _pad_blocks((np.ones(cols, np.float32) if imp is None else imp)[None, :], block)[0]
    if imp is None and cols == wp.shape[1]:
        impp = None
    x = wp.reshape(rows * nb, block)
    ib = None if impp is None else np.broadcast_to(impp.reshape(1, nb, block), (rows, nb, block)).reshape(-1, block)
    if sch == S_ASYM:
        s, m = _fit_asym(x, ib)
        return _codes_asym(wp, s.reshape(rows, nb), m.reshape(rows, nb), block, cols, impp)
    if sch == S_SYM:
        s = _fit_sym(x, ib).reshape(rows, nb)
    else:
        s = _fit_sym(x, ib, -127, 127, cands=(-127.0,)).reshape(rows, nb)
    return _codes_sym(wp, s, block, cols, sch)


def _codes_asym(wp, s, m, block, cols, impp=None):
    """Turn per-block (s, m) into 6-bit codes against fp16 row scales, then requantize the weights."""
    rows, kp = wp.shape
    nb = kp // block
    d = f16(np.maximum(s.max(1) / 63, F16_TINY))
    dmin = f16(np.maximum((-m).max(1), 0) / 63)
    sc = np.clip(np.rint(s / d[:, None]), 0, 63).astype(np.int32)
    mc = np.clip(np.rint(-m / np.where(dmin == 0, 1, dmin)[:, None]), 0, 63).astype(np.int32)
    mc[dmin == 0] = 0
    x = wp.reshape(rows, nb, block)
    mb = (-dmin[:, None] * mc)[..., None].astype(np.float32)
    xm = x - mb
    w8 = None if impp is None else impp.reshape(1, nb, block)

    def fit(c):
        sb = (d[:, None] * c)[..., None].astype(np.float32)
        zero = sb == 0
        u = xm * (1 / np.where(zero, 1, sb))
        np.rint(u, out=u)
        np.clip(u, 0, 15, out=u)
        if zero.any():
            u *= ~zero
        return u, sb

    def err(u, sb):
        e = u * sb
        e -= xm
        e *= e
        if w8 is not None:
            e *= w8
        return _rowsum(e)

    # the scale code was rounded to nearest: also try the code on the other side of the exact value
    other = np.clip(np.where(s / d[:, None] > sc, sc + 1, sc - 1), 0, 63)
    u0, sb0 = fit(sc)
    u1, sb1 = fit(other)
    pick = err(u1, sb1) < err(u0, sb0)
    best_sc = np.where(pick, other, sc)
    u = np.where(pick[..., None], u1, u0)
    return QuantizedWeight(rows, cols, block, S_ASYM, u.reshape(rows, kp).astype(np.int32), d, dmin,
                           best_sc.astype(np.int32), mc)


def _codes_sym(wp, s, block, cols, sch):
    rows, kp = wp.shape
    nb = kp // block
    d = f16(np.maximum(np.abs(s).max(1) / 127, F16_TINY))
    c = np.clip(np.rint(s / d[:, None]), -127, 127).astype(np.int32)
    sb = (d[:, None] * c)[..., None]
    x = wp.reshape(rows, nb, block)
    if sch == S_SYM:
        q = np.clip(np.rint(x / np.where(sb == 0, 1, sb)), -8, 7) * (sb != 0)
        u = q + 8
    else:
        u = np.clip(np.rint(x / np.where(sb == 0, 1, sb)), -127, 127) * (sb != 0)
    return QuantizedWeight(rows, cols, block, sch, u.reshape(rows, kp).astype(np.int32), d,
                           np.zeros(rows, np.float32), c, np.zeros_like(c))


def _gptq(w, block, sch, imp, H, damp=0.01):
    """GPTQ (Frantar et al.) with this format: row scales fixed from W up front, block scales fitted when
    the block is reached (from the error-corrected weights), each column's rounding error pushed onto the
    columns after it through the inverse Hessian."""
    rows, cols = w.shape
    W = w.astype(np.float64).copy()
    H = H.copy()
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += np.eye(cols) * damp * np.mean(np.diag(H))
    try:
        Hinv = np.linalg.cholesky(np.linalg.inv(H)).T  # upper triangular
    except np.linalg.LinAlgError:
        return quantize_weight(w, 8 if sch == S_Q8 else 4, block, "asym" if sch == S_ASYM else "sym", imp)
    # row scales from a plain fit of the original weights (with a little headroom for the corrections)
    first = quantize_weight(w, 8 if sch == S_Q8 else 4, block, "asym" if sch == S_ASYM else "sym", imp)
    d = f16(first.d * 1.0)
    dmin = first.dmin.copy()
    kp = (cols + block - 1) // block * block
    nb = kp // block
    U = np.zeros((rows, kp), np.int32)
    SC = np.zeros((rows, nb), np.int32)
    MC = np.zeros((rows, nb), np.int32)
    for b in range(nb):
        i1, i2 = b * block, min((b + 1) * block, cols)
        W1 = W[:, i1:i2].copy()
        Err = np.zeros_like(W1)
        Hi = Hinv[i1:i2, i1:i2]
        ib = np.broadcast_to(imp[i1:i2], W1.shape)
        if sch == S_ASYM:
            s, m = _fit_asym(W1.astype(np.float32), ib)
            sc = np.clip(np.rint(s / d), 0, 63)
            mc = np.clip(np.rint(-m / np.where(dmin == 0, 1, dmin)), 0, 63) * (dmin != 0)
            S, M = d * sc, -dmin * mc
            lo, hi = 0, 15
        else:
            qmin, qmax = (-8, 7) if sch == S_SYM else (-127, 127)
            s = _fit_sym(W1.astype(np.float32), ib, qmin, qmax, (-8.0, -7.5, -8.5, -9.0) if sch == S_SYM else (-127.0,))
            sc = np.clip(np.rint(s / d), -127, 127)
            mc = np.zeros_like(sc)
            S = d * sc
            M = -8 * S if sch == S_SYM else np.zeros_like(S)
            lo, hi = (0, 15) if sch == S_SYM else (-127, 127)
        Ssafe = np.where(S == 0, 1, S)
        for i in range(i2 - i1):
            col = W1[:, i]
            u = np.clip(np.rint((col - M) / Ssafe), lo, hi) * (S != 0)
            if sch == S_Q8:
                u = np.clip(np.rint(col / Ssafe), lo, hi) * (S != 0)
            deq = u * S + M
            U[:, i1 + i] = u
            e = (col - deq) / Hi[i, i]
            W1[:, i:] -= np.outer(e, Hi[i, i:])
            Err[:, i] = e
        W[:, i2:] -= Err @ Hinv[i1:i2, i2:]
        SC[:, b] = sc
        MC[:, b] = mc
    if sch == S_SYM:
        U[:, cols:] = 8
    return QuantizedWeight(rows, cols, block, sch, U, d, dmin if sch == S_ASYM else np.zeros(rows, np.float32),
                           SC, MC)


def sqnr_db(ref, approx):
    ref = np.asarray(ref, np.float64)
    err = ((ref - np.asarray(approx, np.float64)) ** 2).sum()
    sig = (ref**2).sum()
    if err == 0:
        return float("inf")
    return float(10 * np.log10(sig / err)) if sig > 0 else float("-inf")


# -- pruning and CSR ------------------------------------------------------------------------------------

def prune_magnitude(w, ratio):
    """Zero the smallest |w| so that `ratio` of the weights are zero (per tensor)."""
    w = np.asarray(w, np.float32)
    if ratio <= 0:
        return w
    k = int(round(ratio * w.size))
    if k == 0:
        return w
    thresh = np.partition(np.abs(w).ravel(), k - 1)[k - 1]
    out = w.copy()
    out[np.abs(out) <= thresh] = 0
    return out
