# Text generation on the board: a KV-cache decoder over a .hyq decoder-only transformer (the graph that
# tools/onnx_examples.decoder() writes; node names in docs/tinylm.md). A token costs one matvec per weight
# matrix (the runtime's own kernels); attention runs over an int8 key/value cache with the dot8 kernel, so
# no step is quadratic in bytecode. Top to bottom, as llama2.c: the weights and the cache (Decoder.__init__), the
# forward pass of one token (step), then the generation loop (stream). The matvecs are layers.py's, the layer
# norm ops.py's: this module is imported by model.py (Model.generate) and imports neither it nor the package.
import math

from hyperion import hyq, layers, ops, text
from hyperion.errors import OutOfMemory


class Decoder:
    """Runs a decoder model one token at a time. step(token) appends the token to the cache and returns the
    logits for the next one."""

    def __init__(self, model):
        m = model
        spec = (m.meta.get("text") or {}).get("decoder")
        if not spec:
            raise ValueError("%s is not a decoder language model: generate() needs metadata text.decoder "
                             "(see docs/tinylm.md)" % m.path)
        names = m.meta.get("node_names") or ()
        self.nodes = {}
        for i, nd in enumerate(m.h.nodes):
            if i < len(names):
                self.nodes[names[i]] = nd
        self.m = m
        self.L = spec["layers"]
        self.H = spec["heads"]
        self.emb = m.h.tensors[self._node("tok_gather").inputs[0]]
        self.pos = m.h.tensors[self._node("pos_add").inputs[1]]
        d = self.d = self.emb.shape[-1]
        self.hd = d // self.H
        self.ctx = C = self.pos.size // d
        self.layers = []
        ffn = 1
        for i in range(self.L):
            p = "h%d." % i
            lay = (self._norm_of(p + "ln1"), self._lin_of(p + "q_proj"), self._lin_of(p + "k_proj"),
                   self._lin_of(p + "v_proj"), self._lin_of(p + "o_proj"), self._norm_of(p + "ln2"),
                   self._lin_of(p + "up"), self._lin_of(p + "down"))
            ffn = max(ffn, lay[6][0].shape[0])
            self.layers.append(lay)
        self.shared = [self._shares_input(lay[1], lay[2]) and self._shares_input(lay[1], lay[3]) for lay in self.layers]
        self.lnf = self._norm_of("ln_f")
        self.head = self._lin_of("lm_head")
        self.vocab = self.head[0].shape[0]
        # the cache: keys as rows [layer][position][d], values transposed [layer][channel][position] so both
        # attention products are rows . vector; one scale per (layer, position, head)
        rows = self.vocab
        for lay in self.layers:
            for lin in lay[1:5] + lay[6:]:
                rows += lin[0].shape[0]
        # cache, scales, float vectors, and the runtime's per-row (d, dmin) of every matrix (made at first use)
        self.need = 2 * self.L * C * d + 8 * self.L * C * self.H + 4 * (7 * d + ffn + 2 * C + self.vocab) + 8 * rows
        self.inv_sqrt = 1.0 / math.sqrt(self.hd)
        try:
            self.kc = bytearray(self.L * C * d)
            self.vt = bytearray(self.L * d * C)
            # the float vectors: views of one block (one allocation, no holes between them)
            sizes = (d, d, d, d, d, d, ffn, C, self.vocab, self.L * C * self.H, self.L * C * self.H)
            n = 0
            for k in sizes:
                n += k
            block = memoryview(layers.zeros("f", n))
            views = []
            o = 0
            for k in sizes:
                views.append(block[o: o + k])
                o += k
            self.x, self.h, self.q, self.kv, self.cv, self.prow, self.u, self.att, self.logits, self.ks, self.vs = views
            self.q8 = bytearray(self.hd)
            self.w8 = bytearray(C)
            self.iacc = layers.zeros("i", max(C, self.hd))
            self.n = 0
            self.step(0)  # one token now, so whatever the runtime makes at first use is made while preparing
        except MemoryError:
            import gc

            self.kc = self.vt = None  # this half-made decoder is dropped: the runtime stays usable
            gc.collect()
            raise OutOfMemory("preparing %s to generate" % m.path, self.need, gc.mem_free()) from None
        self.n = 0

    def _node(self, name):
        nd = self.nodes.get(name)
        if nd is None:
            raise ValueError("%s has no node '%s': generate() needs the decoder layout of docs/tinylm.md"
                             % (self.m.path, name))
        return nd

    def _lin_of(self, name):
        """(weights, bias, act, p0, p1, qmode, scale) of a linear node, for layers._matvec."""
        nd = self._node(name)
        m = self.m
        act, has_bias, qmode, rq = nd.iattrs
        xt = m.h.tensors[nd.inputs[0]]
        if rq or xt.dtype == hyq.D_I8:
            raise ValueError("%s: node '%s' has int8 activations; quantize the decoder without --calib "
                             "activation scales" % (m.path, name))
        bias = m.view(nd.inputs[2]) if has_bias else None
        scale = xt.scale if qmode == hyq.Q_STATIC else 0.0
        return m.h.tensors[nd.inputs[1]], bias, act, nd.fattrs[0], nd.fattrs[1], qmode, scale

    def _norm_of(self, name):
        nd = self._node(name)
        return self.m.view(nd.inputs[1]), self.m.view(nd.inputs[2]) if nd.iattrs[1] else None, nd.fattrs[0]

    def _lin(self, lin, x, y, s=None):
        """y = lin(x); returns x's int8 scale if x was quantized into m.xq. s: x is in m.xq already, at scale s
        (the q, k and v projections of a layer share one quantized input)."""
        t, bias, act, p0, p1, qmode, scale = lin
        m = self.m
        if s is None:
            return layers._matvec(m, t, x, 0, t.shape[1], y, 0, 1, bias, act, p0, p1, qmode, scale, m.xq)
        sc, asym = layers._q_rows(m, t, m.xq, t.shape[1])
        layers._finish_rows(m, y, 0, t.shape[0], sc, 0, asym, s, bias, act, p0, p1, 1)
        return s

    @staticmethod
    def _shares_input(a, b):
        """Whether linear b quantizes its input as linear a does (so a's int8 copy serves b)."""
        qa = a[0].kind in (hyq.K_Q4, hyq.K_Q8) and a[5] != hyq.Q_FLOAT
        return qa and b[0].kind == a[0].kind and b[0].shape[1] == a[0].shape[1] and b[5] == a[5] and b[6] == a[6]

    def _norm(self, norm, x, y):
        g, b, eps = norm
        ops.norm(self.m.k, x, 0, 1, self.d, g, b, eps, y)

    def _residual(self, x, h):
        """x += h (the kernel path's element-wise add where it has one)."""
        add = getattr(self.m.k, "binary", None)
        if add is not None:
            add(0, x, h, x, self.d, 1, self.d, 0, 0, 0.0, 0.0)
            return
        for i in range(self.d):
            x[i] += h[i]

    def reset(self):
        self.n = 0

    def _embed(self, tok):
        m, d, x = self.m, self.d, self.x
        if self.emb.kind == hyq.K_F32:
            table = m.view(self.emb.index)
            for i in range(d):
                x[i] = table[tok * d + i]
        else:
            layers._dequant_row(m, self.emb, tok, x, 0)
        pos = m.consts.get(self.pos.index)
        if pos is None:  # streamed: one row from the file
            m.h.read_at(self.pos.offset + 4 * d * self.n, self.prow, 4 * d)
            pos, o = self.prow, 0
        else:
            o = d * self.n
        add = getattr(m.k, "binary", None)
        if add is not None:
            add(0, x, memoryview(pos)[o: o + d], x, d, 1, d, 0, 0, 0.0, 0.0)
            return
        for i in range(d):
            x[i] += pos[o + i]

    def _attention(self, li, wv, h, s):
        """The new key (in kv) and value into the cache, then each head's attention into cv: the bytecode loop
        (the c path's attention kernel does the same steps)."""
        k = self.m.k
        d, H, hd, C, n = self.d, self.H, self.hd, self.ctx, self.n
        q, kv, cv, att = self.q, self.kv, self.cv, self.att
        kc, vt, ks, vs, q8, w8, iacc = self.kc, self.vt, self.ks, self.vs, self.q8, self.w8, self.iacc
        row = (li * C + n) * d
        sb = (li * C + n) * H
        for j in range(H):
            ks[sb + j] = layers._quantize(k, kv, hd, kc, 0.0, j * hd, row + j * hd)
        self._lin(wv, h, kv, s if self.shared[li] else None)
        for j in range(H):
            vs[sb + j] = layers._quantize(k, kv, hd, q8, 0.0, j * hd)
            col = (li * d + j * hd) * C + n
            for i in range(hd):
                vt[col + i * C] = q8[i]
        for j in range(H):
            f = layers._quantize(k, q, hd, q8, 0.0, j * hd) * self.inv_sqrt
            k.dot8(kc, li * C * d + j * hd, d, n + 1, q8, hd, iacc)
            top = -1e30
            for t in range(n + 1):
                s = iacc[t] * ks[(li * C + t) * H + j] * f
                att[t] = s
                if s > top:
                    top = s
            tot = 0.0
            for t in range(n + 1):  # softmax weights times each value row's scale, normalized below
                e = math.exp(att[t] - top)
                tot += e
                att[t] = e * vs[(li * C + t) * H + j]
            f = layers._quantize(k, att, n + 1, w8, 0.0) / tot
            k.dot8(vt, (li * d + j * hd) * C, C, hd, w8, n + 1, iacc)
            for i in range(hd):
                cv[j * hd + i] = iacc[i] * f

    def step(self, tok, want_logits=True):
        """Feed one token; returns the next token's logits (array('f'), reused) or None."""
        if not 0 <= tok < self.emb.shape[0]:
            raise ValueError("token %d is outside the vocabulary (0..%d)" % (tok, self.emb.shape[0] - 1))
        if self.n >= self.ctx:
            raise ValueError("the context of %d tokens is full; reset() first" % self.ctx)
        k = self.m.k
        H, hd, C, n = self.H, self.hd, self.ctx, self.n
        x, h, q, kv, cv, att = self.x, self.h, self.q, self.kv, self.cv, self.att
        kc, vt, ks, vs, q8, w8, iacc = self.kc, self.vt, self.ks, self.vs, self.q8, self.w8, self.iacc
        self._embed(tok)
        attend = getattr(k, "attention", None)
        for li in range(self.L):
            ln1, wq, wk, wv, wo, ln2, up, down = self.layers[li]
            self._norm(ln1, x, h)
            s = self._lin(wq, h, q)
            self._lin(wk, h, kv, s if self.shared[li] else None)
            if attend is not None:  # the kernel path's whole attention
                self._lin(wv, h, h, s if self.shared[li] else None)
                attend(kv, h, q, kc, vt, ks, vs, att, q8, w8, iacc, cv, li, n, C, H, hd, self.inv_sqrt)
            else:
                self._attention(li, wv, h, s)
            self._lin(wo, cv, h)
            self._residual(x, h)
            self._norm(ln2, x, h)
            self._lin(up, h, self.u)
            self._lin(down, self.u, h)
            self._residual(x, h)
        self.n = n + 1
        if not want_logits:
            return None
        self._norm(self.lnf, x, h)
        self._lin(self.head, h, self.logits)
        return self.logits

    def prefill(self, tokens):
        """Start over with tokens (the last ctx - 1 of them if longer); returns the next token's logits."""
        self.reset()
        if len(tokens) >= self.ctx:
            tokens = tokens[len(tokens) - self.ctx + 1:]
        for i in range(len(tokens) - 1):
            self.step(tokens[i], False)
        return self.step(tokens[-1])

    def nll(self, tokens):
        """Summed negative log-likelihood of tokens[1:] given what precedes each (within one context), and
        the count: exp(sum / count) is the perplexity."""
        self.reset()
        total = 0.0
        for i in range(len(tokens) - 1):
            lg = self.step(tokens[i])
            top = max(lg)
            s = 0.0
            for v in lg:
                s += math.exp(v - top)
            total += top + math.log(s) - lg[tokens[i + 1]]
        return total, len(tokens) - 1


def stream(dec, prompt, max_tokens, sampler, stops):
    """Yields the text the model writes after prompt, piece by piece as tokens come."""
    toks = list(text.encode(prompt)) or [10]  # an empty prompt starts after a newline
    utf = text.Utf8Decoder()
    logits = dec.prefill(toks)
    for i in range(max_tokens):
        tok = sampler.pick(logits, dec.vocab, toks)
        toks.append(tok)
        piece = utf.feed(tok)
        if piece:
            out = stops.feed(piece)
            if out:
                yield out
            if stops.stopped:
                return
        if i + 1 == max_tokens:
            break
        if dec.n == dec.ctx:  # the context is full: slide it, keeping its second half
            if len(toks) > 2 * dec.ctx:
                del toks[:len(toks) - dec.ctx]
            logits = dec.prefill(toks[len(toks) - dec.ctx // 2:])
        else:
            logits = dec.step(tok)
    out = stops.feed(utf.flush()) + stops.flush()
    if out:
        yield out
