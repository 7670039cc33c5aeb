"""The virtual board behaves like a USB MicroPython board to the real mpremote and pyserial."""

import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest
import serial

from hyperion_host.boards import get_board
from hyperion_host.device.vboard import manager

from helpers import assert_user_error, mpremote, run_cli


def read_until(ser, ending, timeout=5.0):
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(ending) and time.monotonic() < deadline:
        data += ser.read(1)
    return data


def test_mpremote_exec_runs_code(vboard):
    p = mpremote("connect", vboard.port, "exec", "print(6 * 7)")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "42"


def test_mpremote_reports_exceptions(vboard):
    p = mpremote("connect", vboard.port, "exec", "1/0")
    assert p.returncode == 1
    assert "ZeroDivisionError" in p.stdout + p.stderr


def test_mpremote_fs_cp_round_trip_binary(vboard, tmp_path):
    payload = bytes(range(256)) * 20 + b"\r\n\n\r\x04\x03\x01"  # control bytes must survive the REPL
    src = tmp_path / "blob.bin"
    src.write_bytes(payload)
    back = tmp_path / "back.bin"
    p = mpremote("connect", vboard.port, "fs", "cp", str(src), ":blob.bin",
                 "+", "fs", "cp", ":blob.bin", str(back))
    assert p.returncode == 0, p.stderr
    assert back.read_bytes() == payload
    # the board's filesystem is the vboard's own directory
    assert (vboard.fs_dir / "blob.bin").read_bytes() == payload


def test_filesystem_is_the_vboards_own_directory(vboard):
    (vboard.fs_dir / "marker.txt").write_text("m")
    p = mpremote("connect", vboard.port, "exec", "import os; print(sorted(os.listdir('/')))")
    assert p.returncode == 0, p.stderr
    names = eval(p.stdout.strip())
    assert "marker.txt" in names
    assert "usr" not in names and "proc" not in names  # not the host's root


ESCAPES = """
import os, vfs
r = []
try:
    open('/../../../etc/passwd').read()
    r.append('read /etc/passwd')
except OSError:
    pass
os.system('echo x > /tmp/%(probe)s; echo x > %(home)s/%(probe)s; echo x > /board/shell.txt')
vfs.mount(vfs.VfsPosix('/'), '/host')
seen = os.listdir('/host')
for d in ('etc', 'home', 'proc', 'var'):
    if d in seen:
        r.append('sees /' + d)
try:
    if 'README.md' in os.listdir('/host' + %(repo)r):
        r.append('sees the repository')
except OSError:
    pass
print('ESCAPES', r)
"""


def test_code_on_a_vboard_cannot_reach_this_computer(vboard, tmp_path):
    """The interpreter runs under bubblewrap (installed by `make test`'s sysdeps; no skip when it is missing):
    `..` paths, os.system and mounting the host's `/` all stay inside the sandbox, whose only writable folder
    is the vboard's own."""
    probe = "hyq-probe-%d" % os.getpid()
    info = manager.VBoard(vboard.name).run_info()
    assert info["sandboxed"], "bubblewrap is missing or cannot run here: sudo apt-get install bubblewrap"
    repo = str(Path(__file__).resolve().parent.parent)
    p = mpremote("connect", vboard.port, "exec", ESCAPES % {"probe": probe, "home": str(tmp_path), "repo": repo})
    assert p.returncode == 0, p.stderr
    assert "ESCAPES []" in p.stdout, p.stdout
    assert not os.path.exists("/tmp/" + probe) and not (tmp_path / probe).exists()
    assert (vboard.fs_dir / "shell.txt").read_text() == "x\n"  # its own folder: the one place it writes
    (vboard.fs_dir / "shell.txt").unlink()


def test_the_relay_refuses_a_vboard_that_is_not_sandboxed(monkeypatch):
    from hyperion_host.relay.boards import BoardPool

    vb = manager.start("t-nosbx", heap=None)
    try:
        info = vb.run_info()
        (vb.dir / "run.json").write_text(json.dumps(dict(info, sandboxed=False)))
        with pytest.raises(Exception, match="not sandboxed"):
            BoardPool(["t-nosbx"])
    finally:
        manager.stop("t-nosbx", erase=True)


def test_soft_reset_clears_state_and_restarts(vboard):
    before = vboard.vb.run_info()["restarts"]
    p = mpremote("connect", vboard.port, "exec", "x = 1", "+", "soft-reset", "+",
                 "exec", "print('x' in globals())")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"
    assert vboard.vb.run_info()["restarts"] > before


def test_boot_py_runs_at_every_soft_reset(vboard):
    (vboard.fs_dir / "boot.py").write_text("f = open('boot.log', 'a')\nf.write('boot\\n')\nf.close()\n")
    try:
        p = mpremote("connect", vboard.port, "soft-reset", "+", "soft-reset", "+", "exec", "print(1)")
        assert p.returncode == 0, p.stderr
        assert (vboard.fs_dir / "boot.log").read_text().count("boot") >= 2
    finally:
        (vboard.fs_dir / "boot.py").unlink()


def test_comes_back_after_interpreter_is_killed(vboard):
    old = vboard.interp_pid
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while vboard.interp_pid == old and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vboard.interp_pid != old
    p = mpremote("connect", vboard.port, "exec", "print('back')")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "back"


