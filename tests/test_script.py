"""`hyperion-host script run` (local unix port and vboards), the board commands, and `hyperion-host shell`
in a real terminal. The reference for errors is tclsh 8.6."""

import fcntl
import json
import os
import pty
import select
import shutil
import subprocess
import termios
import time

import pytest

from hyperion_host.device import script
from hyperion_host.device.transport import Board

from helpers import BIN, assert_user_error, run_cli

needs_tclsh = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh 8.6 (Debian tcl8.6) not installed")

GOOD = """\
proc sq {n} { expr {$n * $n} }
set out {}
foreach i {1 2 3 4} { lappend out [sq $i] }
puts "squares: $out"
puts stderr "to stderr"
puts [format "%-6s|%5.2f" pi 3.14159]
"""
BAD = """\
puts before
set x [expr {1 +}]
puts after
"""


def tclsh(path):
    p = subprocess.run(["tclsh", str(path)], capture_output=True)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good.tcl"
    good.write_text(GOOD)
    bad = tmp_path / "bad.tcl"
    bad.write_text(BAD)
    return good, bad


def test_run_local_streams_output_like_tclsh(files):
    good, _ = files
    p = run_cli("script", "run", str(good), "--local")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "squares: 1 4 9 16\npi    | 3.14\n"
    assert p.stderr == "to stderr\n"


@needs_tclsh
def test_run_local_uncaught_error_matches_tclsh(files):
    _, bad = files
    p = run_cli("script", "run", str(bad), "--local")
    rc, out, err = tclsh(bad)
    assert (p.returncode, p.stdout) == (rc, out) == (1, "before\n")
    assert p.stderr.splitlines()[0] == err.splitlines()[0] == "missing operand at _@_"
    assert "Traceback" not in p.stderr


