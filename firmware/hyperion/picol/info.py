# Picol's info and array ensembles.
from .errors import TclError
from .interp import Proc, _ensemble, _splitname, _wrong
from .parser import complete
from .values import _toint, glob_match, mklist, split_list

# -- info --

def _names(names, argv, usage):
    if len(argv) > 3:
        _wrong(usage)
    if len(argv) == 3:
        names = [x for x in names if glob_match(argv[2], x)]
    return mklist(sorted(names))


def _proc(it, name):
    p = it.cmds.get(name) if it.cmds else None
    if not isinstance(p, Proc):
        raise TclError('"%s" isn\'t a procedure' % name)
    return p


def i_exists(it, argv):
    if len(argv) != 3:
        _wrong("info exists varName")
    b, i = _splitname(argv[2])
    return "1" if it._exists(b, i) else "0"


def i_commands(it, argv):
    return _names(it.commands(), argv, "info commands ?pattern?")


def i_procs(it, argv):
    c = it.cmds or {}
    return _names([k for k, v in c.items() if isinstance(v, Proc)], argv, "info procs ?pattern?")


def i_complete(it, argv):
    if len(argv) != 3:
        _wrong("info complete command")
    return "1" if complete(argv[2]) else "0"


def i_args(it, argv):
    if len(argv) != 3:
        _wrong("info args procname")
    return mklist([p for p, d in _proc(it, argv[2]).params])


def i_body(it, argv):
    if len(argv) != 3:
        _wrong("info body procname")
    return _proc(it, argv[2]).body


def i_default(it, argv):
    if len(argv) != 5:
        _wrong("info default procname arg varname")
    for p, d in _proc(it, argv[2]).params:
        if p == argv[3]:
            b, i = _splitname(argv[4])
            it._set(b, i, d if d is not None else "")
            return "1" if d is not None else "0"
    raise TclError('procedure "%s" doesn\'t have an argument "%s"' % (argv[2], argv[3]))


def i_level(it, argv):
    n = len(argv)
    cur = len(it.frames) - 1
    if n == 2:
        return str(cur)
    if n != 3:
        _wrong("info level ?number?")
    v = _toint(argv[2])
    lv = v if v > 0 else cur + v
    if lv < 1 or lv > cur:
        raise TclError('bad level "%s"' % argv[2])
    return mklist(it.frames[lv][0])


def _vars(d):
    return [k for k in d if type(k) is str]


def i_vars(it, argv):
    return _names(_vars(it.frames[-1]), argv, "info vars ?pattern?")


def i_locals(it, argv):
    if len(it.frames) == 1:
        return ""
    f = it.frames[-1]
    return _names([k for k in _vars(f) if type(f[k]) is not list], argv, "info locals ?pattern?")


def i_globals(it, argv):
    return _names(_vars(it.frames[0]), argv, "info globals ?pattern?")


_INFO = {"exists": i_exists, "commands": i_commands, "procs": i_procs, "complete": i_complete,
         "args": i_args, "body": i_body, "default": i_default, "level": i_level, "vars": i_vars,
         "locals": i_locals, "globals": i_globals}


c_info = _ensemble("info", _INFO)


# -- array --

def _arr(it, name):
    d, k, li = it._where(name)
    v = d.get(k)
    return v if type(v) is dict and li is None else None


def a_set(it, argv):
    if len(argv) != 4:
        _wrong("array set arrayName list")
    items = split_list(argv[3])
    if len(items) % 2:
        raise TclError("list must have an even number of elements")
    d, k, li = it._where(argv[2])
    if d.get(k) is None:
        d[k] = {}
    for j in range(0, len(items), 2):
        it._set(argv[2], items[j], items[j + 1])
    return ""


def a_get(it, argv):
    if not 3 <= len(argv) <= 4:
        _wrong("array get arrayName ?pattern?")
    a = _arr(it, argv[2]) or {}
    out = []
    for k, v in a.items():
        if len(argv) == 3 or glob_match(argv[3], k):
            out.append(k)
            out.append(v)
    return mklist(out)


def a_names(it, argv):
    if not 3 <= len(argv) <= 4:
        _wrong("array names arrayName ?mode? ?pattern?")
    a = _arr(it, argv[2]) or {}
    return mklist([k for k in a if len(argv) == 3 or glob_match(argv[3], k)])


def a_size(it, argv):
    if len(argv) != 3:
        _wrong("array size arrayName")
    return str(len(_arr(it, argv[2]) or ()))


def a_exists(it, argv):
    if len(argv) != 3:
        _wrong("array exists arrayName")
    return "1" if _arr(it, argv[2]) is not None else "0"


def a_unset(it, argv):
    if not 3 <= len(argv) <= 4:
        _wrong("array unset arrayName ?pattern?")
    a = _arr(it, argv[2])
    if a is None:
        return ""
    if len(argv) == 3:
        it._unset(argv[2], None, False)
    else:
        for k in [k for k in a if glob_match(argv[3], k)]:
            del a[k]
    return ""


_ARRAY = {"set": a_set, "get": a_get, "names": a_names, "size": a_size, "exists": a_exists,
          "unset": a_unset}


c_array = _ensemble("array", _ARRAY)
