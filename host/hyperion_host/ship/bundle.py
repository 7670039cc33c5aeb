"""`hyperion-host build`: a bundle for one board = the firmware compiled for its arch + the models + a manifest.

DIR/lib/hyperion/*.mpy, DIR/models/*.hyq, DIR/manifest.json (version, board, arch, files with sha256 and size,
a self-test per model), DIR/package.json (mip), and with --romfs DIR/romfs.img (mounts with vfs.VfsRom)."""

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hyperion import __version__
from hyperion_host.boards import get_board
from hyperion_host.errors import HyperionError
from hyperion_host.firmware import compile_firmware
from hyperion_host.model.hyqfile import load_program

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"  # {"alg", "key_id", "mac"}: HMAC-SHA256 of manifest.json's bytes with the fleet key


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def self_test(model_path, key=None):
    """A fixed input and the host runtime's output for it: what the board must reproduce (tolerance)."""
    prog, _ = load_program(str(model_path), key=key)
    if (prog.meta.get("text") or {}).get("decoder"):
        return _decoder_self_test(prog)
    inputs = []
    for name in prog.inputs:
        shape = tuple(prog.shapes[name])
        n = int(np.prod(shape))
        if prog.dtypes.get(name) == "i32":
            x = (np.arange(n) * 7 % 50).astype(np.float32)
        else:
            x = np.sin(np.arange(n, dtype=np.float32) * 0.7).astype(np.float32)
        inputs.append(x.reshape(shape))
    outs = prog.run(dict(zip(prog.inputs, inputs)))
    y = np.asarray(outs[prog.outputs[0]], np.float32).ravel()
    import base64

    # inputs as base64 float32 bytes: the board decodes them into arrays without a list of boxed floats
    return {"input_b64": [base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode() for a in inputs],
            "expected": [float(v) for v in y], "tolerance": 2e-3 * max(1.0, float(np.abs(y).max()))}


def _decoder_self_test(prog):
    """A language model is checked the way the board runs it: its KV-cache decoder reads a prompt and must give
    the next-token logits of the host's full-sequence graph (the int8 cache allows a wider tolerance)."""
    tokens = list(b"Hyperion self-test: ")
    T = prog.shapes[prog.inputs[0]][1]
    x = np.zeros((1, T), np.int64)
    x[0, :len(tokens)] = tokens
    y = np.asarray(prog.run({prog.inputs[0]: x})[prog.outputs[0]], np.float32)[0, len(tokens) - 1]
    return {"tokens": tokens, "expected": [float(v) for v in y], "tolerance": 0.1 * max(1.0, float(np.abs(y).max()))}


def sign(manifest_bytes, key):
    """manifest.sig's content for a manifest signed with a fleet key."""
    from hyperion import crypt

    return {"alg": "hmac-sha256", "key_id": crypt.key_id(key),
            "mac": crypt.hmac_sha256(crypt.signing_key(key), manifest_bytes).hex()}


def check_signature(bundle_dir, key):
    """HyperionError unless the bundle is signed with key (the fleet key deploy was given)."""
    from hyperion import crypt

    sig = load_signature(bundle_dir)
    if sig is None:
        raise HyperionError("bundle %s is not signed; build it with `--sign-key`" % bundle_dir)
    if sig["key_id"] != crypt.key_id(key):
        raise HyperionError("bundle %s is signed with key %s, not with the key given (%s)"
                            % (bundle_dir, sig["key_id"], crypt.key_id(key)))
    mac = crypt.hmac_sha256(crypt.signing_key(key), (Path(bundle_dir) / MANIFEST).read_bytes())
    if not crypt.same(mac, bytes.fromhex(sig["mac"])):
        raise HyperionError("bundle %s: its signature does not match its manifest (changed since it was signed)"
                            % bundle_dir)


def load_signature(bundle_dir):
    """manifest.sig checked for structure, or None when the bundle is unsigned."""
    p = Path(bundle_dir) / SIGNATURE
    if not p.exists():
        return None
    try:
        sig = json.loads(p.read_text())
    except (OSError, ValueError, RecursionError):
        sig = None
    if not isinstance(sig, dict) or sig.get("alg") != "hmac-sha256" or not isinstance(sig.get("key_id"), str) or \
            not re.match(r"^[0-9a-f]{16}$", sig["key_id"]) or not isinstance(sig.get("mac"), str) or \
            not _HEX64.match(sig["mac"]):
        raise HyperionError("%s is not a valid signature file; rebuild the bundle" % p)
    return sig