def test_raw_repl_raw_paste_and_ctrl_d_soft_reboot(vboard):
    with serial.Serial(vboard.port, 115200, timeout=0.1) as s:
        s.write(b"\r\x03\r\x01")
        assert read_until(s, b"raw REPL; CTRL-B to exit\r\n>").endswith(b"raw REPL; CTRL-B to exit\r\n>")
        s.write(b"\x05A\x01")  # raw-paste: the board answers R\x01 and its window size
        assert read_until(s, b"\x01", timeout=3).endswith(b"R\x01")
        s.read(2)  # window size
        s.write(b"print('pasted')\x04")
        out = read_until(s, b"\x04>")
        assert b"pasted\r\n" in out
        s.write(b"\x04")  # Ctrl-D at the empty raw prompt: soft reset, back into the raw REPL
        out = read_until(s, b"raw REPL; CTRL-B to exit\r\n>")
        assert b"OK" in out and b"MPY: soft reboot\r\n" in out
        assert out.endswith(b"raw REPL; CTRL-B to exit\r\n>")
        s.write(b"print(2+3)\x04")
        assert b"OK5\r\n" in read_until(s, b"\x04>")
        s.write(b"\r\x02")


def test_friendly_repl_ctrl_c_interrupts_and_ctrl_d_reboots(vboard):
    with serial.Serial(vboard.port, 115200, timeout=0.1) as s:
        s.write(b"\r\x03\r\x02")
        read_until(s, b">>> ")
        s.write(b"1+1\r")
        assert b"2\r\n>>> " in read_until(s, b"2\r\n>>> ")
        s.write(b"while True: pass\r\r")
        time.sleep(0.5)
        s.write(b"\x03")
        out = read_until(s, b">>> ")
        assert b"KeyboardInterrupt" in out
        s.write(b"\x04")
        out = read_until(s, b">>> ")
        assert b"MPY: soft reboot\r\n" in out and b"MicroPython" in out


def test_heap_comes_from_the_board_file(start_vboard):
    """The board's heap, grown by the 64-bit word factor for the x64 interpreter (the unix board is x64 itself)."""
    for board, heap, factor in (("esp32", None, 1.3), ("rp2040", "96K", 1.3), ("unix", "512K", 1.0)):
        vb = start_vboard(board=board, heap=heap)
        want = int((int(heap[:-1]) * 1024 if heap else get_board(board)["vboard_heap"]) * factor)
        p = mpremote("connect", vb.port, "exec", "import gc; gc.collect(); print(gc.mem_free() + gc.mem_alloc())")
        assert p.returncode == 0, p.stderr
        total = int(p.stdout.strip())
        assert abs(total - want) <= want * 0.02, (board, total, want)


def test_start_prints_port_last_and_list_shows_it(tmp_path):
    p = run_cli("vboard", "start", "--name", "cli1", "--board", "pico_w")
    try:
        assert p.returncode == 0, p.stderr
        port = p.stdout.strip().splitlines()[-1]
        assert stat.S_ISCHR(os.stat(port).st_mode)
        rows = json.loads(run_cli("vboard", "list", "--json").stdout)
        row = [r for r in rows if r["name"] == "cli1"][0]
        assert row["port"] == port and row["board"] == "pico_w"
        assert "cli1" in run_cli("vboard", "list").stdout
        # starting the same name again is a clear error
        again = run_cli("vboard", "start", "--name", "cli1")
        assert_user_error(again, "already running", port)
    finally:
        stop = run_cli("vboard", "stop", "--name", "cli1")
    assert stop.returncode == 0, stop.stderr
    assert manager.find("cli1") is None
    assert not os.path.exists(manager.VBoard("cli1").dir / "run.json")


def test_stale_pid_file_is_cleaned_up():
    vb = manager.start("stale1")
    info = vb.run_info()
    os.kill(info["pid"], signal.SIGKILL)  # the supervisor dies without cleaning up
    time.sleep(0.2)
    assert vb.status() == "stale"
    rows = json.loads(run_cli("vboard", "list", "--json").stdout)
    assert all(r["name"] != "stale1" for r in rows)
    p = run_cli("vboard", "start", "--name", "stale1")
    assert p.returncode == 0, p.stderr
    assert "stale" in p.stderr
    try:
        new_port = p.stdout.strip().splitlines()[-1]
        q = mpremote("connect", new_port, "exec", "print('fresh')")
        assert q.stdout.strip() == "fresh", q.stderr
    finally:
        manager.stop("stale1", erase=True)


def test_bad_vboard_input_is_a_one_line_error():
    assert_user_error(run_cli("vboard", "stop", "--name", "nosuch"), "no vboard named 'nosuch'")
    assert_user_error(run_cli("vboard", "start", "--name", "x1", "--board", "nosuchboard"),
                      "unknown board 'nosuchboard'", "rp2040")
    assert_user_error(run_cli("vboard", "start", "--name", "x2", "--heap", "lots"), "bad size 'lots'")
    assert_user_error(run_cli("vboard", "start", "--name", "../evil"), "bad vboard name")
