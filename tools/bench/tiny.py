"""Benchmark: the four MLPerf Tiny reference architectures (tools/mlperf_tiny.py: KWS DS-CNN, VWW MobileNetV1-0.25,
IC ResNet-8, AD autoencoder), exported from PyTorch, quantized to int4 weights with int8 activations (--calib),
and run on the emulated Cortex-M0 (rp2040) and rv32imc (esp32c3) cores of `hyperion-host profile`, on the frozen
firmware (Hyperion and its C kernels in flash, as a production board runs it).

Per model and core: instructions per inference (QEMU -icount: deterministic), instructions per MAC, the heap the
model takes on the board, whether it fits the board's RAM and flash (boards/), and parity with the host
reference. Per model: the int4 model's agreement with the float PyTorch model on 64 Gaussian inputs (top-1 for
the classifiers, output SQNR for all; the weights are seeded, not trained: no dataset can be had here).
Anchor in the same table: MLPerf Tiny v1.0's reference int8 C on a Cortex-M0+ (STM32G0B1 at 64 MHz), its
published latency and the cycles per MAC that gives."""

import sys
import tempfile
from pathlib import Path

import numpy as np
from common import ROOT, save

sys.path.insert(0, str(ROOT / "tools"))

import mlperf_tiny  # noqa: E402

from hyperion_host.boards import get_board  # noqa: E402
from hyperion_host.errors import HyperionError  # noqa: E402
from hyperion_host.files import write_atomic  # noqa: E402
from hyperion_host.model.hyqfile import load_program  # noqa: E402
from hyperion_host.model.quantize import Options, quantize_model  # noqa: E402
from hyperion_host.ship.profile import profile  # noqa: E402

BOARDS = ("rp2040", "esp32c3")
ROMFS = {"esp32c3": 1 << 20}  # the C3's standard romfs partition holds 128 KB: a board flashed with a 1 MB one
SAMPLES = 64


def quantized(name, work):
    """(the .hyq path, its quantize report) for one architecture."""
    onnx_path = mlperf_tiny.export(name, work)
    blob, report = quantize_model(str(onnx_path), Options(calib=str(work / (name + "-calib.npz"))))
    path = work / (name + ".hyq")
    write_atomic(path, blob)
    return path, report


def agreement(name, path):
    """int4 (the host reference of the .hyq) against the float PyTorch model on Gaussian inputs."""
    x = mlperf_tiny.inputs(name, SAMPLES, seed=7)
    want = mlperf_tiny.float_outputs(name, x)
    prog, _ = load_program(str(path))
    got = np.concatenate([prog.run({prog.inputs[0]: x[i: i + 1]})[prog.outputs[0]] for i in range(SAMPLES)])
    err = got.astype(np.float64) - want
    sqnr = 10 * np.log10((want.astype(np.float64) ** 2).sum() / max((err ** 2).sum(), 1e-30))
    top1 = float((got.argmax(1) == want.argmax(1)).mean()) if name != "ad" else None
    return top1, float(sqnr)


def fits(board, path, heap):
    """'yes', or why not: the model in the board's ROMFS area (the frozen firmware holds the runtime), its heap in
    the board's RAM."""
    b = get_board(board)
    area = ROMFS.get(board) or b["romfs"]["size"]
    if path.stat().st_size > area:
        return "no: %d KB model, %d KB ROMFS" % (path.stat().st_size // 1024, area // 1024)
    if heap >= b["vboard_heap"]:
        return "no: %d KB heap of %d KB" % (heap // 1024, b["vboard_heap"] // 1024)
    return "yes"


def main():
    rows = []
    work = Path(tempfile.mkdtemp(prefix="tiny-"))
    for name in mlperf_tiny.NAMES:
        path, report = quantized(name, work)
        top1, sqnr = agreement(name, path)
        macs = mlperf_tiny.PUBLISHED_MACS[name]
        pub_ms = mlperf_tiny.PUBLISHED_M0_MS[name]
        rows.append({"model": name, "core": "Cortex-M0+ STM32G0 (MLPerf Tiny int8 C, anchor)", "instructions": "",
                     "instr_per_mac": round(pub_ms * 1e-3 * mlperf_tiny.M0_CLOCK_HZ / macs, 1),
                     "est_ms": pub_ms, "heap_kb": "", "fits": "", "parity": "", "file_kb": "",
                     "top1_vs_fp32": "", "sqnr_db": ""})
        for board in BOARDS:
            b = get_board(board)
            row = {"model": name, "core": "%s (%s)" % (board, b["arch"]), "file_kb": round(path.stat().st_size / 1024, 1),
                   "top1_vs_fp32": "" if top1 is None else round(top1, 3), "sqnr_db": round(sqnr, 1)}
            try:
                r = profile(path, board, frozen=True, romfs_size=ROMFS.get(board))
            except HyperionError as e:
                row.update(instructions="", instr_per_mac="", est_ms="", heap_kb="", parity="",
                           fits="no: " + str(e).split(";")[0][:90])
                rows.append(row)
                continue
            row.update(instructions=r["instructions"], instr_per_mac=round(r["instructions_per_mac"], 1),
                       est_ms=round(r["estimated_ms"], 1), heap_kb=round(r["heap"]["total"] / 1024, 1),
                       parity="ok" if r["parity"]["ok"] else "FAIL %.2g" % r["parity"]["max_abs_diff"],
                       fits=fits(board, path, r["heap"]["total"]))
            rows.append(row)
    notes = ("Reproduce: `make bench` (or `.venv/bin/python tools/bench/tiny.py`). Instructions: QEMU -icount on the "
             "frozen firmware, one inference after a warm-up run. est_ms: instructions at the board's clock (one "
             "cycle per instruction: a lower bound). fits: the model in the board's ROMFS area (the esp32c3 flashed "
             "with a 1 MB one) and its heap in the board's RAM. top1_vs_fp32 / sqnr_db: the int4 model against the float "
             "PyTorch model on 64 Gaussian inputs (seeded weights: the datasets cannot be had here). Anchor rows: "
             "MLPerf Tiny v1.0 reference latency on a Cortex-M0+ at 64 MHz, as cycles per MAC.")
    save("tiny", [{k: r[k] for k in ("model", "core", "instructions", "instr_per_mac", "est_ms", "heap_kb", "fits",
                                       "parity", "file_kb", "top1_vs_fp32", "sqnr_db")} for r in rows], notes)
    return 0 if all(r["parity"] in ("ok", "") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
