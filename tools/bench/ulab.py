"""Benchmark: the ulab kernel path against the bytecode path, in the same run, on the ulab interpreters built
from ../shared/vendor (mpbuild: `micropython-ulab`, the unix port with ulab and 32-bit floats; `micropython-cpy`,
the same configured like CircuitPython: no native emitter).

    .venv/bin/python tools/bench/ulab.py

Cases (issue 19's targets): a transformer block and a small CNN (digits) quantized with no --calib (5x), tinylm
tokens/s (3x), and kws's audio front end, 1 s of audio to MFCCs (5x). `kernels='python'` is the bytecode path;
`kernels='ulab'` is ulab over bytecode (what CircuitPython runs); `auto` on micropython-ulab is viper with
ulab's float kernels. Times are this computer's (x64) speed: ratios carry over to a board, the absolute figures
do not. Each figure is the best of several runs."""

import sys
import tempfile
from pathlib import Path

from common import ROOT, save

from hyperion_host import mpbuild
from hyperion_host.device.local import run_micropython
from hyperion_host.files import write_atomic
from hyperion_host.model.quantize import Options, quantize_model

sys.path.insert(0, str(ROOT / "tools"))
import onnx_examples  # noqa: E402

RUN = """
import array, gc, time, hyperion
def best(f, n):
    b = None
    for i in range(n):
        gc.collect()
        t = time.ticks_us()
        f()
        d = time.ticks_diff(time.ticks_us(), t)
        b = d if b is None or d < b else b
    return b
for path, size, kernels in CASES:
    m = hyperion.load(path, kernels=kernels)
    m.set_input(array.array('f', [((i * 7919) %% 255) / 255.0 for i in range(size)]))
    paths = sorted(set(m.info()['kernels']))
    print('MODEL', path, kernels, best(m.run, 5), '/'.join(paths), m.info()['expanded_bytes'])
    m.close()
    m = None
for kernels in KINDS:
    m = hyperion.load(%r, kernels=kernels)
    t = time.ticks_us()
    n = 0
    for p in m.generate('Once upon', 40, temperature=0):
        n += len(p.encode())
    print('LM', kernels, n, time.ticks_diff(time.ticks_us(), t), m.info()['expanded_bytes'])
    m = None
    gc.collect()
from hyperion import audio
import math
s = array.array('h', [int(8000 * math.sin(i * 0.05) + 3000 * math.sin(i * 0.31)) for i in range(16000)])
for u in (False, None):
    fe = audio.Frontend(use_ulab=u)
    print('AUDIO', 'python' if u is False else 'ulab', best(lambda: fe.mfcc(s), 3))
"""


def models(d):
    """(name, .hyq path, input size) of the graph cases, quantized with no calibration data."""
    out = []
    tr = d / "block.onnx"
    onnx_examples.transformer(str(tr), vocab=64, dim=64, heads=4, seq=16, ffn=128)
    for name, src in (("transformer block", tr), ("digits CNN", ROOT / "models" / "digits" / "digits.onnx")):
        blob, _ = quantize_model(str(src), Options())
        p = d / (Path(src).stem + ".hyq")
        write_atomic(p, blob)
        from hyperion_host.model.hyqfile import load_program

        prog, _ = load_program(str(p))
        size = 1
        for v in prog.shapes[prog.inputs[0]]:
            size *= v
        out.append((name, p, size))
    return out


def measure(binary, kinds, d):
    cases = [(str(p), size, k) for _, p, size in models(d) for k in kinds]
    code = "CASES = %r\nKINDS = %r\n" % (cases, kinds) + RUN % str(ROOT / "models" / "tinylm" / "tinylm.hyq")
    r = run_micropython(code, heap=8 * 1024 * 1024, binary=str(binary), timeout=1200)
    if not r.ok:
        raise SystemExit("benchmark failed on %s: %s" % (binary, (r.stderr or r.stdout)[-500:]))
    res = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if f and f[0] == "MODEL":
            res[(Path(f[1]).stem, f[2])] = (int(f[3]), f[4], int(f[5]))
        elif f and f[0] == "LM":
            res[("tinylm", f[1])] = (int(f[2]) / (int(f[3]) / 1e6), "", int(f[4]))
        elif f and f[0] == "AUDIO":
            res[("kws front end", f[1])] = (int(f[2]), "", 0)
    return res


def m0(model):
    """{kernels: instructions per MAC} of model on the emulated Cortex-M0 (rp2040's core, no FPU), on its firmware
    built with ulab: the bytecode path against ulab over bytecode (`hyperion-host profile --kernels ulab`)."""
    from hyperion_host.ship.profile import profile

    return {k: profile(model, "rp2040", kernels=k) for k in ("python", "ulab")}


def main():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        names = {p.stem: name for name, p, _ in models(d)}
        for interp, kinds in (("micropython-ulab", ("python", "ulab", "auto")), ("micropython-cpy", ("python", "ulab"))):
            res = measure(mpbuild.ulab_interpreter(interp.split("-")[1]), kinds, d)
            for stem, target in (("block", 5), ("digits", 5), ("tinylm", 3), ("kws front end", 5)):
                base = res[(stem, "python")][0]
                for k in kinds[1:]:
                    if (stem, k) not in res:
                        continue
                    v, paths, kept = res[(stem, k)]
                    lm = stem == "tinylm"
                    speedup = v / base if lm else base / v
                    rows.append({"build": interp.split("-")[1], "case": names.get(stem, stem), "kernels": k,
                                 "bytecode": "%.1f tok/s" % base if lm else "%.2f ms" % (base / 1000),
                                 "this path": "%.1f tok/s" % v if lm else "%.2f ms" % (v / 1000),
                                 "speedup": round(speedup, 1), "target": "%dx" % target,
                                 "met": "yes" if speedup >= target else "NO", "op paths": paths,
                                 "expanded KB": round(kept / 1024)})
        # the board's own instruction set: the emulated Cortex-M0 (the block's activations do not fit its heap
        # on the bytecode path)
        for name, p in [(n, p) for n, p, _ in models(d) if n != "transformer block"] + [
                ("digits CNN, calibrated int8", ROOT / "models" / "digits" / "digits.hyq")]:
            r = m0(p)
            base, u = r["python"], r["ulab"]
            rows.append({"build": "Cortex-M0 (QEMU)", "case": name, "kernels": "ulab",
                         "bytecode": "%.0f instr/MAC" % base["instructions_per_mac"],
                         "this path": "%.0f instr/MAC" % u["instructions_per_mac"],
                         "speedup": round(base["instructions"] / u["instructions"], 1), "target": "-", "met": "-",
                         "op paths": "/".join(sorted({o["kernel"] for o in u["ops"]})),
                         "expanded KB": "heap %d KB" % round(u["heap"]["total"] / 1024)})
    save("ulab", rows, notes="Host speed (x64), not a board's: on a board both paths run on its own core and the "
         "ratios differ. build ulab: micropython-ulab (MicroPython + ulab); cpy: micropython-cpy (no native emitter, "
         "like CircuitPython). Best of 3-5 runs. expanded KB: heap the ulab path keeps for expanded q4 weights "
         "(Model.info()['expanded_bytes']). Cortex-M0 rows: instructions on the emulated core (no FPU: ulab's float32 "
         "arithmetic is software there), on its firmware built with ulab; the heap is load + run on the board. "
         "Reproduce: `.venv/bin/python tools/bench/ulab.py`.")
    return 0 if all(r["met"] in ("yes", "-") for r in rows if r["kernels"] == "ulab") else 1


if __name__ == "__main__":
    sys.exit(main())
