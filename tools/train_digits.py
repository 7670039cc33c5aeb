"""Train the `digits` example: a small CNN on scikit-learn's 8x8 digits, exported to ONNX and quantized.

    .venv/bin/pip install torch==2.13.0 scikit-learn    # training only; CI uses the committed files
    .venv/bin/python tools/train_digits.py

Writes models/digits/: digits.onnx (float), digits.hyq (4-bit, calibrated), test.npz (the held-out 20%),
calib.npz, meta.json (labels and preprocessing). Deterministic (seed 0)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "digits"
SEED = 0


def data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8) in [0, 1]
    return train_test_split(x, d.target.astype(np.int64), test_size=0.2, random_state=SEED, stratify=d.target)


def model():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def train(xtr, ytr, epochs=40):
    import torch

    torch.manual_seed(SEED)
    net = model()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    X, Y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 64):
            idx = perm[i: i + 64]
            xb = X[idx]
            # small random shifts make the model robust to off-centre digits (resized from larger images)
            sh = torch.randint(-1, 2, (2,), generator=g)
            xb = torch.roll(xb, shifts=(int(sh[0]), int(sh[1])), dims=(2, 3))
            loss = torch.nn.functional.cross_entropy(net(xb), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    return net


def main():
    import torch

    OUT.mkdir(parents=True, exist_ok=True)
    xtr, xte, ytr, yte = data()
    net = train(xtr, ytr)
    with torch.no_grad():
        acc = (net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    print("fp32 test accuracy %.4f" % acc)
    torch.onnx.export(net, torch.zeros(1, 1, 8, 8), str(OUT / "digits.onnx"), input_names=["x"],
                      output_names=["logits"], opset_version=17, dynamo=False)
    np.savez_compressed(OUT / "test.npz", x=xte, y=yte)
    rng = np.random.default_rng(SEED)
    np.savez_compressed(OUT / "calib.npz", x=xtr[rng.choice(len(xtr), 256, replace=False)])
    meta = {"task": "classify", "labels": [str(i) for i in range(10)],
            "preprocess": {"size": [8, 8], "scale": 1.0, "layout": "grayscale, 0 = background",
                           "note": "trained on scikit-learn digits / 16; classify() resizes and rescales"}}
    (OUT / "meta.json").write_text(json.dumps(meta, indent=1))
    hh = str(Path(sys.executable).parent / "hyperion-host")
    subprocess.run([hh, "quantize", str(OUT / "digits.onnx"), "-o", str(OUT / "digits.hyq"), "--calib",
                    str(OUT / "calib.npz"), "--meta", str(OUT / "meta.json"), "--report", str(OUT / "report.json")],
                   check=True)


if __name__ == "__main__":
    main()