def test_run_local_output_is_live(tmp_path):
    """The first line arrives while the script is still running (not when MicroPython exits)."""
    f = tmp_path / "slow.tcl"
    f.write_text("puts first\nafter 1500\nputs second\n")
    proc = subprocess.Popen([os.path.join(BIN, "hyperion-host"), "script", "run", str(f), "--local"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    first = proc.stdout.readline()
    seen_after = time.monotonic() - t0
    rest, _ = proc.communicate(timeout=30)
    assert first == b"first\n" and rest == b"second\n"
    assert seen_after < 1.2, seen_after


@pytest.mark.parametrize("where", ["local", "vboard"])
def test_a_runaway_script_stops_at_its_time_limit(tmp_path, start_vboard, where):
    """`while 1 {}` (an empty body still counts) and a busy loop stop at --timeout with a Tcl error, exit 1."""
    vboard = start_vboard() if where == "vboard" else None
    for body in ("while 1 {}", "set i 0\nwhile 1 {incr i}"):
        f = tmp_path / "spin.tcl"
        f.write_text("puts start\n" + body + "\n")
        t0 = time.monotonic()
        p = run_cli("script", "run", str(f), "--timeout", "1",
                    *(["--local"] if where == "local" else ["--port", vboard.name]))
        assert p.returncode == 1 and p.stdout == "start\n", p
        assert "time limit exceeded (1.0 s)" in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert time.monotonic() - t0 < 30


def test_script_run_local_dies_with_its_parent(tmp_path):
    """SIGTERM to `script run --local` leaves no MicroPython running."""
    import signal

    f = tmp_path / "spin.tcl"
    f.write_text("puts go\nwhile 1 {}\n")
    proc = subprocess.Popen([os.path.join(BIN, "hyperion-host"), "script", "run", str(f), "--local", "--timeout", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"go\n"
    kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert kids
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists("/proc/%s" % k) for k in kids):
        time.sleep(0.1)
    assert not any(os.path.exists("/proc/%s" % k) for k in kids)


def test_tcl_scripts_cannot_escape_as_python_errors(tmp_path):
    """Huge widths, indices past a machine word, huge powers and deep nesting: Tcl errors `catch` sees, quickly."""
    f = tmp_path / "x.tcl"
    f.write_text("\n".join([
        "puts [catch {format %1000000000d 1}]",
        "puts [catch {lrange {a b} 0 99999999999999999999}]",
        "puts [catch {after 99999999999999999999}]",
        "puts \"[catch {expr {2**800000}} m] $m\"",
        "set s [string repeat \\{ 20000][string repeat \\} 20000]",
        "puts \"[catch {eval \"set x $s\"} m] $m\"",
    ]) + "\n")
    t0 = time.monotonic()
    p = run_cli("script", "run", str(f), "--local")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p
    assert p.stdout.splitlines() == ["1", "1", "1", "1 exponent too large", "1 braces nested more than 1000 deep"]
    f.write_text("set x " + "{" * 100000 + "}" * 100000 + "\n")  # in the script itself: a parse error
    p = run_cli("script", "run", str(f), "--local")
    assert p.returncode == 1 and p.stderr == "braces nested more than 1000 deep\n", p
    assert time.monotonic() - t0 < 20


def test_run_errors_are_one_line(tmp_path, vboard):
    assert_user_error(run_cli("script", "run", str(tmp_path / "missing.tcl"), "--local"), "cannot read",
                      "missing.tcl")
    assert_user_error(run_cli("script", "run", str(tmp_path / "missing.tcl"), "--port", vboard.name),
                      "cannot read")
    f = tmp_path / "x.tcl"
    f.write_text("puts 1\n")
    assert_user_error(run_cli("script", "run", str(f), "--local", "--port", vboard.name), "--port or --local")
    assert_user_error(run_cli("script", "run", str(f), "--port", "/dev/ttyNOPE9"), "unknown port")


def test_run_on_vboard_installs_firmware_once(files, vboard):
    """script run installs the whole firmware the way deploy does, in the dev slot, once; `import hyperion`
    then works at the board's REPL too."""
    from hyperion_host.firmware import ULAB_MODULES, cached_firmware

    good, _ = files
    p = run_cli("script", "run", str(good), "--port", vboard.name)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "squares: 1 4 9 16\npi    | 3.14\n"
    assert "to stderr" in p.stderr
    lib = vboard.fs_dir / "hyperion-ab" / "dev" / "lib" / "hyperion"
    fw = cached_firmware("x64") / "hyperion"
    want = sorted(x.relative_to(fw).as_posix() for x in fw.rglob("*.mpy")  # (a vboard has no ulab: not its modules)
                  if x.relative_to(fw).with_suffix("").as_posix() not in ULAB_MODULES)
    assert sorted(x.relative_to(lib).as_posix() for x in lib.rglob("*") if x.is_file()) == want  # never a part
    for rel in want:
        assert (lib / rel).read_bytes() == (fw / rel).read_bytes()
    # the second run finds the same sha256 on the board and copies nothing
    p2 = run_cli("script", "run", str(good), "--port", vboard.name)
    assert p2.returncode == 0 and p2.stdout == p.stdout
    assert "dev slot" in p.stderr and "dev slot" not in p2.stderr
    r = run_cli("exec", "import hyperion\nprint(hyperion.__file__)", "--port", vboard.name)
    assert r.stdout.strip() == "/hyperion-ab/dev/lib/hyperion/__init__.mpy", r
    st = json.loads(run_cli("status", "--json", "--port", vboard.name).stdout)
    assert st["dev"]["firmware"] and st["dev"]["files"] == len(want) and st["dev"]["models"] == []


def test_sync_replaces_a_changed_file_and_removes_a_stray_one(vboard):
    lib = vboard.fs_dir / "hyperion-ab" / "dev" / "lib" / "hyperion"
    with Board(vboard.port) as b:
        script.sync_firmware(b)
        good = (lib / "picol" / "interp.mpy").read_bytes()
        (lib / "picol" / "interp.mpy").write_bytes(b"M\x06 stale")
        (lib / "picol" / "interp.py").write_text("raise ImportError('stale source')\n")
        script.sync_firmware(b)
    assert (lib / "picol" / "interp.mpy").read_bytes() == good
    assert not (lib / "picol" / "interp.py").exists()
    assert (lib / "picol" / "interp.mpy").read_bytes()[:2] == b"M\x06"


@needs_tclsh
def test_run_on_vboard_uncaught_error_matches_tclsh(files, vboard):
    _, bad = files
    p = run_cli("script", "run", str(bad), "--port", vboard.name)
    rc, out, err = tclsh(bad)
    assert (p.returncode, p.stdout) == (rc, out) == (1, "before\n")
    lines = [x for x in p.stderr.splitlines() if not x.startswith("note:")]
    assert lines[0] == err.splitlines()[0]
    assert "Traceback" not in p.stderr


def test_board_commands_on_vboard(tmp_path, vboard):
    f = tmp_path / "board.tcl"
    f.write_text(
        "set t0 [ticks]\n"
        "sleep 0.05\n"
        "puts [expr {[ticks diff [ticks] $t0] >= 50}]\n"
        "puts [expr {[ticks us] > 0}]\n"
        "array set m [mem]\n"
        "puts [expr {$m(free) > 0 && $m(alloc) > 0}]\n"
        "puts [string is integer [mem collect]]\n"
        "puts [catch {gpio 25 1} msg]\n"
        "puts $msg\n"
        "puts [catch {adc 26} msg]\n"
        "puts $msg\n"
        "puts [catch {pwm 15 1000} msg]\n"
        "puts $msg\n"
        "puts [catch {i2c scan} msg]\n"
        "puts $msg\n"
        "after 10\n"
        "gpio mode 2 out\n"
    )
    p = run_cli("script", "run", str(f), "--port", vboard.name)
    assert p.returncode == 1
    assert p.stdout.splitlines() == [
        "1", "1", "1", "1",
        "1", "gpio: no GPIO on this board (machine.Pin missing)",
        "1", "adc: no ADC on this board (machine.ADC missing)",
        "1", "pwm: no PWM on this board (machine.PWM missing)",
        "1", "i2c: no I2C on this board (machine.I2C missing)",
    ]
    assert p.stderr.splitlines()[-1] == "gpio: no GPIO on this board (machine.Pin missing)"


def test_run_file_with_unicode_and_many_lines(tmp_path, vboard):
    # (kept under 4 KB: the vboard relay drops output that overflows its pty while the reader is busy)
    f = tmp_path / "u.tcl"
    f.write_text("puts \"h\u00e9llo \u2713\"\nfor {set i 0} {$i < 50} {incr i} { puts [string repeat x 60] }\n",
                 encoding="utf-8")
    p = run_cli("script", "run", str(f), "--port", vboard.name)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split("\n")
    assert lines[0] == "h\u00e9llo \u2713"
    assert lines[1:-1] == ["x" * 60] * 50 and lines[-1] == ""


def test_demux_handles_frames_cut_anywhere():
    data = b"a\r\nb\x02Serr\r\n\x03c\x02Eboom\x03\r\n"
    for cut in range(1, len(data)):
        out, err = [], []
        d = script.Demux(out.append, err.append)
        d.feed(data[:cut])
        d.feed(data[cut:])
        d.flush()
        assert b"".join(out) == b"a\nbc\n", cut
        assert b"".join(err) == b"err\nboom\n", cut
        assert d.error == "boom"


# -- the interactive shell in a real terminal --

def _controlling_tty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Term:
    """A program on a pty. ctty: the pty is its controlling terminal, so Ctrl-C there is SIGINT."""

    def __init__(self, args, env=None, ctty=False):
        self.master, slave = pty.openpty()
        e = dict(os.environ)
        e.update(env or {})
        e["TERM"] = "dumb"
        self.p = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, close_fds=True, env=e,
                                  preexec_fn=_controlling_tty if ctty else None)
        os.close(slave)
        self.seen = b""

    def wait_for(self, token, timeout=15):
        deadline = time.monotonic() + timeout
        while token not in self.seen and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    break
        return token in self.seen

    def send(self, text):
        self.seen = b""
        os.write(self.master, text)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        os.close(self.master)


def test_shell_is_interactive(vboard, hyperion_home):
    t = Term([os.path.join(BIN, "hyperion-host"), "shell", "--port", vboard.name])
    try:
        assert t.wait_for(b"% "), t.seen
        t.send(b"set x 6\r")
        assert t.wait_for(b"6\r\n% "), t.seen
        # one interpreter across commands, and multi-line input by Tcl's complete-command rule
        t.send(b"proc sq {n} {\r")
        assert t.wait_for(b"> "), t.seen
        t.send(b"  expr {$n * $n}\r")
        assert t.wait_for(b"> "), t.seen
        t.send(b"}\r")
        assert t.wait_for(b"% "), t.seen
        t.send(b"sq $x\r")
        assert t.wait_for(b"36\r\n% "), t.seen
        # errors print Tcl's message and the prompt comes back
        t.send(b"nosuch 1\r")
        assert t.wait_for(b'invalid command name "nosuch"'), t.seen
        assert t.wait_for(b"% "), t.seen
        # Tab completes command names from `info commands` on the board (procs and board commands too)
        t.send(b"tic\t")
        assert t.wait_for(b"ticks "), t.seen
        t.send(b"\x15")  # Ctrl-U: clear the line
        t.send(b"s\t\t")
        assert t.wait_for(b"sq"), t.seen
        assert b"string" in t.seen or t.wait_for(b"string"), t.seen
        t.send(b"\x15puts [string length [info commands]] \r")
        assert t.wait_for(b"% "), t.seen
        t.send(b"\x04")  # Ctrl-D leaves
        assert t.p.wait(10) == 0
    finally:
        t.close()
    hist = (hyperion_home / "shell_history").read_text()
    assert "set x 6" in hist and "proc sq {n} {\n  expr {$n * $n}\n}" in hist.replace("\\040", " ")


def test_shell_ctrl_c_stops_a_running_command(vboard):
    t = Term([os.path.join(BIN, "hyperion-host"), "shell", "--port", vboard.name], ctty=True)
    try:
        assert t.wait_for(b"% "), t.seen
        # a loop that mostly sleeps: a vboard takes Ctrl-C as a signal, which can lock its heap if it lands
        # mid-collection (docs/vboard.md); a board takes it at a safe point
        t.send(b"set n 0; while 1 { incr n; after 2 }\r")
        time.sleep(1.0)  # the loop is running on the board by then, even on a busy machine
        t.send(b"\x03")
        # at once here; up to two serial read deadlines (5 s each) when a loaded machine delays the board's answer
        assert t.wait_for(b"interrupted", timeout=30), t.seen
        assert t.wait_for(b"% "), t.seen
        t.send(b"expr {$n > 0}\r")  # the same interpreter, still usable
        assert t.wait_for(b"1\r\n% "), t.seen
        t.send(b"exit\r")
        assert t.p.wait(10) == 0
    finally:
        t.close()


def test_shell_reads_piped_input(vboard):
    p = run_cli("shell", "--port", vboard.name, input="set a 2\nputs [expr {$a + 40}]\nif {1} {\nputs yes\n}\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["2", "42", "yes"]


def test_heap_too_small_is_one_clear_line(tmp_path, start_vboard):
    small = start_vboard(heap="56K")  # 72 KB for the x64 interpreter
    f = tmp_path / "x.tcl"
    f.write_text("puts hi\n")
    p = run_cli("script", "run", str(f), "--port", small.name)
    assert_user_error(p, "Picol does not fit in the board's heap", "ROMFS")
