"""Board access for the relay: one REPL per board, so calls to a board are serialized.

Each board has a lock file (flock), which serializes calls across threads and across `--workers` processes
alike. A call waits for the lock up to `lock_timeout` (then: "board busy"), runs in a worker thread, and is
interrupted with Ctrl-C (written to the device) when it runs past its timeout."""

import base64
import binascii
import fcntl
import hashlib
import io
import os
import time

import anyio
import anyio.to_thread

from hyperion_host.errors import HyperionError
from hyperion_host.paths import home

GRACE = 5.0  # seconds a board gets to stop after Ctrl-C


class BoardError(HyperionError):
    pass


def unknown_board(name, known):
    return BoardError("unknown board '%s' (boards: %s)"
                      % (name, ", ".join(known) or "none: start the relay with --port PORT"))


class Slot:
    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.busy = False
        self.calls = 0
        self.errors = 0
        self.info = None
        self.last_error = None
        self.last_ok = None
        h = hashlib.sha1(os.path.realpath(port).encode()).hexdigest()[:16]
        d = home() / "locks"
        d.mkdir(parents=True, exist_ok=True)
        self.lock_path = str(d / ("board-" + h + ".lock"))

    def present(self):
        return os.path.exists(self.port) or self.port.startswith(("rfc2217://", "socket://"))

    def status(self):
        return {"name": self.name, "port": self.port, "present": self.present(), "busy": self.busy,
                "calls": self.calls, "errors": self.errors, "info": self.info, "last_error": self.last_error}


class FileLock:
    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise BoardError("busy: another call holds the board") from None
                time.sleep(0.02)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


def interrupt(port):
    """Ctrl-C to a board, through a second handle on its device (a pty or a USB CDC port)."""
    try:
        fd = os.open(port, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        os.write(fd, b"\x03")
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class BoardPool:
    def __init__(self, specs=(), timeout=30.0, lock_timeout=10.0):
        """specs: device paths or vboard names (resolved now, with hyperion_host.device.transport.resolve_port)."""
        from hyperion_host.device.transport import resolve_port

        self.timeout = timeout
        self.lock_timeout = lock_timeout
        self.slots = {}
        from hyperion_host.device.vboard import manager

        for spec in specs:
            port = resolve_port(spec)
            name = spec if "/" not in spec else os.path.basename(spec)
            for vb in manager.running():  # a vboard the relay serves must be sandboxed (docs/security.md)
                info = vb.run_info() or {}
                if info.get("port") == port and not info.get("emulated") and not info.get("sandboxed"):
                    raise HyperionError("vboard '%s' is not sandboxed (bubblewrap is missing or cannot run here): "
                                        "serving it would give relay clients a shell on this computer; install "
                                        "bubblewrap and restart the vboard" % vb.name)
            if name in self.slots:
                raise HyperionError("board '%s' is given twice" % name)
            self.slots[name] = Slot(name, port)

    def get(self, name):
        s = self.slots.get(name)
        if s is None:
            raise unknown_board(name, self.slots)
        return s

    async def refresh(self):
        """The slots are this process's own: nothing to fetch (the Ray engine's RemoteBoardPool fetches them)."""

    async def call(self, name, fn, timeout=None):
        """Run fn(port) on the board under its lock, in a thread, within `timeout` seconds."""
        slot = self.get(name)
        timeout = timeout or self.timeout
        state = {}
        done = anyio.Event()

        def work():
            with FileLock(slot.lock_path, self.lock_timeout):
                slot.busy = True
                state["started"] = time.monotonic()
                try:
                    return fn(slot.port)
                finally:
                    slot.busy = False

        async def runner():
            try:
                state["value"] = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
            except Exception as e:
                state["error"] = e
            finally:
                done.set()

        timed_out = False
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner)
            while not done.is_set():  # the timeout counts from when the board's lock is held
                with anyio.move_on_after(0.05):
                    await done.wait()
                started = state.get("started")
                if not done.is_set() and started is not None and time.monotonic() - started > timeout:
                    timed_out = True
                    interrupt(slot.port)
                    with anyio.move_on_after(GRACE):
                        await done.wait()
                    if not done.is_set():
                        tg.cancel_scope.cancel()
                    break
        slot.calls += 1
        if timed_out:
            slot.errors += 1
            slot.last_error = "timed out after %gs" % timeout
            raise BoardError("board '%s' did not finish within %gs; it was interrupted (Ctrl-C)" % (name, timeout))
        if "error" in state:
            slot.errors += 1
            e = state["error"]
            slot.last_error = e.format_message() if isinstance(e, HyperionError) else str(e)
            if isinstance(e, HyperionError):
                raise BoardError("board '%s': %s" % (name, e.format_message())) from None
            raise e
        slot.last_ok = time.time()
        return state.get("value")

    async def identify(self, name, timeout=5.0):
        from hyperion_host.device.transport import Board

        def fn(port):
            with Board(port, soft_reset=False, timeout=timeout) as b:
                return b.identify()

        info = await self.call(name, fn, timeout=timeout)
        self.slots[name].info = info
        return info


