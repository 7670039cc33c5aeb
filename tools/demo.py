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
from rich.markup import escape
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
console = Console()
results = []
models_run = []  # (model, on the board, result, latency, free heap) for the closing table


def step(title, *args, tool="hyperion-host", check=None):
    """Run one command, show it and its output, and record the outcome for the summary."""
    console.rule("[bold]%s" % title)
    console.print("[dim]$[/] " + escape("%s %s" % (tool, " ".join(args))), highlight=False)
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


def board_result(model, call, p, pattern):
    """Pick `result | latency | heap` out of a board step's last line for the closing table."""
    import re

    m = re.search(pattern, p.stdout or "")
    if m:
        models_run.append((model, call) + m.groups())
    else:
        models_run.append((model, call, "failed", "", ""))


def model_steps(work):
    """Quantize an ONNX model to 4 bits, look inside, run it and measure what was lost."""
    import numpy as np
    import onnxruntime as ort

    sys.path.insert(0, str(ROOT / "tools"))
    import onnx_examples

    onnx_path = onnx_examples.cnn(work / "toy_cnn.onnx")  # a digits-sized CNN with random weights
    r = np.random.default_rng(0)
    x = r.standard_normal((64, 1, 8, 8)).astype(np.float32)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    y = np.array([sess.run(None, {"x": x[i: i + 1]})[0].argmax() for i in range(64)])
    np.savez(work / "calib.npz", x=x[:48])
    np.savez(work / "test.npz", x=x[48:], y=y[48:])
    np.save(work / "sample.npy", x[48:49])
    hyq = str(work / "toy_cnn.hyq")
    step("Quantize an ONNX CNN to 4 bits (calibrated int8 activations)", "quantize", onnx_path, "-o", hyq,
         "--input-shape", "x=1,1,8,8", "--calib", str(work / "calib.npz"), check=lambda o: "bits/weight" in o)
    step("Inspect the .hyq: ops, kernels, arena, MACs", "inspect", hyq, check=lambda o: "arena" in o)
    step("Run it on the host reference runtime", "infer", hyq, "--input", str(work / "sample.npy"),
         check=lambda o: "y (1, 10)" in o)
    step("Evaluate against the float model in onnxruntime", "eval", hyq, "--data", str(work / "test.npz"),
         "--reference", onnx_path, check=lambda o: "agreement" in o)
    bundle = str(work / "bundle")
    digits, kws = str(ROOT / "models" / "digits" / "digits.hyq"), str(ROOT / "models" / "kws" / "kws.hyq")
    tinylm = str(ROOT / "models" / "tinylm" / "tinylm.hyq")
    step("Build a bundle for the vboard (RP2350 board file, x64 native kernels) with the example models", "build",
         "--board", "rp2350", "--arch", "x64", "-m", hyq, "-m", digits, "-m", kws, "-m", tinylm, "-o", bundle,
         check=lambda o: "bundle" in o)
    step("Deploy it: A/B slot, sha256-checked copy, self-test, atomic switch", "deploy", bundle, "--port", "demo",
         check=lambda o: "slot a now active" in o)
    step("Deploy again: nothing to copy", "deploy", bundle, "--port", "demo", check=lambda o: "nothing to do" in o)
    step("Run the model on the board by name", "exec", "--port", "demo",
         "import hyperion, array\nm = hyperion.load('toy_cnn')\ny = m.run(array.array('f', [0.5] * 64))\n"
         "print(m.path, 'class', max(range(10), key=lambda i: y[i]), m.info()['kernels'])",
         check=lambda o: "/hyperion-ab/a/models/toy_cnn.hyq class" in o)
    img = np.load(ROOT / "models" / "digits" / "test.npz")["x"][0, 0]
    big = np.kron(img, np.ones((4, 4)))  # a 32x32 picture of a test digit
    p = step("digits: classify a 32x32 image on the board (resized there)", "exec", "--port", "demo",
             "import hyperion, time, gc\nm = hyperion.load('digits')\nimg = bytes(%r)\ngc.collect()\n"
             "t = time.ticks_us()\nlabel, p = m.classify(img, 32, 32)\ndt = time.ticks_diff(time.ticks_us(), t)\ngc.collect()\n"
             "print('digit', label, 'p=%%.3f' %% p, '%%.2f' %% (dt / 1000), "
             "'ms, free heap', gc.mem_free())" % (big * 255).round().astype(int).ravel().tolist(),
             check=lambda o: "digit" in o)
    board_result("digits", "classify(32x32 image)", p, r"(digit \d+ p=\S+) (\S+ ms), free heap (\d+)")
    step("kws: copy a recording of 'yes' (a held-out voice)", "cp", "--port", "demo",
         str(ROOT / "models" / "kws" / "samples" / "yes.raw"), ":yes.raw")
    p = step("kws: listen on the board (VAD, MFCC, DS-CNN)", "exec", "--port", "demo",
             "import hyperion, time, array, gc\ns = array.array('h', open('yes.raw', 'rb').read())\ngc.collect()\n"
             "m = hyperion.load('kws')\ngc.collect()\nt = time.ticks_ms()\nlabel, p = m.listen(s)\n"
             "dt = time.ticks_diff(time.ticks_ms(), t)\ngc.collect()\n"
             "print('heard', label, 'p=%.3f' % p, dt, 'ms, free heap', gc.mem_free())",
             check=lambda o: "heard yes" in o)
    board_result("kws", "listen(1 s of 16 kHz audio)", p, r"(heard \S+ p=\S+) (\d+ ms), free heap (\d+)")
    p = step("tinylm: generate text on the board (KV cache, tokens streamed as they come)", "exec", "--port", "demo",
             "import hyperion, time, gc\nm = hyperion.load('tinylm')\ngc.collect()\nn = 0\n"
             "print('Once upon a time', end='')\nt = time.ticks_us()\n"
             "for piece in m.generate('Once upon a time', 100, temperature=0.7, top_k=20, stop='\\n', seed=3):\n"
             "    print(piece, end='')\n    n += len(piece.encode())\n"
             "dt = time.ticks_diff(time.ticks_us(), t)\n"
             "gc.collect()\nprint()\nprint('%d tokens, %.0f tokens/s, free heap %d' % (n, n * 1e6 / dt, gc.mem_free()))",
             check=lambda o: "tokens/s" in o)
    board_result("tinylm", "generate('Once upon a time', 100)", p, r"(\d+ tokens), (\S+ tokens/s), free heap (\d+)")
    for kernels in ("c", "viper", "python"):
        step("Latency on the board with %s kernels" % kernels, "infer", hyq, "--input", str(work / "sample.npy"),
             "--port", "demo", "--kernels", kernels, "--stats", "--repeat", "10", check=lambda o: "y (1, 10)" in o)
    tcl = work / "classify.tcl"
    tcl.write_text(
        "# Tcl on the board (Picol): run the model through the `infer` command\n"
        "set x {}\n"
        "for {set i 0} {$i < 64} {incr i} { lappend x [expr {($i % 8) / 8.0}] }\n"
        "set y [infer toy_cnn $x]\n"
        "set best 0\n"
        "for {set i 1} {$i < [llength $y]} {incr i} {\n"
        "    if {[lindex $y $i] > [lindex $y $best]} { set best $i }\n"
        "}\n"
        "puts \"predicted class $best, p=[format %.3f [lindex $y $best]]\"\n")
    step("Run a Tcl script on the board that calls infer", "script", "run", str(tcl), "--port", "demo",
         check=lambda o: "predicted class" in o)
    relay_steps(work)


