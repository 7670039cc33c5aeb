"""Weight tensor formats on the host: int4 (asymmetric or symmetric) and int8 blocks, and CSR for pruned int4.
This module owns their packing (to_bytes) and unpacking (from_bytes); the byte layout itself is defined by the
firmware reader (hyperion.hyq.q4_layout) and specified in docs/hyq-format.md. How values are fitted is fit.py.

Every weight matrix W [rows, cols] is cut into blocks of B weights along cols (the input dimension).

- asym (default): w = d*sc*u - dmin*mc, u in 0..15; sc, mc are 6-bit codes per block, d, dmin fp16 per row.
  With B=32 that is 4 + 12/32 + 32/cols bits per weight: 4.5 at cols=256 or more, like GGML's Q4_K, but the
  fp16 super-scales are per row, so rows of 384 also stay at 4.5.
- sym: w = d*c*(u-8), c an int8 code per block: 4 + 8/B + 16/cols bits per weight.
- q8: w = d*c*q, q int8.

Integer codes for the block scales let the board accumulate a whole row in int32 and apply the float
scales once per row (docs/hyq-format.md)."""

import numpy as np

from hyperion.hyq import S_ASYM, S_Q8, S_SYM, q4_layout

F16_MAX = 65504.0
F16_TINY = 6e-8  # smallest fp16 subnormal: row scales never round to zero


def f16(a):
    return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def qparam(block, scheme):
    code = {32: 0, 64: 1, 128: 2}[block]
    return code | (scheme << 4)


# -- 6-bit code packing ----------------------------------------------------------------------------------

def pack6(codes):
    """[rows, n] codes 0..63 -> [rows, ceil(n/4)*3] bytes, 4 codes per 3 bytes, little-endian."""
    rows, n = codes.shape
    n4 = (n + 3) // 4 * 4
    c = np.zeros((rows, n4), np.uint32)
    c[:, :n] = codes
    c = c.reshape(rows, -1, 4)
    v = c[..., 0] | (c[..., 1] << 6) | (c[..., 2] << 12) | (c[..., 3] << 18)
    out = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], -1).astype(np.uint8)
    return out.reshape(rows, -1)


def unpack6(data, n):
    rows = data.shape[0]
    b = data.reshape(rows, -1, 3).astype(np.uint32)
    v = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
    c = np.stack([v & 63, (v >> 6) & 63, (v >> 12) & 63, (v >> 18) & 63], -1).reshape(rows, -1)
    return c[:, :n].astype(np.int32)


def pack_nibbles(u):
    """[rows, Kp] values 0..15 -> [rows, Kp/2] bytes; element 2j in the low nibble of byte j."""
    u = u.astype(np.uint8)
    return (u[:, 0::2] | (u[:, 1::2] << 4)).astype(np.uint8)


def unpack_nibbles(b):
    out = np.empty((b.shape[0], b.shape[1] * 2), np.int32)
    out[:, 0::2] = b & 15
    out[:, 1::2] = b >> 4
    return out


# -- blocked int4/int8 ----------------------------------------------------------------------------------

