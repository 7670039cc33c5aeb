"""Every supported op, against the float model run by onnxruntime (and onnx's own node test data)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from hyperion_host.files import write_atomic
from hyperion_host.model.hyqfile import load_program
from hyperion_host.model.onnx_import import import_onnx
from hyperion_host.model.quantize import Options, quantize_model
from hyperion_host.model.reference import Program

import onnx_examples as models
from onnx_cases import ALL_ACTIVATIONS, broadcast_cases, data_cases, freeze_inputs, node_cases

CASES = node_cases()
# node cases onnxruntime does not run (batch-first RNNs), or where it and ONNX's reference disagree (downsampling
# linear Resize with align_corners: Hyperion follows the reference and its stored outputs)
ORT_CANNOT = {"test_gru_batchwise", "test_lstm_batchwise", "test_resize_downsample_scales_linear_align_corners"}
DATA_CASES = data_cases()


def _close(got, want, rtol=1e-4):
    """Equal within rtol of the largest |value| (at least 1); NaN where the expected value is NaN."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), "NaN where none is expected, or none where one is"
    if nan.all():
        return
    scale = max(1.0, float(np.abs(want[~nan]).max()))
    diff = float(np.abs(got[~nan] - want[~nan]).max())
    assert diff <= rtol * scale, diff


def test_node_cases_cover_every_supported_op():
    ops = {m.graph.node[0].op_type for _, m, _, _ in CASES}
    for op in ("Conv", "MaxPool", "AveragePool", "Gemm", "MatMul", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh",
               "Gelu", "Softmax", "GlobalAveragePool", "BatchNormalization", "Add", "Sub", "Mul", "Div", "Flatten",
               "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Gather", "LayerNormalization", "Slice",
               "Split", "Identity"):
        assert op in ops, op
    assert len(CASES) >= 120


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_onnx_node_case(case, tmp_path):
    """Import onnx's node test model, run it on the host runtime (against the stored outputs and onnxruntime) and
    through a .hyq file with float weights."""
    name, model, ins, outs = case
    m, feeds = freeze_inputs(model, ins, len(ins) if ALL_ACTIVATIONS.match(name) else 1)
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))
    g = import_onnx(str(path))
    got = Program.from_graph(g).run(feeds)[g.outputs[0]]
    _close(got, outs[0])
    if name not in ORT_CANNOT:  # and onnxruntime on the same model and inputs
        _close(got, _ort(path, feeds))
    # the same through the file format (weights kept float32, activations float)
    keep = [op.name for op in g.ops]
    blob, _ = quantize_model(str(path), Options(act="float", keep_float=keep))
    write_atomic(tmp_path / "m.hyq", blob)
    prog, _ = load_program(str(tmp_path / "m.hyq"))
    _close(prog.run(feeds)[prog.outputs[0]], outs[0])


