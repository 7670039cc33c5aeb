# Picol's errors and completion codes: TclError, and the exceptions that carry return, break,
# continue and other codes out of a command.


class TclError(Exception):
    """A Tcl error; str(e) is the message (the same text tclsh 8.6 gives)."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Return(Exception):
    def __init__(self, value, code, level):
        self.value = value
        self.code = code
        self.level = level


class _Code(Exception):
    """A completion code other than ok, error, return, break and continue (return -level 0 -code 5)."""

    def __init__(self, code, value):
        self.code = code
        self.value = value


def _complete(code, value):
    """Finish a command with a return code (what `return -level 0 -code C` and a proc's return do)."""
    if code == 0:
        return value
    if code == 1:
        raise TclError(value)
    if code == 2:
        raise _Return(value, 0, 1)
    if code == 3:
        raise _Break()
    if code == 4:
        raise _Continue()
    raise _Code(code, value)


def _py_error(e):
    """The Tcl error message for a Python MemoryError or OverflowError out of a command (a huge format width, an
    index past a machine word): scripts see a Tcl error, never a Python traceback."""
    if isinstance(e, MemoryError):
        return "not enough memory (%s)" % (str(e) or "MemoryError")
    return "integer value too large to represent"
