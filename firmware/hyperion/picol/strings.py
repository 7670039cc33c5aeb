# Picol's string ensemble (string length, index, map, is, ...).
from .errors import TclError
from .interp import _ensemble, _getindex, _splitname, _wrong
from .parser import _hexval
from .values import _boolword, _index, _toint, glob_match, split_list, tonum


def _opts(argv, i, end, allowed, usage):
    """Parse -nocase/-length style options in argv[i:end]; returns dict."""
    o = {}
    while i < end:
        a = _getindex(argv[i], allowed, "option", True)
        if a == "-nocase":
            o["nocase"] = True
            i += 1
        else:
            if i + 1 >= end:
                _wrong(usage)
            o["length"] = _toint(argv[i + 1])
            i += 2
    return o


def s_length(it, argv):
    if len(argv) != 3:
        _wrong("string length string")
    return str(len(argv[2]))


def s_index(it, argv):
    if len(argv) != 4:
        _wrong("string index string charIndex")
    s = argv[2]
    i = _index(argv[3], len(s) - 1)
    return s[i] if 0 <= i < len(s) else ""


def s_range(it, argv):
    if len(argv) != 5:
        _wrong("string range string first last")
    s = argv[2]
    a = max(_index(argv[3], len(s) - 1), 0)
    b = _index(argv[4], len(s) - 1)
    return s[a:b + 1] if a <= b else ""


def _strcmp(argv, usage):
    n = len(argv)
    if n < 4 or n > 7:
        _wrong(usage)
    o = _opts(argv, 2, n - 2, ["-nocase", "-length"], usage)
    a, b = argv[n - 2], argv[n - 1]
    ln = o.get("length", -1)
    if ln >= 0:
        a, b = a[:ln], b[:ln]
    if o.get("nocase"):
        a, b = a.lower(), b.lower()
    return (a > b) - (a < b)


def s_equal(it, argv):
    c = _strcmp(argv, "string equal ?-nocase? ?-length int? string1 string2")
    return "1" if c == 0 else "0"


def s_compare(it, argv):
    return str(_strcmp(argv, "string compare ?-nocase? ?-length int? string1 string2"))


def s_first(it, argv):
    n = len(argv)
    if not 4 <= n <= 5:
        _wrong("string first needleString haystackString ?startIndex?")
    hay = argv[3]
    start = max(_index(argv[4], len(hay) - 1), 0) if n == 5 else 0
    if not argv[2] or start > len(hay):
        return "-1"
    return str(hay.find(argv[2], start))


def s_last(it, argv):
    n = len(argv)
    if not 4 <= n <= 5:
        _wrong("string last needleString haystackString ?startIndex?")
    needle, hay = argv[2], argv[3]
    end = len(hay)
    if n == 5:
        end = _index(argv[4], len(hay) - 1) + len(needle)
    if not needle or end < 0:
        return "-1"
    return str(hay.rfind(needle, 0, end))


def _case(argv, usage, fn):
    n = len(argv)
    if not 3 <= n <= 5:
        _wrong(usage)
    s = argv[2]
    if n == 3:
        return fn(s)
    a = max(_index(argv[3], len(s) - 1), 0)
    b = _index(argv[4], len(s) - 1) if n == 5 else a
    if b >= len(s):
        b = len(s) - 1
    if a > b:
        return s
    return s[:a] + fn(s[a:b + 1]) + s[b + 1:]


def s_toupper(it, argv):
    return _case(argv, "string toupper string ?first? ?last?", lambda x: x.upper())


def s_tolower(it, argv):
    return _case(argv, "string tolower string ?first? ?last?", lambda x: x.lower())


def s_totitle(it, argv):
    return _case(argv, "string totitle string ?first? ?last?", lambda x: x[:1].upper() + x[1:].lower())


_TRIM = " \t\n\v\f\r\x00\x85\xa0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009" \
        "\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"


def _trim(argv, which):
    n = len(argv)
    if not 3 <= n <= 4:
        _wrong("string %s string ?chars?" % which)
    chars = argv[3] if n == 4 else _TRIM
    s = argv[2]
    if which == "trimleft":
        return s.lstrip(chars) if chars else s
    if which == "trimright":
        return s.rstrip(chars) if chars else s
    return s.strip(chars) if chars else s


def s_trim(it, argv):
    return _trim(argv, "trim")


def s_trimleft(it, argv):
    return _trim(argv, "trimleft")


def s_trimright(it, argv):
    return _trim(argv, "trimright")


def s_map(it, argv):
    n = len(argv)
    if n != 4 and n != 5:
        _wrong("string map ?-nocase? charMap string")
    nocase = n == 5 and _getindex(argv[2], ("-nocase",), "option", True)
    m = split_list(argv[n - 2])
    if len(m) % 2:
        raise TclError("char map list unbalanced")
    s = argv[n - 1]
    keys = []
    for j in range(0, len(m), 2):
        if m[j]:
            keys.append((m[j].lower() if nocase else m[j], m[j + 1]))
    if not keys:
        return s
    if len(keys) == 1 and not nocase:
        return s.replace(keys[0][0], keys[0][1])
    t = s.lower() if nocase else s
    out = []
    i = 0
    seg = 0
    ln = len(s)
    while i < ln:
        for k, v in keys:
            if t.startswith(k, i):
                out.append(s[seg:i])
                out.append(v)
                i += len(k)
                seg = i
                break
        else:
            i += 1
    out.append(s[seg:])
    return "".join(out)


