"""Rich consoles for the CLI: the terminal's width, or a wide fixed width when output goes to a pipe or file
(so tables are not squeezed to 80 columns in logs and scripts)."""

from rich.console import Console


def make_console(stderr=False):
    c = Console(stderr=stderr)
    if not c.is_terminal:
        c = Console(stderr=stderr, width=160)
    return c
