"""Tcl (Picol) on a board over the serial REPL, or on the local MicroPython unix port.

`run_file` runs a .tcl script and streams its output; `Shell` keeps one interpreter alive on the board
and evaluates what the user types. The board side is the package firmware/hyperion/picol/: it comes with the
whole firmware (compiled with mpy-cross), installed in the board's dev slot (device/devslot.py) where missing or
changed, compared by sha256.

Board output is framed so the host can tell stdout from stderr over the one serial stream:
STX 'S' text ETX is `puts stderr` output; STX 'E' message ETX is the uncaught Tcl error."""

import ast
import os
import subprocess
import sys
from pathlib import Path

from hyperion_host.errors import HyperionError
from hyperion_host.paths import firmware_dir, home
from hyperion_host.procs import die_with_parent

STX, ETX = 0x02, 0x03

# Board side: an interpreter whose stderr output and uncaught error are framed (see the module docstring).
BOARD_SETUP = """\
import sys
from hyperion.picol import Interp as _HyI, TclError as _HyE
from hyperion.picol import board as _hyc
class _HyInterp(_HyI):
    def write(self, chan, text):
        if chan == 'stdout':
            sys.stdout.write(text)
        else:
            sys.stdout.write('\\x02S' + text + '\\x03')
def _hy_eval(src, show):
    try:
        r = _hy_it.eval(src)
        if show and r:
            sys.stdout.write(r + '\\n')
    except _HyE as e:
        sys.stdout.write('\\x02E' + str(e) + '\\x03')
    except MemoryError as e:
        sys.stdout.write('\\x02Eout of memory (MemoryError: %s)\\x03' % e)
    except KeyboardInterrupt:
        # Ctrl-C that lands while the heap is locked (mid-collection) leaves it locked: unlock to depth 0,
        # allocating nothing (heap_lock then heap_unlock gives the depth it had)
        if _hy_ul is not None:
            _hy_l()
            d = _hy_ul()
            while d:
                d = _hy_ul()
        raise
import micropython
_hy_l = getattr(micropython, 'heap_lock', None)
_hy_ul = getattr(micropython, 'heap_unlock', None) if _hy_l is not None else None
_hy_it = _hyc.install(_HyInterp())
"""

# Local side (the unix port has a real stderr): the error goes there and the exit status is 1, like tclsh.
LOCAL_RUNNER = """\
import sys
from hyperion.picol import Interp, TclError, board
_it = board.install(Interp())
_it.timeout = %(timeout)r
with open(%(path)r) as _f:
    _src = _f.read()
try:
    _it.eval(_src)
except TclError as e:
    sys.stderr.write(str(e) + '\\n')
    sys.exit(1)
"""

def read_script(path):
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise HyperionError("cannot read %s: %s" % (path, e.strerror or e)) from None
    except UnicodeDecodeError:
        raise HyperionError("cannot read %s: it is not UTF-8 text" % path) from None


class Demux:
    """Splits the board's byte stream into stdout and stderr (the STX/ETX frames), turns the board's CRLF
    into LF, and notes an uncaught Tcl error. Works on chunks cut anywhere."""

    def __init__(self, out, err):
        self.out = out  # callables taking bytes
        self.err = err
        self.frame = None  # None: stdout; bytearray: inside a frame (first byte is its kind)
        self.cr = False
        self.error = None

    def feed(self, data):
        data = data.replace(b"\x04", b"")
        if self.cr:
            data = b"\r" + data
            self.cr = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self.cr = True
        data = data.replace(b"\r\n", b"\n")
        while data:
            if self.frame is None:
                i = data.find(bytes([STX]))
                if i < 0:
                    self.out(data)
                    return
                if i:
                    self.out(data[:i])
                self.frame = bytearray()
                data = data[i + 1:]
            else:
                i = data.find(bytes([ETX]))
                if i < 0:
                    self._frame_part(data)
                    return
                self._frame_part(data[:i])
                self._frame_end()
                data = data[i + 1:]

    def _frame_part(self, data):
        f = self.frame
        if not f and data[:1] == b"S":
            f.extend(b"S")
            data = data[1:]
        if f[:1] == b"S":
            if data:
                self.err(data)  # stderr streams live
        else:
            f.extend(data)

    def _frame_end(self):
        f = bytes(self.frame)
        self.frame = None
        if f[:1] == b"E":
            self.error = f[1:].decode("utf-8", "replace")
            self.err(f[1:] + b"\n")

    def flush(self):
        if self.cr:
            self.out(b"\r")
            self.cr = False


