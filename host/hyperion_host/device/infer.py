"""Run a .hyq model with the firmware runtime: on the local MicroPython unix port, or on a board over its
REPL (mpremote's transport). Inputs go in as float32 bytes, outputs come back the same way, with latency,
peak heap and the kernel path per op."""

import ast
import os

import numpy as np

from hyperion_host.errors import HyperionError

RESULT = "\x00HYQ-RESULT "

# Runs on MicroPython. PATH, KERNELS, INPUTS (list of float32 bytes) are filled in; it prints one result line.
# Peak heap: the model's load and a first run (the firmware's modules are imported before, as frozen or ROMFS
# code would be), with the GC collecting every 1 KB allocated, so the peak counts live data plus at most 1 KB of
# garbage, not whatever garbage a big heap lets pile up. Then timed runs, with the GC as usual.
SCRIPT = """
import gc, time, array, micropython, hyperion
from hyperion import model, ops, layers, errors, hyq, kernels
from hyperion.kernels import python
try:
    from hyperion.kernels import viper
    from hyperion.kernels import c
except (ImportError, ValueError, SyntaxError):  # no native code here (viper.py does not compile without an emitter)
    pass
_xs = [array.array('f', b) for b in %(inputs)r]
gc.collect()
_hp = hasattr(micropython, 'mem_peak')
_base = micropython.mem_current() if _hp else gc.mem_alloc()
_th = hasattr(gc, 'threshold')
if _th:
    gc.threshold(1024)
_t0 = time.ticks_us()
_m = hyperion.load(%(path)r, kernels=%(kernels)r, key=%(key)r)
_m.allow_nonfinite = %(nonfinite)r
_load_us = time.ticks_diff(time.ticks_us(), _t0)
for _i in range(len(_xs)):
    _m.set_input(_xs[_i], _i)
_m.run()
_peak = (micropython.mem_peak() - _base) if _hp else (gc.mem_alloc() - _base)
if _th:
    gc.threshold(-1)
_t0 = time.ticks_us()
for _r in range(%(repeat)d):
    _y = _m.run()
_us = time.ticks_diff(time.ticks_us(), _t0) // %(repeat)d
_y = _y if isinstance(_y, tuple) else (_y,)
_info = _m.info()
print(%(mark)r + repr(([bytes(a) for a in _y], _us, _load_us, _peak, _info['kernels'], _info['ops'], _info['mode'])))
"""


def _script(board_path, inputs, kernels, repeat, nonfinite=False, key=None):
    # key: an encrypted model's, used for this run only (a board keeps keys that deploy --model-key installs)
    raw = [np.ascontiguousarray(a, "<f4").tobytes() for a in inputs]
    return SCRIPT % {"path": board_path, "kernels": kernels, "inputs": raw, "repeat": max(1, repeat), "mark": RESULT,
                     "nonfinite": bool(nonfinite), "key": key}


def _parse(text, out_shapes):
    notes = []
    for line in text.splitlines():
        if line.startswith("hyperion: "):  # the runtime's notices, printed before the result
            notes.append(line[10:].strip())
        elif line.startswith(RESULT):
            outs, us, load_us, peak, kernels, ops, mode = ast.literal_eval(line[len(RESULT):])
            arrays = [np.frombuffer(b, "<f4").reshape(s) for b, s in zip(outs, out_shapes)]
            return arrays, {"latency_us": us, "load_us": load_us, "peak_heap_bytes": peak, "kernels": kernels,
                            "ops": ops, "mode": mode, "notices": notes}
    raise HyperionError("the board printed no result:\n" + text.strip()[-800:])


# The local interpreters `--on` names: the pip unix port, and the x64 unix ports built with ulab and float32
# floats (hyperion_host.mpbuild): MicroPython with ulab, and one configured like CircuitPython (no native code).
LOCAL = ("micropython", "micropython-ulab", "micropython-cpy")


