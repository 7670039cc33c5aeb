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
)
# The first input is the activation; for these, the others are too (elementwise binaries, concat, matmul).
ALL_ACTIVATIONS = re.compile(r"^test_(add|sub|mul|div|concat|matmul_)")
SKIP = re.compile(
    r"(_expanded|_uint8|_int8|_int16|_uint16|_uint32|_uint64|_int32|_int64|_bool|bfloat16|float16|_double|"
    r"_3d|3d_|_5d|_6d|_n-?\d_d|default_axis|_training|_indices|_ver18|_zero_size|_empty|negative_axes_eventual|"
    r"causal_conv|convinteger|convtranspose|conv_with_autopad_same|_precomputed|_prime|_1d_default|reshape_allowzero|"
    r"maxpool_with_argmax|split_to_sequence|nd|integer|_ceil_output_size_reduce|slice_start_out_of_bounds|"
    r"gather_elements|identity_opt|identity_sequence|^test_erf$|averagepool_2d_dilations)"
)


def _cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return collect_testcases(None)


def node_cases():
    """[(name, model, inputs(list of arrays), outputs)] for supported, float32, rank<=4 cases."""
    out = []
    for c in _cases():
        if not c.name.startswith(PREFIXES) or SKIP.search(c.name) or not c.data_sets:
            continue
        ins, outs = c.data_sets[0]
        if any(np.asarray(a).dtype != np.float32 for a in outs):
            continue
        if any(np.asarray(a).ndim > 4 for a in list(ins) + list(outs)):
            continue
        out.append((c.name, c.model, [np.asarray(a) for a in ins], [np.asarray(a) for a in outs]))
    return out


def freeze_inputs(model, inputs, keep_first=1):
    """A copy of model with graph inputs after the first `keep_first` turned into initializers."""
    g = model.graph
    names = [i.name for i in g.input]
    feeds = dict(zip(names, inputs))
    keep = names[:keep_first]
    inits = list(g.initializer) + [numpy_helper.from_array(feeds[n], n) for n in names[keep_first:]]
    outputs = list(g.output)
    if any(n.op_type == "LayerNormalization" for n in g.node):
        outputs = outputs[:1]  # Hyperion computes Y, not the Mean and InvStdDev outputs
    new = helper.make_graph(list(g.node), g.name, [i for i in g.input if i.name in keep], outputs,
                            initializer=inits)
    m = helper.make_model(new, opset_imports=model.opset_import)
    m.ir_version = model.ir_version
    return m, {n: feeds[n] for n in keep}
