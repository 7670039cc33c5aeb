"""Where Hyperion keeps its files: the repository's firmware and boards, and the user's state."""

import os
import shutil
import sys
from pathlib import Path

import hyperion


def firmware_dir():
    """Directory that holds the `hyperion` firmware package (put it on MicroPython's path)."""
    return Path(hyperion.__file__).resolve().parent.parent


def boards_dir():
    """The board files: $HYPERION_BOARDS (a folder of your own boards/*.toml), else the repository's."""
    if os.environ.get("HYPERION_BOARDS"):
        return Path(os.environ["HYPERION_BOARDS"])
    here = Path(__file__).resolve().parent
    for cand in (here / "boards", here.parent.parent / "boards"):
        if cand.is_dir():
            return cand
    raise FileNotFoundError("board files not found next to hyperion_host")


def home():
    """Per-user state (virtual boards, caches): $HYPERION_HOME or ~/.hyperion."""
    return Path(os.environ.get("HYPERION_HOME") or Path.home() / ".hyperion")


def find_tool(name):
    """A console script installed next to this Python (the venv) or on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return shutil.which(name)
