"""Device commands (`devices`, `exec`, `run`, `cp`, `ls`, `mkdir`, `rm`, `cat`, `df`, `reset`) against a real vboard,
through the CLI."""

import json
import os
import pty
import select
import subprocess
import time

import serial

from helpers import BIN, assert_user_error, run_cli


def test_devices_identifies_the_vboard(vboard):
    p = run_cli("devices", "--json")
    assert p.returncode == 0, p.stderr
    rows = {r["port"]: r for r in json.loads(p.stdout)}
    row = rows[vboard.port]
    assert row["kind"] == "vboard" and row["name"] == vboard.name
    assert row["implementation"] == "micropython"
    assert row["arch"] == "x64"  # from sys.implementation._mpy
    assert (row["mpy"] >> 10) & 0xF == 2
    table = run_cli("devices").stdout
    assert vboard.port in table and "x64" in table


def test_exec_by_vboard_name_and_by_env(vboard):
    p = run_cli("exec", "print('hi', 1 + 1)", "--port", vboard.name)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "hi 2"
    p = run_cli("exec", "import sys; print(sys.platform)", env={"HYPERION_PORT": vboard.port})
    assert p.stdout.strip() == "linux", p.stderr


def test_exec_board_exception_exits_1_with_board_traceback(vboard):
    p = run_cli("exec", "print('before')\nraise ValueError('bad thing')", "--port", vboard.name)
    assert p.returncode == 1
    assert p.stdout.strip() == "before"
    assert "ValueError: bad thing" in p.stderr


def test_run_file_streams_output(vboard, tmp_path):
    f = tmp_path / "job.py"
    f.write_text("for i in range(3):\n    print('line', i)\n")
    p = run_cli("run", str(f), "--port", vboard.name)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["line 0", "line 1", "line 2"]
    assert_user_error(run_cli("run", str(tmp_path / "missing.py"), "--port", vboard.name), "cannot read")


def test_cp_both_ways_and_ls(vboard, tmp_path):
    data = bytes(range(256)) * 9
    src = tmp_path / "w.bin"
    src.write_bytes(data)
    p = run_cli("cp", str(src), ":models/", "--port", vboard.name)  # a fresh board: cp makes :models
    assert p.returncode == 0, p.stderr
    assert (vboard.fs_dir / "models" / "w.bin").read_bytes() == data
    ls = run_cli("ls", ":models", "--port", vboard.name)
    assert ls.returncode == 0, ls.stderr
    assert ls.stdout.split() == [str(len(data)), "w.bin"]
    out = tmp_path / "out"
    out.mkdir()
    p = run_cli("cp", ":models/w.bin", str(out), "--port", vboard.name)
    assert p.returncode == 0, p.stderr
    assert (out / "w.bin").read_bytes() == data
    assert not list(out.glob("*.part"))


def test_mkdir_rm_cat_df_and_exec_from_stdin(vboard, tmp_path):
    fs = vboard.fs_dir
    assert run_cli("mkdir", ":t/a/b", "--port", vboard.name).returncode == 0 and (fs / "t" / "a" / "b").is_dir()
    (fs / "t" / "a" / "f.txt").write_bytes(b"hello\n\tworld")
    p = run_cli("cat", ":t/a/f.txt", "--port", vboard.name)
    assert p.returncode == 0 and p.stdout == "hello\n\tworld"  # the bytes as they are
    assert_user_error(run_cli("rm", ":t", "--port", vboard.name), "cannot remove ':t'", "rm -r")
    assert_user_error(run_cli("mkdir", ":t/a/f.txt", "--port", vboard.name), "cannot make ':t/a/f.txt'")
    assert (fs / "t" / "a" / "f.txt").exists()
    assert run_cli("rm", ":t/a/f.txt", "--port", vboard.name).returncode == 0 and not (fs / "t/a/f.txt").exists()
    assert run_cli("rm", "-r", ":t", "--port", vboard.name).returncode == 0 and not (fs / "t").exists()
    assert_user_error(run_cli("rm", ":nope", "--port", vboard.name), "cannot remove ':nope'", "ENOENT")
    assert_user_error(run_cli("rm", "-r", ":/", "--port", vboard.name), "refusing")
    assert_user_error(run_cli("cat", ":nope", "--port", vboard.name), "cannot read ':nope'")
    d = json.loads(run_cli("df", "--json", "--port", vboard.name).stdout)
    assert d["total"] >= d["free"] > 0 and d["used"] == d["total"] - d["free"]
    p = run_cli("exec", "-", "--port", vboard.name, input="x = 6\nprint(x * 7)\n")
    assert p.returncode == 0 and p.stdout.strip() == "42", p


