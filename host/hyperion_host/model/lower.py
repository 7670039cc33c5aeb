"""ONNX ops that map to one of the newer runtime ops, or lower to several runtime ops: element-wise functions,
Min/Max/Pow/PRelu/Sum, reductions, ArgMax/TopK, Pad, global max pooling, Resize, ConvTranspose, Expand/Tile and
the recurrent layers (LSTM, GRU, unrolled over their static sequence). A mixin of onnx_import._Converter, which
provides emit/shape/const/value and the shapes of every ONNX value."""

import numpy as np

from hyperion import hyq

# ONNX element-wise op -> (runtime function, default p0, default p1, attribute names of p0 and p1)
SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875
FUNCTIONS = {
    "HardSigmoid": ("hardsigmoid", 0.2, 0.5, "alpha", "beta"),
    "HardSwish": ("hardswish", 0.0, 0.0, "", ""),
    "Elu": ("elu", 1.0, 0.0, "alpha", ""),
    "Selu": ("selu", SELU_ALPHA, SELU_GAMMA, "alpha", "gamma"),
    "Softplus": ("softplus", 0.0, 0.0, "", ""),
    "Softsign": ("softsign", 0.0, 0.0, "", ""),
    "Exp": ("exp", 0.0, 0.0, "", ""),
    "Log": ("log", 0.0, 0.0, "", ""),
    "Sqrt": ("sqrt", 0.0, 0.0, "", ""),
    "Abs": ("abs", 0.0, 0.0, "", ""),
    "Neg": ("neg", 0.0, 0.0, "", ""),
    "Reciprocal": ("reciprocal", 0.0, 0.0, "", ""),
}
REDUCE = {"ReduceMean": hyq.R_MEAN, "ReduceMax": hyq.R_MAX, "ReduceMin": hyq.R_MIN, "ReduceSum": hyq.R_SUM,
          "ReduceProd": hyq.R_PROD}
PAD_MODES = {"constant": hyq.P_CONSTANT, "reflect": hyq.P_REFLECT, "edge": hyq.P_EDGE, "wrap": hyq.P_WRAP}


def _text(v, default):
    v = default if v is None else v
    return v.decode() if isinstance(v, bytes) else v


def _renamed(node, output):
    """A copy of node writing `output` instead of its first output."""
    n = type(node)()
    n.CopyFrom(node)
    n.output[0] = output
    return n


def _with_input(node, x):
    n = type(node)()
    n.CopyFrom(node)
    n.input[0] = x
    return n


def _reducer(kind):
    def op(self, node, a):
        self._reduce(node, a, kind)

    return op


def _function(fn, p0, p1, k0, k1):
    def op(self, node, a):
        self._act(node, fn, float(a.get(k0, p0)) if k0 else p0, float(a.get(k1, p1)) if k1 else p1)

    return op


