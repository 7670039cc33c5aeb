"""Benchmark: the device layer on a virtual board.

Anchor: the `mpremote` command line, one process per command (what a user scripting a board with shell
loops pays), against Hyperion's persistent transport connection, in the same run on the same vboard."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import save

from hyperion_host.device.transport import Board
from hyperion_host.device.vboard import manager

MPREMOTE = str(Path(sys.executable).parent / "mpremote")


def timed(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main():
    os.environ["HYPERION_HOME"] = tempfile.mkdtemp(prefix="hyperion-bench-")
    vb = manager.start("bench")
    rows = []
    try:
        port = vb.port
        payload = os.urandom(64 * 1024)
        src = Path(tempfile.mkdtemp()) / "blob.bin"
        src.write_bytes(payload)

        with Board(port) as b:
            t_exec = timed(lambda: b.exec("pass"), 50)
            t_put = timed(lambda: b.write_file("blob.bin", payload), 3)
            assert b.read_file("blob.bin") == payload
        t_mp_exec = timed(lambda: subprocess.run([MPREMOTE, "connect", port, "exec", "pass"], check=True,
                                                 capture_output=True), 10)
        t_mp_put = timed(lambda: subprocess.run([MPREMOTE, "connect", port, "fs", "cp", str(src), ":blob.bin"],
                                                check=True, capture_output=True), 3)
        t_reset = timed(lambda: Board(port).close(), 10)
        t_mp_reset = timed(lambda: subprocess.run([MPREMOTE, "connect", port, "soft-reset"], check=True,
                                                  capture_output=True), 10)
        rows = [
            {"operation": "exec round trip", "hyperion_ms": t_exec * 1e3, "mpremote_cli_ms": t_mp_exec * 1e3,
             "speedup": t_mp_exec / t_exec},
            {"operation": "write 64 KB file", "hyperion_ms": t_put * 1e3, "mpremote_cli_ms": t_mp_put * 1e3,
             "speedup": t_mp_put / t_put},
            {"operation": "connect + soft reset", "hyperion_ms": t_reset * 1e3, "mpremote_cli_ms": t_mp_reset * 1e3,
             "speedup": t_mp_reset / t_reset},
        ]
    finally:
        manager.stop("bench", erase=True)
    save("vboard", rows, notes="Reproduce: `make bench` (or `.venv/bin/python tools/bench/vboard.py`).")


if __name__ == "__main__":
    main()
