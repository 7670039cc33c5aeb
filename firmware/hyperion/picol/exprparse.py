# Picol's expression compiler: the lexer and the precedence parser that turn an expr string into a
# tree (cached). The evaluator is expreval.py.
from .parser import _CACHE_SIZE, _TSPACE, _Bad, _braces, _mkword, _parse, _PErr, _subst_until, _var
from .values import _boolword, _nstr, _scan_num

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
