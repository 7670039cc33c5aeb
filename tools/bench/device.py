"""Benchmark: the board runtime on real MicroPython (unix port, x64), per model.

- latency with c (the C kernels, kernels/c.mpy), viper (native) and python (bytecode) kernels, and their ratios
  (end to end, and the integer kernel alone on a 256x256 layer): host speed, not a board's;
- heap: the smallest -X heapsize that loads and runs the model, minus the smallest that only imports the
  firmware (frozen or ROMFS firmware keeps its bytecode out of the heap), and the allocation volume
  (micropython.mem_peak() delta, which on this port also counts memory the GC has reclaimed);
- .mpy code size per arch.
Anchor: the bytecode path (what CircuitPython runs) in the same run. Targets: native >= 30x bytecode on the
kernels and >= 10x end to end; all-in peak heap of a digits-size CNN <= 32 KB.

The x64 port's objects take 8-byte words; a board's take 4. On a 32-bit build of the unix port (built from the
pinned source by hyperion_host.mpbuild, or $HYPERION_MICROPYTHON32), the heap is measured too, with the firmware and
its viper kernels compiled for x86: the same object sizes as on a microcontroller."""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import ROOT, save

sys.path.insert(0, str(ROOT / "tools"))
from hyperion_host import mpbuild  # noqa: E402
from hyperion_host.device import infer as board_run  # noqa: E402
from hyperion_host.device.local import run_micropython  # noqa: E402
from hyperion_host.files import write_atomic
from hyperion_host.firmware import ARCHS, cached_firmware, compile_firmware  # noqa: E402
from hyperion_host.model.hyqfile import load_program  # noqa: E402
from hyperion_host.model.quantize import Options, quantize_model  # noqa: E402

import onnx_examples  # noqa: E402

IMPORTS = ("import array, hyperion\nfrom hyperion import model, ops, layers, errors, hyq, kernels\n"
           "from hyperion.kernels import python, viper, c\n")


MP32 = os.environ.get("HYPERION_MICROPYTHON32") or str(mpbuild.build("unix32"))


def min_heap(code, lo=8 * 1024, hi=4 * 1024 * 1024, bits=64):
    """Smallest heap (bytes, 512-byte steps) on which code runs without error (on the 32-bit build: bits=32)."""
    fw = cached_firmware("x64" if bits == 64 else "x86")
    binary = None if bits == 64 else MP32
    if not run_micropython(code, heap=hi, firmware=fw, binary=binary).ok:
        raise RuntimeError("does not run even with %d bytes" % hi)
    while hi - lo > 512:
        mid = (lo + hi) // 2
        if run_micropython(code, heap=mid, firmware=fw, binary=binary).ok:
            hi = mid
        else:
            lo = mid
    return hi


def kernel_ratio():
    code = IMPORTS + """
import time
from hyperion import hyq
K = N = 256
qp = 0
nb, hdr, cb, data, stride = hyq.q4_layout(K, qp)
w = bytes((i * 37 + 11) & 255 for i in range(N * stride))
x = bytearray((i * 13) & 255 for i in range(K))
sx = array.array('i', [0] * nb)
acc = array.array('i', [0] * (2 * N))
for k, reps in ((c, 500), (viper, 50), (python, 2)):
    k.block_sums(x, K, 32, nb, sx)
    t = time.ticks_us()
    for _ in range(reps):
        k.q4_rows(w, 0, stride, hdr, cb, nb, 32, K, 0, N, x, sx, acc, 1)
    print(time.ticks_diff(time.ticks_us(), t) / reps)
"""
    r = run_micropython(code, firmware=cached_firmware("x64"))
    c_us, viper_us, python_us = (float(v) for v in r.stdout.split())
    return c_us, viper_us, python_us


