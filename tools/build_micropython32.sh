#!/bin/sh
# Build a 32-bit MicroPython unix port: its objects have a microcontroller's word size, so heap figures measured
# on it (tools/bench/device.py, HYPERION_MICROPYTHON32=...) are what a board needs. Viper works on it (x86).
#
#   tar xzf ../shared/vendor/micropython-1.29.0-preview.tar.gz -C /tmp   (or a clone of micropython at 1c3c201149)
#   sudo apt-get install gcc-multilib libc6-dev-i386
#   tools/build_micropython32.sh /tmp/micropython-1.29.0-preview   # writes .../ports/unix/build-standard/micropython
set -e
src=${1:?usage: tools/build_micropython32.sh MICROPYTHON_SOURCE_DIR}
make -C "$src/mpy-cross"
make -C "$src/ports/unix" -j2 VARIANT=standard FROZEN_MANIFEST= CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32 \
    MICROPY_PY_BTREE=0 MICROPY_PY_FFI=0 MICROPY_PY_SSL=0 MICROPY_SSL_MBEDTLS=0 MICROPY_SSL_AXTLS=0
bin="$src/ports/unix/build-standard/micropython"
"$bin" -c "import sys; assert sys.maxsize == 2**31 - 1, 'not a 32-bit build'; print(sys.implementation)"
echo "built $bin: export HYPERION_MICROPYTHON32=$bin"
