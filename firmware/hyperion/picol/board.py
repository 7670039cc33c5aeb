# The board command set for Picol: gpio, adc, pwm, i2c, sleep, ticks, mem, infer and generate.
#
#   from hyperion.picol import Interp, board
#   it = Interp()
#   board.install(it)
#   it.eval("gpio 25 1; sleep 0.5; gpio 25 0")
#
# Each command gives a Tcl error naming what is missing when the board lacks the hardware module
# (the unix port, and so a vboard, has no machine.Pin). ticks, mem and sleep work everywhere.
import sys

from .errors import TclError
from .values import split_list, tonum

try:
    import machine
except ImportError:  # CPython (the host)
    machine = None


def _hw(cmd, cls, what):
    c = getattr(machine, cls, None)
    if c is None:
        raise TclError("%s: no %s on this board (machine.%s missing)" % (cmd, what, cls))
    return c


def _int(cmd, s, what):
    v = tonum(s)
    if type(v) is not int:
        raise TclError('%s: expected integer %s but got "%s"' % (cmd, what, s))
    return v


def _pin_id(s):
    """A pin number, or a name such as "LED" (some ports name their pins)."""
    v = tonum(s)
    return v if type(v) is int else s


def _usage(cmd, usage):
    raise TclError('wrong # args: should be "%s %s"' % (cmd, usage))


_MODES = {"in": "IN", "out": "OUT", "od": "OPEN_DRAIN"}
_PULLS = {"up": "PULL_UP", "down": "PULL_DOWN"}


def gpio(it, argv):
    """gpio PIN ?0|1?: read a pin, or drive it as an output. gpio mode PIN in|out|od ?up|down?.
    gpio toggle PIN."""
    n = len(argv)
    if n < 2:
        _usage("gpio", "pin ?value? | mode pin in|out|od ?up|down? | toggle pin")
    Pin = _hw("gpio", "Pin", "GPIO")
    if argv[1] == "mode":
        if n not in (4, 5) or argv[3] not in _MODES or (n == 5 and argv[4] not in _PULLS):
            _usage("gpio", "mode pin in|out|od ?up|down?")
        mode = getattr(Pin, _MODES[argv[3]])
        if n == 5:
            Pin(_pin_id(argv[2]), mode, getattr(Pin, _PULLS[argv[4]]))
        else:
            Pin(_pin_id(argv[2]), mode)
        return ""
    if argv[1] == "toggle":
        if n != 3:
            _usage("gpio", "toggle pin")
        p = Pin(_pin_id(argv[2]))
        v = 1 - p.value()
        p.value(v)
        return v
    if n == 2:
        return Pin(_pin_id(argv[1])).value()
    if n == 3:
        v = _int("gpio", argv[2], "value")
        Pin(_pin_id(argv[1]), Pin.OUT).value(1 if v else 0)
        return ""
    _usage("gpio", "pin ?value?")


def adc(it, argv):
    """adc PIN: read an analog input, 0..65535."""
    if len(argv) != 2:
        _usage("adc", "pin")
    ADC = _hw("adc", "ADC", "ADC")
    a = ADC(machine.Pin(_pin_id(argv[1]))) if hasattr(machine, "Pin") else ADC(_pin_id(argv[1]))
    return a.read_u16()


_pwms = {}


def pwm(it, argv):
    """pwm PIN FREQ ?DUTY?: start PWM (duty 0..65535, default half). pwm PIN off: stop it."""
    n = len(argv)
    if n == 3 and argv[2] == "off":
        p = _pwms.pop(argv[1], None)
        if p is not None:
            p.deinit()
        return ""
    if n not in (3, 4):
        _usage("pwm", "pin freq ?duty? | pin off")
    PWM = _hw("pwm", "PWM", "PWM")
    freq = _int("pwm", argv[2], "frequency")
    duty = _int("pwm", argv[3], "duty") if n == 4 else 32768
    if not 0 <= duty <= 65535:
        raise TclError("pwm: duty must be 0..65535, got %d" % duty)
    p = _pwms.get(argv[1])
    if p is None:
        p = _pwms[argv[1]] = PWM(machine.Pin(_pin_id(argv[1])))
    p.freq(freq)
    p.duty_u16(duty)
    return ""


_buses = {}


def i2c(it, argv):
    """i2c ?-bus ID? scan | read ADDR COUNT ?REG? | write ADDR BYTE ?BYTE ...? (bytes as Tcl lists)."""
    args = list(argv[1:])
    bus = 0
    if args[:1] == ["-bus"]:
        if len(args) < 2:
            _usage("i2c", "?-bus id? scan|read|write ...")
        bus = _int("i2c", args[1], "bus")
        args = args[2:]
    if not args or args[0] not in ("scan", "read", "write"):
        _usage("i2c", "?-bus id? scan | read addr count ?reg? | write addr byte ?byte ...?")
    I2C = _hw("i2c", "I2C", "I2C")
    b = _buses.get(bus)
    if b is None:
        b = _buses[bus] = I2C(bus)
    op = args[0]
    if op == "scan":
        return b.scan()
    if len(args) < 3:
        _usage("i2c", "read addr count ?reg? | write addr byte ?byte ...?")
    addr = _int("i2c", args[1], "address")
    if op == "read":
        count = _int("i2c", args[2], "count")
        if len(args) == 4:
            data = b.readfrom_mem(addr, _int("i2c", args[3], "register"), count)
        else:
            data = b.readfrom(addr, count)
        return list(data)
    data = bytes([_int("i2c", x, "byte") & 0xFF for x in args[2:]])
    return b.writeto(addr, data)


