"""Board definitions from boards/*.toml: arch, flash layout, RAM and the heap, checked against a schema.

Two runtimes: `runtime = "micropython"` (the default: A/B deploys over the REPL, .mpy bundles, ROMFS, custom
firmware) and `runtime = "circuitpython"` (source bundles copied to the CIRCUITPY drive: `build --circuitpython`,
`deploy --drive`). `ulab` says whether the board's stock firmware has ulab (MicroPython's official builds do not;
CircuitPython's full builds do), `native_emitter` whether it compiles @micropython.viper code (CircuitPython
does not on these ports). A bad board file is a one-line HyperionError naming the file and the field."""

import re

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from hyperion_host.errors import HyperionError
from hyperion_host.paths import boards_dir

DEFAULT_VBOARD_BOARD = "rp2040"
RUNTIMES = ("micropython", "circuitpython")
# every arch a board can name (sys.implementation._mpy's numbering, as the firmware's kernels.ARCH_NAMES)
ARCHS = ("x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp", "xtensa", "xtensawin",
         "rv32imc", "rv64imc")

# field -> (type, what it is); sizes and addresses are integers >= 0
_STR, _INT, _BOOL = "a string", "an integer >= 0", "true or false"
FIELDS = {
    "name": (_STR, "the board's name (its file name, lower case)"),
    "title": (_STR, "a description"),
    "runtime": (_STR, "micropython or circuitpython"),
    "chip": (_STR, "the chip, as esptool names it"),
    "arch": (_STR, "the CPU's native arch"),
    "mp_port": (_STR, "MicroPython's port"),
    "mp_board": (_STR, "MicroPython's board"),
    "mp_variant": (_STR, "MicroPython's board variant"),
    "cp_board": (_STR, "CircuitPython's board id (circuitpython.org/board/<id>)"),
    "flash_size": (_INT, "bytes of flash"),
    "fs_size": (_INT, "bytes of the filesystem (CircuitPython: the CIRCUITPY drive)"),
    "ram_size": (_INT, "bytes of SRAM"),
    "psram_size": (_INT, "bytes of PSRAM"),
    "firmware_offset": (_INT, "the firmware's flash offset (ESP)"),
    "flash_base": (_INT, "the XIP flash base (RP2)"),
    "uf2_family": (_INT, "the UF2 family ID (RP2)"),
    "clock_hz": (_INT, "the CPU clock"),
    "vboard_heap": (_INT, "bytes of heap free after boot (about what gc.mem_free() shows)"),
    "ulab": (_BOOL, "whether the stock firmware has ulab"),
    "native_emitter": (_BOOL, "whether the firmware compiles viper code"),
}
REQUIRED = ("name", "title", "chip", "arch", "flash_size", "ram_size", "vboard_heap")
REQUIRED_BY_RUNTIME = {"micropython": ("mp_port", "mp_board"), "circuitpython": ("cp_board", "fs_size")}
DEFAULTS = {"micropython": {"ulab": False, "native_emitter": True},
            "circuitpython": {"ulab": True, "native_emitter": False}}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")


def _fail(path, text):
    raise HyperionError("board file %s: %s" % (path, text))


def _check_field(path, key, value):
    kind, what = FIELDS[key]
    if kind == _STR:
        ok = isinstance(value, str) and value.strip() != ""
    elif kind == _INT:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    else:
        ok = isinstance(value, bool)
    if not ok:
        _fail(path, "'%s' (%s) must be %s, not %r" % (key, what, kind, value))


