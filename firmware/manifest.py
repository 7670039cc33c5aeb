# Frozen-module manifest for custom MicroPython builds:
#   make -C ports/<port> BOARD=<BOARD> FROZEN_MANIFEST=/path/to/hyperion/firmware/manifest.py
# It keeps the port's own frozen modules and adds the hyperion package.
include("$(PORT_DIR)/boards/manifest.py")
package("hyperion")
