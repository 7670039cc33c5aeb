"""Train the `kws` example: keyword spotting on audio synthesized with espeak-ng, a DS-CNN on MFCCs.

    apt-get install espeak-ng; .venv/bin/pip install torch==2.13.0     # training only; CI uses the committed files
    .venv/bin/python tools/train_kws.py

10 keywords plus _silence_ and _unknown_ (10 other words), spoken by espeak-ng voices at several speeds and
pitches, placed at random in 1 s, with noise at random SNR. Test accuracy is measured on voices held out from
training. Features are the board's own front end (firmware/hyperion/audio.py: window, mel filters, DCT), with
numpy's FFT for speed (tests/test_audio.py shows the two agree). Writes models/kws/: kws.onnx, kws.hyq,
test.npz (features of the held-out voices), calib.npz, meta.json, samples/*.raw (a few 16-bit clips)."""

import json
import os
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware"))
from hyperion.audio import Frontend, dct_matrix, mel_filterbank  # noqa: E402

OUT = ROOT / "models" / "kws"
SEED = 0
RATE = 16000
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
UNKNOWN = ["cat", "dog", "bird", "tree", "house", "happy", "seven", "zero", "wow", "bed", "learn", "follow"]
LABELS = KEYWORDS + ["_silence_", "_unknown_"]
TRAIN_VOICES = ["en", "en-us", "en-gb-scotland", "en-029", "en+m3", "en-us+f2", "en+f3", "en-us+m1", "en+klatt",
                "en-us+croak", "en+m2", "en-gb-x-rp+f1"]
TEST_VOICES = ["en-us+f4", "en+m7", "en-gb-scotland+f2", "en-029+m4"]
SPEEDS = [120, 150, 180]
PITCHES = [30, 50, 70]


def say(word, voice, speed, pitch):
    with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as f:
        path = f.name
    try:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, word], check=True,
                       capture_output=True)
        with wave.open(path) as w:
            rate = w.getframerate()
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    finally:
        os.unlink(path)
    t = np.arange(0, len(x) / rate, 1 / RATE)
    return np.interp(t, np.arange(len(x)) / rate, x).astype(np.float32)  # to 16 kHz


def clip(speech, rng):
    """1 s: the word at a random position, random gain, noise at a random SNR."""
    out = np.zeros(RATE, np.float32)
    if speech is not None:
        speech = speech[np.abs(speech) > 1e-4][:RATE] if len(speech) > RATE else speech
        start = rng.integers(0, max(1, RATE - len(speech)))
        out[start: start + len(speech)] = speech[: RATE - start] * rng.uniform(0.3, 1.0)
    p = max(float(np.mean(out ** 2)), 1e-6)
    snr = rng.uniform(5, 30)
    noise = rng.standard_normal(RATE).astype(np.float32) * np.sqrt(p / 10 ** (snr / 10))
    if speech is None:
        noise *= rng.uniform(0.01, 0.3) / max(float(np.std(noise)), 1e-6)
    return np.clip(out + noise, -1, 1)


def features(x, fe, filt, dct):
    """The board's MFCC pipeline with numpy's FFT: (frames, n_mfcc)."""
    n = fe.frames(len(x))
    idx = np.arange(fe.frame_len)[None, :] + fe.hop * np.arange(n)[:, None]
    frames = x[idx] * np.array(fe.window)[None, :]
    p = np.abs(np.fft.rfft(frames, fe.n_fft, axis=1)) ** 2
    return np.log(p @ filt.T + 1e-6) @ dct.T


