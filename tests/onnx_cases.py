"""ONNX's own node test cases (onnx.backend.test.case.node), for the ops Hyperion supports.

Weight-like inputs (Conv W/B, Gemm B/C, MatMul B, norm parameters, Gather tables, Clip bounds, ...) become
initializers, as they are in exported models; the first input stays a graph input."""

import re
import warnings

import numpy as np
from onnx import helper, numpy_helper

PREFIXES = (
    "test_conv", "test_maxpool", "test_averagepool", "test_gemm", "test_matmul_", "test_relu", "test_clip",
    "test_leakyrelu", "test_sigmoid", "test_tanh", "test_gelu", "test_softmax", "test_globalaveragepool",
    "test_batchnorm", "test_add", "test_sub", "test_mul", "test_div", "test_flatten", "test_reshape",
    "test_squeeze", "test_unsqueeze", "test_transpose", "test_concat", "test_gather_", "test_layer_normalization",
    "test_slice", "test_split", "test_identity", "test_erf",
    "test_hardsigmoid", "test_hardswish", "test_prelu", "test_elu", "test_selu", "test_softplus", "test_softsign",
    "test_exp", "test_log", "test_sqrt", "test_pow", "test_abs", "test_neg", "test_reciprocal", "test_min",
    "test_max", "test_sum", "test_pad", "test_constant_pad", "test_reflect_pad", "test_edge_pad", "test_wrap_pad",
    "test_globalmaxpool", "test_reduce_mean", "test_reduce_max", "test_reduce_min", "test_reduce_sum",
    "test_reduce_prod", "test_resize", "test_upsample", "test_convtranspose", "test_expand", "test_tile",
    "test_argmax", "test_argmin", "test_top_k", "test_lstm", "test_gru",
)
# The first input is the activation; for these, the others are too (elementwise binaries, concat, matmul).
ALL_ACTIVATIONS = re.compile(r"^test_(add|sub|mul|div|concat|matmul_|min|max|sum|pow)")
# Cases left out, each for a stated reason (docs/ops.md lists the limits):
SKIP = re.compile(
    r"(_expanded"  # the same op written as a function of other ops (CastLike and friends)
    r"|_u?int(8|16|32|64)|_bool|bfloat16|float16|_double|_types_"  # not float32 tensors
    r"|_training_mode|_training$"  # BatchNormalization in training mode
    r"|^test_erf$"  # Erf only as part of GELU
    r"|gather_elements|identity_opt|identity_sequence|split_to_sequence|maxunpool"  # other ops
    r"|maxpool_with_argmax|_indices"  # MaxPool's Indices output
    r"|empty_set|zero_size|_empty|allowzero|start_out_of_bounds"  # zero-sized tensors
    r"|cubic|antialias|tf_crop_and_resize"  # Resize: nearest and linear only
    r"|convinteger|causal_conv)"  # other ops
)


def _cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return collect_testcases(None)


def node_cases():
    """[(name, model, inputs(list of arrays), outputs)] for supported, float32 (int64 indices out), rank<=4
    cases."""
    out = []
    for c in _cases():
        if not c.name.startswith(PREFIXES) or SKIP.search(c.name) or not c.data_sets:
            continue
        ins, outs = c.data_sets[0]
        if any(not isinstance(a, (np.ndarray, np.generic)) or a.dtype not in (np.float32, np.int64) for a in outs) or \
                any(not isinstance(a, (np.ndarray, np.generic)) for a in ins) or np.asarray(ins[0]).dtype != np.float32:
            continue
        if any(np.asarray(a).ndim > 4 for a in list(ins) + list(outs)):
            continue
        out.append((c.name, c.model, [np.asarray(a) for a in ins], [np.asarray(a) for a in outs]))
    return out


