"""What Hyperion does with each ONNX op: the one registry that the importer checks models against, that
`hyperion-host ops` shows, and that docs/ops.md is generated from (`render_markdown`; a test keeps it current).

BOARD ops become runtime ops that run on the board (every kernel path); FOLDED ops are computed by the quantizer
when all their inputs are constant (the shape arithmetic of an export) and cannot run on activations. Anything
else is refused by name, with the nearest rewrite where there is one (REWRITES)."""

# ONNX op -> (what it becomes on the board, its limits)
BOARD = {
    "Gemm": ("linear (a biased row product), or linear + add", "B and C constant; transA=1 only with a 2-D A"),
    "MatMul": ("linear with a constant right operand, matmul with two activations",
               "a constant right operand is 2-D; a constant left operand is not supported"),
    "Conv": ("conv (depthwise and grouped too)", "1-D and 2-D; constant weights"),
    "Relu": ("act relu, fused into the layer before it", ""),
    "Clip": ("act clip (ReLU6), fused into the layer before it", "constant min and max"),
    "LeakyRelu": ("act leaky, fused into the layer before it", ""),
    "Sigmoid": ("act sigmoid", ""),
    "Tanh": ("act tanh", ""),
    "Gelu": ("act gelu (a fixed-point table of Phi on the C path)", ""),
    "Erf": ("GELU, when it is part of x * 0.5 * (1 + erf(x / sqrt 2))", "not on its own"),
    "Softmax": ("softmax", "before opset 13, the last axis only"),
    "LayerNormalization": ("layernorm", "constant scale and bias; the Y output only"),
    "BatchNormalization": ("folded into the conv or linear before it, else batchnorm",
                           "inference mode, constant statistics"),
    "MaxPool": ("maxpool", "1-D and 2-D windows (pads, strides, dilations, ceil_mode, auto_pad); no Indices "
                "output; storage_order 0"),
    "AveragePool": ("avgpool", "1-D and 2-D windows (pads, strides, dilations, ceil_mode, count_include_pad)"),
    "GlobalAveragePool": ("gap (an avgpool over L for (N, C, L))", "3-D or 4-D input"),
    "GlobalMaxPool": ("maxpool with the whole plane as its window", "3-D or 4-D input"),
    "Add": ("add, with broadcasting (after a linear, a constant one becomes its bias)", ""),
    "Sub": ("sub, with broadcasting", ""),
    "Mul": ("mul, with broadcasting", ""),
    "Div": ("div, with broadcasting", ""),
    "Flatten": ("reshape (no copy)", ""),
    "Reshape": ("reshape (no copy)", ""),
    "Squeeze": ("reshape (no copy)", ""),
    "Unsqueeze": ("reshape (no copy)", ""),
    "Identity": ("nothing (removed)", ""),
    "Dropout": ("nothing (removed: inference)", ""),
    "Cast": ("nothing, when it casts to float", "activations cast to float only"),
    "Transpose": ("transpose", "rank 4 at most"),
    "Concat": ("concat", ""),
    "Gather": ("gather (an embedding lookup with int token inputs)", ""),
    "Slice": ("slice", "constant starts, ends, axes and steps"),
    "Split": ("a slice per output", ""),
    "HardSigmoid": ("act hardsigmoid", ""),
    "HardSwish": ("act hardswish", ""),
    "Elu": ("act elu", ""),
    "Selu": ("act selu", ""),
    "Softplus": ("act softplus", ""),
    "Softsign": ("act softsign", ""),
    "Exp": ("act exp", ""),
    "Log": ("act log", ""),
    "Sqrt": ("act sqrt", ""),
    "Abs": ("act abs", ""),
    "Neg": ("act neg", ""),
    "Reciprocal": ("act reciprocal", ""),
    "Pow": ("act pow with a constant scalar exponent, else pow with broadcasting", ""),
    "PRelu": ("prelu, the slope broadcast", ""),
    "Min": ("min, with broadcasting (a chain for more than two inputs)", ""),
    "Max": ("max, with broadcasting (a chain for more than two inputs)", ""),
    "Sum": ("add, with broadcasting (a chain for more than two inputs)", ""),
    "ReduceMean": ("reduce mean per axis (gap over H and W of (N, C, H, W))", "constant axes"),
    "ReduceMax": ("reduce max per axis", "constant axes"),
    "ReduceMin": ("reduce min per axis", "constant axes"),
    "ReduceSum": ("reduce sum per axis", "constant axes"),
    "ReduceProd": ("reduce prod per axis", "constant axes"),
    "ReduceSumSquare": ("mul x*x + reduce sum", "constant axes"),
    "ReduceL1": ("act abs + reduce sum", "constant axes"),
    "ReduceL2": ("mul x*x + reduce sum + act sqrt", "constant axes"),
    "ReduceLogSum": ("reduce sum + act log", "constant axes"),
    "ReduceLogSumExp": ("act exp + reduce sum + act log", "constant axes"),
    "LogSoftmax": ("softmax + act log", "as Softmax"),
    "ArgMax": ("argmax (indices as float32 values)", ""),
    "ArgMin": ("argmax with largest=0", ""),
    "TopK": ("topk: values and indices, sorted, ties to the lower index", "constant k"),
    "Pad": ("pad per axis: constant, reflect, edge, wrap (zeros before a conv become its padding)",
            "constant pads, value and axes"),
    "Resize": ("gather (nearest) or two gathers and a lerp (linear) per resized axis, from constant tables",
               "nearest and linear; constant scales or sizes; no antialias, no tf_crop_and_resize"),
    "Upsample": ("as Resize (asymmetric, floor)", "nearest and linear"),
    "ConvTranspose": ("pad + gather (spread by the stride) + conv with flipped weights: int4 like any conv",
                      "1-D and 2-D; constant weights"),
    "Expand": ("concat of copies along each broadcast axis", "constant shape"),
    "Tile": ("concat of copies along each axis", "constant repeats"),
    "LSTM": ("unrolled: one input linear, then per step a linear (shared int4 weights), slices, sigmoid/tanh, "
             "products", "static sequence; default activations; no clip or input_forget"),
    "GRU": ("unrolled as LSTM (linear_before_reset 0 and 1)", "as LSTM"),
}

