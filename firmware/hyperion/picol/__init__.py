# Picol: a small Tcl 8.6 for Hyperion boards. Runs on MicroPython and on CPython (the host imports it).
#
#   from hyperion.picol import Interp, TclError
#   it = Interp()
#   it.eval("puts [expr {6 * 7}]")
#
# The parser follows the Tcl Dodekalogue; error messages are tclsh 8.6's, byte for byte, for every case
# Picol implements. Extend it with Interp.register(name, fn). See docs/picol.md.
#
# This is the package's facade: the public names, and the builtin command table (interp.py's _BUILTINS,
# shared by every Interp) filled from the command modules. Modules: errors, parser, values, exprparse,
# expreval, interp (the core), then the commands: control, io, info, strings, fmt, lists. The board
# commands (gpio, ticks, mem, infer, ...) are hyperion.picol.board: board.install(interp) adds them.
from . import control, fmt, info, io, lists, strings
from .errors import TclError as TclError
from .interp import _BUILTINS
from .interp import Interp as Interp
from .parser import complete as complete
from .values import glob_match as glob_match
from .values import mklist as mklist
from .values import split_list as split_list

_BUILTINS.update({
    "set": control.c_set, "unset": control.c_unset, "puts": io.c_puts, "incr": control.c_incr,
    "append": control.c_append, "if": control.c_if, "while": control.c_while, "for": control.c_for,
    "foreach": control.c_foreach, "break": control.c_break, "continue": control.c_continue, "proc": control.c_proc,
    "return": control.c_return, "expr": control.c_expr, "string": strings.c_string, "list": lists.c_list,
    "llength": lists.c_llength, "lindex": lists.c_lindex, "lappend": lists.c_lappend, "lrange": lists.c_lrange,
    "lsearch": lists.c_lsearch, "join": lists.c_join, "split": lists.c_split, "concat": lists.c_concat,
    "lreverse": lists.c_lreverse, "linsert": lists.c_linsert, "lreplace": lists.c_lreplace,
    "lassign": lists.c_lassign, "lsort": lists.c_lsort, "catch": control.c_catch, "error": control.c_error,
    "eval": control.c_eval, "uplevel": control.c_uplevel, "upvar": control.c_upvar, "global": control.c_global,
    "info": info.c_info, "format": fmt.c_format, "after": control.c_after, "rename": control.c_rename,
    "subst": control.c_subst, "array": info.c_array, "switch": control.c_switch, "source": io.c_source,
})