def test_cp_r_ls_l_json_and_reset(vboard, tmp_path):
    src = tmp_path / "proj"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"A" * 3000)
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)))
    p = run_cli("cp", "-r", str(src), ":", "--port", vboard.name)
    assert p.returncode == 0 and "2 files, 3256 bytes" in p.stdout, p
    fs = vboard.fs_dir
    assert (fs / "proj" / "a.txt").read_bytes() == b"A" * 3000 and (fs / "proj/sub/b.bin").read_bytes() == bytes(range(256))
    assert_user_error(run_cli("cp", str(src), ":", "--port", vboard.name), "is a folder", "cp -r")
    back = tmp_path / "back"
    assert run_cli("cp", "-r", ":proj", str(back), "--port", vboard.name).returncode == 0
    assert (back / "sub" / "b.bin").read_bytes() == bytes(range(256)) and (back / "a.txt").stat().st_size == 3000
    rows = json.loads(run_cli("ls", ":proj", "-l", "--json", "--port", vboard.name).stdout)
    assert [(r["name"], r["dir"], r["size"]) for r in rows] == [("a.txt", False, 3000), ("sub", True, rows[1]["size"])]
    assert abs(rows[0]["mtime"] - (fs / "proj" / "a.txt").stat().st_mtime) < 5  # seconds since 1970, as the host's
    long = run_cli("ls", "-l", ":proj", "--port", vboard.name).stdout
    assert "a.txt" in long and time.strftime("%Y-%m-%d", time.gmtime()) in long
    # reset: a hard reset restarts the interpreter (what was defined is gone); --soft says 'soft reboot'
    run_cli("exec", "import sys\nsys.hyperion_mark = 1", "--port", vboard.name, "--no-reset")
    p = run_cli("reset", "--port", vboard.name)
    assert p.returncode == 0 and "restarted" in p.stdout, p
    p = run_cli("exec", "import sys\nprint(hasattr(sys, 'hyperion_mark'))", "--port", vboard.name, "--no-reset")
    assert p.stdout.strip() == "False", p
    p = run_cli("reset", "--soft", "--port", vboard.name)
    assert p.returncode == 0 and "soft reset" in p.stdout, p
    assert run_cli("exec", "print(7)", "--port", vboard.name).stdout.strip() == "7"


def test_cp_and_ls_errors(vboard, tmp_path):
    assert_user_error(run_cli("cp", "a", "b", "--port", vboard.name), "exactly one of SRC and DST")
    assert_user_error(run_cli("cp", str(tmp_path / "nope"), ":", "--port", vboard.name), "no such local file")
    p = run_cli("cp", ":nope.bin", str(tmp_path), "--port", vboard.name)
    assert_user_error(p, "cannot read ':nope.bin'")
    assert not (tmp_path / "nope.bin").exists()
    assert_user_error(run_cli("ls", ":nodir", "--port", vboard.name), "cannot list ':nodir'", "ENOENT")


def test_unknown_port_lists_available_devices(vboard):
    p = run_cli("exec", "1", "--port", "/dev/ttyNOPE9")
    assert_user_error(p, "unknown port '/dev/ttyNOPE9'", vboard.port, vboard.name)


def test_default_port_needs_exactly_one_device(vboard, start_vboard):
    other = start_vboard()
    p = run_cli("exec", "print(1)")
    assert_user_error(p, "several devices found", "--port", vboard.port, other.port)


def test_busy_port_is_reported(vboard):
    with serial.Serial(vboard.port, 115200, exclusive=True):
        p = run_cli("exec", "print(1)", "--port", vboard.name)
    assert_user_error(p, "busy")


def test_repl_is_interactive(vboard):
    """`hyperion-host repl` in a real terminal: type an expression, read the answer, leave with Ctrl-]."""
    master, slave = pty.openpty()
    p = subprocess.Popen([os.path.join(BIN, "hyperion-host"), "repl", "--port", vboard.name],
                         stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""

    def wait_for(token, timeout=10):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while token not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        return token in seen

    try:
        assert wait_for(b"Connected to MicroPython"), seen
        os.write(master, b"\r")
        assert wait_for(b">>> "), seen
        os.write(master, b"6*7\r")
        assert wait_for(b"42"), seen
        os.write(master, b"\x1d")  # Ctrl-]
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)


def test_repl_on_a_board_without_the_firmware_says_how_to_install_it(start_vboard):
    fresh = start_vboard()
    p = run_cli("repl", "--port", fresh.name, input="", timeout=60)
    assert "`import hyperion` fails there" in p.stderr and "deploy --port %s" % fresh.name in p.stderr, p.stderr
    assert run_cli("deploy", "--port", fresh.name, timeout=300).returncode == 0
    p = run_cli("repl", "--port", fresh.name, input="", timeout=60)
    assert "import hyperion" not in p.stderr, p.stderr
