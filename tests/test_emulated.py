"""Emulated boards: the pinned MicroPython built for a Cortex-M0 (rp2040's stand-in), a RISC-V rv32 (esp32c3's)
and a Cortex-M7 (rp2350's), run in QEMU. The example models run there from a ROMFS bundle with parity against
the host reference; instruction counts are deterministic; bad input gets a one-line error."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperion_host.boards import get_board
from hyperion_host.device import qemu
from hyperion_host.errors import HyperionError

from helpers import run_cli

pytestmark = pytest.mark.emulated

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
CORES = {"rp2040": 4, "esp32c3": 11, "rp2350": 8}  # board -> sys.implementation._mpy arch number of its core


def profile_json(*args):
    p = run_cli("profile", *args, "--json", timeout=900)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("board", sorted(CORES))
def test_an_emulated_vboard_is_a_board_for_mpremote_and_the_cli(board):
    name = "em-" + board
    p = run_cli("vboard", "start", "--board", board, "--emulate", "--name", name, timeout=600)
    assert p.returncode == 0, p.stderr
    port = p.stdout.strip().splitlines()[-1]
    try:
        assert port.startswith("/dev/")
        r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec",
                            "import sys; print(sys.implementation._mpy >> 10 & 15)"], capture_output=True, text=True,
                           timeout=60)
        assert r.stdout.strip() == str(CORES[board]), r
        e = run_cli("exec", "import gc; gc.collect(); print(gc.mem_free())", "--port", name)
        free = int(e.stdout.strip())
        assert get_board(board)["vboard_heap"] * 0.9 < free <= get_board(board)["vboard_heap"]  # the board's heap
        listed = json.loads(run_cli("vboard", "list", "--json").stdout)
        assert [v["emulated"] for v in listed if v["name"] == name] == [qemu.target_of(get_board(board))]
    finally:
        assert run_cli("vboard", "stop", "--name", name).returncode == 0
    info = json.loads(run_cli("vboard", "list", "--json").stdout)
    assert name not in [v["name"] for v in info]


def test_a_romfs_bundle_boots_on_the_emulated_board_and_load_finds_its_models(tmp_path):
    bundle = tmp_path / "pico"
    assert run_cli("build", "--board", "rp2040", "-m", str(MODELS / "digits" / "digits.hyq"), "-o", str(bundle),
                   "--romfs").returncode == 0
    p = run_cli("vboard", "start", "--board", "rp2040", "--emulate", "--romfs", str(bundle / "romfs.img"),
                "--name", "emrom", timeout=600)
    assert p.returncode == 0, p.stderr
    try:
        e = run_cli("exec", "import hyperion\nm = hyperion.load('digits')\nprint(m.path, m.mode, "
                    "hyperion.info()['kernels'][0])", "--port", "emrom")
        assert e.stdout.split() == ["/rom/models/digits.hyq", "rom", "c"], e
        d = run_cli("deploy", str(bundle), "--port", "emrom")
        assert d.returncode != 0 and "ROMFS" in d.stderr and "Traceback" not in d.stderr, d.stderr
    finally:
        run_cli("vboard", "stop", "--name", "emrom")


def test_profile_counts_are_deterministic_and_match_the_host():
    a = profile_json(str(MODELS / "digits" / "digits.hyq"), "--board", "rp2040")
    b = profile_json(str(MODELS / "digits" / "digits.hyq"), "--board", "rp2040")
    assert a["instructions"] == b["instructions"] > 1_000_000
    assert [o["instructions"] for o in a["ops"]] == [o["instructions"] for o in b["ops"]]
    assert a["heap"] == b["heap"]
    assert a["parity"]["max_abs_diff"] <= 1e-3
    assert a["arch"] == "armv6m" and a["unit"] == "inference"
    assert a["instructions_per_mac"] == a["instructions"] / a["macs"]
    assert sum(o["instructions"] for o in a["ops"]) <= a["instructions"]
    assert {o["kernel"] for o in a["ops"] if o["op"] in ("conv", "linear", "maxpool")} == {"c"}
    assert a["estimated_ms"] == pytest.approx(a["instructions"] / 125e6 * 1000)


def test_an_encrypted_model_runs_on_the_emulated_core_with_the_c_aes(tmp_path):
    """The emulated firmware has hashlib but no cryptolib: the board checks the MAC and decrypts the weights with
    the C kernels' AES-256 as they stream, with the plain model's parity (docs/security.md)."""
    key = tmp_path / "m.key"
    assert run_cli("keys", "new", str(key)).returncode == 0
    enc = tmp_path / "digits.hyq"
    p = run_cli("encrypt", str(MODELS / "digits" / "digits.hyq"), "--key", str(key), "-o", str(enc))
    assert p.returncode == 0, p.stderr
    plain = profile_json(str(MODELS / "digits" / "digits.hyq"), "--board", "rp2040")
    r = profile_json(str(enc), "--board", "rp2040", "--model-key", str(key))
    assert r["parity"]["ok"] and r["parity"]["max_abs_diff"] <= 1e-3, r["parity"]
    assert {o["kernel"] for o in r["ops"] if o["op"] in ("conv", "linear")} == {"c"}
    # streamed and decrypted (no weights in place in ROMFS): more work per inference than the plain model's
    assert r["instructions"] > plain["instructions"]
    p = run_cli("profile", str(enc), "--board", "rp2040")
    assert p.returncode != 0 and "--model-key" in p.stderr and "Traceback" not in p.stderr, p.stderr


@pytest.mark.parametrize("model", ["digits", "kws", "tinylm"])
@pytest.mark.parametrize("board", sorted(CORES))
def test_every_example_model_runs_on_every_emulated_core(model, board):
    # esp32c3's standard ROMFS partition holds 128 KB: the bigger models need a board flashed with a 1 MB one
    extra = ["--romfs-size", "1M"] if board == "esp32c3" and model != "digits" else []
    if (board, model) == ("esp32c3", "tinylm"):  # a C3's 150 KB heap cannot hold the decoder: a clear error
        p = run_cli("profile", str(MODELS / model / (model + ".hyq")), "--board", board, *extra, timeout=900)
        assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
        assert "does not fit the esp32c3's 150 KB heap" in p.stderr and "KB already in use" in p.stderr, p.stderr
        return
    r = profile_json(str(MODELS / model / (model + ".hyq")), "--board", board, "--tokens", "2", *extra)
    assert r["parity"]["ok"], r["parity"]
    assert r["unit"] == ("token" if model == "tinylm" else "inference")
    assert r["instructions"] > 100_000 and r["heap"]["total"] < get_board(board)["vboard_heap"]
    if model != "tinylm":
        assert r["parity"]["max_abs_diff"] <= 1e-3
        assert {o["kernel"] for o in r["ops"] if o["op"] in ("conv", "linear")} == {"c"}


@pytest.mark.parametrize("board", ["rp2040", "esp32c3"])
def test_the_three_kernel_paths_run_on_the_emulated_core_and_c_is_fastest(board):
    """The C, viper and bytecode kernels on the board's own core, each within the host's parity."""
    r = {k: profile_json(str(MODELS / "digits" / "digits.hyq"), "--board", board, "--kernels", k)
         for k in ("c", "viper", "python")}
    for k, v in r.items():
        assert v["parity"]["max_abs_diff"] <= 1e-3, (k, v["parity"])
        assert {o["kernel"] for o in v["ops"] if o["op"] in ("conv", "linear")} == {k}
    assert r["python"]["instructions"] > 5 * r["viper"]["instructions"]  # native code pays off on the board
    assert r["viper"]["instructions"] > 3 * r["c"]["instructions"]  # and C beats viper's machine code


@pytest.mark.parametrize("board", ["rp2040", "esp32c3"])
def test_a_frozen_firmware_runs_the_builtin_c_kernels_in_less_heap(board):
    """Hyperion frozen into the firmware with its C kernels compiled in (firmware/manifest.py): the ROMFS holds
    only the model, load() picks the builtin kernels, and the results and the kernels' speed are those of the
    .mpy build, with the package's and the kernels' code out of the heap."""
    model = str(MODELS / "digits" / "digits.hyq")
    frozen = profile_json(model, "--board", board, "--frozen")
    mpy = profile_json(model, "--board", board, "--kernels", "c")
    assert frozen["frozen"] and not mpy["frozen"]
    for r in (frozen, mpy):
        assert {o["kernel"] for o in r["ops"] if o["op"] in ("conv", "linear")} == {"c"}
    assert frozen["parity"]["max_abs_diff"] <= 1e-3
    assert frozen["instructions"] < 1.2 * mpy["instructions"]
    assert frozen["heap"]["total"] < mpy["heap"]["total"] - 16384  # at least the C kernels' code


@pytest.mark.parametrize("args, says", [
    (["--board", "nope"], "unknown board 'nope'"),
    (["--board", "esp32s3"], "has no emulated core"),
    (["--board", "esp32c3", "--romfs-size", "64M"], "ROMFS partition"),
])
def test_profile_errors_are_one_line(args, says):
    p = run_cli("profile", str(MODELS / "digits" / "digits.hyq"), *args)
    assert p.returncode != 0 and says in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_a_bundle_too_big_for_the_boards_romfs_says_what_it_needs():
    p = run_cli("profile", str(MODELS / "tinylm" / "tinylm.hyq"), "--board", "esp32c3")  # 212 KB of weights
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "needs" in p.stderr and "holds 128 KB" in p.stderr and "--romfs-size" in p.stderr, p.stderr


def test_qemu_that_dies_is_a_clear_error_not_a_hang(tmp_path):
    emu = qemu.Emulator(get_board("rp2040"))
    emu.cmd[-1] = str(tmp_path / "missing.elf")  # QEMU opens the serial pty, then cannot load the kernel
    with pytest.raises(HyperionError, match="QEMU exited with status 1 before the board came up: .*missing.elf"):
        emu.start()
    assert emu.proc.poll() is not None


def test_infer_on_an_x64_vboard_says_its_latency_is_host_speed(tmp_path, vboard):
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), np.float32))
    p = run_cli("infer", str(MODELS / "digits" / "digits.hyq"), "--input", str(tmp_path / "x.npy"), "--port",
                vboard.name, "--stats")
    assert p.returncode == 0, p.stderr
    assert "host speed" in p.stderr and "hyperion-host profile" in p.stderr


SPIN = {"systick": """
@micropython.asm_thumb
def spin(r0):
    label(loop)
    sub(r0, r0, 1)
    bne(loop)
