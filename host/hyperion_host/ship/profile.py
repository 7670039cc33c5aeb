"""`hyperion-host profile`: a model on the board's own instruction set. It builds a ROMFS bundle for the board,
boots its emulated core in QEMU with -icount shift=0 (1 us of board time = 1,000 instructions, every run the
same), runs the model (or generates tokens with a language model) and reports instructions per inference or per
token, per op and per MAC, the heap that import, load and run take on the 32-bit target, the kernel path per
op, and the output's agreement with the host reference (the bundle's self-test)."""

import ast
import base64
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hyperion_host import mpbuild
from hyperion_host.boards import get_board
from hyperion_host.device import qemu
from hyperion_host.device.transport import Board, BoardExecError
from hyperion_host.errors import HyperionError
from hyperion_host.model.summary import model_summary
from hyperion_host.ship.bundle import build_bundle
from hyperion_host.ship.romfs import make_image

MARK = "\x00HYQ-PROFILE "
OOM = "\x00HYQ-OOM "
RUN_TIMEOUT = 600
CPI = 1.0  # cycles per instruction assumed for the time estimate (a lower bound: loads and branches take more)

# The board's instruction clock, _clock(): on ARM time.ticks_us() after a WFI (under -icount with sleep=off the
# idle core wakes exactly at the next SysTick tick, so every later reading is the same on every run), on RISC-V
# the instret CSR (the instructions retired, exactly). Units per instruction: mpbuild.TARGETS[...]["clock"].
CLOCKS = {
    "systick": """
import time, micropython
@micropython.asm_thumb
def _sync():
    wfi()
_sync()
_clock = time.ticks_us
""",
    "instret": """
import micropython
@micropython.asm_rv32
def _instret():
    csrrs(a0, zero, 0xC02)
_hi = [0, 0]
def _clock():
    v = _instret() & 0xFFFFFFFF
    if v < _hi[1]:
        _hi[0] += 0x100000000
    _hi[1] = v
    return _hi[0] + v
""",
}

# Runs on the board after CLOCKS[...]. Heap: gc.mem_alloc() after a collection, before and after each step (live
# bytes on the board's own heap). _o: what reading the clock itself costs, taken off every figure.
SCRIPT = """
import gc, array, binascii
_o = _clock()
_o = _clock() - _o
_step = 'importing hyperion'
_used = 0
try:
    gc.collect()
    _a0 = gc.mem_alloc()
    _t0 = _clock()
    import hyperion
    _t1 = _clock()
    gc.collect()
    _a1 = _used = gc.mem_alloc()
    _step = 'loading the model'
    _m = hyperion.load(%(path)r, kernels=%(kernels)r, key=%(key)r)
    _t2 = _clock()
    gc.collect()
    _a2 = _used = gc.mem_alloc()
    _test = %(test)r
    if 'tokens' in _test:
        _step = 'preparing the decoder'
        from hyperion import lm
        _d = lm.Decoder(_m)
        _y = _d.prefill(_test['tokens'])
        gc.collect()
        _a3 = gc.mem_alloc()
        _y = list(_y)
        _t3 = _clock()
        for _k in range(%(tokens)d):  # decoder steps after the prompt: matvecs and attention (sampling excluded)
            _d.step(32 + _k %% 64)
        _per = (_clock() - _t3 - _o) // %(tokens)d
        _ops = []
    else:
        _step = 'running the model'
        for _i in range(%(ninputs)d):  # the inputs are files in ROMFS: int8 ones as they are, no float copy
            _f = open('/rom/models/_input%%d.bin' %% _i, 'rb')
            if _m.input_scale(_i):
                _m.set_input_q(memoryview(_f), _i)
            else:
                _m.set_input(array.array('f', _f.read()), _i)
            _f.close()
        _y = _m.run()
        gc.collect()
        _a3 = gc.mem_alloc()
        _ops = [0] * len(_m.h.nodes)
        _t3 = _clock()
        _m.run(stats=_ops, clock=_clock)
        _ti = _clock() - _t3
        _t3 = _clock()
        _y = _m.run()
        _per = _clock() - _t3 - _o
        # what the per-op readings themselves cost (the timed run's excess), shared out: the ops add up to _per
        _share = (_ti - _o - _per) / len(_ops)
        _ops = [_n - _share for _n in _ops]
        _y = list(_y[0] if isinstance(_y, tuple) else _y)
    _i = _m.info()
except MemoryError:
    _m = _d = _y = None
    gc.collect()
    print(%(oom)r + repr((_step, _used)))
    raise SystemExit
gc.collect()
print(%(mark)r + repr((_per, _ops, _t1 - _t0 - _o, _t2 - _t1 - _o, _a1 - _a0, _a2 - _a1, _a3 - _a2, gc.mem_free(),
                       _i['kernels'], _i['ops'], _i['mode'], _y)))
"""


def _write_inputs(model_path, test, folder, key):
    """The self-test's inputs as files beside the model (_input<i>.bin): float32, or for an int8 input the bytes
    the board's quantize gives (value + 128), which set_input_q takes in place. Returns how many."""
    from hyperion_host.model.hyqfile import load_program
    from hyperion_host.model.reference import Q_STATIC, quantize_rows

    prog, _ = load_program(str(model_path), key=key)
    raws = test.get("input_b64", [])
    for i, b64 in enumerate(raws):
        x = np.frombuffer(base64.b64decode(b64), "<f4")
        name = prog.inputs[i]
        if prog.dtypes.get(name) == "i8":
            q, _ = quantize_rows(x.reshape(1, -1), Q_STATIC, float(prog.scales[name]), False)
            data = (q.ravel() + 128).astype(np.uint8).tobytes()
        else:
            data = np.ascontiguousarray(x, "<f4").tobytes()
        (folder / ("_input%d.bin" % i)).write_bytes(data)
    return len(raws)