def local_interpreter(on="micropython", log=None):
    """(binary, firmware folder) of a local interpreter by its `--on` name; binary None is the pip unix port.
    The ulab builds are built on first use (a minute, once). All run the firmware compiled for x64: its bytecode
    .mpy loads everywhere; micropython-cpy, which has no native code emitter (as CircuitPython), refuses its
    native modules (kernels/viper.mpy and c.mpy: "native code in .mpy unsupported"), and the firmware, seeing no
    arch in sys.implementation._mpy, runs the bytecode (and ulab) kernels without trying them. The sources would
    run too, but their compilation at import leaves the heap figures higher than a board's."""
    from hyperion_host.firmware import cached_firmware

    if on not in LOCAL:
        raise HyperionError("--on must be host, %s or %s (use --port to run on a board)" % (", ".join(LOCAL[:-1]),
                                                                                           LOCAL[-1]))
    binary = None
    if on != "micropython":
        from hyperion_host import mpbuild

        binary = str(mpbuild.interpreter(on, log=log))
    return binary, cached_firmware("x64")


def run_local(model_path, inputs, out_shapes, kernels="auto", heap=None, repeat=1, allow_nonfinite=False, key=None,
              on="micropython", log=None):
    """On a local MicroPython interpreter (on: one of LOCAL; the pip unix port by default)."""
    from hyperion_host.device.local import run_micropython

    binary, fw = local_interpreter(on, log)
    r = run_micropython(_script(os.path.abspath(model_path), inputs, kernels, repeat, allow_nonfinite, key), heap=heap,
                        timeout=600, firmware=fw, binary=binary)
    if not r.ok:
        raise HyperionError(_board_error(r.stderr or r.stdout))
    arrays, st = _parse(r.stdout, out_shapes)
    st["speed"] = "host"
    return arrays, st


def speed_of(ident):
    """Whose speed a board's time.ticks_us() measures: 'host' (a unix port: this computer), 'instructions' (an
    emulated core under -icount: thousands of instructions) or 'board' (a microcontroller)."""
    if ident.get("platform") == "qemu":
        return "instructions"
    return "host" if ident.get("arch") in ("x64", "x86") or ident.get("platform") in ("linux", "darwin") else "board"


def _board_error(tb):
    lines = [x for x in tb.strip().splitlines() if x.strip()]
    return "on MicroPython: " + (lines[-1] if lines else "failed")


def _install(port, model_path, notice, progress):
    """The firmware and the model on the board, through the dev slot (device/devslot.py). Returns (device,
    identity, code that puts the firmware on sys.path, the model's path there). The run that follows opens the
    board again, on a fresh heap: the install's own allocations would leave it fragmented."""
    from hyperion_host.device import devslot
    from hyperion_host.device.transport import Board, resolve_port

    dev = resolve_port(port)
    with Board(dev) as b:
        ident = b.identify()
        path, remote = devslot.prepare(b, ident, model_path, notice, progress)
    return dev, ident, path, remote


def run_on_board(port, model_path, inputs, out_shapes, kernels="auto", repeat=1, allow_nonfinite=False, key=None,
                 notice=None, progress=None):
    """On a board or vboard: installs the firmware and the model where missing or changed (notice and progress:
    see devslot.prepare), then runs."""
    from hyperion_host.device.transport import Board, BoardExecError

    dev, ident, path, remote = _install(port, model_path, notice, progress)
    out = []
    with Board(dev) as b:
        try:
            b.exec(path + _script(remote, inputs, kernels, repeat, allow_nonfinite, key),
                   stream=lambda d: out.append(d), timeout=600)
        except BoardExecError as e:
            raise HyperionError(_board_error(e.traceback)) from None
    arrays, st = _parse(b"".join(out).decode(errors="replace").replace("\x04", ""), out_shapes)
    st["speed"] = speed_of(ident)
    return arrays, st


