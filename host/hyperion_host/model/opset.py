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
    "MaxPool": ("maxpool", "1-D and 2-D windows; no Indices output; storage_order 0"),
    "AveragePool": ("avgpool", "1-D and 2-D windows; no dilation"),
    "GlobalAveragePool": ("gap", "4-D input (N, C, H, W)"),
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
}

# computed at quantize time when every input is constant
FOLDED = (
    "Shape", "Size", "Constant", "ConstantOfShape", "Range", "Expand", "Equal", "Where", "Pow", "Sqrt", "Neg",
    "Exp", "Log", "ReduceMean", "ReduceSum", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And",
    "Or", "Tile", "Trilu", "Min", "Max", "Abs", "Floor", "Ceil", "Reciprocal", "Sign", "CumSum", "ScatterND",
    "Mod",
)

# ops that must fold: where static input shapes would let them (the shape arithmetic of an export)
SHAPE_OPS = ("Shape", "Size", "Range", "ConstantOfShape", "Expand", "Tile", "Equal", "Where", "CumSum",
             "ScatterND")

# the nearest supported rewrite of an op the board cannot run
REWRITES = {
    "ReduceMean": "over the last two axes of an (N, C, H, W) tensor, export GlobalAveragePool instead "
                  "(torch: nn.AdaptiveAvgPool2d(1) or x.mean((2, 3), keepdim=True) with keepdim)",
    "ReduceSum": "over H and W, GlobalAveragePool times H*W (a constant Mul folds into the next layer)",
    "Max": "with a constant bound, Clip(min=bound)",
    "Min": "with a constant bound, Clip(max=bound)",
    "Pow": "x * x for Pow(x, 2)",
    "Neg": "Mul by -1",
    "GlobalMaxPool": "MaxPool with kernel_shape equal to the input's H and W",
    "ArgMax": "take the argmax on the host or in Python on the board (Model.run returns the scores)",
    "ZipMap": "export without it (skl2onnx: options={id(model): {'zipmap': False}})",
    "HardSigmoid": "Clip(alpha * x + beta, 0, 1): Mul, Add and Clip",
    "HardSwish": "x * Clip(x + 3, 0, 6) / 6: Add, Clip, Mul and Div",
    "Pad": "with constant zeros, the padding of the Conv or pool after it (its pads attribute)",
}


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
    lines += ["", "## Rewrites for ops the board cannot run", "", "| ONNX op | rewrite |", "|---|---|"]
    for op in sorted(REWRITES):
        lines.append("| %s | %s |" % (op, REWRITES[op]))
    return "\n".join(lines) + "\n"
