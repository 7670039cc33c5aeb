"""The example models shipped in models/: accuracy of the committed files, and the same results on MicroPython."""

import json
from pathlib import Path

import numpy as np

from hyperion_host.build import cached_firmware
from hyperion_host.hyq_io import load_program

from helpers import run_cli

MODELS = Path(__file__).resolve().parent.parent / "models"


def test_digits_int4_accuracy_within_half_a_point_of_fp32():
    d = MODELS / "digits"
    p = run_cli("eval", str(d / "digits.hyq"), "--data", str(d / "test.npz"), "--reference", str(d / "digits.onnx"),
                "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["samples"] == 360
    assert r["float_accuracy"] >= 0.98
    assert r["float_accuracy"] - r["accuracy"] <= 0.005, r
    card = (d / "README.md").read_text()
    assert "%.1f%%" % (100 * r["accuracy"]) in card and "%.1f%%" % (100 * r["float_accuracy"]) in card


def test_digits_on_micropython_matches_the_host(micropython):
    d = MODELS / "digits"
    prog, _ = load_program(str(d / "digits.hyq"))
    data = np.load(d / "test.npz")
    x, y = data["x"][:120], data["y"][:120]
    host = np.stack([prog.run({"x": xi[None]})["logits"].ravel() for xi in x])
    raw = x.astype("<f4").tobytes()
    # also a 32x32 0..255 version of each image, for classify()'s on-board resize
    big = (np.kron(x[:, 0], np.ones((4, 4))) * 255).round().astype(np.uint8).tobytes()
    code = (
        "import hyperion, array\n"
        "m = hyperion.load(%r)\n"
        "raw = open(%r, 'rb').read()\nbig = open(%r, 'rb').read()\n"
        "for i in range(%d):\n"
        "    y = m.run(array.array('f', raw[i * 256:(i + 1) * 256]))\n"
        "    label, p = m.classify(big[i * 1024:(i + 1) * 1024], 32, 32)\n"
        "    print(' '.join('%%.6g' %% v for v in y), label, '%%.4f' %% p)\n"
    ) % (str(d / "digits.hyq"), "/tmp/_digits_raw.bin", "/tmp/_digits_big.bin", len(x))
    Path("/tmp/_digits_raw.bin").write_bytes(raw)
    Path("/tmp/_digits_big.bin").write_bytes(big)
    r = micropython(code, firmware=cached_firmware("x64"), heap=256 * 1024)
    assert r.ok, r
    rows = [line.split() for line in r.stdout.strip().splitlines()]
    board = np.array([[float(v) for v in row[:10]] for row in rows])
    np.testing.assert_allclose(board, host, atol=2e-3 * np.abs(host).max())
    assert (board.argmax(1) == host.argmax(1)).all()
    labels = np.array([int(row[10]) for row in rows])
    assert (labels == host.argmax(1)).mean() >= 0.97  # resized from 32x32: same answers
    assert (labels == y).mean() >= 0.97


def test_kws_int4_accuracy_on_held_out_voices_within_a_point():
    d = MODELS / "kws"
    p = run_cli("eval", str(d / "kws.hyq"), "--data", str(d / "test.npz"), "--reference", str(d / "kws.onnx"), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["samples"] > 600 and r["float_accuracy"] >= 0.95
    assert r["float_accuracy"] - r["accuracy"] <= 0.01, r
    card = (d / "README.md").read_text()
    assert "%.1f%%" % (100 * r["accuracy"]) in card and "%.1f%%" % (100 * r["float_accuracy"]) in card


def test_kws_listens_on_micropython():
    """Keyword clips of held-out voices (16-bit PCM), and one inside two seconds of noise: VAD, MFCC and the
    model all run on the board."""
    from hyperion_host.local import run_micropython

    d = MODELS / "kws" / "samples"
    code = (
        "import hyperion, array\n"
        "m = hyperion.load(%r)\n"
        "for w in ('yes', 'stop', 'silence'):\n"
        "    s = array.array('h', open(%r + '/' + w + '.raw', 'rb').read())\n"
        "    print(w, m.listen(s)[0])\n"
        "    del s\n"
        "s = open(%r + '/yes.raw', 'rb').read()\n"
        "long = array.array('h', bytes(16000) + s + bytes(16000))\n"
        "del s\n"
        "print('long', m.listen(long)[0])\n"
    ) % (str(MODELS / "kws" / "kws.hyq"), str(d), str(d))
    r = run_micropython(code, heap=1024 * 1024, firmware=cached_firmware("x64"))
    assert r.ok, r
    assert r.stdout.split() == ["yes", "yes", "stop", "stop", "silence", "_silence_", "long", "yes"]
