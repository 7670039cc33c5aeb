"""Benchmark: Picol (the board's Tcl) on MicroPython against tclsh 8.6, plus its footprint.

Each workload runs inside one process on each side (no process start in the timing): Picol on the
MicroPython unix port (time.ticks_us around Interp.eval, best of the repeats), Picol on CPython for reference,
and tclsh's own `time` command. Footprint: heap per Interp() on MicroPython, the .mpy sizes (mpy-cross) and
the heap the import takes.

`picol.py --heap [MICROPYTHON]` prints only the heap figures (no tclsh needed), on the given MicroPython unix
port binary (a 32-bit build shows a board's object sizes) or the default one."""

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
from hyperion.picol import Interp, board
gc.collect()
a = gc.mem_alloc()
its = [Interp() for _ in range(50)]
gc.collect()
b = gc.mem_alloc()
for it in its:
    board.install(it)
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
from hyperion import picol
from hyperion.picol import board
gc.collect()
print('@@', gc.mem_alloc() - a, picol.__file__)
"""

# Heap figures on a board's terms: importing the modules from .mpy files (with and without the root hyperion
# package), and one fresh interpreter with the board commands (gc.mem_alloc() deltas after gc.collect()).
HEAP = """
import gc
gc.collect()
a0 = gc.mem_alloc()
import hyperion
gc.collect()
a1 = gc.mem_alloc()
import hyperion.picol
from hyperion.picol import board
gc.collect()
a2 = gc.mem_alloc()
from hyperion.picol import Interp, board as cmds
gc.collect()
a = gc.mem_alloc()
it = cmds.install(Interp())
gc.collect()
print('@@', a2 - a0, a2 - a1, gc.mem_alloc() - a)
"""


def picol_files():
    """What Picol needs on a board, as paths under hyperion/: the root __init__.py and the picol package."""
    root = firmware_dir() / "hyperion"
    return [Path("__init__.py")] + sorted(p.relative_to(root) for p in (root / "picol").glob("*.py"))


def import_cost(d):
    """Heap taken by importing the picol package with its board commands: from .mpy files (what `script run`
    installs in :lib/) and from a ROMFS image (bytecode used in place)."""
    import shutil as sh

    from mpremote.romfs import make_romfs

    src = Path(d) / "src" / "hyperion"
    lib = Path(d) / "lib" / "hyperion"
    for rel in picol_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        sh.copy(firmware_dir() / "hyperion" / rel, src / rel)
        mpy_size(rel, lib)
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


def mpy_size(rel, out_dir):
    """Compile hyperion/<rel> (a .py path under hyperion/) to out_dir/<rel>.mpy; returns its size."""
    out = Path(out_dir) / Path(rel).with_suffix(".mpy")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([find_tool("mpy-cross"), "-o", str(out), str(firmware_dir() / "hyperion" / rel)], check=True)
    return out.stat().st_size


def heap(binary=None):
    """(import hyperion + picol + board, import picol + board, one board.install(Interp())): heap bytes."""
    with tempfile.TemporaryDirectory() as d:
        for rel in picol_files():
            mpy_size(rel, Path(d) / "hyperion")
        r = run_micropython(HEAP, firmware=d, binary=binary)
    line = [x for x in r.stdout.splitlines() if x.startswith("@@")]
    if not line:
        sys.exit("heap measurement failed: %s" % r.stderr)
    return tuple(int(v) for v in line[0].split()[1:])


def main():
    if sys.argv[1:2] == ["--heap"]:
        binary = sys.argv[2] if len(sys.argv) > 2 else None
        print("heap (bytes, gc.mem_alloc deltas, .mpy files): import hyperion+picol+board %d, picol+board %d; "
              "one board.install(Interp()) %d" % heap(binary))
        return
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
        sizes = {rel: mpy_size(rel, Path(d) / "mpy") for rel in picol_files() if rel.parent.name == "picol"}
        cmds_mpy = sizes.pop(Path("picol/board.py"))
        picol_mpy = sum(sizes.values())
        cost = import_cost(d)

    notes = ("Picol on the MicroPython unix port (x64) against tclsh %s, best of %d, in-process timing. "
             "Footprint on MicroPython: %d bytes of heap per Interp(), %d with the board commands installed; "
             "the picol package's .mpy files %d bytes, board.mpy %d bytes (mpy-cross); importing hyperion and "
             "the picol package with its board commands takes %d KB "
             "of heap from .mpy files (what `script run` installs), %d KB from a ROMFS image (x64: 8-byte pointers, so "
             "32-bit boards take less). "
             "Reproduce: `make bench` (or `.venv/bin/python tools/bench/picol.py`)."
             % (subprocess.run([tclsh], input="puts [info patchlevel]", capture_output=True, text=True).stdout.strip(),
                REPEAT, per, per_board, picol_mpy, cmds_mpy, cost["mpy"] // 1024, cost["romfs"] // 1024))
    save("picol", rows, notes)
    print(notes)


if __name__ == "__main__":
    main()
