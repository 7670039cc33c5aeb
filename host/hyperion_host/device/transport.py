"""Boards over the serial REPL, through mpremote's transport (we never re-implement the REPL protocol).

`resolve_port` turns what the user typed (a device path, a vboard name, or nothing) into a device path;
`Board` is an open connection with exec, eval, identify and file helpers."""

import ast
import errno
import hashlib
import os
import signal
import time
from pathlib import Path

import serial
import serial.tools.list_ports
from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

from hyperion import arch_from_mpy
from hyperion_host.device.vboard import manager
from hyperion_host.errors import HyperionError

# Every read from a board has a deadline: a byte the board must send at once (the raw REPL's "OK", raw-paste flow
# control) within BYTE_DEADLINE seconds, and output within an exec's own timeout. pyserial's read timeout is what
# also bounds mpremote's waits on a pty (a vboard), where it reads without polling first.
BYTE_DEADLINE = 5

IDENTIFY_CODE = (
    "import sys\n"
    "i=sys.implementation\n"
    "try:\n import ulab;u=1\nexcept ImportError:\n u=0\n"
    "print(repr((i.name,'.'.join(str(v) for v in i.version[:3]),getattr(i,'_machine',''),"
    "getattr(i,'_mpy',0),sys.platform,u)))"
)


# Runs on the board: the content of each file as sha256 hex, its size where the port lacks hashlib, or None
# when it is missing. Compared on the host with same_content().
SUMS_CODE = """\
import os
try:
    import hashlib, binascii
except ImportError:
    hashlib = None
def _hy_sum(p):
    try:
        size = os.stat(p)[6]
    except OSError:
        return None
    if hashlib is None:
        return size
    h = hashlib.sha256()
    b = bytearray(512)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b[:n] if n < 512 else b)
    return binascii.hexlify(h.digest()).decode()
print(repr([_hy_sum(p) for p in %r]))
"""


def same_content(board_sum, data=None, sha=None):
    """Whether a file_sums() entry matches local bytes (or a known sha256 hex and size)."""
    if board_sum is None:
        return False
    if isinstance(board_sum, int):
        return data is not None and board_sum == len(data)
    return board_sum == (sha if sha is not None else hashlib.sha256(data).hexdigest())


class DeviceError(HyperionError):
    pass


class BoardExecError(HyperionError):
    """Code raised an exception on the board; message is the board's traceback."""

    def __init__(self, traceback):
        super().__init__(traceback.strip().splitlines()[-1] if traceback.strip() else "error on board")
        self.traceback = traceback


def usb_ports():
    """Serial ports with a USB VID/PID (real boards), as dicts."""
    out = []
    for p in serial.tools.list_ports.comports():
        if p.vid is None:
            continue
        out.append({
            "port": p.device, "kind": "usb", "vid_pid": "%04x:%04x" % (p.vid, p.pid),
            "description": p.description or "", "serial": p.serial_number or "", "name": "",
        })
    return out


def vboard_ports():
    out = []
    for vb in manager.running():
        cfg = vb.config()
        out.append({
            "port": vb.port, "kind": "vboard", "vid_pid": "", "name": vb.name,
            "description": "vboard '%s' (%s)" % (vb.name, cfg.get("board", "?")),
            "board": cfg.get("board"), "serial": "",
        })
    return out


def all_ports():
    return usb_ports() + vboard_ports()


def _describe(ports):
    if not ports:
        return "no devices found; connect a board or start one with `hyperion-host vboard start`"
    return "available: " + ", ".join(
        p["port"] + (" (vboard '%s')" % p["name"] if p["name"] else " (%s)" % p["description"])
        for p in ports
    )


def resolve_port(port=None):
    """A device path from --port (path or vboard name), $HYPERION_PORT, or the single device present."""
    port = port or os.environ.get("HYPERION_PORT")
    if port:
        vb = manager.find(port)
        if vb is not None:
            return vb.port
        if os.path.exists(port) or port.startswith(("rfc2217://", "socket://")):
            return port
        raise DeviceError("unknown port '%s'; %s" % (port, _describe(all_ports())))
    ports = all_ports()
    if len(ports) == 1:
        return ports[0]["port"]
    if not ports:
        raise DeviceError(_describe(ports))
    raise DeviceError("several devices found, pick one with --port; " + _describe(ports))


