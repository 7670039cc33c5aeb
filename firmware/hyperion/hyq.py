# The .hyq model format: constants and the one reader (the host imports it; only the writer is host-only).
# Spec: docs/hyq-format.md. Runs on MicroPython and CPython. The reader never holds the weights in RAM:
# it keeps the tables (a few hundred bytes per layer) and reads a tensor's bytes when asked.
import struct

try:
    from collections import namedtuple
except ImportError:  # ports that only have the u-prefixed name
    from ucollections import namedtuple

try:
    from binascii import crc32
except ImportError:  # ports built without binascii.crc32
    crc32 = None

_StructError = getattr(struct, "error", ValueError)  # CPython's struct.error; MicroPython raises ValueError

MAGIC = b"HYQ1"
VERSION = 2

HEADER_FMT = "<4sHHHHIIIIIIIII"
HEADER_SIZE = 48  # struct.calcsize(HEADER_FMT)
HEADER_CRC_AT = 44  # the header CRC field; the CRC covers bytes [0:44] and [48:data_offset]
TENSOR_FMT = "<BBBB4IIIIIf"
TENSOR_SIZE = 40
NODE_FMT = "<BBBBB3x"
NODE_SIZE = 8

# Tensor kinds
K_ACT = 0  # activation: lives in an arena at `offset`; `scale` is its static int8 scale (0: dynamic)

# Activation dtypes: float32 and int32 (token ids, held as floats) live in the float arena; int8 activations
# (one byte each, value + 128, scale = the tensor's scale) live in the int8 arena.
D_F32, D_I32, D_I8 = 0, 1, 2
K_F32 = 1  # float32 constant (bias, norm weights, float weights kept with --keep-float)
K_Q4 = 2  # 4-bit blocked weights [rows, cols], see q4_layout
K_Q8 = 3  # 8-bit blocked weights [rows, cols], same layout with one byte per weight
K_I32 = 4  # int32 constant (indices, requantization tables)
K_CSR4 = 5  # pruned 4-bit weights in CSR form, see csr_layout
KIND_NAMES = ("act", "f32", "q4", "q8", "i32", "csr4")

# Quantization schemes (qparam bits 4..7); block size code in bits 0..3 (B = 32 << code)
S_ASYM = 0  # w = d*sc*u - dmin*mc   (u 0..15, sc/mc 6-bit codes per block, d/dmin fp16 per row)
S_SYM = 1  # w = d*c*(u - 8)        (u 0..15, c int8 code per block, d fp16 per row)
S_Q8 = 2  # w = d*c*q              (q int8, c int8 code per block, d fp16 per row)
SCHEME_NAMES = ("asym", "sym", "q8")

# Fused activations (attribute `act` of LINEAR, CONV, ADD)
A_NONE, A_RELU, A_CLIP, A_LEAKY, A_SIGMOID, A_TANH, A_GELU, A_GELU_TANH = 0, 1, 2, 3, 4, 5, 6, 7
# element-wise functions (p0, p1: alpha and beta of hardsigmoid, alpha of elu, alpha and gamma of selu, the
# exponent of pow)
A_HSIG, A_HSWISH, A_ELU, A_SELU, A_SOFTPLUS, A_EXP, A_LOG, A_SQRT = 8, 9, 10, 11, 12, 13, 14, 15
A_ABS, A_NEG, A_RECIP, A_POW, A_SOFTSIGN = 16, 17, 18, 19, 20
ACT_NAMES = ("none", "relu", "clip", "leakyrelu", "sigmoid", "tanh", "gelu", "gelu_tanh", "hardsigmoid",
             "hardswish", "elu", "selu", "softplus", "exp", "log", "sqrt", "abs", "neg", "reciprocal", "pow",
             "softsign")

