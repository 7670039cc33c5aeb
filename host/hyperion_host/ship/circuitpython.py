"""`hyperion-host build --circuitpython`: a bundle laid out for a CircuitPython board's CIRCUITPY drive.

    lib/hyperion/...   the firmware package as .py source (CircuitPython compiles source on import and refuses
                       MicroPython's .mpy: another header, another native ABI), without kernels/viper.py (it needs
                       the native emitter) and without the C kernels (kernels/c.mpy, MicroPython's ABI)
    models/*.hyq       the models
    code.py            an example: loads the first model, runs it once, prints the outputs, the kernel paths and
                       the time it took (CircuitPython runs code.py at boot and on every save)
    README.txt         what the bundle holds and the board's facts (ulab, heap, drive size)
    manifest.json      runtime "circuitpython", board, version, every drive file with its sha256 and size

`hyperion-host deploy --drive` copies it onto the mounted drive (ship/drive.py); copying lib/, models/ and code.py
by hand works too. manifest.json and README.txt stay on the host."""

import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hyperion import __version__
from hyperion_host.boards import boards_of, get_board
from hyperion_host.errors import HyperionError
from hyperion_host.firmware import NATIVE_MODULES, firmware_sources, mpy_cross
from hyperion_host.paths import firmware_dir
from hyperion_host.ship.bundle import MANIFEST, _check_out_dir, _kb, check_heap, check_path, install_stage, sha256

RUNTIME = "circuitpython"
README = "README.txt"
CODE = "code.py"
CODE_ALT = "code_hyperion.py"  # what deploy writes when the drive's code.py is the user's own
# the drive files a bundle may hold: code.py, lib/hyperion/<plain names>, models/<plain name>
_SEGMENT = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,99}$")
SECTOR = 512  # a FAT sector: a file takes whole sectors on the drive
SHOWN = 16  # output values code.py prints and checks against the host's reference


def is_cp_board(board):
    return board.get("runtime") == RUNTIME


def refuse_micropython_board(board, what="--circuitpython builds for a CircuitPython board",
                             fix="or drop --circuitpython"):
    if not is_cp_board(board):
        raise HyperionError("board %s runs MicroPython, and %s: use one of %s%s" % (
            board["name"], what, ", ".join(boards_of(RUNTIME)), ", " + fix if fix else ""))


def drive_path(path):
    """path if it is a file a CircuitPython bundle may put on the drive, else HyperionError (no '..', no absolute
    paths, nothing outside code.py, lib/hyperion/ and models/)."""
    parts = path.split("/") if isinstance(path, str) else []
    ok = path == CODE or (len(parts) >= 3 and parts[:2] == ["lib", "hyperion"]) or \
        (len(parts) == 2 and parts[0] == "models")
    if not ok or len(path) > 240 or not all(_SEGMENT.match(x) for x in parts[1:] or parts):
        raise HyperionError("bundle path %r is not allowed on a CIRCUITPY drive: files go in code.py, lib/hyperion/ "
                            "or models/, as plain names (no '..', no absolute paths)" % (path,))
    return path


def firmware_files():
    """[(path in the bundle, source file)] of the firmware package as CircuitPython runs it: every .py of
    firmware/hyperion but the native-emitter modules (kernels/viper.py)."""
    root = firmware_dir() / "hyperion"
    out = []
    for src in firmware_sources():
        mod = src.relative_to(root).with_suffix("").as_posix()
        if mod in NATIVE_MODULES:
            continue
        out.append(("lib/hyperion/" + mod + ".py", src))
    return out


def _reference(model):
    """(is a text decoder, the host runtime's first output on all-zero inputs, tolerance) for code.py's check."""
    from hyperion_host.model.hyqfile import load_program

    prog, _ = load_program(str(model))
    if (prog.meta.get("text") or {}).get("decoder"):
        return True, [], 0.0
    ins = {n: np.zeros(tuple(prog.shapes[n]), np.float32) for n in prog.inputs}
    y = np.asarray(prog.run(ins)[prog.outputs[0]], np.float32).ravel()
    return False, [float(v) for v in y[:SHOWN]], 2e-3 * max(1.0, float(np.abs(y).max()) if y.size else 1.0)


