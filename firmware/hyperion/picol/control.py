# Picol's control and variable commands: set, unset, incr, append, if, while, for, foreach, break,
# continue, proc, return, error, catch, eval, uplevel, upvar, global, expr, after, rename, subst, switch.
from .errors import TclError, _Break, _Code, _complete, _Continue, _py_error, _Return
from .interp import _BUILTINS, _DELETED, Proc, _getindex, _splitname, _wrong
from .parser import _backslash, _compile, _parse, _PErr, _var
from .values import _concat, _nstr, _toint, glob_match, split_list, tonum


def c_set(it, argv):
    n = len(argv)
    if n == 3:
        b, i = _splitname(argv[1])
        return it._set(b, i, argv[2])
    if n == 2:
        b, i = _splitname(argv[1])
        return it._get(b, i)
    _wrong("set varName ?newValue?")


def c_unset(it, argv):
    complain = True
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-nocomplain":
            complain = False
        elif a == "--":
            i += 1
            break
        else:
            break
        i += 1
    for name in argv[i:]:
        b, x = _splitname(name)
        it._unset(b, x, complain)
    return ""


def c_incr(it, argv):
    n = len(argv)
    if n != 2 and n != 3:
        _wrong("incr varName ?increment?")
    f = it.frames[-1]
    v = f.get(argv[1])
    if type(v) is str:  # the common case: a local scalar
        x = tonum(v)
        if type(x) is not int:
            raise TclError('expected integer but got "%s"' % v)
        v = f[argv[1]] = _nstr(x + (_toint(argv[2]) if n == 3 else 1))
        return v
    b, i = _splitname(argv[1])
    v = _toint(it._get(b, i)) if it._exists(b, i) else 0
    inc = _toint(argv[2]) if n == 3 else 1
    return it._set(b, i, _nstr(v + inc))


def c_append(it, argv):
    if len(argv) < 2:
        _wrong("append varName ?value ...?")
    b, i = _splitname(argv[1])
    if len(argv) == 2:
        return it._get(b, i)
    v = it._get(b, i) if it._exists(b, i) else ""
    return it._set(b, i, v + "".join(argv[2:]))


def c_if(it, argv):
    i = 1
    n = len(argv)
    while True:
        if i >= n:
            raise TclError('wrong # args: no expression after "%s" argument' % argv[i - 1])
        c = it._test(argv[i])
        i += 1
        if i < n and argv[i] == "then":
            i += 1
        if i >= n:
            raise TclError('wrong # args: no script following "%s" argument' % argv[i - 1])
        if c:
            return it._run(_compile(argv[i]))
        i += 1
        if i >= n:
            return ""
        if argv[i] == "elseif":
            i += 1
            continue
        if argv[i] == "else":
            i += 1
            if i >= n:
                raise TclError('wrong # args: no script following "else" argument')
        if i != n - 1:
            raise TclError('wrong # args: extra words after "else" clause in "if" command')
        return it._run(_compile(argv[i]))


def c_while(it, argv):
    if len(argv) != 3:
        _wrong("while test command")
    test = argv[1]
    body = _compile(argv[2])
    while it._test(test):
        try:
            it._run(body)
        except _Break:
            break
        except _Continue:
            pass
    return ""


def c_for(it, argv):
    if len(argv) != 5:
        _wrong("for start test next command")
    it._run(_compile(argv[1]))
    test = argv[2]
    nxt = _compile(argv[3])
    body = _compile(argv[4])
    while it._test(test):
        try:
            it._run(body)
        except _Break:
            break
        except _Continue:
            pass
        try:
            it._run(nxt)
        except _Break:
            break
    return ""


def c_foreach(it, argv):
    n = len(argv)
    if n < 4 or n % 2:
        _wrong("foreach varList list ?varList list ...? command")
    pairs = []
    rounds = 0
    for k in range(1, n - 1, 2):
        names = split_list(argv[k])
        if not names:
            raise TclError("foreach varlist is empty")
        vals = split_list(argv[k + 1])
        pairs.append((names, vals))
        r = (len(vals) + len(names) - 1) // len(names)
        if r > rounds:
            rounds = r
    body = _compile(argv[-1])
    for r in range(rounds):
        for names, vals in pairs:
            base = r * len(names)
            for j, name in enumerate(names):
                b, x = _splitname(name)
                it._set(b, x, vals[base + j] if base + j < len(vals) else "")
        try:
            it._run(body)
        except _Break:
            break
        except _Continue:
            pass
    return ""


def c_break(it, argv):
    if len(argv) != 1:
        _wrong("break")
    raise _Break()