@pytest.mark.parametrize("case", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_onnx_stored_pytorch_case(case, tmp_path):
    """ONNX's stored pytorch-converted and pytorch-operator models and their data, as they are."""
    name, model, ins, outs = case
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    g = import_onnx(str(path))
    _close(Program.from_graph(g).run(dict(zip(g.inputs, ins)))[g.outputs[0]], outs[0])


@pytest.mark.parametrize("case", broadcast_cases(), ids=lambda c: c[0])
def test_operands_that_broadcast_both_ways(case, tmp_path):
    name, model, ins, outs = case
    onnx.save(model, str(tmp_path / "m.onnx"))
    g = import_onnx(str(tmp_path / "m.onnx"))
    _close(Program.from_graph(g).run(dict(zip(g.inputs, ins)))[g.outputs[0]], outs[0])


def test_the_stored_pytorch_cases_cover_what_they_should():
    names = {c[0].split("/")[1] for c in DATA_CASES}
    for want in ("test_ConvTranspose2d", "test_MaxPool2d_stride_padding_dilation", "test_MaxPool1d_stride_padding_dilation",
                 "test_ReflectionPad2d", "test_ReplicationPad2d", "test_PReLU_2d_multiparam", "test_operator_pad",
                 "test_operator_reduced_mean", "test_operator_exp", "test_operator_mm", "test_operator_convtranspose"):
        assert want in names, want
    assert len(DATA_CASES) >= 75


def _ort(path, feeds):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


@pytest.mark.parametrize("maker", ["cnn", "mlp", "transformer"])
def test_example_models_match_onnxruntime_in_float(maker, tmp_path):
    path = getattr(models, maker)(tmp_path / "m.onnx")
    g = import_onnx(str(path), ["x=1,1,8,8"] if maker == "cnn" else None)
    r = np.random.default_rng(1)
    if maker == "transformer":
        feeds = {"tokens": r.integers(0, 64, (1, 8))}
        g.meta["dtypes"] = {"tokens": "i32"}
    else:
        feeds = {"x": r.standard_normal(g.values["x"].shape).astype(np.float32)}
    _close(Program.from_graph(g).run(feeds)[g.outputs[0]], _ort(path, feeds), 1e-5)


def test_passes_fold_batchnorm_fuse_activations_and_gelu(tmp_path):
    g = import_onnx(models.cnn(tmp_path / "c.onnx"), ["x=1,1,8,8"])
    ops = [(op.op, op.attrs.get("act")) for op in g.ops]
    assert ops[0] == ("conv", "relu")  # Conv + BatchNorm + Relu -> one conv
    assert ops[1] == ("conv", "clip") and g.ops[1].attrs["p1"] == 6.0  # depthwise conv + Relu6
    assert "batchnorm" not in [o for o, _ in ops] and "act" not in [o for o, _ in ops]
    g = import_onnx(models.mlp(tmp_path / "m.onnx"))
    assert [(op.op, op.attrs.get("act"), len(op.inputs)) for op in g.ops] == [("linear", "gelu", 3),
                                                                             ("linear", None, 3)]
    g = import_onnx(models.transformer(tmp_path / "t.onnx"))
    assert "shape" not in {op.op for op in g.ops}  # the Shape/Gather/Concat arithmetic folded away
    assert sum(op.op == "linear" for op in g.ops) == 7 and sum(op.op == "matmul" for op in g.ops) == 2


@pytest.mark.parametrize("op,attrs,shape,inits,out_shape", [
    ("Conv", {"strides": [2, 2], "pads": [0, 1, 2, 1], "dilations": [1, 1]}, [1, 3, 9, 9],
     {"W": (4, 3, 3, 3), "B": (4,)}, [1, 4, 5, 5]),
    ("Conv", {"dilations": [2, 2], "group": 2}, [1, 4, 9, 9], {"W": (6, 2, 3, 3)}, [1, 6, 5, 5]),
    ("Conv", {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, [1, 2, 7, 7], {"W": (3, 2, 3, 3)}, [1, 3, 4, 4]),
    ("Conv", {"pads": [2, 2], "strides": [2]}, [1, 3, 16], {"W": (5, 3, 5), "B": (5,)}, [1, 5, 8]),
    ("Conv", {"group": 4, "pads": [1, 1, 1, 1]}, [1, 4, 6, 6], {"W": (4, 1, 3, 3)}, [1, 4, 6, 6]),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, [1, 2, 8, 8], {}, [1, 2, 4, 4]),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1},
     [1, 2, 7, 7], {}, [1, 2, 4, 4]),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1},
     [1, 2, 8, 8], {}, [1, 2, 5, 5]),
    ("LeakyRelu", {"alpha": 0.2}, [2, 3, 4], {}, [2, 3, 4]),
    ("Softmax", {"axis": 1}, [2, 5, 3], {}, [2, 5, 3]),
    ("Transpose", {"perm": [0, 3, 1, 2]}, [1, 2, 3, 4], {}, [1, 4, 2, 3]),
])
def test_single_ops_against_onnxruntime(op, attrs, shape, inits, out_shape, tmp_path):
    r = np.random.default_rng(2)
    arrays = {k: r.standard_normal(s).astype(np.float32) for k, s in inits.items()}
    path = models.single_op(tmp_path / "m.onnx", op, ["x"] + list(inits), {"x": shape}, out_shape, attrs, arrays)
    x = r.standard_normal(shape).astype(np.float32)
    g = import_onnx(path)
    _close(Program.from_graph(g).run({"x": x})["y"], _ort(path, {"x": x}))


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("other", [(), (3, 1, 1), (5,), (1, 3, 4, 5)])
@pytest.mark.parametrize("reverse", [False, True])
def test_broadcast_binaries_against_onnxruntime(op, other, reverse, tmp_path):
    r = np.random.default_rng(3)
    c = (r.random(other) + 0.5).astype(np.float32)
    names = ["c", "x"] if reverse else ["x", "c"]
    path = models.single_op(tmp_path / "m.onnx", op, names, {"x": [1, 3, 4, 5]}, [1, 3, 4, 5], None, {"c": c})
    x = (r.random((1, 3, 4, 5)) + 0.5).astype(np.float32)
    _close(Program.from_graph(import_onnx(path)).run({"x": x})["y"], _ort(path, {"x": x}))


