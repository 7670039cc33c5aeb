"""ONNX -> graph IR: load and check, fix input shapes, fold constants (onnx's own reference evaluator),
infer static shapes (onnx's shape inference), and map nodes to Hyperion's runtime ops.

Passes afterwards (passes.py) fold BatchNorm, turn MatMul+Add into a biased linear, recognise GELU's Erf form
and fuse activations."""

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from hyperion_host.errors import HyperionError
from hyperion_host.model import opset
from hyperion_host.model.ir import Graph
from hyperion_host.model.lower import Lowerings
from hyperion_host.model.recurrent import Recurrent

# the registry (model/opset.py): ONNX ops that map to runtime ops, and ops that are fine when their inputs are
# constant (they fold away), e.g. the shape arithmetic of an export
RUNTIME_OPS = set(opset.BOARD)
FOLD_ONLY = set(opset.FOLDED)
SUPPORTED = RUNTIME_OPS | FOLD_ONLY
MAX_RANK = 4


def load(path):
    """Read and check an ONNX file; one-line errors for files that are not ONNX or are truncated."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise HyperionError("cannot read %s: %s" % (path, e.strerror)) from None
    try:
        model = onnx.load_from_string(data)
    except Exception:
        raise HyperionError("%s is not an ONNX model (it does not parse); export the model to ONNX again" % path) from None
    if not model.graph.node or not model.graph.output or model.ir_version == 0:
        raise HyperionError("%s is not an ONNX model, or it is truncated (no graph found)" % path)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid model"
        raise HyperionError("%s is not a valid ONNX model (%s); is it truncated?" % (path, first[:200])) from None
    return model


def check_supported(model):
    bad = []
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED:
            bad.append("%s (%s)" % (node.op_type, node.name or node.output[0]))
    if bad:
        kinds = sorted({b.split(" ")[0] for b in bad})
        raise HyperionError("unsupported ONNX op%s %s: %s; %s" % (
            "s" if len(kinds) > 1 else "", ", ".join(kinds), ", ".join(bad[:12]) + (" ..." if len(bad) > 12 else ""),
            "; ".join("%s: %s" % (k, opset.describe_unsupported(k, False)) for k in kinds)))


def parse_input_shapes(specs):
    """['x=1,3,8,8', ...] -> {'x': (1, 3, 8, 8)}."""
    out = {}
    for spec in specs or ():
        name, sep, dims = spec.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name] = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
            if not out[name] or min(out[name]) <= 0:
                raise ValueError
        except ValueError:
            raise HyperionError("bad --input-shape '%s'; use NAME=DIMS, e.g. input=1,1,8,8" % spec) from None
    return out


def _graph_inputs(model):
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def fix_input_shapes(model, shapes):
    """Give every graph input a static shape (from --input-shape where given)."""
    names = [i.name for i in _graph_inputs(model)]
    for n in shapes:
        if n not in names:
            raise HyperionError("--input-shape names '%s', but the model's inputs are: %s" % (n, ", ".join(names)))
    for inp in _graph_inputs(model):
        dims = inp.type.tensor_type.shape.dim
        want = shapes.get(inp.name)
        if want is not None:
            fixed = [(k, d.dim_value) for k, d in enumerate(dims) if d.HasField("dim_value") and d.dim_value > 0]
            if dims and (len(want) != len(dims) or any(want[k] != v for k, v in fixed)):
                shown = ",".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)
                raise HyperionError("--input-shape %s=%s does not fit the model's input [%s]: only its named "
                                    "(dynamic) dimensions can be chosen" % (inp.name, ",".join(map(str, want)),
                                                                          shown))
            del dims[:]
            for d in want:
                dims.add().dim_value = d
            continue
        dynamic = [k for k, d in enumerate(dims) if not d.HasField("dim_value") or d.dim_value <= 0]
        if dynamic == [0] and len(dims) > 1:  # only the batch is dynamic (scikit-learn, PyTorch dynamic_axes): 1
            dims[0].Clear()
            dims[0].dim_value = 1
            continue
        if dynamic or not inp.type.tensor_type.HasField("shape"):
            shown = ",".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)
            hint = ",".join(str(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else "1" for d in dims)
            raise HyperionError(
                "input '%s' has a dynamic shape [%s]; give it with --input-shape %s=%s"
                % (inp.name, shown, inp.name, hint or "1")
            )


def _opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 13


def _eval_node(node, feeds, opset_imports):
    """Run one node on constant inputs with onnx's reference evaluator."""
    from onnx.reference import ReferenceEvaluator

    ins = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(feeds[n].dtype), feeds[n].shape)
           for n in node.input if n]
    outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o]
    g = helper.make_graph([node], "fold", ins, outs)
    m = helper.make_model(g, opset_imports=opset_imports)
    m.ir_version = onnx.IR_VERSION
    res = ReferenceEvaluator(m).run(None, {n: feeds[n] for n in node.input if n})
    return dict(zip([o for o in node.output if o], res))