def profile(model_path, board_name, kernels="auto", tokens=8, romfs_size=None, log=None, frozen=False, key=None):
    """Profile a .hyq model on the emulated core of a board; returns the figures as a dict. romfs_size: the
    board's ROMFS area in bytes, for a board flashed with a bigger one than boards/ gives. frozen: on a firmware
    with Hyperion frozen in and its C kernels compiled in (firmware/manifest.py), the ROMFS holding the model only.
    key: an encrypted model's (the board decrypts its weights as they stream)."""
    board = get_board(board_name)
    target = qemu.target_of(board)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise HyperionError("no such model file: %s" % model_path)
    if tokens < 1:
        raise HyperionError("--tokens must be at least 1")
    summary = model_summary(model_path, key)
    work = Path(tempfile.mkdtemp(prefix="hyperion-profile-"))
    try:
        # what running a model needs (no Picol, no MCP client), so the image fits the board's ROMFS area
        ulab = kernels == "ulab"  # on the core's firmware built with ulab (mpbuild), the ulab kernels in the image
        manifest = build_bundle(board["name"], [str(model_path)], work / "bundle", romfs=True, part="inference",
                                model_keys=[key] if key else (), fit_check=False, ulab=ulab)
        test = manifest["self_tests"][model_path.stem]
        ninputs = _write_inputs(model_path, test, work / "bundle" / "models", key)
        (work / "bundle" / "romfs.img").write_bytes(make_image(work / "bundle", ["lib", "models"]))
        kind, per_unit = mpbuild.TARGETS[target]["clock"]
        code = CLOCKS[kind] + SCRIPT % {"path": "/rom/models/" + model_path.name, "kernels": kernels,
                                        "test": {k: v for k, v in test.items() if k != "input_b64"},
                                        "tokens": tokens, "mark": MARK, "oom": OOM, "key": key, "ninputs": ninputs}
        img = work / "bundle" / "romfs.img"
        if frozen:  # the package is in the firmware: a copy in ROMFS would shadow it
            img = work / "models.img"
            img.write_bytes(make_image(work / "bundle", ["models"]))
        with qemu.Emulator(board, romfs=img, log=log, romfs_size=romfs_size, frozen=frozen, ulab=ulab) as emu:
            out = []
            try:
                with Board(emu.port, timeout=30) as b:
                    b.exec(code, stream=out.append, timeout=RUN_TIMEOUT)
            except BoardExecError as e:
                raise HyperionError("on the emulated %s: %s" % (board["name"], _last(e.traceback))) from None
            except HyperionError:
                raise HyperionError(emu.died() or "the emulated %s stopped answering" % board["name"]) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = b"".join(out).decode(errors="replace")
    oom = [x for x in text.splitlines() if x.startswith(OOM)]
    if oom:
        step, used = ast.literal_eval(oom[0][len(OOM):])
        raise HyperionError("%s does not fit the %s's %d KB heap: out of memory while %s, with %d KB already in use "
                            "by the firmware and the model; use a board with more RAM, or a smaller model"
                            % (model_path.name, board["name"], board["vboard_heap"] // 1024, step, used // 1024))
    line = [x for x in text.splitlines() if x.startswith(MARK)]
    if not line:
        raise HyperionError("the emulated board gave no result: %s" % _last(text))
    per, ops, import_k, load_k, heap_import, heap_load, heap_run, free, kpaths, opnames, mode, y = \
        ast.literal_eval(line[0][len(MARK):])
    decoder = "tokens" in test
    instructions = round(per * per_unit)
    macs = summary["macs"] if not decoder else _decoder_macs(summary)
    diff = max(abs(a - b) for a, b in zip(y, test["expected"])) if y else float("inf")
    scale = max(1.0, max(abs(v) for v in test["expected"]))
    clock = board.get("clock_hz")
    return {
        "model": str(model_path), "board": board["name"], "core": mpbuild.TARGETS[target]["title"].split(":")[0],
        "arch": board["arch"],
        "unit": "token" if decoder else "inference", "instructions": instructions,
        "instructions_per_mac": instructions / macs if macs else None, "macs": macs,
        "ops": [{"op": o, "name": s["name"], "kernel": k, "instructions": max(0, int(n * per_unit)), "macs": s["macs"],
                 "instructions_per_mac": n * per_unit / s["macs"] if s["macs"] else None}
                for o, k, n, s in zip(opnames, kpaths, ops, summary["ops"])],
        "import_instructions": round(import_k * per_unit), "load_instructions": round(load_k * per_unit),
        "clock": {"source": kind, "instructions_per_unit": per_unit},
        "heap": {"import": heap_import, "load": heap_load, "run": heap_run, "total": heap_import + heap_load + heap_run,
                 "free_after": free, "board_heap": board["vboard_heap"]},
        "mode": mode, "frozen": frozen,
        "parity": {"max_abs_diff": diff, "relative": diff / scale, "ok": diff <= test["tolerance"]},
        "clock_hz": clock, "cycles_per_instruction": CPI,
        "estimated_ms": instructions * CPI / clock * 1000 if clock else None,
        "tokens_per_s": clock / (instructions * CPI) if clock and decoder else None,
    }


def _decoder_macs(summary):
    """MACs per generated token: every weight matrix once (a matvec per token; attention is small at short context)."""
    return sum(o["macs"] for o in summary["ops"] if o["op"] in ("linear",)) // max(1, _seq_len(summary))


def _seq_len(summary):
    shape = next(iter(summary["inputs"].values()))
    return shape[-1] if len(shape) > 1 else 1


def _last(text):
    lines = [x for x in str(text).strip().splitlines() if x.strip()]
    return lines[-1] if lines else "failed"
