"""Picol's Python API: eval, errors, output, the extension API (register), limits, and its footprint on
MicroPython (heap per interpreter, .mpy size). Tcl semantics are tested against tclsh in
test_picol_corpus.py and test_picol_props.py."""

import subprocess
import time

import pytest

from hyperion import picol
from hyperion.picol import Interp, TclError, complete, mklist, split_list
from hyperion_host.paths import find_tool, firmware_dir


def test_eval_returns_the_result_and_raises_tcl_errors():
    it = Interp()
    assert it.eval("set a 5; expr {$a * 2}") == "10"
    assert it.eval("") == ""
    with pytest.raises(TclError) as e:
        it.eval("set nope")
    assert str(e.value) == 'can\'t read "nope": no such variable'
    # the interpreter is usable after an error, with its state kept
    assert it.eval("set a") == "5"


def test_puts_writes_to_stdout_and_stderr(capsys):
    Interp().eval('puts hello; puts -nonewline "a b"; puts stderr oops')
    out, err = capsys.readouterr()
    assert out == "hello\na b" and err == "oops\n"


def test_write_can_be_redirected():
    got = []

    class Quiet(Interp):
        def write(self, chan, text):
            got.append((chan, text))

    Quiet().eval("puts x; puts stderr y")
    assert got == [("stdout", "x\n"), ("stderr", "y\n")]


def test_register_a_python_command():
    it = Interp()
    seen = []

    def add(interp, argv):
        seen.append((interp, tuple(argv)))
        return sum(int(a) for a in argv[1:])

    it.register("add", add)
    assert it.eval("add 1 2 [add 3 4]") == "10"
    assert seen[0] == (it, ("add", "3", "4"))
    assert "add" in it.eval("info commands a*").split()
    assert "add" not in Interp().eval("info commands a*").split()  # per interpreter


@pytest.mark.parametrize("value, text", [
    (None, ""), ("s", "s"), (True, "1"), (False, "0"), (42, "42"), (2 ** 70, str(2 ** 70)), (1.0, "1.0"),
    (1e20, "1e+20"), ([1, "a b", [2, 3]], "1 {a b} {2 3}"), ((), ""), (b"raw", "raw"),
])
def test_register_converts_results(value, text):
    it = Interp()
    it.register("f", lambda interp, argv: value)
    assert it.eval("f") == text


def test_register_errors():
    it = Interp()

    def fails(interp, argv):
        raise TclError("custom message")

    def crashes(interp, argv):
        raise OSError(19, "ENODEV")

    it.register("fails", fails)
    it.register("crashes", crashes)
    with pytest.raises(TclError, match="^custom message$"):
        it.eval("fails")
    with pytest.raises(TclError) as e:
        it.eval("crashes")
    assert str(e.value) == "crashes: [Errno 19] ENODEV"
    assert it.eval("catch crashes m; set m") == "crashes: [Errno 19] ENODEV"


def test_registered_commands_can_evaluate_and_see_callers():
    it = Interp()
    it.register("twice", lambda interp, argv: interp.eval(argv[1]) + interp.eval(argv[1]))
    it.register("caller_x", lambda interp, argv: interp.getvar("x"))
    assert it.eval("set n 0; twice {incr n}") == "12"
    assert it.eval("proc p {} { set x local; caller_x }; p") == "local"
    # break and continue pass through a command's nested eval to the enclosing loop
    it.register("maybe_break", lambda interp, argv: interp.eval("if {$i == 3} break"))
    assert it.eval("set r {}; foreach i {1 2 3 4} { maybe_break; lappend r $i }; set r") == "1 2"


def test_register_can_replace_a_builtin_and_rename_works():
    it = Interp()
    it.register("puts", lambda interp, argv: "quiet:" + argv[-1])
    assert it.eval("puts hi") == "quiet:hi"
    it.eval("rename puts say")
    assert it.eval("say there") == "quiet:there"
    with pytest.raises(TclError, match='invalid command name "puts"'):
        it.eval("puts x")


def test_call_and_variables():
    it = Interp()
    assert it.call("list", "a b", 1, 2.5) == "{a b} 1 2.5"
    it.setvar("v", 7)
    it.setvar("arr(k)", "x")
    assert it.eval("list $v $arr(k)") == "7 x"
    assert it.getvar("arr(k)") == "x"
    assert it.exists("v") and not it.exists("w")
    assert it.expr("$v * 6") == "42"


def test_complete():
    assert complete("set a 1") and complete("") and complete("set a {}x")
    for text in ("set a {", "puts [list", 'puts "a', "set a ${b", "set a $b(c", "proc f {} {\n  puts x\n"):
        assert not complete(text), text
    assert complete("proc f {} {\n  puts x\n}\n")
    assert complete("# {")


def test_lists_round_trip():
    items = ["a", "b c", "", "{", "}", '"', "\\", "#x", "a\nb", "$x", "[y]", "x;y"]
    assert split_list(mklist(items)) == items
    assert mklist(["a", "{b c}", ""]) == "a {{b c}} {}"


def test_step_limit_stops_runaway_scripts():
    it = Interp()
    it.limit = 1000
    with pytest.raises(TclError, match="step limit exceeded"):
        it.eval("while 1 { set x 1 }")
    assert it.eval("set y 2") == "2"  # the budget is per top-level eval


def test_recursion_gives_tcls_error():
    it = Interp()
    with pytest.raises(TclError, match=r"^too many nested evaluations \(infinite loop\?\)$"):
        it.eval("proc f {} { f }; f")
    it.maxdepth = 5
    with pytest.raises(TclError, match="too many nested"):
        it.eval("proc g {n} { if {$n} { g [expr {$n - 1}] } }; g 10")
    assert it.eval("g 3") == ""


