"""Encrypted models and signed bundles (docs/security.md): the firmware's HMAC and AES-CTR against the host's
libraries, encrypted models on every kernel path of real MicroPython with the same outputs and constant extra RAM,
refusals of wrong keys and changed bytes, key files, and A/B deploys that install, check and rotate keys on a
vboard, with the board refusing what its own keys do not sign."""

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyperion import crypt
from hyperion_host.errors import HyperionError
from hyperion_host.firmware import cached_firmware
from hyperion_host.keys import new_key, read_key
from hyperion_host.model.encrypt import decrypt_blob, encrypt_blob, model_key_id
from hyperion_host.model.hyqfile import load_program
from hyperion_host.model.quantize import Options, quantize_model
from hyperion_host.ship import deploy as dep
from hyperion_host.ship.bundle import build_bundle

import onnx_examples as examples
from helpers import assert_user_error, run_cli

ROOT = Path(__file__).resolve().parent.parent
MODELS = {n: ROOT / "models" / n / (n + ".hyq") for n in ("digits", "kws", "tinylm")}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {name: (d / (name + ".key"), new_key(d / (name + ".key"))) for name in ("model", "model2", "fleet", "fleet2")}


@pytest.fixture(scope="module")
def streamed_mlp(tmp_path_factory):
    """A model whose 1024-wide matrix is bigger than the weight buffer, so it streams in row chunks."""
    d = tmp_path_factory.mktemp("mlp")
    blob, _ = quantize_model(examples.mlp(d / "big.onnx", k=1024), Options())
    (d / "big.hyq").write_bytes(blob)
    return d / "big.hyq"


def test_the_firmware_hmac_and_ctr_match_the_hosts_libraries(micropython):
    """crypt.Hmac (MicroPython has no hmac module) against CPython's hmac, on the host and on MicroPython; the
    board's AES-CTR (cryptolib ECB on counter blocks, and the C kernels' AES-256 where a firmware has no cryptolib;
    the viper/C/bytecode ctr_fill and xor) against the host's `cryptography` CTR, at unaligned offsets."""
    rng = np.random.RandomState(0)
    cases = [(rng.bytes(n), rng.bytes(m)) for n, m in ((0, 0), (5, 63), (32, 64), (64, 1000), (100, 513))]
    for k, m in cases:
        assert crypt.hmac_sha256(k, m) == hmac.new(k, m, hashlib.sha256).digest()
    key, nonce, data = rng.bytes(32), rng.bytes(8), rng.bytes(1500)
    want = {}
    for pos, n in ((0, 1500), (7, 300), (255, 700), (4096 + 3, 50)):
        buf = bytearray(data[:n])
        crypt.Ctr(key, nonce).xor(buf, n, pos)
        want[pos] = bytes(buf)
    code = """
import binascii
from hyperion import crypt, kernels
from hyperion.kernels import python, viper
cases = %r
for k, m in cases:
    print('H', binascii.hexlify(crypt.hmac_sha256(k, m)).decode())
aes = [crypt.cryptolib, None] if crypt.cryptolib else [None]  # None: the C kernels' AES-256 (firmware/native/aes.c)
for crypt.cryptolib in aes:
    for path in ('c', 'viper', 'python'):
        k = kernels.select(path)[0]
        for pos, n in %r:
            buf = bytearray(%r[:n])
            ctr = crypt.Ctr(%r, %r, k)
            assert (ctr.aes is None) == (crypt.cryptolib is None)
            ctr.xor(buf, n, pos)
            print('C', k.PATH, pos, binascii.hexlify(buf).decode())
print('AES', len(aes))
""" % (cases, [(p, len(v)) for p, v in want.items()], data, key, nonce)
    r = micropython(code, firmware=cached_firmware("x64"))
    assert r.ok, r
    lines = r.stdout.split()
    hs = [lines[i + 1] for i, w in enumerate(lines) if w == "H"]
    assert hs == [hmac.new(k, m, hashlib.sha256).hexdigest() for k, m in cases]
    got = [(lines[i + 1], int(lines[i + 2]), lines[i + 3]) for i, w in enumerate(lines) if w == "C"]
    assert sorted({p for p, _, _ in got}) == ["c", "python", "viper"]
    assert len(got) == 12 * int(lines[lines.index("AES") + 1])  # cryptolib (where the port has it) and the C AES
    for _, pos, hx in got:
        assert bytes.fromhex(hx) == want[pos]