class Board:
    """An open REPL connection to a board. Use as a context manager."""

    def __init__(self, port, soft_reset=True, timeout=10):
        self.port = port
        try:
            self.transport = SerialTransport(port, baudrate=115200, timeout=BYTE_DEADLINE)
        except TransportError as e:
            msg = str(e)
            if os.path.exists(port):
                msg = "cannot open %s: it is busy (another program holds it) or not readable" % port
            raise DeviceError(msg) from None
        try:
            self.transport.enter_raw_repl(soft_reset=soft_reset, timeout_overall=timeout)
        except TransportError:
            self.transport.close()
            raise DeviceError(
                "no MicroPython REPL answered on %s; check the port, or press reset on the board" % port
            ) from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.transport is None:
            return
        try:
            self.transport.exit_raw_repl()
        except Exception:  # the board may have gone away: closing must not raise
            pass
        try:
            self.transport.close()
        except Exception:
            pass
        self.transport = None

    def exec(self, code, stream=None, timeout=None):
        """Run code on the board. Output is returned, or passed to stream(bytes) as it comes; timeout: the most
        seconds without output (None: wait as long as the code runs, for a user's own program).
        Raises BoardExecError with the board's traceback if the code raised."""
        t = self.transport
        try:
            t.exec_raw_no_follow(code)
            out, err = t.follow(timeout, data_consumer=stream)
        except TransportError as e:
            raise DeviceError("the board on %s stopped answering (%s)" % (self.port, e)) from None
        except (serial.SerialException, OSError) as e:
            raise DeviceError("lost the connection to %s (%s); is the board still connected?"
                              % (self.port, str(e).split("(")[0].strip() or "I/O error")) from None
        if err:
            raise BoardExecError(err.decode(errors="replace"))
        return out if stream is None else b""

    def eval(self, expr, timeout=10):
        out = self.exec("print(repr(%s))" % expr, timeout=timeout)
        return ast.literal_eval(out.decode().strip())

    def identify(self):
        name, version, machine, mpy, platform, ulab = ast.literal_eval(
            self.exec(IDENTIFY_CODE, timeout=10).decode().strip()
        )
        return {
            "implementation": name, "version": version, "machine": machine, "platform": platform,
            "mpy": mpy, "arch": arch_from_mpy(mpy) if mpy else None, "ulab": bool(ulab),
        }

    def file_sums(self, paths):
        """For each board path: sha256 hex, the size (a board without hashlib), or None if missing."""
        try:
            return ast.literal_eval(self.exec(SUMS_CODE % (list(paths),), timeout=60).decode().strip())
        except (ValueError, SyntaxError) as e:
            raise DeviceError("cannot check files on the board: %s" % e) from None

    def makedirs(self, path):
        """mkdir -p on the board."""
        self.exec("import os\np = ''\nfor d in %r.strip('/').split('/'):\n p += ('/' if %r.startswith('/') or p "
                  "else '') + d\n try:\n  os.mkdir(p)\n except OSError:\n  pass" % (path, path))

    def listdir(self, path="", with_mtime=False):
        """[(name, is_dir, size)] for a board directory, with the modification time (seconds since 1970) last
        when with_mtime. Stats each entry, since some filesystems (the unix port's VfsPosix) leave the size out
        of ilistdir."""
        code = (
            "import os\n"
            "p=%r\n"
            "for n in os.listdir(p):\n"
            " s=os.stat((p.rstrip('/')+'/' if p else '')+n)\n"
            " print(repr((n,s[0]&0x4000!=0,s[6])+((s[8],) if %r else ())),end=',')" % (path, with_mtime)
        )
        try:
            rows = list(ast.literal_eval("[" + self.exec(code, timeout=10).decode() + "]"))
        except BoardExecError as e:
            raise DeviceError("cannot list ':%s' on the board: %s" % (path, e.format_message())) from None
        if with_mtime and rows:
            epoch = self.eval("__import__('time').gmtime(0)[0]")  # ports with a 2000 epoch count from there
            shift = 946684800 if epoch == 2000 else 0
            rows = [r[:3] + (r[3] + shift,) for r in rows]
        return rows

    def isdir(self, path):
        try:
            return self.transport.fs_isdir(path)
        except TransportError as e:
            raise DeviceError("the board on %s stopped answering (%s)" % (self.port, e)) from None

    def read_file(self, path):
        try:
            return bytes(self.transport.fs_readfile(path))
        except serial.SerialException as e:
            raise DeviceError("lost the connection to %s while reading ':%s' (%s)"
                              % (self.port, path, str(e).split("(")[0].strip())) from None
        except OSError as e:
            raise DeviceError("cannot read ':%s' on the board: %s" % (path, os.strerror(e.errno))) from None
        except TransportExecError as e:
            raise DeviceError("cannot read ':%s' on the board: %s" % (path, _last_line(e))) from None
        except TransportError as e:
            raise DeviceError("the board on %s stopped answering while reading ':%s' (%s)" % (self.port, path, e)) \
                from None

    def write_file(self, path, data, progress=None):
        try:
            self.transport.fs_writefile(path, data, chunk_size=1024, progress_callback=progress)
        except serial.SerialException as e:
            raise DeviceError("lost the connection to %s while writing ':%s' (%s)"
                              % (self.port, path, str(e).split("(")[0].strip())) from None
        except OSError as e:
            hint = ("; no filesystem is mounted there (an emulated board has only its ROMFS image at /rom: "
                    "`hyperion-host build --romfs`)" if e.errno == errno.ENODEV else "")
            raise DeviceError("cannot write ':%s' on the board: %s%s" % (path, os.strerror(e.errno), hint)) from None
        except TransportExecError as e:
            raise DeviceError("cannot write ':%s' on the board: %s" % (path, _last_line(e))) from None
        except TransportError as e:
            raise DeviceError("the board on %s stopped answering while writing ':%s' (%s)" % (self.port, path, e)) \
                from None


