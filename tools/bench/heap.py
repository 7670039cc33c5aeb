"""Benchmark: what the firmware's modules cost in RAM, from .mpy files as `deploy` installs them: the heap that
`import hyperion` takes, Picol (import and an Interp() with the board commands), and digits (import, load and one
run), as gc.mem_alloc() differences after a collection, on the x64 unix port and a 32-bit build of it (a
microcontroller's object sizes). The layout guard: neither import may grow by more than 10% (issue 13).

    .venv/bin/python tools/bench/heap.py"""

import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, save

from hyperion_host import mpbuild
from hyperion_host.firmware import mpy_cross
from hyperion_host.paths import find_tool

CASES = {
    "import hyperion": "import hyperion\n",
    "Picol: import + Interp() with board commands": "import hyperion\nfrom hyperion.picol import Interp, board\n"
                                                    "it = board.install(Interp())\n",
    "digits: import + load + run": "import hyperion, array\nm = hyperion.load(%r)\n"
                                   "y = m.run(array.array('f', bytes(256)))\n" % str(ROOT / "models/digits/digits.hyq"),
}


def measure(fw, binary, arch):
    out = Path(tempfile.mkdtemp(prefix="hyperion-heap-"))
    for src in (fw / "hyperion").rglob("*.py"):
        rel = src.relative_to(fw).with_suffix(".mpy")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        native = src.stem == "viper"
        mpy_cross(src, out / rel, arch if native else None, str(rel.with_suffix(".py")))
    res = {}
    for name, code in CASES.items():
        prog = "import gc\ngc.collect()\na = gc.mem_alloc()\n" + code + "gc.collect()\nprint(gc.mem_alloc() - a)\n"
        r = subprocess.run([binary, "-X", "heapsize=4M", "-c", prog], capture_output=True, text=True,
                           env={"MICROPYPATH": str(out)}, cwd=str(out), timeout=120)
        if r.returncode != 0:
            sys.exit("%s failed: %s" % (name, r.stderr.strip().splitlines()[-1:]))
        res[name] = int(r.stdout.split()[-1])
    return res


def main():
    fw = ROOT / "firmware"
    x64 = measure(fw, find_tool("micropython"), "x64")
    x86 = measure(fw, str(mpbuild.build("unix32")), "x86")
    rows = [{"what": k, "x64_bytes": x64[k], "32bit_bytes": x86[k]} for k in CASES]
    save("heap", rows, "gc.mem_alloc() after a collection, before and after, from .mpy files. Reproduce: "
                       "`.venv/bin/python tools/bench/heap.py`.")


if __name__ == "__main__":
    main()
