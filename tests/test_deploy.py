"""Boards, bundles, A/B deploy, fleet rollout, flash images and UF2 - on vboards and with esptool's own tools."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hyperion import ARCH_NAMES
from hyperion_host import mpbuild
from hyperion_host.boards import all_boards, get_board
from hyperion_host.device.vboard import manager
from hyperion_host.errors import HyperionError
from hyperion_host.files import write_atomic
from hyperion_host.firmware import mpy_arch
from hyperion_host.model.quantize import Options, quantize_model
from hyperion_host.paths import firmware_dir
from hyperion_host.ship import deploy as dep
from hyperion_host.ship import uf2
from hyperion_host.ship.bundle import build_bundle, load_manifest
from hyperion_host.ship.flash import check_esp_image

import onnx_examples as models
from helpers import BIN, assert_user_error, run_cli


@pytest.fixture(scope="module")
def hyq_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    out = {}
    for name, maker, kw in (("mlp", models.mlp, {}), ("big", models.mlp, {"k": 1024}), ("cnn", models.cnn, {})):
        # "big" keeps float activations: its 140 KB matrix must be in RAM whole, more than an RP2040's heap
        blob, _ = quantize_model(maker(d / (name + ".onnx"), **kw), Options(
            input_shapes=["x=1,1,8,8"] if name == "cnn" else None, act="float" if name == "big" else "int8"))
        write_atomic(d / (name + ".hyq"), blob)
        out[name] = str(d / (name + ".hyq"))
    return out


def test_every_board_bundle_carries_its_arch(tmp_path, hyq_models):
    boards = all_boards()
    assert {"esp32", "esp32s3", "esp32c3", "rp2040", "pico_w", "rp2350"} <= set(boards)
    for name, b in boards.items():
        if b["runtime"] == "circuitpython":  # source bundles for the CIRCUITPY drive: test_circuitpython_bundle.py
            with pytest.raises(HyperionError, match="--circuitpython"):
                build_bundle(name, [hyq_models["mlp"]], tmp_path / name)
            continue
        notes = []
        m = build_bundle(name, [hyq_models["mlp"]], tmp_path / name, log=notes.append)
        assert m["arch"] == b["arch"] and m["board"] == name
        kv = tmp_path / name / "lib" / "hyperion" / "kernels" / "viper.mpy"
        assert mpy_arch(kv) == b["arch"]
        assert kv.read_bytes()[2] == (ARCH_NAMES.index(b["arch"]) << 2) | 3
        # the C kernels for the board's arch, in the manifest and the mip package; xtensawin has none, and says so
        kc = tmp_path / name / "lib" / "hyperion" / "kernels" / "c.mpy"
        if b["arch"] == "xtensawin":
            assert not kc.exists() and len(notes) == 1 and "xtensawin has no C kernels" in notes[0], notes
        else:
            assert mpy_arch(kc) == b["arch"] and not notes, notes
            assert "lib/hyperion/kernels/c.mpy" in {f["path"] for f in m["files"]}
            pkg = json.loads((tmp_path / name / "package.json").read_text())
            assert ["hyperion/kernels/c.mpy", "lib/hyperion/kernels/c.mpy"] in pkg["urls"]
        loaded = load_manifest(tmp_path / name)  # every sha256 checks out
        assert {f["path"] for f in loaded["files"]} >= {"lib/hyperion/model.mpy", "models/mlp.hyq"}
        pkg = json.loads((tmp_path / name / "package.json").read_text())
        assert all((tmp_path / name / src).is_file() for _, src in pkg["urls"])
    (tmp_path / "rp2040" / "models" / "mlp.hyq").write_bytes(b"tampered")
    with pytest.raises(HyperionError, match="changed since the build"):
        load_manifest(tmp_path / "rp2040")


def test_romfs_image_mounts_and_runs_on_micropython(tmp_path, hyq_models, micropython):
    p = run_cli("build", "--board", "unix", "-m", hyq_models["cnn"], "-o", str(tmp_path / "b"), "--romfs")
    assert p.returncode == 0, p.stderr
    img = tmp_path / "b" / "romfs.img"
    code = (
        "import vfs, sys, array\n"
        "vfs.mount(vfs.VfsRom(open(%r, 'rb').read()), '/rom')\n"
        "sys.path.insert(0, '/rom/lib')\n"
        "import hyperion\n"
        "m = hyperion.load('/rom/models/cnn.hyq')\n"
        "print(hyperion.__file__, m.info()['mode'], len(m.run(array.array('f', [0.5] * 64))))\n" % str(img)
    )
    r = micropython(code, firmware=tmp_path / "nowhere")  # hyperion comes from the image only
    assert r.ok, r
    assert r.stdout.split() == ["/rom/lib/hyperion/__init__.mpy", "rom", "10"]


def test_build_replaces_only_an_earlier_bundle_never_the_users_files(tmp_path, hyq_models):
    """build -o into a project folder once deleted main.py, data.csv and src/: now it refuses, and leaves them."""
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "main.py").write_text("print(1)")
    (proj / "src" / "x.py").write_text("")
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "m.hyq"
    model.write_bytes(Path(hyq_models["mlp"]).read_bytes())
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    for out, cwd, says in ((proj, tmp_path, "not a bundle's (main.py, src)"), (".", proj, "the current folder"),
                           (proj / "main.py", proj, "is not a folder"), (model.parent, proj, "holds the model")):
        p = run_cli("build", "--board", "rp2040", "-m", str(model), "-o", str(out), cwd=str(cwd))
        assert_user_error(p, says)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before  # no stage left either
    # a new folder, then the same folder again (an earlier bundle: replaced), and an empty one
    for out in (proj / "build" / "pico", proj / "build" / "pico", proj / "empty"):
        out.mkdir(parents=True, exist_ok=True)
        p = run_cli("build", "--board", "rp2040", "-m", str(model), "-o", str(out), "--romfs", "--firmware-recipe")
        assert p.returncode == 0, p.stderr
        assert (out / "manifest.json").is_file() and (out / "models" / "m.hyq").is_file()
    assert (proj / "main.py").read_text() == "print(1)" and not list((proj / "build").glob(".bundle-*"))


def test_build_checks_that_the_models_fit_the_board_before_writing(tmp_path, hyq_models):
    """Flash (two A/B copies in the filesystem), ROMFS area and heap, against the board file, in numbers."""
    copies = []
    for i in range(5):  # 5 x 148 KB: one slot fits an RP2040's 1408 KB filesystem, two do not
        c = tmp_path / ("big%d.hyq" % i)
        c.write_bytes(Path(hyq_models["big"]).read_bytes())
        copies.append(str(c))
    out = tmp_path / "b"
    ms = [a for c in copies for a in ("-m", c)]
    p = run_cli("build", "--board", "rp2040", *ms, "-o", str(out))
    assert_user_error(p, "two copies (the A/B slots)", "filesystem holds 1408 KB", "--romfs")
    p = run_cli("build", "--board", "rp2040", *ms[:8], "--romfs", "-o", str(out))
    assert_user_error(p, "romfs.img would take", "ROMFS area holds 512 KB")
    huge = tmp_path / "huge.onnx"
    blob, _ = quantize_model(models.mlp(huge, k=4096), Options())
    write_atomic(tmp_path / "huge.hyq", blob)
    assert not out.exists() and not [q for q in tmp_path.iterdir() if q.name.startswith(".bundle")]
    # heap: an upper-bound estimate, so a note with the numbers and what to change (the health check decides)
    p = run_cli("build", "--board", "rp2350", "-m", str(tmp_path / "huge.hyq"), "-o", str(out))
    assert p.returncode == 0 and "may need up to" in p.stderr and "about 470 KB free after boot" in p.stderr, p
    p = run_cli("build", "--board", "rp2040", "-m", copies[0], "-o", str(tmp_path / "b2"), "--json")  # with a note
    assert p.returncode == 0 and "needs about" in p.stderr, p
    info = json.loads(p.stdout)
    assert info["board"] == "rp2040" and info["files"] == len(load_manifest(tmp_path / "b2")["files"])


def test_build_kernels_replaces_only_an_earlier_build(tmp_path):
    mine = tmp_path / "x64" / "hyperion" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    p = run_cli("build-kernels", "--arch", "x64", "-o", str(tmp_path))
    assert_user_error(p, "holds files that are not a compiled firmware", "nothing was changed")
    assert mine.read_text() == "mine"
    mine.unlink()
    assert run_cli("build-kernels", "--arch", "x64", "-o", str(tmp_path)).returncode == 0
    assert run_cli("build-kernels", "--arch", "x64", "-o", str(tmp_path)).returncode == 0  # its own build: replaced
    assert (tmp_path / "x64" / "hyperion" / "__init__.mpy").is_file()


def test_firmware_recipe(tmp_path):
    p = run_cli("build", "--board", "rp2040", "-o", str(tmp_path / "b"), "--firmware-recipe")
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "b" / "firmware" / "BUILD.md").read_text()
    assert "make -C micropython/ports/rp2 BOARD=RPI_PICO" in text and "FROZEN_MANIFEST=" in text
    assert "USER_C_MODULES=" in text and "MICROPY_HW_ROMFS_BYTES" in text
    # MicroPython's own manifest reader: the package is frozen and the C kernels are a C module
    sys.path.insert(0, str(mpbuild.source_dir() / "tools"))
    import manifestfile

    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "manifest.py").write_text("")
    m = manifestfile.ManifestFile(manifestfile.MODE_FREEZE, {"BOARD_DIR": str(tmp_path / "board")})
    m.execute(str(tmp_path / "b" / "firmware" / "manifest.py"))
    frozen = {f.target_path for f in m.files()}
    assert {"hyperion/__init__.py", "hyperion/kernels/python.py", "hyperion/picol/interp.py"} <= frozen
    assert [Path(c) for c in m.c_modules()] == [firmware_dir() / "native"]


def _run_on_board(port, code):
    from hyperion_host.device.transport import Board

    with Board(port) as b:
        return b.exec(code, timeout=60).decode().strip()


def test_deploy_redeploy_update_rollback(tmp_path, hyq_models, start_vboard):
    vb = start_vboard()
    (vb.fs_dir / "boot.py").write_text("BOOTED = 1\n")  # a user's boot.py is kept
    b1 = tmp_path / "b1"
    b2 = tmp_path / "b2"
    build_bundle("rp2040", [hyq_models["mlp"]], b1, arch="x64", version="1.0")
    build_bundle("rp2040", [hyq_models["mlp"], hyq_models["cnn"]], b2, arch="x64", version="2.0")
    p = run_cli("status", "--port", vb.name)  # before any deploy: says so, not "None" three times
    assert p.returncode == 0 and "nothing deployed yet" in p.stdout and "None" not in p.stdout, p
    r = dep.deploy(vb.name, str(b1))
    assert r["changed"] and r["slot"] == "a" and r["copied"] == len(load_manifest(b1)["files"])
    assert r["health"] == {"mlp": "ok"}
    assert "BOOTED = 1" in (vb.fs_dir / "boot.py").read_text()
    out = _run_on_board(vb.port, "import hyperion\nm = hyperion.load('mlp')\nprint(m.path, len(m.run([0.1] * 256)))")
    assert out == "/hyperion-ab/a/models/mlp.hyq 16"
    again = dep.deploy(vb.name, str(b1))
    assert not again["changed"] and again["copied"] == 0  # unchanged: every file skipped
    r2 = dep.deploy(vb.name, str(b2))
    assert r2["slot"] == "b" and r2["copied"] == 1 and r2["copied_on_board"] == len(load_manifest(b1)["files"])
    assert dep.status(vb.name)["version"] == "2.0"
    back = run_cli("rollback", "--port", vb.name)
    assert back.returncode == 0, back.stderr
    st = json.loads(run_cli("status", "--port", vb.name, "--json").stdout)
    assert st["active"] == "a" and st["version"] == "1.0"
    assert _run_on_board(vb.port, "import hyperion\nprint(hyperion.__file__)").startswith("/hyperion-ab/a/")


def test_infer_uses_the_deployed_firmware_and_model_when_they_are_the_same(tmp_path, hyq_models, start_vboard):
    """One install mechanism: after a deploy, infer --port sends nothing the active slot already holds."""
    from hyperion_host.model.hyqfile import load_program

    vboard = start_vboard()
    b1 = tmp_path / "b1"
    build_bundle("rp2040", [hyq_models["mlp"]], b1, arch="x64")
    dep.deploy(vboard.name, str(b1))
    prog, _ = load_program(hyq_models["mlp"])
    np.save(tmp_path / "x.npy", np.zeros(prog.shapes[prog.inputs[0]], np.float32))
    p = run_cli("infer", hyq_models["mlp"], "--input", str(tmp_path / "x.npy"), "--port", vboard.name, "--json")
    assert p.returncode == 0, p.stderr
    assert "sent" not in p.stderr, p.stderr
    st = json.loads(run_cli("status", "--json", "--port", vboard.name).stdout)
    assert st["active"] == "a" and st["dev"] == {"files": 0, "bytes": 0, "firmware": False, "models": []}


def test_deploy_cut_off_mid_copy_keeps_the_previous_slot(tmp_path, hyq_models, start_vboard):
    vb = start_vboard(heap="1M")
    b1, b2 = tmp_path / "b1", tmp_path / "b2"
    build_bundle("rp2040", [hyq_models["mlp"]], b1, arch="x64", version="1.0")
    build_bundle("rp2040", [hyq_models["big"], hyq_models["cnn"]], b2, arch="x64", version="2.0")
    assert dep.deploy(vb.name, str(b1))["slot"] == "a"
    p = subprocess.Popen([os.path.join(BIN, "hyperion-host"), "deploy", str(b2), "--port", vb.name],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    target = vb.fs_dir / "hyperion-ab" / "b" / "models"
    deadline = time.monotonic() + 30
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    pid = vb.vb.run_info()["pid"]
    os.kill(pid, signal.SIGKILL)  # the board loses power mid-copy
    os.kill(vb.interp_pid, signal.SIGKILL)
    _, err = p.communicate(timeout=30)
    assert p.returncode != 0
    assert "Traceback" not in err.decode(), err
    assert not (vb.fs_dir / "hyperion-ab" / "b" / "manifest.json").exists()
    again = manager.start(vb.name)  # power back on: same filesystem
    out = _run_on_board(again.port, "import hyperion\nm = hyperion.load('mlp')\n"
                                    "print(hyperion.__file__, len(m.run([0.2] * 256)))")
    assert out == "/hyperion-ab/a/lib/hyperion/__init__.mpy 16"
    # and the next deploy completes
    assert dep.deploy(vb.name, str(b2))["slot"] == "b"


LFS_BOOT = """
import vfs, os
class FileBlocks:
    def __init__(self, path, count):
        self.path, self.count = path, count
        try:
            os.stat(path)
        except OSError:
            z = bytes(512)
            with open(path, 'wb') as f:
                for _ in range(count):
                    f.write(z)
        self.f = open(path, 'r+b')
    def readblocks(self, n, buf, off=0):
        self.f.seek(n * 512 + off)
        self.f.readinto(buf)
    def writeblocks(self, n, buf, off=0):
        self.f.seek(n * 512 + off)
        self.f.write(buf)
        self.f.flush()
    def ioctl(self, op, arg):
        if op == 4:
            return self.count
        if op == 5:
            return 512
        if op == 6:
            return 0
