# Hyperion frozen into a MicroPython firmware, its C kernels compiled in as the builtin module hyperion_c: the
# package's bytecode and the kernels' machine code stay in flash, so a board keeps its RAM for models
# (docs/runtime.md, "Frozen firmware"). For a make port (paths are relative to this file):
#   make -C ports/<port> BOARD=<BOARD> FROZEN_MANIFEST=/path/to/hyperion/firmware/manifest.py
# `hyperion-host build --firmware-recipe` writes a manifest that includes this one beside the board's own.
package("hyperion", opt=3)
c_module("native")