def dataset(voices, rng, per_word=1):
    fe = Frontend()
    filt = np.zeros((fe.n_mels, fe.n_fft // 2 + 1))
    for m, (start, w) in enumerate(mel_filterbank(fe.n_fft, fe.n_mels, RATE, 20.0, 4000.0)):
        filt[m, start: start + len(w)] = np.array(w)
    dct = np.array(dct_matrix(fe.n_mels, fe.n_mfcc)).reshape(fe.n_mfcc, fe.n_mels)
    X, Y, raw = [], [], []
    for voice in voices:
        for speed in SPEEDS:
            for pitch in PITCHES:
                for li, word in enumerate(KEYWORDS + UNKNOWN):
                    if word in UNKNOWN and rng.random() > 0.5:
                        continue  # fewer unknowns than keywords
                    s = say(word, voice, speed, pitch)
                    label = li if word in KEYWORDS else LABELS.index("_unknown_")
                    for _ in range(per_word):
                        c = clip(s, rng)
                        X.append(features(c, fe, filt, dct))
                        Y.append(label)
                        raw.append(c)
                for _ in range(2):
                    c = clip(None, rng)
                    X.append(features(c, fe, filt, dct))
                    Y.append(LABELS.index("_silence_"))
                    raw.append(c)
    return np.array(X, np.float32)[:, None], np.array(Y, np.int64), raw


def model():
    import torch.nn as nn

    def ds(c):
        return [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU()]

    return nn.Sequential(nn.Conv2d(1, 48, (10, 4), stride=(2, 2), padding=(4, 1)), nn.BatchNorm2d(48), nn.ReLU(),
                         *ds(48), *ds(48), *ds(48), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(48, len(LABELS)))


def main():
    import torch

    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    xtr, ytr, _ = dataset(TRAIN_VOICES, rng, per_word=2)
    xte, yte, raw_te = dataset(TEST_VOICES, rng, per_word=1)
    mu, sd = float(xtr.mean()), float(xtr.std())
    print("train %d clips, test %d clips (held-out voices)" % (len(xtr), len(xte)))
    torch.manual_seed(SEED)
    net = model()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    epochs = 30
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    X, Y = torch.from_numpy((xtr - mu) / sd), torch.from_numpy(ytr)
    g = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 64):
            idx = perm[i: i + 64]
            loss = torch.nn.functional.cross_entropy(net(X[idx]), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    class Normalize(torch.nn.Module):  # folded into the model: the board feeds raw MFCCs
        def forward(self, x):
            return (x - mu) / sd

    full = torch.nn.Sequential(Normalize(), net)
    with torch.no_grad():
        acc = (full(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    print("fp32 held-out-voice accuracy %.4f" % acc)
    torch.onnx.export(full, torch.zeros(1, 1, xte.shape[2], xte.shape[3]), str(OUT / "kws.onnx"), input_names=["x"],
                      output_names=["logits"], opset_version=17, dynamo=False)
    np.savez_compressed(OUT / "test.npz", x=xte.astype(np.float16), y=yte)  # float16: half the repository size
    np.savez_compressed(OUT / "calib.npz", x=xtr[rng.choice(len(xtr), 128, replace=False)].astype(np.float16))
    (OUT / "samples").mkdir(exist_ok=True)
    for label in ("yes", "stop", "_silence_"):
        i = int(np.where(yte == LABELS.index(label))[0][0])
        (OUT / "samples" / ("%s.raw" % label.strip("_"))).write_bytes(
            np.clip(np.round(raw_te[i] * 32767), -32768, 32767).astype("<i2").tobytes())
    meta = {"task": "kws", "labels": LABELS, "audio": {"rate": RATE, "n_fft": 512, "frame_len": 400, "hop": 160,
                                                        "n_mels": 40, "n_mfcc": 10, "seconds": 1.0}}
    (OUT / "meta.json").write_text(json.dumps(meta, indent=1))
    hh = str(Path(sys.executable).parent / "hyperion-host")
    subprocess.run([hh, "quantize", str(OUT / "kws.onnx"), "-o", str(OUT / "kws.hyq"), "--calib", str(OUT / "calib.npz"),
                    "--meta", str(OUT / "meta.json"), "--report", str(OUT / "report.json")], check=True)


if __name__ == "__main__":
    main()
