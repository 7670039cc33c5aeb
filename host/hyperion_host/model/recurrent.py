"""LSTM and GRU, unrolled over their static sequence into runtime ops: one linear for the input projection of
every step at once, then per step a linear with the recurrent weights (int4 like any linear, shared by every
step), slices, sigmoid/tanh and element-wise products. A mixin of onnx_import._Converter (with lower.Lowerings).

Streaming (one step per call, the state kept between calls) is the same graph exported with a sequence of 1 and
initial_h/initial_c as inputs: Y_h/Y_c come back as outputs and are fed to the next call (docs/ops.md)."""

import numpy as np

GATES = {"LSTM": 4, "GRU": 3}


class Recurrent:
    def op_LSTM(self, node, a):
        self._recurrent(node, a, "LSTM")

    def op_GRU(self, node, a):
        self._recurrent(node, a, "GRU")

    def _recurrent(self, node, a, kind):
        ins = list(node.input) + [""] * 8
        X, W, R, B, seq_lens, h0_name = ins[:6]
        c0_name = ins[6] if kind == "LSTM" else ""
        acts = [t.decode() if isinstance(t, bytes) else t for t in a.get("activations", [])]
        default = ["Sigmoid", "Tanh", "Tanh"] if kind == "LSTM" else ["Sigmoid", "Tanh"]
        if acts and [t.lower() for t in acts] != [t.lower() for t in default] * (len(acts) // len(default)):
            raise ValueError("only the default activations (%s) are supported" % ", ".join(default))
        if "clip" in a or a.get("input_forget", 0):
            raise ValueError("clip and input_forget are not supported")
        peep = None
        if kind == "LSTM" and ins[7]:
            peep = self.const(ins[7])
            if peep is None:
                raise ValueError("the peepholes P must be constant")
        layout = int(a.get("layout", 0))  # 1: batch first, (N, T, I) in, (N, T, D, H) and (N, D, H) out
        if layout:
            xt = self.tmp(X + "_tnc", tuple(self.shape(X)[i] for i in (1, 0, 2)))
            self.emit("transpose", [X], [xt], {"perm": [1, 0, 2]}, node)
            X = xt
        xs = self.shape(X)
        T, N = xs[0], xs[1]
        Wc, Rc = self.const(W), self.const(R)
        if Wc is None or Rc is None:
            raise ValueError("W and R must be constant")
        if seq_lens:
            sl = self.const(seq_lens)
            if sl is None or np.any(np.ravel(sl) != T):
                raise ValueError("sequence_lens must be constant and equal to the sequence length")
        G, H = GATES[kind], int(a.get("hidden_size", Rc.shape[-1]))
        Bc = self.const(B) if B else np.zeros((Wc.shape[0], 2 * G * H), np.float32)
        if Bc is None:
            raise ValueError("B must be constant")
        direction = a.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        dirs = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[direction]
        lbr = int(a.get("linear_before_reset", 0))
        base = node.output[0] or node.output[1] or node.name
        x2 = self.tmp(base + "_x2", (T * N, xs[2]))
        self.emit("reshape", [X], [x2], {}, node)
        ys, hs, cs = [], [], []
        for d, backward in enumerate(dirs):
            tag = "%s_d%d" % (base, d)
            h0 = self._state(node, h0_name, d, N, H, tag + "_h0", layout)
            c0 = self._state(node, c0_name, d, N, H, tag + "_c0", layout) if kind == "LSTM" else None
            P = None if peep is None else np.asarray(peep, np.float32)[d]
            hseq, h, c = self._unroll(node, kind, tag, x2, T, N, H, Wc[d], Rc[d], Bc[d], h0, c0, backward, lbr, P)
            ys.append(hseq)
            hs.append(h)
            cs.append(c)
        outs = list(node.output) + ["", ""]
        D = len(dirs)
        if outs[0]:
            y = self.tmp(outs[0] + "_tdnh", (T, D, N, H)) if layout else outs[0]
            parts = [self._stack(node, [self._reshaped(node, h, (1, 1, N, H)) for h in hseq], 0,
                                 y if D == 1 else None, (T, 1, N, H)) for hseq in ys]
            if D == 2:
                self.emit("concat", parts, [y], {"axis": 1}, node)
            if layout:
                self.emit("transpose", [y], [outs[0]], {"perm": [2, 0, 1, 3]}, node)
        for name, states in ((outs[1], hs), (outs[2] if kind == "LSTM" else "", cs)):
            if name:
                y = self.tmp(name + "_dnh", (D, N, H)) if layout else name
                self._stack(node, [self._reshaped(node, s, (1, N, H)) for s in states], 0, y, (D, N, H))
                if layout:
                    self.emit("transpose", [y], [name], {"perm": [1, 0, 2]}, node)

    def _state(self, node, name, d, N, H, tag, layout):
        """Direction d's initial state: None (zeros), a constant's name, or a (N, H) activation. The state is
        (D, N, H), or (N, D, H) with layout 1."""
        if not name:
            return None
        c = self.const(name)
        if c is not None:
            c = np.take(np.asarray(c, np.float32), d, axis=layout)
            return None if not c.any() else self._fconst(tag, c)
        one = self.tmp(tag + "_one", (N, 1, H) if layout else (1, N, H))
        self.emit("slice", [name], [one], {"axis": layout, "start": d, "step": 1}, node)
        return self._reshaped(node, one, (N, H))

    def _reshaped(self, node, x, shape):
        if self.shape(x) == tuple(shape):
            return x
        y = self.tmp(x + "_r", shape)
        self.emit("reshape", [x], [y], {}, node)
        return y

    def _stack(self, node, parts, axis, out, shape):
        if out is None:
            out = self.tmp(node.output[0] + "_stack", shape)
        if len(parts) == 1:
            self.emit("reshape", parts, [out], {}, node)
        else:
            self.emit("concat", parts, [out], {"axis": axis}, node)
        return out

    def _op(self, node, op, ins, shape, tag, attrs=None):
        out = self.tmp(tag, shape)
        self.emit(op, ins, [out], attrs or {}, node)
        return out

    def _slice(self, node, x, start, count, tag):
        n = self.shape(x)[0]
        return self._op(node, "slice", [x], (n, count), tag, {"axis": 1, "start": start, "step": 1})

    def _matmul(self, node, h, w, bias, tag):
        """h @ w.T (+ bias): a linear on an activation, numpy on a constant state."""
        if self.g.values.get(h) is not None and self.g.is_const(h):
            v = self.g.values[h].const @ w.T + (0 if bias is None else bias)
            return self._fconst(tag, v.astype(np.float32))
        ins = [h, self._weight(w, tag + "_w")]
        if bias is not None:
            ins.append(self._fconst(tag + "_b", bias))
        return self._op(node, "linear", ins, (self.shape(h)[0], w.shape[0]), tag)

    def _weight(self, w, name):
        """One constant per distinct weight matrix: every step's linear shares it."""
        cache = self.__dict__.setdefault("_weights", {})
        key = (w.shape, w.tobytes())
        if key not in cache:
            cache[key] = self._fconst(name, w)
        return cache[key]

    def _unroll(self, node, kind, tag, x2, T, N, H, W, R, B, h, c, backward, lbr, P=None):
        G = GATES[kind]
        Wb, Rb = B[: G * H], B[G * H:]
        bias = Wb + Rb
        if kind == "GRU" and lbr:
            bias = np.concatenate([Wb[: 2 * H] + Rb[: 2 * H], Wb[2 * H:]])
        xw = self._op(node, "linear", [x2, self._weight(np.asarray(W, np.float32), tag + "_W"),
                                       self._fconst(tag + "_bias", bias)], (T * N, G * H), tag + "_xw")
        hseq = [None] * T
        for t in (range(T - 1, -1, -1) if backward else range(T)):
            st = "%s_t%d" % (tag, t)
            gx = self._op(node, "slice", [xw], (N, G * H), st + "_gx", {"axis": 0, "start": t * N, "step": 1})
            if kind == "LSTM":
                h, c = self._lstm_step(node, st, gx, h, c, R, N, H, P)
            else:
                h = self._gru_step(node, st, gx, h, R, Rb, N, H, lbr)
            hseq[t] = h
        return hseq, h, c

    def _lstm_step(self, node, st, gx, h, c, R, N, H, P=None):
        gates = gx
        if h is not None:
            gates = self._op(node, "add", [gx, self._matmul(node, h, R, None, st + "_hr")], (N, 4 * H), st + "_g")
        if P is None:
            iof = self._slice(node, gates, 0, 3 * H, st + "_iof")
            iof = self._op(node, "act", [iof], (N, 3 * H), st + "_iofs", {"act": "sigmoid"})
            i, o, f = (self._slice(node, iof, k * H, H, st + "_" + n) for k, n in enumerate("iof"))
        else:  # peepholes: i and f see the previous cell, o the new one (P = [p_i, p_o, p_f])
            i, o, f = (self._slice(node, gates, k * H, H, st + "_" + n + "x") for k, n in enumerate("iof"))
            if c is not None:
                i = self._peep(node, i, c, P[:H], st + "_pi")
                f = self._peep(node, f, c, P[2 * H:], st + "_pf")
            i = self._op(node, "act", [i], (N, H), st + "_i", {"act": "sigmoid"})
            f = self._op(node, "act", [f], (N, H), st + "_f", {"act": "sigmoid"})
        g = self._op(node, "act", [self._slice(node, gates, 3 * H, H, st + "_cx")], (N, H), st + "_c~",
                     {"act": "tanh"})
        ig = self._op(node, "mul", [i, g], (N, H), st + "_ig")
        if c is not None:
            fc = self._op(node, "mul", [f, c], (N, H), st + "_fc")
            ig = self._op(node, "add", [fc, ig], (N, H), st + "_c")
        if P is not None:
            o = self._op(node, "act", [self._peep(node, o, ig, P[H: 2 * H], st + "_po")], (N, H), st + "_o",
                         {"act": "sigmoid"})
        tc = self._op(node, "act", [ig], (N, H), st + "_tc", {"act": "tanh"})
        return self._op(node, "mul", [o, tc], (N, H), st + "_h"), ig

    def _peep(self, node, pre, cell, p, tag):
        """pre + p * cell (a peephole connection; p per hidden unit)."""
        pc = self._op(node, "mul", [cell, self._fconst(tag + "_p", p)], self.shape(pre), tag + "c")
        return self._op(node, "add", [pre, pc], self.shape(pre), tag)

    def _gru_step(self, node, st, gx, h, R, Rb, N, H, lbr):
        zr = self._slice(node, gx, 0, 2 * H, st + "_zrx")
        if h is not None:
            zr = self._op(node, "add", [zr, self._matmul(node, h, R[: 2 * H], None, st + "_zrh")], (N, 2 * H),
                          st + "_zr")
        zr = self._op(node, "act", [zr], (N, 2 * H), st + "_zrs", {"act": "sigmoid"})
        z, r = self._slice(node, zr, 0, H, st + "_z"), self._slice(node, zr, H, H, st + "_r")
        hx = self._slice(node, gx, 2 * H, H, st + "_hx")
        if lbr:  # r * (h R_h + Rb_h)
            hr = self._matmul(node, h, R[2 * H:], Rb[2 * H:], st + "_hh") if h is not None else \
                self._fconst(st + "_rb", np.broadcast_to(Rb[2 * H:], (N, H)))
            hx = self._op(node, "add", [hx, self._op(node, "mul", [r, hr], (N, H), st + "_rhr")], (N, H), st + "_hs")
        elif h is not None:  # (r * h) R_h, Rb_h folded into the input projection's bias
            rh = self._op(node, "mul", [r, h], (N, H), st + "_rh")
            hx = self._op(node, "add", [hx, self._matmul(node, rh, R[2 * H:], None, st + "_rhh")], (N, H), st + "_hs")
        hh = self._op(node, "act", [hx], (N, H), st + "_h~", {"act": "tanh"})
        if h is None:  # (1 - z) * h~
            zh = self._op(node, "mul", [z, hh], (N, H), st + "_zh")
            return self._op(node, "sub", [hh, zh], (N, H), st + "_h")
        diff = self._op(node, "sub", [h, hh], (N, H), st + "_dh")
        return self._op(node, "add", [hh, self._op(node, "mul", [z, diff], (N, H), st + "_zd")], (N, H), st + "_h")
