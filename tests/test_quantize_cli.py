"""`quantize`, `inspect`, `infer` and `eval` as a user runs them, including every bad-input case."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import onnx_examples as models
from helpers import assert_user_error, run_cli


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    path = models.cnn(d / "cnn.onnx")
    r = np.random.default_rng(0)
    x = r.standard_normal((40, 1, 8, 8)).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = np.array([sess.run(None, {"x": x[i: i + 1]})[0].argmax() for i in range(40)])
    y[:4] = (y[:4] + 1) % 10  # some wrong labels, so accuracy is not trivially 1
    np.savez(d / "calib.npz", x=x[:32])
    np.savez(d / "test.npz", x=x, y=y)
    np.save(d / "x0.npy", x[:1])
    return d, path


def test_quantize_inspect_infer_eval(cnn, tmp_path):
    d, path = cnn
    out = tmp_path / "cnn.hyq"
    p = run_cli("quantize", path, "-o", str(out), "--input-shape", "x=1,1,8,8", "--calib", str(d / "calib.npz"),
                "--report", str(tmp_path / "r.json"))
    assert p.returncode == 0, p.stderr
    assert "conv1" in p.stdout and "fc" in p.stdout and "output SQNR" in p.stdout
    rep = json.loads((tmp_path / "r.json").read_text())
    assert {e["name"] for e in rep["layers"]} == {"conv1", "dwconv", "fc"}
    assert all(e["sqnr_db"] > 10 for e in rep["layers"]) and rep["output_sqnr_db"]["y"] > 15
    assert rep["file_bytes"] == out.stat().st_size
    assert "--calib" not in p.stderr  # calibrated: no hint
    p = run_cli("quantize", path, "-o", str(tmp_path / "dyn.hyq"), "--input-shape", "x=1,1,8,8")
    assert p.returncode == 0 and "note: " in p.stderr and "--calib" in p.stderr, p.stderr

    s = json.loads(run_cli("inspect", str(out), "--json").stdout)
    assert [o["op"] for o in s["ops"]] == ["conv", "conv", "maxpool", "reshape", "linear", "softmax"]
    assert s["ops"][0]["act"] == "relu" and s["ops"][0]["qmode"] == "static"
    assert s["macs"] == 8 * 64 * 9 + 8 * 64 * 9 + 10 * 128
    assert s["arena_bytes"] > 0 and 4.0 < s["bpw"] < 12
    assert "MACs" in run_cli("inspect", str(out)).stdout

    p = run_cli("infer", str(out), "--input", str(d / "x0.npy"), "-o", str(tmp_path / "y.npy"))
    assert p.returncode == 0, p.stderr
    y = np.load(tmp_path / "y.npy")
    ref = ort.InferenceSession(path).run(None, {"x": np.load(d / "x0.npy")})[0]
    assert y.shape == (1, 10) and y.argmax() == ref.argmax()
    assert "y (1, 10)" in run_cli("infer", str(out), "--input", str(d / "x0.npy")).stdout

    p = run_cli("eval", str(out), "--data", str(d / "test.npz"), "--reference", path, "--json")
    assert p.returncode == 0, p.stderr
    e = json.loads(p.stdout)
    assert e["samples"] == 40 and e["float_accuracy"] == pytest.approx(0.9)
    assert e["agreement"] >= 0.85 and e["output_sqnr_db"] > 15 and abs(e["accuracy"] - e["float_accuracy"]) <= 0.15


def test_options_change_the_file(cnn, tmp_path):
    d, path = cnn
    sizes = {}
    for args in (["--bits", "8"], ["--block-size", "128"], ["--scheme", "sym"], ["--act", "float"],
                 ["--keep-float", "fc"], ["--prune", "0.9"]):
        out = tmp_path / "m.hyq"
        p = run_cli("quantize", path, "-o", str(out), "--input-shape", "x=1,1,8,8", *args)
        assert p.returncode == 0, (args, p.stderr)
        s = json.loads(run_cli("inspect", str(out), "--json").stdout)
        sizes[args[0]] = s["file_bytes"]
        fc = [o for o in s["ops"] if o["name"] == "fc"][0]
        if args[0] == "--bits":
            assert fc["weight"] == "q8 b32"
        if args[0] == "--block-size":
            assert fc["weight"] == "q4 asym b128"
        if args[0] == "--scheme":
            assert fc["weight"] == "q4 sym b32"
        if args[0] == "--act":
            assert fc["qmode"] == "float"
        if args[0] == "--keep-float":
            assert fc["weight"] == "f32" and fc["qmode"] == "float"
        if args[0] == "--prune":
            assert fc["weight"].startswith("csr4")
    assert sizes["--bits"] > sizes["--scheme"] and sizes["--keep-float"] > sizes["--bits"]
    assert sizes["--prune"] < sizes["--act"]


def _bad(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    return str(p)


def test_bad_onnx_inputs_write_nothing(cnn, tmp_path):
    d, path = cnn
    out = tmp_path / "o.hyq"
    cases = [
        (_bad(tmp_path, "text.onnx", b"this is not a model\n" * 10), "is not an ONNX model"),
        (_bad(tmp_path, "trunc.onnx", open(path, "rb").read()[:700]), "ONNX model"),
        (str(tmp_path / "missing.onnx"), "cannot read"),
    ]
    for src, msg in cases:
        assert_user_error(run_cli("quantize", src, "-o", str(out)), msg)
        assert not out.exists()
    # a dynamic batch alone is taken as 1; any other dynamic dimension must be given
    p = run_cli("quantize", path, "-o", str(tmp_path / "batch1.hyq"))
    assert p.returncode == 0, p.stderr
    m = onnx.load(path)
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    onnx.save(m, str(tmp_path / "dynh.onnx"))
    assert_user_error(run_cli("quantize", str(tmp_path / "dynh.onnx"), "-o", str(out)), "dynamic shape",
                      "--input-shape x=1,1,1,8")
    assert_user_error(run_cli("quantize", path, "-o", str(out), "--input-shape", "x=1,1,8"), "")
    np.savez(tmp_path / "badcal.npz", x=np.zeros((4, 3, 8, 8), np.float32))
    assert_user_error(run_cli("quantize", path, "-o", str(out), "--input-shape", "x=1,1,8,8", "--calib",
                              str(tmp_path / "badcal.npz")), "--calib array 'x' has shape (4, 3, 8, 8)")
    assert_user_error(run_cli("quantize", path, "-o", str(out), "--input-shape", "x=1,1,8,8", "--block-size", "48"),
                      "--block-size must be 32, 64 or 128")
    assert_user_error(run_cli("quantize", path, "-o", str(out), "--input-shape", "x=1,1,8,8", "--keep-float", "nope"),
                      "--keep-float names 'nope'")
    assert not out.exists() and not list(tmp_path.glob("*.part"))


def test_unsupported_ops_are_listed_with_node_names(tmp_path):
    nodes = [h.make_node("Relu", ["x"], ["a"], name="ok"), h.make_node("Cos", ["a"], ["b"], name="wave"),
             h.make_node("NonMaxSuppression", ["b", "b"], ["c"], name="nms1"), h.make_node("Cos", ["b"], ["y"], name="wave2")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 4])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    path = tmp_path / "u.onnx"
    onnx.save(m, str(path))
    out = tmp_path / "u.hyq"
    p = run_cli("quantize", str(path), "-o", str(out))
    assert_user_error(p, "unsupported ONNX ops Cos, NonMaxSuppression", "Cos (wave)", "NonMaxSuppression (nms1)",
                      "Cos (wave2)")
    assert not out.exists()


def test_corrupt_hyq_fails_in_inspect_infer_and_eval(cnn, tmp_path):
    d, path = cnn
    good = tmp_path / "g.hyq"
    assert run_cli("quantize", path, "-o", str(good), "--input-shape", "x=1,1,8,8").returncode == 0
    blob = good.read_bytes()
    trunc = _bad(tmp_path, "t.hyq", blob[: len(blob) // 2])
    flipped = bytearray(blob)
    flipped[-20] ^= 0x10
    corrupt = _bad(tmp_path, "c.hyq", bytes(flipped))
    for f, msg in ((trunc, "truncated"), (corrupt, "CRC mismatch")):
        assert_user_error(run_cli("inspect", f), msg)
        assert_user_error(run_cli("infer", f, "--input", str(d / "x0.npy")), msg)
        assert_user_error(run_cli("eval", f, "--data", str(d / "test.npz")), msg)
    assert_user_error(run_cli("infer", str(good), "--input", str(d / "calib.npz")), "holds 32 samples")
    np.save(tmp_path / "wrong.npy", np.zeros((1, 2, 8, 8), np.float32))
    assert_user_error(run_cli("infer", str(good), "--input", str(tmp_path / "wrong.npy")), "expects (1, 1, 8, 8)")


def test_transformer_imports_and_quantizes(tmp_path):
    path = models.transformer(tmp_path / "t.onnx")
    out = tmp_path / "t.hyq"
    p = run_cli("quantize", path, "-o", str(out))
    assert p.returncode == 0, p.stderr
    s = json.loads(run_cli("inspect", str(out), "--json").stdout)
    ops = [o["op"] for o in s["ops"]]
    assert ops.count("linear") == 7 and ops.count("matmul") == 2 and ops[0] == "gather"
    assert s["ops"][0]["weight"] == "q4 asym b32"  # the embedding table is 4-bit too
    np.save(tmp_path / "tok.npy", np.array([[1, 2, 3, 4, 5, 6, 7, 8]]))
    p = run_cli("infer", str(out), "--input", str(tmp_path / "tok.npy"), "-o", str(tmp_path / "l.npy"))
    assert p.returncode == 0, p.stderr
    ref = ort.InferenceSession(path).run(None, {"tokens": np.array([[1, 2, 3, 4, 5, 6, 7, 8]])})[0]
    got = np.load(tmp_path / "l.npy")
    assert got.shape == ref.shape == (1, 8, 64)
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.75


def test_infer_on_micropython_and_on_a_vboard(cnn, tmp_path, vboard):
    d, path = cnn
    hyq = tmp_path / "cnn.hyq"
    assert run_cli("quantize", path, "-o", str(hyq), "--input-shape", "x=1,1,8,8").returncode == 0
    host = run_cli("infer", str(hyq), "--input", str(d / "x0.npy"), "-o", str(tmp_path / "h.npy"))
    assert host.returncode == 0, host.stderr
    for args in (["--on", "micropython"], ["--on", "micropython", "--kernels", "python"], ["--port", vboard.name]):
        p = run_cli("infer", str(hyq), "--input", str(d / "x0.npy"), "-o", str(tmp_path / "y.npy"), "--stats",
                    "--stats-json", str(tmp_path / "s.json"), *args)
        assert p.returncode == 0, (args, p.stderr)
        np.testing.assert_allclose(np.load(tmp_path / "y.npy"), np.load(tmp_path / "h.npy"), atol=2e-3)
        st = json.loads((tmp_path / "s.json").read_text())
        assert st["latency_us"] > 0 and st["peak_heap_bytes"] > 0
        assert st["kernels"][0] == ("python" if "python" in args else "c") and len(st["kernels"]) == 6
        assert "latency" in p.stderr and "peak heap" in p.stderr
    # the board got the compiled firmware and the model in its dev slot, as deploy installs bundles
    dev = vboard.fs_dir / "hyperion-ab" / "dev"
    assert (dev / "lib" / "hyperion" / "kernels" / "viper.mpy").exists()
    assert (dev / "lib" / "hyperion" / "kernels" / "c.mpy").exists()
    assert (dev / "models" / "cnn.hyq").read_bytes() == hyq.read_bytes()
    assert not (vboard.fs_dir / "lib").exists() and not (vboard.fs_dir / "models").exists()
    # --json: the outputs and the stats; another model replaces the first (the dev slot keeps the last one)
    other = tmp_path / "other.hyq"
    other.write_bytes(hyq.read_bytes())
    p = run_cli("infer", str(other), "--input", str(d / "x0.npy"), "--port", vboard.name, "--json")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    np.testing.assert_allclose(np.array(next(iter(res["outputs"].values()))), np.load(tmp_path / "h.npy"), atol=2e-3)
    assert res["stats"]["speed"] == "host" and "sent 1 file" in p.stderr  # the firmware was there already
    assert sorted(x.name for x in (dev / "models").iterdir()) == ["other.hyq"]
    st = json.loads(run_cli("status", "--json", "--port", vboard.name).stdout)
    assert st["dev"]["models"] == ["other.hyq"] and st["dev"]["firmware"]
    assert_user_error(run_cli("infer", str(hyq), "--input", str(d / "x0.npy"), "--on", "micropython", "--port",
                              vboard.name), "give one of them")
    assert_user_error(run_cli("infer", str(hyq), "--input", str(d / "x0.npy"), "--kernels", "turbo"), "--kernels must be")
    assert_user_error(run_cli("infer", str(hyq), "--input", str(d / "x0.npy"), "--on", "mars"), "--on must be")


def test_a_short_row_layer_goes_q8_and_the_report_measures_alike_with_and_without_calib(tmp_path):
    """A 16-input layer pays a 32-wide q4 block per row (over 6 bits/weight): it is stored as q8, said so, and
    the weight SQNR is the same measure with --calib as without (the calibrated fit adds its own column)."""
    path = models.mlp(tmp_path / "m.onnx", k=16, hidden=64, n_out=4)
    x = np.random.default_rng(1).standard_normal((64, 16)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", x=x)
    reps = {}
    for name, extra in (("plain", []), ("calib", ["--calib", str(tmp_path / "calib.npz")])):
        p = run_cli("quantize", path, "-o", str(tmp_path / (name + ".hyq")), "--report", str(tmp_path / (name + ".json")),
                    *extra)
        assert p.returncode == 0, p.stderr
        assert "fc1 stored as q8" in p.stderr and "rows of 16 weights in blocks of 32" in p.stderr, p.stderr
        reps[name] = {e["name"]: e for e in json.loads((tmp_path / (name + ".json")).read_text())["layers"]}
    for rep in reps.values():
        assert rep["fc1"]["format"] == "q8" and rep["fc1"]["sqnr_db"] > 35 and "auto" in rep["fc1"]
        assert rep["fc2"]["format"].startswith("q4") and "auto" not in rep["fc2"]  # 64 wide: q4 pays its way
    for layer in ("fc1", "fc2"):  # the calibrated fit may move a weight, not the yardstick: within a few dB
        assert abs(reps["calib"][layer]["sqnr_db"] - reps["plain"][layer]["sqnr_db"]) < 6, layer
    assert "output_weighted_sqnr_db" in reps["calib"]["fc2"] and "output_weighted_sqnr_db" not in reps["plain"]["fc2"]
    # the model still runs the same on MicroPython with a q8 layer beside q4 ones
    np.save(tmp_path / "x.npy", x[:1])
    host = run_cli("infer", str(tmp_path / "calib.hyq"), "--input", str(tmp_path / "x.npy"), "--json")
    mp = run_cli("infer", str(tmp_path / "calib.hyq"), "--input", str(tmp_path / "x.npy"), "--json", "--on",
                 "micropython")
    assert host.returncode == 0 and mp.returncode == 0, (host.stderr, mp.stderr)
    np.testing.assert_allclose(np.array(json.loads(mp.stdout)["outputs"]["y"]),
                               np.array(json.loads(host.stdout)["outputs"]["y"]), atol=2e-3)
    # a kernel path the runtime cannot give is said, not silently replaced
    u = run_cli("infer", str(tmp_path / "calib.hyq"), "--input", str(tmp_path / "x.npy"), "--on", "micropython",
                "--kernels", "ulab")
    assert u.returncode == 0 and "note: ulab is not on this board (or its float is not 32-bit): using bytecode " \
        "kernels" in u.stderr, u.stderr


def test_outputs_are_only_ever_regular_files(cnn, tmp_path):
    """-o and --report onto a FIFO, a folder or into a missing folder: a one-line error, the special file left as
    it was, and neither output written (the .hyq is not written when its --report cannot be)."""
    import os
    import stat

    d, path = cnn
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = ("--input-shape", "x=1,1,8,8")
    assert_user_error(run_cli("quantize", path, "-o", str(fifo), *args), "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert_user_error(run_cli("quantize", path, "-o", str(tmp_path), *args), "is a folder")
    assert_user_error(run_cli("quantize", path, "-o", str(tmp_path / "no" / "m.hyq"), *args), "there is no folder")
    out = tmp_path / "m.hyq"
    assert_user_error(run_cli("quantize", path, "-o", str(out), "--report", str(tmp_path / "no" / "r.json"), *args),
                      "there is no folder")
    assert not out.exists()  # the model is written with its report or not at all
    assert run_cli("quantize", path, "-o", str(out), *args).returncode == 0
    assert_user_error(run_cli("infer", str(out), "-i", str(d / "x0.npy"), "-o", str(fifo)), "not a regular file")
    assert_user_error(run_cli("infer", str(out), "-i", str(d / "x0.npy"), "-o", "/dev/null"), "not a regular file")
    assert not list(tmp_path.glob("*.part"))


def test_an_input_shape_that_contradicts_the_model_is_refused(cnn, tmp_path):
    """The model's fixed dimensions cannot be overridden (1 input channel, 8x8 through its Gemm): a one-line
    error and no file, where the board used to answer wrongly with exit 0."""
    d, path = cnn
    out = tmp_path / "m.hyq"
    for shape in ("x=1,2,8,8", "x=1,1,8", "x=1,1,8,8,1"):
        assert_user_error(run_cli("quantize", path, "-o", str(out), "--input-shape", shape),
                          "does not fit the model's input [N,1,8,8]")
        assert not out.exists()
    assert run_cli("quantize", path, "-o", str(out), "--input-shape", "x=3,1,8,8").returncode == 0  # N is free


def test_nan_and_infinite_inputs_are_refused_on_the_host_and_on_micropython(cnn, tmp_path):
    """The same rule everywhere: refused by default with a one-line error, run with --allow-nonfinite."""
    d, path = cnn
    out = tmp_path / "m.hyq"
    assert run_cli("quantize", path, "-o", str(out), "--input-shape", "x=1,1,8,8").returncode == 0
    x = np.load(d / "x0.npy")
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[0, 0, 3, 4] = bad
        np.save(tmp_path / "bad.npy", y)
        for on in ("host", "micropython"):
            assert_user_error(run_cli("infer", str(out), "-i", str(tmp_path / "bad.npy"), "--on", on),
                              "holds NaN or infinity", "--allow-nonfinite")
    p = run_cli("infer", str(out), "-i", str(tmp_path / "bad.npy"), "--on", "micropython", "--allow-nonfinite")
    assert p.returncode == 0, p.stderr
    # the board runtime's own check, for every kernel path (a script that skips the host)
    from hyperion_host.device.local import run_micropython
    from hyperion_host.firmware import cached_firmware

    code = ("import hyperion, array\nm = hyperion.load(%r, kernels=K)\nx = array.array('f', [0.5] * 64)\n"
            "x[7] = float('nan')\ntry:\n    m.run(x)\nexcept ValueError as e:\n    print('refused', e)\n"
            "m.allow_nonfinite = True\nm.run(x)\nprint('ran')\n" % str(out))
    for k in ("c", "viper", "python"):
        r = run_micropython("K = %r\n" % k + code, firmware=cached_firmware("x64"))
        assert "refused input 0 holds NaN or infinity (value 7)" in r.stdout and "ran" in r.stdout, (k, r)
