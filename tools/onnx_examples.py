"""Small ONNX models built with onnx.helper (random weights, fixed seeds): test models and the demo's toy model."""

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh


def _init(name, a, dtype=np.float32):
    return nh.from_array(np.asarray(a).astype(dtype), name)


def save(graph, path, opset=17):
    m = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 9
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return str(path)


def cnn(path, seed=0, batch="N"):
    """conv-bn-relu-pool, depthwise conv + relu6, flatten, gemm, softmax: a digits-sized CNN."""
    r = np.random.default_rng(seed)
    nodes = [
        h.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        h.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["bn"], name="bn1"),
        h.make_node("Relu", ["bn"], ["r1"], name="relu1"),
        h.make_node("Conv", ["r1", "Wd"], ["c2"], pads=[1, 1, 1, 1], group=8, name="dwconv"),
        h.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="relu6"),
        h.make_node("MaxPool", ["r2"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        h.make_node("Flatten", ["p1"], ["f"], name="flatten"),
        h.make_node("Gemm", ["f", "W2", "B2"], ["logits"], transB=1, name="fc"),
        h.make_node("Softmax", ["logits"], ["y"], axis=-1, name="softmax"),
    ]
    inits = [
        _init("W1", r.standard_normal((8, 1, 3, 3)) * 0.5), _init("B1", r.standard_normal(8) * 0.1),
        _init("s", r.random(8) + 0.5), _init("b", r.standard_normal(8) * 0.1), _init("m", r.standard_normal(8) * 0.1),
        _init("v", r.random(8) + 0.5), _init("Wd", r.standard_normal((8, 1, 3, 3)) * 0.5),
        _init("lo", 0.0), _init("hi", 6.0),
        _init("W2", r.standard_normal((10, 128)) * 0.1), _init("B2", r.standard_normal(10) * 0.1),
    ]
    g = h.make_graph(nodes, "cnn", [h.make_tensor_value_info("x", T.FLOAT, [batch, 1, 8, 8])],
                     [h.make_tensor_value_info("y", T.FLOAT, [batch, 10])], initializer=inits)
    return save(g, path)


def mlp(path, k=256, hidden=256, n_out=16, seed=0):
    """MatMul+Add (PyTorch's nn.Linear export), GELU in its Erf form, MatMul+Add."""
    r = np.random.default_rng(seed)
    s2 = np.float32(np.sqrt(2.0))
    nodes = [
        h.make_node("MatMul", ["x", "W1"], ["h0"], name="fc1"),
        h.make_node("Add", ["h0", "B1"], ["h1"], name="fc1_bias"),
        h.make_node("Div", ["h1", "sqrt2"], ["g0"], name="gelu_div"),
        h.make_node("Erf", ["g0"], ["g1"], name="gelu_erf"),
        h.make_node("Add", ["g1", "one"], ["g2"], name="gelu_add"),
        h.make_node("Mul", ["h1", "g2"], ["g3"], name="gelu_mul"),
        h.make_node("Mul", ["g3", "half"], ["g4"], name="gelu_half"),
        h.make_node("MatMul", ["g4", "W2"], ["o0"], name="fc2"),
        h.make_node("Add", ["o0", "B2"], ["y"], name="fc2_bias"),
    ]
    inits = [_init("W1", r.standard_normal((k, hidden)) / np.sqrt(k)), _init("B1", r.standard_normal(hidden) * 0.1),
             _init("sqrt2", s2), _init("one", 1.0), _init("half", 0.5),
             _init("W2", r.standard_normal((hidden, n_out)) / np.sqrt(hidden)), _init("B2", r.standard_normal(n_out) * 0.1)]
    g = h.make_graph(nodes, "mlp", [h.make_tensor_value_info("x", T.FLOAT, [1, k])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, n_out])], initializer=inits)
    return save(g, path)


