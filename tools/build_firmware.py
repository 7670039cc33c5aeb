"""Build (or find cached) every MicroPython firmware the tests and benchmarks run on, from the pinned source:
the emulated boards' QEMU firmware, each with its board's heap (and again with Hyperion frozen in and the C
kernels compiled in: firmware/manifest.py), the 32-bit unix port, and the C kernels
(kernels/c.mpy) for every arch that has them: a missing cross compiler fails here, naming its Debian packages.

    .venv/bin/python tools/build_firmware.py                 # every core, for rp2040, esp32c3, rp2350 (`make firmware`)
    .venv/bin/python tools/build_firmware.py qemu-armv6m     # a target, for every board that uses it
MICROPYTHON_SRC overrides the source (docs/emulation.md)."""

import sys

from hyperion_host import mpbuild, natmod
from hyperion_host.boards import all_boards
from hyperion_host.errors import HyperionError

BOARDS = ("rp2040", "esp32c3", "rp2350")  # one board per emulated core (others build on first use)


def main(argv):
    want = set(argv) or set(mpbuild.TARGETS)
    unknown = want - set(mpbuild.TARGETS)
    if unknown:
        sys.exit("error: unknown target %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(mpbuild.TARGETS)))
    jobs = {("unix32", None)} if "unix32" in want else set()
    for b in all_boards().values():
        t = (b.get("emulation") or {}).get("target")
        if t in want and (b["name"] in BOARDS or argv):
            jobs.add((t, b["vboard_heap"]))
    print("MicroPython source: %s" % mpbuild.source_origin(), flush=True)
    try:
        for target, heap in sorted(jobs, key=str):
            print("%-13s %s" % (target, mpbuild.build(target, heap=heap)), flush=True)
            if target != "unix32" and not argv:  # Hyperion frozen in, its C kernels built in (profile --frozen)
                print("%-13s %s" % (target + " frozen", mpbuild.build(target, heap=heap, frozen=True)), flush=True)
        if not argv:
            for arch in natmod.ARCHS:
                print("%-13s %s" % ("c " + arch, natmod.build(arch)), flush=True)
    except HyperionError as e:
        sys.exit("error: " + e.format_message())


if __name__ == "__main__":
    main(sys.argv[1:])