def sleep(it, argv):
    """sleep SECONDS: pause (fractions allowed; `after MS` takes milliseconds)."""
    if len(argv) != 2:
        _usage("sleep", "seconds")
    s = tonum(argv[1])
    if s is None or s < 0:
        raise TclError('sleep: expected a non-negative number of seconds but got "%s"' % argv[1])
    import time

    if hasattr(time, "sleep_ms"):
        time.sleep_ms(int(s * 1000))
    else:
        time.sleep(s)
    return ""


def ticks(it, argv):
    """ticks ?ms|us|cpu?: a free-running counter. ticks diff NEW OLD: the difference, wrap-safe."""
    import time

    n = len(argv)
    if n == 4 and argv[1] == "diff":
        a = _int("ticks", argv[2], "tick")
        b = _int("ticks", argv[3], "tick")
        return time.ticks_diff(a, b) if hasattr(time, "ticks_diff") else a - b
    unit = argv[1] if n == 2 else "ms"
    if n > 2 or unit not in ("ms", "us", "cpu"):
        _usage("ticks", "?ms|us|cpu? | diff new old")
    f = getattr(time, "ticks_" + unit, None)
    if f is not None:
        return f()
    scale = 1000000 if unit != "ms" else 1000
    return int(time.monotonic() * scale)


def mem(it, argv):
    """mem: "free N alloc N" (a dict-shaped list). mem free|alloc|peak: one figure. mem collect: gc."""
    import gc

    n = len(argv)
    what = argv[1] if n == 2 else ""
    if n > 2 or what not in ("", "free", "alloc", "peak", "collect"):
        _usage("mem", "?free|alloc|peak|collect?")
    if not hasattr(gc, "mem_free"):
        raise TclError("mem: no heap figures on this interpreter (gc.mem_free missing)")
    if what == "collect":
        gc.collect()
        return gc.mem_free()
    if what == "free":
        return gc.mem_free()
    if what == "alloc":
        return gc.mem_alloc()
    if what == "peak":
        import micropython

        if not hasattr(micropython, "mem_peak"):
            raise TclError("mem: no peak figure on this port (micropython.mem_peak missing)")
        return micropython.mem_peak()
    return ["free", gc.mem_free(), "alloc", gc.mem_alloc()]


_models = {}


def _model(cmd, name):
    """A Hyperion model by name or path, loaded once and kept."""
    m = _models.get(name)
    if m is None:
        hy = sys.modules.get("hyperion")
        if hy is None:
            import hyperion as hy
        load = getattr(hy, "load", None)
        if load is None:
            raise TclError("%s: the Hyperion runtime is not on this board (hyperion.load missing)" % cmd)
        m = _models[name] = load(name)
    return m


def infer(it, argv):
    """infer MODEL INPUT: run a Hyperion model on a list of numbers; returns the output list."""
    if len(argv) != 3:
        _usage("infer", "model input")
    xs = []
    for w in split_list(argv[2]):
        v = tonum(w)
        if v is None:
            raise TclError('infer: expected a number but got "%s"' % w)
        xs.append(v)
    out = _model("infer", argv[1]).run(xs)
    return [float(v) if type(v) is not int else v for v in out]


# generate's options: Tcl name -> (keyword of Model.generate, type)
_GEN_OPTS = {"-max": ("max_tokens", int), "-temperature": ("temperature", float), "-top_k": ("top_k", int),
             "-top_p": ("top_p", float), "-penalty": ("repetition_penalty", float), "-stop": ("stop", str),
             "-seed": ("seed", int)}


def generate(it, argv):
    """generate MODEL PROMPT ?-max N? ?-temperature T? ?-top_k K? ?-top_p P? ?-penalty R? ?-stop S? ?-seed S?:
    the text a language model writes after PROMPT."""
    usage = "model prompt ?-max n? ?-temperature t? ?-top_k k? ?-top_p p? ?-penalty r? ?-stop s? ?-seed n?"
    if len(argv) < 3 or len(argv) % 2 == 0:
        _usage("generate", usage)
    kw = {"max_tokens": 64}
    for i in range(3, len(argv), 2):
        opt = _GEN_OPTS.get(argv[i])
        if opt is None:
            raise TclError('generate: bad option "%s": must be %s' % (argv[i], ", ".join(sorted(_GEN_OPTS))))
        if opt[1] is str:
            kw[opt[0]] = argv[i + 1]
            continue
        v = tonum(argv[i + 1])
        if v is None or (opt[1] is int and type(v) is not int):
            raise TclError('generate: %s expects %s but got "%s"' % (argv[i], "an integer" if opt[1] is int
                                                                        else "a number", argv[i + 1]))
        kw[opt[0]] = opt[1](v)
    m = _model("generate", argv[1])
    try:
        return "".join(m.generate(argv[2], **kw))
    except ValueError as e:
        raise TclError("generate: %s" % e)


COMMANDS = {"gpio": gpio, "adc": adc, "pwm": pwm, "i2c": i2c, "sleep": sleep, "ticks": ticks, "mem": mem,
            "infer": infer, "generate": generate}


def install(interp):
    """Register the board commands in a Picol interpreter."""
    for name, fn in COMMANDS.items():
        interp.register(name, fn)
    return interp
