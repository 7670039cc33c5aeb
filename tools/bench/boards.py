"""Benchmark: the example models on the boards' own instruction sets (`hyperion-host profile`: emulated cores,
QEMU -icount, deterministic instruction counts), every kernel path (c, viper, python) in the same run, plus a
small CNN quantized with no --calib (float tensors between its layers: the default a new user gets).

Per emulated core and model: instructions per inference (per token for tinylm), instructions per MAC, the
estimated time at the board's clock (one cycle per instruction: a lower bound), and the heap on the board.
Anchors, in the same table: MLPerf Tiny int8 on a Cortex-M0+ (STM32G0 at 64 MHz) 7.8-12.1 cycles/MAC;
TinyMaix on an RP2040 about 25 cycles/MAC; pico_llama (llama2.c stories260K) on an RP2350 19 tokens/s."""

import sys
import tempfile
from pathlib import Path

from common import ROOT, save

from hyperion_host.errors import HyperionError
from hyperion_host.ship.profile import profile

BOARDS = ("rp2040", "esp32c3", "rp2350")
MODELS = ("digits", "kws", "tinylm", "cnn-no-calib")
PATHS = ("c", "viper", "python")
FROZEN = "c, frozen firmware"  # Hyperion frozen in, the C kernels compiled in: the model alone in ROMFS
ROMFS = {"esp32c3": 1 << 20}  # the C3's standard romfs partition holds 128 KB: a 1 MB one for kws and tinylm
ANCHORS = [
    {"board": "Cortex-M0+ (STM32G0, 64 MHz)", "model": "MLPerf Tiny int8, C (anchor)", "path": "C", "instructions": "",
     "instr_per_mac": "7.8-12.1 cycles", "est_ms": "", "tokens_per_s": "", "heap_kb": "", "x_over_bytecode": ""},
    {"board": "RP2040", "model": "TinyMaix, C (anchor)", "path": "C", "instructions": "", "instr_per_mac": "~25 cycles",
     "est_ms": "", "tokens_per_s": "", "heap_kb": "", "x_over_bytecode": ""},
    {"board": "RP2350", "model": "pico_llama stories260K, C (anchor)", "path": "C", "instructions": "",
     "instr_per_mac": "", "est_ms": "", "tokens_per_s": "19", "heap_kb": "", "x_over_bytecode": ""},
]


def _uncalibrated_cnn(d):
    """tools/onnx_examples.cnn quantized as a new user would: no --calib, so float tensors between layers."""
    sys.path.insert(0, str(ROOT / "tools"))
    from hyperion_host.files import write_atomic
    from hyperion_host.model.quantize import Options, quantize_model

    import onnx_examples

    blob, _ = quantize_model(onnx_examples.cnn(d / "cnn.onnx", batch=1), Options())
    write_atomic(d / "cnn-no-calib.hyq", blob)
    return d / "cnn-no-calib.hyq"


def _row(board, model, path, r, bytecode):
    return {"board": "%s (%s)" % (board, r["core"]), "model": model, "path": path, "instructions": r["instructions"],
            "instr_per_mac": round(r["instructions_per_mac"], 1) if r["instructions_per_mac"] else "",
            "est_ms": round(r["estimated_ms"], 2),
            "tokens_per_s": round(r["tokens_per_s"], 2) if r["tokens_per_s"] else "",
            "heap_kb": round(r["heap"]["total"] / 1024, 1),
            "x_over_bytecode": round(bytecode["instructions"] / r["instructions"], 1) if bytecode else ""}


def main():
    rows = []
    work = Path(tempfile.mkdtemp())
    cnn = _uncalibrated_cnn(work)
    for board in BOARDS:
        for model in MODELS:
            path = cnn if model == "cnn-no-calib" else ROOT / "models" / model / (model + ".hyq")
            size = ROMFS.get(board) if model in ("kws", "tinylm") else None
            r, failed = {}, {}
            for k in PATHS + (FROZEN,):
                try:
                    r[k] = profile(path, board, kernels="c" if k == FROZEN else k,
                                   tokens=2 if k == "python" else 4, romfs_size=size, frozen=k == FROZEN)
                except HyperionError as e:  # a model this path cannot hold on the board: the row says why
                    failed[k] = e.format_message()
            for k in PATHS + (FROZEN,):
                if k in failed:
                    rows.append({"board": board, "model": model, "path": k, "instructions": "-",
                                 "instr_per_mac": "-", "est_ms": "-", "tokens_per_s": "-",
                                 "heap_kb": failed[k][:90], "x_over_bytecode": "-"})
                    continue
                if not r[k]["parity"]["ok"]:
                    sys.exit("%s on %s with %s kernels: output out of tolerance" % (model, board, k))
                rows.append(_row(board, model, k, r[k], r.get("python") if k != "python" else None))
    notes = ("Instructions counted on emulated cores (QEMU -icount: deterministic; per token for tinylm: decoder "
             "steps after a prompt, sampling excluded). est_ms: at the board's clock from boards/ with one cycle "
             "per instruction, a lower bound (docs/emulation.md). heap_kb: live bytes after import + load + first "
             "run on the board's heap, firmware and model in ROMFS (frozen firmware: the model alone in ROMFS, the package "
             "and the C kernels in the firmware's flash). x_over_bytecode: the python kernel path's "
             "instructions over this path's, in the same run. cnn-no-calib: tools/onnx_examples.cnn quantized "
             "with no --calib. Anchors are cycles on real boards, from their publications. Reproduce: `make bench` "
             "or `.venv/bin/python tools/bench/boards.py`.")
    save("boards", rows + ANCHORS, notes)


if __name__ == "__main__":
    main()
