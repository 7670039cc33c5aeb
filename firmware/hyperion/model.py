# The board runtime: load a .hyq, plan-driven execution over one arena, one op table with a kernel per path.
# Weights are streamed layer by layer from the file into one reusable buffer, or used in place when the
# file is memory-mapped (ROMFS). Floats are used where an op needs them; linear/conv run integer kernels.
import array
import gc
import math

from hyperion import hyq
from hyperion.hyq import A_CLIP, A_GELU, A_GELU_TANH, A_LEAKY, A_RELU, A_SIGMOID, A_TANH
from hyperion.kernels import select

# Streamed weight matrices bigger than this are read in chunks of whole rows (the buffer's size).
WBUF_CHUNK = 4096
# Activation arenas up to this size are allocated at load; bigger ones at the first run().
EAGER_ARENA = 32768


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
    return v


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


class Model:
    """A loaded .hyq model. Use hyperion.load(); run(x) returns the outputs."""

    def __init__(self, path, kernels=None, mode="auto", verify=True):
        # kernels: a kernel module (hyperion.kernels.select); None: the best this board runs
        self.path = path
        f = open(path, "rb")
        self._f = f
        try:
            self.h = hyq.Model(f, verify)
            if verify:
                self.h.verify_tensors()
        except Exception:
            f.close()
            raise
        self.mapped = None
        if mode in ("auto", "rom"):
            try:
                self.mapped = memoryview(f)  # ROMFS files are memory: weights used in place
            except TypeError:
                if mode == "rom":
                    f.close()
                    raise ValueError("mode='rom' needs a memory-mapped file (ROMFS); %s is not" % path)
        self.mode = "rom" if self.mapped is not None else "stream"
        self.k = kernels or select("auto")[0]
        self.kpath = self.k.PATH
        h = self.h
        self._meta = None
        # activations: small arenas now, before the buffers below, so they lie in one piece low in the heap;
        # big ones (a language model's whole-sequence graph, which generate() never runs) at the first run()
        self.arena = None
        self.arena8 = None
        if h.arena_size + h.arena8_size <= EAGER_ARENA:
            self._arenas()
        self.views = {}
        self.named = {}  # node attributes by name, decoded once (see _attrs)
        # small constants live in RAM; weight matrices are streamed (or mapped)
        self.consts = {}
        maxk = 1
        maxn = 1
        maxnb = 1
        self.wbuf = None
        # one scan of the nodes: tensors a kernel needs whole (conv, CSR, float-activation linear; other
        # matrices stream in row chunks) and the sizes of the per-op buffers
        whole = set()
        maxin = 0
        nconv = 0
        for nd in h.nodes:
            name = hyq.OPS[nd.op]
            if name == "conv" or (name == "linear" and nd.iattrs[2] == hyq.Q_FLOAT):
                whole.add(nd.inputs[1])
            if name == "conv":
                xt = h.tensors[nd.inputs[0]]
                if xt.dtype != hyq.D_I8:
                    maxin = max(maxin, xt.size // xt.shape[0])  # one image of a float input
                # two int32 per output channel of a group and output column (one output row)
                groups = nd.iattrs[hyq.IATTRS[nd.op].index("groups")]
                nconv = max(nconv, 2 * (h.tensors[nd.inputs[1]].shape[0] // groups) * h.tensors[nd.outputs[0]].shape[-1])
            if name == "linear" or name == "conv":
                maxk = max(maxk, h.tensors[nd.inputs[1]].size // h.tensors[nd.inputs[1]].shape[0])
        self._load_consts()
        wmax = 0
        for t in h.tensors:
            if t.kind != hyq.K_ACT and t.kind != hyq.K_F32 and t.kind != hyq.K_I32:
                maxk = max(maxk, t.shape[1])
                maxn = max(maxn, t.shape[0])
                if t.kind == hyq.K_CSR4 or t.index in whole:
                    wmax = max(wmax, t.nbytes)
                else:
                    stride = hyq.q4_layout(t.shape[1], t.qparam)[4]
                    wmax = max(wmax, min(t.nbytes, max(WBUF_CHUNK, stride)))
                if t.kind != hyq.K_CSR4:
                    maxnb = max(maxnb, hyq.q4_layout(t.shape[1], t.qparam)[0])
        if self.mapped is None and wmax:
            self.wbuf = bytearray(wmax)
        self.loaded = -1  # tensor index whose bytes are in wbuf
        self.xin = bytearray(maxin)  # int8 (+128) copy of a conv's float input
        self.xq = bytearray(maxk)  # one window / row of int8 inputs
        self.sx = zeros("i", maxnb)
        self.acc = zeros("i", 2 * maxn)
        self.rowscales = {}
        self.layouts = {}
        self.conv_acc = zeros("i", nconv)  # int32 sums of one conv output row
        gc.collect()

    def _arenas(self):
        self.arena = zeros("f", (self.h.arena_size + 3) // 4)
        self.arena8 = bytearray(self.h.arena8_size)  # int8 activations (value + 128)

    @property
    def meta(self):
        """The model's metadata (labels, preprocessing), parsed on first use."""
        if self._meta is None:
            self._meta = self.h.meta()
        return self._meta

    # -- tensors -----------------------------------------------------------------------------------------
    def _load_consts(self):
        """Small constants (biases, norm weights, requantization tables) into RAM: one float block and one int
        block, each constant a view of its part, read in place (no per-constant copies to fragment the heap).
        Bigger ones (a position table, a mask) are read when used."""
        small = [t for t in self.h.tensors if (t.kind == hyq.K_F32 or t.kind == hyq.K_I32) and t.nbytes <= 8192]
        for kind, code in ((hyq.K_F32, "f"), (hyq.K_I32, "i")):
            n = 0
            for t in small:
                if t.kind == kind:
                    n += t.size
            if not n:
                continue
            block = memoryview(zeros(code, n))
            o = 0
            for t in small:
                if t.kind == kind:
                    v = block[o: o + t.size]
                    self.h.read_tensor(t, v)
                    self.consts[t.index] = v
                    o += t.size

    def _const_array(self, t):
        return array.array("f" if t.kind == hyq.K_F32 else "i", self.h.read_tensor(t))

    def _weights(self, t):
        """(buffer, offset) holding tensor t's bytes: the mapped file, or wbuf filled from the file."""
        if self.mapped is not None:
            return self.mapped, self.h.data_offset + t.offset
        if self.loaded != t.index:
            self.h.read_tensor(t, self.wbuf)
            self.loaded = t.index
        return self.wbuf, 0

    def view(self, i):
        v = self.views.get(i)
        if v is None:
            t = self.h.tensors[i]
            if t.kind != hyq.K_ACT:
                v = self.consts.get(i)
                if v is None:  # a big constant, read when needed (not kept)
                    v = self._const_array(t)
                return v
            if self.arena is None:
                self._arenas()
            if t.dtype == hyq.D_I8:
                v = memoryview(self.arena8)[t.offset: t.offset + t.size]
            else:
                o = t.offset // 4
                v = memoryview(self.arena)[o: o + t.size]
            self.views[i] = v
        return v

    # -- public API ----------------------------------------------------------------------------------------
    def input_shape(self, n=0):
        return self.h.tensors[self.h.inputs[n]].shape

    def output_shape(self, n=0):
        return self.h.tensors[self.h.outputs[n]].shape

    def set_input(self, x, n=0):
        t = self.h.tensors[self.h.inputs[n]]
        want = t.size
        try:
            if hasattr(x, "flatten"):  # ulab (or numpy) array
                x = x.flatten()
            size = len(x)
        except TypeError:
            raise ValueError("input must be an array, bytearray, memoryview or list of %d values (shape %s)"
                             % (want, t.shape))
        if size != want:
            raise ValueError("input has %d values; the model expects shape %s (%d values)" % (size, t.shape, want))
        dst = self.view(t.index)
        for i in range(want):
            dst[i] = x[i]

    def run(self, x=None, stats=None):
        """Run the model on x (or on inputs set with set_input). Returns the output as array('f'), or a tuple
        of them for several outputs."""
        try:
            if x is not None:
                if isinstance(x, (tuple,)) and len(self.h.inputs) > 1:
                    for i, xi in enumerate(x):
                        self.set_input(xi, i)
                else:
                    self.set_input(x, 0)
            # the result arrays first, while the heap is in one piece (the float ops leave garbage between
            # the blocks they keep)
            outs = tuple(zeros("f", self.h.tensors[i].size) for i in self.h.outputs)
            for nd in self.h.nodes:
                _OPS[nd.op](self, nd)
            for o, i in zip(outs, self.h.outputs):  # graph outputs are float (the quantizer keeps them so)
                _copy(self.view(i), 0, o, 0, len(o))
        except MemoryError as e:
            import hyperion

            if isinstance(e, hyperion.OutOfMemory):
                raise
            gc.collect()
            need = 4 * sum(self.h.tensors[i].size for i in self.h.outputs)
            if self.arena is None:  # the arenas come first
                need += self.h.arena_size + self.h.arena8_size
            raise hyperion.OutOfMemory("running " + self.path, need, gc.mem_free()) from None
        return outs[0] if len(outs) == 1 else outs

    def classify(self, img, width=None, height=None, max_value=255.0):
        """(label, probability) for an image. A grayscale image of any size (width x height, values up to
        max_value) is area-resized to the model's input size; one already of that size is only rescaled."""
        shape = self.input_shape()
        ih, iw = shape[-2], shape[-1]
        if width is None:
            width, height = iw, ih
        from hyperion import vision

        x = vision.resize_area(img, width, height, iw, ih, max_value)
        return self._top(self.run(x))  # the best class and its softmax probability (the model may end in logits)

    def listen(self, samples, rate=16000):
        """(label, probability) for a keyword model: finds the speech with an energy VAD, takes the model's
        window around it, computes MFCCs on the board and runs the model. samples: 16-bit PCM (array('h'),
        or a list of ints) or floats in [-1, 1]."""
        from hyperion import audio

        a = self.meta.get("audio") or {}
        if rate != a.get("rate", 16000):
            raise ValueError("the model expects %d Hz audio, not %d" % (a.get("rate", 16000), rate))
        n = int(a.get("seconds", 1.0) * rate)
        scale = 1.0 / 32768 if len(samples) and isinstance(samples[0], int) else 1.0
        start = 0
        if len(samples) > n:
            seg = audio.voice_activity(samples, a.get("frame_len", 400), a.get("hop", 160), scale=scale)
            if seg:
                mid = (seg[0][0] + seg[0][1]) // 2
                start = min(max(0, mid - n // 2), len(samples) - n)
        if len(samples) >= n:
            window = memoryview(samples)[start: start + n] if start or len(samples) > n else samples
        else:  # shorter than the window: zero-padded copy
            window = array.array("f" if scale == 1.0 else "h", bytes((4 if scale == 1.0 else 2) * n))
            for i in range(len(samples)):
                window[i] = samples[i]
        fe = getattr(self, "_frontend", None)
        if fe is None:
            fe = self._frontend = audio.Frontend(a.get("n_fft", 512), a.get("frame_len", 400), a.get("hop", 160),
                                                 a.get("n_mels", 40), a.get("n_mfcc", 10), rate)
        y = self.run(fe.mfcc(window, scale))
        return self._top(y)

    def generate(self, prompt, max_tokens=64, temperature=0.8, top_k=40, top_p=0.95, repetition_penalty=1.0,
                 stop=None, seed=None):
        """For a text model: yields the text it writes after prompt, piece by piece as tokens come. Sampling:
        temperature (0: always the likeliest byte), top_k, top_p, repetition_penalty (> 1 discourages repeats);
        stop: a string or strings that end the text (not included); seed: the same text again."""
        from hyperion import lm, text

        if max_tokens < 0:
            raise ValueError("max_tokens must be >= 0")
        dec = getattr(self, "_decoder", None)
        if dec is None:
            dec = self._decoder = lm.Decoder(self)
        sampler = text.Sampler(temperature, top_k, top_p, repetition_penalty, seed, argmax=self.k.argmax)
        return lm.stream(dec, prompt, max_tokens, sampler, text.StopFilter(stop))

    def _top(self, y):
        best = 0
        for i in range(1, len(y)):
            if y[i] > y[best]:
                best = i
        m = y[best]
        s = 0.0
        for v in y:
            s += math.exp(v - m)
        labels = self.meta.get("labels")
        return (labels[best] if labels else best), 1.0 / s

    def info(self):
        ops = [hyq.OPS[n.op] for n in self.h.nodes]
        kinds = []
        for n in self.h.nodes:
            name = hyq.OPS[n.op]
            kinds.append(self.kpath if name in ("linear", "conv", "maxpool") else "python")
        return {"ops": ops, "kernels": kinds, "arena_bytes": self.h.arena_size + self.h.arena8_size,
                "weight_buffer_bytes": len(self.wbuf) if self.wbuf is not None else 0, "mode": self.mode,
                "inputs": [self.h.tensors[i].shape for i in self.h.inputs],
                "outputs": [self.h.tensors[i].shape for i in self.h.outputs], "mem_free": gc.mem_free()}

    def close(self):
        self._f.close()


# -- int8 activations ------------------------------------------------------------------------------------

_SCALE = array.array("f", [0.0])  # a static scale as float32, where the quantize kernel reads its bits


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
    m.k.block_sums(xq, K, B, nb, m.sx)
    if m.mapped is not None or t.nbytes <= len(m.wbuf):
        buf, off = m._weights(t)
        kern(buf, off, stride, hdr, cb, nb, B, K, 0, rows, xq, m.sx, m.acc, asym)
        return _scales(m, t, buf, off, stride), asym
    sc = m.rowscales.get(t.index)
    fill = sc is None
    per = len(m.wbuf) // stride
    f = m._f
    m.loaded = -1
    wb = memoryview(m.wbuf)
    for r0 in range(0, rows, per):
        r1 = min(rows, r0 + per)
        f.seek(m.h.data_offset + t.offset + r0 * stride)
        if f.readinto(wb[: (r1 - r0) * stride]) != (r1 - r0) * stride:
            raise hyq.FormatError("file is truncated (tensor %d)" % t.index)
        kern(m.wbuf, -r0 * stride, stride, hdr, cb, nb, B, K, r0, r1, xq, m.sx, m.acc, asym)
        if fill:
            sc = _fill_scales(sc, t, m.wbuf, -r0 * stride, stride, r0, r1)
    m.rowscales[t.index] = sc
    return sc, asym


def _finish_rows(m, y, yo, rows, sc, r0, asym, s, bias, act, p0, p1, ystep):
    """y[yo + r*ystep] = act(s*(d*A1 - dmin*A2) + bias[r]) for rows r0.. (acc holds rows from 0)."""
    acc = m.acc
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


# -- ops ---------------------------------------------------------------------------------------------------

def _attrs(m, nd):
    """The node's int attributes by name (decoded once per model)."""
    a = m.named.get(id(nd))
    if a is None:
        a = m.named[id(nd)] = dict(zip(hyq.IATTRS[nd.op], nd.iattrs))
    return a


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
    for r in range(rows):
        _matvec(m, t, x, r * K, K, y, r * N, 1, bias, act, p0, p1, qmode, scale, m.xq)


def op_conv(m, nd):
    a = _attrs(m, nd)
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
    rs = _scales(m, t, buf, off, stride)
    q8 = 1 if scheme == hyq.S_Q8 else 0
    acc = m.conv_acc
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
                else:
                    _finish_conv_row(y, (n * cout + r0) * hw + oy * Wo, og, Wo, hw, acc, rs, r0, asym, sc, bias,
                                     act, p0, p1)


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
    for i in range(batches):
        ao = bo = 0
        for d in range(nb):
            ao = ao * ab[d] + (idx[d] if ab[d] != 1 else 0)
            bo = bo * bb[d] + (idx[d] if bb[d] != 1 else 0)
        ao *= M * K
        bo *= K * Nn
        yo = i * M * Nn
        for r in range(M):
            for c in range(Nn):
                v = 0.0
                for k in range(K):
                    v += a[ao + r * K + k] * b[bo + k * Nn + c]
                y[yo + r * Nn + c] = v
        d = nb - 1
        while d >= 0:
            idx[d] += 1
            if idx[d] < yb[d]:
                break
            idx[d] = 0
            d -= 1


def _binary(kind):
    def op(m, nd):
        act, rev, inner, n = nd.iattrs
        p0, p1 = nd.fattrs
        big, small = m.view(nd.inputs[0]), m.view(nd.inputs[1])
        y = m.view(nd.outputs[0])
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
            else:
                r = u / v if v != 0.0 else (float("inf") if u > 0 else (float("-inf") if u < 0 else float("nan")))
            y[i] = _act(r, act, p0, p1) if act else r

    return op


def op_act(m, nd):
    act = nd.iattrs[0]
    p0, p1 = nd.fattrs
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    for i in range(len(y)):
        y[i] = _act(x[i], act, p0, p1)


def _outer_inner(shape, axis):
    outer = 1
    for d in shape[:axis]:
        outer *= d
    inner = 1
    for d in shape[axis + 1:]:
        inner *= d
    return outer, shape[axis], inner


def op_softmax(m, nd):
    xt = m.h.tensors[nd.inputs[0]]
    x, y = m.view(nd.inputs[0]), m.view(nd.outputs[0])
    outer, n, inner = _outer_inner(xt.shape, nd.iattrs[0])
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
    for o in range(xt.size // n):
        _norm_row(x, o * n, n, g, beta, eps, y)


def _norm_row(x, base, n, g, beta, eps, y):
    """y[base:base+n] = LayerNorm of x[base:base+n] (op_layernorm, and the language-model decoder)."""
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


def _copy(x, xo, y, yo, n):
    """y[yo:yo+n] = x[xo:xo+n] as one memory copy (both hold the same item type)."""
    memoryview(y)[yo: yo + n] = memoryview(x)[xo: xo + n]


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


def _dequant_row(m, t, row, y, yo):
    """One row of a quantized table (an embedding) decoded to floats."""
    nb, hdr, cb, data, stride = hyq.q4_layout(t.shape[1], t.qparam)
    if m.mapped is not None:
        buf, off = m.mapped, m.h.data_offset + t.offset + row * stride
    else:
        if m.wbuf is None or len(m.wbuf) < stride:
            m.wbuf = bytearray(max(stride, len(m.wbuf) if m.wbuf else 0))
        f = m._f
        f.seek(m.h.data_offset + t.offset + row * stride)
        f.readinto(memoryview(m.wbuf)[:stride])
        m.loaded = -1
        buf, off = m.wbuf, 0
    _decode_row(buf, off, hdr, cb, hyq.block_size(t.qparam), t.shape[1], t.qparam >> 4,
                memoryview(y)[yo: yo + t.shape[1]])


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


_OPS = (op_linear, op_conv, op_matmul, _binary(0), _binary(1), _binary(2), _binary(3), op_act, op_softmax,
        op_layernorm, op_maxpool, op_avgpool, op_gap, op_reshape, op_transpose, op_concat, op_gather, op_slice)