CODE_TEMPLATE = '''# Hyperion on CircuitPython: load a model, run it once, print its outputs, the kernel paths and the time.
# Written by `hyperion-host build --circuitpython` (board %(board)s). Runs on MicroPython too.
# CircuitPython runs this file at boot and whenever the drive changes; edit it freely: `hyperion-host deploy
# --drive` leaves a code.py you changed alone (it writes its own as code_hyperion.py).
import array
import gc
import time

import hyperion

MODEL = "models/%(model)s"  # from the drive's root: CircuitPython's working directory is /
EXPECTED = %(expected)s  # the host runtime's first outputs on all-zero inputs
TOLERANCE = %(tolerance)r


def now_us():
    if hasattr(time, "monotonic_ns"):  # CircuitPython: no time.ticks_*
        return time.monotonic_ns() // 1000
    return time.ticks_us()  # MicroPython


def us_since(t0):
    if hasattr(time, "monotonic_ns"):
        return now_us() - t0
    return time.ticks_diff(time.ticks_us(), t0)


def main():
    gc.collect()
    t0 = now_us()
    m = hyperion.load(MODEL)
    print("loaded %%s in %%d ms" %% (MODEL, us_since(t0) // 1000))
    info = m.info()
    if (m.meta.get("text") or {}).get("decoder"):  # a language model: it writes text after a prompt
        t0 = now_us()
        n = 0
        for piece in m.generate("Once upon a time", max_tokens=24, temperature=0, seed=1):
            print(piece, end="")
            n += 1
        print()
        dt = us_since(t0)
        print("generated %%d pieces in %%d ms" %% (n, dt // 1000))
    else:
        for i, shape in enumerate(info["inputs"]):
            size = 1
            for d in shape:
                size *= d
            m.set_input(array.array("f", bytes(4 * size)), i)  # all zeros
        gc.collect()
        t0 = now_us()
        y = m.run()
        dt = us_since(t0)
        outs = y if isinstance(y, tuple) else (y,)
        for k, o in enumerate(outs):
            print("output %%d (%%d values):" %% (k, len(o)), " ".join("%%.4f" %% o[i] for i in range(min(len(o), %(shown)d))))
        worst = 0.0
        for a, b in zip(outs[0], EXPECTED):
            worst = max(worst, abs(a - b))
        print("check: %%s (largest difference from the host %%.6f, tolerance %%.6f)"
              %% ("ok" if worst <= TOLERANCE else "MISMATCH", worst, TOLERANCE))
        print("run: %%d us" %% dt)
    print("kernels:", " ".join(sorted(set(info["kernels"]))), "(per op:", ", ".join(
        "%%s=%%s" %% (op, k) for op, k in zip(info["ops"], info["kernels"])) + ")")
    print("paths this board runs:", " ".join(hyperion.info()["kernels"]))
    print("heap free: %%d bytes" %% gc.mem_free())
    m.close()


main()
'''


def code_py(board, model_name, reference):
    decoder, expected, tol = reference
    return CODE_TEMPLATE % {"board": board["name"], "model": model_name, "shown": SHOWN, "tolerance": tol,
                            "expected": "(" + "".join("%r, " % round(v, 6) for v in expected) + ")"}