# computed at quantize time when every input is constant
FOLDED = (
    "Shape", "Size", "Constant", "ConstantOfShape", "Range", "Equal", "Where", "Less", "Greater", "LessOrEqual",
    "GreaterOrEqual", "Not", "And", "Or", "Trilu", "Floor", "Ceil", "Sign", "CumSum", "ScatterND", "Mod",
)

# ops that must fold: where static input shapes would let them (the shape arithmetic of an export)
SHAPE_OPS = ("Shape", "Size", "Range", "ConstantOfShape", "Equal", "Where", "CumSum", "ScatterND")

# the nearest supported rewrite of an op the board cannot run
REWRITES = {
    "ZipMap": "export without it (skl2onnx: options={id(model): {'zipmap': False}})",
    "Floor": "on activations, none on the board; keep it in the host's post-processing",
    "LpNormalization": "ReduceSum of x*x, Sqrt and Div",
    "InstanceNormalization": "LayerNormalization over the spatial axes, or BatchNormalization after training",
    "Einsum": "MatMul (with Transpose/Reshape) for the contraction you use",
    "RNN": "GRU or LSTM, or its step as Gemm + Tanh",
    "DepthToSpace": "Reshape + Transpose + Reshape",
    "SpaceToDepth": "Reshape + Transpose + Reshape",
    "Cos": "a table in a Gather, or compute it on the host",
    "Sin": "a table in a Gather, or compute it on the host",
    "TreeEnsembleClassifier": "emlearn (pip install emlearn) compiles trees and forests to C for a board; "
                              "Hyperion runs neural networks",
    "TreeEnsembleRegressor": "emlearn (pip install emlearn) compiles trees and forests to C; Hyperion runs "
                             "neural networks",
    "SVMClassifier": "LinearSVC (a LinearClassifier), or an MLP",
}


