"""`hyperion-host build`: a bundle for one board = the firmware compiled for its arch + the models + a manifest.

DIR/lib/hyperion/*.mpy, DIR/models/*.hyq, DIR/manifest.json (version, board, arch, files with sha256 and size,
a self-test per model), DIR/package.json (mip), and with --romfs DIR/romfs.img (mounts with vfs.VfsRom)."""

import hashlib
import json
import os
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


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def self_test(model_path):
    """A fixed input and the host runtime's output for it: what the board must reproduce (tolerance)."""
    prog, _ = load_program(str(model_path))
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


def build_bundle(board_name, models, out_dir, arch=None, romfs=False, recipe=False, version=None, log=None,
                 part="all"):
    """Write a bundle; returns its manifest. `arch` overrides the board's (a vboard runs x64). log(text) hears
    why the bundle has no C kernels when it has none (the board then runs the viper kernels). part: the firmware
    modules it carries (firmware.modules: 'all', or 'runtime' without Picol)."""
    board = get_board(board_name)
    arch = arch or board["arch"]
    out_dir = Path(out_dir)
    for m in models:
        if not Path(m).is_file():
            raise HyperionError("no such model file: %s" % m)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out_dir.parent))  # same filesystem: an atomic rename
    try:
        lib = stage / "lib"
        lib.mkdir()
        compile_firmware(arch, lib, log=log, part=part)
        mdir = stage / "models"
        mdir.mkdir()
        tests = {}
        for m in models:
            dst = mdir / Path(m).name
            shutil.copyfile(m, dst)
            tests[dst.stem] = self_test(dst)
        files = []
        for p in sorted(stage.rglob("*")):
            if p.is_file():
                data = p.read_bytes()
                files.append({"path": p.relative_to(stage).as_posix(), "sha256": sha256(data), "size": len(data)})
        manifest = {"format": 1, "version": version or __version__, "board": board["name"], "arch": arch,
                    "files": files, "self_tests": tests}
        manifest["id"] = sha256(json.dumps(files, sort_keys=True).encode())[:16]
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
        _write_mip_package(stage, manifest)
        if romfs:
            from hyperion_host.ship.romfs import make_image

            (stage / "romfs.img").write_bytes(make_image(stage, ["lib", "models"]))
        if recipe:
            from hyperion_host.ship.recipe import write_recipe

            write_recipe(board, stage / "firmware")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return manifest


def _write_mip_package(stage, manifest):
    """package.json for `mpremote mip install DIR/package.json` (files relative to the bundle)."""
    urls = [[f["path"].split("/", 1)[1] if f["path"].startswith("lib/") else f["path"], f["path"]]
            for f in manifest["files"] if f["path"].startswith("lib/")]
    pkg = {"version": manifest["version"], "urls": urls}
    (stage / "package.json").write_text(json.dumps(pkg, indent=1))


def load_manifest(bundle_dir):
    p = Path(bundle_dir) / MANIFEST
    try:
        m = json.loads(p.read_text())
    except OSError:
        raise HyperionError("%s is not a bundle (no manifest.json); make one with `hyperion-host build`"
                            % bundle_dir) from None
    except ValueError:
        raise HyperionError("%s is corrupt; rebuild the bundle" % p) from None
    for f in m.get("files", []):
        data = (Path(bundle_dir) / f["path"]).read_bytes() if (Path(bundle_dir) / f["path"]).is_file() else None
        if data is None or sha256(data) != f["sha256"]:
            raise HyperionError("bundle file %s is missing or changed since the build; rebuild the bundle" % f["path"])
    return m
