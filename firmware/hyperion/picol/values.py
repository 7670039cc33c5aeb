# Picol's values: the Tcl list format, numbers as Tcl reads and prints them, booleans, indexes
# (end-1) and glob matching.
from .errors import TclError
from .parser import _TSPACE, _backslash, _hexval

INF = float("inf")


# -- lists -----------------------------------------------------------------------------------------

def split_list(s):
    """The elements of Tcl list s (raises TclError if s is not a well-formed list)."""
    if "{" not in s and '"' not in s and "\\" not in s:
        for c in "\t\n\v\f\r":
            if c in s:
                s = s.replace(c, " ")
        return [w for w in s.split(" ") if w]
    out = []
    i = 0
    n = len(s)
    while True:
        while i < n and s[i] in _TSPACE:
            i += 1
        if i >= n:
            return out
        c = s[i]
        if c == "{":
            level = 1
            j = i + 1
            while j < n:
                c = s[j]
                if c == "{":
                    level += 1
                elif c == "}":
                    level -= 1
                    if level == 0:
                        break
                elif c == "\\":
                    j += 1
                j += 1
            if j >= n:
                raise TclError("unmatched open brace in list")
            out.append(s[i + 1:j])
            i = j + 1
            if i < n and s[i] not in _TSPACE:
                raise TclError('list element in braces followed by "%s" instead of space' % _junk(s, i))
        elif c == '"':
            j = i + 1
            buf = []
            seg = j
            while j < n and s[j] != '"':
                if s[j] == "\\":
                    buf.append(s[seg:j])
                    ch, j = _backslash(s, j, n)
                    buf.append(ch)
                    seg = j
                else:
                    j += 1
            if j >= n:
                raise TclError("unmatched open quote in list")
            buf.append(s[seg:j])
            out.append("".join(buf))
            i = j + 1
            if i < n and s[i] not in _TSPACE:
                raise TclError('list element in quotes followed by "%s" instead of space' % _junk(s, i))
        else:
            j = i
            buf = []
            seg = j
            while j < n and s[j] not in _TSPACE:
                if s[j] == "\\":
                    buf.append(s[seg:j])
                    ch, j = _backslash(s, j, n)
                    buf.append(ch)
                    seg = j
                else:
                    j += 1
            buf.append(s[seg:j])
            out.append("".join(buf))
            i = j


def _junk(s, i):
    j = i
    while j < len(s) and s[j] not in _TSPACE and j < i + 20:
        j += 1
    return s[i:j]


def _quote(s, first):
    """s as a list element (Tcl's TclScanElement/TclConvertElement, with 8.6's COMPAT rules)."""
    if not s:
        return "{}"
    n = len(s)
    c0 = s[0]
    forbid = c0 == "{" or c0 == '"'
    brace = forbid or (first and c0 == "#")
    esc_pref = False
    need_esc = False
    level = 0
    i = 0
    while i < n:
        c = s[i]
        if c == "{":
            level += 1
        elif c == "}":
            level -= 1
            if level < 0:
                need_esc = True
        elif c == "]" or c == '"':
            forbid = True
            esc_pref = True
        elif c == "[" or c == "$" or c == ";":
            forbid = True
            brace = True
        elif c == "\\":
            if i + 1 >= n:
                need_esc = True
            elif s[i + 1] == "\n":
                need_esc = True
                i += 1
            else:
                if s[i + 1] in "{}\\":
                    i += 1
                forbid = True
                brace = True
        elif c in _TSPACE:
            forbid = True
            brace = True
        i += 1
    if level:
        need_esc = True
    if need_esc:
        return _escape(s, first, True)
    if forbid:
        if esc_pref and not brace:
            if first and c0 == "#":
                return "{" + s + "}"
            return _escape(s, first, False)
        return "{" + s + "}"
    if first and c0 == "#":
        return "{" + s + "}"
    return s