# Operators. Inputs, outputs and attributes per op are listed in docs/hyq-format.md.
OPS = (
    "linear",  # 0  in: x, W, [b], [rq]   i: act, has_bias, qmode, rq   f: act params (p0, p1)
    "conv",  # 1    in: x, W, [b], [rq]   i: kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, act, has_bias, qmode, rq
    "matmul",  # 2  in: a, b (both activations)
    "add", "sub", "mul", "div",  # 3-6  in: a, b (broadcast)  i: act  f: p0, p1
    "act",  # 7     in: x                i: act   f: p0, p1
    "softmax",  # 8 in: x                i: axis
    "layernorm",  # 9 in: x, gamma, [beta] i: axis, has_beta  f: eps  (normalizes over dims axis..last)
    "maxpool",  # 10 in: x               i: kh, kw, sh, sw, pt, pl, pb, pr, dh, dw
    "avgpool",  # 11 in: x               i: kh, kw, sh, sw, pt, pl, pb, pr, count_include_pad, dh, dw
    "gap",  # 12    in: x (N,C,H,W)      -> (N,C,1,1)
    "reshape",  # 13 in: x               (shape from the output tensor; same bytes)
    "transpose",  # 14 in: x             i: perm...
    "concat",  # 15 in: x...             i: axis
    "gather",  # 16 in: table, indices   i: axis   (table f32, q4 or q8: embeddings)
    "slice",  # 17  in: x                i: axis, start, step  (stop from the output shape)
    "min", "max", "pow", "prelu",  # 18-21 in: a, b (broadcast, as add)  prelu: a if a >= 0 else a * b
    "reduce",  # 22 in: x                i: kind (R_*), axis  (one axis, kept as 1 in the output)
    "argmax",  # 23 in: x  out: indices  i: axis, largest, last  (largest 0: argmin; last: the last of ties)
    "topk",  # 24   in: x  out: values, indices   i: axis, k, largest
    "pad",  # 25    in: x                i: axis, before, after, mode (P_*)   f: value  (one axis)
)
R_MEAN, R_MAX, R_MIN, R_SUM, R_PROD = 0, 1, 2, 3, 4
P_CONSTANT, P_REFLECT, P_EDGE, P_WRAP = 0, 1, 2, 3
OP_INDEX = {}
for _i, _n in enumerate(OPS):
    OP_INDEX[_n] = _i

# Integer and float attributes of each op, in file order (None: a variable-length list, e.g. a permutation).
_WIN = ("kh", "kw", "sh", "sw", "pt", "pl", "pb", "pr")
IATTRS = (
    ("act", "has_bias", "qmode", "rq"),
    _WIN + ("dh", "dw", "groups", "act", "has_bias", "qmode", "rq"),
    (),
    ("act", "rev", "inner", "n"), ("act", "rev", "inner", "n"), ("act", "rev", "inner", "n"),
    ("act", "rev", "inner", "n"),
    ("act",),
    ("axis",),
    ("axis", "has_beta"),
    _WIN + ("dh", "dw"),
    _WIN + ("count_include_pad", "dh", "dw"),
    (),
    (),
    None,
    ("axis",),
    ("axis",),
    ("axis", "start", "step"),
    ("act", "rev", "inner", "n"), ("act", "rev", "inner", "n"), ("act", "rev", "inner", "n"),
    ("act", "rev", "inner", "n"),
    ("kind", "axis"),
    ("axis", "largest", "last"),
    ("axis", "k", "largest"),
    ("axis", "before", "after", "mode"),
)
_P = ("p0", "p1")
FATTRS = (_P, _P, (), _P, _P, _P, _P, _P, (), ("eps",), (), (), (), (), (), (), (), (), _P, _P, _P, _P, (), (), (),
          ("value",))

# Activation quantization at the input of linear/conv (attribute qmode). An int8 input tensor needs none.
Q_FLOAT, Q_DYNAMIC, Q_STATIC = 0, 1, 2

# Requantization table (an i32 tensor [rows, RQ_COLS], the last input of a linear/conv with rq=1, whose output
# is int8): y = clamp((((A1 + h) >> P) * m1 - ((A2 + h) >> P) * m2 + bq + (1 << (S - 1))) >> S, lo, hi)
# with h = (1 << P) >> 1
RQ_M1, RQ_M2, RQ_BQ, RQ_S, RQ_P, RQ_LO, RQ_HI = 0, 1, 2, 3, 4, 5, 6
RQ_COLS = 7


class FormatError(ValueError):
    pass


