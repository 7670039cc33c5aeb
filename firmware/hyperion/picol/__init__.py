# Picol: a small Tcl 8.6 for Hyperion boards. Runs on MicroPython and on CPython (the host imports it).
#
#   from hyperion.picol import Interp, TclError
#   it = Interp()
#   it.eval("puts [expr {6 * 7}]")
#
# This package's facade: the public names. See docs/picol.md.
from .interp import Interp, TclError, _tonum, complete, glob_match, mklist, split_list  # noqa: F401
