"""Hyperion host toolchain: quantize, build, flash, deploy and script MicroPython boards."""

from hyperion import __version__

__all__ = ["__version__"]