def _writer(stream):
    def w(data):
        stream.buffer.write(data)
        stream.buffer.flush()
    return w


def exec_stream(board, code, feed):
    """Run code on the board and pass its output to feed(bytes) as it arrives, read in bulk (mpremote's
    follow reads a byte at a time, too slow for a fast board or a vboard). Raises BoardExecError with the
    board's traceback if the code raised."""
    from mpremote.transport import TransportError

    from hyperion_host.device.transport import BoardExecError, DeviceError

    t = board.transport
    try:
        t.exec_raw_no_follow(code)
        ser = t.serial
        while True:
            data = ser.read(ser.in_waiting or 1)
            i = data.find(b"\x04")
            if i < 0:
                feed(data)
                continue
            feed(data[:i])
            rest = data[i + 1:]
            break
        j = rest.find(b"\x04")
        if j < 0:
            err = (rest + t.read_until(1, b"\x04", timeout=None))[:-1]  # byte by byte: stops at the EOF
        else:
            err = rest[:j]
            if rest[j + 1:]:
                ser.write(b"\x01")  # the next prompt was read with the output: have the board print it again
    except (TransportError, OSError) as e:
        raise DeviceError("lost the REPL on %s: %s" % (board.port, e)) from None
    if err:
        raise BoardExecError(err.decode(errors="replace"))


# -- the board -------------------------------------------------------------------------------------

def sync_firmware(board, notice=None):
    """The whole firmware on the board, through the dev slot (device/devslot.py, unless the deployed slot holds
    this very firmware), and first on sys.path for this session."""
    from hyperion_host.device import devslot

    path, _ = devslot.prepare(board, board.identify(), None, notice)
    board.exec(path)