# -- what the board tools do (each runs in a worker thread holding the board's lock) --------------------------

def exec_code(port, code, timeout, reset=False):
    from hyperion_host.device.transport import Board, BoardExecError

    out = []
    with Board(port, soft_reset=reset) as b:
        try:
            b.exec(code, stream=out.append, timeout=timeout)
            tb = None
        except BoardExecError as e:
            tb = e.traceback
    return {"stdout": b"".join(out).replace(b"\x04", b"").decode("utf-8", "replace").replace("\r\n", "\n"),
            "traceback": tb}


def run_script(port, script):
    from hyperion_host.device import script as tcl

    out, err = io.BytesIO(), io.BytesIO()
    notes = []
    status = tcl.run_on_board(port, script, out=out.write, err=err.write, notice=notes.append)
    return {"status": status, "stdout": out.getvalue().decode("utf-8", "replace"),
            "stderr": err.getvalue().decode("utf-8", "replace"), "notes": notes}


def infer_on_board(port, model_path, inputs, out_shapes, kernels="auto", repeat=1):
    from hyperion_host.device.infer import run_on_board

    arrays, stats = run_on_board(port, model_path, inputs, out_shapes, kernels, repeat)
    return arrays, stats


def files(port, action, path, content=None, encoding="utf-8"):
    from hyperion_host.device.transport import Board, BoardExecError

    with Board(port, soft_reset=False) as b:
        if action == "list":
            return {"path": path, "entries": [{"name": n, "dir": d, "size": None if d else s}
                                              for n, d, s in sorted(b.listdir(path))]}
        if action == "read":
            data = b.read_file(path)
            if encoding == "base64":
                return {"path": path, "encoding": "base64", "content": base64.b64encode(data).decode(),
                        "bytes": len(data)}
            try:
                return {"path": path, "encoding": "utf-8", "content": data.decode("utf-8"), "bytes": len(data)}
            except UnicodeDecodeError:
                raise BoardError("':%s' is not UTF-8 text; read it with encoding='base64'" % path) from None
        if action == "write":
            if content is None:
                raise BoardError("action 'write' needs `content`")
            if encoding == "base64":
                try:
                    data = base64.b64decode(content, validate=True)
                except (binascii.Error, ValueError):
                    raise BoardError("`content` is not valid base64") from None
            else:
                data = content.encode("utf-8")
            b.write_file(path, data)
            return {"path": path, "bytes": len(data)}
        if action == "delete":
            try:
                b.exec("import os\nos.remove(%r)" % path, timeout=10)
            except BoardExecError as e:
                raise BoardError("cannot delete ':%s': %s" % (path, e.format_message())) from None
            return {"path": path, "deleted": True}
    raise BoardError("unknown action '%s' (list, read, write, delete)" % action)


HEAP_CODE = "import gc\ngc.collect()\nprint(gc.mem_free(), gc.mem_alloc())"


def board_status(port):
    """What the board is (Board.identify), its heap after a gc.collect() and its A/B deploy state: one
    connection, no soft reset (the REPL's globals are kept and nothing is left defined on the board; a running
    program is interrupted, as by any REPL tool: hence role operator)."""
    from hyperion_host.device.transport import Board
    from hyperion_host.ship.deploy import slot_state

    with Board(port, soft_reset=False) as b:
        out = b.identify()
        ab = slot_state(b)
        free, alloc = b.exec(HEAP_CODE, timeout=10).split()
    out.update(mem_free=int(free), mem_alloc=int(alloc), active_slot=ab["active"], bundle_version=ab["version"],
               slots=ab["slots"])
    return out


def board_rollback(port):
    """deploy.rollback: switch the board to its other A/B slot (when that holds a complete bundle), then soft-reset
    it and check it boots that slot."""
    from hyperion_host.ship.deploy import rollback

    return rollback(port)
