"""Bring your own model: a scikit-learn pipeline and a PyTorch model go from training to `quantize` to a vboard
with no graph edits (skl2onnx's and torch.onnx.export's defaults)."""

import json

import numpy as np
import onnx
import pytest

from helpers import run_cli


def _infer_on(port, model, x, tmp_path):
    np.save(tmp_path / "x.npy", x)
    p = run_cli("infer", str(model), "--input", str(tmp_path / "x.npy"), "--port", port, "--json", timeout=600)
    assert p.returncode == 0, p.stderr
    return [np.asarray(v, np.float32) for v in json.loads(p.stdout)["outputs"].values()]


def _labels(model):
    p = run_cli("inspect", str(model), "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["labels"]


@pytest.mark.parametrize("kind", ["mlp", "logreg", "svc", "binary"])
def test_a_scikit_learn_pipeline_runs_on_a_vboard_with_its_labels(kind, tmp_path, vboard):

    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.svm import LinearSVC

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    names = np.array(["setosa", "versicolor", "virginica"])
    if kind == "binary":
        y = y > 0
        names = np.array(["setosa", "other"])
    clf = {"mlp": make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=800, random_state=0)),
           "logreg": make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=500)),
           "svc": LinearSVC(),  # (skl2onnx 1.20 cannot export LinearSVC inside a Pipeline)
           "binary": LogisticRegression(max_iter=500)}[kind]
    clf.fit(X, y if kind == "svc" else names[y.astype(int)])
    onnx.save(to_onnx(clf, X[:1]), str(tmp_path / "m.onnx"))  # the default export: ZipMap, labels and all
    name = onnx.load(str(tmp_path / "m.onnx")).graph.input[0].name
    p = run_cli("quantize", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.hyq"), "--input-shape",
                "%s=150,4" % name)
    assert p.returncode == 0, p.stderr
    labels = _labels(tmp_path / "m.hyq")
    assert labels == list(clf.classes_)
    scores = _infer_on(vboard.name, tmp_path / "m.hyq", X, tmp_path)[0]
    assert scores.shape == (150, len(labels))
    agree = (np.array(labels)[scores.argmax(1)] == clf.predict(X)).mean()
    assert agree >= 0.96, agree
    if kind in ("mlp", "logreg", "binary"):  # probabilities, as predict_proba gives them
        assert np.abs(scores - clf.predict_proba(X)).max() < 0.1


def test_a_tree_ensemble_is_refused_with_a_pointer(tmp_path):
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    onnx.save(to_onnx(DecisionTreeClassifier(max_depth=3).fit(X.astype(np.float32), y), X[:1].astype(np.float32)),
              str(tmp_path / "t.onnx"))
    p = run_cli("quantize", str(tmp_path / "t.onnx"), "-o", str(tmp_path / "t.hyq"))
    assert p.returncode != 0 and "TreeEnsembleClassifier" in p.stderr and "emlearn" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "t.hyq").exists()


def _torch_net():
    import torch
    from torch import nn

    class SqueezeExcite(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 4, 1), nn.ReLU(),
                                      nn.Conv2d(c // 4, c, 1), nn.Hardsigmoid())

        def forward(self, x):
            return x * self.gate(x)

    class Net(nn.Module):
        """BatchNorm, HardSwish, a depthwise conv, squeeze-and-excitation, and a GRU over the time axis."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.Hardswish())
            self.block = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.Hardswish(),
                                       SqueezeExcite(16), nn.Conv2d(16, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
            self.gru = nn.GRU(8 * 8, 24, batch_first=True)
            self.head = nn.Linear(24, 4)

        def forward(self, x):
            x = self.block(self.stem(x))  # (N, 8, 8, T)
            x = x.permute(0, 3, 1, 2).flatten(2)  # (N, T, 64)
            _, h = self.gru(x)
            return self.head(h[-1])

    torch.manual_seed(0)
    return Net()


def _blobs(n, rng):
    """Spectrogram-like 8x10 inputs: the class is where (which quarter of the time axis) a burst sits."""
    y = rng.integers(0, 4, n)
    x = rng.standard_normal((n, 1, 8, 10)).astype(np.float32) * 0.3
    for i, c in enumerate(y):
        x[i, 0, 2:6, 1 + 2 * c: 3 + 2 * c] += 2.0
    return x, y


def test_a_pytorch_model_trains_exports_quantizes_and_runs_on_a_vboard(tmp_path, start_vboard):
    import torch

    rng = np.random.default_rng(0)
    net = _torch_net()
    opt = torch.optim.Adam(net.parameters(), 0.01)
    x, y = _blobs(256, rng)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
    net.eval()
    xt, yt = _blobs(8, rng)  # a batch of 8 in one call: its arena fits the rp2040 vboard
    with torch.no_grad():
        want = net(torch.from_numpy(xt)).numpy()
    assert (want.argmax(1) == yt).mean() >= 0.875  # it learned the task
    torch.onnx.export(net, (torch.from_numpy(xt),), str(tmp_path / "net.onnx"), dynamo=False, opset_version=17)
    np.savez(tmp_path / "calib.npz", x=x[:64].reshape(8, 8, 1, 8, 10))  # 8 batches of 8
    p = run_cli("quantize", str(tmp_path / "net.onnx"), "-o", str(tmp_path / "net.hyq"), "--calib",
                str(tmp_path / "calib.npz"))
    assert p.returncode == 0, p.stderr
    got = _infer_on(start_vboard("rp2350").name, tmp_path / "net.hyq", xt, tmp_path)[0]
    assert got.shape == want.shape
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.95
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < 0.1, err


def test_a_gru_streams_one_step_at_a_time_with_its_state_on_the_board(tmp_path, micropython):
    """The streaming export of a GRU (a sequence of 1, the state in and out) steps on MicroPython with the state
    fed back, and matches PyTorch's run over the whole sequence."""
    import torch

    from hyperion_host.firmware import cached_firmware

    torch.manual_seed(1)
    gru = torch.nn.GRU(6, 12).eval()

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = gru

        def forward(self, x, h):
            y, h2 = self.gru(x, h)
            return h2

    x = torch.randn(10, 1, 6)
    with torch.no_grad():
        whole, _ = gru(x)
        torch.onnx.export(Step(), (x[:1], torch.zeros(1, 1, 12)), str(tmp_path / "step.onnx"), dynamo=False,
                          opset_version=17, input_names=["x", "h"], output_names=["h_next"])
    p = run_cli("quantize", str(tmp_path / "step.onnx"), "-o", str(tmp_path / "step.hyq"), "--bits", "8")
    assert p.returncode == 0, p.stderr
    code = ("import hyperion, array\nm = hyperion.load(%r)\nh = array.array('f', [0.0] * 12)\n"
            "for step in %r:\n    h = m.run((array.array('f', step), h))\n    print(' '.join('%%.6f' %% v for v in h))\n"
            % (str(tmp_path / "step.hyq"), x[:, 0].tolist()))
    r = micropython(code, firmware=cached_firmware("x64"))
    assert r.ok, r
    got = np.array([[float(v) for v in line.split()] for line in r.stdout.strip().splitlines()])
    assert got.shape == (10, 12)
    assert np.abs(got - whole[:, 0].numpy()).max() < 0.02  # 8-bit weights, 10 steps of state fed back
