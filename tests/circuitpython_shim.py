# Run first on MicroPython (the unix port built like CircuitPython: mpbuild's micropython-cpy, no native emitter,
# ulab in, 32-bit floats) to take away what CircuitPython does not have, so that the firmware's fallbacks are
# what runs: imports of `machine` and `vfs` fail; `time` has monotonic_ns/monotonic/time/sleep but no ticks_*;
# `micropython` has no mem_peak/mem_current (and, with no emitter, no viper or native).
# It does not make the interpreter CircuitPython: see docs/circuitpython.md, "What the tests prove".
import builtins
import time as _t

import micropython as _mp

_real_import = builtins.__import__
GONE = ("machine", "vfs", "uctypes", "termios", "ffi", "btree")


class _Module:
    def __init__(self, src, names):
        for n in names:
            if hasattr(src, n):
                setattr(self, n, getattr(src, n))


_time = _Module(_t, ("time", "sleep", "localtime", "gmtime", "mktime"))
_time.monotonic_ns = _t.time_ns
_time.monotonic = lambda: _t.time_ns() / 1e9
_micropython = _Module(_mp, ("const", "opt_level", "mem_info", "qstr_info", "stack_use", "heap_lock",
                             "heap_unlock", "kbd_intr", "schedule", "alloc_emergency_exception_buf"))


def _import(name, *args):
    if name in GONE:
        raise ImportError("no module named '%s'" % name)
    if name == "time":
        return _time
    if name == "micropython":
        return _micropython
    return _real_import(name, *args)


def install():
    builtins.__import__ = _import


def remove():
    builtins.__import__ = _real_import
