"""Where firmware code runs: boards over the serial REPL (transport, through mpremote), virtual boards (vboard),
the local MicroPython unix port (local), and what runs there: models (infer), Tcl scripts (script); plus the
doctor's checks of the tools. May import: errors, files, paths, boards, firmware, and the firmware package."""

from hyperion_host._lazy import lazy_api

__getattr__ = lazy_api(__name__, {
    "Board": "transport", "resolve_port": "transport", "BoardExecError": "transport", "DeviceError": "transport",
    "run_micropython": "local", "run_on_board": "infer", "run_local": "infer",
})
__all__ = ["Board", "resolve_port", "BoardExecError", "DeviceError", "run_micropython", "run_on_board", "run_local"]