def test_encrypt_round_trip_and_the_host_runs_encrypted_models(keys, streamed_mlp):
    _, key = keys["model"]
    for path in [*MODELS.values(), streamed_mlp]:
        plain = path.read_bytes()
        enc = encrypt_blob(plain, key)
        assert enc != plain and plain[-200:] not in enc  # the weights (at the end) are not readable
        assert decrypt_blob(enc, key) == plain
    tmp = streamed_mlp.with_name("enc.hyq")
    tmp.write_bytes(encrypt_blob(streamed_mlp.read_bytes(), key))
    assert model_key_id(tmp) == crypt.key_id(key) and model_key_id(streamed_mlp) is None
    a, _ = load_program(str(tmp), key=key)
    b, _ = load_program(str(streamed_mlp))
    x = {n: np.random.RandomState(1).rand(*a.shapes[n]).astype(np.float32) for n in a.inputs}
    assert np.array_equal(a.run(x)[a.outputs[0]], b.run(x)[b.outputs[0]])


RUN = """
import gc, array, hyperion
from hyperion import crypt, model, ops, layers, hyq, kernels, hyqcheck, lm
from hyperion.kernels import python, viper, c
import binascii
crypt.KEY_DIR = %(keydir)r
gc.collect()
base = gc.mem_alloc()
m = hyperion.load(%(path)r, kernels=%(kp)r)
if m.meta.get('text'):
    y = lm.Decoder(m).prefill(list(b'Once upon'))
else:
    sh = m.input_shape()
    n = 1
    for d in sh:
        n *= d
    m.set_input(array.array('f', [((i * 7) %% 13) / 13 for i in range(n)]))
    y = m.run()
y = bytes(array.array('f', y))
gc.collect()
print('OUT ' + repr((binascii.hexlify(y).decode(), gc.mem_alloc() - base, m.mode, m.h.ctr is not None)))
"""


def test_encrypted_models_run_on_micropython_like_plain_ones_in_constant_extra_ram(micropython, keys, tmp_path,
                                                                                    streamed_mlp):
    """Every example model and a row-streamed one, encrypted, on the C, viper and bytecode paths of real MicroPython
    with the key from the board's key folder: outputs identical to the plain model's, and the extra RAM held (the
    model and what its first run made) the same small amount whatever the model's size: the weights are
    decrypted where they are read, never copied whole."""
    kpath, key = keys["model"]
    kdir = tmp_path / "keys"
    kdir.mkdir()
    (kdir / (crypt.key_id(key) + ".key")).write_text(key.hex())
    extra = {}
    for name, p in [*MODELS.items(), ("big", streamed_mlp)]:
        e = tmp_path / (name + ".enc.hyq")
        e.write_bytes(encrypt_blob(p.read_bytes(), key))
        for kp in ("c", "viper", "python"):
            got = []
            for path in (p, e):  # each in a fresh interpreter: one heap's history does not blur the other's
                r = micropython(RUN % {"keydir": str(kdir), "path": str(path), "kp": kp}, heap=2 << 20,
                                firmware=cached_firmware("x64"), timeout=600)
                assert r.ok, r
                got.append(eval(r.stdout.split("OUT ", 1)[1]))
            (yp, lp, mode, pctr), (ye, le, _, ectr) = got
            assert ye == yp, (name, kp)
            assert mode == "stream" and ectr and not pctr
            extra[name, kp] = le - lp
    print("EXTRA", extra)
    assert all(0 < v < 4096 for v in extra.values()), extra  # tinylm's 218 KB of weights and digits' 16 KB alike