def transformer(path, vocab=64, dim=32, heads=2, seq=8, ffn=64, seed=0, layers=1):
    """A decoder with random weights (see decoder())."""
    r = np.random.default_rng(seed)
    w = lambda *s: r.standard_normal(s) / np.sqrt(s[0])  # noqa: E731
    p = {"tok_emb": r.standard_normal((vocab, dim)) * 0.5, "pos_emb": r.standard_normal((seq, dim)) * 0.1,
         "lnf_g": np.ones(dim), "lnf_b": np.zeros(dim), "W_head": w(dim, vocab)}
    for i in range(layers):
        b = "h%d." % i
        p.update({b + "ln1_g": 1 + 0.1 * r.standard_normal(dim), b + "ln1_b": 0.1 * r.standard_normal(dim),
                  b + "Wo": w(dim, dim), b + "bo": 0.1 * r.standard_normal(dim),
                  b + "ln2_g": 1 + 0.1 * r.standard_normal(dim), b + "ln2_b": 0.1 * r.standard_normal(dim),
                  b + "W_up": w(dim, ffn), b + "b_up": 0.1 * r.standard_normal(ffn),
                  b + "W_down": w(ffn, dim), b + "b_down": 0.1 * r.standard_normal(dim)})
        for n in ("q", "k", "v"):
            p.update({b + "W" + n: w(dim, dim), b + "b" + n: 0.1 * r.standard_normal(dim)})
    return decoder(path, p, heads)


def decoder(path, p, heads):
    """A pre-norm decoder-only transformer as a PyTorch export makes it: token + position embeddings, then per
    block LayerNorm, QKV projections, heads by Reshape/Transpose with shapes computed by Shape/Gather/Concat
    (constant-folded), scaled dot-product attention with a causal mask, Softmax, output projection, residual,
    LayerNorm, a GELU MLP, residual; final LayerNorm and the LM head. p: weights by name (h<i>.W_up etc., MatMul
    weights as [in, out]). Node names are the ones the board's KV-cache decoder looks for (docs/tinylm.md)."""
    vocab, dim = p["tok_emb"].shape
    seq = p["pos_emb"].shape[0]
    layers = len([k for k in p if k.endswith(".Wq")])
    hd = dim // heads
    nodes = [
        h.make_node("Gather", ["tok_emb", "tokens"], ["te"], axis=0, name="tok_gather"),
        h.make_node("Add", ["te", "pos_emb"], ["x0"], name="pos_add"),
    ]
    inits = [_init(k, v) for k, v in p.items()] + [
        _init("idx01", np.array([0, 1]), np.int64), _init("heads_hd", np.array([heads, hd]), np.int64),
        _init("scale", np.sqrt(hd)), _init("mask", np.triu(np.full((seq, seq), -1e9, np.float32), 1)),
        _init("merge_shape", np.array([1, seq, dim]), np.int64)]
    x = "x0"
    for i in range(layers):
        b = "h%d." % i
        t = lambda n, b=b: b + n  # noqa: E731
        nodes += [
            h.make_node("LayerNormalization", [x, t("ln1_g"), t("ln1_b")], [t("h")], axis=-1, epsilon=1e-5,
                        name=t("ln1")),
            # shape arithmetic that must fold: [1, seq, heads, hd]
            h.make_node("Shape", [t("h")], [t("hs")], name=t("shape")),
            h.make_node("Gather", [t("hs"), "idx01"], [t("bt")], axis=0, name=t("shape_bt")),
            h.make_node("Concat", [t("bt"), "heads_hd"], [t("split_shape")], axis=0, name=t("shape_cat")),
        ]
        for n in ("q", "k", "v"):
            nodes += [
                h.make_node("MatMul", [t("h"), t("W" + n)], [t(n + "0")], name=t(n + "_proj")),
                h.make_node("Add", [t(n + "0"), t("b" + n)], [t(n + "1")], name=t(n + "_bias")),
                h.make_node("Reshape", [t(n + "1"), t("split_shape")], [t(n + "2")], name=t(n + "_split")),
                h.make_node("Transpose", [t(n + "2")], [t(n + "h")], perm=[0, 2, 1, 3] if n != "k" else [0, 2, 3, 1],
                            name=t(n + "_heads")),
            ]
        nodes += [
            h.make_node("MatMul", [t("qh"), t("kh")], [t("att0")], name=t("qk")),
            h.make_node("Div", [t("att0"), "scale"], [t("att1")], name=t("att_scale")),
            h.make_node("Add", [t("att1"), "mask"], [t("att2")], name=t("att_mask")),
            h.make_node("Softmax", [t("att2")], [t("att3")], axis=-1, name=t("att_softmax")),
            h.make_node("MatMul", [t("att3"), t("vh")], [t("ctx0")], name=t("att_v")),
            h.make_node("Transpose", [t("ctx0")], [t("ctx1")], perm=[0, 2, 1, 3], name=t("ctx_merge")),
            h.make_node("Reshape", [t("ctx1"), "merge_shape"], [t("ctx2")], name=t("ctx_reshape")),
            h.make_node("MatMul", [t("ctx2"), t("Wo")], [t("o0")], name=t("o_proj")),
            h.make_node("Add", [t("o0"), t("bo")], [t("o1")], name=t("o_bias")),
            h.make_node("Add", [x, t("o1")], [t("x1")], name=t("resid1")),
            h.make_node("LayerNormalization", [t("x1"), t("ln2_g"), t("ln2_b")], [t("h2")], axis=-1, epsilon=1e-5,
                        name=t("ln2")),
            h.make_node("MatMul", [t("h2"), t("W_up")], [t("u0")], name=t("up")),
            h.make_node("Add", [t("u0"), t("b_up")], [t("u1")], name=t("up_bias")),
            h.make_node("Gelu", [t("u1")], [t("u2")], name=t("gelu")),
            h.make_node("MatMul", [t("u2"), t("W_down")], [t("d0")], name=t("down")),
            h.make_node("Add", [t("d0"), t("b_down")], [t("d1")], name=t("down_bias")),
            h.make_node("Add", [t("x1"), t("d1")], [t("x2")], name=t("resid2")),
        ]
        x = t("x2")
    nodes += [
        h.make_node("LayerNormalization", [x, "lnf_g", "lnf_b"], ["hf"], axis=-1, epsilon=1e-5, name="ln_f"),
        h.make_node("MatMul", ["hf", "W_head"], ["logits"], name="lm_head"),
    ]
    g = h.make_graph(nodes, "decoder", [h.make_tensor_value_info("tokens", T.INT64, [1, seq])],
                     [h.make_tensor_value_info("logits", T.FLOAT, [1, seq, vocab])], initializer=inits)
    return save(g, path, opset=20)