GEN_MARK = "\x00HYQ-GEN "
GEN_SCRIPT = """
import time, hyperion
_m = hyperion.load(%(path)r, kernels=%(kernels)r, key=%(key)r)
_n = 0
_t = time.ticks_us()
for _p in _m.generate(%(prompt)r, %(max_tokens)d, %(temperature)r, %(top_k)d, %(top_p)r, %(penalty)r, %(stop)r,
                      %(seed)r):
    print(_p, end='')
    _n += len(_p.encode())
_dt = time.ticks_diff(time.ticks_us(), _t)
print()
print(%(mark)r + repr((_n, _dt)))
"""


def generate_script(board_path, prompt, max_tokens, temperature, top_k, top_p, penalty, stop, seed, kernels,
                    key=None):
    return GEN_SCRIPT % {"path": board_path, "kernels": kernels, "key": key, "prompt": prompt, "max_tokens": max_tokens,
                         "temperature": temperature, "top_k": top_k, "top_p": top_p, "penalty": penalty,
                         "stop": stop, "seed": seed, "mark": GEN_MARK}


class TextStream:
    """Board output to the terminal as it arrives, up to the closing mark line (tokens, microseconds)."""

    def __init__(self, write):
        import codecs

        self.write = write
        self.dec = codecs.getincrementaldecoder("utf-8")("replace")
        self.buf = ""
        self.result = None

    def feed(self, data):
        self.buf += self.dec.decode(data.replace(b"\x04", b""))
        while self.result is None and self.buf:
            i = self.buf.find("\x00")
            if i < 0:
                self.write(self.buf)
                self.buf = ""
                return
            if i:
                self.write(self.buf[:i])
                self.buf = self.buf[i:]
            if not GEN_MARK.startswith(self.buf[:len(GEN_MARK)]):  # a NUL byte of the text itself
                self.write(self.buf[0])
                self.buf = self.buf[1:]
            elif self.buf.startswith(GEN_MARK) and "\n" in self.buf:
                self.result = ast.literal_eval(self.buf[len(GEN_MARK):].split("\n", 1)[0].strip())
                self.buf = ""
            else:
                return  # the mark line is still arriving


def generate_on_board(port, model_path, args, kernels, write, key=None, notice=None, progress=None):
    """Write text with a language model on a board or vboard, streamed to write(); returns (tokens, seconds,
    whose speed: see speed_of)."""
    from hyperion_host.device.transport import Board, BoardExecError

    dev, ident, path, remote = _install(port, model_path, notice, progress)
    with Board(dev) as b:
        ts = TextStream(write)
        try:
            b.exec(path + generate_script(remote, *args, kernels, key), stream=ts.feed, timeout=600)
        except BoardExecError as e:
            raise HyperionError(_board_error(e.traceback)) from None
    if ts.result is None:
        raise HyperionError("the board printed no result")
    return ts.result[0], ts.result[1] / 1e6, speed_of(ident)


def generate_local(model_path, args, kernels, write, key=None, on="micropython", log=None, notice=None):
    """The same on a local MicroPython interpreter (on: one of LOCAL; the text comes when it is done). The
    runtime's notices, printed at load before the text (e.g. why the kernels asked for are not used), go to
    notice(), not into the text."""
    from hyperion_host.device.local import run_micropython

    binary, fw = local_interpreter(on, log)
    r = run_micropython(generate_script(os.path.abspath(model_path), *args, kernels, key), timeout=600,
                        firmware=fw, binary=binary)
    if not r.ok:
        raise HyperionError(_board_error(r.stderr or r.stdout))
    text = r.stdout
    while text.startswith("hyperion: ") and "\n" in text:
        line, text = text.split("\n", 1)
        if notice:
            notice(line[10:].strip())
    ts = TextStream(write)
    ts.feed(text.encode())
    if ts.result is None:
        raise HyperionError("MicroPython printed no result")
    return ts.result[0], ts.result[1] / 1e6, "host"