def relay_steps(work):
    """A model too big for the board's heap: the board's hybrid runtime hands it to the MCP relay."""
    import socket
    import urllib.request

    models_dir = work / "relay-models"
    models_dir.mkdir()
    src = onnx_examples_module().mlp(work / "big.onnx", k=4096)
    step("Quantize a bigger model (1M weights)", "quantize", src, "-o", str(models_dir / "big.hyq"),
         check=lambda o: "bits/weight" in o)
    step("Put it on the board too", "cp", "--port", "demo", str(models_dir / "big.hyq"), ":big.hyq")
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]
    console.rule("[bold]Start the MCP relay on the host")
    console.print("[dim]$[/] hyperion-host serve --models %s --listen :%d &" % (models_dir, port), highlight=False)
    relay = subprocess.Popen([str(BIN / "hyperion-host"), "serve", "--models", str(models_dir), "--listen", ":%d" % port],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ok = False
        for _ in range(100):
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/health" % port, timeout=1) as r:
                    ok = r.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        results.append(("Start the MCP relay on the host", ok, 0.0))
        step("Run it from the board: too big for the heap, so the relay runs it", "exec", "--port", "demo",
             "import gc, hyperion\n"
             "rt = hyperion.Runtime(policy='auto', url='http://127.0.0.1:%d/mcp')\n"
             "gc.collect()\n"
             "print('free heap', gc.mem_free(), 'bytes; big.hyq needs more, so:', rt.decide('big.hyq'))\n"
             "y = rt.run('big', [0.1] * 4096)\n"
             "print('ran', rt.last, '-', len(y), 'outputs; decisions', rt.counts)" % port,
             check=lambda o: "ran remote" in o)
    finally:
        relay.terminate()
        relay.wait(10)


def onnx_examples_module():
    sys.path.insert(0, str(ROOT / "tools"))
    import onnx_examples

    return onnx_examples


def main():
    os.environ["HYPERION_HOME"] = tempfile.mkdtemp(prefix="hyperion-demo-")
    os.environ.pop("HYPERION_PORT", None)
    work = Path(tempfile.mkdtemp(prefix="hyperion-demo-files-"))
    console.print("[bold]Hyperion demo[/]: the host toolchain driving a virtual RP2350 board "
                  "(real MicroPython on a pseudo-terminal, with a Pico 2's heap)\n")
    try:
        p = step("Start a virtual board", "vboard", "start", "--name", "demo", "--board", "rp2350")
        if p.returncode != 0:
            return 1
        port = p.stdout.strip().splitlines()[-1]
        step("List devices (identified by sys.implementation)", "devices", check=lambda o: "x64" in o)
        step("Run code on the board", "exec", "--port", "demo",
             "import gc, sys; gc.collect(); print(sys.implementation.name, 'free heap', gc.mem_free())",
             check=lambda o: "micropython free heap" in o)

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
        model_steps(work)
    finally:
        step("Stop the virtual board", "vboard", "stop", "--name", "demo", "--erase")

    if models_run:
        mt = Table("model", "on the board", "result", "latency (host speed)", "free heap after",
                   title="Models on the vboard",
                   caption="Latencies are this computer's speed: the vboard is the x64 unix port. A board's own "
                           "figures: `hyperion-host profile models/digits/digits.hyq --board rp2350` counts its "
                           "core's instructions in QEMU.")
        for row in models_run:
            mt.add_row(*row)
        console.print()
        console.print(mt)
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