def run_on_board(port, script, no_reset=False, out=None, err=None, notice=None, timeout=0):
    """Run Tcl source on a board, streaming its output. Returns the exit status (1 after a Tcl error).
    timeout: seconds the script may run on the board (0: no limit), then the Tcl error "time limit exceeded"."""
    from hyperion_host.device.transport import Board, BoardExecError, resolve_port

    demux = Demux(out or _writer(sys.stdout), err or _writer(sys.stderr))
    with Board(resolve_port(port), soft_reset=not no_reset) as b:
        sync_firmware(b, notice)
        free = setup(b)
        try:
            exec_stream(b, "_hy_it.timeout = %r\n_hy_eval(%r, False)\n" % (timeout, script), demux.feed)
        except BoardExecError as e:
            demux.flush()
            if "MemoryError" in e.traceback:
                raise HyperionError("the board ran out of memory for the script (%d KB free with Picol loaded): "
                                    "a board with more heap, or Picol frozen or in ROMFS, leaves more room "
                                    "(see docs/picol.md)" % (free // 1024)) from None
            raise HyperionError("the board raised " + e.format_message()) from None
    demux.flush()
    return 1 if demux.error is not None else 0


def setup(board):
    """Load Picol on the board and make the interpreter; a clear error if it does not fit in the heap.
    Returns the heap left free."""
    from hyperion_host.device.transport import BoardExecError

    board.exec("import gc\ngc.collect()")
    free = board.eval("gc.mem_free()")
    try:
        left = board.exec(BOARD_SETUP + "gc.collect()\nprint(gc.mem_free())\n", timeout=60)
        return int(left.decode().strip())
    except BoardExecError as e:
        if "MemoryError" in e.traceback:
            raise HyperionError(
                "Picol does not fit in the board's heap (%d KB free before loading it, and loading it from "
                ":lib/ takes about 80 KB): freeze it into the firmware or put it in a ROMFS image "
                "(see docs/picol.md)" % (free // 1024)) from None
        raise HyperionError("cannot start Picol on the board: " + e.format_message()) from None


# -- the local unix port ---------------------------------------------------------------------------

def run_local(path, out=None, err=None, timeout=0):
    """Run a .tcl file on the local MicroPython unix port, streaming its output. Returns the exit status.
    MicroPython dies with this process (a SIGTERM here must not leave it running)."""
    from hyperion_host.device.local import micropython_path

    read_script(path)  # a clear error before starting MicroPython
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(firmware_dir()), ".frozen"])
    code = LOCAL_RUNNER % {"path": str(Path(path).resolve()), "timeout": timeout}
    p = subprocess.Popen([micropython_path(), "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, preexec_fn=die_with_parent)
    out = out or _writer(sys.stdout)
    err = err or _writer(sys.stderr)
    import threading

    def pump(src, dst):
        for chunk in iter(lambda: os.read(src.fileno(), 4096), b""):
            dst(chunk)

    t = threading.Thread(target=pump, args=(p.stderr, err), daemon=True)
    t.start()
    pump(p.stdout, out)
    t.join()
    return p.wait()


# -- the interactive shell -------------------------------------------------------------------------

class Shell:
    """One Picol interpreter kept alive on the board (raw REPL, no soft reset between commands)."""

    def __init__(self, board, out=None, err=None):
        self.board = board
        self.out = out or _writer(sys.stdout)
        self.err = err or _writer(sys.stderr)
        setup(board)
        self._names = None

    def eval(self, script):
        """Evaluate script on the board, streaming output (and the result, as tclsh's prompt shows it).
        Returns the Tcl error message, or None."""
        from hyperion_host.device.transport import BoardExecError

        d = Demux(self.out, self.err)
        try:
            exec_stream(self.board, "_hy_eval(%r, True)" % script, d.feed)
        except BoardExecError as e:
            d.flush()
            last = (e.traceback.strip().splitlines() or ["error"])[-1]
            if "heap is locked" in last:  # a vboard hit by Ctrl-C mid-collection (docs/vboard.md)
                last += " (an interrupt left the board's heap locked: reset the board, or restart the vboard)"
            self.err(last.encode() + b"\n")
            return e.format_message()
        except KeyboardInterrupt:
            self.interrupt()
            self.err(b"interrupted\n")
            return "interrupted"
        d.flush()
        self._names = None
        return d.error

    def interrupt(self):
        """Ctrl-C while a command runs: stop it on the board and wait for the raw REPL again."""
        t = self.board.transport
        t.serial.write(b"\x03")
        try:
            t.follow(5)
        except Exception:  # the board was mid-output; the next command resynchronises
            pass

    def commands(self):
        if self._names is None:
            raw = self.board.exec("print(repr(_hy_it.commands()))", timeout=10)
            self._names = ast.literal_eval(raw.decode().strip())
        return self._names

    def complete(self, text):
        return [n for n in self.commands() if n.startswith(text)]


def history_path():
    return home() / "shell_history"


def interactive(shell, stdin=None):
    """The prompt loop: tclsh-style prompts, multi-line input by Tcl's complete-command rule, readline
    history and command-name completion when the terminal allows."""
    from hyperion.picol import complete

    stdin = stdin or sys.stdin
    tty = stdin.isatty()
    rl = None
    if tty:
        try:
            import readline as rl
        except ImportError:
            rl = None
    hist = history_path()
    if rl is not None:
        hist.parent.mkdir(parents=True, exist_ok=True)
        try:
            rl.read_history_file(str(hist))
        except OSError:
            pass
        rl.set_history_length(1000)
        matches = []

        def completer(text, state):
            if state == 0:
                matches[:] = shell.complete(text)
            return matches[state] + " " if state < len(matches) else None

        rl.set_completer(completer)
        rl.set_completer_delims(" \t\n[{;\"$")
        rl.parse_and_bind("tab: complete")
    try:
        while True:
            buf = ""
            prompt = "% "
            while True:
                try:
                    line = input(prompt) if tty else _read_line(stdin)
                except EOFError:
                    if tty:
                        sys.stdout.write("\n")
                    return 0
                except KeyboardInterrupt:
                    sys.stdout.write("\n")
                    buf = None
                    break
                buf += line + "\n"
                if complete(buf):
                    break
                prompt = "> "
            if buf is None or not buf.strip():
                continue
            if rl is not None and buf.count("\n") > 1:
                # one history entry for a multi-line command
                n = rl.get_current_history_length()
                for _ in range(buf.count("\n") - 1):
                    if n > 0:
                        rl.remove_history_item(n - 1)
                        n -= 1
                rl.add_history(buf.rstrip("\n"))
            if buf.strip() == "exit":
                return 0
            shell.eval(buf)
    finally:
        if rl is not None:
            try:
                rl.write_history_file(str(hist))
            except OSError:
                pass


def _read_line(stdin):
    line = stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")