def test_source_evaluates_a_file(tmp_path):
    f = tmp_path / "lib.tcl"
    f.write_text("proc double {x} { expr {$x * 2} }\nreturn loaded\nputs never\n")
    it = Interp()
    assert it.eval("source %s" % f) == "loaded"
    assert it.eval("double 21") == "42"


def test_after_waits():
    t0 = time.monotonic()
    Interp().eval("after 60")
    assert time.monotonic() - t0 >= 0.055
    with pytest.raises(TclError, match="no event loop"):
        Interp().eval("after 10 {puts x}")


def test_builtin_table_is_shared():
    a, b = Interp(), Interp()
    assert a.cmds is None and b.cmds is None  # no per-interpreter command table until one is needed
    a.eval("proc p {} {}")
    assert b.cmds is None and "p" not in b.commands()


# -- on MicroPython --

def test_picol_on_micropython(micropython):
    r = micropython(
        "from hyperion.picol import Interp, TclError\n"
        "it = Interp()\n"
        "print(it.eval('set l {}; foreach i {1 2 3} { lappend l [expr {$i ** 40}] }; lindex $l end'))\n"
        "print(it.eval('format %5.1f|%x|%s 2.25 255 [list a {b c}]'))\n"
        "print(it.eval('expr {1/3.0}'), it.eval('expr 1e20'))\n"
        "try:\n"
        "    it.eval('expr {1 +}')\n"
        "except TclError as e:\n"
        "    print(repr(str(e)))\n"
    )
    assert r.ok, r
    assert r.stdout.splitlines() == [
        str(3 ** 40), "  2.2|ff|a {b c}", "0.3333333333333333 1e+20",
        repr('missing operand at _@_\nin expression "1 +_@_"'),
    ]


def test_board_commands_on_the_unix_port(micropython):
    r = micropython(
        "from hyperion.picol import Interp, TclError\n"
        "from hyperion.picol import board as tclcmds\n"
        "it = tclcmds.install(Interp())\n"
        "print(it.eval('set t [ticks]; sleep 0.02; expr {[ticks diff [ticks] $t] >= 20}'))\n"
        "print(it.eval('llength [mem]'))\n"
        "print(it.eval('expr {[mem free] > 0 && [mem peak] > 0}'))\n"
        "for c in ('gpio 2 1', 'adc 1', 'pwm 1 1000', 'i2c scan', 'sleep x', 'ticks bogus'):\n"
        "    try:\n"
        "        it.eval(c)\n"
        "    except TclError as e:\n"
        "        print(e)\n"
    )
    assert r.ok, r
    assert r.stdout.splitlines() == [
        "1", "4", "1",
        "gpio: no GPIO on this board (machine.Pin missing)",
        "adc: no ADC on this board (machine.ADC missing)",
        "pwm: no PWM on this board (machine.PWM missing)",
        "i2c: no I2C on this board (machine.I2C missing)",
        'sleep: expected a non-negative number of seconds but got "x"',
        'wrong # args: should be "ticks ?ms|us|cpu? | diff new old"',
    ]


def test_infer_gives_a_clear_error_without_a_model(micropython):
    r = micropython(
        "from hyperion.picol import Interp, TclError\n"
        "from hyperion.picol import board as tclcmds\n"
        "it = tclcmds.install(Interp())\n"
        "for c in ('infer', 'infer nosuchmodel {1 2 x}', 'infer nosuchmodel {1 2 3}'):\n"
        "    try:\n"
        "        it.eval(c)\n"
        "    except TclError as e:\n"
        "        print(e)\n"
    )
    assert r.ok, r
    lines = r.stdout.splitlines()
    assert lines[0] == 'wrong # args: should be "infer model input"'
    assert lines[1] == 'infer: expected a number but got "x"'
    assert lines[2].startswith("infer: ") and "nosuchmodel" in lines[2]


FOOTPRINT = """
import gc
from hyperion.picol import Interp
from hyperion.picol import board as tclcmds
gc.collect()
a = gc.mem_alloc()
its = [Interp() for _ in range(20)]
gc.collect()
b = gc.mem_alloc()
for it in its:
    tclcmds.install(it)
gc.collect()
c = gc.mem_alloc()
print((b - a) // 20, (c - a) // 20)
"""


def test_heap_per_interpreter_is_under_1kb(micropython):
    r = micropython(FOOTPRINT)
    assert r.ok, r
    bare, with_board = map(int, r.stdout.split())
    assert bare <= 1024, bare
    assert with_board <= 2048, with_board


def _picol_sources():
    """The interpreter's modules (the package without its board commands)."""
    return [f for f in sorted((firmware_dir() / "hyperion" / "picol").glob("*.py")) if f.name != "board.py"]


@pytest.mark.parametrize("module", ["picol", "board"])
def test_mpy_size(module, tmp_path):
    size = 0
    for src in _picol_sources() if module == "picol" else [firmware_dir() / "hyperion" / "picol" / "board.py"]:
        out = tmp_path / (src.stem + ".mpy")
        p = subprocess.run([find_tool("mpy-cross"), "-o", str(out), str(src)], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        size += out.stat().st_size
    assert size < (60000 if module == "picol" else 8000)


def test_module_is_self_contained():
    """Picol needs only sys and math: it runs on minimal ports and the host imports it as is."""
    src = "".join(f.read_text() for f in _picol_sources())
    imports = {line.split()[1] for line in src.splitlines() if line.strip().startswith("import ")}
    assert imports <= {"sys", "math", "time"}, imports
    assert picol.Interp.maxdepth == 1000
