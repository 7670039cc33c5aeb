# Picol's interpreter core: Interp (evaluation, variables, call frames), Proc, and the helpers
# commands use for their argument errors and ensembles. The builtin commands are in the command
# modules (control, io, info, strings, fmt, lists); the package's __init__ fills _BUILTINS from them.
import sys

from .errors import TclError, _Break, _Code, _complete, _Continue, _py_error, _Return
from .expreval import _ev
from .exprparse import _ecompile
from .parser import _Bad, _compile
from .values import _cond, _nstr, _tstr, mklist, split_list, tonum

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython (the host imports Picol too)
    from time import monotonic as _mono

    def ticks_ms():
        return int(_mono() * 1000)

    def ticks_diff(a, b):
        return a - b

CHECK = 1000  # commands between looks at the clock (and at the step budget)

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
_BUILTINS = {}  # the builtin commands, shared by every Interp: the package's __init__ fills it


class Interp:
    """A Tcl interpreter. Per-interpreter state is small: the variable frames, procs and registered
    commands (created on first use); the builtin command table is shared by every interpreter."""

    maxdepth = 1000  # nested evaluations (procs, eval, uplevel) before "too many nested evaluations"
    limit = 0  # if > 0: at most this many commands per top-level eval (for untrusted or random scripts)
    timeout = 0  # if > 0: seconds a top-level eval may take ("time limit exceeded" after)

    def __init__(self):
        self.frames = [{}]
        self.cmds = None
        self.depth = 0
        self.steps = CHECK
        self.left = -1
        self.t0 = 0

    # -- public API --
    def eval(self, script):
        """Evaluate a script; returns its result. Raises TclError with Tcl's message on error."""
        if self.depth:
            return self._evals(script)
        self.depth = 1
        self.left = self.limit if self.limit > 0 else -1  # the step budget: -1 is none
        self.t0 = ticks_ms()
        self._grant()
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
        except (MemoryError, OverflowError) as e:
            raise TclError(_py_error(e)) from None
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
        self.steps -= 1  # a script (a loop's body) is a step too, so an empty loop still meets the limits
        if self.steps < 0:
            self._tick()
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
            self.steps -= 1
            if self.steps < 0:
                self._tick()
            r = fn(self, argv)
        return r

    def _grant(self):
        """The steps to the next _tick: CHECK, or what is left of the budget."""
        n = CHECK if self.left < 0 or self.left > CHECK else self.left
        if self.left >= 0:
            self.left -= n
        self.steps = n

    def _tick(self):
        """The granted steps are used: stop at the step budget or the time limit, else grant more."""
        if self.left == 0:
            raise TclError("step limit exceeded")
        if self.timeout and ticks_diff(ticks_ms(), self.t0) > self.timeout * 1000:
            raise TclError("time limit exceeded (%s s)" % self.timeout)
        self._grant()
        self.steps -= 1

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
            n = tonum(v)
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
        v = tonum(s)
        if type(v) is int and v >= 0:
            lv = cur - v
        elif s[:1] == "#":
            v = tonum(s[1:])
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


# -- for the commands: argument errors, option and subcommand lookup -------------------------------

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
