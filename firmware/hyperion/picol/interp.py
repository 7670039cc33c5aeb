# Picol: a small Tcl 8.6 for Hyperion boards. Runs on MicroPython and on CPython (the host imports it).
#
#   from hyperion.picol import Interp, TclError
#   it = Interp()
#   it.eval("puts [expr {6 * 7}]")
#
# The parser follows the Tcl Dodekalogue; error messages are tclsh 8.6's, byte for byte, for every case
# Picol implements. Extend it with Interp.register(name, fn). See docs/picol.md.
import sys

try:
    import math
except ImportError:  # a port built without floating point
    math = None

INF = float("inf")


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


class _PErr(Exception):
    """A parse error: msg, the position it names (Tcl's `term`) and whether the text is incomplete."""

    def __init__(self, msg, pos, inc):
        self.msg = msg
        self.pos = pos
        self.inc = inc


class _Bad:
    """A command that did not parse: evaluating it raises the parse error (commands before it still run)."""

    def __init__(self, msg):
        self.msg = msg


class _Expand:
    """A {*}word."""

    def __init__(self, word):
        self.word = word


# -- the parser ------------------------------------------------------------------------------------
# A script compiles to a list of commands. A command is a tuple of strings when every word is literal,
# else a list of words. A word is a str (literal), a list of parts, or an _Expand. A part is a str,
# a tuple (name, index) for a variable (index: None or a word), or a list (a compiled script, for [..]).

_SPACE = " \t\v\f\r"
_TSPACE = " \t\n\v\f\r"  # Tcl's whitespace (TclIsSpaceProc)
_CACHE_SIZE = 64
_cache = {}


def _compile(src):
    c = _cache.get(src)
    if c is None:
        c = []
        try:
            _parse(src, 0, len(src), -1, c)
        except _PErr as e:
            c.append(_Bad(e.msg))
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[src] = c
    return c


def _parse(s, i, n, bracket, out):
    """Parse commands from s[i:n] into out. bracket >= 0: inside [..] opened there; returns after the ']'."""
    while True:
        while i < n:
            c = s[i]
            if c in " \t\n\v\f\r;":
                i += 1
            elif c == "\\" and i + 1 < n and s[i + 1] == "\n":
                i += 2
            else:
                break
        if i >= n:
            if bracket >= 0:
                raise _PErr("missing close-bracket", bracket, 1)
            return i
        c = s[i]
        if c == "#":
            while i < n:
                c = s[i]
                if c == "\\":
                    i += 2
                elif c == "\n":
                    break
                else:
                    i += 1
            continue
        if c == "]" and bracket >= 0:
            return i + 1
        words = []
        lit = True
        while True:
            w, i = _word(s, i, n, bracket)
            if type(w) is not str:
                lit = False
            words.append(w)
            while i < n:
                c = s[i]
                if c in _SPACE:
                    i += 1
                elif c == "\\" and i + 1 < n and s[i + 1] == "\n":
                    i += 2
                else:
                    break
            if i >= n or s[i] in "\n;" or (bracket >= 0 and s[i] == "]"):
                break
        out.append(tuple(words) if lit else words)


def _word_end(s, i, n, bracket):
    """True if a word may end at i (after a close brace or quote)."""
    if i >= n:
        return True
    c = s[i]
    return c in _TSPACE or c == ";" or (c == "]" and bracket >= 0) or (c == "\\" and i + 1 < n and s[i + 1] == "\n")


def _word(s, i, n, bracket):
    c = s[i]
    if c == "{":
        if s.startswith("{*}", i) and i + 3 < n:
            c3 = s[i + 3]
            if not (c3 in _TSPACE or c3 == ";" or (c3 == "]" and bracket >= 0)
                    or (c3 == "\\" and i + 4 < n and s[i + 4] == "\n")):
                w, i = _word1(s, i + 3, n, bracket)
                return _Expand(w), i
        return _word1(s, i, n, bracket)
    return _word1(s, i, n, bracket)


def _word1(s, i, n, bracket):
    c = s[i]
    if c == "{":
        text, j = _braces(s, i, n, True)
        if not _word_end(s, j, n, bracket):
            raise _PErr("extra characters after close-brace", j, 0)
        return text, j
    if c == '"':
        parts, j = _subst_until(s, i + 1, n, '"', bracket)
        if j >= n:
            raise _PErr('missing "', i, 1)
        j += 1
        if not _word_end(s, j, n, bracket):
            raise _PErr("extra characters after close-quote", j, 0)
        return _mkword(parts), j
    parts, j = _subst_until(s, i, n, None, bracket)
    return _mkword(parts), j


def _mkword(parts):
    if not parts:
        return ""
    if len(parts) == 1 and type(parts[0]) is str:
        return parts[0]
    return parts


def _subst_until(s, i, n, close, bracket):
    """Parts of a word up to `close` ('"', ')' or None for a bare word). Returns (parts, index of the
    closing char, or n if not found)."""
    parts = []
    lit = []
    seg = i
    while i < n:
        c = s[i]
        if close is None:
            if c in _TSPACE or c == ";" or (c == "]" and bracket >= 0):
                break
        elif c == close:
            break
        if c == "$":
            v, j = _var(s, i, n, bracket)
            if v is None:
                i = j
                continue
            if i > seg:
                lit.append(s[seg:i])
            if lit:
                parts.append("".join(lit))
                lit = []
            parts.append(v)
            i = seg = j
        elif c == "[":
            if i > seg:
                lit.append(s[seg:i])
            if lit:
                parts.append("".join(lit))
                lit = []
            cmds = []
            i = seg = _parse(s, i + 1, n, i, cmds)
            parts.append(cmds)
        elif c == "\\":
            if close is None and i + 1 < n and s[i + 1] == "\n":
                break  # backslash-newline ends a bare word
            if i > seg:
                lit.append(s[seg:i])
            ch, i = _backslash(s, i, n)
            lit.append(ch)
            seg = i
        else:
            i += 1
    if i > seg:
        lit.append(s[seg:i])
    if lit:
        parts.append("".join(lit))
    return parts, i