""", "instret": """
@micropython.asm_rv32
def spin(a0):
    label(loop)
    c_addi(a0, -1)
    bne(a0, zero, loop)
"""}


@pytest.mark.parametrize("board", sorted(CORES))
def test_the_instruction_clock_counts_instructions(board):
    """A loop of a known number of instructions (2 per turn), timed with profile's clock on each core."""
    from hyperion_host import mpbuild
    from hyperion_host.device.transport import Board
    from hyperion_host.ship.profile import CLOCKS

    kind, per_unit = mpbuild.TARGETS[qemu.target_of(get_board(board))]["clock"]
    code = CLOCKS[kind] + SPIN[kind] + "\nspin(10)\nfor n in (100000, 1000000):\n    t = _clock()\n    spin(n)\n" \
                                       "    print(_clock() - t)\n"  # spin(10) first: a first call costs more
    with qemu.Emulator(get_board(board)) as emu, Board(emu.port, timeout=30) as b:
        small, big = (int(v) * per_unit for v in b.exec(code, timeout=120).decode().split())
    # 0.5%: the clock calls cost a little more or less from one reading to the next; a wrong scale is off by 36%+
    assert big - small == pytest.approx(1_800_000, rel=5e-3)


def test_a_missing_toolchain_names_its_debian_packages(tmp_path):
    # only the venv's own tools on PATH: no QEMU, no cross compiler
    p = run_cli("profile", str(MODELS / "digits" / "digits.hyq"), "--board", "rp2040",
                env={"PATH": os.path.dirname(sys.executable)})
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    assert "sudo apt-get install qemu-system-arm" in p.stderr, p.stderr


