"""Type checks for values read from files and requests (JSON and TOML give bools where numbers are wanted)."""

import math


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    """An int or a finite float, not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