def check_board(b, path):
    """The board dict with its defaults filled in, or HyperionError naming path and the bad field."""
    if not isinstance(b, dict):
        _fail(path, "not a table of fields")
    for key, value in b.items():
        if key in FIELDS:
            _check_field(path, key, value)
    runtime = b.get("runtime", "micropython")
    if runtime not in RUNTIMES:
        _fail(path, "'runtime' must be %s, not %r" % (" or ".join(RUNTIMES), runtime))
    missing = [k for k in REQUIRED + REQUIRED_BY_RUNTIME[runtime] if k not in b]
    if missing:
        _fail(path, "missing %s (a %s board needs %s)" % (", ".join(missing), runtime,
                                                         ", ".join(REQUIRED + REQUIRED_BY_RUNTIME[runtime])))
    if not _NAME.match(b["name"]):
        _fail(path, "'name' must be lower-case letters, digits and _ (up to 40), not %r" % b["name"])
    if b["arch"] not in ARCHS:
        _fail(path, "'arch' must be one of %s, not %r" % (", ".join(ARCHS), b["arch"]))
    aliases = b.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and _NAME.match(a) for a in aliases):
        _fail(path, "'aliases' must be a list of names (lower-case letters, digits and _)")
    for table in ("romfs", "firmware", "emulation"):
        if table in b and not isinstance(b[table], dict):
            _fail(path, "[%s] must be a table" % table)
    rom = b.get("romfs", {})
    if "supported" in rom and not isinstance(rom["supported"], bool):
        _fail(path, "[romfs] supported must be true or false, not %r" % (rom["supported"],))
    for k in ("size", "offset"):
        if k in rom and (not isinstance(rom[k], int) or isinstance(rom[k], bool) or rom[k] < 0):
            _fail(path, "[romfs] %s must be an integer >= 0, not %r" % (k, rom[k]))
    if runtime == "circuitpython":
        if rom.get("supported"):
            _fail(path, "a circuitpython board has no ROMFS: remove [romfs] or set supported = false")
        if b.get("native_emitter"):
            _fail(path, "native_emitter = true on a circuitpython board: CircuitPython compiles no viper code "
                        "on its ports (set it false)")
        if b["fs_size"] == 0:
            _fail(path, "'fs_size' is the CIRCUITPY drive's size: it cannot be 0")
    out = dict(DEFAULTS[runtime], runtime=runtime)
    out.update(b)
    return out


def all_boards():
    """Every board, keyed by name, in name order (each board file checked: a bad one is a HyperionError)."""
    boards = {}
    owner = {}
    d = boards_dir()
    for path in sorted(d.glob("*.toml")):
        where = path.name if d.name == "boards" else str(path)
        try:
            with open(path, "rb") as f:
                raw = tomllib.load(f)
        except OSError as e:
            raise HyperionError("cannot read board file %s: %s" % (where, e.strerror or e)) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise HyperionError("board file %s is not valid TOML: %s" % (where, e)) from None
        b = check_board(raw, where)
        for n in [b["name"]] + list(b.get("aliases", ())):
            if n in owner:
                raise HyperionError("board name or alias '%s' is used by both %s and %s" % (n, owner[n], where))
            owner[n] = where
        boards[b["name"]] = b
    return dict(sorted(boards.items()))


def get_board(name):
    boards = all_boards()
    if name in boards:
        return boards[name]
    for b in boards.values():
        if name in b.get("aliases", ()):
            return b
    raise HyperionError(
        "unknown board '%s'; known boards: %s (see `hyperion-host boards`)"
        % (name, ", ".join(boards))
    )


def boards_of(runtime):
    """Names of the boards that run runtime ('micropython' or 'circuitpython')."""
    return [n for n, b in all_boards().items() if b["runtime"] == runtime]


def parse_size(text, minimum=16 * 1024):
    """'192K', '2M', '65536' or 0x10000 -> bytes (a heap size unless minimum says otherwise)."""
    s = str(text).strip().upper().rstrip("B")
    mult = 1
    if s.endswith("K"):
        mult, s = 1024, s[:-1]
    elif s.endswith("M"):
        mult, s = 1024 * 1024, s[:-1]
    try:
        n = int(float(s) * mult) if "." in s else int(s, 0) * mult
    except ValueError:
        raise HyperionError("bad size '%s'; use bytes or a K/M suffix, e.g. 192K" % text) from None
    if n < minimum:
        raise HyperionError("size %s is too small; at least %dK" % (text, minimum // 1024))
    return n
