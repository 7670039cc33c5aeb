"""`doctor`, `boards`, `version`: the small commands."""

import json

import hyperion
from hyperion_host.device.doctor import check_debian

from helpers import run_cli


def test_doctor_checks_real_tools():
    p = run_cli("doctor", "--json")
    assert p.returncode == 0, p.stderr
    checks = {c["name"]: c for c in json.loads(p.stdout)}
    for name in ("python", "micropython", "mpy-cross", "mpremote", "esptool", "pyserial"):
        assert checks[name]["ok"], checks[name]
    assert "arch x64" in checks["micropython"]["detail"]
    assert checks["micropython"]["detail"].startswith("MicroPython 1.")  # the release, not sys.version's 3.4.0
    assert "mpy v6" in checks["mpy-cross"]["detail"]
    for name in ("qemu-system-arm", "qemu-system-riscv32", "arm-none-eabi-gcc", "riscv64-unknown-elf-gcc"):
        assert checks[name]["ok"], checks[name]  # the emulated boards' tools (make test installs them)
    table = run_cli("doctor").stdout
    assert "micropython" in table and "esptool" in table


def test_doctor_names_the_fix_for_a_missing_tool():
    c = check_debian("no-such-tool-xyz", "no-such-pkg", "testing")
    assert not c.ok and not c.required
    assert c.fix == "sudo apt-get install no-such-pkg"


def test_boards_lists_every_board():
    p = run_cli("boards", "--json")
    boards = json.loads(p.stdout)
    for name in ("esp32", "esp32s3", "esp32c3", "rp2040", "pico_w", "rp2350"):
        b = boards[name]
        assert b["arch"] in hyperion.ARCH_NAMES
        assert b["vboard_heap"] > 64 * 1024
    assert boards["esp32"]["firmware_offset"] == 0x1000
    assert boards["esp32s3"]["firmware_offset"] == 0
    assert boards["rp2040"]["uf2_family"] == 0xE48BFF56


def test_version():
    p = run_cli("version")
    assert p.stdout.strip() == hyperion.__version__


def test_version_flag_help_and_shell_completion():
    for flag in ("--version", "-V"):
        p = run_cli(flag)
        assert p.returncode == 0 and p.stdout.strip() == hyperion.__version__, p
    # flags take no value, so their help shows no type (typer 0.29 printed `--help <bool>`); options keep theirs
    h = run_cli("infer", "--help", env={"COLUMNS": "200"}).stdout
    assert "<bool>" not in h and "--stats " in h and "<path>" in h, h
    # completion, as `hyperion-host --install-completion` sets it up for bash
    p = run_cli("--show-completion", env={"SHELL": "/bin/bash"})  # the shell comes from $SHELL (click 8.2+)
    assert "_hyperion_host_completion" in p.stdout, p
    p = run_cli(env={"_HYPERION_HOST_COMPLETE": "complete_bash", "COMP_WORDS": "hyperion-host vbo", "COMP_CWORD": "1"})
    assert p.stdout.split() == ["vboard"], p


def test_every_command_that_reports_takes_json(tmp_path):
    """--json prints one JSON document on stdout (the table or lines go away), for the commands that report."""
    import numpy as np
    from typer.main import get_command

    from hyperion_host.cli.app import app

    def leaves(c, prefix=()):
        if hasattr(c, "commands"):
            for n, sub in c.commands.items():
                yield from leaves(sub, prefix + (n,))
        else:
            yield " ".join(prefix), {o for p in c.params for o in getattr(p, "opts", [])}

    import hyperion_host.cli  # noqa: F401  (registers every group)

    reporting = ("boards", "devices", "doctor", "ops", "ls", "df", "profile", "quantize", "infer", "generate", "inspect",
                 "eval", "build", "build-kernels", "deploy", "status", "rollback", "flash", "vboard start",
                 "vboard list", "fleet plan", "fleet apply", "fleet rollback", "fleet status", "keys list",
                 "serve keys list")
    opts = dict(leaves(get_command(app)))
    assert [c for c in reporting if "--json" not in opts[c]] == []
    # a few of them, run
    src = tmp_path / "m.onnx"
    import onnx_examples as models

    models.mlp(src, k=32, hidden=32, n_out=4)
    q = json.loads(run_cli("quantize", str(src), "-o", str(tmp_path / "m.hyq"), "--json").stdout)
    assert q["output"] == str(tmp_path / "m.hyq") and len(q["layers"]) == 2
    k = json.loads(run_cli("build-kernels", "--arch", "x64", "-o", str(tmp_path / "fw"), "--json").stdout)
    assert k[0]["arch"] == "x64" and k[0]["c_kernels"] and k[0]["bytes"] > 0
    raw = tmp_path / "fw.bin"
    raw.write_bytes(bytes(1000))
    f = json.loads(run_cli("flash", "--board", "rp2040", "--firmware", str(raw), "--dry-run", "--json").stdout)
    assert f["dry_run"] and "UF2" in f["operations"][0]
    assert run_cli("serve", "keys", "add", "ann", "--keys-file", str(tmp_path / "k.json")).returncode == 0
    ks = json.loads(run_cli("serve", "keys", "list", "--keys-file", str(tmp_path / "k.json"), "--json").stdout)
    assert [(e["name"], e["role"]) for e in ks] == [("ann", "operator")] and "hash" not in json.dumps(ks)
    np.save(tmp_path / "x.npy", np.ones((1, 32), np.float32))
    r = json.loads(run_cli("infer", str(tmp_path / "m.hyq"), "--input", str(tmp_path / "x.npy"), "--json").stdout)
    assert r["shapes"]["y"] == [1, 4] and len(r["outputs"]["y"][0]) == 4


def test_vboard_port_of_a_vboard_that_is_not_running():
    from helpers import assert_user_error

    assert_user_error(run_cli("vboard", "port", "nope"), "no vboard named 'nope' is running")