def s_repeat(it, argv):
    if len(argv) != 4:
        _wrong("string repeat string count")
    k = _toint(argv[3])
    if k > 0 and len(argv[2]) * k > 1 << 24:
        raise TclError("result of string repeat exceeds the size limit")
    return argv[2] * k if k > 0 else ""


def s_match(it, argv):
    n = len(argv)
    if n == 5 and _getindex(argv[2], ("-nocase",), "option", True):
        return "1" if glob_match(argv[3], argv[4], True) else "0"
    if n != 4:
        _wrong("string match ?-nocase? pattern string")
    return "1" if glob_match(argv[2], argv[3]) else "0"


def s_reverse(it, argv):
    if len(argv) != 3:
        _wrong("string reverse string")
    return "".join(reversed(argv[2]))


def s_cat(it, argv):
    return "".join(argv[2:])


def s_replace(it, argv):
    n = len(argv)
    if not 5 <= n <= 6:
        _wrong("string replace string first last ?string?")
    s = argv[2]
    a = _index(argv[3], len(s) - 1)
    b = _index(argv[4], len(s) - 1)
    if b < a or b < 0 or a >= len(s):
        return s
    a = max(a, 0)
    return s[:a] + (argv[5] if n == 6 else "") + s[b + 1:]


_PUNCT = "!\"#%&'()*,-./:;?@[\\]_{}"
# Tcl's order, for the error message
_ISORDER = ("alnum", "alpha", "ascii", "control", "boolean", "digit", "double", "entier", "false", "graph",
            "integer", "list", "lower", "print", "punct", "space", "true", "upper", "wideinteger", "wordchar",
            "xdigit")
_CHARCLASSES = ("alnum", "alpha", "ascii", "control", "digit", "graph", "lower", "print", "punct", "space", "upper",
                "wordchar", "xdigit")


def _ischar(cls, c):
    o = ord(c)
    if cls == "alnum":
        return c.isalpha() or c.isdigit()
    if cls == "alpha":
        return c.isalpha()
    if cls == "ascii":
        return o < 128
    if cls == "control":
        return o < 32 or 127 <= o < 160
    if cls == "digit":
        return c.isdigit()
    if cls == "graph" or cls == "print":
        return o >= 32 and not 127 <= o < 160 and (not c.isspace() or (cls == "print" and c == " "))
    if cls == "lower":
        return c.islower()
    if cls == "punct":
        return c in _PUNCT
    if cls == "space":
        return c.isspace()
    if cls == "upper":
        return c.isupper()
    if cls == "wordchar":
        return c.isalpha() or c.isdigit() or c == "_"
    return _hexval(c) >= 0


def _isclass(cls, s):
    """Tcl's `string is` for a non-empty string s; returns (ok, index of the first failing char)."""
    if cls in _CHARCLASSES:
        for k in range(len(s)):
            if not _ischar(cls, s[k]):
                return False, k
        return True, 0
    v = tonum(s)
    if cls == "double":
        ok = v is not None
    elif cls == "entier":
        ok = type(v) is int
    elif cls in ("integer", "wideinteger"):
        ok = type(v) is int and -(1 << 63) <= v < (1 << 63)
    elif cls == "boolean":
        ok = v is not None or _boolword(s) is not None
    elif cls == "true":
        ok = _boolword(s) is True or v not in (None, 0)
    elif cls == "false":
        ok = _boolword(s) is False or v == 0
    else:  # list
        try:
            split_list(s)
            ok = True
        except TclError:
            ok = False
    return ok, 0


def s_is(it, argv):
    n = len(argv)
    usage = "string is class ?-strict? ?-failindex var? str"
    if n < 4 or n > 7:
        _wrong(usage)
    cls = _getindex(argv[2], _ISORDER, "class")
    strict = False
    fail = None
    i = 3
    while i < n - 1:
        o = _getindex(argv[i], ("-strict", "-failindex"))
        if o == "-strict":
            strict = True
        elif i < n - 2:
            i += 1
            fail = argv[i]
        else:
            _wrong(usage)
        i += 1
    s = argv[-1]
    ok, k = _isclass(cls, s) if s else (not strict, 0)
    if fail is not None and not ok:
        b, x = _splitname(fail)
        it._set(b, x, str(k))
    return "1" if ok else "0"


_STRING = {"length": s_length, "index": s_index, "range": s_range, "equal": s_equal, "compare": s_compare,
           "first": s_first, "last": s_last, "toupper": s_toupper, "tolower": s_tolower,
           "totitle": s_totitle, "trim": s_trim, "trimleft": s_trimleft, "trimright": s_trimright,
           "map": s_map, "repeat": s_repeat, "match": s_match, "reverse": s_reverse, "cat": s_cat,
           "replace": s_replace, "is": s_is}


c_string = _ensemble("string", _STRING)