# what each kind of op does with int4 weights and int8 activations (docs/ops.md)
PRECISION = """\
- **Weights.** Conv, Gemm/MatMul with a constant operand, ConvTranspose (a conv after spreading) and the LSTM/GRU
  input and recurrent matrices are linear/conv layers: 4-bit blocked weights (`--bits 8`: 8-bit), or 8-bit where a
  row is shorter than a block and 4 bits would cost more than 6 bits a weight (a 3x3 depthwise kernel's 9 weights).
  `--keep-float NODE` keeps a layer's weights in float32.
- **Activations into a layer** are quantized to int8 per tensor: with a static scale from `--calib`, else from the
  tensor's own max |x| at run time (dynamic). The integer dot products are exact; the float finish adds the bias.
- **int8 between layers** (with `--calib`): a tensor read only by integer layers stays int8, requantized in
  integers by the layer that makes it. That covers a graph input read only by layers (`Model.set_input` quantizes
  the floats given; `Model.set_input_q` takes bytes already quantized), Relu/Clip fused into the layer, MaxPool
  and reshapes (the same scale), residual Adds of two int8 tensors (int8 out, with Relu; Q16 integer
  multipliers), and GlobalAveragePool (int8 in, float out).
- **Everything else is float32**: element-wise functions and binaries other than that Add, Softmax, LayerNorm,
  reductions, Resize, Pad, TopK/ArgMax (indices as float32 values), Concat, Gather, Slice, Transpose. On the C path
  they run in single precision (soft-float on the M0 and rv32), on the others in the port's float.
- **Recurrent layers** are unrolled over their static sequence: one input linear for every step, then per step one
  linear with the recurrent weights (shared, int4), slices, sigmoid/tanh and products. To stream one step at a
  time with the state kept on the board, export the step: a sequence of 1 with `initial_h` (and `initial_c`) as
  inputs and `Y_h` (and `Y_c`) as outputs, and feed each call's state outputs to the next
  (tests/test_frontends.py runs a GRU this way on MicroPython and matches the whole sequence)."""


def describe_unsupported(op_type, shape_hint):
    """One clause for an op that cannot run here: the nearest rewrite, or what would make it fold."""
    if op_type in REWRITES:
        return "rewrite it: " + REWRITES[op_type]
    if op_type in SHAPE_OPS and shape_hint:
        return "it is shape arithmetic: static input shapes (--input-shape) let it fold away"
    return "see `hyperion-host ops` for what runs on a board"


def rows():
    """[(onnx op, 'board' or 'folded', what it becomes, limits)] in name order."""
    out = [(op, "board", what, limits) for op, (what, limits) in BOARD.items()]
    out += [(op, "folded", "computed at quantize time", "every input constant") for op in FOLDED]
    return sorted(out, key=lambda r: r[0].lower())


def render_markdown():
    lines = [
        "# Supported ONNX ops",
        "",
        "Generated from `host/hyperion_host/model/opset.py` (`hyperion-host ops --markdown`); "
        "`tests/test_ops.py` checks that it is current.",
        "",
        "- **board**: the op runs on the board, on every kernel path (C, viper, bytecode), and in the host's "
        "reference runtime. Weights are 4-bit (or 8-bit) blocks; activations between int8 layers are int8 with "
        "static scales from `--calib`, else float.",
        "- **folded**: the quantizer computes it when all its inputs are constant (shape arithmetic in an "
        "export); on activations it is refused.",
        "",
        "Any other op is refused by name, with the nearest rewrite where there is one.",
        "",
        "| ONNX op | where | becomes | limits |",
        "|---|---|---|---|",
    ]
    for op, where, what, limits in rows():
        lines.append("| %s | %s | %s | %s |" % (op, where, what, limits or "-"))
    lines += ["", "## int4 and int8", ""] + [line for line in PRECISION.splitlines()]
    lines += ["", "## Rewrites for ops the board cannot run", "", "| ONNX op | rewrite |", "|---|---|"]
    for op in sorted(REWRITES):
        lines.append("| %s | %s |" % (op, REWRITES[op]))
    return "\n".join(lines) + "\n"
