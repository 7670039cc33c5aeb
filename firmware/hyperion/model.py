# The model: load a .hyq, plan its buffers, run its nodes through the op table (ops.OPS) with the kernel path
# chosen at load. Weights are streamed layer by layer from the file into one reusable buffer, or used in place
# when the file is memory-mapped (ROMFS). Floats are used where an op needs them; linear/conv run integer kernels.
import array
import gc
import math

from hyperion import hyq
from hyperion.errors import OutOfMemory
from hyperion.kernels import select
from hyperion.layers import _copy, _quantize, zeros
from hyperion.ops import OPS, kernel_path

# Streamed weight matrices bigger than this are read in chunks of whole rows (the buffer's size).
WBUF_CHUNK = 4096
# Activation arenas are allocated at load, in one piece before the other buffers; a language model's bigger than
# this at the first run().
EAGER_ARENA = 32768


def _nonfinite(x, n):
    """The index of the first NaN or infinity in x[0:n], or -1 (the bytecode of kernels' nonfinite)."""
    for i in range(n):
        v = x[i]
        if v != v or v - v != 0.0:
            return i
    return -1


class Model:
    """A loaded .hyq model. Use hyperion.load(); run(x) returns the outputs. Inputs with NaN or infinity are
    refused unless allow_nonfinite is set."""

    allow_nonfinite = False

    def __init__(self, path, kernels=None, mode="auto", verify=True, key=None):
        # kernels: a kernel module (hyperion.kernels.select); None: the best this board runs. key: an encrypted
        # model's key (None: the board's key folder)
        self.path = path
        f = open(path, "rb")
        self._f = f
        try:
            self.h = hyq.Model(f, verify, key, kernels)
            if verify:
                from hyperion.hyqcheck import check_once

                check_once(self.h)
                self.h.verify_tensors()
        except Exception:
            f.close()
            raise
        self.mapped = None
        if self.h.ctr is not None and mode == "rom":
            f.close()
            raise ValueError("mode='rom' runs weights in place, but %s is encrypted: it streams them" % path)
        if mode in ("auto", "rom") and self.h.ctr is None:  # encrypted weights are decrypted as they stream
            try:
                self.mapped = memoryview(f)  # ROMFS files are memory: weights used in place
            except TypeError:
                if mode == "rom":
                    f.close()
                    raise ValueError("mode='rom' needs a memory-mapped file (ROMFS); %s is not" % path)
        self.mode = "rom" if self.mapped is not None else "stream"
        self.k = kernels or select("auto")[0]
        h = self.h
        self._meta = None
        # activations: small arenas now, before the buffers below, so they lie in one piece low in the heap;
        # big ones (a language model's whole-sequence graph, which generate() never runs) at the first run()
        self.arena = None
        self.arena8 = None
        tokens = False  # a language model (token-id input): its whole-sequence graph may never run
        for i in h.inputs:
            if h.tensors[i].dtype == hyq.D_I32:
                tokens = True
        if h.arena_size + h.arena8_size <= EAGER_ARENA or not tokens:
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
        self._load_consts(self._in_place_tables())
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
        self.expanded = {}  # the kernel path's own form of q4 weights (ulab), made now: hyperion/expanded.py
        self.expanded_bytes = 0
        if hasattr(self.k, "expand"):
            from hyperion.expanded import expand_all

            self.expanded_bytes = expand_all(self)
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
    def _in_place_tables(self):
        """Requantization tables the kernels can read where they lie: in a memory-mapped (ROMFS) file, on the C
        and viper paths (they read the int32s through a pointer; the bytecode path indexes an array). A
        MobileNet's tables are tens of KB that stay out of the heap."""
        if self.mapped is None or self.k.PATH == "python":
            return ()
        out = set()
        for nd in self.h.nodes:
            name = hyq.OPS[nd.op]
            if (name == "linear" or name == "conv") and nd.iattrs[hyq.IATTRS[nd.op].index("rq")]:
                t = self.h.tensors[nd.inputs[-1]]
                self.consts[t.index] = self.mapped[self.h.data_offset + t.offset: self.h.data_offset + t.offset + t.nbytes]
                out.add(t.index)
        return out

    def _load_consts(self, skip=()):
        """Small constants (biases, norm weights, requantization tables) into RAM: one float block and one int
        block, each constant a view of its part, read in place (no per-constant copies to fragment the heap).
        Bigger ones (a position table, a mask) are read when used; skip: those already in self.consts."""
        small = [t for t in self.h.tensors if (t.kind == hyq.K_F32 or t.kind == hyq.K_I32) and t.nbytes <= 8192
                 and t.index not in skip]
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
        if t.dtype == hyq.D_I8:  # quantized here with the input's static scale, as the first layer expects
            self._set_int8(x, dst, want, t.scale, n)
            return
        for i in range(want):
            dst[i] = x[i]
        if not self.allow_nonfinite:  # the host's rule too (hyperion-host infer): refused unless asked for
            f = getattr(self.k, "nonfinite", None)
            bad = f(dst, want) if f is not None else _nonfinite(dst, want)
            if bad >= 0:
                raise ValueError("input %d holds NaN or infinity (value %d); set model.allow_nonfinite = True to "
                                 "run it anyway" % (n, bad))

    def input_scale(self, n=0):
        """The static scale of input n when it is int8 (its first layer reads it as it is), else 0.0."""
        t = self.h.tensors[self.h.inputs[n]]
        return t.scale if t.dtype == hyq.D_I8 else 0.0

    def set_input_q(self, x, n=0):
        """Set an int8 input from bytes already quantized with input_scale(n): x[i] = round(v / scale) + 128,
        as a camera or ADC pipeline can make them. No float copy of the input: x may be a ROMFS file's
        memoryview."""
        t = self.h.tensors[self.h.inputs[n]]
        if t.dtype != hyq.D_I8:
            raise ValueError("input %d is float: use set_input" % n)
        if len(x) != t.size:
            raise ValueError("input has %d bytes; the model expects shape %s (%d values)" % (len(x), t.shape, t.size))
        _copy(x, 0, self.view(t.index), 0, t.size)

    def _set_int8(self, x, dst, n, scale, which):
        """Floats x -> int8 (+128) bytes dst with the quantize kernel, through a small float chunk (a camera
        frame need not exist as floats all at once)."""
        chunk = zeros("f", min(n, 256))
        f = getattr(self.k, "nonfinite", None)
        for i in range(0, n, len(chunk)):
            c = min(len(chunk), n - i)
            for j in range(c):
                chunk[j] = x[i + j]
            if not self.allow_nonfinite:
                bad = f(chunk, c) if f is not None else _nonfinite(chunk, c)
                if bad >= 0:
                    raise ValueError("input %d holds NaN or infinity (value %d); set model.allow_nonfinite = True "
                                     "to run it anyway" % (which, i + bad))
            _quantize(self.k, chunk, c, dst, scale, 0, i)

    def run(self, x=None, stats=None, clock=None):
        """Run the model on x (or on inputs set with set_input). Returns the output as array('f'), or a tuple
        of them for several outputs. stats: a list with an int per node, to which each op adds the difference of
        clock() (default time.ticks_us) around it: `hyperion-host profile` counts instructions this way."""
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
            if stats is None:
                for nd in self.h.nodes:
                    OPS[2 * nd.op](self, nd)
            else:
                _timed(self, stats, clock)
            for o, i in zip(outs, self.h.outputs):  # graph outputs are float (the quantizer keeps them so)
                _copy(self.view(i), 0, o, 0, len(o))
        except MemoryError as e:
            if isinstance(e, OutOfMemory):
                raise
            gc.collect()
            need = 4 * sum(self.h.tensors[i].size for i in self.h.outputs)
            if self.arena is None:  # the arenas come first
                need += self.h.arena_size + self.h.arena8_size
            raise OutOfMemory("running " + self.path, need, gc.mem_free()) from None
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
        fe = getattr(self, "_frontend", None)
        if fe is None:
            fe = self._frontend = audio.frontend_for(a)
        return self._top(self.run(audio.features(samples, a, fe)))

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
        kinds = [kernel_path(n.op, self.k) for n in self.h.nodes]  # from the op table
        return {"ops": ops, "kernels": kinds, "arena_bytes": self.h.arena_size + self.h.arena8_size,
                "weight_buffer_bytes": len(self.wbuf) if self.wbuf is not None else 0, "mode": self.mode,
                "expanded_bytes": self.expanded_bytes,
                "inputs": [self.h.tensors[i].shape for i in self.h.inputs],
                "outputs": [self.h.tensors[i].shape for i in self.h.outputs], "mem_free": gc.mem_free()}

    def close(self):
        self._f.close()


def _timed(m, stats, clock):
    """The op loop of run(), adding to stats[i] the clock() difference from the end of the op before (one reading
    per op: the differences add up to the whole run)."""
    if clock is None:
        from hyperion.kernels import clock_us

        clock = clock_us()
    i = 0
    t = clock()
    for nd in m.h.nodes:
        OPS[2 * nd.op](m, nd)
        u = clock()
        stats[i] += u - t
        t = u
        i += 1