def _static_shapes(model):
    """name -> shape for every value with a fully known shape (after onnx shape inference)."""
    shapes = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            shapes[vi.name] = tuple(d.dim_value for d in t.shape.dim)
    for init in model.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def fold_constants(model):
    """Evaluate every node whose inputs are constant (and Shape of statically shaped values), repeatedly,
    re-running shape inference in between. Returns (model without folded nodes, consts dict, shapes)."""
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes = list(model.graph.node)
    for _ in range(8):
        try:
            inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        except Exception as e:
            raise HyperionError("ONNX shape inference failed: %s" % str(e).splitlines()[0][:200]) from None
        shapes = _static_shapes(inferred)
        changed = False
        kept = []
        for node in nodes:
            if node.op_type == "Constant":
                consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t) if node.attribute[0].type == \
                    onnx.AttributeProto.TENSOR else np.array(helper.get_attribute_value(node.attribute[0]))
                changed = True
                continue
            if node.op_type == "Shape" and node.input[0] in shapes:
                full = np.array(shapes[node.input[0]], np.int64)
                a = {at.name: helper.get_attribute_value(at) for at in node.attribute}
                consts[node.output[0]] = full[a.get("start", 0): a.get("end", len(full))]
                changed = True
                continue
            if node.op_type == "Size" and node.input[0] in shapes:
                consts[node.output[0]] = np.array(int(np.prod(shapes[node.input[0]])), np.int64)
                changed = True
                continue
            if all((not n) or n in consts for n in node.input) and node.op_type not in ("Dropout",):
                try:
                    consts.update(_eval_node(node, consts, model.opset_import))
                except Exception as e:
                    raise HyperionError("cannot fold constant node %s (%s): %s"
                                        % (node.name or node.output[0], node.op_type, str(e).splitlines()[0][:160])) from None
                changed = True
                continue
            kept.append(node)
        nodes = kept
        if not changed:
            break
        model = _rebuild(model, nodes, consts)
    inferred = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    return model, consts, _static_shapes(inferred)


def _rebuild(model, nodes, consts):
    used = {n for node in nodes for n in node.input}
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items() if k in used]
    g = helper.make_graph(nodes, model.graph.name, list(_graph_inputs(model)), list(model.graph.output),
                          initializer=inits)
    m = helper.make_model(g, opset_imports=model.opset_import)
    m.ir_version = model.ir_version
    return m


# -- mapping ONNX nodes to runtime ops ------------------------------------------------------------------