def _braces(s, i, n, hint):
    """The text of {..} at s[i]; returns (text, index after '}'). Backslash-newline becomes a space."""
    start = i
    level = 1
    i += 1
    seg = i
    pieces = None
    while i < n:
        c = s[i]
        if c == "{":
            level += 1
        elif c == "}":
            level -= 1
            if level == 0:
                if pieces is None:
                    return s[seg:i], i + 1
                pieces.append(s[seg:i])
                return "".join(pieces), i + 1
        elif c == "\\":
            if i + 1 < n and s[i + 1] == "\n":
                if pieces is None:
                    pieces = []
                pieces.append(s[seg:i])
                pieces.append(" ")
                i += 2
                while i < n and s[i] in " \t":
                    i += 1
                seg = i
                continue
            i += 1
        i += 1
    msg = "missing close-brace"
    if hint:
        # Tcl's guess: an open brace after a '#' (preceded by a space) on the same line.
        ob = False
        j = n - 1
        while j > start:
            c = s[j]
            if c == "{":
                ob = True
            elif c == "\n":
                ob = False
            elif c == "#" and ob and s[j - 1] in _TSPACE:
                msg += ": possible unbalanced brace in comment"
                break
            j -= 1
    raise _PErr(msg, start, 1)


def _namechar(c):
    return "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "_"


def _var(s, i, n, bracket):
    """The variable reference at s[i] == '$': ((name, index), end), or (None, i + 1) for a lone '$'."""
    j = i + 1
    if j < n and s[j] == "{":
        k = s.find("}", j + 1)
        if k < 0:
            raise _PErr("missing close-brace for variable name", j, 1)
        return (s[j + 1:k], None), k + 1
    k = j
    while k < n:
        c = s[k]
        if _namechar(c):
            k += 1
        elif c == ":" and k + 1 < n and s[k + 1] == ":":
            k += 2
            while k < n and s[k] == ":":
                k += 1
        else:
            break
    if k == j and not (k < n and s[k] == "("):
        return None, j
    name = s[j:k]
    if k < n and s[k] == "(":
        parts, e = _subst_until(s, k + 1, n, ")", bracket)
        if e >= n:
            raise _PErr("missing )", k, 1)
        return (name, _mkword(parts)), e + 1
    return (name, None), k


_ESC = {"a": "\x07", "b": "\x08", "f": "\x0c", "n": "\n", "r": "\r", "t": "\t", "v": "\x0b"}


def _hexval(c):
    if "0" <= c <= "9":
        return ord(c) - 48
    if "a" <= c <= "f":
        return ord(c) - 87
    if "A" <= c <= "F":
        return ord(c) - 55
    return -1


def _backslash(s, i, n):
    """Decode the backslash sequence at s[i]; returns (text, end)."""
    if i + 1 >= n:
        return "\\", i + 1
    c = s[i + 1]
    j = i + 2
    e = _ESC.get(c)
    if e is not None:
        return e, j
    if c == "x" or c == "u" or c == "U":
        most = 2 if c == "x" else (4 if c == "u" else 8)
        v = 0
        k = j
        while k < n and k - j < most:
            d = _hexval(s[k])
            if d < 0 or v * 16 + d > 0x10FFFF:
                break
            v = v * 16 + d
            k += 1
        if k == j:
            return c, j
        return chr(v), k
    if "0" <= c <= "7":
        v = ord(c) - 48
        k = j
        while k < n and k - j < 2 and "0" <= s[k] <= "7" and v * 8 + ord(s[k]) - 48 <= 0xFF:
            v = v * 8 + ord(s[k]) - 48
            k += 1
        return chr(v), k
    if c == "\n":
        while j < n and s[j] in " \t":
            j += 1
        return " ", j
    return c, j


def complete(script):
    """Tcl's `info complete`: False if script ends inside braces, quotes or brackets (more lines needed)."""
    try:
        _parse(script, 0, len(script), -1, [])
    except _PErr as e:
        return not e.inc
    return True


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


def _tonum(s):
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
    v = _tonum(s)
    if type(v) is not int:
        raise TclError('expected integer but got "%s"' % s)
    return v


def _tofloat_arg(s):
    v = s if type(s) is not str else _tonum(s)
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
        n = _tonum(v)
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
    n = _tonum(v)
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


# -- expressions -----------------------------------------------------------------------------------
# An expression compiles to a tree: int, float and str are literal values; tuples are
# ('$', name, index), ('[', script), ('"', parts), ('f', name, args, start, end), (op, a[, b[, c]]).

_PREC = {"END": 1, "START": 2, ")": 3, "(": 4, ",": 5, "?": 6, ":": 6, "||": 7, "&&": 8, "|": 9,
         "^": 10, "&": 11, "==": 12, "!=": 12, "eq": 12, "ne": 12, "in": 12, "ni": 12, "<": 13, ">": 13,
         "<=": 13, ">=": 13, "<<": 14, ">>": 14, "+": 15, "-": 15, "*": 16, "/": 16, "%": 16, "**": 17,
         "u": 18}
_BINOPS = ("||", "&&", "|", "^", "&", "==", "!=", "eq", "ne", "in", "ni", "<", ">", "<=", ">=",
           "<<", ">>", "+", "-", "*", "/", "%", "**")
_OPERAND = ("NUM", "BOOL", "Q", "B", "V", "S", "FN", "(", "!", "~")
_ecache = {}
_COLON = ("L",)  # a stray ":" (an error reported by the enclosing group)


class _ExprError(Exception):
    pass


def _eerr(msg, s, start, scanned, mark, post=None):
    """Tcl's syntax-error message: msg, then a quote of the expression around the error."""
    lim = 25
    n = len(s)
    pre = s[:start] if start < lim else "..." + s[start - lim + 3:start]
    tok = s[start:start + scanned] if scanned < lim else s[start:start + lim - 3] + "..."
    e = start + scanned
    suf = s[e:] if e + lim > n else s[e:e + lim - 3] + "..."
    m = msg + '\nin expression "' + pre + tok + ("_@_" if mark else "") + suf + '"'
    if post:
        m += ";\n" + post
    return _ExprError(m)


def _isbare(c):
    return "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c == "_"


def _isalpha(c):
    return "a" <= c <= "z" or "A" <= c <= "Z"