def test_wrong_keys_and_changed_bytes_are_refused_in_one_line(micropython, keys, tmp_path):
    _, key = keys["model"]
    _, other = keys["model2"]
    enc = encrypt_blob(MODELS["digits"].read_bytes(), key)
    files = {"ok": enc}
    for name, at in (("data", len(enc) - 48 - 100), ("nonce", len(enc) - 48), ("mac", len(enc) - 1)):
        b = bytearray(enc)
        b[at] ^= 1
        files[name] = bytes(b)
    for name, blob in files.items():
        (tmp_path / (name + ".hyq")).write_bytes(blob)
    code = """
import binascii, hyperion
for name, key in %r:
    try:
        hyperion.load(%r + '/' + name + '.hyq', key=key)
        print(name, 'LOADED')
    except Exception as e:
        print(name, type(e).__name__, e)
""" % ([("ok", key), ("ok", other), ("ok", None), ("data", key), ("nonce", key), ("mac", key)], str(tmp_path))
    r = micropython(code, firmware=cached_firmware("x64"))
    assert r.ok, r
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "ok LOADED"
    assert "FormatError the model is encrypted with key %s, not with the key given (%s)" % (
        crypt.key_id(key), crypt.key_id(other)) in lines[1]
    assert "which this board does not have" in lines[2]
    for line in lines[3:]:  # a flipped bit anywhere: the MAC (or the CRC of the bytes as stored) fails
        assert "FormatError" in line and ("authentication failed" in line or "CRC mismatch" in line), line
    p = run_cli("infer", str(tmp_path / "mac.hyq"), "-i", "x.npy", "--model-key", str(keys["model"][0]))
    assert_user_error(p, "authentication failed")
    assert_user_error(run_cli("inspect", str(tmp_path / "ok.hyq")), "is encrypted with key", "--model-key")


def test_key_files_are_private_never_overwritten_and_checked(tmp_path):
    p = tmp_path / "k.key"
    r = run_cli("keys", "new", str(p))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    before = p.read_bytes()
    assert_user_error(run_cli("keys", "new", str(p)), "never overwritten")
    assert p.read_bytes() == before
    q = tmp_path / "new" / "dir" / "k.key"  # a missing folder is made, private
    assert run_cli("keys", "new", str(q)).returncode == 0 and len(read_key(q)) == 32
    assert stat.S_IMODE(os.stat(q.parent).st_mode) == 0o700
    assert sorted(os.listdir(q.parent)) == ["k.key"]  # no temporary file left beside it
    (tmp_path / "link.key").symlink_to(tmp_path / "elsewhere")  # a dangling link is not written through
    assert_user_error(run_cli("keys", "new", str(tmp_path / "link.key")), "never overwritten")
    assert not (tmp_path / "elsewhere").exists()
    assert run_cli("keys", "id", str(p)).stdout.strip() == crypt.key_id(read_key(p))
    (tmp_path / "bad.key").write_text("not a key")
    assert_user_error(run_cli("encrypt", str(MODELS["digits"]), "--key", str(tmp_path / "bad.key"), "-o",
                              str(tmp_path / "o.hyq")), "is not a key file")
    assert not (tmp_path / "o.hyq").exists()


def test_eval_and_generate_take_the_model_key(tmp_path, keys):
    kpath, key = keys["model"]
    digits, lm = tmp_path / "digits.hyq", tmp_path / "lm.hyq"
    digits.write_bytes(encrypt_blob(MODELS["digits"].read_bytes(), key))
    lm.write_bytes(encrypt_blob(MODELS["tinylm"].read_bytes(), key))
    data = str(ROOT / "models" / "digits" / "test.npz")
    want = json.loads(run_cli("eval", str(MODELS["digits"]), "--data", data, "--json").stdout)
    got = run_cli("eval", str(digits), "--data", data, "--json", "--model-key", str(kpath))
    assert got.returncode == 0 and json.loads(got.stdout) == want, got.stderr
    assert_user_error(run_cli("eval", str(digits), "--data", data), "is encrypted with key", "--model-key")
    for on in ("host", "micropython"):
        args = ["Once upon", "-n", "12", "--seed", "3", "--on", on]
        plain = run_cli("generate", str(MODELS["tinylm"]), *args)
        enc = run_cli("generate", str(lm), *args, "--model-key", str(kpath))
        assert enc.returncode == 0 and enc.stdout == plain.stdout and len(plain.stdout) > 12, (on, enc.stderr)
    assert_user_error(run_cli("generate", str(lm), "Once", "--on", "micropython"), "--model-key")