def c_continue(it, argv):
    if len(argv) != 1:
        _wrong("continue")
    raise _Continue()


def c_proc(it, argv):
    if len(argv) != 4:
        _wrong("proc name args body")
    params = []
    for spec in split_list(argv[2]):
        f = split_list(spec)
        if not f or not f[0]:
            raise TclError("argument with no name")
        if len(f) > 2:
            raise TclError('too many fields in argument specifier "%s"' % spec)
        params.append((f[0], f[1] if len(f) == 2 else None))
    if it.cmds is None:
        it.cmds = {}
    name = argv[1].lstrip(":") if argv[1].startswith("::") else argv[1]
    it.cmds[name] = Proc(name, params, argv[3])
    return ""


_CODES = {"ok": 0, "error": 1, "return": 2, "break": 3, "continue": 4}


def c_return(it, argv):
    n = len(argv)
    code = 0
    level = 1
    i = 1
    while i + 1 < n:
        o = argv[i]
        v = argv[i + 1]
        if o == "-code":
            code = _CODES.get(v)
            if code is None:
                code = tonum(v)
                if type(code) is not int:
                    raise TclError('bad completion code "%s": must be ok, error, return, break, continue, '
                                   "or an integer" % v)
        elif o == "-level":
            level = tonum(v)
            if type(level) is not int or level < 0:
                raise TclError('bad -level value: expected non-negative integer but got "%s"' % v)
        i += 2
    value = argv[i] if i < n else ""
    if level == 0:
        return _complete(code, value)
    raise _Return(value, code, level)


def c_error(it, argv):
    if not 2 <= len(argv) <= 4:
        _wrong("error message ?errorInfo? ?errorCode?")
    raise TclError(argv[1])


def c_catch(it, argv):
    n = len(argv)
    if not 2 <= n <= 4:
        _wrong("catch script ?resultVarName? ?optionVarName?")
    level = 0
    try:
        r = it._run(_compile(argv[1]))
        code = 0
    except TclError as e:
        r = str(e)
        code = 1
    except _Return as e:
        r = e.value
        code = 2
        level = e.level
        opts = "-code %d -level %d" % (e.code, e.level)
    except _Break:
        r = ""
        code = 3
    except _Continue:
        r = ""
        code = 4
    except _Code as e:
        r = e.value
        code = e.code
    except (MemoryError, OverflowError) as e:  # a Tcl error, as the top-level eval makes it
        r = _py_error(e)
        code = 1
    if n >= 3:
        b, i = _splitname(argv[2])
        it._set(b, i, r)
    if n == 4:
        if code != 2:
            opts = "-code %d -level %d" % (code, level)
        b, i = _splitname(argv[3])
        it._set(b, i, opts)
    return str(code)


def c_eval(it, argv):
    if len(argv) < 2:
        _wrong("eval arg ?arg ...?")
    return it._evals(argv[1] if len(argv) == 2 else _concat(argv[1:]))


def c_uplevel(it, argv):
    n = len(argv)
    if n < 2:
        _wrong("uplevel ?level? command ?arg ...?")
    lv = it._level(argv[1])
    i = 1
    if lv is None:
        lv = it._level("1")
    else:
        i = 2
    if n == i:
        _wrong("uplevel ?level? command ?arg ...?")
    script = argv[i] if n == i + 1 else _concat(argv[i:])
    saved = it.frames
    it.frames = saved[:lv + 1]
    try:
        return it._evals(script)
    finally:
        it.frames = saved


def c_upvar(it, argv):
    n = len(argv)
    usage = "upvar ?level? otherVar localVar ?otherVar localVar ...?"
    if n < 3:
        _wrong(usage)
    if n % 2:
        lv = it._level("1")
        i = 1
    else:
        lv = it._level(argv[1])
        if lv is None:
            it._level("1")
            raise TclError('bad level "%s"' % argv[1])
        i = 2
    saved = it.frames
    while i < n:
        it.frames = saved[:lv + 1]
        try:
            b, x = _splitname(argv[i])
            d, k, li = it._where(b)
        finally:
            it.frames = saved
        if x is None:
            x = li
        _link(it, d, k, x, argv[i + 1])
        i += 2
    return ""


def _link(it, d, k, x, local):
    f = it.frames[-1]
    if local.startswith("::"):
        f = it.frames[0]
        local = local.lstrip(":")
    if f is d and local == k and x is None:
        raise TclError("can't upvar from variable to itself")
    if f.get(local) is not None and type(f[local]) is not list:
        raise TclError('variable "%s" already exists' % local)
    f[local] = [d, k, x]