class _Lexer:
    def __init__(self, s):
        self.s = s
        self.n = len(s)
        self.pos = 0
        self.next()

    def next(self):
        """Read the next lexeme into kind, start, end, val."""
        s = self.s
        n = self.n
        i = self.pos
        while i < n:
            c = s[i]
            if c in _TSPACE:
                i += 1
            elif c == "\\" and i + 1 < n and s[i + 1] == "\n":
                i += 2
            else:
                break
        self.start = i
        self.val = None
        if i >= n:
            self._set("END", i)
            return
        c = s[i]
        c1 = s[i + 1] if i + 1 < n else ""
        if c in "+-/%()^~?:,":
            self._set(c, i + 1)
        elif c == "*":
            self._set("**", i + 2) if c1 == "*" else self._set("*", i + 1)
        elif c == "=":
            if c1 != "=":
                raise _eerr('incomplete operator "="', s, i, 1, False)
            self._set("==", i + 2)
        elif c == "!":
            self._set("!=", i + 2) if c1 == "=" else self._set("!", i + 1)
        elif c == "&":
            self._set("&&", i + 2) if c1 == "&" else self._set("&", i + 1)
        elif c == "|":
            self._set("||", i + 2) if c1 == "|" else self._set("|", i + 1)
        elif c == "<" or c == ">":
            if c1 == c:
                self._set(c + c, i + 2)
            elif c1 == "=":
                self._set(c + "=", i + 2)
            else:
                self._set(c, i + 1)
        elif c == "$":
            try:
                v, j = _var(s, i, n, -1)
                if v is None:
                    v = _PErr('invalid character "$"', i, 1)
                    j = i + 1
            except _PErr as e:
                v, j = e, n
            self.val = v
            self._set("V", j)
        elif c == "[":
            cmds = []
            try:
                j = _parse(s, i + 1, n, i, cmds)
            except _PErr as e:
                cmds, j = e, n
            self.val = cmds
            self._set("S", j)
        elif c == '"':
            try:
                parts, j = _subst_until(s, i + 1, n, '"', -1)
                if j >= n:
                    raise _PErr('missing "', i, 1)
                j += 1
                self.val = _mkword(parts)
            except _PErr as e:
                self.val, j = e, n
            self._set("Q", j)
        elif c == "{":
            try:
                self.val, j = _braces(s, i, n, False)
            except _PErr as e:
                self.val, j = e, n
            self._set("B", j)
        elif self._wordop(c, c1, i):
            pass
        else:
            self._numword(s, i, n)

    def _set(self, kind, end):
        self.kind = kind
        self.end = self.pos = end

    def _wordop(self, c, c1, i):
        if c in "ein" and c1 and (i + 2 >= self.n or not _isalpha(self.s[i + 2])):
            op = c + c1
            if op in ("eq", "ne", "in", "ni"):
                self._set(op, i + 2)
                return True
        return False

    def _numword(self, s, i, n):
        e, v = _scan_num(s, i, n)
        if v is not None:
            if e >= n or not _isbare(s[e]):
                self._num(s, i, e, v)
                return
            if type(v) is float:
                for k in range(i, e):
                    if not _isbare(s[k]):
                        self._num(s, i, e, v)
                        return
            save = self.start
            self.pos = e
            try:
                self.next()
                binary = self.kind in _BINOPS
            except _ExprError:
                binary = False
            self.start = save
            if binary:
                self._num(s, i, e, v)
                return
        if not _isbare(s[i]) or s[i] == "_":
            raise _eerr('invalid character "%s"' % s[i], s, i, 1, False)
        j = i
        while j < n and _isbare(s[j]):
            j += 1
        word = s[i:j]
        k = j
        while k < n and s[k] in _TSPACE:
            k += 1
        if k < n and s[k] == "(":
            self.val = word
            self._set("FN", j)
            return
        if _boolword(word) is not None:
            self.val = word
            self._set("BOOL", j)
            return
        sc = j - i
        w = word if sc < 25 else word[:22] + "..."
        post = 'should be "$%s" or "{%s}" or "%s(...)" or ...' % (w, w, w)
        if word[0] == "0":
            stop = _scan_num(s, i, j)[0]
            if (stop < j and "0" <= s[stop] <= "9") or stop == i + 1:
                c1 = word[1:2]
                if c1 == "b":
                    post += " (invalid binary number?)"
                elif c1 == "o" or "0" <= c1 <= "9":
                    post += " (invalid octal number?)"
        raise _eerr('invalid bareword "%s"' % w, s, i, sc, False, post)

    def _num(self, s, i, e, v):
        text = s[i:e]
        # keep the text when it is not how Tcl prints the number (0x10, 1.50): eq and ne see the text
        self.val = v if _nstr(v) == text else text
        self._set("NUM", e)


class _EParser:
    def __init__(self, s):
        self.s = s
        self.lx = _Lexer(s)

    def err_at(self, msg, mark=True):
        lx = self.lx
        return _eerr(msg, self.s, lx.start, 0 if mark else lx.end - lx.start, mark)

    def top(self):
        e = self.cond("START", False)
        k = self.lx.kind
        if k != "END":
            self.closing(k)
        self.colon(e)
        return e

    def closing(self, k):
        """Error for a token that cannot follow a complete expression here."""
        if k == ")":
            raise self.err_at("unbalanced close paren", False)
        if k == ",":
            raise self.err_at('unexpected "," outside function argument list', False)
        if k == ":":
            raise self.err_at('unexpected operator ":" without preceding "?"', False)
        raise self.err_at("unbalanced open paren", False)

    def cond(self, prev, fn, inq=False):
        """A ?: expression. inq: inside the true branch of a "?", where ":" ends the branch."""
        c = self.binary(7, prev, fn)
        lx = self.lx
        if lx.kind == "?":
            lx.next()
            a = self.cond("?", False, True)
            if lx.kind != ":":
                raise self.err_at('missing operator ":" at _@_')
            lx.next()
            b = self.cond(":", False, inq)
            return ("?", c, a, b)
        if lx.kind == ":" and not inq:
            # Like Tcl, parse the right operand first: its errors come first, and the enclosing
            # group reports this one when it closes (an unbalanced paren is reported instead).
            lx.next()
            self.cond(":", False)
            return _COLON
        return c

    def colon(self, e):
        if e is _COLON:
            raise self.err_at('unexpected operator ":" without preceding "?"', False)

    def binary(self, minp, prev, fn):
        """Operators of precedence >= minp. A left-associative run of operators becomes one chain node
        ("L", first, [(op, operand), ...]) that is evaluated in a loop, not by recursion."""
        lx = self.lx
        left = self.operand(prev, fn)
        ops = None
        while True:
            k = lx.kind
            if k in _OPERAND:
                raise self.err_at("missing operator at _@_")
            p = _PREC.get(k, 0)
            if p < minp or k not in _BINOPS:
                break
            lx.next()
            right = self.binary(p if k == "**" else p + 1, k, False)
            if ops is None:
                ops = []
            ops.append((k, right))
        if ops is None:
            return left
        return ("L", left, ops)

    def operand(self, prev, fn):
        lx = self.lx
        k = lx.kind
        if k in ("NUM", "BOOL", "Q", "B", "V", "S"):
            v = lx.val
            if isinstance(v, _PErr):
                raise _eerr(v.msg, self.s, v.pos, v.inc, False)
            lx.next()
            if k == "V":
                return ("$", v[0], v[1])
            if k == "S":
                return ("[", v)
            if k == "Q" and type(v) is not str:
                return ('"', v)
            return v
        if k in ("+", "-", "!", "~"):
            lx.next()
            return ("u" + k, self.operand("u", False))
        if k == "(":
            lx.next()
            e = self.cond("(", False)
            if lx.kind != ")":
                self.closing(lx.kind)
            self.colon(e)
            lx.next()
            return e
        if k == "FN":
            name = lx.val
            lx.next()  # the "(" follows
            lx.next()
            args = []
            if lx.kind == ")":
                lx.next()
                return ("f", name, args)
            while True:
                args.append(self.cond("(" if not args else ",", True))
                k = lx.kind
                if k == "," or k == ")":
                    self.colon(args[-1])
                if k == ",":
                    lx.next()
                    continue
                if k == ")":
                    lx.next()
                    return ("f", name, args)
                if k == "END":
                    raise self.err_at("unbalanced open paren", False)
                self.closing(k)
        # an operator, ")", "," or the end where an operand should be
        if k == ")" and prev == "(":
            raise self.err_at("empty subexpression at _@_")
        if _PREC[prev] > _PREC[k]:
            if prev == "(":
                raise self.err_at("unbalanced open paren", False)
            if prev == ",":
                raise self.err_at("missing function argument at _@_")
            if prev == "START":
                raise self.err_at("empty expression", False)
        elif k == ")":
            raise self.err_at("unbalanced close paren", False)
        elif k == "," and prev == "(" and fn:
            raise self.err_at("missing function argument at _@_")
        raise self.err_at("missing operand at _@_")


