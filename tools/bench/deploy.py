"""Benchmark: a full deploy against an unchanged re-deploy, on a vboard (target ratio >= 10x), in process and
through the CLI as a user runs it (the unchanged one at most 1 s end to end).

Full: every file sent over the REPL into a fresh slot, self-tests run from it, slot switched, reboot checked.
Unchanged: the board already runs the bundle; the deploy reads the active slot's bundle id and stops."""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, save

sys.path.insert(0, str(ROOT / "tools"))
from hyperion_host.device.vboard import manager  # noqa: E402
from hyperion_host.files import write_atomic  # noqa: E402
from hyperion_host.model.quantize import Options, quantize_model  # noqa: E402
from hyperion_host.ship import deploy as dep  # noqa: E402
from hyperion_host.ship.bundle import build_bundle  # noqa: E402

import onnx_examples  # noqa: E402


def main():
    import os

    work = Path(tempfile.mkdtemp(prefix="hyperion-bench-deploy-"))
    os.environ["HYPERION_HOME"] = str(work / "home")
    blob, _ = quantize_model(onnx_examples.mlp(work / "mlp.onnx"), Options())
    write_atomic(work / "mlp.hyq", blob)
    bundle = work / "bundle"
    m = build_bundle("rp2040", [str(work / "mlp.hyq")], bundle, arch="x64")
    size = sum(f["size"] for f in m["files"])
    rows = []
    fulls, sames = [], []
    for i in range(3):
        name = "bench%d" % i
        manager.start(name, heap="1M")
        try:
            t = time.perf_counter()
            r = dep.deploy(name, str(bundle))
            fulls.append(time.perf_counter() - t)
            assert r["changed"]
            for _ in range(5):
                t = time.perf_counter()
                r = dep.deploy(name, str(bundle))
                sames.append(time.perf_counter() - t)
                assert not r["changed"]
        finally:
            manager.stop(name, erase=True)
    cli_full, cli_same = [], []
    exe = str(Path(sys.executable).parent / "hyperion-host")
    for i in range(3):
        name = "benchcli%d" % i
        manager.start(name, heap="1M")
        try:
            for out in (cli_full, cli_same, cli_same, cli_same):
                t = time.perf_counter()
                subprocess.run([exe, "deploy", str(bundle), "--port", name], check=True, capture_output=True)
                out.append(time.perf_counter() - t)
        finally:
            manager.stop(name, erase=True)
    full, same = min(fulls), min(sames)
    rows.append({"case": "full deploy (%d files, %d bytes)" % (len(m["files"]), size), "seconds": full,
                 "ratio": 1.0})
    rows.append({"case": "unchanged re-deploy", "seconds": same, "ratio": full / same})
    rows.append({"case": "CLI: `hyperion-host deploy` full", "seconds": min(cli_full), "ratio": 1.0})
    rows.append({"case": "CLI: `hyperion-host deploy` unchanged (target <= 1 s)", "seconds": max(cli_same),
                 "ratio": min(cli_full) / max(cli_same)})
    save("deploy", rows, notes="vboard (pty, no baud limit: a USB board's full deploy is slower, the unchanged check "
                                "about the same). Reproduce: `make bench` or `.venv/bin/python tools/bench/deploy.py`.")


if __name__ == "__main__":
    main()
