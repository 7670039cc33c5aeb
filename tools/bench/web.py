"""The board in the browser (/ui/browser) against the same firmware elsewhere, one digit (models/digits), in one
run. Host speed, this machine: headless Chromium (Debian's) running MicroPython's WebAssembly port from npm,
against the x64 unix port of MicroPython with the same bytecode kernels (the anchor), and the relay's numpy.

Rows: per-inference latency (the page's own js.performance.now() timing, median of RUNS drawn-digit clicks;
`hyperion-host infer --repeat RUNS --stats` elsewhere), and the page's start-up (runtime compile, bytes fetched,
model load).

    .venv/bin/python tools/bench/web.py        # ~30 s; writes bench/results.json (section "web")
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, save

BIN = Path(sys.executable).parent
RUNS = 20
MODEL = ROOT / "models" / "digits" / "digits.hyq"
SAMPLE = ROOT / "models" / "digits" / "sample.npy"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def cli_us(*extra):
    p = subprocess.run([str(BIN / "hyperion-host"), "infer", str(MODEL), "-i", str(SAMPLE), "--json", "--stats",
                        "--repeat", str(RUNS), *extra], capture_output=True, text=True, timeout=600)
    if p.returncode:
        sys.exit("infer failed: " + p.stderr.strip())
    return json.loads(p.stdout)["stats"]["latency_us"]


def browser_figures():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    proc = subprocess.Popen([str(BIN / "hyperion-host"), "serve", "--models", str(ROOT / "models"), "--listen",
                             "127.0.0.1:0"], stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        port = None
        t0 = time.time()
        while port is None and time.time() - t0 < 60:
            m = re.search(r"MCP on http://[^:]+:(\d+)/mcp", proc.stderr.readline())
            port = m and int(m.group(1))
        if port is None:
            sys.exit("the relay did not start")
        base = "http://127.0.0.1:%d" % port
        for _ in range(100):
            try:
                httpx.get(base + "/api/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(tmp, executable_path=chromium, headless=True, args=ARGS)
            pg = ctx.new_page()
            t = time.perf_counter()
            pg.goto(base + "/ui/browser")
            pg.wait_for_selector("body[data-wasm=ready]", timeout=120000)
            ready_s = time.perf_counter() - t
            info = pg.inner_text("#wasm-info")
            box = pg.locator("canvas.pad").bounding_box()
            pg.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
            pg.mouse.down()
            pg.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.2 * box["height"], steps=5)
            pg.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.85 * box["height"], steps=5)
            pg.mouse.up()
            wasm, relay = [], []
            for _ in range(RUNS + 1):  # the first run warms up
                pg.click("#classify")
                pg.wait_for_selector("#relay-result[data-ms]")
                wasm.append(float(pg.get_attribute("#wasm-result", "data-ms")))
                relay.append(float(pg.get_attribute("#relay-result", "data-ms")))
            ctx.close()
        return {"ready_s": ready_s, "info": info, "wasm_ms": statistics.median(wasm[1:]),
                "relay_ms": statistics.median(relay[1:])}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def main():
    b = browser_figures()
    unix_ms = cli_us("--on", "micropython", "--kernels", "python") / 1000
    numpy_ms = cli_us() / 1000
    start = re.search(r"runtime (\d+) ms, load model (\d+) ms", b["info"])
    fetched = re.search(r"firmware ([\d.]+ \w+), model ([\d.]+ \w+)", b["info"])
    rows = [
        {"where": "MicroPython unix port, x64 (anchor)", "kernels": "python (bytecode)", "ms_per_digit": unix_ms,
         "vs_anchor": 1.0},
        {"where": "MicroPython WebAssembly in Chromium (npm 1.29.0-6)", "kernels": "python (bytecode)",
         "ms_per_digit": b["wasm_ms"], "vs_anchor": round(b["wasm_ms"] / unix_ms, 2)},
        {"where": "relay, host numpy (page -> /mcp infer)", "kernels": "numpy", "ms_per_digit": b["relay_ms"],
         "vs_anchor": round(b["relay_ms"] / unix_ms, 3)},
        {"where": "host numpy (hyperion-host infer)", "kernels": "numpy", "ms_per_digit": numpy_ms,
         "vs_anchor": round(numpy_ms / unix_ms, 3)},
    ]
    notes = ("Host speed (this machine), median of %d runs each. The page was ready %.1f s after navigation "
             "(runtime compiled in %s ms, model loaded in %s ms; fetched firmware %s and model %s)."
             % (RUNS, b["ready_s"], start and start.group(1), start and start.group(2),
                fetched and fetched.group(1), fetched and fetched.group(2)))
    save("web", rows, notes)
    print(notes)


if __name__ == "__main__":
    main()