class Lowerings:
    for _onnx, _spec in FUNCTIONS.items():
        locals()["op_" + _onnx] = _function(*_spec)
    for _onnx, _kind in REDUCE.items():
        locals()["op_" + _onnx] = _reducer(_kind)
    del _onnx, _spec, _kind

    # -- helpers -------------------------------------------------------------------------------------------

    def tmp(self, base, shape):
        """A new intermediate value of this shape, named after base."""
        name, i = base, 0
        while name in self.shapes or name in self.consts or name in self.g.values:
            i += 1
            name = "%s_%d" % (base, i)
        self.shapes[name] = tuple(int(d) for d in shape)
        return name

    def _out(self, node, last, base, shape):
        """node's output when this is its last op, else a new intermediate."""
        return node.output[0] if last else self.tmp(base, shape)

    def _axis(self, axis, rank):
        axis = int(axis)
        if not -rank <= axis < rank:
            raise ValueError("axis %d of a rank-%d tensor" % (axis, rank))
        return axis + rank if axis < 0 else axis

    def _chain(self, node, steps, x):
        """Emit steps [(op, extra inputs, attrs, out shape)] from x; the last writes node.output[0]."""
        if not steps:
            self.emit("reshape", [x], [node.output[0]], {}, node)
            return
        cur = x
        for i, (op, extra, attrs, shape) in enumerate(steps):
            out = self._out(node, i == len(steps) - 1, "%s_%s%d" % (node.output[0], op, i), shape)
            self.emit(op, [cur] + list(extra), [out], attrs, node)
            cur = out

    def _fconst(self, name, array):
        return self.g.add_const(name, np.ascontiguousarray(array, np.float32)).name

    # -- element-wise --------------------------------------------------------------------------------------

    def op_Pow(self, node, a):
        e = self.const(node.input[1])
        if e is not None and np.size(e) == 1 and self.shape(node.output[0]) == self.shape(node.input[0]):
            self._act(node, "pow", float(np.ravel(e)[0]))
        else:
            self._binary(node, "pow")

    def op_PRelu(self, node, a):
        xs, slope = self.shape(node.input[0]), self.const(node.input[1])
        if self.opset < 7 and slope is not None and slope.ndim == 1 and len(xs) > 2 and slope.size == xs[1] > 1:
            # PRelu-6: a 1-D slope is per channel (axis 1), not numpy-broadcast
            s = self._fconst(node.input[1] + "_c", slope.reshape((-1,) + (1,) * (len(xs) - 2)))
            self.emit("prelu", [node.input[0], s], [node.output[0]], {}, node)
            return
        if self.shape(node.output[0]) != xs:
            raise ValueError("the slope must broadcast to the input")
        self._binary(node, "prelu")

    def _variadic(self, node, op):
        ins = [n for n in node.input if n]
        cur = ins[0]
        steps = []
        shape = self.shape(cur)
        for n in ins[1:]:
            shape = tuple(np.broadcast_shapes(shape, self.shape(n)))
            steps.append((op, [n], {}, shape))
        self._chain(node, steps, cur)

    def op_Min(self, node, a):
        self._variadic(node, "min")

    def op_Max(self, node, a):
        self._variadic(node, "max")

    def op_Sum(self, node, a):
        self._variadic(node, "add")

    # -- reductions, arg max, top k ------------------------------------------------------------------------

    def _reduce(self, node, a, kind):
        x = node.input[0]
        xs = self.shape(x)
        axes = a.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.const(node.input[1])
            if axes is None:
                raise ValueError("the axes must be constant")
        if axes is None or np.size(axes) == 0:
            if a.get("noop_with_empty_axes", 0):
                self._chain(node, [], x)
                return
            axes = range(len(xs))
        axes = sorted({self._axis(ax, len(xs)) for ax in np.ravel(axes)})
        keep = a.get("keepdims", 1)
        shape = list(xs)
        steps = []
        if kind == hyq.R_MEAN and len(xs) == 4 and axes == [2, 3]:
            steps.append(("gap", [], {}, xs[:2] + (1, 1)))  # the C kernel, and int8 inputs
        else:
            for ax in axes:
                shape[ax] = 1
                steps.append(("reduce", [], {"kind": kind, "axis": ax}, tuple(shape)))
        if not keep:
            steps.append(("reshape", [], {}, self.shape(node.output[0])))
        self._chain(node, steps, x)

    def _reduce_of(self, node, a, kind, before=None, after=None):
        """A reduction with an element-wise function before (x*x, |x|, exp) and/or after (sqrt, log)."""
        x = node.input[0]
        if before:
            y = self.tmp(node.output[0] + "_pre", self.shape(x))
            if before == "square":
                self.emit("mul", [x, x], [y], {}, node)
            else:
                self.emit("act", [x], [y], {"act": before, "p0": 0.0, "p1": 0.0}, node)
            x = y
        final = node.output[0]
        if after:
            node = _renamed(node, self.tmp(final + "_red", self.shape(final)))
        node = _with_input(node, x)
        self._reduce(node, a, kind)
        if after:
            self.emit("act", [node.output[0]], [final], {"act": after, "p0": 0.0, "p1": 0.0}, node)

    def op_ReduceSumSquare(self, node, a):
        self._reduce_of(node, a, hyq.R_SUM, "square")

    def op_ReduceL1(self, node, a):
        self._reduce_of(node, a, hyq.R_SUM, "abs")

    def op_ReduceL2(self, node, a):
        self._reduce_of(node, a, hyq.R_SUM, "square", "sqrt")

    def op_ReduceLogSum(self, node, a):
        self._reduce_of(node, a, hyq.R_SUM, None, "log")

    def op_ReduceLogSumExp(self, node, a):
        self._reduce_of(node, a, hyq.R_SUM, "exp", "log")

    def op_LogSoftmax(self, node, a):
        final = node.output[0]
        mid = self.tmp(final + "_softmax", self.shape(final))
        self.op_Softmax(_renamed(node, mid), a)
        self.emit("act", [mid], [final], {"act": "log", "p0": 0.0, "p1": 0.0}, node)

    def _arg(self, node, a, largest):
        x = node.input[0]
        xs = self.shape(x)
        axis = self._axis(a.get("axis", 0), len(xs))
        shape = list(xs)
        shape[axis] = 1
        steps = [("argmax", [], {"axis": axis, "largest": largest, "last": a.get("select_last_index", 0)},
                  tuple(shape))]
        if not a.get("keepdims", 1):
            steps.append(("reshape", [], {}, self.shape(node.output[0])))
        self._chain(node, steps, x)

    def op_ArgMax(self, node, a):
        self._arg(node, a, 1)

    def op_ArgMin(self, node, a):
        self._arg(node, a, 0)

    def op_TopK(self, node, a):
        x = node.input[0]
        xs = self.shape(x)
        if self.opset >= 10:
            k = self.const(node.input[1])
            if k is None:
                raise ValueError("k must be constant")
            k = int(np.ravel(k)[0])
        else:
            k = int(a["k"])
        axis = self._axis(a.get("axis", -1), len(xs))
        if not 1 <= k <= xs[axis]:
            raise ValueError("k = %d of %d values" % (k, xs[axis]))
        shape = list(xs)
        shape[axis] = k
        outs = [o if o else self.tmp(node.output[0] + "_unused%d" % i, shape) for i, o in enumerate(node.output[:2])]
        self.emit("topk", [x], outs, {"axis": axis, "k": k, "largest": a.get("largest", 1)}, node)

    # -- padding, pooling, resizing ------------------------------------------------------------------------

    def op_Pad(self, node, a):
        x = node.input[0]
        xs = self.shape(x)
        mode = _text(a.get("mode"), "constant")
        if mode not in PAD_MODES:
            raise ValueError("mode %s is not supported" % mode)
        value, axes = 0.0, None
        if self.opset >= 11:
            pads = self.const(node.input[1])
            if pads is None:
                raise ValueError("the pads must be constant")
            if len(node.input) > 2 and node.input[2]:
                v = self.const(node.input[2])
                if v is None:
                    raise ValueError("the constant value must be constant")
                value = float(np.ravel(v)[0]) if np.size(v) else 0.0
            if len(node.input) > 3 and node.input[3]:
                axes = self.const(node.input[3])
                if axes is None:
                    raise ValueError("the axes must be constant")
        else:
            pads, value = a["pads"], float(a.get("value", 0.0))
        axes = [self._axis(ax, len(xs)) for ax in (range(len(xs)) if axes is None else np.ravel(axes))]
        pads = [int(p) for p in np.ravel(pads)]
        if len(pads) != 2 * len(axes):
            raise ValueError("%d pads for %d axes" % (len(pads), len(axes)))
        shape = list(xs)
        steps = []
        for ax, b, e in zip(axes, pads[: len(axes)], pads[len(axes):]):
            if b < 0 or e < 0:  # negative pads crop
                cut = shape[ax] - max(0, -b) - max(0, -e)
                if cut <= 0:
                    raise ValueError("pads crop axis %d away" % ax)
                shape[ax] = cut
                steps.append(("slice", [], {"axis": ax, "start": max(0, -b), "step": 1}, tuple(shape)))
            b, e = max(0, b), max(0, e)
            if b or e:
                if mode == "reflect" and max(b, e) >= shape[ax]:
                    raise ValueError("reflect padding of %d on an axis of %d" % (max(b, e), shape[ax]))
                shape[ax] += b + e
                steps.append(("pad", [], {"axis": ax, "before": b, "after": e, "mode": PAD_MODES[mode],
                                          "value": value}, tuple(shape)))
        self._chain(node, steps, x)

    def op_GlobalMaxPool(self, node, a):
        xs = self.shape(node.input[0])
        if len(xs) not in (3, 4):
            raise ValueError("only (N, C, L) and (N, C, H, W) inputs are supported")
        kh, kw = (1, xs[2]) if len(xs) == 3 else xs[2:]
        self.emit("maxpool", [node.input[0]], [node.output[0]], {"kh": kh, "kw": kw, "sh": 1, "sw": 1, "pt": 0,
                                                                  "pl": 0, "pb": 0, "pr": 0, "dh": 1, "dw": 1}, node)

    def _resample(self, node, x, axis, last, idx, weights=None):
        """Resample axis `axis` of x with constant tables: out[j] = x[idx[j]] (weights None), or the linear
        interpolation x[i0] + w (x[i1] - x[i0]) with idx = (i0, i1) and weights w. Returns the output's name
        (node's own output when last)."""
        base = "%s_ax%d" % (node.output[0], axis)
        shape = list(self.shape(x))
        i0 = idx if weights is None else idx[0]
        shape[axis] = len(i0)
        out = self._out(node, last, base, shape)
        t0 = self.g.add_const(base + "_i0", np.asarray(i0, np.int32)).name
        if weights is None:
            self.emit("gather", [x, t0], [out], {"axis": axis}, node)
            return out
        t1 = self.g.add_const(base + "_i1", np.asarray(idx[1], np.int32)).name
        lo, hi, diff, part = (self.tmp(base + tag, shape) for tag in ("_lo", "_hi", "_diff", "_part"))
        wshape = [1] * len(shape)
        wshape[axis] = len(i0)
        w = self._fconst(base + "_w", np.reshape(weights, wshape))
        self.emit("gather", [x, t0], [lo], {"axis": axis}, node)
        self.emit("gather", [x, t1], [hi], {"axis": axis}, node)
        self.emit("sub", [hi, lo], [diff], {}, node)
        self.emit("mul", [diff, w], [part], {}, node)
        self.emit("add", [lo, part], [out], {}, node)
        return out

    def _resize(self, node, a, scales, sizes, ctm, nearest_mode):
        x = node.input[0]
        xs, ys = self.shape(x), self.shape(node.output[0])
        mode = _text(a.get("mode"), "nearest")
        if mode not in ("nearest", "linear", "bilinear"):
            raise ValueError("mode %s is not supported (nearest and linear are)" % mode)
        if a.get("antialias", 0):
            raise ValueError("antialias is not supported")
        policy = _text(a.get("keep_aspect_ratio_policy"), "stretch")
        if ctm == "tf_crop_and_resize":
            raise ValueError("coordinate_transformation_mode tf_crop_and_resize is not supported")
        axes = a.get("axes")
        axes = [self._axis(ax, len(xs)) for ax in (axes if axes is not None else range(len(xs)))]
        scale = [1.0] * len(xs)
        for k, ax in enumerate(axes):
            if sizes is not None:
                scale[ax] = float(np.float32(np.ravel(sizes)[k]) / np.float32(xs[ax]))
            elif scales is not None:
                scale[ax] = float(np.float32(scales[k]))
        if sizes is not None and policy != "stretch":  # one scale for every resized axis
            common = (min if policy == "not_larger" else max)(scale[ax] for ax in axes)
            for ax in axes:
                scale[ax] = common
        cur = x
        for ax in range(len(xs)):
            n, m, s = xs[ax], ys[ax], scale[ax]
            mf = m if sizes is not None and policy == "stretch" else n * s  # the resized length, unrounded
            if n == m and s == 1.0:
                continue
            o = np.arange(m, dtype=np.float64)
            if ctm == "asymmetric":
                c = o / s
            elif ctm == "align_corners":
                c = o * (n - 1) / (mf - 1) if mf > 1 else np.zeros(m)
            elif ctm == "pytorch_half_pixel":
                c = (o + 0.5) / s - 0.5 if mf > 1 else np.zeros(m)
            elif ctm == "tf_half_pixel_for_nn":
                c = (o + 0.5) / s
            elif ctm == "half_pixel_symmetric":
                adj = m / (s * n)
                c = n / 2.0 * (1 - adj) + (o + 0.5) / s - 0.5
            elif ctm == "half_pixel":
                c = (o + 0.5) / s - 0.5
            else:
                raise ValueError("coordinate_transformation_mode %s is not supported" % ctm)
            last = all(xs[b] == ys[b] and scale[b] == 1.0 for b in range(ax + 1, len(xs)))
            if mode == "nearest":
                if nearest_mode == "round_prefer_ceil":
                    i = np.floor(c + 0.5)
                elif nearest_mode == "floor":
                    i = np.floor(c)
                elif nearest_mode == "ceil":
                    i = np.ceil(c)
                else:  # round_prefer_floor
                    i = np.ceil(c - 0.5)
                cur = self._resample(node, cur, ax, last, np.clip(i, 0, n - 1).astype(np.int64))
            else:
                c = np.clip(c, 0, n - 1)
                i0 = np.floor(c).astype(np.int64)
                cur = self._resample(node, cur, ax, last, (i0, np.minimum(i0 + 1, n - 1)), c - i0)
        if cur == x:
            self.emit("reshape", [x], [node.output[0]], {}, node)

    def op_Resize(self, node, a):
        scales = sizes = None
        if self.opset >= 11:
            if len(node.input) > 3 and node.input[3]:
                sizes = self.const(node.input[3])
                if sizes is None:
                    raise ValueError("the sizes must be constant")
            if len(node.input) > 2 and node.input[2] and sizes is None:
                scales = self.const(node.input[2])
                if scales is None:
                    raise ValueError("the scales must be constant")
                if np.size(scales) == 0:
                    scales = None
        else:
            scales = self.const(node.input[1])
            if scales is None:
                raise ValueError("the scales must be constant")
        ctm = _text(a.get("coordinate_transformation_mode"), "half_pixel" if self.opset >= 11 else "asymmetric")
        nm = _text(a.get("nearest_mode"), "round_prefer_floor" if self.opset >= 11 else "floor")
        self._resize(node, a, np.ravel(scales) if scales is not None else None, sizes, ctm, nm)

    def op_Upsample(self, node, a):
        scales = a.get("scales")
        if scales is None:
            scales = self.const(node.input[1])
            if scales is None:
                raise ValueError("the scales must be constant")
        self._resize(node, a, np.ravel(scales), None, "asymmetric", "floor")

    # -- transposed convolution ----------------------------------------------------------------------------

    def op_ConvTranspose(self, node, a):
        """A stride-1 conv with flipped, transposed weights over the input spread out by the stride (zeros
        between) and padded: each spatial axis is one pad (a zero row) and one gather that places the rows."""
        x, w = node.input[0], node.input[1]
        wc = self.const(w)
        if wc is None:
            raise ValueError("the weights must be constant")
        xs, ys = self.shape(x), self.shape(node.output[0])
        nd = len(xs) - 2
        if nd not in (1, 2):
            raise ValueError("only 1-D and 2-D transposed convolutions are supported")
        k = list(wc.shape[2:])
        s = list(a.get("strides", [1] * nd))
        d = list(a.get("dilations", [1] * nd))
        outpad = list(a.get("output_padding", [0] * nd))
        auto = _text(a.get("auto_pad"), "NOTSET")
        pads = list(a.get("pads", [0] * (2 * nd)))
        if auto in ("SAME_UPPER", "SAME_LOWER") or "output_shape" in a:
            pads = [0] * (2 * nd)
            for i in range(nd):
                total = s[i] * (xs[2 + i] - 1) + outpad[i] + (k[i] - 1) * d[i] + 1 - ys[2 + i]
                first = total // 2 if auto == "SAME_UPPER" else total - total // 2
                pads[i], pads[nd + i] = first, total - first
        cur = x
        shape = list(xs)
        for i in range(nd):
            ax, n, m = 2 + i, xs[2 + i], ys[2 + i]
            length = m + d[i] * (k[i] - 1)  # the input a stride-1, unpadded conv needs for m outputs
            lead = d[i] * (k[i] - 1) - pads[i]
            idx = np.full(length, n, np.int64)  # row n: the zero row the pad adds
            for j in range(n):
                p = lead + j * s[i]
                if 0 <= p < length:
                    idx[p] = j
            shape[ax] = n + 1
            padded = self.tmp("%s_zrow%d" % (node.output[0], ax), shape)
            self.emit("pad", [cur], [padded], {"axis": ax, "before": 0, "after": 1, "mode": hyq.P_CONSTANT,
                                               "value": 0.0}, node)
            shape[ax] = length
            spread = self.tmp("%s_spread%d" % (node.output[0], ax), shape)
            t = self.g.add_const("%s_place%d" % (node.output[0], ax), idx.astype(np.int32)).name
            self.emit("gather", [padded, t], [spread], {"axis": ax}, node)
            cur = spread
        g = int(a.get("group", 1))
        cin, cout_g = wc.shape[0], wc.shape[1]
        wt = wc.reshape((g, cin // g, cout_g) + tuple(k)).swapaxes(1, 2).reshape((g * cout_g, cin // g) + tuple(k))
        wt = np.flip(wt, axis=tuple(range(2, 2 + nd)))
        w4 = wt.reshape(wt.shape[0], wt.shape[1], 1, -1) if nd == 1 else wt
        ins = [cur, self._fconst(w + "_convT", w4)]
        if len(node.input) > 2 and node.input[2]:
            ins.append(self.value(node.input[2]))
        kh, kw = (1, k[0]) if nd == 1 else k
        dh, dw = (1, d[0]) if nd == 1 else d
        self.emit("conv", ins, [node.output[0]], {"kh": kh, "kw": kw, "sh": 1, "sw": 1, "pt": 0, "pl": 0, "pb": 0,
                                                  "pr": 0, "dh": dh, "dw": dw, "groups": g}, node)

    # -- repetition ----------------------------------------------------------------------------------------

    def _repeat(self, node, x, reps):
        """x repeated reps[ax] times along each axis (concats of x with itself)."""
        axes = [(ax, int(r)) for ax, r in enumerate(reps) if r > 1]
        if not axes:
            self.emit("reshape", [x], [node.output[0]], {}, node)
            return
        shape, cur = list(self.shape(x)), x
        for i, (ax, r) in enumerate(axes):
            shape[ax] *= r
            out = self._out(node, i == len(axes) - 1, "%s_rep%d" % (node.output[0], i), shape)
            self.emit("concat", [cur] * r, [out], {"axis": ax}, node)
            cur = out

    def op_Expand(self, node, a):
        x = node.input[0]
        xs, ys = self.shape(x), self.shape(node.output[0])
        full = (1,) * (len(ys) - len(xs)) + tuple(xs)
        if full != tuple(xs):
            r = self.tmp(node.output[0] + "_rank", full)
            self.emit("reshape", [x], [r], {}, node)
            x = r
        self._repeat(node, x, [ys[i] if full[i] == 1 else 1 for i in range(len(ys))])

    def op_Tile(self, node, a):
        reps = self.const(node.input[1])
        if reps is None:
            raise ValueError("the repeats must be constant")
        self._repeat(node, node.input[0], [int(r) for r in np.ravel(reps)])