def readme_txt(board, manifest):
    lines = [
        "Hyperion %s for CircuitPython: %s (%s)" % (manifest["version"], board["title"], board["name"]),
        "",
        "Copy onto the CIRCUITPY drive (or run `hyperion-host deploy --drive <drive> <this folder>`):",
        "  code.py        the example CircuitPython runs at boot: loads %s, runs it once, prints the"
        % (manifest["models"][0] if manifest["models"] else "a model"),
        "                 outputs, the kernel paths and the time",
        "  lib/hyperion/  the Hyperion package as .py source (%d files; no viper, no C kernels)"
        % sum(f["path"].startswith("lib/") for f in manifest["files"]),
        "  models/        %s" % (", ".join(manifest["models"]) or "(no models)"),
        "",
        "Board facts (approximate; check yours with gc.mem_free() and the drive's size):",
        "  CircuitPython board id: %s" % board["cp_board"],
        "  ulab in the firmware: %s" % ("yes" if board["ulab"] else "no"),
        "  native emitter (viper): %s" % ("yes" if board["native_emitter"] else "no: bytecode kernels"),
        "  heap free after boot: about %s" % _kb(board["vboard_heap"]),
        "  CIRCUITPY drive: about %s; this bundle takes about %s of it" % (_kb(board["fs_size"]),
                                                                        _kb(manifest["drive_bytes"])),
        "",
        "Files (sha256 in manifest.json; manifest.json and this file stay on the host):",
    ]
    lines += ["  %-44s %8d" % (f["path"], f["size"]) for f in manifest["files"]]
    return "\n".join(lines) + "\n"