def main():
    work = Path(tempfile.mkdtemp(prefix="hyperion-bench-device-"))
    r = np.random.default_rng(0)
    np.savez(work / "cnn_calib.npz", x=r.standard_normal((32, 1, 1, 8, 8)).astype(np.float32))
    np.savez(work / "mlp_calib.npz", x=r.standard_normal((32, 1, 64)).astype(np.float32))
    np.savez(work / "tr_calib.npz", tokens=r.integers(0, 64, (32, 1, 8)).astype(np.float32))
    cnn = onnx_examples.cnn(work / "cnn.onnx")
    models = {
        "digits CNN (models/digits, 19K weights)": (str(ROOT / "models" / "digits" / "digits.hyq"), None, None),
        "keyword DS-CNN (models/kws)": (str(ROOT / "models" / "kws" / "kws.hyq"), None, None),
        "toy CNN 8x8 (digits-size), dynamic int8": (cnn, ["x=1,1,8,8"], None),
        "toy CNN 8x8, calibrated (int8 chains)": (cnn, ["x=1,1,8,8"], work / "cnn_calib.npz"),
        "MLP 256-256-16 (GELU)": (onnx_examples.mlp(work / "mlp.onnx"), None, None),
        "MLP 64-128-128-10 (ReLU), calibrated": (onnx_examples.deep_mlp(work / "dmlp.onnx"), None,
                                                 work / "mlp_calib.npz"),
        "transformer block (8 tokens, d=32)": (onnx_examples.transformer(work / "tr.onnx"), None, None),
        "transformer block, calibrated": (str(work / "tr.onnx"), None, work / "tr_calib.npz"),
    }
    rows = []
    import_heap = min_heap(IMPORTS)
    import_heap32 = min_heap(IMPORTS, bits=32) if MP32 else None
    for i, (name, (src, shapes, calib)) in enumerate(models.items()):
        if src.endswith(".hyq"):
            blob = Path(src).read_bytes()
        else:
            blob, _ = quantize_model(src, Options(input_shapes=shapes, calib=str(calib) if calib else None))
        path = work / ("m%d.hyq" % i)
        write_atomic(path, blob)
        prog, _ = load_program(str(path))
        shape = prog.shapes[prog.inputs[0]]
        x = (np.arange(int(np.prod(shape))) % 13).reshape(shape).astype(np.float32)
        outs = [tuple(prog.shapes[o]) for o in prog.outputs]
        _, sc = board_run.run_local(str(path), [x], outs, "c", repeat=20)
        _, sv = board_run.run_local(str(path), [x], outs, "viper", repeat=20)
        _, sp = board_run.run_local(str(path), [x], outs, "python", repeat=5)
        # the same input, built on the board (a literal list would put the script's own constants in the figure)
        code = IMPORTS + ("m = hyperion.load(%r)\nx = array.array('f', bytes(%d))\nfor i in range(%d):\n"
                          "    x[i] = i %% 13\nm.run(x)\n") % (str(path), 4 * x.size, x.size)
        all_in = min_heap(code) - import_heap
        all_in32 = min_heap(code, bits=32) - import_heap32 if MP32 else None
        rows.append({"model": name, "file_bytes": len(blob), "c_ms": sc["latency_us"] / 1000,
                     "viper_ms": sv["latency_us"] / 1000,
                     "python_ms": sp["latency_us"] / 1000, "c_speedup": sp["latency_us"] / sc["latency_us"],
                     "speedup": sp["latency_us"] / sv["latency_us"],
                     "all_in_heap_bytes": all_in, "all_in_heap_32bit_bytes": all_in32,
                     "arena_bytes": prog.arena_size + prog.arena8_size, "allocated_bytes": sv["peak_heap_bytes"]})
    kc, kv, kp = kernel_ratio()
    rows.append({"model": "q4 kernel alone, 256x256", "file_bytes": 0, "c_ms": kc / 1000, "viper_ms": kv / 1000,
                 "python_ms": kp / 1000, "c_speedup": kp / kc, "speedup": kp / kv, "all_in_heap_bytes": 0,
                 "all_in_heap_32bit_bytes": 0, "arena_bytes": 0, "allocated_bytes": 0})
    sizes = []
    for arch in ARCHS:
        d = compile_firmware(arch, work / "fw" / arch)
        runtime_files = [d / f for f in ("__init__.mpy", "hyq.mpy", "errors.mpy", "model.mpy", "ops.mpy", "layers.mpy",
                                         "kernels/__init__.mpy", "kernels/python.mpy", "kernels/viper.mpy")]
        sizes.append("%s %d B (kernels/viper %d B)" % (arch, sum(p.stat().st_size for p in runtime_files),
                                                       (d / "kernels" / "viper.mpy").stat().st_size))
    notes = ("MicroPython unix port, x64 (host speed, not a board's), c, viper and bytecode kernels in the same run; "
             "speedup: bytecode over viper, c_speedup: bytecode over c. all_in_heap_bytes: smallest "
             "heap that loads and runs the model minus the smallest that imports the firmware with all three kernel "
             "modules (%d B; the C module's code is in RAM); "
             "all_in_heap_32bit_bytes: the same on a 32-bit build of the unix port (%s). "
             "allocated_bytes: mem_peak() delta over load and one run (counts GC-reclaimed memory too). "
             "Runtime .mpy size per arch: %s. Reproduce: `make bench` or `.venv/bin/python tools/bench/device.py`."
             % (import_heap, "imports: %d B" % import_heap32 if MP32 else "not measured: set HYPERION_MICROPYTHON32",
                "; ".join(sizes)))
    save("device", rows, notes)


if __name__ == "__main__":
    main()