def build_bundle(board_name, models, out_dir, arch=None, romfs=False, recipe=False, version=None, log=None,
                 part="all", model_keys=(), sign_key=None, fit_check=True, ulab=None):
    """Write a bundle; returns its manifest. `arch` overrides the board's (a vboard runs x64). log(text) hears
    why the bundle has no C kernels when it has none (the board then runs the viper kernels). part: the firmware
    modules it carries (firmware.modules: 'all', or 'runtime' without Picol). model_keys: the keys of encrypted
    models (their self-tests run on the host); sign_key: the fleet key that signs the manifest (manifest.sig).
    fit_check: refuse a bundle that cannot fit the board's filesystem or ROMFS area (check_flash); `profile`
    checks its own image, against a ROMFS size it may be told. ulab: carry the ulab kernels (None: if the board's
    firmware has ulab, its board file's `ulab`)."""
    from hyperion import crypt
    from hyperion_host.model.encrypt import model_key_id

    board = get_board(board_name)
    if board["runtime"] != "micropython":
        raise HyperionError("board %s runs %s: build its bundle with `hyperion-host build --board %s --circuitpython`"
                            % (board["name"], board["runtime"], board["name"]))
    arch = arch or board["arch"]
    out_dir = Path(out_dir)
    keys = {crypt.key_id(k): k for k in model_keys}
    model_key = {}
    for m in models:
        if not Path(m).is_file():
            raise HyperionError("no such model file: %s" % m)
        check_path("models/" + Path(m).name)  # the name it has on the board
        kid = model_key_id(m)
        if kid is not None and kid not in keys:
            raise HyperionError("%s is encrypted with key %s: give its key file with --model-key" % (m, kid))
        model_key[m] = keys.get(kid)
    _check_out_dir(out_dir, models)
    check_heap(board, models, log)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out_dir.parent))  # same filesystem: an atomic rename
    try:
        lib = stage / "lib"
        lib.mkdir()
        compile_firmware(arch, lib, log=log, part=part, ulab=bool(board.get("ulab") if ulab is None else ulab))
        mdir = stage / "models"
        mdir.mkdir()
        tests = {}
        for m in models:
            dst = mdir / Path(m).name
            shutil.copyfile(m, dst)
            tests[dst.stem] = self_test(dst, model_key[m])
        files = []
        for p in sorted(stage.rglob("*")):
            if p.is_file():
                data = p.read_bytes()
                files.append({"path": p.relative_to(stage).as_posix(), "sha256": sha256(data), "size": len(data)})
        manifest = {"format": 1, "version": version or __version__, "board": board["name"], "arch": arch,
                    "files": files, "self_tests": tests,
                    "model_keys": sorted({crypt.key_id(k) for k in model_key.values() if k is not None})}
        manifest["id"] = sha256(json.dumps(files, sort_keys=True).encode())[:16]
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if sign_key is not None:
            (stage / SIGNATURE).write_text(json.dumps(sign((stage / MANIFEST).read_bytes(), sign_key)))
        _write_mip_package(stage, manifest)
        if romfs:
            from hyperion_host.ship.romfs import make_image

            (stage / "romfs.img").write_bytes(make_image(stage, ["lib", "models"]))
        if fit_check:
            check_flash(board, stage, files, romfs)
        if recipe:
            from hyperion_host.ship.recipe import write_recipe

            write_recipe(board, stage / "firmware")
        install_stage(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return manifest


def install_stage(stage, out_dir):
    """The staged bundle in stage becomes out_dir: a previous bundle there (_check_out_dir) is moved aside, and
    removed once the new one is in place."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=".bundle-old-", dir=out_dir.parent))
        os.replace(out_dir, old / "b")
    os.replace(stage, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _kb(n):
    return "%d KB" % ((n + 1023) // 1024)


def check_heap(board, models, log=None):
    """Note each model whose heap estimate (hyperion.hybrid.estimate: arenas, weight buffer, tables) comes near
    or over the board's free heap after boot. A note, not an error: the estimate is an upper bound (a model run
    in place from ROMFS, or a decoder, needs less), and the deploy's health check on the board has the last word."""
    from hyperion.hybrid import estimate

    heap = board.get("vboard_heap")
    if not heap or not log:
        return
    for m in models:
        try:
            need = estimate(m)
        except ValueError as e:
            raise HyperionError(str(e)) from None
        if need > heap and board.get("runtime") == "circuitpython":  # no ROMFS, no health check on a drive
            log("%s may need up to %s of heap to run; a %s has about %s free after boot (Hyperion's .py sources take "
                "some of it as they compile): if code.py runs out of memory, quantize it smaller (--act int8, "
                "--prune), pick a board with more RAM, or let the relay run it (hyperion.Runtime(policy='auto'))"
                % (m, _kb(need), board["name"], _kb(heap)))
        elif need > heap:
            log("%s may need up to %s of heap to run; a %s has about %s free after boot: if the deploy's health check "
                "runs out of memory, quantize it smaller (--act int8, --prune), run it in place from ROMFS "
                "(--romfs), pick a board with more RAM, or let the relay run it (hyperion.Runtime(policy='auto'))"
                % (m, _kb(need), board["name"], _kb(heap)))
        elif need > 0.75 * heap:
            log("%s needs about %s of the %s's %s of heap: the firmware's own modules may not fit beside it; %s"
                % (m, _kb(need), board["name"], _kb(heap), "code.py will tell" if board.get("runtime") ==
                   "circuitpython" else "the deploy's health check will tell"))