def _last_line(e):
    lines = e.error_output.strip().splitlines()
    return lines[-1] if lines else "error"


def identify_port(port, timeout=2):
    """sys.implementation of the board on port, or {'error': ...} if none answers."""
    try:
        with Board(port, soft_reset=False, timeout=timeout) as b:
            return b.identify()
    except HyperionError as e:
        return {"error": e.format_message()}


def soft_reset(port):
    """Ctrl-D at the friendly REPL, as a user would type it: boot.py and main.py run again."""
    with Board(port, soft_reset=False) as b:
        t = b.transport
        try:
            t.exit_raw_repl()
            t.serial.write(b"\x04")
            seen = t.read_until(1, b"soft reboot", timeout=10)
        except (TransportError, serial.SerialException, OSError) as e:
            raise DeviceError("the board on %s did not reset (%s)" % (port, e)) from None
        if not seen.endswith(b"soft reboot"):
            raise DeviceError("the board on %s did not say 'soft reboot' after Ctrl-D" % port)
    return "soft reset: boot.py and main.py run again"


def hard_reset(port):
    """machine.reset() on a board; a vboard's interpreter is restarted, which is its hard reset."""
    vb = [v for v in manager.running() if v.port == port]
    if vb and not vb[0].config().get("emulated"):
        pid = manager.interp_pid(vb[0].name)
        if pid:
            os.kill(pid, signal.SIGKILL)  # its supervisor starts a fresh interpreter, as a watchdog reset would
        deadline = time.monotonic() + 15
        while manager.interp_pid(vb[0].name) == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        with Board(port, soft_reset=False, timeout=15):  # it answers again
            pass
        return "reset: the vboard's interpreter restarted"
    with Board(port, soft_reset=False) as b:
        has = b.exec("try:\n import machine\n print(hasattr(machine, 'reset'))\nexcept ImportError:\n print(False)")
        if has.strip() != b"True":
            raise DeviceError("the board on %s has no machine.reset(); use `hyperion-host reset --soft`" % port)
        try:
            b.transport.exec_raw_no_follow("import machine\nmachine.reset()")
        except TransportError:  # it may go away before it answers: that is the reset
            pass
    return "reset (machine.reset())"


def copy_to_board(board, local, remote, progress=None):
    """Copy a local file to the board; remote '' or ending in '/' (or an existing directory) takes the local
    name, and a folder ending in '/' is made if missing. progress(done, total) hears the bytes sent. Returns
    (board path, bytes)."""
    if not local.is_file():
        raise HyperionError("no such local file: %s" % local)
    if remote.endswith("/") and remote.strip("/"):
        board.makedirs(remote.rstrip("/"))
    if remote == "" or remote.endswith("/") or board.isdir(remote):
        remote = remote.rstrip("/") + ("/" if remote.rstrip("/") else "") + local.name
    data = local.read_bytes()
    board.write_file(remote, data, progress)
    return remote, len(data)


def copy_from_board(board, remote, local):
    """Copy a board file to a local file or directory, written whole or not at all. Returns (path, bytes)."""
    data = board.read_file(remote)
    target = local / Path(remote).name if local.is_dir() else local
    tmp = target.with_name(target.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target, len(data)
