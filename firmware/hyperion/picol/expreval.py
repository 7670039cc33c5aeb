# Picol's expression evaluator: operators and math functions over the trees exprparse.py builds.
from .errors import TclError
from .values import INF, _chk, _cond, _f, _int, _nstr, _num, _tobool, _tofloat_arg, split_list, tonum

try:
    import math
except ImportError:  # a port built without floating point
    math = None


def _cmpv(a, b):
    """Compare two expr values as Tcl does: numerically if both are numbers, else as strings."""
    x = a if type(a) is not str else tonum(a)
    y = b if type(b) is not str else tonum(b)
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
        # at most 64 Kbit results: a bignum power is slow on a board (2**800000 took over a minute)
        if a not in (0, 1, -1) and (b > 0x7FFFFFFF or b * len("%x" % abs(a)) > 1 << 14):
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
        n = tonum(v)
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
