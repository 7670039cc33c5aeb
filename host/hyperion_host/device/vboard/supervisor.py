"""The virtual-board supervisor: the MicroPython unix port on a pseudo-terminal, made to act like a USB board.

One process per vboard. It owns two ptys:
- the *device* pty, whose slave path (/dev/pts/N) users open with mpremote or pyserial;
- the *interpreter* pty, the stdin/stdout of the `micropython` process.

It relays bytes between them and adds what a board does and the unix port does not:
- soft reset: when the interpreter exits (Ctrl-D at the raw REPL, sys.exit()), print `MPY: soft reboot`,
  start a fresh interpreter and, if the raw REPL was active, re-enter it;
- Ctrl-C while code runs becomes SIGINT (the unix port only takes KeyboardInterrupt from a signal);
- a killed or crashed interpreter is restarted (like a board's watchdog reset);
- `\\n` becomes `\\r\\n`, as a board's cooked stdout does;
- the filesystem is the vboard's own directory, mounted at `/`, and the heap size is the board's;
- the interpreter runs in a bubblewrap sandbox (`sandbox_argv`): its folder is the only one it can write, the
  system and the Python installation are read-only, there is no /proc and no other user file (the network
  is shared, as a WiFi board's).
  Code on a vboard (`os.system`, `..` paths, mounting the host's `/`) therefore stays in it.
"""

import argparse
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import tty

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
MAX_PENDING = 65536
FRIENDLY_PROMPT = b"\r\n>>> "
HELP_LINE = b'Type "help()" for more information.'

# Runs in the fresh interpreter before its REPL starts: the board's boot sequence.
BOOT_CODE = """\
import vfs, os, sys
vfs.umount('/')
vfs.mount(vfs.VfsPosix(%(fs)r), '/')
os.chdir('/')
sys.path[:] = ['', '.frozen', '/lib']
def _hy_run(f):
    try:
        os.stat(f)
    except OSError:
        return
    try:
        exec(open(f).read(), {'__name__': '__main__'})
    except BaseException as e:
        sys.print_exception(e)
_hy_run('boot.py')
if not %(raw)r:
    _hy_run('main.py')
del _hy_run, vfs, os, sys
"""


BOARD_DIR = "/board"  # where the vboard's folder is inside the sandbox


def sandbox_argv(fs_dir, argv):
    """argv run by bubblewrap: the vboard folder at /board (read-write), /usr, the Python installation and the
    interpreter's own files read-only, nothing else of the host's files (no /home, /etc, /proc, /tmp). The
    network is shared, as a WiFi board's: a pico_w vboard reaches a relay (hyperion.Runtime) like the board.
    None if bubblewrap is missing or cannot make namespaces here."""
    import shutil

    bwrap = shutil.which("bwrap")
    if not bwrap:
        return None
    a = [bwrap, "--die-with-parent", "--unshare-ipc", "--unshare-uts", "--new-session",
         "--ro-bind", "/usr", "/usr", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", str(fs_dir), BOARD_DIR,
         "--chdir", BOARD_DIR, "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", BOARD_DIR]
    for d in ("/bin", "/lib", "/lib32", "/lib64", "/sbin"):  # merged-/usr symlinks, or the real folders
        if os.path.islink(d):
            a += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            a += ["--ro-bind", d, d]
    seen = set()
    for p in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(argv[0])),
              os.path.dirname(os.path.abspath(argv[0]))):
        p = os.path.realpath(p)
        if p not in seen and not p.startswith("/usr/"):
            seen.add(p)
            a += ["--ro-bind", p, p]
    return a + ["--"] + list(argv)