bd = FileBlocks('/lfs.img', %d)
try:
    vfs.mount(vfs.VfsLfs2(bd), '/hyperion-ab')
except OSError:
    vfs.VfsLfs2.mkfs(bd)
    vfs.mount(vfs.VfsLfs2(bd), '/hyperion-ab')
"""


@pytest.mark.parametrize("when", ["before", "mid"])
def test_board_out_of_space_loses_nothing(tmp_path, hyq_models, start_vboard, when):
    """Slots on a small LittleFS (as on a real board's flash): too small from the start, or filled up so that
    the pre-check passes and the copy runs out of blocks part way."""
    b1, b2 = tmp_path / "b1", tmp_path / "b2"
    build_bundle("rp2040", [], b1, arch="x64", version="1.0")
    m2 = build_bundle("rp2040", [hyq_models["mlp"], hyq_models["cnn"]], b2, arch="x64", version="2.0")
    need = sum(f["size"] for f in m2["files"])
    vb = start_vboard(heap="1M")
    (vb.fs_dir / "boot.py").write_text(LFS_BOOT % (120 if when == "before" else 900))
    if when == "mid":
        assert dep.deploy(vb.name, str(b1))["slot"] == "a"
        free = int(_run_on_board(vb.port, "import os\ns = os.statvfs('/hyperion-ab')\nprint(s[0] * s[4])"))
        ballast = free - need - 6144
        assert ballast > 0
        _run_on_board(vb.port, "z = bytes(512)\nwith open('/hyperion-ab/ballast', 'wb') as f:\n"
                               " for i in range(%d):\n  f.write(z)" % (ballast // 512))
        left = int(_run_on_board(vb.port, "import os\ns = os.statvfs('/hyperion-ab')\nprint(s[0] * s[4])"))
        assert need + 2048 <= left < need + 8192  # the pre-check passes; per-file block rounding will not fit
    with pytest.raises(HyperionError) as e:
        dep.deploy(vb.name, str(b2))
    msg = e.value.format_message()
    assert ("not enough space" in msg) if when == "before" else ("ran out of space" in msg), msg
    assert "untouched" in msg
    if when == "mid":
        st = dep.status(vb.name)
        assert st["active"] == "a" and st["version"] == "1.0"
        assert _run_on_board(vb.port, "import hyperion\nprint(hyperion.__file__)").startswith("/hyperion-ab/a/")


def test_fleet_apply_stops_and_rolls_back_a_failing_batch(tmp_path, hyq_models, start_vboard):
    a, b = start_vboard(heap="1M"), start_vboard(heap="1M")
    small = start_vboard()  # an RP2040's heap: the big model does not fit, its health check fails
    b1, b2 = tmp_path / "b1", tmp_path / "b2"
    build_bundle("rp2040", [hyq_models["mlp"]], b1, arch="x64", version="1.0")
    build_bundle("rp2040", [hyq_models["big"]], b2, arch="x64", version="2.0")
    for vb in (a, b, small):
        dep.deploy(vb.name, str(b1))
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("bundle: b2\nbatch_size: 2\nhealth: {min_score: 1.0, max_failed_boards: 0}\nboards:\n"
                     "  - {name: one, port: %s}\n  - {name: tiny, port: %s}\n  - {name: two, port: %s}\n"
                     % (a.name, small.name, b.name))
    plan = json.loads(run_cli("fleet", "plan", str(fleet), "--json").stdout)
    assert [(r["name"], r["batch"], r["action"]) for r in plan] == [("one", 1, "deploy"), ("tiny", 1, "deploy"),
                                                                     ("two", 2, "deploy")]
    assert json.loads(run_cli("fleet", "plan", str(fleet), "--json").stdout) == plan  # deterministic
    p = run_cli("fleet", "apply", str(fleet), timeout=300)
    assert_user_error(p, "batch 1 failed", "rolled back")
    for vb, version in ((a, "1.0"), (small, "1.0"), (b, "1.0")):  # batch 1 rolled back, batch 2 never ran
        assert dep.status(vb.name)["version"] == version
    audit = [json.loads(x) for x in (tmp_path / "fleet-audit.jsonl").read_text().splitlines()]
    actions = [(r["action"], r.get("board"), r.get("ok")) for r in audit]
    assert ("deploy", "one", True) in actions and ("deploy", "tiny", False) in actions
    assert ("rollback", "one", True) in actions and ("apply-stop", None, None) in actions
    why = [r["error"] for r in audit if r["action"] == "deploy" and r.get("board") == "tiny"][0]
    assert "OutOfMemory: " in why and "OutOfMemory(" not in why, why  # the error as a traceback shows it
    assert not any(r.get("board") == "two" and r["action"] == "deploy" for r in audit)
    p = run_cli("fleet", "status", str(fleet), "--json", timeout=120)
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert [(r["name"], r["version"], r["health"]) for r in st] == [("one", "1.0", 1.0), ("tiny", "1.0", 1.0),
                                                                   ("two", "1.0", 1.0)]


def test_fleet_rollback_undoes_only_what_the_last_apply_switched(tmp_path, hyq_models, start_vboard):
    moved, untouched = start_vboard(), start_vboard()
    b1, b2 = tmp_path / "b1", tmp_path / "b2"
    build_bundle("rp2040", [hyq_models["mlp"]], b1, arch="x64", version="1.0")
    build_bundle("rp2040", [hyq_models["mlp"], hyq_models["cnn"]], b2, arch="x64", version="2.0")
    dep.deploy(moved.name, str(b1))
    dep.deploy(untouched.name, str(b1))
    dep.deploy(untouched.name, str(b2))  # already on 2.0 (slot b), its slot a holds 1.0: a rollback would downgrade
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("bundle: b2\nboards:\n  - {name: moved, port: %s}\n  - {name: untouched, port: %s}\n"
                     % (moved.name, untouched.name))
    p = run_cli("fleet", "apply", str(fleet), "--json", timeout=300)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["ok"] and [b["name"] for batch in res["batches"] for b in batch["boards"]] == ["moved"]
    p = run_cli("fleet", "rollback", str(fleet), "--json", timeout=120)
    assert p.returncode == 0, p.stderr
    rows = {r["name"]: r for r in json.loads(p.stdout)}
    assert rows["moved"]["slot"] == "a" and rows["moved"]["version"] == "1.0"
    assert "did not switch" in rows["untouched"]["skipped"]
    assert dep.status(moved.name)["version"] == "1.0" and dep.status(untouched.name)["version"] == "2.0"
    again = json.loads(run_cli("fleet", "rollback", str(fleet), "--json", timeout=120).stdout)
    assert all("skipped" in r for r in again)  # rolled back once: a second rollback does not flip it forward
    assert dep.status(moved.name)["version"] == "1.0"
    p = run_cli("fleet", "rollback", str(fleet), "--all", timeout=120)  # the old meaning, asked for by name
    assert p.returncode == 0, p.stderr
    assert dep.status(untouched.name)["version"] == "1.0" and dep.status(moved.name)["version"] == "2.0"


def test_fleet_file_errors(tmp_path):
    bad = tmp_path / "f.json"
    bad.write_text(json.dumps({"bundle": "x", "boards": [{"name": "a"}]}))
    assert_user_error(run_cli("fleet", "plan", str(bad)), "not a valid fleet file at boards/0", "'port' is a required")
    bad.write_text("{oops")
    assert_user_error(run_cli("fleet", "plan", str(bad)), "does not parse")


def _esp_image(chip, path):
    """A minimal valid app image for `chip`, made with esptool's own image classes."""
    from esptool.bin_image import ELFSection, ESP32FirmwareImage
    from esptool.targets import CHIP_DEFS

    cls = CHIP_DEFS[chip]
    img = ESP32FirmwareImage()
    img.chip_id = cls.IMAGE_CHIP_ID
    img.ROM_LOADER = cls
    img.entrypoint = cls.IROM_MAP_START if hasattr(cls, "IROM_MAP_START") else 0x40080000
    img.segments = [ELFSection(b".dram0.data", 0x3FFB0000 if chip == "esp32" else 0x3FC88000, b"\x00" * 64, 0)]
    img.save(str(path))
    return path


def test_esp_images_are_checked_with_esptool(tmp_path):
    esp32 = _esp_image("esp32", tmp_path / "esp32.bin")
    s3 = _esp_image("esp32s3", tmp_path / "s3.bin")
    assert check_esp_image(esp32, get_board("esp32")) == "ESP32"
    assert check_esp_image(s3, get_board("esp32s3")) == "ESP32-S3"
    p = run_cli("flash", "--board", "esp32", "--firmware", str(s3), "--port", "/dev/null")
    assert_user_error(p, "is an image for ESP32-S3, but board esp32 is ESP32", "ESP32_GENERIC")
    dry = run_cli("flash", "--board", "esp32", "--firmware", str(esp32), "--dry-run", "--erase")
    assert dry.returncode == 0, dry.stderr
    assert "erase the whole flash" in dry.stdout and "at 0x1000" in dry.stdout
    dry = run_cli("flash", "--board", "esp32s3", "--firmware", str(s3), "--dry-run")
    assert "at 0x0," in dry.stdout
    # the byte stream at its offset, as esptool's merge-bin lays it out, passes esptool's image-info
    merged = tmp_path / "merged.bin"
    esptool = [sys.executable, "-m", "esptool"]
    m = subprocess.run(esptool + ["--chip", "esp32", "merge-bin", "-o", str(merged), "0x1000", str(esp32)],
                       capture_output=True, text=True)
    assert m.returncode == 0, m.stderr
    assert merged.read_bytes()[0x1000:] == esp32.read_bytes()
    info = subprocess.run(esptool + ["--chip", "esp32", "image-info", str(esp32)], capture_output=True, text=True)
    assert info.returncode == 0 and "ESP32" in info.stdout, info.stdout + info.stderr
    assert_user_error(run_cli("flash", "--board", "esp32", "--firmware", str(esp32), "--port", "/dev/nonexistent-tty"),
                      "cannot talk to an ESP bootloader")
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    assert_user_error(run_cli("flash", "--board", "esp32", "--firmware", str(txt), "--dry-run"), "not an ESP firmware image")


def test_uf2_for_rp2(tmp_path):
    fw = tmp_path / "fw.bin"
    fw.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    out = tmp_path / "fw.uf2"
    p = run_cli("flash", "--board", "rp2040", "--firmware", str(fw), "--uf2-out", str(out))
    assert p.returncode == 0, p.stderr
    blob = out.read_bytes()
    blocks = uf2.parse(blob)
    assert len(blob) % 512 == 0 and all(len(payload) == 256 for _, payload, _ in blocks)
    base, data, family = uf2.image_of(blob)
    assert base == 0x10000000 and family == 0xE48BFF56
    assert data[:5000] == fw.read_bytes() and set(data[5000:]) == {0xFF}
    for i in range(len(blob) // 512):  # magics at the start and end of every block
        assert blob[i * 512: i * 512 + 8] == bytes.fromhex("5546320a57515d9e")
        assert blob[i * 512 + 508: i * 512 + 512] == bytes.fromhex("306fb10a")
    # a UF2 for the wrong chip is refused
    assert_user_error(run_cli("flash", "--board", "rp2350", "--firmware", str(out), "--uf2-out", str(tmp_path / "x.uf2")),
                      "is a UF2 for rp2040", "RPI_PICO2")
    assert not (tmp_path / "x.uf2").exists()
    assert_user_error(run_cli("flash", "--board", "rp2040", "--firmware", str(fw)), "no RPI-RP2/RP2350 drive")
    dry = run_cli("flash", "--board", "rp2040", "--firmware", str(fw), "--dry-run")  # a plan needs no drive
    assert dry.returncode == 0 and "would copy %d bytes of UF2" % len(blob) in dry.stdout, dry
    # a ROMFS image as a UF2 at the board's ROMFS address
    img = tmp_path / "romfs.img"
    img.write_bytes(b"\xd2\xcd\x31" + bytes(1000))
    p = run_cli("uf2", "pack", str(img), "--board", "rp2350", "-o", str(tmp_path / "rom.uf2"))
    assert p.returncode == 0, p.stderr
    base, data, family = uf2.image_of((tmp_path / "rom.uf2").read_bytes())
    assert base == get_board("rp2350")["romfs"]["offset"] and family == 0xE48BFF59 and data[:3] == b"\xd2\xcd\x31"


def test_deploy_bad_input(tmp_path, hyq_models, vboard):
    assert_user_error(run_cli("build", "--board", "nope", "-o", str(tmp_path / "x")), "unknown board 'nope'")
    assert_user_error(run_cli("deploy", str(tmp_path), "--port", vboard.name), "is not a bundle")
    b = tmp_path / "arm"
    build_bundle("rp2040", [hyq_models["mlp"]], b)
    assert_user_error(run_cli("deploy", str(b), "--port", vboard.name), "built for armv6m", "runs x64")
    assert_user_error(run_cli("deploy", str(b), "--port", "/dev/ttyNOPE"), "unknown port")
    import serial

    b2 = tmp_path / "x64"
    build_bundle("rp2040", [hyq_models["mlp"]], b2, arch="x64")
    with serial.Serial(vboard.port, 115200, exclusive=True):
        assert_user_error(run_cli("deploy", str(b2), "--port", vboard.name), "busy")


@pytest.mark.parametrize("after", ["_mkdirs", "_rm(", "for d in"])
def test_a_board_that_restarts_mid_deploy_is_one_clear_error(tmp_path, hyq_models, start_vboard, monkeypatch, after):
    """The interpreter dies (SIGKILL) right after one of deploy's board calls: a one-line error naming the
    restart, no NameError traceback, and the board still boots what it booted before."""
    vb = start_vboard()
    b = tmp_path / "b"
    build_bundle("rp2040", [hyq_models["mlp"]], b, arch="x64")
    orig = dep.Session.exec

    def exec_then_die(self, code, timeout=60):
        r = orig(self, code, timeout)
        if code.startswith(after):
            os.kill(vb.interp_pid, signal.SIGKILL)
        return r

    monkeypatch.setattr(dep.Session, "exec", exec_then_die)
    # a board back within the byte deadline is seen to have restarted; a slower one as having stopped answering
    with pytest.raises(HyperionError, match="(restarted in the middle of the deploy|stopped answering).* the active "
                                            "slot is untouched"):
        dep.deploy(vb.name, str(b))
    monkeypatch.undo()
    assert dep.status(vb.name).get("active") in (None, "")  # no slot was switched to
    r = dep.deploy(vb.name, str(b))  # and it goes through when run again
    assert r["changed"] and r["slot"] == "a"


@pytest.mark.parametrize("after", ["_mkdirs", "for d in"])
def test_a_board_that_hangs_mid_deploy_is_a_one_line_error_within_the_deadline(tmp_path, hyq_models, start_vboard,
                                                                               monkeypatch, after):
    """The interpreter freezes (SIGSTOP: a board stuck in a driver, a lost USB link) after one of deploy's board
    calls, before a read (an eval) or a file write: every read has a deadline, so deploy ends in seconds with one
    line, not a hang or an mpremote traceback; the board, once it runs again, still boots the old slot."""
    vb = start_vboard()
    b = tmp_path / "b"
    build_bundle("rp2040", [hyq_models["mlp"]], b, arch="x64")
    orig = dep.Session.exec

    def exec_then_freeze(self, code, timeout=60):
        r = orig(self, code, timeout)
        if code.startswith(after):
            os.kill(vb.interp_pid, signal.SIGSTOP)
        return r

    monkeypatch.setattr(dep.Session, "exec", exec_then_freeze)
    t0 = time.monotonic()
    try:
        with pytest.raises(HyperionError, match="stopped answering.*the active slot is untouched") as e:
            dep.deploy(vb.name, str(b))
    finally:
        os.kill(vb.interp_pid, signal.SIGCONT)
    assert time.monotonic() - t0 < 40
    assert "\n" not in e.value.format_message() and "Traceback" not in e.value.format_message()
    monkeypatch.undo()
    assert dep.status(vb.name).get("active") in (None, "")
    assert dep.deploy(vb.name, str(b))["slot"] == "a"


@pytest.mark.parametrize("path", ["../../main.py", "lib/../../../main.py", "/main.py", "main.py", "lib\\..\\x.py",
                                  "models/./x.hyq", "lib//x.py", "models/a\x00.hyq"])
def test_a_bundle_path_outside_its_slot_is_refused_before_the_board_is_touched(tmp_path, hyq_models, vboard, path):
    """A crafted manifest.json (its SHA-256 right, so only the path is wrong) must not write outside the slot:
    deploy refuses it with a one-line error and the board is as it was."""
    b = tmp_path / "evil"
    build_bundle("rp2040", [hyq_models["mlp"]], b, arch="x64")
    man = json.loads((b / "manifest.json").read_text())
    body = b"print('pwned')\n"
    evil = tmp_path / "evil" / "payload.py"
    evil.write_bytes(body)
    man["files"].append({"path": path, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)})
    (b / "manifest.json").write_text(json.dumps(man))
    before = sorted(p.relative_to(vboard.fs_dir).as_posix() for p in vboard.fs_dir.rglob("*"))
    assert_user_error(run_cli("deploy", str(b), "--port", vboard.name), "is not allowed")
    assert sorted(p.relative_to(vboard.fs_dir).as_posix() for p in vboard.fs_dir.rglob("*")) == before
    assert not (vboard.fs_dir / "main.py").exists() and not (vboard.fs_dir.parent / "main.py").exists()


def test_a_model_name_that_cannot_be_a_board_path_is_refused_at_build(tmp_path, hyq_models):
    odd = tmp_path / "my model?.hyq"
    odd.write_bytes(Path(hyq_models["mlp"]).read_bytes())
    assert_user_error(run_cli("build", "--board", "rp2040", "-m", str(odd), "-o", str(tmp_path / "b")), "is not allowed")


def test_deploy_without_a_bundle_builds_one_for_the_board(tmp_path, hyq_models, vboard):
    """No BUNDLE: the board's arch is read and a bundle built for it (in a fresh cache) on the fly."""
    p = run_cli("deploy", "--port", vboard.port, "-m", hyq_models["mlp"], env={"HYPERION_HOME": str(tmp_path / "h")})
    assert p.returncode == 0, p.stderr
    assert "now active" in p.stdout
    st = dep.status(vboard.port)
    assert st["arch"] == "x64" and st["active"] in ("a", "b")