def _escape(s, first, braces):
    out = []
    if first and s[0] == "#":
        out.append("\\")
    for c in s:
        if c in "][$; \\\"":
            out.append("\\")
        elif c == "{" or c == "}":
            if braces:
                out.append("\\")
        elif c in "\f\n\r\t\v":
            out.append({"\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}[c])
            continue
        out.append(c)
    return "".join(out)


def mklist(items):
    """A Tcl list holding the given strings, quoted as Tcl quotes them."""
    out = []
    first = True
    for x in items:
        out.append(_quote(x, first))
        first = False
    return " ".join(out)


def _concat(args):
    """Tcl's concat: trim each argument, drop empty ones, join with spaces."""
    out = []
    for a in args:
        b = a.strip(_TSPACE)
        if b.endswith("\\") and len(a.rstrip(_TSPACE)) < len(a):
            b = a[:a.find(b) + len(b) + 1]  # trimming must not expose a final backslash
        if b:
            out.append(b)
    return " ".join(out)


# -- numbers ---------------------------------------------------------------------------------------

def _digits(s, i, n, base):
    while i < n:
        d = _hexval(s[i])
        if d < 0 or d >= base:
            break
        i += 1
    return i


def _scan_num(s, i, n):
    """The longest number at s[i:n] (no sign, no space), as Tcl's TclParseNumber reads it:
    (end, value), or (i, None) if there is none. value is an int or a float."""
    c = s[i] if i < n else ""
    if c == "0" and i + 1 < n and s[i + 1] in "xXbBoO":
        b = s[i + 1]
        base = 16 if b in "xX" else (2 if b in "bB" else 8)
        j = _digits(s, i + 2, n, base)
        if j > i + 2:
            return j, int(s[i + 2:j], base)
        return i + 1, 0
    j = _digits(s, i, n, 10)
    intend = j
    flt = False
    if j < n and s[j] == ".":
        k = _digits(s, j + 1, n, 10)
        if k > j + 1 or intend > i:
            flt = True
            j = k
    if j > i and j < n and s[j] in "eE":
        k = j + 1
        if k < n and s[k] in "+-":
            k += 1
        m = _digits(s, k, n, 10)
        if m > k:
            flt = True
            j = m
    if j == i:
        low = s[i:i + 8].lower()
        if low.startswith("infinity"):
            return i + 8, INF
        if low.startswith("inf"):
            return i + 3, INF
        if low.startswith("nan"):
            return i + 3, INF - INF
        return i, None
    if flt:
        return j, float(s[i:j])
    if c == "0" and intend > i + 1:
        k = _digits(s, i + 1, intend, 8)
        return k, int(s[i:k], 8)
    return intend, int(s[i:intend])


def tonum(s):
    """s as a number (int or float) the way Tcl reads a value, or None."""
    try:
        v = int(s)
        if str(v) == s:
            return v
    except ValueError:
        pass
    n = len(s)
    i = 0
    while i < n and s[i] in _TSPACE:
        i += 1
    while n > i and s[n - 1] in _TSPACE:
        n -= 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    if i >= n:
        return None
    e, v = _scan_num(s, i, n)
    if v is None or e != n:
        return None
    return -v if neg else v


def _toint(s):
    v = tonum(s)
    if type(v) is not int:
        raise TclError('expected integer but got "%s"' % s)
    return v


def _tofloat_arg(s):
    v = s if type(s) is not str else tonum(s)
    if v is None:
        raise TclError('expected floating-point number but got "%s"' % s)
    return _f(v)


def _f(v):
    if type(v) is float:
        return v
    try:
        return float(v)
    except OverflowError:
        return INF if v > 0 else -INF


def _fmtf(f):
    """A float as Tcl prints it: the shortest text that reads back the same, Tcl's layout."""
    if f != f:
        return "NaN"
    if f == INF:
        return "Inf"
    if f == -INF:
        return "-Inf"
    s = repr(f)
    neg = s[0] == "-"
    if neg:
        s = s[1:]
    e = 0
    k = s.find("e")
    if k >= 0:
        e = int(s[k + 1:])
        s = s[:k]
    p = s.find(".")
    if p < 0:
        ip, fp = s, ""
    else:
        ip, fp = s[:p], s[p + 1:]
    d = ip + fp
    nd = d.lstrip("0")
    if not nd:
        return "-0.0" if neg else "0.0"
    x = e + len(ip) - 1 - (len(d) - len(nd))
    d = nd.rstrip("0")
    if x < -4 or x > 16:
        out = d[0] + ("." + d[1:] if len(d) > 1 else "") + "e" + ("+" if x >= 0 else "-") + str(abs(x))
    elif x < 0:
        out = "0." + "0" * (-x - 1) + d
    else:
        ip = d[:x + 1]
        ip += "0" * (x + 1 - len(ip))
        out = ip + "." + (d[x + 1:] or "0")
    return "-" + out if neg else out


def _nstr(v):
    """A number (or string) result as Tcl prints it."""
    t = type(v)
    if t is int:
        try:
            return str(v)
        except ValueError:  # CPython's int -> str digit limit
            raise TclError("integer value too large to represent") from None
    if t is float:
        return _fmtf(v)
    return v


def _tstr(v):
    """The Tcl string for a Python value returned by a registered command."""
    if v is None:
        return ""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "1" if v else "0"
    if t is int or t is float:
        return _nstr(v)
    if t is list or t is tuple:
        return mklist([_tstr(x) for x in v])
    if t is bytes or t is bytearray:
        return bytes(v).decode()
    return str(v)


_BOOLS = (("true", 1, True), ("false", 1, False), ("yes", 1, True), ("no", 1, False),
          ("on", 2, True), ("off", 2, False))


def _boolword(s):
    w = s.lower()
    for name, least, val in _BOOLS:
        if least <= len(w) <= len(name) and name.startswith(w):
            return val
    return None


def _tobool(v):
    """v as a boolean, or None if v is not one."""
    t = type(v)
    if t is str:
        n = tonum(v)
        if n is None:
            return _boolword(v) if v else None
        v = n
    if v != v:
        raise TclError("floating point value is Not a Number")
    return v != 0


def _cond(v):
    b = _tobool(v)
    if b is None:
        raise TclError('expected boolean value but got "%s"' % v)
    return b


def _isbadoctal(s):
    s = s.strip(_TSPACE)
    if s[:1] in "+-":
        s = s[1:]
    if len(s) < 2 or s[0] != "0":
        return False
    for c in s:
        if not "0" <= c <= "9":
            return False
    return True


def _num(v, op):
    """v as a number for operator op, with Tcl's message if it is not one."""
    t = type(v)
    if t is int or t is float:
        return v
    n = tonum(v)
    if n is None:
        if v == "":
            what = "empty string"
        elif _isbadoctal(v):
            what = "invalid octal number"
        else:
            what = "non-numeric string"
        raise TclError('can\'t use %s as operand of "%s"' % (what, op))
    if n != n:
        raise TclError('can\'t use non-numeric floating-point value as operand of "%s"' % op)
    return n


def _int(v, op):
    v = _num(v, op)
    if type(v) is float:
        raise TclError('can\'t use floating-point value as operand of "%s"' % op)
    return v


def _chk(f):
    if f != f:
        raise TclError("domain error: argument not in valid range")
    return f


# -- string helpers --------------------------------------------------------------------------------

def _index(s, last):
    """A Tcl index (int, end, end-N, N+M) for a sequence whose last index is `last`."""
    try:
        v = int(s)
        if str(v) == s:
            return v
    except ValueError:
        pass
    if s.startswith("end"):
        r = s[3:]
        if not r:
            return last
        if r[0] in "+-":
            v = tonum(r[1:])
            if type(v) is int and r[1:2] not in _TSPACE:
                return last + v if r[0] == "+" else last - v
    else:
        v = tonum(s)
        if type(v) is int:
            return v
        for k in range(1, len(s)):
            if s[k] in "+-" and s[k - 1] not in "eE":
                a = tonum(s[:k])
                b = tonum(s[k + 1:])
                if type(a) is int and type(b) is int and s[k + 1:k + 2] not in _TSPACE:
                    return a + b if s[k] == "+" else a - b
                break
    raise TclError('bad index "%s": must be integer?[+-]integer? or end?[+-]integer?' % s)


def glob_match(pat, s, nocase=False):
    """Tcl's `string match`: * ? [chars] and \\x."""
    if nocase:
        pat = pat.lower()
        s = s.lower()
    pi = si = 0
    np = len(pat)
    ns = len(s)
    star = -1
    mark = 0
    while True:
        if pi < np:
            c = pat[pi]
            if c == "*":
                while pi < np and pat[pi] == "*":
                    pi += 1
                if pi == np:
                    return True
                star = pi
                mark = si
                continue
            if si < ns:
                ok = False
                if c == "?":
                    ok = True
                    pj = pi + 1
                elif c == "[":
                    ok, pj = _glob_class(pat, pi + 1, np, s[si])
                else:
                    if c == "\\" and pi + 1 < np:
                        pi += 1
                        c = pat[pi]
                    ok = c == s[si]
                    pj = pi + 1
                if ok:
                    pi = pj
                    si += 1
                    continue
        elif si == ns:
            return True
        if star < 0 or mark >= ns:
            return False
        mark += 1
        si = mark
        pi = star


def _glob_class(pat, i, n, ch):
    ok = False
    while i < n and pat[i] != "]":
        c = pat[i]
        if c == "\\" and i + 1 < n:
            i += 1
            c = pat[i]
        if i + 2 < n and pat[i + 1] == "-" and pat[i + 2] != "]":
            hi = pat[i + 2]
            lo = c
            if lo > hi:
                lo, hi = hi, lo
            if lo <= ch <= hi:
                ok = True
            i += 3
        else:
            if c == ch:
                ok = True
            i += 1
    if i >= n:
        return False, n
    return ok, i + 1
