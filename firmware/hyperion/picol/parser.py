# Picol's script parser: a script compiles to a list of commands (cached); backslash substitution;
# `complete` (Tcl's info complete).


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


MAX_BRACES = 1000  # brace nesting (MicroPython indexes a str in O(n): deep nesting in a long script is slow)


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
            if level > MAX_BRACES:
                raise _PErr("braces nested more than %d deep" % MAX_BRACES, i, 0)
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