def drive_bytes(sizes):
    """What files of these sizes take on a FAT drive: whole sectors each."""
    return sum(max(1, -(-s // SECTOR)) * SECTOR for s in sizes)


def check_drive_fit(board, files):
    size = drive_bytes(f["size"] for f in files)
    if size > board["fs_size"]:
        raise HyperionError("the bundle takes %s on the drive; the %s's CIRCUITPY drive holds about %s: bundle "
                            "fewer or smaller models (--bits 4, --prune), or pick a board with a larger drive"
                            % (_kb(size), board["name"], _kb(board["fs_size"])))
    return size


def _check_models(models):
    from hyperion_host.model.encrypt import model_key_id

    for m in models:
        if not Path(m).is_file():
            raise HyperionError("no such model file: %s" % m)
        drive_path(check_path("models/" + Path(m).name))  # the name it has on the drive
        if not Path(m).name.endswith(".hyq"):
            raise HyperionError("%s is not a .hyq model; make one with `hyperion-host quantize`" % m)
        if model_key_id(m) is not None:
            raise HyperionError("%s is encrypted, and CircuitPython cannot decrypt it (no cryptolib, no C kernels): "
                                "bundle the plain model" % m)
    names = [Path(m).name.lower() for m in models]  # FAT folds case
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise HyperionError("two models are named %s: a drive holds one models/%s; rename one" % (dup[0], dup[0]))


def build_cp_bundle(board_name, models, out_dir, version=None, log=None):
    """Write a CircuitPython bundle (see the module doc); returns its manifest. Refuses a MicroPython board, an
    encrypted or invalid model, and a bundle larger than the board's CIRCUITPY drive; log(text) hears the heap
    notes (as for MicroPython bundles)."""
    board = get_board(board_name)
    refuse_micropython_board(board)
    out_dir = Path(out_dir)
    models = [str(m) for m in models]
    _check_models(models)
    _check_out_dir(out_dir, models)
    refs = [_reference(m) for m in models[:1]]  # the first model is code.py's (also checks it reads whole)
    for m in models[1:]:
        _reference(m)
    check_heap(board, models, log)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out_dir.parent))  # same filesystem: an atomic rename
    try:
        for rel, src in firmware_files():
            dst = stage / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        (stage / "models").mkdir()
        for m in models:
            shutil.copyfile(m, stage / "models" / Path(m).name)
        if models:
            (stage / CODE).write_text(code_py(board, Path(models[0]).name, refs[0]))
        else:
            (stage / CODE).write_text(CODE_NO_MODEL % board["name"])
        _syntax_check(stage)
        files = []
        for p in sorted(stage.rglob("*")):
            if p.is_file():
                data = p.read_bytes()
                files.append({"path": drive_path(p.relative_to(stage).as_posix()), "sha256": sha256(data),
                              "size": len(data)})
        size = check_drive_fit(board, files)
        manifest = {"format": 1, "runtime": RUNTIME, "version": version or __version__, "board": board["name"],
                    "arch": board["arch"], "files": files, "models": [Path(m).name for m in models],
                    "drive_bytes": size, "ulab": board["ulab"], "heap": board["vboard_heap"],
                    "drive_size": board["fs_size"]}
        manifest["id"] = sha256(json.dumps(files, sort_keys=True).encode())[:16]
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
        (stage / README).write_text(readme_txt(board, manifest))
        install_stage(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return manifest


CODE_NO_MODEL = '''# Hyperion on CircuitPython (board %s): no model was bundled. Put a .hyq in /models and load it:
#     m = hyperion.load("models/NAME.hyq"); y = m.run(x); print(m.info()["kernels"])
import hyperion

print("hyperion", hyperion.__version__, "kernel paths:", " ".join(hyperion.info()["kernels"]))
'''


def _syntax_check(stage):
    """Every .py of the bundle compiles with mpy-cross (MicroPython's compiler, which CircuitPython's is built
    from): a module that would fail to import on the board fails the build instead."""
    with tempfile.TemporaryDirectory(prefix="hyperion-cp-") as d:
        for p in sorted(stage.rglob("*.py")):
            rel = p.relative_to(stage).as_posix()
            mpy_cross(p, Path(d) / "check.mpy", source_name=rel)


def load_cp_manifest(bundle_dir):
    """A CircuitPython bundle's manifest.json, checked: structure, every path (drive_path) and every file (a
    regular file inside the bundle, not a symlink, with the manifest's sha256). A crafted or changed bundle is a
    one-line HyperionError."""
    root = Path(bundle_dir)
    p = root / MANIFEST
    if not root.is_dir():
        raise HyperionError("no bundle folder %s; make one with `hyperion-host build --circuitpython`" % bundle_dir)
    try:
        m = json.loads(p.read_text())
    except OSError:
        raise HyperionError("%s is not a bundle (no manifest.json); make one with `hyperion-host build "
                            "--circuitpython`" % bundle_dir) from None
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise HyperionError("%s is corrupt; rebuild the bundle" % p) from None
    if not isinstance(m, dict) or m.get("runtime") != RUNTIME:
        raise HyperionError("%s is not a CircuitPython bundle: deploy it to a MicroPython board with --port, or "
                            "build one with `hyperion-host build --circuitpython`" % bundle_dir)
    files = m.get("files")
    if not isinstance(files, list) or not all(isinstance(m.get(k), str) for k in ("id", "version", "board")) or \
            not all(isinstance(f, dict) and isinstance(f.get("size"), int) and isinstance(f.get("sha256"), str)
                    and re.match(r"^[0-9a-f]{64}$", f["sha256"]) for f in files):
        raise HyperionError("%s is not a valid bundle manifest; rebuild the bundle" % p)
    seen = set()
    base = root.resolve()
    for f in files:
        path = drive_path(f.get("path"))
        if path.lower() in seen:  # FAT folds case: two names that differ by case are one file there
            raise HyperionError("bundle path %r is listed twice" % path)
        seen.add(path.lower())
        src = root / path
        if any((root / Path(*Path(path).parts[:i + 1])).is_symlink() for i in range(len(Path(path).parts))) or \
                base not in src.resolve().parents:
            raise HyperionError("bundle file %s is a symlink or leads outside the bundle; rebuild the bundle" % path)
        data = src.read_bytes() if src.is_file() else None
        if data is None or sha256(data) != f["sha256"]:
            raise HyperionError("bundle file %s is missing or changed since the build; rebuild the bundle" % path)
    return m


def bundle_runtime(bundle_dir):
    """'circuitpython' for a CircuitPython bundle folder, else None (a MicroPython bundle, or not a bundle)."""
    try:
        m = json.loads((Path(bundle_dir) / MANIFEST).read_text())
    except (OSError, ValueError, RecursionError, UnicodeDecodeError):
        return None
    return RUNTIME if isinstance(m, dict) and m.get("runtime") == RUNTIME else None