def freeze_inputs(model, inputs, keep_first=1):
    """A copy of model with graph inputs after the first `keep_first` turned into initializers."""
    g = model.graph
    inits0 = {i.name for i in g.initializer}
    names = [i.name for i in g.input if i.name not in inits0]  # (older models list their weights as inputs too)
    feeds = dict(zip(names, inputs))
    keep = names[:keep_first]
    inits = list(g.initializer) + [numpy_helper.from_array(feeds[n], n) for n in names[keep_first:]]
    outputs = list(g.output)
    if any(n.op_type == "LayerNormalization" for n in g.node):
        outputs = outputs[:1]  # Hyperion computes Y, not the Mean and InvStdDev outputs
    new = helper.make_graph(list(g.node), g.name, [i for i in g.input if i.name in keep or i.name in inits0],
                            outputs, initializer=inits)
    m = helper.make_model(new, opset_imports=model.opset_import)
    m.ir_version = model.ir_version
    return m, {n: feeds[n] for n in keep}


DATA_DIRS = ("pytorch-converted", "pytorch-operator")
# Left out, each for a reason: 3-D convolutions and pools (rank 5), losses and ops Hyperion does not run
DATA_SKIP = re.compile(r"(3d|3D|_gpu_input|PoissonNLLLLoss|PixelShuffle|GLU|Softmin|Embedding_sparse|"
                       r"non_float_params|symbolic_override|index|repeat_dim_overflow"
                       r"|permute2)")  # a rank-6 permutation (Hyperion's tensors are rank 4 at most)


def _load_pbs(folder, prefix):
    """The arrays of folder/PREFIX_<i>.pb, in order of i."""
    import onnx

    arrays = []
    for f in sorted(folder.glob(prefix + "_*.pb"), key=lambda p: int(p.stem.split("_")[1])):
        t = onnx.TensorProto()
        t.ParseFromString(f.read_bytes())
        arrays.append(numpy_helper.to_array(t))
    return arrays


def data_cases():
    """[(name, model, inputs, outputs)] of ONNX's stored pytorch-converted and pytorch-operator test models (their
    first data set), for the ops Hyperion supports."""
    from pathlib import Path

    import onnx

    root = Path(onnx.__file__).resolve().parent / "backend" / "test" / "data"
    out = []
    for kind in DATA_DIRS:
        for d in sorted((root / kind).iterdir()):
            if DATA_SKIP.search(d.name) or not (d / "test_data_set_0").is_dir():
                continue
            ds = d / "test_data_set_0"
            ins, outs = _load_pbs(ds, "input"), _load_pbs(ds, "output")
            if any(a.dtype != np.float32 for a in ins) or any(a.dtype not in (np.float32, np.int64) for a in outs):
                continue  # float64 data (several pytorch-operator cases): Hyperion computes in float32
            out.append((kind + "/" + d.name, onnx.load(str(d / "model.onnx")), ins, outs))
    return out


BROADCASTS = [((3, 1), (1, 4), "Add"), ((2, 1, 4), (3, 1), "Mul"), ((1, 3, 1, 5), (2, 1, 4, 1), "Max"),
              ((2, 3, 4, 5), (3, 1, 5), "Sub"), ((2, 3, 4, 5), (1, 3, 1, 5), "Div"), ((4, 1), (2, 1, 3), "Min")]


def broadcast_cases():
    """Element-wise ops whose operands both broadcast, or broadcast over split dims: onnxruntime gives the expected
    outputs. [(name, model, inputs, outputs)], both inputs activations."""
    import onnxruntime as ort
    from onnx import TensorProto, shape_inference

    out = []
    r = np.random.default_rng(0)
    for sa, sb, op in BROADCASTS:
        g = helper.make_graph([helper.make_node(op, ["a", "b"], ["y"], name=op.lower())], "g",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, sa),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, sb)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        m = shape_inference.infer_shapes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
        ins = [r.standard_normal(sa).astype(np.float32), r.standard_normal(sb).astype(np.float32) + 3]
        want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"a": ins[0], "b": ins[1]})[0]
        out.append(("test_%s_two_way_%s_%s" % (op.lower(), "x".join(map(str, sa)), "x".join(map(str, sb))), m,
                    ins, [want]))
    return out
