# Picol's list commands: list, llength, lindex, lrange, lappend, lsearch, join, split, concat,
# lreverse, linsert, lreplace, lassign, lsort.
from .errors import TclError
from .interp import _getindex, _splitname, _wrong
from .values import _concat, _index, _quote, _tofloat_arg, _toint, glob_match, mklist, split_list


def c_list(it, argv):
    return mklist(argv[1:])


def c_llength(it, argv):
    if len(argv) != 2:
        _wrong("llength list")
    return str(len(split_list(argv[1])))


def c_lindex(it, argv):
    n = len(argv)
    if n < 2:
        _wrong("lindex list ?index ...?")
    v = argv[1]
    if n == 2:
        return v
    idxs = argv[2:]
    if n == 3:
        try:
            _index(idxs[0], 0)
        except TclError:
            try:
                idxs = split_list(idxs[0])
            except TclError:
                pass
    for k, x in enumerate(idxs):
        items = split_list(v)
        i = _index(x, len(items) - 1)
        if not 0 <= i < len(items):
            for x in idxs[k + 1:]:
                _index(x, 0)
            return ""
        v = items[i]
    return v


def c_lrange(it, argv):
    if len(argv) != 4:
        _wrong("lrange list first last")
    items = split_list(argv[1])
    a = max(_index(argv[2], len(items) - 1), 0)
    b = _index(argv[3], len(items) - 1)
    return mklist(items[a:b + 1]) if a <= b else ""


def c_lappend(it, argv):
    if len(argv) < 2:
        _wrong("lappend varName ?value ...?")
    global _canon
    b, i = _splitname(argv[1])
    old = it._get(b, i) if it._exists(b, i) else ""
    if old is _canon or not old:
        # old is the list this command last built (the same object, so it is canonical): append to its text
        add = [_quote(x, False) for x in argv[2:]]
        if not old and argv[2:]:
            add[0] = _quote(argv[2], True)
        new = " ".join(([old] if old else []) + add)
    else:
        items = split_list(old)
        items.extend(argv[2:])
        new = mklist(items)
    _canon = new
    return it._set(b, i, new)


_canon = None  # the last list lappend built (see c_lappend)


def c_lsearch(it, argv):
    n = len(argv)
    if n < 3:
        _wrong("lsearch ?-option value ...? list pattern")
    mode = "glob"
    al = inline = neg = nocase = False
    start = 0
    i = 1
    opts = ("-all", "-exact", "-glob", "-inline", "-nocase", "-not", "-start")
    while i < n - 2:
        o = _getindex(argv[i], opts)
        if o == "-exact" or o == "-glob":
            mode = o[1:]
        elif o == "-all":
            al = True
        elif o == "-inline":
            inline = True
        elif o == "-not":
            neg = True
        elif o == "-nocase":
            nocase = True
        elif o == "-start":
            i += 1
            if i >= n - 2:
                raise TclError('missing starting index')
            start = argv[i]
        i += 1
    items = split_list(argv[n - 2])
    pat = argv[n - 1]
    if start != 0:
        start = max(_index(start, len(items) - 1), 0)
    if nocase:
        pat = pat.lower()
    hits = []
    for k in range(start, len(items)):
        x = items[k].lower() if nocase else items[k]
        ok = (x == pat) if mode == "exact" else glob_match(pat, x)
        if ok != neg:
            hits.append(items[k] if inline else str(k))
            if not al:
                break
    if al:
        return mklist(hits)
    if hits:
        return hits[0]
    return "" if inline else "-1"


def c_join(it, argv):
    n = len(argv)
    if not 2 <= n <= 3:
        _wrong("join list ?joinString?")
    return (argv[2] if n == 3 else " ").join(split_list(argv[1]))


def c_split(it, argv):
    n = len(argv)
    if not 2 <= n <= 3:
        _wrong("split string ?splitChars?")
    s = argv[1]
    chars = argv[2] if n == 3 else " \t\n\r"
    if not s:
        return ""
    if not chars:
        return mklist(list(s))
    out = []
    seg = 0
    for k in range(len(s)):
        if s[k] in chars:
            out.append(s[seg:k])
            seg = k + 1
    out.append(s[seg:])
    return mklist(out)


def c_concat(it, argv):
    return _concat(argv[1:])


def c_lreverse(it, argv):
    if len(argv) != 2:
        _wrong("lreverse list")
    return mklist(list(reversed(split_list(argv[1]))))


def c_linsert(it, argv):
    if len(argv) < 3:
        _wrong("linsert list index ?element ...?")
    items = split_list(argv[1])
    i = _index(argv[2], len(items))
    i = min(max(i, 0), len(items))
    return mklist(items[:i] + list(argv[3:]) + items[i:])


def c_lreplace(it, argv):
    if len(argv) < 4:
        _wrong("lreplace list first last ?element ...?")
    items = split_list(argv[1])
    a = max(_index(argv[2], len(items) - 1), 0)
    b = _index(argv[3], len(items) - 1)
    if b < a - 1:
        b = a - 1
    if a > len(items):
        a = len(items)
    return mklist(items[:a] + list(argv[4:]) + items[b + 1:])


def c_lassign(it, argv):
    if len(argv) < 2:
        _wrong("lassign list ?varName ...?")
    items = split_list(argv[1])
    names = argv[2:]
    for k, name in enumerate(names):
        b, i = _splitname(name)
        it._set(b, i, items[k] if k < len(items) else "")
    return mklist(items[len(names):])


def c_lsort(it, argv):
    n = len(argv)
    if n < 2:
        _wrong("lsort ?-option value ...? list")
    kind = "ascii"
    rev = uniq = nocase = False
    opts = ("-ascii", "-decreasing", "-increasing", "-integer", "-nocase", "-real", "-unique")
    for o in argv[1:-1]:
        o = _getindex(o, opts)
        if o in ("-ascii", "-integer", "-real"):
            kind = o[1:]
        elif o == "-decreasing" or o == "-increasing":
            rev = o == "-decreasing"
        elif o == "-unique":
            uniq = True
        else:
            nocase = True
    items = split_list(argv[-1])
    if kind == "integer":
        keys = [_toint(x) for x in items]
    elif kind == "real":
        keys = [_tofloat_arg(x) for x in items]
    elif nocase:
        keys = [x.lower() for x in items]
    else:
        keys = items
    order = sorted(range(len(items)), key=lambda k: (keys[k], -k if rev else k), reverse=rev)
    out = []
    last = None
    for k in order:
        if uniq and out and keys[k] == last:
            out[-1] = items[k]
            continue
        out.append(items[k])
        last = keys[k]
    return mklist(out)
