"""scikit-learn exports (skl2onnx's defaults) as plain ONNX: the ai.onnx.ml nodes of linear models, scalers and
their post-processing become ops the board runs.

- Scaler -> Sub, Mul; Normalizer -> a reduction and Div; LinearClassifier/LinearRegressor -> Gemm and the post
  transform (Softmax, Sigmoid); a binary classifier's single row becomes the two scores [-z, z], as onnxruntime
  gives them.
- The label output (ArgMax -> ArrayFeatureExtractor -> Cast, or LinearClassifier's Y) is dropped: the class
  labels go into the model's metadata (`labels`), and the label is labels[argmax(scores)] (Model.classify on the
  board). ZipMap is dropped: its input, the probability tensor, is the output.
Other ai.onnx.ml nodes (trees, SVMs with kernels) stay, and the importer refuses them with a pointer."""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

ML = "ai.onnx.ml"
LABEL_PASS = ("Cast", "Reshape", "Identity", "Squeeze", "Flatten")


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _labels(a):
    for k in ("classlabels_ints", "classlabels_int64s", "classlabels_strings"):
        if a.get(k):
            return [v.decode() if isinstance(v, bytes) else int(v) for v in a[k]]
    return None


def _opset(model):
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)


class _Rewriter:
    def __init__(self, model):
        self.model = model
        self.inits = list(model.graph.initializer)
        self.consts = {i.name: numpy_helper.to_array(i) for i in self.inits}
        self.nodes = []
        self.labels = None
        self.label_values = set()
        self.opset = _opset(model)

    def const(self, name, array):
        name = "skl_%d_%s" % (len(self.inits), name)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, ins, outs, **attrs):
        self.nodes.append(helper.make_node(op, ins, outs, name="%s_%d" % (outs[0], len(self.nodes)), **attrs))

    def Scaler(self, n, a):
        mid = n.output[0] + "_centered"
        self.node("Sub", [n.input[0], self.const("offset", np.asarray(a.get("offset", [0.0]), np.float32))], [mid])
        self.node("Mul", [mid, self.const("scale", np.asarray(a.get("scale", [1.0]), np.float32))], [n.output[0]])

    def Normalizer(self, n, a):
        norm = a.get("norm", b"MAX")
        norm = norm.decode() if isinstance(norm, bytes) else norm
        op = {"L1": "ReduceL1", "L2": "ReduceL2", "MAX": "ReduceMax"}[norm]
        den = n.output[0] + "_norm"
        if self.opset >= 18:
            self.node(op, [n.input[0], self.const("axes", np.array([1], np.int64))], [den], keepdims=1)
        else:
            self.node(op, [n.input[0]], [den], axes=[1], keepdims=1)
        self.node("Div", [n.input[0], den], [n.output[0]])

    def _linear(self, n, a, scores, labels):
        coef = np.asarray(a["coefficients"], np.float32)
        b = np.asarray(a.get("intercepts", []), np.float32)
        rows = len(b) if len(b) else max(1, len(labels or [0]))
        w = coef.reshape(rows, -1)
        b = b if len(b) else np.zeros(rows, np.float32)
        if labels is not None and len(labels) == 2 and rows == 1:  # binary: scores [-z, z]
            w, b = np.concatenate([-w, w]), np.concatenate([-b, b])
        post = a.get("post_transform", b"NONE")
        post = post.decode() if isinstance(post, bytes) else post
        raw = scores if post == "NONE" else scores + "_raw"
        self.node("Gemm", [n.input[0], self.const("w", w), self.const("b", b)], [raw], transB=1)
        if post == "SOFTMAX":
            self.node("Softmax", [raw], [scores], axis=-1)
        elif post == "LOGISTIC":
            self.node("Sigmoid", [raw], [scores])
        elif post != "NONE":
            raise ValueError("post_transform %s is not supported (NONE, SOFTMAX and LOGISTIC are)" % post)

    def LinearClassifier(self, n, a):
        self.labels = _labels(a)
        self.label_values.add(n.output[0])
        self._linear(n, a, n.output[1], self.labels)

    def LinearRegressor(self, n, a):
        self._linear(n, a, n.output[0], None)

    def ZipMap(self, n, a):
        self.labels = self.labels or _labels(a)
        self.node("Identity", [n.input[0]], [n.output[0]])

    def ArrayFeatureExtractor(self, n, a):
        classes = self.consts.get(n.input[0])
        if classes is not None and self.labels is None:
            self.labels = [v.decode() if isinstance(v, bytes) else (int(v) if np.issubdtype(type(v), np.integer)
                                                                     else v) for v in np.ravel(classes)]
        self.label_values.add(n.output[0])

    def run(self):
        g = self.model.graph
        for n in g.node:
            if n.domain == ML and hasattr(self, n.op_type):
                getattr(self, n.op_type)(n, _attrs(n))
            elif n.op_type in ("ArgMax",) and any(c.op_type == "ArrayFeatureExtractor" for c in g.node
                                                   if n.output[0] in c.input):
                self.label_values.add(n.output[0])
            elif n.op_type in LABEL_PASS and n.input and n.input[0] in self.label_values:
                self.label_values.add(n.output[0])
            else:
                self.nodes.append(n)
        outputs = []
        for o in g.output:
            if o.name in self.label_values:
                continue
            if not o.type.HasField("tensor_type"):  # ZipMap's sequence of maps: now a float tensor
                o = helper.make_tensor_value_info(o.name, TensorProto.FLOAT, None)
            outputs.append(o)
        if not outputs:
            raise ValueError("the model has no output left but its label")
        nodes = _live(self.nodes, {o.name for o in outputs})
        used = {i for n in nodes for i in n.input}
        graph = helper.make_graph(nodes, g.name, list(g.input), outputs,
                                  initializer=[i for i in self.inits if i.name in used])
        opsets = [o for o in self.model.opset_import if o.domain != ML]
        if any(n.domain == ML for n in nodes):
            opsets = list(self.model.opset_import)
        m = helper.make_model(graph, opset_imports=opsets)
        m.ir_version = self.model.ir_version
        return m


def _live(nodes, wanted):
    """The nodes the wanted values depend on, in order."""
    need = set(wanted)
    keep = []
    for n in reversed(nodes):
        if any(o in need for o in n.output):
            keep.append(n)
            need.update(i for i in n.input if i)
    return list(reversed(keep))


def rewrite(model):
    """(model as plain ONNX, metadata to keep) for a scikit-learn export; other models come back unchanged."""
    if not any(n.domain == ML for n in model.graph.node):
        return model, {}
    r = _Rewriter(model)
    try:
        m = r.run()
    except (ValueError, KeyError) as e:
        from hyperion_host.errors import HyperionError

        raise HyperionError("scikit-learn export: %s" % e) from None
    return m, ({"labels": r.labels} if r.labels else {})
