"""Build (or find cached) every MicroPython firmware the tests and benchmarks run on, from the pinned source:
the emulated boards' QEMU firmware, each with its board's heap (and again with Hyperion frozen in and the C
kernels compiled in: firmware/manifest.py), the 32-bit unix port, the unix ports with ulab and float32 floats
(unix-ulab and unix-cpy on x64, unix32-cpy on 32-bit x86; linked as .venv/bin/micropython-ulab, micropython-cpy
and micropython32-cpy), and the C kernels
(kernels/c.mpy) for every arch that has them: a missing tool or source fails here (a non-zero exit), naming what
to install.

    .venv/bin/python tools/build_firmware.py                 # every core, for rp2040, esp32c3, rp2350 (`make firmware`)
    .venv/bin/python tools/build_firmware.py qemu-armv6m     # a target, for every board that uses it
    .venv/bin/python tools/build_firmware.py unix-cpy        # one unix port
MICROPYTHON_SRC and ULAB_SRC override the sources (docs/emulation.md)."""

import sys

from hyperion_host import mpbuild, natmod
from hyperion_host.boards import all_boards
from hyperion_host.errors import HyperionError
from hyperion_host.mpbuild import TARGETS

BOARDS = ("rp2040", "esp32c3", "rp2350")  # one board per emulated core (others build on first use)


def main(argv):
    want = set(argv) or set(TARGETS)
    unknown = want - set(TARGETS)
    if unknown:
        sys.exit("error: unknown target %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(TARGETS)))
    jobs = {(t, None) for t in want if TARGETS[t]["port"] == "unix"}
    for b in all_boards().values():
        t = (b.get("emulation") or {}).get("target")
        if t in want and (b["name"] in BOARDS or argv):
            jobs.add((t, b["vboard_heap"]))
    try:
        print("MicroPython source: %s" % mpbuild.source_origin(), flush=True)
        if any(TARGETS[t].get("ulab") for t, _ in jobs):
            print("ulab source: %s" % mpbuild.ulab_origin(), flush=True)
        for target, heap in sorted(jobs, key=str):
            path = mpbuild.build(target, heap=heap)
            if "bin" in TARGETS[target]:
                path = "%s (%s)" % (mpbuild.bin_dir() / TARGETS[target]["bin"], path)
            print("%-13s %s" % (target, path), flush=True)
            if TARGETS[target]["port"] != "unix" and not argv:  # Hyperion frozen in, its C kernels built in
                print("%-13s %s" % (target + " frozen", mpbuild.build(target, heap=heap, frozen=True)), flush=True)
        if not argv:
            for arch in natmod.ARCHS:
                print("%-13s %s" % ("c " + arch, natmod.build(arch)), flush=True)
    except HyperionError as e:
        sys.exit("error: " + e.format_message())


if __name__ == "__main__":
    main(sys.argv[1:])
