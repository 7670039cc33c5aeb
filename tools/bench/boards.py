"""Benchmark: the example models on the boards' own instruction sets (`hyperion-host profile`: emulated cores,
QEMU -icount, deterministic instruction counts), native (viper) kernels against the bytecode path in the same run.

Per emulated core and model: instructions per inference (per token for tinylm), instructions per MAC, the
estimated time at the board's clock (one cycle per instruction: a lower bound), and the heap on the board.
Anchors, in the same table: MLPerf Tiny int8 on a Cortex-M0+ (STM32G0 at 64 MHz) 7.8-12.1 cycles/MAC;
TinyMaix on an RP2040 about 25 cycles/MAC; pico_llama (llama2.c stories260K) on an RP2350 19 tokens/s."""

import sys

from common import ROOT, save

from hyperion_host.errors import HyperionError
from hyperion_host.ship.profile import profile

BOARDS = ("rp2040", "esp32c3", "rp2350")
MODELS = ("digits", "kws", "tinylm")
ROMFS = {"esp32c3": 1 << 20}  # the C3's standard romfs partition holds 128 KB: a 1 MB one for kws and tinylm
ANCHORS = [
    {"board": "Cortex-M0+ (STM32G0, 64 MHz)", "model": "MLPerf Tiny int8, C (anchor)", "path": "C", "instructions": "",
     "instr_per_mac": "7.8-12.1 cycles", "est_ms": "", "tokens_per_s": "", "heap_kb": "", "bytecode_instr_per_mac": ""},
    {"board": "RP2040", "model": "TinyMaix, C (anchor)", "path": "C", "instructions": "", "instr_per_mac": "~25 cycles",
     "est_ms": "", "tokens_per_s": "", "heap_kb": "", "bytecode_instr_per_mac": ""},
    {"board": "RP2350", "model": "pico_llama stories260K, C (anchor)", "path": "C", "instructions": "",
     "instr_per_mac": "", "est_ms": "", "tokens_per_s": "19", "heap_kb": "", "bytecode_instr_per_mac": ""},
]


def main():
    rows = []
    for board in BOARDS:
        for model in MODELS:
            path = ROOT / "models" / model / (model + ".hyq")
            size = ROMFS.get(board) if model != "digits" else None
            try:
                v = profile(path, board, kernels="viper", tokens=4, romfs_size=size)
                p = profile(path, board, kernels="python", tokens=2, romfs_size=size)
            except HyperionError as e:  # a model the board cannot hold: the row says why
                rows.append({"board": board, "model": model, "path": "viper", "instructions": "-",
                             "instr_per_mac": "-", "est_ms": "-", "tokens_per_s": "-",
                             "heap_kb": e.format_message().split(": ")[0], "bytecode_instr_per_mac": "-"})
                continue
            if not (v["parity"]["ok"] and p["parity"]["ok"]):
                sys.exit("%s on %s: output out of tolerance" % (model, board))
            rows.append({
                "board": "%s (%s)" % (board, v["core"]), "model": model, "path": "viper",
                "instructions": v["instructions"],
                "instr_per_mac": round(v["instructions_per_mac"], 1) if v["instructions_per_mac"] else "",
                "est_ms": round(v["estimated_ms"], 2),
                "tokens_per_s": round(v["tokens_per_s"], 2) if v["tokens_per_s"] else "",
                "heap_kb": round(v["heap"]["total"] / 1024, 1),
                "bytecode_instr_per_mac": round(p["instructions_per_mac"], 1) if p["instructions_per_mac"] else "",
            })
    notes = ("Instructions counted on emulated cores (QEMU -icount: deterministic; per token for tinylm: decoder "
             "steps after a prompt, sampling excluded). est_ms: at the board's clock from boards/ with one cycle "
             "per instruction, a lower bound (docs/emulation.md). heap_kb: live bytes after import + load + first "
             "run on the board's heap, firmware and model in ROMFS. bytecode_instr_per_mac: the python kernel path "
             "in the same run. Anchors are cycles on real boards, from their publications. Reproduce: `make bench` "
             "or `.venv/bin/python tools/bench/boards.py`.")
    save("boards", rows + ANCHORS, notes)


if __name__ == "__main__":
    main()