def test_quantize_encrypt_and_re_encrypting_with_a_new_key(tmp_path, keys):
    onnx_path = examples.mlp(tmp_path / "m.onnx")
    k1, k2 = keys["model"][0], keys["model2"][0]
    assert run_cli("quantize", str(onnx_path), "-o", str(tmp_path / "m.hyq"), "--encrypt", str(k1)).returncode == 0
    assert model_key_id(tmp_path / "m.hyq") == crypt.key_id(read_key(k1))
    assert_user_error(run_cli("encrypt", str(tmp_path / "m.hyq"), "--key", str(k2), "-o", str(tmp_path / "x.hyq")),
                      "already encrypted", "--old-key")
    r = run_cli("encrypt", str(tmp_path / "m.hyq"), "--old-key", str(k1), "--key", str(k2), "-o",
                str(tmp_path / "m2.hyq"))
    assert r.returncode == 0, r.stderr
    assert model_key_id(tmp_path / "m2.hyq") == crypt.key_id(read_key(k2))
    np.save(tmp_path / "x.npy", np.random.RandomState(0).rand(1, 256).astype(np.float32))
    outs = []
    for m, k in (("m.hyq", k1), ("m2.hyq", k2)):
        p = run_cli("infer", str(tmp_path / m), "-i", str(tmp_path / "x.npy"), "--model-key", str(k), "-o",
                    str(tmp_path / (m + ".npy")))
        assert p.returncode == 0, p.stderr
        outs.append(np.load(tmp_path / (m + ".npy")))
    assert np.array_equal(outs[0], outs[1])
    p = run_cli("infer", str(tmp_path / "m2.hyq"), "-i", str(tmp_path / "x.npy"), "--model-key", str(k2), "--on",
                "micropython", "-o", str(tmp_path / "mp.npy"))
    assert p.returncode == 0, p.stderr
    assert np.allclose(np.load(tmp_path / "mp.npy"), outs[0], atol=1e-4)


def _on_board(port, code):
    r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", code], capture_output=True,
                       text=True, timeout=60)
    return r.stdout.strip()


