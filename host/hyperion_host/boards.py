"""Board definitions from boards/*.toml: arch, flash layout, RAM and the vboard heap."""

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from hyperion_host.errors import HyperionError
from hyperion_host.paths import boards_dir

DEFAULT_VBOARD_BOARD = "rp2040"


def all_boards():
    """Every board, keyed by name, in name order."""
    boards = {}
    for path in sorted(boards_dir().glob("*.toml")):
        with open(path, "rb") as f:
            b = tomllib.load(f)
        boards[b["name"]] = b
    return boards


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
