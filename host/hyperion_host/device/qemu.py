"""Emulated boards: real MicroPython firmware for a microcontroller's core (built by mpbuild) running in QEMU,
its serial port on a pseudo-terminal that mpremote and pyserial use like a USB board's.

With `-icount shift=0` QEMU advances the board's clock by exactly 1 ns per instruction, so time.ticks_us() on the
board counts thousands of instructions, the same on every run. That is what `profile` measures. It is not a
cycle-accurate model: no pipeline, caches, flash wait states or bus contention (docs/emulation.md)."""

import os
import re
import signal
import subprocess
import time

from hyperion_host import mpbuild
from hyperion_host.boards import all_boards
from hyperion_host.errors import HyperionError
from hyperion_host.procs import die_with_parent

START_TIMEOUT = 30.0


def target_of(board):
    """The mpbuild target that stands in for a board (its [emulation] table in boards/*.toml)."""
    target = (board.get("emulation") or {}).get("target")
    if not target:
        have = [b["name"] for b in all_boards().values() if (b.get("emulation") or {}).get("target")]
        raise HyperionError("board '%s' (%s) has no emulated core: QEMU emulates no %s core here; boards that have "
                            "one: %s" % (board["name"], board["arch"], board["arch"], ", ".join(have)))
    return target


def romfs_limit(board, size=None):
    """The ROMFS bytes an emulated board can hold: the board's own ROMFS area (or size, for a board flashed with
    a bigger one), within the emulated core's partition."""
    part = mpbuild.TARGETS[target_of(board)]["romfs"][1]
    if size and size > part:
        raise HyperionError("the emulated %s has a %d KB ROMFS partition; %d KB does not fit"
                            % (board["name"], part // 1024, size // 1024))
    return size or min((board.get("romfs") or {}).get("size") or part, part)


def command(board, elf, romfs=None, icount=True, romfs_size=None):
    """The QEMU command line for board running firmware elf, with a ROMFS image loaded where the firmware
    mounts it (/rom). romfs_size: the board's ROMFS area if it is not the one boards/ gives."""
    t = mpbuild.TARGETS[target_of(board)]
    cmd = list(t["qemu"]) + ["-nographic", "-monitor", "none", "-serial", "pty"]
    if icount:
        cmd += ["-icount", "shift=0,sleep=off"]  # an idle (WFI) core jumps to the next timer: no host timing
    if romfs:
        size = os.path.getsize(romfs)
        limit = romfs_limit(board, romfs_size)
        if size > limit:
            raise HyperionError("the ROMFS image (firmware and models) needs %d KB, but the %s's ROMFS area holds "
                                "%d KB: leave out a model, or give the board a bigger ROMFS area (--romfs-size, up "
                                "to %d KB on the emulated core)" % (-(-size // 1024), board["name"], limit // 1024,
                                                                    mpbuild.TARGETS[target_of(board)]["romfs"][1] // 1024))
        cmd += ["-device", "loader,file=%s,addr=0x%x,force-raw=on" % (os.path.abspath(romfs), t["romfs"][0])]
    return cmd + ["-kernel", str(elf)]


def firmware_for(board, log=None, frozen=False, ulab=False):
    """The firmware .elf for board's emulated core, with the board's heap (built once, then cached); frozen: with
    Hyperion frozen in and its C kernels built in; ulab: with ulab built in."""
    return mpbuild.build(target_of(board), heap=board["vboard_heap"], log=log, frozen=frozen, ulab=ulab)


class Emulator:
    """A running QEMU board: `with Emulator(board, romfs=img) as emu: Board(emu.port)`."""

    def __init__(self, board, romfs=None, icount=True, log=None, romfs_size=None, frozen=False, ulab=False):
        self.board = board
        self.cmd = command(board, firmware_for(board, log, frozen, ulab), romfs, icount, romfs_size)
        self.proc = None
        self.port = None

    def start(self, timeout=START_TIMEOUT):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
        self.port = wait_for_pty(self.proc, timeout)
        return self

    def died(self):
        """QEMU's exit status and last words if it has exited (it opens the pty before loading the firmware)."""
        if self.proc is None or self.proc.poll() is None:
            return None
        lines = [x for x in (self.proc.stdout.read() or b"").decode(errors="replace").splitlines() if x.strip()]
        return "QEMU exited with status %d: %s" % (self.proc.returncode, lines[-1] if lines else "no output")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wait_for_pty(proc, timeout):
    """The pty QEMU reports ('char device redirected to /dev/pts/N'); a clear error if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    seen = b""
    os.set_blocking(proc.stdout.fileno(), False)
    settle = None
    while time.monotonic() < deadline:
        chunk = proc.stdout.read() or b""
        seen += chunk
        m = re.search(rb"char device redirected to (\S+)", seen)
        if m and settle is None:
            settle = time.monotonic() + 0.3  # QEMU opens the pty first, then loads the firmware: give it time to fail
        if m and time.monotonic() >= settle and proc.poll() is None:
            os.set_blocking(proc.stdout.fileno(), True)
            return m.group(1).decode()
        if proc.poll() is not None:
            lines = [x for x in (seen + (proc.stdout.read() or b"")).decode(errors="replace").splitlines() if x]
            raise HyperionError("QEMU exited with status %d before the board came up: %s"
                                % (proc.returncode, lines[-1] if lines else "no output"))
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    raise HyperionError("QEMU did not open the board's serial port within %.0f s" % timeout)