def _ecompile(s):
    t = _ecache.get(s)
    if t is None:
        try:
            t = _EParser(s).top()
        except _ExprError as e:
            t = _Bad(str(e))
        if len(_ecache) >= _CACHE_SIZE:
            _ecache.clear()
        _ecache[s] = t
    return t


def _cmpv(a, b):
    """Compare two expr values as Tcl does: numerically if both are numbers, else as strings."""
    x = a if type(a) is not str else _tonum(a)
    y = b if type(b) is not str else _tonum(b)
    if x is not None and y is not None and x == x and y == y:
        return (x > y) - (x < y)
    a = _nstr(a)
    b = _nstr(b)
    return (a > b) - (a < b)


def _pow(a, b):
    if type(a) is int and type(b) is int:
        if b < 0:
            if a == 0:
                raise TclError("exponentiation of zero by negative power")
            if a == 1:
                return 1
            if a == -1:
                return -1 if b & 1 else 1
            return 0
        if a not in (0, 1, -1) and (b > 0x7FFFFFFF or b * len("%x" % abs(a)) > 1 << 22):
            raise TclError("exponent too large")
        return a ** b
    a = _f(a)
    b = _f(b)
    if a == 0 and b < 0:
        raise TclError("exponentiation of zero by negative power")
    try:
        r = math.pow(a, b)
    except OverflowError:
        r = INF if a > 0 or b % 2 == 0 else -INF
    except ValueError:
        r = INF - INF
    return _chk(r)


def _div(a, b):
    if type(a) is int and type(b) is int:
        if b == 0:
            raise TclError("divide by zero")
        return a // b
    a = _f(a)
    b = _f(b)
    if b == 0:
        if a == 0 or a != a:
            raise TclError("domain error: argument not in valid range")
        return INF if (a > 0) == (str(b)[0] != "-") else -INF
    return _chk(a / b)


def _arith(op, a, b):
    if type(a) is int and type(b) is int:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        return a * b
    a = _f(a)
    b = _f(b)
    if op == "+":
        return _chk(a + b)
    if op == "-":
        return _chk(a - b)
    return _chk(a * b)


def _ibin(op, a, b):
    if op == "%":
        if b == 0:
            raise TclError("divide by zero")
        return a % b
    if op == "&":
        return a & b
    if op == "|":
        return a | b
    if op == "^":
        return a ^ b
    if b < 0:
        raise TclError("negative shift argument")
    if op == "<<":
        if b > 1 << 24 and a:
            raise TclError("integer value too large to represent")
        return a << b
    return a >> b if b < 1 << 24 else (-1 if a < 0 else 0)


def _binop(o, a, b):
    """A binary operator (not && or ||) on two evaluated operands."""
    if o in _CMPS:
        c = _cmpv(a, b)
        if o == "<":
            return 1 if c < 0 else 0
        if o == ">":
            return 1 if c > 0 else 0
        if o == "<=":
            return 1 if c <= 0 else 0
        if o == ">=":
            return 1 if c >= 0 else 0
        return 1 if (c == 0) == (o == "==") else 0
    if o == "+" or o == "-" or o == "*":
        return _arith(o, _num(a, o), _num(b, o))
    if o == "/":
        return _div(_num(a, o), _num(b, o))
    if o == "**":
        return _pow(_num(a, o), _num(b, o))
    if o == "eq" or o == "ne":
        return 1 if (_nstr(a) == _nstr(b)) == (o == "eq") else 0
    if o == "in" or o == "ni":
        return 1 if (_nstr(a) in split_list(_nstr(b))) == (o == "in") else 0
    return _ibin(o, _int(a, o), _int(b, o))


_CMPS = ("<", ">", "<=", ">=", "==", "!=")


def _ev(it, n):
    """Evaluate an expression tree."""
    if type(n) is not tuple:
        return n
    op = n[0]
    if op == "L":
        a = n[1]
        if type(a) is tuple:
            o = a[0]
            if o == "$" and a[2] is None:
                a = it._get(a[1])
            else:
                a = it._run(a[1]) if o == "[" else _ev(it, a)
        for o, b in n[2]:
            if o == "&&" or o == "||":
                if _cond(a) == (o == "||"):
                    a = 1 if o == "||" else 0
                    continue
                if type(b) is tuple:
                    b = _ev(it, b)
                a = 1 if _cond(b) else 0
                continue
            if type(b) is tuple:
                if b[0] == "$" and b[2] is None:
                    b = it._get(b[1])
                else:
                    b = it._run(b[1]) if b[0] == "[" else _ev(it, b)
            a = _binop(o, a, b)
        return a
    if op == "$":
        idx = n[2]
        if idx is not None and type(idx) is not str:
            idx = it._subst(idx)
        return it._get(n[1], idx)
    if op == "[":
        return it._run(n[1])
    if op == '"':
        return it._subst(n[1])
    if op == "?":
        return _ev(it, n[2]) if _cond(_ev(it, n[1])) else _ev(it, n[3])
    if op == "f":
        return _func(it, n[1], [_ev(it, a) for a in n[2]])
    a = _ev(it, n[1])
    if op == "u-":
        return -_num(a, "-")
    if op == "u+":
        return _num(a, "+")
    if op == "u!":
        if type(a) is str:
            b = _tobool(a)
            if b is None:
                _num(a, "!")
            return 0 if b else 1
        return 0 if a else 1
    return ~_int(a, "~")


