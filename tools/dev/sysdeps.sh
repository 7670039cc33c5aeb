#!/bin/sh
# Install the Debian tools Hyperion's tests use, if missing: tclsh (Tcl oracle), socat (pty plumbing), and what
# builds and runs the emulated boards and the 32-bit unix port (QEMU, the ARM and RISC-V cross compilers with
# their C libraries, gcc-multilib), bubblewrap (the vboards' sandbox), Chromium (the web UI's tests drive it) and
# Node.js with npm (`make web` fetches MicroPython's WebAssembly port). As root it runs apt-get; otherwise it
# prints the command to run.
missing=""
need() {  # need COMMAND PACKAGES...: the packages, if COMMAND is missing or a package is not installed
    cmd=$1; shift
    if ! command -v "$cmd" >/dev/null 2>&1; then
        missing="$missing $*"
        return
    fi
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
}
need tclsh tcl8.6
need socat socat
need qemu-system-arm qemu-system-arm
need qemu-system-riscv32 qemu-system-misc
need arm-none-eabi-gcc gcc-arm-none-eabi libnewlib-arm-none-eabi
need riscv64-unknown-elf-gcc gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
need gcc gcc-multilib libc6-dev-i386
need bwrap bubblewrap
need chromium chromium
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"  # any Node.js with npm will do, not only Debian's
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "note: missing Debian packages:$missing; install them with: sudo apt-get install$missing" >&2
fi