def sandbox_works():
    """True if bubblewrap is installed and runs a command here (it needs user namespaces, or root)."""
    argv = sandbox_argv("/tmp", ["/usr/bin/true"]) if os.path.isdir("/tmp") else None
    if argv is None:
        return False
    try:
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _child(pid, timeout=5.0):
    """The pid of pid's only child (the interpreter under bubblewrap), waiting for it to start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = f.read().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    return pid


def write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


class Supervisor:
    def __init__(self, micropython, state_dir, fs_dir, heap, log=sys.stderr, sandbox=None):
        """sandbox: run the interpreter under bubblewrap (True), not (False), or where bubblewrap works (None)."""
        self.micropython = micropython
        self.sandbox = sandbox_works() if sandbox is None else sandbox
        self.interp_pid = None
        self.state_dir = state_dir
        self.fs_dir = fs_dir
        self.heap = heap
        self.log = log
        self.proc = None
        self.interp_fd = None
        self.raw_mode = False  # raw REPL active (tracked from the interpreter's output)
        self.tail = b""  # last bytes from the interpreter, to spot banners across reads
        self.last_out = 10  # last byte queued for the user, for \n -> \r\n
        self.pending = bytearray()  # output the client has not taken yet
        self.restart_raw_buf = None  # output swallowed while re-entering the raw REPL
        self.stopping = False
        self.restarts = 0
        self.sigint_at = -10.0

    # -- the user's side -------------------------------------------------------------------
    def open_device(self):
        self.dev_fd, slave = pty.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        os.close(slave)  # with no client open, our reads give EIO and writes are dropped, like USB
        os.set_blocking(self.dev_fd, False)
        self.client = False

    def to_user(self, data):
        """Queue interpreter output for the client, with a board's \n -> \r\n, and send what the pty takes."""
        out = self.pending
        prev = self.last_out
        for b in data:
            if b == 10 and prev != 13:
                out.append(13)
            out.append(b)
            prev = b
        self.last_out = prev
        self.flush()

    def flush(self):
        """Write queued output. A connected client gets every byte (like USB flow control); the queue waits
        while the pty is full. With no client the kernel discards the bytes, as a board's CDC does."""
        while self.pending:
            try:
                n = os.write(self.dev_fd, bytes(self.pending[:4096]))
            except BlockingIOError:
                return
            except OSError:
                self.pending = bytearray()
                return
            del self.pending[:n]

    # -- the interpreter -------------------------------------------------------------------
    def start_interpreter(self, raw):
        master, slave = pty.openpty()
        tty.setraw(slave)
        argv = [self.micropython, "-X", "heapsize=%d" % self.heap, "-i", "-c", None]
        boxed = sandbox_argv(self.fs_dir, argv) if self.sandbox else None
        argv[-1] = BOOT_CODE % {"fs": BOARD_DIR if boxed else self.fs_dir, "raw": raw}
        if boxed:
            boxed[-1] = argv[-1]
        env = dict(os.environ)
        env.pop("MICROPYPATH", None)
        self.proc = subprocess.Popen(
            boxed or argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True, start_new_session=True,
            cwd=self.fs_dir, env=env,
        )
        self.interp_pid = _child(self.proc.pid) if boxed else self.proc.pid
        os.close(slave)
        self.interp_fd = master
        os.set_blocking(master, False)
        self.tail = b""
        self.ready = False  # until its first prompt, SIGINT would kill the starting process
        if raw:
            os.write(master, b"\x01")  # queued until the REPL reads it: enter the raw REPL
            self.restart_raw_buf = b""
        self.save_state()

    def interp_busy(self):
        """True when the interpreter runs code and has its SIGINT handler installed (MicroPython installs it
        only while executing and restores the default, which kills the process, at the prompt)."""
        try:
            with open("/proc/%d/syscall" % self.interp_pid) as f:
                fields = f.read().split()
            with open("/proc/%d/status" % self.interp_pid) as f:
                caught = [line for line in f if line.startswith("SigCgt:")]
        except OSError:
            return False
        if len(fields) > 1 and fields[0] == "0" and int(fields[1], 16) == 0:
            return False  # blocked in read(0, ...): sitting at the prompt
        return bool(caught) and bool(int(caught[0].split()[1], 16) & (1 << (signal.SIGINT - 1)))

    def from_interp(self, data):
        self.tail = (self.tail + data)[-64:]
        if not self.ready and (self.tail.endswith(b">>> ") or self.tail.endswith(b"\r\n>")):
            self.ready = True
        if RAW_BANNER in self.tail:
            self.raw_mode = True
        elif self.tail.endswith(FRIENDLY_PROMPT) and b"raw REPL" not in self.tail[-40:]:
            self.raw_mode = False
        if self.restart_raw_buf is not None:
            # Re-entering the raw REPL after a soft reset: hide the friendly banner the
            # fresh interpreter prints, keep anything boot.py printed.
            buf = self.restart_raw_buf + data
            end = buf.find(RAW_BANNER)
            if end < 0:
                self.restart_raw_buf = buf
                return
            help_at = buf.find(HELP_LINE)
            start = buf.rfind(b"MicroPython ", 0, help_at) if help_at >= 0 else end
            self.restart_raw_buf = None
            self.raw_mode = True
            self.to_user(buf[: max(start, 0)] + RAW_BANNER + buf[end + len(RAW_BANNER):])
            return
        self.to_user(data)

    def interp_exited(self):
        code = self.proc.wait()
        try:
            while True:
                data = os.read(self.interp_fd, 4096)
                if not data:
                    break
                self.from_interp(data)
        except OSError:
            pass
        os.close(self.interp_fd)
        self.interp_fd = None
        if self.stopping:
            return
        self.restarts += 1
        if code >= 0:
            # A normal exit is a soft reset (Ctrl-D at the REPL, or sys.exit()).
            self.log_line("soft reset (exit code %d), raw=%s" % (code, self.raw_mode))
            self.to_user(b"MPY: soft reboot\r\n")
            self.start_interpreter(raw=self.raw_mode)
        elif -code == signal.SIGINT and time.monotonic() - self.sigint_at < 2.0:
            # Our Ctrl-C raced the end of the code it meant to interrupt and hit the default handler: on a
            # board that Ctrl-C would have been harmless, so come back in the same REPL mode.
            self.log_line("interpreter ended by a late Ctrl-C; restarting, raw=%s" % self.raw_mode)
            self.start_interpreter(raw=self.raw_mode)
        else:
            # Killed or crashed: restart from scratch, like a hard reset, in the friendly REPL.
            self.log_line("interpreter died from signal %d; restarting" % -code)
            self.raw_mode = False
            time.sleep(0.1)
            self.start_interpreter(raw=False)

    # -- state and logging -----------------------------------------------------------------
    def save_state(self):
        write_json_atomic(
            os.path.join(self.state_dir, "run.json"),
            {"pid": os.getpid(), "interp_pid": self.interp_pid, "port": self.port, "sandboxed": self.sandbox,
             "restarts": self.restarts},
        )

    def log_line(self, text):
        self.log.write("%s %s\n" % (time.strftime("%H:%M:%S"), text))
        self.log.flush()

    # -- main loop -------------------------------------------------------------------------
    def user_input(self):
        try:
            data = os.read(self.dev_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            self.client = False  # EIO: the last client closed the port
            return
        self.client = True
        if b"\x03" in data and self.ready and self.interp_busy():
            # A board takes Ctrl-C out of the stream while code runs and raises KeyboardInterrupt.
            data = data.replace(b"\x03", b"")
            self.sigint_at = time.monotonic()
            os.kill(self.interp_pid, signal.SIGINT)
        if data and self.interp_fd is not None:
            os.write(self.interp_fd, data)

    def serve(self):
        self.open_device()
        self.start_interpreter(raw=False)
        self.log_line("vboard ready on %s (heap %d)" % (self.port, self.heap))
        while not self.stopping:
            # backpressure: with a lot queued for a slow client, stop reading the interpreter (it then blocks)
            fds = [self.interp_fd] if len(self.pending) < MAX_PENDING else []
            if self.client:
                fds.append(self.dev_fd)
            wfds = [self.dev_fd] if self.pending else []
            try:
                ready, writable, _ = select.select(fds, wfds, [], 0.05)
            except InterruptedError:
                continue
            if writable:
                self.flush()
            if self.dev_fd in ready or not self.client:
                self.user_input()
            if self.interp_fd in ready:
                try:
                    data = os.read(self.interp_fd, 4096)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data:
                    self.from_interp(data)
                elif data == b"" or self.proc.poll() is not None:
                    self.interp_exited()
            elif self.proc.poll() is not None:
                self.interp_exited()
        self.shutdown()

    def shutdown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            os.remove(os.path.join(self.state_dir, "run.json"))
        except OSError:
            pass
        self.log_line("vboard stopped")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run one Hyperion virtual board (started by `vboard start`).")
    ap.add_argument("--micropython", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--heap", type=int, required=True)
    args = ap.parse_args(argv)
    fs_dir = os.path.join(args.state_dir, "fs")
    os.makedirs(fs_dir, exist_ok=True)
    sup = Supervisor(args.micropython, args.state_dir, fs_dir, args.heap)

    def stop(signum, frame):
        sup.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    sup.serve()


if __name__ == "__main__":
    main()