def _fnum(v, what):
    if type(v) is str:
        n = _tonum(v)
        if n is None:
            raise TclError('expected %s but got "%s"' % (what, v))
        return n
    return v


def _wrap64(v):
    return ((v + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)


def _toi(v, wrap):
    v = _fnum(v, "number")
    if type(v) is float:
        if v != v or v in (INF, -INF):
            raise TclError("integer value too large to represent")
        v = int(v)
    return _wrap64(v) if wrap else v


def _round(v):
    v = _fnum(v, "number")
    if type(v) is int:
        return v
    if v != v or v in (INF, -INF):
        raise TclError("integer value too large to represent")
    i = int(v)
    f = v - i
    if f >= 0.5:
        i += 1
    elif f <= -0.5:
        i -= 1
    return i


def _abs(v):
    v = _fnum(v, "number")
    if type(v) is float:
        return math.fabs(v)
    return -v if v < 0 else v


def _mfn(name, fn, *args):
    """A float function of math: Tcl's results for domain errors and overflow."""
    a = [_tofloat_arg(x) for x in args]
    try:
        r = fn(*a)
    except OverflowError:
        r = INF
    except ValueError:
        x = a[0]
        if name in ("log", "log10") and x == 0:
            return -INF
        if name in ("exp", "cosh") and x > 0 or name == "sinh" and x != 0:
            return INF if x > 0 else -INF
        raise TclError("domain error: argument not in valid range") from None
    except ZeroDivisionError:
        raise TclError("domain error: argument not in valid range") from None
    return _chk(r)


_MATH1 = ("sqrt", "exp", "log", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
          "tanh", "floor", "ceil")
_MATH2 = ("pow", "atan2", "hypot", "fmod")


def _func(it, name, args):
    n = len(args)
    if name in ("min", "max"):
        if not n:
            raise TclError('not enough arguments to math function "%s"' % name)
        best = None
        bv = None
        for a in args:
            v = _fnum(a, "floating-point number")
            if best is None or (v < bv if name == "min" else v > bv):
                best, bv = v, v
        return best
    if name in ("abs", "int", "wide", "entier", "round", "double") or name in _MATH1:
        want = 1
    elif name in _MATH2:
        want = 2
    else:
        raise TclError('invalid command name "tcl::mathfunc::%s"' % name)
    if n < want:
        raise TclError('not enough arguments for math function "%s"' % name)
    if n > want:
        raise TclError('too many arguments for math function "%s"' % name)
    a = args[0]
    if name == "abs":
        return _abs(a)
    if name == "int" or name == "wide":
        return _toi(a, True)
    if name == "entier":
        return _toi(a, False)
    if name == "round":
        return _round(a)
    if name == "double":
        return _tofloat_arg(a)
    if name == "floor" or name == "ceil":
        x = _tofloat_arg(a)
        if x != x or x in (INF, -INF):
            return x
        return float(math.floor(x) if name == "floor" else math.ceil(x))
    if name == "pow":
        x = _tofloat_arg(a)
        y = _tofloat_arg(args[1])
        if x == 0 and y < 0:
            raise TclError("domain error: argument not in valid range")
    return _mfn(name, getattr(math, name, None) or _hypot, *args)


def _hypot(x, y):
    return math.sqrt(x * x + y * y)


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
            v = _tonum(r[1:])
            if type(v) is int and r[1:2] not in _TSPACE:
                return last + v if r[0] == "+" else last - v
    else:
        v = _tonum(s)
        if type(v) is int:
            return v
        for k in range(1, len(s)):
            if s[k] in "+-" and s[k - 1] not in "eE":
                a = _tonum(s[:k])
                b = _tonum(s[k + 1:])
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


# -- the interpreter -------------------------------------------------------------------------------

class Proc:
    """A command defined with `proc`."""

    def __init__(self, name, params, body):
        self.name = name
        self.params = params  # [(name, default or None)]
        self.body = body
        self.code = None

    def usage(self, called):
        out = [called]
        last = len(self.params) - 1
        for k, (p, d) in enumerate(self.params):
            if p == "args" and k == last:
                out.append("?arg ...?")
            elif d is not None:
                out.append("?" + p + "?")
            else:
                out.append(p)
        return " ".join(out)

    def __call__(self, it, argv):
        params = self.params
        np = len(params)
        na = len(argv) - 1
        f = {0: argv}  # key 0 (never a variable name) keeps the words of the call, for info level
        for k in range(np):
            p, d = params[k]
            if k == np - 1 and p == "args":
                f[p] = mklist(argv[k + 1:])
                na = k
                break
            if k < na:
                f[p] = argv[k + 1]
            elif d is not None:
                f[p] = d
            else:
                raise TclError('wrong # args: should be "%s"' % self.usage(argv[0]))
        else:
            if na > np:
                raise TclError('wrong # args: should be "%s"' % self.usage(argv[0]))
        d = it.depth
        if d >= it.maxdepth:
            raise TclError("too many nested evaluations (infinite loop?)")
        code = self.code
        if code is None:
            code = self.code = _compile(self.body)
        it.depth = d + 1
        it.frames.append(f)
        try:
            return it._run(code)
        except _Return as r:
            if r.level > 1:
                r.level -= 1
                raise
            return _complete(r.code, r.value)
        except _Break:
            raise TclError('invoked "break" outside of a loop') from None
        except _Continue:
            raise TclError('invoked "continue" outside of a loop') from None
        except RuntimeError as e:
            if "recursion" in str(e):
                raise TclError("too many nested evaluations (infinite loop?)") from None
            raise
        finally:
            it.frames.pop()
            it.depth = d


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


class _Ext:
    """A command written in Python (Interp.register): converts its result and its exceptions."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, it, argv):
        try:
            r = self.fn(it, argv)
        except (TclError, _Break, _Continue, _Return):
            raise
        except Exception as e:  # a Python error in the command becomes a Tcl error naming it
            raise TclError("%s: %s" % (argv[0], e)) from None
        return _tstr(r)


_DELETED = object()


class Interp:
    """A Tcl interpreter. Per-interpreter state is small: the variable frames, procs and registered
    commands (created on first use); the builtin command table is shared by every interpreter."""

    maxdepth = 1000  # nested evaluations (procs, eval, uplevel) before "too many nested evaluations"
    limit = 0  # if > 0: at most this many commands per top-level eval (for untrusted or random scripts)

    def __init__(self):
        self.frames = [{}]
        self.cmds = None
        self.depth = 0

    # -- public API --
    def eval(self, script):
        """Evaluate a script; returns its result. Raises TclError with Tcl's message on error."""
        if self.depth:
            return self._evals(script)
        self.depth = 1
        if self.limit:
            self.steps = self.limit
        try:
            return self._run(_compile(script))
        except _Return as r:
            try:
                return _complete(r.code, r.value)
            except _Return as r2:
                return r2.value
            except _Break:
                raise TclError('invoked "break" outside of a loop') from None
            except _Continue:
                raise TclError('invoked "continue" outside of a loop') from None
            except _Code as e:
                raise TclError("command returned bad code: %d" % e.code) from None
        except _Break:
            raise TclError('invoked "break" outside of a loop') from None
        except _Continue:
            raise TclError('invoked "continue" outside of a loop') from None
        except _Code as e:
            raise TclError("command returned bad code: %d" % e.code) from None
        except RuntimeError as e:
            if "recursion" in str(e):
                raise TclError("too many nested evaluations (infinite loop?)") from None
            raise
        finally:
            self.depth = 0
            del self.frames[1:]

    def expr(self, text):
        """Evaluate a Tcl expression; returns the result string."""
        return _nstr(self._expr(text, True))

    def call(self, *argv):
        """Call a command with the given words (no substitution); returns its result."""
        return self._call([_tstr(a) for a in argv])

    def register(self, name, fn):
        """Add a command written in Python. fn(interp, argv) gets the interpreter and the words of the
        command (argv[0] is the command name; treat argv as read-only). It returns the result: a str,
        or None (""), a bool (1/0), an int or float, or a list/tuple (made a Tcl list). It raises
        TclError for a Tcl error; any other exception becomes the Tcl error "NAME: message"."""
        if self.cmds is None:
            self.cmds = {}
        self.cmds[name] = _Ext(fn)

    def getvar(self, name):
        b, i = _splitname(name)
        return self._get(b, i)

    def setvar(self, name, value):
        b, i = _splitname(name)
        return self._set(b, i, _tstr(value))

    def exists(self, name):
        b, i = _splitname(name)
        return self._exists(b, i)

    def write(self, chan, text):
        """Output of `puts` (chan is "stdout" or "stderr"). Override to redirect it."""
        f = sys.stdout if chan == "stdout" else sys.stderr
        try:
            f.write(text)
        except UnicodeError:
            f.write(text.encode("utf-8", "replace").decode("utf-8", "replace"))

    def commands(self):
        names = set(_BUILTINS)
        if self.cmds:
            for k, v in self.cmds.items():
                if v is _DELETED:
                    names.discard(k)
                else:
                    names.add(k)
        return sorted(names)

    # -- evaluation --
    def _evals(self, script):
        d = self.depth
        if d >= self.maxdepth:
            raise TclError("too many nested evaluations (infinite loop?)")
        self.depth = d + 1
        try:
            return self._run(_compile(script))
        except RuntimeError as e:
            if "recursion" in str(e):
                raise TclError("too many nested evaluations (infinite loop?)") from None
            raise
        finally:
            self.depth = d

    def _run(self, cmds):
        r = ""
        for cmd in cmds:
            t = type(cmd)
            if t is tuple:
                argv = cmd
            elif t is list:
                argv = []
                for w in cmd:
                    tw = type(w)
                    if tw is str:
                        argv.append(w)
                    elif tw is list:
                        p = w[0]
                        if len(w) == 1 and type(p) is tuple and p[1] is None:
                            argv.append(self._get(p[0]))  # a lone $name, the most common word
                        else:
                            argv.append(self._subst(w))
                    else:
                        x = w.word
                        argv.extend(split_list(x if type(x) is str else self._subst(x)))
                if not argv:
                    continue  # {*} of nothing: no command; the result stays
            else:
                raise TclError(cmd.msg)
            name = argv[0]
            c = self.cmds
            fn = c.get(name) if c else None
            if fn is None:
                fn = _BUILTINS.get(name)
            if fn is None or fn is _DELETED:
                raise TclError('invalid command name "%s"' % name)
            if self.limit:
                self._tick()
            r = fn(self, argv)
        return r

    def _tick(self):
        self.steps -= 1
        if self.steps < 0:
            raise TclError("step limit exceeded")

    def _call(self, argv):
        name = argv[0]
        c = self.cmds
        fn = c.get(name) if c else None
        if fn is None:
            fn = _BUILTINS.get(name)
        if fn is None or fn is _DELETED:
            raise TclError('invalid command name "%s"' % name)
        return fn(self, argv)

    def _subst(self, parts):
        if len(parts) == 1:
            return self._part(parts[0])
        return "".join([self._part(p) for p in parts])

    def _part(self, p):
        t = type(p)
        if t is str:
            return p
        if t is tuple:
            idx = p[1]
            if idx is not None and type(idx) is not str:
                idx = self._subst(idx)
            return self._get(p[0], idx)
        return self._run(p)

    def _expr(self, text, top=False):
        t = _ecompile(text)
        if type(t) is _Bad:
            raise TclError(t.msg)
        v = _ev(self, t)
        if top and type(v) is str:
            n = _tonum(v)
            if n is not None:
                v = n
        if type(v) is float and v != v:
            raise TclError("domain error: argument not in valid range")
        return v

    def _test(self, text):
        return _cond(self._expr(text))

    # -- variables --
    def _where(self, name):
        """(dict, key, element) that name refers to, following global names and upvar links."""
        if name.startswith("::"):
            d = self.frames[0]
            name = name.lstrip(":")
        else:
            d = self.frames[-1]
        v = d.get(name)
        if type(v) is list:
            return v[0], v[1], v[2]
        return d, name, None

    def _get(self, name, idx=None):
        v = self.frames[-1].get(name)
        if idx is None and type(v) is str:
            return v
        d, k, li = self._where(name)
        shown = name if idx is None else name + "(" + idx + ")"
        if li is not None:
            if idx is not None:
                raise TclError('can\'t read "%s": variable isn\'t array' % shown)
            idx = li
        v = d.get(k)
        if idx is None:
            if type(v) is str:
                return v
            if v is None:
                raise TclError('can\'t read "%s": no such variable' % shown)
            raise TclError('can\'t read "%s": variable is array' % shown)
        if type(v) is dict:
            e = v.get(idx)
            if e is None:
                raise TclError('can\'t read "%s": no such element in array' % shown)
            return e
        if v is None:
            raise TclError('can\'t read "%s": no such variable' % shown)
        raise TclError('can\'t read "%s": variable isn\'t array' % shown)

    def _set(self, name, idx, value):
        f = self.frames[-1]
        if idx is None and type(f.get(name, "")) is str and not name.startswith("::"):
            f[name] = value
            return value
        d, k, li = self._where(name)
        shown = name if idx is None else name + "(" + idx + ")"
        if li is not None:
            if idx is not None:
                raise TclError('can\'t set "%s": variable isn\'t array' % shown)
            idx = li
        v = d.get(k)
        if idx is None:
            if type(v) is dict:
                raise TclError('can\'t set "%s": variable is array' % shown)
            d[k] = value
            return value
        if v is None:
            v = d[k] = {}
        elif type(v) is not dict:
            raise TclError('can\'t set "%s": variable isn\'t array' % shown)
        v[idx] = value
        return value

    def _exists(self, name, idx=None):
        d, k, li = self._where(name)
        if li is not None:
            if idx is not None:
                return False
            idx = li
        v = d.get(k)
        if idx is None:
            return v is not None and type(v) is not list
        return type(v) is dict and idx in v

    def _unset(self, name, idx, complain):
        d, k, li = self._where(name)
        shown = name if idx is None else name + "(" + idx + ")"
        if li is not None and idx is None:
            idx = li
        v = d.get(k)
        if idx is None:
            if v is None or type(v) is list:
                if complain:
                    raise TclError('can\'t unset "%s": no such variable' % shown)
                return
            del d[k]
            return
        if type(v) is dict and idx in v:
            del v[idx]
            return
        if complain:
            if type(v) is dict:
                raise TclError('can\'t unset "%s": no such element in array' % shown)
            if v is None:
                raise TclError('can\'t unset "%s": no such variable' % shown)
            raise TclError('can\'t unset "%s": variable isn\'t array' % shown)

    def _level(self, s):
        """The frame index a level argument ("1", "#0") names, or None if s is not a level."""
        cur = len(self.frames) - 1
        v = _tonum(s)
        if type(v) is int and v >= 0:
            lv = cur - v
        elif s[:1] == "#":
            v = _tonum(s[1:])
            lv = v if type(v) is int else -1
        elif "0" <= s[:1] <= "9":
            lv = -1
        else:
            return None
        if lv < 0 or lv > cur:
            raise TclError('bad level "%s"' % s)
        return lv


def _splitname(name):
    if name[-1:] == ")":
        p = name.find("(")
        if p >= 0:
            return name[:p], name[p + 1:-1]
    return name, None


# -- commands --------------------------------------------------------------------------------------

def _wrong(usage):
    raise TclError('wrong # args: should be "%s"' % usage)


def _oneof(what, word, names):
    if len(names) == 1:
        lst = names[0]
    else:
        lst = ", ".join(names[:-1]) + (", or " if len(names) > 2 else " or ") + names[-1]
    return TclError('%s "%s": must be %s' % (what, word, lst))


def _getindex(word, names, what="option", loose=False):
    """Tcl_GetIndexFromObj: word is one of names or a unique prefix of one; returns the full name.
    loose: the first name word (2 chars or more) is a prefix of, as string equal/compare/map/match do."""
    if word in names:
        return word
    if loose:
        for x in names:
            if len(word) > 1 and x.startswith(word):
                return x
        raise _oneof("bad " + what, word, list(names))
    hits = [x for x in names if x.startswith(word)]
    if len(hits) == 1 and word:
        return hits[0]
    raise _oneof(("ambiguous " if hits else "bad ") + what, word, list(names))


def _ensemble(name, table):
    """The command `name subcommand ?arg ...?` over table, subcommands by unique prefix (string, info, array)."""

    def cmd(it, argv):
        if len(argv) < 2:
            _wrong(name + " subcommand ?arg ...?")
        return _sub(argv[1], table)(it, argv)

    return cmd


def _sub(word, table, what="unknown or ambiguous subcommand", order=None):
    """Ensemble lookup with unique-prefix matching (string, info, array)."""
    f = table.get(word)
    if f is not None:
        return f
    hits = [k for k in table if k.startswith(word)] if word else []
    if len(hits) == 1:
        return table[hits[0]]
    raise _oneof(what, word, list(order or sorted(table)))


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


def c_incr(it, argv):
    n = len(argv)
    if n != 2 and n != 3:
        _wrong("incr varName ?increment?")
    f = it.frames[-1]
    v = f.get(argv[1])
    if type(v) is str:  # the common case: a local scalar
        x = _tonum(v)
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
                code = _tonum(v)
                if type(code) is not int:
                    raise TclError('bad completion code "%s": must be ok, error, return, break, continue, '
                                   "or an integer" % v)
        elif o == "-level":
            level = _tonum(v)
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
    ms = _tonum(argv[1])
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


# -- string --

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
    v = _tonum(s)
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


# -- lists --

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


# -- format --

def _pad(s, width, left, zero=False):
    if len(s) >= width:
        return s
    fill = ("0" if zero else " ") * (width - len(s))
    return s + fill if left else fill + s


def _fmt_int(v, conv, flags, width, prec, size):
    if size == "ll":
        pass
    elif size == "h":
        v = ((v + (1 << 15)) & 0xFFFF) - (1 << 15)
    else:
        v = _wrap64(v)
    if conv in "di":
        sign = "-" if v < 0 else ("+" if "+" in flags else (" " if " " in flags else ""))
        digits = str(abs(v))
    else:
        sign = ""
        if v < 0 and size != "ll":
            v += 1 << (16 if size == "h" else 64)
        if v < 0:
            sign = "-"
            v = -v
        if conv == "u":
            digits = str(v)
        elif conv == "o":
            digits = "%o" % v
        elif conv == "b":
            digits = bin(v)[2:]
        else:
            digits = "%x" % v
            if conv == "X":
                digits = digits.upper()
    if prec is not None and len(digits) < prec:
        digits = "0" * (prec - len(digits)) + digits
    if "#" in flags:
        if conv == "o" and digits[0] != "0":
            digits = "0" + digits
        elif conv in "xX":
            sign += "0" + conv
        elif conv == "b":
            sign += "0b"
    if "0" in flags and prec is None:
        return sign + _pad(digits, width - len(sign), False, True)
    return _pad(sign + digits, width, "-" in flags)


def _exact_scaled(v, p):
    """round(v * 10**p), ties to even, computed exactly (v finite, >= 0): what C's printf does."""
    if v == 0:
        return 0
    m, e = math.frexp(v)
    num = int(m * 9007199254740992.0)
    den = 1
    e -= 53
    if p >= 0:
        num *= 10 ** p
    else:
        den = 10 ** -p
    if e >= 0:
        num <<= e
    else:
        den <<= -e
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    return q


def _fixed(v, p, dot):
    d = str(_exact_scaled(v, p))
    if len(d) <= p:
        d = "0" * (p + 1 - len(d)) + d
    if p:
        return d[:-p] + "." + d[-p:]
    return d + "." if dot else d


def _sci(v, p, dot):
    """(mantissa digits with the point, exponent) of v rounded to p digits after the point."""
    if v == 0:
        x = 0
        q = 0
    else:
        x = int(math.floor(math.log10(v)))
        while True:
            q = _exact_scaled(v, p - x)
            if q >= 10 ** (p + 1):
                x += 1
            elif q < 10 ** p:
                x -= 1
            else:
                break
    d = str(q)
    if len(d) <= p:
        d = "0" * (p + 1 - len(d)) + d
    m = d[0] + ("." + d[1:] if p else ("." if dot else ""))
    return m, x


def _fmt_float(v, conv, flags, width, prec):
    """C's %f %e %g (and %E %G) for a float, exact on every port."""
    neg = v < 0 or (v == 0 and str(v)[0] == "-")
    a = -v if neg else v
    sign = "-" if neg else ("+" if "+" in flags else (" " if " " in flags else ""))
    alt = "#" in flags
    if a == INF:
        body = "inf"
    else:
        p = 6 if prec is None else prec
        c = conv.lower()
        if c == "f":
            body = _fixed(a, p, alt)
        else:
            if c == "g":
                if p == 0:
                    p = 1
                m, x = _sci(a, p - 1, alt)
                if p > x >= -4:
                    body = _fixed(a, p - 1 - x, alt)
                else:
                    body = m + "e%s%02d" % ("-" if x < 0 else "+", abs(x))
                if not alt and "." in body:
                    k = body.find("e")
                    mant, ex = (body, "") if k < 0 else (body[:k], body[k:])
                    body = mant.rstrip("0").rstrip(".") + ex
            else:
                m, x = _sci(a, p, alt)
                body = m + "e%s%02d" % ("-" if x < 0 else "+", abs(x))
        if conv in "EG":
            body = body.upper()
    if "-" in flags:
        return _pad(sign + body, width, True)
    if "0" in flags and a != INF:
        return sign + _pad(body, width - len(sign), False, True)
    return _pad(sign + body, width, False)


def c_format(it, argv):
    if len(argv) < 2:
        _wrong("format formatString ?arg ...?")
    fmt = argv[1]
    args = argv[2:]
    out = []
    ai = 0
    i = 0
    n = len(fmt)
    xpg = None
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        if i < n and fmt[i] == "%":
            out.append("%")
            i += 1
            continue
        # %n$ positional argument
        k = i
        while k < n and "0" <= fmt[k] <= "9":
            k += 1
        if k > i and k < n and fmt[k] == "$":
            if xpg is False:
                raise TclError('cannot mix "%" and "%n$" conversion specifiers')
            xpg = True
            ai = int(fmt[i:k]) - 1
            if not 0 <= ai < len(args):
                raise TclError('"%n$" argument index out of range')
            i = k + 1
        else:
            if xpg:
                raise TclError('cannot mix "%" and "%n$" conversion specifiers')
            xpg = False
        flags = ""
        while i < n and fmt[i] in "-+ 0#":
            flags += fmt[i]
            i += 1
        width = 0
        if i < n and fmt[i] == "*":
            if ai >= len(args):
                raise TclError("not enough arguments for all format specifiers")
            width = _toint(args[ai])
            if width < 0:
                flags += "-"
                width = -width
            ai += 1
            i += 1
        else:
            k = i
            while i < n and "0" <= fmt[i] <= "9":
                i += 1
            if i > k:
                width = int(fmt[k:i])
        prec = None
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                if ai >= len(args):
                    raise TclError("not enough arguments for all format specifiers")
                prec = _toint(args[ai])
                ai += 1
                i += 1
            else:
                k = i
                while i < n and "0" <= fmt[i] <= "9":
                    i += 1
                prec = int(fmt[k:i]) if i > k else 0
        size = ""
        if fmt.startswith("ll", i):
            size = "ll"
            i += 2
        elif i < n and fmt[i] in "hl":
            size = fmt[i]
            i += 1
        if ai >= len(args):
            raise TclError("not enough arguments for all format specifiers")
        if i >= n:
            raise TclError("format string ended in middle of field specifier")
        conv = fmt[i]
        i += 1
        a = args[ai]
        ai += 1
        if conv == "s":
            s = a if prec is None else a[:prec]
            out.append(_pad(s, width, "-" in flags, "0" in flags and "-" not in flags))
        elif conv in "diouxXb":
            out.append(_fmt_int(_toint(a), conv, flags, width, prec, size))
        elif conv == "c":
            v = _toint(a) & 0x1FFFFF
            out.append(_pad(chr(v) if v <= 0x10FFFF else "\ufffd", width, "-" in flags))
        elif conv in "feEgG":
            v = _tofloat_arg(a)
            if v != v:
                raise TclError("floating point value is Not a Number")
            out.append(_fmt_float(v, conv, flags, width, prec))
        else:
            raise TclError('bad field specifier "%s"' % conv)
    return "".join(out)


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


_BUILTINS = {
    "set": c_set, "unset": c_unset, "puts": c_puts, "incr": c_incr, "append": c_append,
    "if": c_if, "while": c_while, "for": c_for, "foreach": c_foreach, "break": c_break,
    "continue": c_continue, "proc": c_proc, "return": c_return, "expr": c_expr,
    "string": c_string, "list": c_list, "llength": c_llength, "lindex": c_lindex, "lappend": c_lappend,
    "lrange": c_lrange, "lsearch": c_lsearch, "join": c_join, "split": c_split, "concat": c_concat,
    "lreverse": c_lreverse, "linsert": c_linsert, "lreplace": c_lreplace, "lassign": c_lassign,
    "lsort": c_lsort, "catch": c_catch, "error": c_error, "eval": c_eval, "uplevel": c_uplevel,
    "upvar": c_upvar, "global": c_global, "info": c_info, "format": c_format, "after": c_after,
    "rename": c_rename, "subst": c_subst, "array": c_array, "switch": c_switch, "source": c_source,
}
