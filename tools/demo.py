"""`make demo`: the Hyperion flow on a virtual board, step by step, with the real commands shown.

Every step runs `hyperion-host ...` (or `mpremote ...`) as a user would type it. The vboards live in a
temporary HYPERION_HOME, so the demo never touches your own."""

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
console = Console()
results = []


def step(title, *args, tool="hyperion-host", check=None):
    """Run one command, show it and its output, and record the outcome for the summary."""
    console.rule("[bold]%s" % title)
    console.print("[dim]$[/] %s %s" % (tool, " ".join(args)), highlight=False)
    t0 = time.monotonic()
    p = subprocess.run([str(BIN / tool), *args], capture_output=True, text=True)
    dt = time.monotonic() - t0
    if p.stdout.strip():
        console.print(p.stdout.rstrip(), highlight=False, markup=False)
    if p.stderr.strip():
        console.print(p.stderr.rstrip(), style="dim", highlight=False, markup=False)
    ok = p.returncode == 0 and (check is None or check(p.stdout))
    results.append((title, ok, dt))
    if not ok:
        console.print("[red]step failed[/]")
    return p


def main():
    os.environ["HYPERION_HOME"] = tempfile.mkdtemp(prefix="hyperion-demo-")
    os.environ.pop("HYPERION_PORT", None)
    work = Path(tempfile.mkdtemp(prefix="hyperion-demo-files-"))
    console.print("[bold]Hyperion demo[/]: the host toolchain driving a virtual RP2040 board "
                  "(real MicroPython on a pseudo-terminal)\n")
    try:
        p = step("Start a virtual board", "vboard", "start", "--name", "demo", "--board", "rp2040")
        if p.returncode != 0:
            return 1
        port = p.stdout.strip().splitlines()[-1]
        step("List devices (identified by sys.implementation)", "devices", check=lambda o: "x64" in o)
        step("Run code on the board", "exec", "--port", "demo",
             "import gc, sys; gc.collect(); print(sys.implementation.name, 'free heap', gc.mem_free())",
             check=lambda o: "micropython free heap" in o)

        fw = ROOT / "firmware" / "hyperion" / "__init__.py"
        step("Make the board's /lib", "exec", "--port", "demo",
             "import os\nfor d in ('lib', 'lib/hyperion'):\n try:\n  os.mkdir(d)\n except OSError:\n  pass")
        step("Copy the Hyperion firmware package to the board", "cp", "--port", "demo", str(fw),
             ":lib/hyperion/__init__.py")
        step("Import it on the board", "exec", "--port", "demo",
             "import hyperion\nfor k, v in sorted(hyperion.info().items()):\n print(k, '=', v)",
             check=lambda o: "arch = x64" in o)

        blob = work / "sample.bin"
        blob.write_bytes(hashlib.sha256(b"hyperion").digest() * 512)
        step("Copy a file to the board", "cp", "--port", "demo", str(blob), ":sample.bin")
        step("List the board's files", "ls", "--port", "demo", check=lambda o: "sample.bin" in o)
        back = work / "back"
        back.mkdir()
        step("Copy it back and compare", "cp", "--port", "demo", ":sample.bin", str(back),
             check=lambda o: (back / "sample.bin").read_bytes() == blob.read_bytes())

        step("Soft reset clears the board's state (real mpremote)", "connect", port, "exec", "x = 42",
             "+", "soft-reset", "+", "exec", "print('x survived reset:', 'x' in globals())",
             tool="mpremote", check=lambda o: "x survived reset: False" in o)
    finally:
        step("Stop the virtual board", "vboard", "stop", "--name", "demo", "--erase")

    table = Table("step", "result", "time")
    for title, ok, dt in results:
        table.add_row(title, "[green]ok[/]" if ok else "[red]FAILED[/]", "%.2f s" % dt)
    console.print()
    console.print(table)
    failed = [t for t, ok, _ in results if not ok]
    if failed:
        console.print("[red]%d step(s) failed[/]" % len(failed))
        return 1
    console.print("[green]demo finished: all %d steps ok[/]" % len(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