def check_flash(board, stage, files, romfs):
    """Refuse a bundle that cannot fit the board: its ROMFS image in the ROMFS area (with --romfs), or two copies
    of it (the A/B slots) in the filesystem."""
    if romfs:
        img = (stage / "romfs.img").stat().st_size
        area = board.get("romfs", {}).get("size")
        if area and img > area:
            raise HyperionError("romfs.img would take %s; the %s's ROMFS area holds %s: bundle fewer or smaller "
                                "models (--bits 4, --prune), or give the firmware a larger ROMFS partition"
                                % (_kb(img), board["name"], _kb(area)))
        return
    fs = board.get("fs_size")
    size = sum(f["size"] for f in files)
    if fs and 2 * size > fs:
        raise HyperionError("the bundle takes %s, and a deploy keeps two copies (the A/B slots): %s; the %s's "
                            "filesystem holds %s: bundle fewer or smaller models, or use --romfs (models in flash)"
                            % (_kb(size), _kb(2 * size), board["name"], _kb(fs)))


# what a bundle folder holds at its top (a CircuitPython bundle's too: code.py, README.txt): anything else there
# is the user's, and build never deletes it
BUNDLE_ENTRIES = {"lib", "models", "firmware", MANIFEST, SIGNATURE, "package.json", "romfs.img", "code.py",
                  "README.txt"}


def _check_out_dir(out_dir, models):
    """build -o replaces only a new or empty folder or an earlier bundle: never a folder holding anything else,
    the current folder or one holding a model being bundled."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise HyperionError("-o %s exists and is not a folder; give a new folder for the bundle" % out_dir)
    here = Path.cwd().resolve()
    target = out_dir.resolve()
    if target == here or target in here.parents:
        raise HyperionError("-o %s is the current folder or holds it; give a new folder for the bundle" % out_dir)
    for m in models:
        if target in Path(m).resolve().parents:
            raise HyperionError("-o %s holds the model %s, which the build would delete; give a new folder" % (out_dir, m))
    names = {p.name for p in out_dir.iterdir()}
    if names and (MANIFEST not in names or not names <= BUNDLE_ENTRIES):
        other = sorted(names - BUNDLE_ENTRIES) or [MANIFEST + " missing"]
        raise HyperionError("-o %s holds files that are not a bundle's (%s); build replaces only an earlier bundle: "
                            "give a new or empty folder" % (out_dir, ", ".join(other[:3])))


def _write_mip_package(stage, manifest):
    """package.json for `mpremote mip install DIR/package.json` (files relative to the bundle)."""
    urls = [[f["path"].split("/", 1)[1] if f["path"].startswith("lib/") else f["path"], f["path"]]
            for f in manifest["files"] if f["path"].startswith("lib/")]
    pkg = {"version": manifest["version"], "urls": urls}
    (stage / "package.json").write_text(json.dumps(pkg, indent=1))


# a bundle file's path: lib/... or models/..., segments of letters, digits and ._+- (no "..", no absolute path)
_SEGMENT = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,99}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def check_path(path):
    """path if it is a safe relative path for a bundle file (it lands under a board's slot), else HyperionError."""
    parts = path.split("/") if isinstance(path, str) else []
    if len(path or "") > 240 or len(parts) < 2 or parts[0] not in ("lib", "models") or \
            not all(_SEGMENT.match(x) for x in parts[1:]):
        raise HyperionError("bundle path %r is not allowed: files go under lib/ or models/, as plain names "
                            "(no '..', no absolute paths)" % (path,))
    return path


def load_manifest(bundle_dir):
    """A bundle's manifest.json, checked: its structure, every file's path (confined to the slot's lib/ and
    models/) and every file's SHA-256. A crafted or changed bundle is a one-line HyperionError."""
    p = Path(bundle_dir) / MANIFEST
    try:
        m = json.loads(p.read_text())
    except OSError:
        raise HyperionError("%s is not a bundle (no manifest.json); make one with `hyperion-host build`"
                            % bundle_dir) from None
    except (ValueError, RecursionError):
        raise HyperionError("%s is corrupt; rebuild the bundle" % p) from None
    files = m.get("files") if isinstance(m, dict) else None
    if not isinstance(files, list) or not all(isinstance(m.get(k), str) for k in ("id", "version", "arch")) or \
            not all(isinstance(f, dict) and isinstance(f.get("size"), int) and isinstance(f.get("sha256"), str)
                    and _HEX64.match(f["sha256"]) for f in files):
        raise HyperionError("%s is not a valid bundle manifest; rebuild the bundle" % p)
    seen = set()
    for f in files:
        if check_path(f.get("path")) in seen:
            raise HyperionError("bundle path %r is listed twice" % f["path"])
        seen.add(f["path"])
    keys = m.get("model_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and re.match(r"^[0-9a-f]{16}$", k) for k in keys):
        raise HyperionError("%s is not a valid bundle manifest (model_keys); rebuild the bundle" % p)
    load_signature(bundle_dir)
    for f in files:
        data = (Path(bundle_dir) / f["path"]).read_bytes() if (Path(bundle_dir) / f["path"]).is_file() else None
        if data is None or sha256(data) != f["sha256"]:
            raise HyperionError("bundle file %s is missing or changed since the build; rebuild the bundle" % f["path"])
    return m
