# Hyperion on the board: 4-bit neural-network inference for MicroPython.
# This package is also importable by CPython: the host toolchain imports it
# rather than keeping a second copy of the same logic.
import sys

__version__ = "0.1.0"

# Index = the native arch number in sys.implementation._mpy (bits 10..13),
# as MicroPython's mpconfig.h numbers them (MP_NATIVE_ARCH_*).
ARCH_NAMES = (
    None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
    "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc",
)


def arch_from_mpy(mpy):
    """Name of the native arch encoded in a sys.implementation._mpy value."""
    n = (mpy >> 10) & 0xF
    if n < len(ARCH_NAMES):
        return ARCH_NAMES[n]
    return None


def arch():
    """Native arch of the running interpreter, or None (CPython, no native emitter)."""
    mpy = getattr(sys.implementation, "_mpy", 0)
    return arch_from_mpy(mpy) if mpy else None


def info():
    """Version, arch and heap figures of this board, as a dict."""
    d = {"version": __version__, "arch": arch(), "implementation": sys.implementation.name}
    try:
        import gc

        import micropython

        gc.collect()
        d["mem_free"] = gc.mem_free()
        d["mem_alloc"] = gc.mem_alloc()
        if hasattr(micropython, "mem_peak"):
            d["mem_peak"] = micropython.mem_peak()
    except (ImportError, AttributeError):
        pass  # CPython: no GC heap figures
    return d