class QuantizedWeight:
    """Decoded form of a blocked weight tensor (what the kernels see), plus its packed bytes."""

    def __init__(self, rows, cols, block, scheme, u, d, dmin, sc, mc):
        self.rows, self.cols, self.block, self.scheme = rows, cols, block, scheme
        self.u = u  # [rows, Kp] int32: 0..15 (asym/sym) or -127..127 (q8)
        self.d = d  # [rows] float32 (fp16 values)
        self.dmin = dmin  # [rows] float32 (asym only, else zeros)
        self.sc = sc  # [rows, nblocks] int32 scale codes (sym/q8: signed)
        self.mc = mc  # [rows, nblocks] int32 min codes (asym only)

    @property
    def qparam(self):
        return qparam(self.block, self.scheme)

    @property
    def nblocks(self):
        return self.sc.shape[1]

    def block_scales(self):
        """Float scale and offset per block: w = scale*u + offset."""
        if self.scheme == S_ASYM:
            return self.d[:, None] * self.sc, -self.dmin[:, None] * self.mc
        s = self.d[:, None] * self.sc
        return s, (-8 * s if self.scheme == S_SYM else np.zeros_like(s))

    def dequantize(self):
        s, o = self.block_scales()
        B = self.block
        w = self.u.reshape(self.rows, self.nblocks, B) * s[..., None] + o[..., None]
        return w.reshape(self.rows, -1)[:, : self.cols].astype(np.float32)

    def to_bytes(self):
        nb, hdr, codes, data, stride = q4_layout(self.cols, self.qparam)
        rows = self.rows
        parts = []
        if self.scheme == S_ASYM:
            parts.append(np.stack([self.d, self.dmin], 1).astype(np.float16).view(np.uint8).reshape(rows, 4))
            parts.append(pack6(self.sc))
            parts.append(pack6(self.mc))
        else:
            parts.append(self.d.astype(np.float16).view(np.uint8).reshape(rows, 2))
            parts.append(self.sc.astype(np.int8).view(np.uint8))
        if self.scheme == S_Q8:
            parts.append(self.u.astype(np.int8).view(np.uint8))
        else:
            parts.append(pack_nibbles(self.u))
        out = np.concatenate(parts, 1)
        assert out.shape[1] == stride, (out.shape, stride)
        return out.tobytes()

    @classmethod
    def from_bytes(cls, buf, rows, cols, qp):
        nb, hdr, codes, data, stride = q4_layout(cols, qp)
        block = 32 << (qp & 15)
        scheme = qp >> 4
        a = np.frombuffer(buf, np.uint8, rows * stride).reshape(rows, stride)
        if scheme == S_ASYM:
            dd = a[:, :4].copy().view(np.float16).astype(np.float32)
            d, dmin = dd[:, 0], dd[:, 1]
            half = codes // 2
            sc = unpack6(a[:, 4 : 4 + half], nb)
            mc = unpack6(a[:, 4 + half : 4 + codes], nb)
        else:
            d = a[:, :2].copy().view(np.float16).astype(np.float32)[:, 0]
            dmin = np.zeros(rows, np.float32)
            sc = a[:, 2 : 2 + codes].view(np.int8).astype(np.int32)
            mc = np.zeros_like(sc)
        body = a[:, hdr + codes :]
        u = body.view(np.int8).astype(np.int32) if scheme == S_Q8 else unpack_nibbles(body)
        return cls(rows, cols, block, scheme, u, d, dmin, sc, mc)


def bits_per_weight(qw):
    return len(qw.to_bytes()) * 8 / (qw.rows * qw.cols)


class CSRWeight:
    """Pruned int4 weights: per row an fp16 scale, and the nonzeros as (column, 4-bit value) pairs."""

    def __init__(self, rows, cols, d, row_ptr, col_idx, q):
        self.rows, self.cols = rows, cols
        self.d, self.row_ptr, self.col_idx, self.q = d, row_ptr, col_idx, q

    @property
    def nnz(self):
        return int(self.row_ptr[-1])

    @classmethod
    def from_dense(cls, w):
        rows, cols = w.shape
        nz = w != 0
        amax = np.where(nz, np.abs(w), 0).max(1)
        d = f16(np.maximum(amax / 7.5, F16_TINY))
        # least-squares refine of the row scale, like the dense fits
        q = np.clip(np.rint(w / d[:, None]), -8, 7) * nz
        qq = (q * q).sum(1)
        d = np.where(qq > 0, f16((q * w).sum(1) / np.where(qq > 0, qq, 1)), d)
        d = np.maximum(d, f16(F16_TINY))
        q = np.clip(np.rint(w / d[:, None]), -8, 7) * nz
        # a weight that rounds to 0 is dropped too
        keep = q != 0
        row_ptr = np.concatenate([[0], np.cumsum(keep.sum(1))]).astype(np.uint32)
        rr, cc = np.nonzero(keep)
        return cls(rows, cols, d.astype(np.float32), row_ptr, cc.astype(np.uint16), q[rr, cc].astype(np.int32))

    def dequantize(self):
        w = np.zeros((self.rows, self.cols), np.float32)
        rows = np.repeat(np.arange(self.rows), np.diff(self.row_ptr.astype(np.int64)))
        w[rows, self.col_idx] = self.q * self.d[rows]
        return w

    def to_bytes(self):
        u = (self.q + 8).astype(np.uint8)
        if len(u) % 2:
            u = np.concatenate([u, [8]]).astype(np.uint8)
        vals = (u[0::2] | (u[1::2] << 4)).astype(np.uint8)
        return (self.d.astype(np.float16).tobytes() + self.row_ptr.astype("<u4").tobytes()
                + self.col_idx.astype("<u2").tobytes() + vals.tobytes())

    @classmethod
    def from_bytes(cls, buf, rows, cols, nnz):
        a = np.frombuffer(buf, np.uint8)
        p = 0
        d = a[p : p + 2 * rows].copy().view(np.float16).astype(np.float32)
        p += 2 * rows
        row_ptr = a[p : p + 4 * (rows + 1)].copy().view("<u4")
        p += 4 * (rows + 1)
        col_idx = a[p : p + 2 * nnz].copy().view("<u2")
        p += 2 * nnz
        vals = a[p : p + (nnz + 1) // 2]
        u = np.empty(2 * len(vals), np.int32)
        u[0::2] = vals & 15
        u[1::2] = vals >> 4
        return cls(rows, cols, d, row_ptr, col_idx, u[:nnz] - 8)