@pytest.mark.parametrize("board", ["rp2040", "esp32c3"])
def test_every_onnx_op_runs_on_the_emulated_core_like_the_host(board, tmp_path):
    """One ONNX node case per supported op, as a .hyq in ROMFS, run with the C kernels built for the board's core
    (soft-float on both): the outputs match the host's reference runtime."""
    import numpy as np
    import onnx
    from test_runtime import BATCH

    from hyperion_host import mpbuild
    from hyperion_host.device.transport import Board
    from hyperion_host.files import write_atomic
    from hyperion_host.firmware import compile_firmware
    from hyperion_host.model.hyqfile import load_program
    from hyperion_host.model.onnx_import import import_onnx
    from hyperion_host.model.quantize import Options, quantize_model
    from hyperion_host.ship.romfs import make_image

    from onnx_cases import ALL_ACTIVATIONS, freeze_inputs, node_cases

    b = get_board(board)
    img_dir = tmp_path / "img"
    compile_firmware(b["arch"], img_dir / "lib")
    (img_dir / "models").mkdir()
    smallest = {}  # per op, its case with the fewest values (a board's heap)
    for case in node_cases():
        op, size = case[1].graph.node[0].op_type, sum(np.size(a) for a in case[2] + case[3])
        if op not in smallest or size < smallest[op][0]:
            smallest[op] = (size, case)
    cases = []
    for op, (_, (name, model, ins, outs)) in sorted(smallest.items()):
        m, feeds = freeze_inputs(model, ins, len(ins) if ALL_ACTIVATIONS.match(name) else 1)
        onnx.save(m, str(tmp_path / "m.onnx"))
        g = import_onnx(str(tmp_path / "m.onnx"))
        blob, _ = quantize_model(str(tmp_path / "m.onnx"), Options(act="float", keep_float=[o.name for o in g.ops]))
        write_atomic(img_dir / "models" / (op + ".hyq"), blob)
        prog, _ = load_program(str(img_dir / "models" / (op + ".hyq")))
        host = [prog.run(feeds)[o] for o in prog.outputs]
        raws = [np.ascontiguousarray(feeds[n], "<f4").tobytes() for n in prog.inputs]
        cases.append(("/rom/models/%s.hyq" % op, raws, host))
    img = tmp_path / "romfs.img"
    img.write_bytes(make_image(img_dir, ["lib", "models"]))
    code = "CASES = %r\nKERNELS = 'c'\n" % ([(p, r) for p, r, _ in cases],) + BATCH
    part = mpbuild.TARGETS[qemu.target_of(b)]["romfs"][1]
    with qemu.Emulator(b, romfs=img, romfs_size=part) as emu, Board(emu.port, timeout=30) as dev:
        text = dev.exec(code, timeout=900).decode().replace("\r", "")
    got = {}
    for line in text.splitlines():
        kind, path, rest = (line.split(" ", 2) + [""])[:3]
        got[path] = [np.frombuffer(bytes.fromhex(h), "<f4") for h in rest.split()] if kind == "OK" else rest
    bad = []
    for path, _, host in cases:
        res = got.get(path)
        if not isinstance(res, list) or len(res) != len(host):
            bad.append("%s: %s" % (path, res))
            continue
        for h, g in zip(host, res):
            h = np.asarray(h, np.float32).ravel()
            if g.shape != h.shape or float(np.nanmax(np.abs(g - h), initial=0.0)) > 1e-5 * max(1.0, float(np.abs(h).max())):
                bad.append("%s: %s" % (path, np.abs(g - h).max() if g.shape == h.shape else g.shape))
    assert len(cases) >= 60 and not bad, bad
