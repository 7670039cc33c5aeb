# Picol's input and output commands: puts and source.
from .errors import TclError, _complete, _Return
from .interp import _wrong


def c_puts(it, argv):
    n = len(argv)
    nl = True
    chan = "stdout"
    if n == 2:
        s = argv[1]
    elif n == 3:
        if argv[1] == "-nonewline":
            nl = False
        else:
            chan = argv[1]
        s = argv[2]
    elif n == 4 and (argv[1] == "-nonewline" or argv[3] == "nonewline"):
        chan = argv[2] if argv[1] == "-nonewline" else argv[1]
        nl = False
        s = argv[2] if argv[1] != "-nonewline" else argv[3]
    else:
        _wrong("puts ?-nonewline? ?channelId? string")
    if chan != "stdout" and chan != "stderr":
        raise TclError('can not find channel named "%s"' % chan)
    it.write(chan, s + "\n" if nl else s)
    return ""


def c_source(it, argv):
    if len(argv) != 2:
        _wrong("source ?-encoding name? fileName")
    try:
        with open(argv[1]) as f:
            script = f.read()
    except OSError:
        raise TclError('couldn\'t read file "%s": no such file or directory' % argv[1]) from None
    try:
        return it._evals(script)
    except _Return as r:
        if r.level > 1:
            r.level -= 1
            raise
        return _complete(r.code, r.value)