# Header flags
F_ENCRYPTED = 1  # the data section is AES-256-CTR encrypted; a trailer (nonce, key id, HMAC-SHA256) follows it
ENC_TRAILER = 48


def block_size(qparam):
    return 32 << (qparam & 0x0F)


def q4_layout(cols, qparam):
    """Row layout of K_Q4/K_Q8 weights: (nblocks, header_bytes, code_bytes, data_bytes, row_stride)."""
    b = block_size(qparam)
    scheme = qparam >> 4
    nblocks = (cols + b - 1) // b
    if scheme == S_ASYM:
        hdr = 4  # d, dmin as fp16
        codes = 2 * (((nblocks + 3) // 4) * 3)  # 6-bit scale codes, then 6-bit min codes, 4 per 3 bytes
    else:
        hdr = 2  # d as fp16
        codes = nblocks  # int8 codes
    data = nblocks * b if scheme == S_Q8 else nblocks * b // 2
    return nblocks, hdr, codes, data, hdr + codes + data


def csr_layout(rows, nnz):
    """K_CSR4 bytes: row scales fp16 [rows], row_ptr u32 [rows+1], cols u16 [nnz], values 4-bit [nnz]."""
    scales = 2 * rows
    ptr = 4 * (rows + 1)
    cols = 2 * nnz
    vals = (nnz + 1) // 2
    return scales, ptr, cols, vals


def tensor_nbytes_f32(shape):
    n = 4
    for d in shape:
        n *= d
    return n


def _crc_stream(f, offset, length, crc=0, chunk=None):
    f.seek(offset)
    if chunk is None:
        chunk = bytearray(512)
    mv = memoryview(chunk)
    left = length
    while left > 0:
        n = f.readinto(mv[: min(left, len(chunk))])
        if not n:
            raise FormatError("file is truncated")
        crc = crc32(mv[:n], crc)
        left -= n
    return crc


# Table entries are named tuples: a few dozen bytes each on a board, against a hundred and more for an object
# with an attribute dict (a language model has over a hundred tensors). size: the number of elements.
Tensor = namedtuple("Tensor", ("index", "kind", "dtype", "shape", "qparam", "offset", "nbytes", "crc", "extra",
                               "scale", "size"))
Node = namedtuple("Node", ("op", "inputs", "outputs", "iattrs", "fattrs"))


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


class Model:
    """A parsed .hyq header. `f` is an open binary file (or any object with seek/readinto/read).

    Raises FormatError with a one-line reason for anything that is not a valid .hyq: its magic, version, CRCs
    and sizes here; its structure in hyperion.hyqcheck.check (which the runtime and the host reader run)."""

    def __init__(self, f, verify=True, key=None, k=None, decrypt=True):
        # An encrypted model: key is its key (32 bytes; None: from the board's key folder, crypt.find_key), k the
        # kernel module that decrypts (None: the board's best); decrypt=False reads its tables only (no key needed)
        self.f = f
        self.ctr = None
        f.seek(0)
        hdr = f.read(HEADER_SIZE)
        if len(hdr) < HEADER_SIZE or hdr[:4] != MAGIC:
            raise FormatError("not a .hyq file (bad magic)")
        (_, self.version, self.flags, n_in, n_out, n_t, n_n, self.table_size, self.arena_size, self.arena8_size,
         self.scratch_size, self.data_offset, self.data_size, self.header_crc) = struct.unpack(HEADER_FMT, hdr)
        if self.version != VERSION:
            raise FormatError("unsupported .hyq version %d (this reader reads %d)" % (self.version, VERSION))
        f.seek(0, 2)
        self.file_size = f.tell()
        f.seek(HEADER_SIZE)
        if HEADER_SIZE + self.table_size > self.data_offset:
            raise FormatError("table_size %d runs past data_offset %d" % (self.table_size, self.data_offset))
        if self.data_offset > self.file_size:
            raise FormatError("file is truncated (%d bytes; its tables end at %d)" % (self.file_size, self.data_offset))
        table = f.read(self.table_size)
        if len(table) < self.table_size:
            raise FormatError("file is truncated (header tables)")
        if verify and crc32 is not None:
            crc = crc32(hdr[:HEADER_CRC_AT])
            crc = crc32(table, crc)
            crc = _crc_stream(f, HEADER_SIZE + self.table_size, self.data_offset - HEADER_SIZE - self.table_size, crc)
            if crc != self.header_crc:
                raise FormatError("header CRC mismatch: the file is corrupt")
        try:
            self._parse_tables(table, n_in, n_out, n_t, n_n)
        except (ValueError, IndexError, TypeError, _StructError) as e:  # a count that runs past the tables
            if isinstance(e, FormatError):
                raise
            raise FormatError("the header tables are shorter than their counts say") from None
        if self.flags & ~F_ENCRYPTED:
            raise FormatError("unknown header flags 0x%x (file needs a newer Hyperion)" % self.flags)
        if verify or self.flags & F_ENCRYPTED:
            self._check_size()
        if self.flags & F_ENCRYPTED and decrypt:
            self._open_encrypted(key, k)

    def _open_encrypted(self, key, k):
        """Check the file's MAC with its key (a wrong key and a changed byte fail alike), then set up the
        keystream read_tensor decrypts with. The trailer after the data: nonce (8 bytes), key id (8), MAC (32)."""
        from hyperion import crypt

        end = self.data_offset + self.data_size
        self.f.seek(end)
        trailer = self.f.read(ENC_TRAILER)
        if len(trailer) != ENC_TRAILER:
            raise FormatError("file is truncated (the encryption trailer)")
        kid = "%016x" % struct.unpack(">Q", trailer[8:16])[0]
        if key is None:
            key = crypt.find_key(kid)
            if key is None:
                raise FormatError("the model is encrypted with key %s, which this board does not have (provision it "
                                  "with `hyperion-host deploy --model-key KEYFILE`)" % kid)
        elif crypt.key_id(key) != kid:
            raise FormatError("the model is encrypted with key %s, not with the key given (%s)"
                              % (kid, crypt.key_id(key)))
        aes_key, mac_key = crypt.model_keys(key)
        mac = crypt.Hmac(mac_key)
        chunk = bytearray(512)
        self.f.seek(0)
        left = end + 16  # the MAC covers the nonce and the key id too
        while left >= 512:  # whole chunks: no slice objects
            if self.f.readinto(chunk) != 512:
                raise FormatError("file is truncated")
            mac.update(chunk)
            left -= 512
        if left:
            mac.update(self.f.read(left))
        if not crypt.same(mac.digest(), trailer[16:]):
            raise FormatError("authentication failed: the file was changed after encryption, or the key is wrong")
        self.ctr = crypt.Ctr(aes_key, trailer[:8], k)

    def _parse_tables(self, t, n_in, n_out, n_t, n_n):
        if 2 * (n_in + n_out) + TENSOR_SIZE * n_t + NODE_SIZE * n_n > len(t):  # before a list is sized by them
            raise FormatError("%d tensors and %d nodes do not fit table_size %d" % (n_t, n_n, len(t)))
        pos = 0
        self.inputs = list(struct.unpack_from("<%dH" % n_in, t, pos))
        pos += 2 * n_in
        self.outputs = list(struct.unpack_from("<%dH" % n_out, t, pos))
        pos += 2 * n_out
        pos = (pos + 3) & ~3
        self.tensors = [None] * n_t  # sized once: a growing list would leave its old blocks as holes
        for i in range(n_t):
            v = struct.unpack_from(TENSOR_FMT, t, pos)
            pos += TENSOR_SIZE
            ndim = v[2]
            if ndim > 4:
                raise FormatError("tensor %d: %d dimensions (at most 4)" % (i, ndim))
            shape = tuple(v[4:4 + ndim])
            self.tensors[i] = Tensor(i, v[0], v[1], shape, v[3], v[8], v[9], v[10], v[11], v[12], numel(shape))
        self.nodes = [None] * n_n
        for k in range(n_n):
            op, ni, no, nia, nfa = struct.unpack_from(NODE_FMT, t, pos)
            pos += NODE_SIZE
            if op >= len(OPS):
                raise FormatError("unknown operator code %d (file needs a newer Hyperion)" % op)
            ids = struct.unpack_from("<%dH" % (ni + no), t, pos)
            pos = (pos + 2 * (ni + no) + 3) & ~3
            ia = struct.unpack_from("<%di" % nia, t, pos)
            pos += 4 * nia
            fa = struct.unpack_from("<%df" % nfa, t, pos)
            pos += 4 * nfa
            self.nodes[k] = Node(op, ids[:ni], ids[ni:], ia, fa)
        self.meta_offset = HEADER_SIZE + self.table_size
        self.meta_size = self.data_offset - self.meta_offset

    def _check_size(self):
        for t in self.tensors:
            if t.kind != K_ACT and t.offset + t.nbytes > self.data_size:
                raise FormatError("file is truncated or corrupt (tensor %d lies past the data)" % t.index)
        end = self.file_size - (ENC_TRAILER if self.flags & F_ENCRYPTED else 0)  # an encrypted file's trailer
        if end < self.data_offset + self.data_size:
            raise FormatError("file is truncated (%d of %d bytes)" % (end, self.data_offset + self.data_size))
        if end > self.data_offset + self.data_size:
            raise FormatError("%d bytes after the data (the header gives the file's exact length)"
                              % (end - self.data_offset - self.data_size))

    def meta(self):
        """The JSON metadata (names, labels, preprocessing) as a dict."""
        import json

        self.f.seek(self.meta_offset)
        try:
            m = json.loads(self.f.read(self.meta_size)) if self.meta_size else {}
        except (ValueError, RuntimeError):  # not JSON, or nested past the parser's depth
            raise FormatError("the metadata is not valid JSON") from None
        if not isinstance(m, dict):
            raise FormatError("the metadata is not a JSON object")
        return m

    def read_tensor(self, t, buf=None):
        """The bytes of a constant tensor, into buf (a bytearray/memoryview of at least t.nbytes) if given."""
        if self.ctr is None and self.flags & F_ENCRYPTED:
            raise FormatError("the model is encrypted and was opened without its key")
        self.f.seek(self.data_offset + t.offset)
        if buf is None:
            if self.ctr is not None:  # decrypted in the one buffer it is read into
                return self.read_at(t.offset, bytearray(t.nbytes), t.nbytes)
            data = self.f.read(t.nbytes)
            if len(data) != t.nbytes:
                raise FormatError("file is truncated (tensor %d)" % t.index)
            return data
        mv = memoryview(buf)[: t.nbytes]  # (a typed view of exactly the tensor is whole either way)
        if self.f.readinto(mv) != t.nbytes:
            raise FormatError("file is truncated (tensor %d)" % t.index)
        if self.ctr is not None:  # decrypted where it was read: no second buffer
            self.ctr.xor(buf, t.nbytes, t.offset)
        return mv

    def read_at(self, pos, buf, n):
        """n bytes of the data section from pos on into buf (exactly n bytes long: a bytearray, an array or a
        memoryview), decrypted if the model is encrypted: streamed rows read through here."""
        if self.ctr is None and self.flags & F_ENCRYPTED:
            raise FormatError("the model is encrypted and was opened without its key")
        self.f.seek(self.data_offset + pos)
        if self.f.readinto(buf) != n:
            raise FormatError("file is truncated (data at %d)" % pos)
        if self.ctr is not None:
            self.ctr.xor(buf, n, pos)
        return buf

    def verify_tensors(self):
        """Check every tensor's CRC32, streaming (never more than 512 bytes in RAM)."""
        if crc32 is None:
            return
        chunk = bytearray(512)
        for t in self.tensors:
            if t.kind == K_ACT:
                continue
            if _crc_stream(self.f, self.data_offset + t.offset, t.nbytes, 0, chunk) != t.crc:
                raise FormatError("CRC mismatch in tensor %d: the file is corrupt" % t.index)


def open_model(path, verify=True, key=None, decrypt=True):
    """Open and check a .hyq file: header CRC, sizes and (if verify) every tensor's CRC; an encrypted one's MAC
    with its key (see Model)."""
    f = open(path, "rb")
    try:
        m = Model(f, verify, key, None, decrypt)
        if verify:
            m.verify_tensors()
    except Exception:
        f.close()
        raise
    return m