def c_global(it, argv):
    if len(it.frames) == 1:
        return ""
    g = it.frames[0]
    for name in argv[1:]:
        name = name.lstrip(":") if name.startswith("::") else name
        v = g.get(name)
        if type(v) is list:
            _link(it, v[0], v[1], v[2], name)
        else:
            _link(it, g, name, None, name)
    return ""


def c_expr(it, argv):
    if len(argv) < 2:
        _wrong("expr arg ?arg ...?")
    return _nstr(it._expr(argv[1] if len(argv) == 2 else " ".join(argv[1:]), True))


def c_after(it, argv):
    if len(argv) < 2:
        _wrong("after option ?arg ...?")
    ms = tonum(argv[1])
    if type(ms) is not int:
        raise TclError('bad argument "%s": must be cancel, idle, info, or an integer' % argv[1])
    if len(argv) > 2:
        raise TclError("after: only \"after ms\" is supported (Picol has no event loop)")
    if ms > 0:
        import time

        if hasattr(time, "sleep_ms"):
            time.sleep_ms(ms)
        else:
            time.sleep(ms / 1000)
    return ""


def c_rename(it, argv):
    if len(argv) != 3:
        _wrong("rename oldName newName")
    old, new = argv[1], argv[2]
    c = it.cmds
    fn = c.get(old) if c else None
    if fn is None:
        fn = _BUILTINS.get(old)
    if fn is None or fn is _DELETED:
        what = "delete" if new == "" else "rename"
        raise TclError('can\'t %s "%s": command doesn\'t exist' % (what, old))
    if new != "":
        e = c.get(new) if c else None
        if (e is not None and e is not _DELETED) or (e is None and new in _BUILTINS):
            raise TclError('can\'t rename to "%s": command already exists' % new)
    if c is None:
        c = it.cmds = {}
    if old in _BUILTINS:
        c[old] = _DELETED
    else:
        del c[old]
    if new != "":
        c[new] = fn
    return ""


def c_subst(it, argv):
    if len(argv) < 2:
        _wrong("subst ?-nobackslashes? ?-nocommands? ?-novariables? string")
    flags = [_getindex(f, ("-nobackslashes", "-nocommands", "-novariables")) for f in argv[1:-1]]
    s = argv[-1]
    out = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and "-nobackslashes" not in flags:
            ch, i = _backslash(s, i, n)
            out.append(ch)
        elif c == "$" and "-novariables" not in flags:
            try:
                v, j = _var(s, i, n, -1)
            except _PErr as e:
                raise TclError(e.msg) from None
            if v is None:
                out.append("$")
            else:
                idx = v[1]
                if idx is not None and type(idx) is not str:
                    idx = it._subst(idx)
                out.append(it._get(v[0], idx))
            i = j
        elif c == "[" and "-nocommands" not in flags:
            cmds = []
            try:
                j = _parse(s, i + 1, n, i, cmds)
            except _PErr as e:
                it._run(cmds)  # like Tcl, the commands before the parse error run
                raise TclError(e.msg) from None
            out.append(it._run(cmds))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def c_switch(it, argv):
    n = len(argv)
    usage = "switch ?-option ...? string ?pattern body ...? ?default body?"
    i = 1
    mode = "exact"
    nocase = False
    while i < n - 2 and argv[i][:1] == "-":
        o = _getindex(argv[i], ("-exact", "-glob", "-nocase", "--"))
        i += 1
        if o == "--":
            break
        if o == "-nocase":
            nocase = True
        else:
            mode = o[1:]
    if n - i < 2:
        _wrong(usage)
    s = argv[i]
    i += 1
    if n - i == 1:
        arms = split_list(argv[i])
        if not arms:
            _wrong("switch ?-option ...? string {?pattern body ...? ?default body?}")
    else:
        arms = list(argv[i:])
    if len(arms) % 2:
        msg = "extra switch pattern with no body"
        if n - i == 1 and [k for k in range(0, len(arms), 2) if arms[k][:1] == "#"]:
            msg += (', this may be due to a comment incorrectly placed outside of a switch body - see the '
                    '"switch" documentation')
        raise TclError(msg)
    if nocase:
        s = s.lower()
    for k in range(0, len(arms), 2):
        p = arms[k].lower() if nocase else arms[k]
        last = k == len(arms) - 2
        if (last and arms[k] == "default") or (p == s if mode == "exact" else glob_match(p, s)):
            j = k + 1
            while arms[j] == "-":
                j += 2
                if j >= len(arms):
                    raise TclError('no body specified for pattern "%s"' % arms[k])
            return it._run(_compile(arms[j]))
    return ""
