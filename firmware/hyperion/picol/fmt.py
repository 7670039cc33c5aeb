# Picol's format command: C's printf conversions, exact for floats on every port.
from .errors import TclError
from .expreval import _wrap64
from .interp import _wrong
from .values import INF, _tofloat_arg, _toint

try:
    import math
except ImportError:  # a port built without floating point
    math = None


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