def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _pads2d(a, x_shape, kernel, strides, dil):
    """ONNX pads/auto_pad -> (top, left, bottom, right) for 2-D (or 1-D as H=1)."""
    nd = len(kernel)
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads_b, pads_e = [], []
        for i in range(nd):
            size = x_shape[2 + i]
            out = -(-size // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - size)
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            pads_b.append(lo)
            pads_e.append(total - lo)
    elif auto == "VALID":
        pads_b, pads_e = [0] * nd, [0] * nd
    else:
        p = list(a.get("pads", [0] * (2 * nd)))
        pads_b, pads_e = p[:nd], p[nd:]
    if nd == 1:
        return 0, pads_b[0], 0, pads_e[0]
    return pads_b[0], pads_b[1], pads_e[0], pads_e[1]


def _window(a, x_shape, default_kernel=None):
    kernel = list(a.get("kernel_shape", default_kernel))
    nd = len(kernel)
    if nd not in (1, 2):
        raise ValueError("only 1-D and 2-D windows are supported")
    strides = list(a.get("strides", [1] * nd))
    dil = list(a.get("dilations", [1] * nd))
    pt, pl, pb, pr = _pads2d(a, x_shape, kernel, strides, dil)
    if nd == 1:
        kernel, strides, dil = [1] + kernel, [1] + strides, [1] + dil
    return {"kh": kernel[0], "kw": kernel[1], "sh": strides[0], "sw": strides[1], "pt": pt, "pl": pl, "pb": pb,
            "pr": pr, "dh": dil[0], "dw": dil[1]}


class _Converter(Lowerings, Recurrent):
    def __init__(self, model, consts, shapes):
        self.model = model
        self.consts = consts
        self.shapes = shapes
        self.g = Graph()
        self.opset = _opset(model)

    def shape(self, name):
        if name in self.consts:
            return tuple(np.shape(self.consts[name]))
        return self.shapes[name]

    def value(self, name):
        if name not in self.g.values:
            if name in self.consts:
                self.g.add_value(name, np.shape(self.consts[name]), np.asarray(self.consts[name]))
            else:
                self.g.add_value(name, self.shapes[name])
        return name

    def const(self, name):
        return self.consts.get(name)

    def emit(self, op, inputs, outputs, attrs, node):
        for n in inputs:
            self.value(n)
        for n in outputs:
            self.value(n)
        self.g.ops.append(_op(op, inputs, outputs, attrs, node.name or node.output[0]))

    def run(self):
        for inp in _graph_inputs(self.model):
            self.g.inputs.append(self.value(inp.name))
        for node in self.model.graph.node:
            missing = [o for o in node.output if o and o not in self.shapes and o not in self.consts]
            if missing:
                raise HyperionError("cannot infer a static shape for %s (node %s, %s); give input shapes with "
                                    "--input-shape" % (missing[0], node.name or node.output[0], node.op_type))
            for o in node.output:
                if o and o in self.shapes and len(self.shapes[o]) > MAX_RANK:
                    raise HyperionError("node %s (%s) makes a tensor of rank %d; Hyperion supports rank %d at most"
                                        % (node.name or o, node.op_type, len(self.shapes[o]), MAX_RANK))
            try:
                getattr(self, "op_" + node.op_type, self.op_foldonly)(node, _attrs(node))
            except ValueError as e:
                raise HyperionError("node %s (%s): %s" % (node.name or node.output[0], node.op_type, e)) from None
        for out in self.model.graph.output:
            if out.name in self.consts:
                raise HyperionError("output %s is a constant; nothing to run" % out.name)
            self.g.outputs.append(self.value(out.name))
        return self.g

    def op_foldonly(self, node, a):
        raise ValueError("%s runs only on constant inputs (it must fold away), and here it gets an activation; %s"
                         % (node.op_type, opset.describe_unsupported(node.op_type, True)))

    # linear algebra
    def op_Gemm(self, node, a):
        A, B = node.input[0], node.input[1]
        C = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if a.get("transA", 0):
            if self.const(A) is not None or len(self.shape(A)) != 2:
                raise ValueError("transA=1 needs a 2-D activation A")
            at = node.output[0] + "_At"
            self.shapes[at] = tuple(reversed(self.shape(A)))
            self.emit("transpose", [A], [at], {"perm": [1, 0]}, node)
            A = at
        b = self.const(B)
        if b is None:
            self._gemm_of_activations(node, a, A, B, C)
            return
        w = (b if a.get("transB", 0) else b.T) * a.get("alpha", 1.0)
        ins = [A, self.g.add_const(node.name + ".weight" if node.name else B + "_w", w.astype(np.float32)).name]
        full_bias = None
        if C is not None:
            c = self.const(C)
            if c is None:
                raise ValueError("the bias input C must be constant")
            c = np.asarray(c, np.float32) * np.float32(a.get("beta", 1.0))
            if c.size in (1, w.shape[0]) and (c.ndim < 2 or c.shape[0] == 1):
                bias = np.broadcast_to(c.reshape(-1), (w.shape[0],))
                ins.append(self.g.add_const(C + "_b", np.ascontiguousarray(bias)).name)
            else:
                full_bias = self.g.add_const(C + "_full", c).name  # a per-row bias matrix: a separate add
        if full_bias is None:
            self.emit("linear", ins, [node.output[0]], {}, node)
            return
        mid = node.output[0] + "_nobias"
        self.shapes[mid] = self.shapes[node.output[0]]
        self.emit("linear", ins, [mid], {}, node)
        self.emit("add", [mid, full_bias], [node.output[0]], {}, node)

    def _gemm_of_activations(self, node, a, A, B, C):
        """Gemm with an activation as B: matmul (B transposed first if transB), times alpha, plus beta * C."""
        if a.get("transB", 0):
            bt = self.tmp(node.output[0] + "_Bt", tuple(reversed(self.shape(B))))
            self.emit("transpose", [B], [bt], {"perm": [1, 0]}, node)
            B = bt
        steps = [("matmul", [B], {}, self.shape(node.output[0]))]
        if a.get("alpha", 1.0) != 1.0:
            steps.append(("mul", [self._fconst(node.output[0] + "_alpha", np.float32(a["alpha"]))], {},
                          self.shape(node.output[0])))
        if C is not None:
            c = self.const(C)
            if c is not None:
                c = self._fconst(C + "_beta", np.asarray(c, np.float32) * np.float32(a.get("beta", 1.0)))
            elif a.get("beta", 1.0) != 1.0:
                raise ValueError("beta must be 1 when C is an activation")
            steps.append(("add", [C if c is None else c], {}, self.shape(node.output[0])))
        self._chain(node, steps, A)

    def op_MatMul(self, node, a):
        A, B = node.input
        b = self.const(B)
        if self.const(A) is not None:
            raise ValueError("a constant left operand is not supported")
        if b is not None and b.ndim == 2:
            w = self.g.add_const(B + "_t", np.ascontiguousarray(b.T.astype(np.float32))).name
            self.emit("linear", [A, w], [node.output[0]], {}, node)
        elif b is not None:
            raise ValueError("a constant right operand must be 2-D")
        else:
            self.emit("matmul", [A, B], [node.output[0]], {}, node)

    def op_Conv(self, node, a):
        x, w = node.input[0], node.input[1]
        wc = self.const(w)
        if wc is None:
            raise ValueError("the weights must be constant")
        xs = self.shape(x)
        if len(xs) not in (3, 4):
            raise ValueError("only 1-D and 2-D convolutions are supported")
        attrs = _window(a, xs, wc.shape[2:])
        attrs["groups"] = a.get("group", 1)
        w4 = wc.reshape(wc.shape[0], wc.shape[1], 1, -1) if wc.ndim == 3 else wc
        ins = [x, self.g.add_const(w + "_4d", w4.astype(np.float32)).name]
        if len(node.input) > 2 and node.input[2]:
            ins.append(self.value(node.input[2]))
        self.emit("conv", ins, [node.output[0]], attrs, node)

    # activations
    def _act(self, node, act, p0=0.0, p1=0.0):
        self.emit("act", [node.input[0]], [node.output[0]], {"act": act, "p0": p0, "p1": p1}, node)

    def op_Relu(self, node, a):
        self._act(node, "relu")

    def op_Sigmoid(self, node, a):
        self._act(node, "sigmoid")

    def op_Tanh(self, node, a):
        self._act(node, "tanh")

    def op_LeakyRelu(self, node, a):
        self._act(node, "leakyrelu", a.get("alpha", 0.01))

    def op_Gelu(self, node, a):
        approx = a.get("approximate", b"none")
        approx = approx.decode() if isinstance(approx, bytes) else approx
        self._act(node, "gelu_tanh" if approx == "tanh" else "gelu")

    def op_Erf(self, node, a):
        self.emit("erf", [node.input[0]], [node.output[0]], {}, node)  # must become part of a GELU (passes.py)

    def op_Clip(self, node, a):
        if self.opset >= 11:
            lo = self.const(node.input[1]) if len(node.input) > 1 and node.input[1] else None
            hi = self.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            if (len(node.input) > 1 and node.input[1] and lo is None) or (len(node.input) > 2 and node.input[2] and hi is None):
                raise ValueError("min and max must be constant")
        else:
            lo, hi = a.get("min"), a.get("max")
        lo = -3.4e38 if lo is None else float(lo)
        hi = 3.4e38 if hi is None else float(hi)
        self._act(node, "clip", lo, hi)

    def op_Softmax(self, node, a):
        rank = len(self.shape(node.input[0]))
        axis = a.get("axis", -1 if self.opset >= 13 else 1)
        axis = axis + rank if axis < 0 else axis
        if self.opset < 13 and axis != rank - 1:
            raise ValueError("Softmax before opset 13 is only supported on the last axis")
        self.emit("softmax", [node.input[0]], [node.output[0]], {"axis": axis}, node)

    def op_LayerNormalization(self, node, a):
        rank = len(self.shape(node.input[0]))
        axis = a.get("axis", -1)
        axis = axis + rank if axis < 0 else axis
        used = {n for nd in self.model.graph.node for n in nd.input} | {o.name for o in self.model.graph.output}
        if any(o and o in used for o in node.output[1:]):
            raise ValueError("only the first output (Y) is supported, not Mean or InvStdDev")
        ins = [node.input[0], node.input[1]]
        if len(node.input) > 2 and node.input[2]:
            ins.append(node.input[2])
        for n in ins[1:]:
            if self.const(n) is None:
                raise ValueError("scale and bias must be constant")
        self.emit("layernorm", ins, [node.output[0]], {"eps": a.get("epsilon", 1e-5), "axis": axis,
                                                      "has_beta": int(len(ins) > 2)}, node)

    def op_BatchNormalization(self, node, a):
        x, scale, bias, mean, var = node.input[:5]
        vals = [self.const(n) for n in (scale, bias, mean, var)]
        if any(v is None for v in vals):
            raise ValueError("only inference-mode BatchNormalization with constant statistics is supported")
        s, b, m, v = (np.asarray(t, np.float64) for t in vals)
        k = s / np.sqrt(v + a.get("epsilon", 1e-5))
        ins = [x, self.g.add_const(node.output[0] + "_bn_scale", k.astype(np.float32)).name,
               self.g.add_const(node.output[0] + "_bn_shift", (b - m * k).astype(np.float32)).name]
        self.emit("batchnorm", ins, [node.output[0]], {}, node)  # folded or lowered by passes.py

    # pooling
    def op_MaxPool(self, node, a):
        if len(node.output) > 1 and node.output[1]:
            raise ValueError("the Indices output is not supported")
        if a.get("storage_order", 0):
            raise ValueError("storage_order=1 is not supported")
        self.emit("maxpool", [node.input[0]], [node.output[0]], _window(a, self.shape(node.input[0])), node)

    def op_AveragePool(self, node, a):
        attrs = _window(a, self.shape(node.input[0]))
        attrs["count_include_pad"] = a.get("count_include_pad", 0)
        self.emit("avgpool", [node.input[0]], [node.output[0]], attrs, node)

    def op_GlobalAveragePool(self, node, a):
        xs = self.shape(node.input[0])
        if len(xs) == 3:  # (N, C, L): a window over all of L
            self.emit("avgpool", [node.input[0]], [node.output[0]], {"kh": 1, "kw": xs[2], "sh": 1, "sw": 1, "pt": 0,
                                                                      "pl": 0, "pb": 0, "pr": 0, "dh": 1, "dw": 1}, node)
            return
        if len(xs) != 4:
            raise ValueError("only (N, C, L) and (N, C, H, W) inputs are supported")
        self.emit("gap", [node.input[0]], [node.output[0]], {}, node)

    # elementwise
    def _binary(self, node, op):
        self.emit(op, [node.input[0], node.input[1]], [node.output[0]], {}, node)

    def op_Add(self, node, a):
        self._binary(node, "add")

    def op_Sub(self, node, a):
        self._binary(node, "sub")

    def op_Mul(self, node, a):
        self._binary(node, "mul")

    def op_Div(self, node, a):
        self._binary(node, "div")

    # shape ops
    def _reshape(self, node):
        self.emit("reshape", [node.input[0]], [node.output[0]], {}, node)

    op_Flatten = op_Reshape = op_Squeeze = op_Unsqueeze = lambda self, node, a: self._reshape(node)

    def op_Identity(self, node, a):
        self._reshape(node)

    def op_Dropout(self, node, a):
        self._reshape(node)

    def op_Cast(self, node, a):
        if a.get("to") != onnx.TensorProto.FLOAT:
            raise ValueError("casting activations to anything but float is not supported")
        self._reshape(node)

    def op_Transpose(self, node, a):
        rank = len(self.shape(node.input[0]))
        perm = list(a.get("perm", range(rank - 1, -1, -1)))
        self.emit("transpose", [node.input[0]], [node.output[0]], {"perm": perm}, node)

    def op_Concat(self, node, a):
        rank = len(self.shape(node.output[0]))
        axis = a["axis"] + rank if a["axis"] < 0 else a["axis"]
        self.emit("concat", [n for n in node.input], [node.output[0]], {"axis": axis}, node)

    def op_Gather(self, node, a):
        data, idx = node.input
        rank = len(self.shape(data))
        axis = a.get("axis", 0)
        axis = axis + rank if axis < 0 else axis
        if self.const(idx) is not None:
            ic = np.asarray(self.const(idx)).astype(np.int64)
            ic = np.where(ic < 0, ic + self.shape(data)[axis], ic)
            idx = self.g.add_const(idx + "_i32", ic.astype(np.int32)).name
        self.emit("gather", [data, idx], [node.output[0]], {"axis": axis}, node)

    def op_Slice(self, node, a):
        x = node.input[0]
        xs = self.shape(x)
        if self.opset >= 10:
            vals = [self.const(n) if len(node.input) > i and node.input[i] else None
                    for i, n in enumerate(list(node.input) + [""] * 5) if 1 <= i <= 4]
            starts, ends, axes, steps = vals
            if starts is None or ends is None or (len(node.input) > 3 and node.input[3] and axes is None) or \
                    (len(node.input) > 4 and node.input[4] and steps is None):
                raise ValueError("starts, ends, axes and steps must be constant")
        else:
            starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
        starts, ends = list(np.ravel(starts)), list(np.ravel(ends))
        axes = list(np.ravel(axes)) if axes is not None else list(range(len(starts)))
        steps = list(np.ravel(steps)) if steps is not None else [1] * len(starts)
        cur, cur_shape = x, list(xs)
        for i, (s, e, ax, st) in enumerate(zip(starts, ends, axes, steps)):
            ax = int(ax) + len(xs) if ax < 0 else int(ax)
            start, stop, step = slice(int(s), int(e), int(st)).indices(cur_shape[ax])
            count = len(range(start, stop, step))
            cur_shape[ax] = count
            out = node.output[0] if i == len(starts) - 1 else "%s_slice%d" % (node.output[0], i)
            if out not in self.shapes:
                self.shapes[out] = tuple(cur_shape)
            self.emit("slice", [cur], [out], {"axis": ax, "start": start, "step": step}, node)
            cur = out

    def op_Split(self, node, a):
        x = node.input[0]
        xs = self.shape(x)
        axis = a.get("axis", 0)
        axis = axis + len(xs) if axis < 0 else axis
        start = 0
        for out in node.output:
            n = self.shapes[out][axis]
            self.emit("slice", [x], [out], {"axis": axis, "start": start, "step": 1}, node)
            start += n


def _op(op, inputs, outputs, attrs, name):
    from hyperion_host.model.ir import Op

    return Op(op, inputs, outputs, attrs, name)


def import_onnx(path, input_shapes=None):
    """ONNX file -> Graph (runtime ops, static shapes, constants), after passes. Raises HyperionError."""
    from hyperion_host.model import passes, sklearn_import

    model, extra = sklearn_import.rewrite(load(path))
    check_supported(model)
    fix_input_shapes(model, parse_input_shapes(input_shapes))
    model, consts, shapes = fold_constants(model)
    g = _Converter(model, consts, shapes).run()
    passes.run_all(g)
    g.meta["inputs"] = list(g.inputs)
    g.meta["outputs"] = list(g.outputs)
    g.meta["source"] = str(path)
    g.meta["opset"] = _opset(model)
    g.meta.update(extra)
    return g


SQRT2 = math.sqrt(2.0)