def test_signed_and_encrypted_deploys_install_check_and_rotate_keys(tmp_path, keys, start_vboard, monkeypatch):
    vb = start_vboard()
    (mk1, k1), (mk2, k2), (fk1, f1), (fk2, f2) = keys["model"], keys["model2"], keys["fleet"], keys["fleet2"]
    e1, e2 = tmp_path / "m1" / "digits.hyq", tmp_path / "m2" / "digits.hyq"
    for e, k in ((e1, k1), (e2, k2)):
        e.parent.mkdir()
        e.write_bytes(encrypt_blob(MODELS["digits"].read_bytes(), k))
    with pytest.raises(HyperionError, match="give its key file with --model-key"):
        build_bundle("rp2040", [str(e1)], tmp_path / "nokey", arch="x64")
    signed1 = tmp_path / "signed1"
    build_bundle("rp2040", [str(e1)], signed1, arch="x64", model_keys=[k1], sign_key=f1, version="1")
    plain = tmp_path / "plain"
    build_bundle("rp2040", [str(MODELS["digits"])], plain, arch="x64")

    # the model key must come with the first deploy; then it lives outside the slots
    assert_user_error(run_cli("deploy", str(signed1), "--port", vb.name), "does not have: give its key file")
    r = run_cli("deploy", str(signed1), "--port", vb.name, "--model-key", str(mk1), "--sign-key", str(fk1))
    assert r.returncode == 0, r.stderr
    kdir = vb.fs_dir / "hyperion-keys"
    assert sorted(p.name for p in kdir.iterdir()) == sorted([crypt.key_id(k1) + ".key",
                                                              "fleet-" + crypt.key_id(f1) + ".key"])
    assert not list((vb.fs_dir / "hyperion-ab").rglob("*.key"))
    out = _on_board(vb.port, "import hyperion\nm = hyperion.load('digits')\nprint(m.h.flags, len(m.run([0.5] * 64)))")
    assert out == "1 10"

    # a board with a fleet key takes only bundles signed with it: refused before anything is copied ...
    assert_user_error(run_cli("deploy", str(plain), "--port", vb.name), "takes only bundles signed", "not signed")
    # ... and by the board itself, when a host skips the check (the switch hashes and checks on the board)
    monkeypatch.setattr(dep, "_keys_to_install", lambda *a: [])
    with pytest.raises(HyperionError, match="the board refused to switch to the new slot: the bundle is not signed"):
        dep.deploy(vb.name, str(plain))
    e1b = tmp_path / "m1b" / "digits.hyq"  # the same model encrypted again (another nonce): another bundle
    e1b.parent.mkdir()
    e1b.write_bytes(encrypt_blob(MODELS["digits"].read_bytes(), k1))
    other = tmp_path / "other"
    build_bundle("rp2040", [str(e1b)], other, arch="x64", model_keys=[k1], sign_key=f1, version="1b")
    orig = dep.run_health

    def health_then_tamper(port, slot, manifest, timeout=120):
        h = orig(port, slot, manifest, timeout)
        f = vb.fs_dir / "hyperion-ab" / slot / "lib" / "hyperion" / "audio.mpy"
        b = bytearray(f.read_bytes())
        b[-1] ^= 1  # a byte changed on the board after the copy (flash wear, another program)
        f.write_bytes(bytes(b))
        return h

    monkeypatch.setattr(dep, "run_health", health_then_tamper)
    with pytest.raises(HyperionError, match="refused to switch.*lib/hyperion/audio.mpy on the board does not match"):
        dep.deploy(vb.name, str(other))
    monkeypatch.undo()
    assert dep.status(vb.name)["version"] == "1"

    # rotation: a new fleet key only beside one the board has; a new model key comes with the bundle that uses it
    signed2 = tmp_path / "signed2"
    build_bundle("rp2040", [str(e2)], signed2, arch="x64", model_keys=[k2], sign_key=f2, version="2")
    assert_user_error(run_cli("deploy", str(signed2), "--port", vb.name, "--model-key", str(mk2), "--sign-key",
                              str(fk2)), "--rotate-from")
    r = run_cli("deploy", str(signed2), "--port", vb.name, "--model-key", str(mk2), "--sign-key", str(fk2),
                "--rotate-from", str(fk1))
    assert r.returncode == 0, r.stderr
    listed = json.loads(run_cli("keys", "list", "--port", vb.name, "--json").stdout)["keys"]
    assert {(k["id"], k["kind"], tuple(k["slots"])) for k in listed} == {
        (crypt.key_id(k1), "model", ("a",)), (crypt.key_id(k2), "model", ("b",)),
        (crypt.key_id(f1), "fleet", ("a",)), (crypt.key_id(f2), "fleet", ("b",))}
    assert run_cli("keys", "prune", "--port", vb.name).stdout.count("removed nothing") == 1  # rollback still works
    assert run_cli("rollback", "--port", vb.name).returncode == 0
    assert run_cli("rollback", "--port", vb.name).returncode == 0
    signed3 = tmp_path / "signed3"
    e3 = tmp_path / "m3" / "digits.hyq"  # encrypted again with the new key: another bundle
    e3.parent.mkdir()
    e3.write_bytes(encrypt_blob(MODELS["digits"].read_bytes(), k2))
    build_bundle("rp2040", [str(e3)], signed3, arch="x64", model_keys=[k2], sign_key=f2, version="3")
    assert run_cli("deploy", str(signed3), "--port", vb.name, "--sign-key", str(fk2)).returncode == 0
    r = run_cli("keys", "prune", "--port", vb.name)
    assert r.returncode == 0 and crypt.key_id(k1) in r.stdout and crypt.key_id(f1) in r.stdout, r.stdout
    assert sorted(p.name for p in kdir.iterdir()) == sorted([crypt.key_id(k2) + ".key",
                                                              "fleet-" + crypt.key_id(f2) + ".key"]), r.stdout
    assert _on_board(vb.port, "import hyperion\nprint(len(hyperion.load('digits').run([0.5] * 64)))") == "10"
