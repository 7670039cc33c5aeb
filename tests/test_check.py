"""`hyperion-host check MODEL.onnx`: every node's support, the float/int8 boundaries and the fit on each board,
with nothing written."""

import json
import os

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h

from helpers import assert_user_error, run_cli


def _listing(d):
    return sorted(os.listdir(d))


def test_check_lists_every_node_and_stops_on_the_first_refused_one(tmp_path):
    g = h.make_graph([h.make_node("Relu", ["x"], ["a"], name="r"),
                      h.make_node("DepthToSpace", ["a"], ["b"], blocksize=2, name="d2s"),
                      h.make_node("Einsum", ["b", "b"], ["y"], equation="ij,ij->ij", name="ein")], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 4, 6, 6])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 1, 12, 12])])
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(tmp_path / "m.onnx"))
    before = _listing(tmp_path)
    p = run_cli("check", str(tmp_path / "m.onnx"), "--json", cwd=str(tmp_path))
    assert_user_error(p, "unsupported ONNX op", "DepthToSpace", "Einsum")
    r = json.loads(p.stdout)
    assert [(n["name"], n["where"]) for n in r["nodes"]] == [("r", "board"), ("d2s", "refused"), ("ein", "refused")]
    assert "Reshape + Transpose" in r["nodes"][1]["becomes"]
    assert _listing(tmp_path) == before  # nothing written


def test_check_shows_int8_chains_boundaries_and_board_fit(tmp_path):
    import onnx_examples

    path = onnx_examples.cnn(tmp_path / "cnn.onnx", batch=1)
    np.savez(tmp_path / "cal.npz", x=np.random.default_rng(0).standard_normal((16, 1, 1, 8, 8)).astype(np.float32))
    before = _listing(tmp_path)
    p = run_cli("check", str(path), "--calib", str(tmp_path / "cal.npz"), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["error"] is None and all(n["where"] in ("board", "folds") for n in r["nodes"])
    convs = [o for o in r["ops"] if o["op"] == "conv"]
    assert convs[0]["in"] == ["int8"] and convs[0]["out"] == ["int8"]  # calibrated: an int8 chain
    assert any("float" in b and "int8" in b for b in r["boundaries"])
    boards = {b["board"]: b for b in r["boards"]}
    assert boards["rp2040"]["flash_fits"] and boards["rp2040"]["ram_fits"]
    assert r["file_bytes"] < 8192 and 0 < r["ram_bytes"] < boards["rp2040"]["heap"]
    assert _listing(tmp_path) == before
    # without --calib: float between the layers
    q = json.loads(run_cli("check", str(path), "--json").stdout)
    assert all(o["out"] == ["float"] for o in q["ops"])
    # the table form
    t = run_cli("check", str(path))
    assert t.returncode == 0 and "rp2040" in t.stdout and "fits" in t.stdout


def test_check_of_a_huge_model_says_which_boards_it_does_not_fit(tmp_path):
    W = np.random.default_rng(0).standard_normal((1024, 1536)).astype(np.float32)  # about 0.9 MB at 4 bits
    g = h.make_graph([h.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 1024])], [h.make_tensor_value_info("y", T.FLOAT, [1, 1536])],
                     initializer=[onnx.numpy_helper.from_array(W, "W")])
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(tmp_path / "big.onnx"))
    r = json.loads(run_cli("check", str(tmp_path / "big.onnx"), "--json").stdout)
    boards = {b["board"]: b for b in r["boards"]}
    assert r["error"] is None
    assert not boards["rp2040"]["flash_fits"] and boards["esp32s3"]["flash_fits"]  # a 512 KB and a 1 MB ROMFS