@pytest.mark.parametrize("act,calib", [("float", False), ("int8", False), ("int8", True)])
@pytest.mark.parametrize("maker,min_db", [("cnn", 17.0), ("mlp", 18.0), ("transformer", 13.0)])
def test_quantized_models_stay_close_to_float(maker, min_db, act, calib, tmp_path):
    """4-bit weights (and int8 activations) against onnxruntime on the float model: output SQNR floor.
    (Random weights; 4-bit models of trained weights do better. Calibration adds 1-9 dB here.)"""
    path = getattr(models, maker)(tmp_path / "m.onnx")
    r = np.random.default_rng(4)
    shapes = ["x=1,1,8,8"] if maker == "cnn" else []
    if maker == "transformer":
        data = {"tokens": r.integers(0, 64, (32, 1, 8))}
    elif maker == "cnn":
        data = {"x": r.standard_normal((32, 1, 1, 8, 8)).astype(np.float32)}
    else:
        data = {"x": r.standard_normal((32, 1, 256)).astype(np.float32)}
    np.savez(tmp_path / "calib.npz", **data)
    blob, rep = quantize_model(str(path), Options(act=act, calib=str(tmp_path / "calib.npz") if calib else None,
                                                  input_shapes=shapes))
    write_atomic(tmp_path / "m.hyq", blob)
    prog, _ = load_program(str(tmp_path / "m.hyq"))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    ref, got = [], []
    for i in range(16):
        feed = {name: data[name][i]}
        ref.append(sess.run(None, feed)[0].ravel())
        got.append(prog.run(feed)[prog.outputs[0]].ravel())
    ref, got = np.concatenate(ref).astype(np.float64), np.concatenate(got).astype(np.float64)
    sqnr = 10 * np.log10((ref**2).sum() / ((ref - got) ** 2).sum())
    assert sqnr >= min_db, sqnr
    assert rep["weight_bytes"] < rep["fp32_bytes"] / 2


def test_docs_ops_md_is_generated_from_the_registry_and_current():
    from pathlib import Path

    from hyperion_host.model import onnx_import, opset

    doc = Path(__file__).resolve().parent.parent / "docs" / "ops.md"
    assert doc.read_text() == opset.render_markdown(), "regenerate: hyperion-host ops --markdown > docs/ops.md"
    assert onnx_import.RUNTIME_OPS == set(opset.BOARD) and onnx_import.FOLD_ONLY == set(opset.FOLDED)
    import json

    from helpers import run_cli

    p = run_cli("ops", "--json")
    assert p.returncode == 0, p.stderr
    got = {r["op"]: r["where"] for r in json.loads(p.stdout)["ops"]}
    assert got["Conv"] == "board" and got["Floor"] == "folded" and "DepthToSpace" not in got
    # every op the table says runs on a board has its converter
    missing = [op for op in opset.BOARD if not hasattr(onnx_import._Converter, "op_" + op)]
    assert not missing, missing


def _one_node_model(tmp_path, node, shape=(1, 4, 6, 6), out_shape=None):
    from onnx import TensorProto as T
    from onnx import helper as h

    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", T.FLOAT, list(shape))],
                     [h.make_tensor_value_info("y", T.FLOAT, out_shape)])
    path = tmp_path / "m.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(path))
    return str(path)


def test_an_unsupported_op_names_its_nearest_rewrite_and_no_wrong_hint(tmp_path):
    from onnx import helper as h

    from helpers import assert_user_error, run_cli

    path = _one_node_model(tmp_path, h.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, name="d2s"),
                           out_shape=[1, 1, 12, 12])
    p = run_cli("quantize", path, "-o", str(tmp_path / "a.hyq"))
    assert_user_error(p, "unsupported ONNX op DepthToSpace: DepthToSpace (d2s)", "rewrite it: Reshape + Transpose")
    # Floor on an activation: it cannot fold, and static shapes would not help (such a hint would be wrong)
    path = _one_node_model(tmp_path, h.make_node("Floor", ["x"], ["y"], name="fl"), out_shape=[1, 4, 6, 6])
    p = run_cli("quantize", path, "-o", str(tmp_path / "b.hyq"))
    assert_user_error(p, "node fl (Floor): Floor runs only on constant inputs", "post-processing")
    assert "--input-shape" not in p.stderr
