"""CircuitPython boards: their board files, `build --circuitpython` bundles (checked with real mpy-cross, their
code.py run on real MicroPython) and `deploy --drive` onto a folder standing in for the CIRCUITPY drive, with
every bad input: MicroPython boards, options that make no sense, hostile bundles and drives, a read-only drive,
a bundle larger than the drive."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hyperion_host.boards import all_boards, check_board, get_board
from hyperion_host.errors import HyperionError
from hyperion_host.files import write_atomic
from hyperion_host.model.hyqfile import load_program
from hyperion_host.model.quantize import Options, quantize_model
from hyperion_host.paths import firmware_dir
from hyperion_host.ship.bundle import build_bundle
from hyperion_host.ship.drive import deploy_to_drive

import onnx_examples as models
from helpers import BIN, assert_user_error, run_cli

CP_BOARDS = ("cp_esp32s3_devkit", "cp_pico", "cp_pico2", "cp_qtpy_esp32s3")
BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("cp-models")
    blob, _ = quantize_model(models.mlp(d / "mlp.onnx", k=64, hidden=32, n_out=8), Options(act="int8"))
    write_atomic(d / "mlp.hyq", blob)
    return d / "mlp.hyq"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, model):
    """A cp_pico bundle, built once through the CLI; tests copy it before changing anything."""
    out = tmp_path_factory.mktemp("cp-bundle") / "pico"
    p = run_cli("build", "--board", "cp_pico", "--circuitpython", "-m", str(model), "-o", str(out))
    assert p.returncode == 0, p.stderr
    return out


def listing(root):
    """{relative path: bytes} of every file under root (symlinks as their target's name)."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        if p.is_symlink():
            out[p.relative_to(root).as_posix()] = ("link", os.readlink(p))
        elif p.is_file():
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def firmware_py():
    root = firmware_dir() / "hyperion"
    return {"lib/hyperion/" + p.relative_to(root).as_posix() for p in root.rglob("*.py")}


# -- board files -------------------------------------------------------------------------------------------

def test_circuitpython_boards_and_the_micropython_defaults():
    boards = all_boards()
    for name in CP_BOARDS:
        b = boards[name]
        assert b["runtime"] == "circuitpython" and b["ulab"] is True and b["native_emitter"] is False
        assert b["cp_board"] and 0 < b["fs_size"] < b["flash_size"] and 100 * 1024 < b["vboard_heap"]
        assert b["vboard_heap"] < b["ram_size"] + b.get("psram_size", 0)
        text = (BOARDS_DIR / (name + ".toml")).read_text()
        assert "approximate" in text  # each figure says where it comes from and that it is approximate
    assert boards["cp_pico"]["fs_size"] == 1024 * 1024 and 180 * 1024 < boards["cp_pico"]["vboard_heap"] < 200 * 1024
    for name in ("esp32", "esp32s3", "esp32c3", "rp2040", "pico_w", "rp2350", "unix"):
        b = boards[name]
        assert b["runtime"] == "micropython" and b["ulab"] is False and b["native_emitter"] is True, name
    listed = json.loads(run_cli("boards", "--json").stdout)
    assert listed["cp_pico2"]["ulab"] is True and listed["rp2040"]["ulab"] is False
    table = run_cli("boards", env={"COLUMNS": "250"}).stdout
    assert re.search(r"cp_pico .*CircuitPython", table) and re.search(r"rp2040 .*MicroPython", table), table


def test_the_docs_table_lists_every_circuitpython_board():
    text = (BOARDS_DIR.parent / "docs" / "circuitpython.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (yes|no) \| about ([\d.]+) (KB|MB) \| about ([\d.]+) (KB|MB) \| `(\w+)` \|$",
                      text, re.M)
    boards = all_boards()
    assert sorted(r[0] for r in rows) == sorted(n for n, b in boards.items() if b["runtime"] == "circuitpython")
    for name, ulab, heap, hu, drive, du, cp_board in rows:
        b = boards[name]
        assert (ulab == "yes") == b["ulab"] and cp_board == b["cp_board"], name
        assert abs(float(heap) * (1024 if hu == "KB" else 2**20) / b["vboard_heap"] - 1) < 0.05, name
        assert abs(float(drive) * (1024 if du == "KB" else 2**20) / b["fs_size"] - 1) < 0.05, name


def _boards_with(tmp_path, name, text):
    """A $HYPERION_BOARDS folder: the repository's board files plus `name` holding text."""
    d = tmp_path / "myboards"
    shutil.copytree(BOARDS_DIR, d)
    (d / name).write_text(text)
    return {"HYPERION_BOARDS": str(d)}


PICO = (BOARDS_DIR / "cp_pico.toml").read_text().replace('name = "cp_pico"', 'name = "mine"')


@pytest.mark.parametrize("text,fragments", [
    (PICO.replace("ulab = true", 'ulab = "yes"'), ["mine.toml", "'ulab'", "true or false", "'yes'"]),
    (PICO.replace("native_emitter = false", "native_emitter = true"), ["mine.toml", "native_emitter", "viper"]),
    (re.sub(r"(?m)^cp_board = .*$", "", PICO), ["mine.toml", "missing cp_board"]),
    (re.sub(r"(?m)^fs_size = .*$", "", PICO), ["mine.toml", "missing fs_size"]),
    (PICO.replace("fs_size = 1048576", "fs_size = -1"), ["mine.toml", "'fs_size'", "integer >= 0"]),
    (PICO.replace('runtime = "circuitpython"', 'runtime = "arduino"'), ["mine.toml", "'runtime'", "'arduino'"]),
    (PICO.replace('arch = "armv6m"', 'arch = "z80"'), ["mine.toml", "'arch'", "'z80'"]),
    (PICO.replace("aliases = []", 'aliases = ["pico"]'), ["'pico'", "rp2040.toml", "mine.toml"]),
    (PICO + "\n[romfs]\nsupported = true\n", ["mine.toml", "no ROMFS"]),
    (PICO.replace("vboard_heap = 194560", "vboard_heap = 194560 ="), ["mine.toml", "not valid TOML"]),
    ((BOARDS_DIR / "rp2040.toml").read_text().replace('name = "rp2040"', 'name = "mine"')
     .replace('mp_board = "RPI_PICO"\n', "").replace('aliases = ["pico"]', "aliases = []"),
     ["mine.toml", "missing mp_board", "micropython board"]),
])
def test_a_bad_board_file_is_one_line_naming_the_file_and_field(tmp_path, text, fragments):
    env = _boards_with(tmp_path, "mine.toml", text)
    p = run_cli("boards", env=env)
    assert_user_error(p, "board", *fragments)
    p = run_cli("build", "--board", "cp_pico", "--circuitpython", "-o", str(tmp_path / "b"), env=env)
    assert_user_error(p, *fragments)
    assert not (tmp_path / "b").exists()


def test_a_good_board_file_of_ones_own_works(tmp_path, model):
    env = _boards_with(tmp_path, "mine.toml", PICO)
    p = run_cli("build", "--board", "mine", "-m", str(model), "-o", str(tmp_path / "b"), "--json", env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["board"] == "mine"
    with pytest.raises(HyperionError, match="'ulab'"):
        check_board(dict(get_board("cp_pico"), ulab=1), "x.toml")  # an integer is not a boolean


# -- build --circuitpython ---------------------------------------------------------------------------------

@pytest.mark.parametrize("board", CP_BOARDS)
def test_bundle_layout_for_each_board(tmp_path, model, board):
    out = tmp_path / board
    p = run_cli("build", "--board", board, "--circuitpython", "-m", str(model), "-o", str(out), "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    b = get_board(board)
    assert info["runtime"] == "circuitpython" and info["board"] == board and info["ulab"] is True
    assert info["heap"] == b["vboard_heap"] and info["drive_size"] == b["fs_size"]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    lib = {f for f in files if f.startswith("lib/")}
    # the firmware package as source, all of it but the viper kernels (and no .mpy of any kind)
    assert lib == firmware_py() - {"lib/hyperion/kernels/viper.py"}
    assert {"lib/hyperion/__init__.py", "lib/hyperion/picol/__init__.py", "lib/hyperion/kernels/python.py"} <= lib
    assert not [f for f in files if f.endswith(".mpy") or "viper" in f]
    assert files - lib == {"code.py", "README.txt", "manifest.json", "models/mlp.hyq"}
    assert (out / "models" / "mlp.hyq").read_bytes() == model.read_bytes()
    m = json.loads((out / "manifest.json").read_text())
    assert m["runtime"] == "circuitpython" and m["models"] == ["mlp.hyq"] and m["board"] == board
    assert {f["path"] for f in m["files"]} == lib | {"code.py", "models/mlp.hyq"}
    for f in m["files"]:
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    readme = (out / "README.txt").read_text()
    assert "ulab in the firmware: yes" in readme and "native emitter (viper): no" in readme
    assert "about %d KB" % (b["vboard_heap"] // 1024) in readme and "about %d KB" % (b["fs_size"] // 1024) in readme
    assert "code.py" in readme and "lib/hyperion/" in readme and "mlp.hyq" in readme
    code = (out / "code.py").read_text()
    assert "monotonic_ns" in code and 'MODEL = "models/mlp.hyq"' in code and board in code
    # every .py compiles with the real mpy-cross (the compiler CircuitPython's is built from)
    with tempfile.TemporaryDirectory() as d:
        for f in sorted(files):
            if f.endswith(".py"):
                r = subprocess.run([os.path.join(BIN, "mpy-cross"), "-o", os.path.join(d, "x.mpy"), str(out / f)],
                                   capture_output=True, text=True)
                assert r.returncode == 0, (f, r.stderr)


def test_code_py_runs_on_micropython_and_matches_the_host(bundle, model, micropython):
    """The bundle's code.py, run as CircuitPython runs it: from the bundle's root, with its lib/ on the path."""
    r = micropython((bundle / "code.py").read_text(), firmware=bundle / "lib", cwd=str(bundle))
    assert r.ok, (r.stdout, r.stderr)
    out = r.stdout
    assert "check: ok" in out and re.search(r"^run: \d+ us$", out, re.M), out
    assert re.search(r"^kernels: python \(per op: .*linear=python", out, re.M), out
    assert "paths this board runs:" in out and "heap free:" in out
    # the printed outputs are the host runtime's on all-zero inputs
    prog, _ = load_program(str(model))
    want = np.asarray(prog.run({n: np.zeros(prog.shapes[n], np.float32) for n in prog.inputs})[prog.outputs[0]]).ravel()
    got = [float(v) for v in re.search(r"^output 0 \(8 values\): (.*)$", out, re.M).group(1).split()]
    assert np.allclose(got, want, atol=2e-3 * max(1.0, np.abs(want).max())), (got, want)
    # hyperion was imported from the bundle, as source: no viper module there to load
    r = micropython("import hyperion\nprint(hyperion.__file__)", firmware=bundle / "lib", cwd=str(bundle))
    assert r.stdout.strip() == str(bundle / "lib" / "hyperion" / "__init__.py"), r.stdout


def test_code_py_without_models_and_with_a_language_model(tmp_path, micropython):
    out = tmp_path / "empty"
    p = run_cli("build", "--board", "cp_pico2", "--circuitpython", "-o", str(out))
    assert p.returncode == 0, p.stderr
    r = micropython((out / "code.py").read_text(), firmware=out / "lib", cwd=str(out))
    assert r.ok and "kernel paths: " in r.stdout, (r.stdout, r.stderr)
    lm = Path(__file__).resolve().parent.parent / "models" / "tinylm" / "tinylm.hyq"
    out = tmp_path / "lm"
    p = run_cli("build", "--board", "cp_esp32s3_devkit", "-m", str(lm), "-o", str(out))
    assert p.returncode == 0, p.stderr
    r = micropython((out / "code.py").read_text(), firmware=out / "lib", cwd=str(out), timeout=300)
    assert r.ok, (r.stdout, r.stderr)
    assert re.search(r"^generated \d+ pieces in \d+ ms$", r.stdout, re.M), r.stdout


def test_build_refusals_are_one_line_and_write_nothing(tmp_path, model):
    out = tmp_path / "b"
    cases = [
        (["--board", "rp2040", "--circuitpython"], ["rp2040 runs MicroPython", "cp_pico"]),
        (["--board", "esp32s3", "--circuitpython"], ["esp32s3 runs MicroPython"]),
        (["--board", "cp_pico", "--circuitpython", "--romfs"], ["--romfs", "no ROMFS"]),
        (["--board", "cp_pico", "--romfs"], ["--romfs", "board cp_pico (CircuitPython)"]),
        (["--board", "cp_pico", "--circuitpython", "--firmware-recipe"], ["--firmware-recipe"]),
        (["--board", "cp_pico", "--circuitpython", "--arch", "armv6m"], ["--arch", ".py source"]),
        (["--board", "cp_pico", "--sign-key", str(model)], ["--sign-key", "signatures"]),
        (["--board", "cp_pico", "--model-key", str(model)], ["--model-key", "decrypt"]),
        (["--board", "cp_pico", "-m", str(tmp_path / "none.hyq")], ["no such model file"]),
        (["--board", "cp_pico", "-m", str(model), "-m", str(model)], ["two models are named mlp.hyq"]),
    ]
    for args, fragments in cases:
        p = run_cli("build", *args, "-m", str(model), "-o", str(out)) if "-m" not in args else \
            run_cli("build", *args, "-o", str(out))
        assert_user_error(p, *fragments)
        assert not out.exists(), args
    bad = tmp_path / "bad.hyq"
    bad.write_bytes(b"HYQ" + bytes(100))
    assert_user_error(run_cli("build", "--board", "cp_pico", "-m", str(bad), "-o", str(out)))
    assert not out.exists()
    # the MicroPython API refuses a CircuitPython board; -o never replaces a folder of the user's
    with pytest.raises(HyperionError, match="--circuitpython"):
        build_bundle("cp_pico", [str(model)], tmp_path / "mp")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert_user_error(run_cli("build", "--board", "cp_pico", "-m", str(model), "-o", str(tmp_path / "mine")),
                      "not a bundle's")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_a_bundle_larger_than_the_drive_is_refused(tmp_path):
    blob, _ = quantize_model(models.mlp(tmp_path / "big.onnx", k=4096, hidden=512), Options())
    write_atomic(tmp_path / "big.hyq", blob)
    assert len(blob) > 1024 * 1024
    p = run_cli("build", "--board", "cp_pico", "--circuitpython", "-m", str(tmp_path / "big.hyq"), "-o",
                str(tmp_path / "b"))
    assert_user_error(p, "CIRCUITPY drive holds about 1024 KB", "the bundle takes")
    kb = int(re.search(r"the bundle takes (\d+) KB", p.stderr).group(1))
    assert kb * 1024 > len(blob)
    assert not (tmp_path / "b").exists() and not [n for n in os.listdir(tmp_path) if n.startswith(".bundle")]
    # the ESP32-S3 dev kit's drive holds it (with a heap note: a note, not an error)
    p = run_cli("build", "--board", "cp_esp32s3_devkit", "-m", str(tmp_path / "big.hyq"), "-o", str(tmp_path / "s3"))
    assert p.returncode == 0, p.stderr


# -- deploy --drive ----------------------------------------------------------------------------------------

def test_deploy_copies_what_differs_and_keeps_what_is_the_users(tmp_path, bundle, model, micropython):
    drive = tmp_path / "CIRCUITPY"
    drive.mkdir()
    (drive / "boot_out.txt").write_text("Adafruit CircuitPython 9.2.1 on 2024-11-20; Raspberry Pi Pico with rp2040\n")
    (drive / "settings.toml").write_text("# the user's\n")
    (drive / "lib" / "adafruit_bus_device").mkdir(parents=True)
    (drive / "lib" / "adafruit_bus_device" / "i2c_device.mpy").write_bytes(b"C\x06user's library")
    p = run_cli("deploy", "--drive", str(drive), str(bundle), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    n = len(json.loads((bundle / "manifest.json").read_text())["files"])
    assert r["copied"] == n and r["unchanged"] == 0 and r["removed"] == [] and r["code"] == "code.py"
    assert r["notes"] == []  # a drive with boot_out.txt: no doubt it is the board's
    for f in json.loads((bundle / "manifest.json").read_text())["files"]:
        assert (drive / f["path"]).read_bytes() == (bundle / f["path"]).read_bytes()
    assert not (drive / "README.txt").exists() and not (drive / "manifest.json").exists()
    assert not [p for p in drive.rglob("*") if p.name.endswith((".part", ".probe"))]
    # the second time nothing is copied
    p = run_cli("deploy", "--drive", str(drive), str(bundle))
    assert p.returncode == 0 and "0 files copied, %d unchanged" % n in p.stdout, p
    # the board runs the drive: code.py from its root, lib/ on the path
    r = micropython((drive / "code.py").read_text(), firmware=drive / "lib", cwd=str(drive))
    assert r.ok and "check: ok" in r.stdout, (r.stdout, r.stderr)
    # stale modules an older bundle left in lib/hyperion go (and a folder they leave empty); the user's files stay
    (drive / "lib" / "hyperion" / "old_module.py").write_text("raise ImportError('stale')\n")
    (drive / "lib" / "hyperion" / "kernels" / "viper.mpy").write_bytes(b"M\x06\x2b\x1f")
    (drive / "lib" / "hyperion" / "gone").mkdir()
    (drive / "lib" / "hyperion" / "gone" / "__init__.py").write_text("")
    (drive / "lib" / "hyperion" / "notes.txt").write_text("the user's notes")
    (drive / "lib" / "hyperion" / "model.py").write_text("# edited on the board\n")
    p = run_cli("deploy", "--drive", str(drive), str(bundle), "--json")
    r = json.loads(p.stdout)
    assert r["copied"] == 1 and r["unchanged"] == n - 1, r
    assert sorted(r["removed"]) == ["lib/hyperion/gone/__init__.py", "lib/hyperion/kernels/viper.mpy",
                                    "lib/hyperion/old_module.py"]
    assert not (drive / "lib" / "hyperion" / "gone").exists()
    assert (drive / "lib" / "hyperion" / "model.py").read_bytes() == (bundle / "lib" / "hyperion" / "model.py").read_bytes()
    assert (drive / "lib" / "hyperion" / "notes.txt").read_text() == "the user's notes"
    assert (drive / "settings.toml").read_text() == "# the user's\n"
    assert (drive / "lib" / "adafruit_bus_device" / "i2c_device.mpy").read_bytes() == b"C\x06user's library"


def test_the_users_code_py_is_never_overwritten(tmp_path, bundle, model):
    ours = (bundle / "code.py").read_bytes()
    drive = tmp_path / "d"
    drive.mkdir()
    (drive / "code.py").write_text("print('my program')\n")
    p = run_cli("deploy", "--drive", str(drive), str(bundle))
    assert p.returncode == 0, p.stderr
    assert (drive / "code.py").read_text() == "print('my program')\n"
    assert (drive / "code_hyperion.py").read_bytes() == ours
    assert "code_hyperion.py" in p.stdout and "code_hyperion.py" in p.stderr  # said, and why
    assert "boot_out.txt" in p.stderr  # a folder that may not be the board's drive gets a note
    p = run_cli("deploy", "--drive", str(drive), str(bundle), "--json")
    assert json.loads(p.stdout)["copied"] == 0 and (drive / "code.py").read_text() == "print('my program')\n"
    # a main.py (CircuitPython runs it when there is no code.py) is the user's program too
    d2 = tmp_path / "d2"
    d2.mkdir()
    (d2 / "main.py").write_text("print('main')\n")
    assert json.loads(run_cli("deploy", "--drive", str(d2), str(bundle), "--json").stdout)["code"] == "code_hyperion.py"
    assert not (d2 / "code.py").exists() and (d2 / "main.py").read_text() == "print('main')\n"
    # the example an earlier deploy wrote, unchanged, is replaced by a newer bundle's
    d3 = tmp_path / "d3"
    d3.mkdir()
    assert run_cli("deploy", "--drive", str(d3), str(bundle)).returncode == 0
    newer = tmp_path / "newer"
    p = run_cli("build", "--board", "cp_pico", "--circuitpython", "-m", str(model), "-m", str(bundle / "models" / "mlp.hyq"),
                "-o", str(newer))
    assert_user_error(p, "two models")
    other = tmp_path / "other.hyq"
    shutil.copyfile(model, other)
    p = run_cli("build", "--board", "cp_pico", "--circuitpython", "-m", str(other), "-o", str(newer))
    assert p.returncode == 0, p.stderr
    r = json.loads(run_cli("deploy", "--drive", str(d3), str(newer), "--json").stdout)
    assert r["code"] == "code.py" and (d3 / "code.py").read_bytes() == (newer / "code.py").read_bytes()
    assert not (d3 / "code_hyperion.py").exists()
    assert (d3 / "models" / "mlp.hyq").exists()  # an older bundle's model is the user's to remove


def test_deploy_builds_from_models_for_a_board(tmp_path, model):
    drive = tmp_path / "d"
    drive.mkdir()
    p = run_cli("deploy", "--drive", str(drive), "--board", "cp_qtpy_esp32s3", "-m", str(model), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["board"] == "cp_qtpy_esp32s3" and r["copied"] > 30 and (drive / "models" / "mlp.hyq").is_file()
    assert not (drive / "lib" / "hyperion" / "kernels" / "viper.py").exists()


def test_deploy_refusals(tmp_path, bundle, model):
    drive = tmp_path / "d"
    drive.mkdir()
    cases = [
        (["--drive", str(tmp_path / "nope"), str(bundle)], ["no drive at", "CIRCUITPY"]),
        (["--drive", str(bundle / "code.py"), str(bundle)], ["is not a folder"]),
        (["--drive", str(drive), "--port", "/dev/ttyACM0", str(bundle)], ["--drive and --port exclude each other"]),
        (["--drive", str(drive)], ["give a bundle folder"]),
        (["--drive", str(drive), "-m", str(model)], ["needs --board"]),
        (["--drive", str(drive), str(bundle), "-m", str(model)], ["not both"]),
        (["--drive", str(drive), "--board", "rp2040", "-m", str(model)], ["rp2040 runs MicroPython", "--port"]),
        (["--drive", str(drive), "--board", "cp_pico2", str(bundle)], ["built for cp_pico, not cp_pico2"]),
        (["--drive", str(drive), "--board", "nosuch", str(bundle)], ["unknown board 'nosuch'"]),
        (["--drive", str(drive), "--sign-key", str(model), str(bundle)], ["--sign-key does not go with --drive"]),
        (["--drive", str(drive), "--model-key", str(model), str(bundle)], ["--model-key does not go with --drive"]),
        (["--drive", str(drive), str(tmp_path)], ["not a bundle"]),
        (["--board", "cp_pico", str(bundle)], ["--board goes with --drive"]),
        (["--port", "/dev/ttyACM0", str(bundle)], ["is a CircuitPython bundle", "--drive"]),
    ]
    for args, fragments in cases:
        assert_user_error(run_cli("deploy", *args), *fragments)
    assert listing(drive) == {}
    mp = tmp_path / "mp"
    assert run_cli("build", "--board", "rp2040", "-m", str(model), "-o", str(mp)).returncode == 0
    assert_user_error(run_cli("deploy", "--drive", str(drive), str(mp)), "not a CircuitPython bundle", "--port")
    assert_user_error(run_cli("flash", "--board", "cp_pico", "--firmware", str(model)), "runs CircuitPython",
                      "circuitpython.org/board/raspberry_pi_pico/")
    assert listing(drive) == {}


def _tampered(tmp_path, bundle, name, change):
    """A copy of the bundle, changed by change(copy, manifest) (which edits the manifest dict in place)."""
    b = tmp_path / name
    shutil.copytree(bundle, b, symlinks=True)
    m = json.loads((b / "manifest.json").read_text())
    change(b, m)
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def _add(m, path, data):
    m["files"].append({"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})


def test_hostile_bundles_and_drives_are_refused_before_anything_is_written(tmp_path, bundle):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("host secret")
    evil = b"print('evil')\n"

    def escape(b, m):
        (b.parent / "escape.py").write_bytes(evil)
        _add(m, "../escape.py", evil)

    def absolute(b, m):
        _add(m, str(tmp_path / "abs.py"), evil)

    def dotdot(b, m):
        _add(m, "lib/hyperion/../../boot.py", evil)

    def boot(b, m):
        (b / "boot.py").write_bytes(evil)
        _add(m, "boot.py", evil)

    def other_lib(b, m):
        (b / "lib" / "os.py").write_bytes(evil)
        _add(m, "lib/os.py", evil)

    def link_file(b, m):  # a bundle file that is a symlink to a host file: its content must not reach the drive
        os.symlink(secret, b / "lib" / "hyperion" / "leak.py")
        _add(m, "lib/hyperion/leak.py", secret.read_bytes())

    def link_dir(b, m):
        shutil.rmtree(b / "models")
        os.symlink(outside, b / "models")
        _add(m, "models/secret.txt", secret.read_bytes())

    def twice(b, m):  # on FAT, lib/hyperion/MODEL.py is lib/hyperion/model.py
        f = [f for f in m["files"] if f["path"] == "lib/hyperion/model.py"][0]
        m["files"].append(dict(f, path="lib/hyperion/MODEL.py"))

    def changed(b, m):
        (b / "lib" / "hyperion" / "model.py").write_text("# changed\n")

    def not_a_manifest(b, m):
        m["files"] = "everything"

    cases = [(escape, "not allowed"), (absolute, "not allowed"), (dotdot, "not allowed"), (boot, "not allowed"),
             (other_lib, "not allowed"), (link_file, "symlink"), (link_dir, "symlink"), (twice, "listed twice"),
             (changed, "changed since the build"), (not_a_manifest, "not a valid bundle manifest")]
    for change, fragment in cases:
        b = _tampered(tmp_path, bundle, change.__name__, change)
        drive = tmp_path / ("drive-" + change.__name__)
        drive.mkdir()
        assert_user_error(run_cli("deploy", "--drive", str(drive), str(b)), fragment)
        assert listing(drive) == {}, change.__name__
    assert listing(outside) == {"secret.txt": b"host secret"} and not (tmp_path / "abs.py").exists()
    bad = tmp_path / "corrupt"
    shutil.copytree(bundle, bad)
    (bad / "manifest.json").write_text("{not json")
    assert_user_error(run_cli("deploy", "--drive", str(tmp_path), str(bad)), "corrupt")

    # a drive whose lib/hyperion, code.py or models/ leads elsewhere: nothing is written through it
    for what in ("lib/hyperion", "code.py", "models", "lib"):
        drive = tmp_path / ("links-" + what.replace("/", "-"))
        (drive / "lib").mkdir(parents=True)
        target = outside / "dir" if what != "code.py" else outside / "code.py"
        if what == "code.py":
            target.write_text("print('outside')\n")
        else:
            target.mkdir(exist_ok=True)
        if what == "lib":
            (drive / "lib").rmdir()
        os.symlink(target, drive / what)
        before = listing(drive)
        assert_user_error(run_cli("deploy", "--drive", str(drive), str(bundle)), "symlink")
        assert listing(drive) == before, what
    assert listing(outside) == {"secret.txt": b"host secret", "code.py": b"print('outside')\n"}
    # a file where the bundle needs a folder, a folder where it needs a file
    drive = tmp_path / "shapes"
    drive.mkdir()
    (drive / "lib").write_text("a file")
    assert_user_error(run_cli("deploy", "--drive", str(drive), str(bundle)), "lib", "needs a folder")
    (drive / "lib").unlink()
    (drive / "code.py").mkdir()
    assert_user_error(run_cli("deploy", "--drive", str(drive), str(bundle)), "code.py", "not a regular file")
    assert listing(drive) == {}


def test_a_read_only_drive_is_one_clear_error(tmp_path, bundle):
    """CIRCUITPY is read-only to the computer while the board's code has it writable. A folder the deploy may
    not write stands in: chmod for a user; for root (who writes through chmod) the same call with root's rights
    dropped (os.seteuid), as any user runs it."""
    # a folder every user can read: the bundle and the drive
    world = Path(tempfile.mkdtemp(prefix="hyperion-ro-"))
    try:
        world.chmod(0o755)
        b = world / "bundle"
        shutil.copytree(bundle, b)
        for p in [b, *b.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        drive = world / "CIRCUITPY"
        drive.mkdir()
        (drive / "boot_out.txt").write_text("Adafruit CircuitPython 9.2.1\n")
        fresh = world / "fresh"
        fresh.mkdir()
        assert deploy_to_drive(fresh, b)["copied"] > 0  # (imports every module the deploy uses, as root)
        for d in (drive, fresh):
            d.chmod(0o555)
        before = listing(drive)
        if os.geteuid() != 0:
            assert_user_error(run_cli("deploy", "--drive", str(drive), str(b)), "is read-only", "storage.remount")
            r = json.loads(run_cli("deploy", "--drive", str(fresh), str(b), "--json").stdout)
            assert r["copied"] == 0  # up to date: a read-only drive is fine when nothing needs writing
        else:
            os.seteuid(65534)
            try:
                with pytest.raises(HyperionError, match="is read-only .*EACCES.*storage.remount"):
                    deploy_to_drive(drive, b)
                assert deploy_to_drive(fresh, b)["copied"] == 0
            finally:
                os.seteuid(0)
            assert os.geteuid() == 0
        assert listing(drive) == before
        # the error's words for the CLI: one line (as root the chmod does not stop the write, so no CLI run here)
        from hyperion_host.ship.drive import _read_only

        msg = _read_only(drive, OSError(30, "Read-only file system")).format_message()
        assert "\n" not in msg and "EROFS" in msg
    finally:
        for p in (world / "CIRCUITPY", world / "fresh"):
            if p.exists():
                p.chmod(0o755)
        shutil.rmtree(world, ignore_errors=True)