def single_op(path, op, inputs, input_shapes, output_shape, attrs=None, inits=None, opset=17):
    """A one-node model: graph inputs named in input_shapes, the rest initializers."""
    inits = inits or {}
    node = h.make_node(op, inputs, ["y"], name=op.lower(), **(attrs or {}))
    g = h.make_graph([node], op, [h.make_tensor_value_info(n, T.FLOAT, s) for n, s in input_shapes.items()],
                     [h.make_tensor_value_info("y", T.FLOAT, output_shape)],
                     initializer=[_init(n, a, a.dtype if a.dtype.kind in "iu" else np.float32) for n, a in inits.items()])
    return save(g, path, opset)


def deep_mlp(path, sizes=(64, 128, 128, 10), seed=0):
    """Gemm-Relu chains (all-integer between layers once calibrated), softmax at the end."""
    r = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "x"
    for i in range(len(sizes) - 1):
        k, n = sizes[i], sizes[i + 1]
        inits += [_init("W%d" % i, r.standard_normal((n, k)) / np.sqrt(k)), _init("B%d" % i, r.standard_normal(n) * 0.1)]
        nodes.append(h.make_node("Gemm", [prev, "W%d" % i, "B%d" % i], ["g%d" % i], transB=1, name="fc%d" % i))
        prev = "g%d" % i
        if i < len(sizes) - 2:
            nodes.append(h.make_node("Relu", [prev], ["r%d" % i], name="relu%d" % i))
            prev = "r%d" % i
    nodes.append(h.make_node("Softmax", [prev], ["y"], axis=-1, name="softmax"))
    g = h.make_graph(nodes, "deep_mlp", [h.make_tensor_value_info("x", T.FLOAT, [1, sizes[0]])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, sizes[-1]])], initializer=inits)
    return save(g, path)
