"""Benchmark: Picol (the board's Tcl) on MicroPython against tclsh 8.6, plus its footprint.

Each workload runs inside one process on each side (no process start in the timing): Picol on the
MicroPython unix port (time.ticks_us around Interp.eval, best of the repeats), Picol on CPython for reference,
and tclsh's own `time` command. Footprint: heap per Interp() on MicroPython, the .mpy sizes (mpy-cross) and
the heap the import takes."""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import save

from hyperion.picol import Interp
from hyperion_host.device.local import run_micropython
from hyperion_host.paths import find_tool, firmware_dir

WORKLOADS = [
    ("loop: for + incr, 10k", "set s 0; for {set i 0} {$i < 10000} {incr i} { incr s $i }; set s"),
    ("proc calls: 2k", "proc add {a b} { expr {$a + $b} }\n"
                       "set s 0; for {set i 0} {$i < 2000} {incr i} { set s [add $s $i] }; set s"),
    ("recursion: fib 15", "proc fib {n} { if {$n < 2} { return $n }\n"
                          "expr {[fib [expr {$n - 1}]] + [fib [expr {$n - 2}]]} }; fib 15"),
    ("strings: format/append/split/map", "set s {}; for {set i 0} {$i < 500} {incr i} { append s [format %04d $i] , }\n"
                                         "set j [join [split $s ,] {;}]; string length [string map {0 o 1 l} $j]"),
    ("lists: lappend/lsort/lsearch", "set l {}; for {set i 0} {$i < 500} {incr i} { lappend l [expr {($i * 7919) % 1000}] }\n"
                                     "set l [lsort -integer $l]; lsearch -exact $l 500"),
]
REPEAT = 3

MP_TIMER = """
import time
from hyperion.picol import Interp
for name, src in WORKLOADS:
    best = None
    res = None
    for _ in range(REPEAT):
        it = Interp()
        t0 = time.ticks_us()
        res = it.eval(src)
        dt = time.ticks_diff(time.ticks_us(), t0)
        best = dt if best is None or dt < best else best
    print('@@', best, res)
"""

TCL_TIMER = """
foreach {name src} $workloads {
    set best {}
    for {set k 0} {$k < %d} {incr k} {
        set i [interp create]
        set t [lindex [time {set res [$i eval $src]}] 0]
        interp delete $i
        if {$best eq {} || $t < $best} { set best $t }
    }
    puts "@@ $best $res"
}
"""

FOOTPRINT = """
import gc
gc.collect()
a0 = gc.mem_alloc()
from hyperion.picol import Interp
from hyperion import tclcmds
gc.collect()
a = gc.mem_alloc()
its = [Interp() for _ in range(50)]
gc.collect()
b = gc.mem_alloc()
for it in its:
    tclcmds.install(it)
gc.collect()
c = gc.mem_alloc()
print('@@', a - a0, (b - a) // 50, (c - a) // 50)
"""


IMPORT_COST = """
import gc, sys
if ROM:
    import vfs
    vfs.mount(vfs.VfsRom(open(ROM, 'rb').read()), '/rom')
    sys.path.insert(0, '/rom')
gc.collect()
a = gc.mem_alloc()
from hyperion import picol, tclcmds
gc.collect()
print('@@', gc.mem_alloc() - a, picol.__file__)
"""


def import_cost(d):
    """Heap taken by importing picol and tclcmds: from .mpy files (what `script run` installs in :lib/) and
    from a ROMFS image (bytecode used in place)."""
    import shutil as sh

    from mpremote.romfs import make_romfs

    src = Path(d) / "src" / "hyperion"
    src.mkdir(parents=True)
    for m in ("__init__", "picol", "tclcmds"):
        sh.copy(firmware_dir() / "hyperion" / (m + ".py"), src)
    lib = Path(d) / "lib" / "hyperion"
    lib.mkdir(parents=True)
    for m in ("__init__", "picol", "tclcmds"):
        mpy_size(m, lib)
    rom = Path(d) / "rom.img"
    rom.write_bytes(make_romfs(str(src.parent), mpy_cross=True))
    out = {}
    for kind, rom_path, fw in (("mpy", "", str(lib.parent)), ("romfs", str(rom), str(Path(d) / "empty"))):
        r = run_micropython("ROM = %r\n" % rom_path + IMPORT_COST, firmware=fw)
        line = [x for x in r.stdout.splitlines() if x.startswith("@@")]
        if not line:
            sys.exit("import measurement failed: %s" % r.stderr)
        out[kind] = int(line[0].split()[1])
    return out


def mpy_size(module, tmp):
    out = Path(tmp) / (module + ".mpy")
    subprocess.run([find_tool("mpy-cross"), "-o", str(out), str(firmware_dir() / "hyperion" / (module + ".py"))],
                   check=True)
    return out.stat().st_size, out.parent


def main():
    tclsh = shutil.which("tclsh")
    if not tclsh:
        sys.exit("tclsh 8.6 is needed (Debian package tcl8.6)")
    r = run_micropython("WORKLOADS = %r\nREPEAT = %d\n" % (WORKLOADS, REPEAT) + MP_TIMER, timeout=300)
    if not r.ok:
        sys.exit("MicroPython run failed: %s" % r.stderr)
    mp = [line.split(" ", 2) for line in r.stdout.splitlines() if line.startswith("@@")]

    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "bench.tcl"
        body = "set workloads {%s}\n" % " ".join("{%s} {%s}" % w for w in WORKLOADS) + TCL_TIMER % REPEAT
        script.write_text(body)
        out = subprocess.run([tclsh, str(script)], capture_output=True, text=True, check=True).stdout
        tcl = [line.split(" ", 2) for line in out.splitlines() if line.startswith("@@")]

        rows = []
        for (name, src), m, t in zip(WORKLOADS, mp, tcl):
            assert m[2] == t[2], (name, m[2], t[2])  # the same answer on both
            best = None
            for _ in range(REPEAT):
                t0 = time.perf_counter()
                Interp().eval(src)
                dt = time.perf_counter() - t0
                best = dt if best is None or dt < best else best
            rows.append({"workload": name, "picol_micropython_ms": int(m[1]) / 1000, "picol_cpython_ms": best * 1000,
                         "tclsh_ms": int(t[1]) / 1000, "micropython_vs_tclsh": int(m[1]) / int(t[1])})

        f = run_micropython(FOOTPRINT)
        per, per_board = (int(v) for v in f.stdout.split()[2:4])
        picol_mpy, _ = mpy_size("picol", d)
        cmds_mpy, _ = mpy_size("tclcmds", d)
        cost = import_cost(d)

    notes = ("Picol on the MicroPython unix port (x64) against tclsh %s, best of %d, in-process timing. "
             "Footprint on MicroPython: %d bytes of heap per Interp(), %d with the board commands installed; "
             "picol.mpy %d bytes, tclcmds.mpy %d bytes (mpy-cross); importing hyperion, picol and tclcmds takes %d KB "
             "of heap from .mpy files (what `script run` installs), %d KB from a ROMFS image (x64: 8-byte pointers, so "
             "32-bit boards take less). "
             "Reproduce: `make bench` (or `.venv/bin/python tools/bench/picol.py`)."
             % (subprocess.run([tclsh], input="puts [info patchlevel]", capture_output=True, text=True).stdout.strip(),
                REPEAT, per, per_board, picol_mpy, cmds_mpy, cost["mpy"] // 1024, cost["romfs"] // 1024))
    save("picol", rows, notes)
    print(notes)


if __name__ == "__main__":
    main()
