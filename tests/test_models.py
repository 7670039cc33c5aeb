"""The example models shipped in models/: accuracy of the committed files, and the same results on MicroPython."""

import json
from pathlib import Path

import numpy as np

from hyperion_host.firmware import cached_firmware
from hyperion_host.model.hyqfile import load_program

from helpers import assert_user_error, run_cli

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
    # the test's own 150 KB of images share the heap (x64 objects: twice a board's words)
    r = micropython(code, firmware=cached_firmware("x64"), heap=384 * 1024)
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
    from hyperion_host.device.local import run_micropython

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


# -- tinylm --------------------------------------------------------------------------------------------------

TINYLM = MODELS / "tinylm"


def _run_tinylm(code, heap=512 * 1024):
    from hyperion_host.device.local import run_micropython

    r = run_micropython("import hyperion\nm = hyperion.load(%r)\n" % str(TINYLM / "tinylm.hyq") + code, heap=heap,
                        firmware=cached_firmware("x64"))
    assert r.ok, r
    return r.stdout


def test_tinylm_int4_perplexity_within_5_percent_of_fp32():
    p = run_cli("eval", str(TINYLM / "tinylm.hyq"), "--data", str(TINYLM / "test.npz"), "--reference",
                str(TINYLM / "tinylm.onnx"), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["samples"] > 400
    assert r["float_perplexity"] < 1.6  # it learned the stories (a byte-level model starts at 256)
    assert r["perplexity_ratio"] <= 1.05, r
    card = (TINYLM / "README.md").read_text()
    assert "%.3f" % r["perplexity"] in card and "%.3f" % r["float_perplexity"] in card


def test_tinylm_kv_cache_decoder_on_micropython_matches_the_host():
    """Teacher-forced held-out windows: the board's one-token-at-a-time decoder (int8 KV cache) against the host
    runtime's full-sequence graph; the viper and bytecode kernels give the very same logits."""
    from hyperion_host.model.evaluate import perplexity

    data = np.load(TINYLM / "test.npz")
    tok, tg = data["tokens"][:12, 0], data["targets"][:12]
    prog, _ = load_program(str(TINYLM / "tinylm.hyq"))
    host = np.stack([np.asarray(prog.run({"tokens": t[None]})["logits"])[0] for t in tok])
    seqs = [[int(v) for v in t] + [int(g[-1])] for t, g in zip(tok, tg)]
    out = _run_tinylm(
        "from hyperion import lm\nimport math\n"
        "dec = lm.Decoder(m)\n"
        "tot = n = 0\n"
        "for s in %r:\n"
        "    a, b = dec.nll(s)\n"
        "    tot += a\n    n += b\n"
        "print(math.exp(tot / n))\n"
        "for kp in ('viper', 'python'):\n"
        "    d = lm.Decoder(hyperion.load(%r, kernels=kp))\n"
        "    for t in %r:\n"
        "        print(' '.join('%%.7g' %% v for v in d.step(t)))\n"
        % (seqs, str(TINYLM / "tinylm.hyq"), seqs[0][:24]), heap=1024 * 1024)
    lines = out.strip().splitlines()
    board_ppl = float(lines[0])
    host_ppl = perplexity(host, tg)
    assert abs(board_ppl / host_ppl - 1) < 0.01, (board_ppl, host_ppl)
    viper = np.array([[float(v) for v in line.split()] for line in lines[1:25]])
    python = np.array([[float(v) for v in line.split()] for line in lines[25:49]])
    np.testing.assert_array_equal(viper, python)
    ref = host[0, :24]
    assert np.abs(viper - ref).max() < 0.25 * ref.std(), np.abs(viper - ref).max()
    assert (viper.argmax(1) == ref.argmax(1)).mean() >= 0.9


def test_tinylm_generates_on_micropython_as_the_host_would():
    """Greedy generation on the board, streamed: every byte it picks is the host runtime's best choice for the
    same text, or within a near-tie of it (the board's attention runs on an int8 cache)."""
    prompts = ["Once upon a time", "Tom had a", "The cat said", "It was a rainy"]
    out = _run_tinylm(
        "for p in %r:\n"
        "    pieces = list(m.generate(p, 40, temperature=0))\n"
        "    print(len(pieces), repr(''.join(pieces)))\n" % prompts)
    prog, _ = load_program(str(TINYLM / "tinylm.hyq"))
    exact = total = 0
    for p, line in zip(prompts, out.strip().splitlines()):
        n, text = line.split(" ", 1)
        gen = eval(text).encode()
        assert len(gen) == 40 and int(n) >= 30  # yielded as the bytes came (one piece per character)
        toks = list(p.encode()) + list(gen)
        x = np.zeros((1, 64), np.int64)
        x[0, :len(toks)] = toks
        lg = np.asarray(prog.run({"tokens": x})["logits"])[0]
        for i in range(len(p.encode()), len(toks)):
            row = lg[i - 1]
            assert row[toks[i]] >= row.max() - 1.0, (p, i)
            exact += int(row.argmax() == toks[i])
            total += 1
    assert exact >= 0.95 * total


def test_tinylm_sampling_options_on_micropython():
    out = _run_tinylm(
        "a = ''.join(m.generate('Lily had a', 60, seed=5))\n"
        "b = ''.join(m.generate('Lily had a', 60, seed=5))\n"
        "c = ''.join(m.generate('Lily had a', 60, seed=6, temperature=1.2, top_k=0, top_p=1.0))\n"
        "print(a == b, a != c)\n"
        "s = ''.join(m.generate('One day, Tom', 200, temperature=0, stop='.'))\n"
        "print(repr(s))\n"
        "long = ''.join(m.generate('Once', 150, seed=1, repetition_penalty=1.2))\n"
        "print(len(long.encode()))\n"
        "try:\n"
        "    m.generate('x', 5, temperature=-1)\n"
        "except ValueError as e:\n"
        "    print('ValueError', e)\n")
    lines = out.strip().splitlines()
    assert lines[0] == "True True"
    stopped = eval(lines[1])
    assert "." not in stopped and 5 < len(stopped) < 100  # ended at the first sentence, without the stop
    assert int(lines[2]) == 150  # past the 64-byte context: it slides
    assert lines[3].startswith("ValueError temperature")


def test_generate_on_a_model_that_is_not_a_language_model_says_so():
    from hyperion_host.device.local import run_micropython

    code = ("import hyperion\nm = hyperion.load(%r)\n"
            "try:\n    m.generate('hi')\nexcept ValueError as e:\n    print(e)\n") % str(MODELS / "digits" / "digits.hyq")
    r = run_micropython(code, heap=512 * 1024, firmware=cached_firmware("x64"))
    assert r.ok, r
    assert "not a decoder language model" in r.stdout and "text.decoder" in r.stdout


def test_tinylm_generates_from_romfs_as_from_a_file(tmp_path):
    """Mapped in place from a ROMFS image (mpremote's writer, vfs.VfsRom): the same text as streamed from a file,
    and the big constants (position table, mask) are not copied into RAM."""
    from mpremote.romfs import VfsRomWriter

    w = VfsRomWriter()
    w.opendir("models")
    w.mkfile("tinylm.hyq", (TINYLM / "tinylm.hyq").read_bytes())
    w.closedir()
    img = tmp_path / "rom.img"
    img.write_bytes(w.finalise())
    out = _run_tinylm(
        "import vfs, gc\nvfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')\n"
        "r = hyperion.load('/rom/models/tinylm.hyq')\n"
        "print(r.info()['mode'], m.info()['mode'], max(len(a) for a in r.consts.values()) * 4 <= 8192)\n"
        "print(''.join(r.generate('Once upon a time', 40, temperature=0)) == "
        "''.join(m.generate('Once upon a time', 40, temperature=0)))\n" % str(img), heap=1024 * 1024)
    assert out.split() == ["rom", "stream", "True", "True"]


def test_generate_command_on_the_host_micropython_and_a_vboard(start_vboard):
    """`hyperion-host generate`: streamed text from the host runtime, local MicroPython and a vboard (the model is
    sent there first); the two MicroPython runs use the board's decoder, so greedy text is identical."""
    vboard = start_vboard(heap="1M")
    model = str(TINYLM / "tinylm.hyq")
    common = ("generate", model, "Once upon a time", "-n", "30", "-t", "0", "--stop", "\n")
    host = run_cli(*common)
    local = run_cli(*common, "--on", "micropython")
    board = run_cli(*common, "--port", vboard.name, "--stats", timeout=120)
    for p in (host, local, board):
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("Once upon a time") and 30 <= len(p.stdout.encode()) - 16 <= 32
    assert board.stdout == local.stdout
    assert "tokens/s" in board.stderr
    assert_user_error(run_cli("generate", str(MODELS / "digits" / "digits.hyq"), "hi"), "not a language model")
    assert_user_error(run_cli("generate", model, "hi", "--on", "moon"),
                      "--on must be host, micropython, micropython-ulab or micropython-cpy")
    assert_user_error(run_cli("generate", model, "hi", "--temperature", "-1"), "temperature")
    # a plain ESP32's heap (110 KB; 143 KB for the x64 interpreter): the decoder, which needs about 151 KB with a
    # board's 32-bit objects, does not fit, and says so (an RP2040's vboard runs it, as the README tour shows)
    small = start_vboard(board="esp32")
    p = run_cli("generate", model, "hi", "--port", small.name, timeout=120)
    assert_user_error(p, "OutOfMemory: out of memory while", "tinylm.hyq", "bytes free")


def test_tinylm_from_a_tcl_script_on_the_board():
    """Picol's `generate` command (firmware/hyperion/picol/board.py) writes what Model.generate writes; bad options
    are named."""
    out = _run_tinylm(
        "from hyperion.picol import Interp, TclError\nfrom hyperion.picol import board as tclcmds\n"
        "it = tclcmds.install(Interp())\n"
        "path = %r\n"
        "tcl = it.eval('generate {%%s} {Once upon a time} -max 30 -temperature 0 -stop .' %% path)\n"
        "print(repr(tcl))\n"
        "print(tcl == ''.join(m.generate('Once upon a time', 30, temperature=0, stop='.')))\n"
        "print(it.eval('string length [generate {%%s} {Lily} -max 12 -seed 4 -top_k 5]' %% path))\n"
        "for c in ('generate', 'generate x y -max', 'generate {%%s} hi -speed 3' %% path,\n"
        "          'generate {%%s} hi -max many' %% path, 'generate {%%s} hi -temperature -1' %% path):\n"
        "    try:\n        it.eval(c)\n    except TclError as e:\n        print(e)\n" % str(TINYLM / "tinylm.hyq"))
    lines = out.strip().splitlines()
    text = eval(lines[0])
    assert text and "." not in text and lines[1] == "True"
    assert lines[2] == "12"
    assert lines[3].startswith('wrong # args: should be "generate model prompt ?-max n?') and lines[4] == lines[3]
    assert lines[5].startswith('generate: bad option "-speed": must be -max, -penalty, -seed, -stop')
    assert lines[6] == 'generate: -max expects an integer but got "many"'
    assert lines[7].startswith("generate: temperature must be >= 0")
