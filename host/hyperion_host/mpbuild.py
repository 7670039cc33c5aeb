"""MicroPython built from source: the QEMU firmware of the emulated boards (a Cortex-M0, a RISC-V rv32 and a
Cortex-M7 core) and a 32-bit unix port (a microcontroller's object sizes on the host).

The source is the pinned MicroPython commit, from the first of: $MICROPYTHON_SRC (a source tree or its .tar.gz),
../shared/vendor next to the repository, or a download of the same commit from GitHub. Builds are cached under
the Python environment (.venv/hyperion-builds/), keyed by target, heap and source, so a second run reuses them.
The Debian packages each target needs are named in the error when a tool is missing."""

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from hyperion import ARCH_NAMES
from hyperion_host.errors import HyperionError
from hyperion_host.files import write_atomic
from hyperion_host.paths import firmware_dir

PIN = "1c3c201149"  # MicroPython master, Aug 2026 (v1.29.0-preview-731), .mpy 6.3
TARBALL = "micropython-1.29.0-preview.tar.gz"
DOWNLOAD = "https://github.com/micropython/micropython/archive/%s.tar.gz" % PIN
BUILD_TIMEOUT = 900

# compiler -> the Debian packages that provide it and its C library (natmod builds with the same ones)
ARM_TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi"}
RV32_TOOLS = {"riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"}
X86_TOOLS = {"gcc": "gcc gcc-multilib libc6-dev-i386"}
QEMU_PACKAGES = {"qemu-system-arm": "qemu-system-arm", "qemu-system-riscv32": "qemu-system-misc"}
# target -> how to build it and how QEMU runs it. romfs: (address, size) of the ROMFS partition QEMU loads.
TARGETS = {
    "qemu-armv6m": {
        "title": "Cortex-M0 (armv6m): the qemu port's MICROBIT board (nRF51) with 256 KB SRAM, 2 MB flash",
        "port": "qemu", "board": "MICROBIT", "elf": "build-MICROBIT/firmware.elf", "mpy_arch": 4,
        # the port turns the native emitter off on nRF51; on, native .mpy code loads
        "make": ["CFLAGS_EXTRA=-DMICROPY_EMIT_THUMB=1 -DMICROPY_EMIT_INLINE_THUMB=1",
                 "MICROPY_HW_ROMFS_PART0_START=0x00100000", "MICROPY_HW_ROMFS_PART0_SIZE=0x00080000"],
        # ROMFS in the second MB: QEMU zero-fills the firmware's .bss at its load address in flash, which a
        # frozen firmware's larger code pushes past 512 KB
        "romfs": (0x00100000, 0x00080000),
        # the port's ticks assume a 25 MHz SysTick; QEMU's nRF51 runs it at 16 MHz: 1 "us" is 1562.5 instructions
        "clock": ("systick", 1562.5),
        "qemu": ["qemu-system-arm", "-machine", "microbit", "-global", "nrf51-soc.sram-size=262144",
                 "-global", "nrf51-soc.flash-size=2097152", "-semihosting"],
        "tools": ARM_TOOLS,
    },
    "qemu-rv32": {
        "title": "RISC-V rv32imac: the qemu port's VIRT_RV32 board",
        "port": "qemu", "board": "VIRT_RV32", "elf": "build-VIRT_RV32/firmware.elf", "mpy_arch": 11,
        # Debian's GCC 12 picks the wrong multilib for rv32imac_zicsr: the 2.2 ISA spec names it rv32imac
        "env": {"AFLAGS": "-misa-spec=2.2"}, "make": ["RV32_ARCH=rv32imac", "CFLAGS_EXTRA=-misa-spec=2.2"],
        "romfs": (0x80610000, 0x00400000),
        "clock": ("instret", 1),  # the instret CSR: under -icount, exactly the instructions retired
        # QEMU 7.2 has no zcd/zcmp CPU properties: plain rv32 (the .mpy kernels use no extension)
        "qemu": ["qemu-system-riscv32", "-machine", "virt", "-bios", "none", "-cpu", "rv32", "-semihosting"],
        "tools": RV32_TOOLS,
    },
    "qemu-armv7em": {
        "title": "Cortex-M7 (armv7em with FPU): the qemu port's MPS2_AN500 board",
        "port": "qemu", "board": "MPS2_AN500", "elf": "build-MPS2_AN500/firmware.elf", "mpy_arch": 8,
        "make": [], "romfs": (0x60C00000, 0x00400000), "clock": ("systick", 1000),
        "qemu": ["qemu-system-arm", "-machine", "mps2-an500", "-semihosting"],
        "tools": ARM_TOOLS,
    },
    "unix32": {
        "title": "the unix port built for 32-bit x86 (a microcontroller's word size; viper runs as x86)",
        "port": "unix", "elf": "build-standard/micropython", "mpy_arch": 1,
        "make": ["VARIANT=standard", "CFLAGS_EXTRA=-m32", "LDFLAGS_EXTRA=-m32", "MICROPY_PY_BTREE=0",
                 "MICROPY_PY_FFI=0", "MICROPY_PY_SSL=0", "MICROPY_SSL_MBEDTLS=0", "MICROPY_SSL_AXTLS=0"],
        "tools": X86_TOOLS,
    },
}


def builds_dir():
    return Path(sys.prefix) / "hyperion-builds"


def _vendor_tarball():
    for root in (firmware_dir().parent, Path.cwd()):
        p = root.parent / "shared" / "vendor" / TARBALL
        if p.is_file():
            return p
    return None


def source_origin():
    """Where the MicroPython source comes from: a directory, a .tar.gz, or the download URL."""
    env = os.environ.get("MICROPYTHON_SRC")
    if env:
        p = Path(env).expanduser()
        if not p.exists():
            raise HyperionError("MICROPYTHON_SRC=%s does not exist; point it at a MicroPython source tree or its "
                                ".tar.gz (commit %s)" % (env, PIN))
        return p
    return _vendor_tarball() or DOWNLOAD


def source_dir():
    """A MicroPython source tree (py/, ports/...): $MICROPYTHON_SRC as is, else extracted once into the cache."""
    origin = source_origin()
    if isinstance(origin, Path) and origin.is_dir():
        if not (origin / "py" / "mpconfig.h").is_file():
            raise HyperionError("%s is not a MicroPython source tree (no py/mpconfig.h)" % origin)
        return origin
    key = hashlib.sha256(str(origin).encode()).hexdigest()[:12]
    dest = builds_dir() / ("src-" + key)
    if (dest / "py" / "mpconfig.h").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".src-", dir=dest.parent))
    try:
        tarball = origin
        if origin == DOWNLOAD:
            tarball = tmp / "src.tar.gz"
            try:
                with urllib.request.urlopen(DOWNLOAD, timeout=120) as r, open(tarball, "wb") as f:
                    shutil.copyfileobj(r, f)
            except OSError as e:
                raise HyperionError("no MicroPython source: ../shared/vendor/%s is missing and the download of "
                                    "%s failed (%s); set MICROPYTHON_SRC to a source tree" % (TARBALL, DOWNLOAD, e)
                                    ) from None
        with tarfile.open(tarball) as t:
            t.extractall(tmp / "x", filter="data")
        (top,) = (tmp / "x").iterdir()  # the archive's one top folder
        os.replace(top, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def check_tools(target, build=True):
    """A clear error naming the Debian packages when QEMU (to run target) or, to build it, the compiler is missing."""
    tools = dict(TARGETS[target]["tools"]) if build else {}
    if "qemu" in TARGETS[target]:
        tools[TARGETS[target]["qemu"][0]] = QEMU_PACKAGES[TARGETS[target]["qemu"][0]]
    problem = missing_tools(TARGETS[target]["title"].split(":")[0], tools)
    if problem:
        raise HyperionError(problem)


def missing_tools(what, tools):
    """'' if every tool (name -> Debian packages) is on PATH, else one line: what needs them, and how to install."""
    missing = {t: pkg for t, pkg in tools.items() if not shutil.which(t)}
    if not missing:
        return ""
    return "%s needs %s; install them with: sudo apt-get install %s" % (
        what, " and ".join(missing), " ".join(sorted(set(" ".join(missing.values()).split()))))


def frozen_key():
    """A hash of what a frozen firmware holds: firmware/manifest.py, the hyperion package, the C kernels."""
    h = hashlib.sha256()
    fw = firmware_dir()
    for f in sorted([fw / "manifest.py"] + list((fw / "hyperion").rglob("*.py")) + list((fw / "native").iterdir())):
        if f.is_file():
            h.update(f.relative_to(fw).as_posix().encode() + f.read_bytes())
    return h.hexdigest()[:12]


def build(target, heap=None, log=None, frozen=False):
    """Path of the firmware for target (an .elf for QEMU, a binary for unix32), built if not cached.
    heap: MICROPY_HEAP_SIZE in bytes for QEMU targets (the board the emulation stands in for). frozen: with
    Hyperion frozen in and its C kernels compiled in (firmware/manifest.py)."""
    if target not in TARGETS:
        raise HyperionError("unknown firmware target '%s'; known: %s" % (target, ", ".join(TARGETS)))
    t = TARGETS[target]
    args = list(t["make"]) + ["FROZEN_MANIFEST="]  # the source has no micropython-lib to freeze
    if heap:
        args.append("MICROPY_HEAP_SIZE=%d" % heap)
    key = hashlib.sha256(repr((target, args, str(source_origin()), PIN, frozen and frozen_key())).encode())
    name = target + ("-frozen" if frozen else "")
    out = builds_dir() / ("%s-%s" % (name, key.hexdigest()[:12])) / Path(t["elf"]).name
    check_tools(target, build=not out.is_file())  # QEMU too: firmware that cannot run is of no use here
    if out.is_file():
        return out
    src = source_dir()
    work = Path(tempfile.mkdtemp(prefix=".%s-" % target, dir=builds_dir()))
    try:
        _make(src / "mpy-cross", [], log)
        args += ["BOARD=" + t["board"]] if "board" in t else []
        if frozen:  # no micropython-lib here: the manifest requires nothing from it, but make wants its README
            (work / "mplib").mkdir()
            (work / "mplib" / "README.md").write_text("")
            args[args.index("FROZEN_MANIFEST=")] = "FROZEN_MANIFEST=" + str(firmware_dir() / "manifest.py")
            args += ["MPY_LIB_DIR=" + str(work / "mplib"), "MPY_CROSS_FLAGS=-march=" + ARCH_NAMES[t["mpy_arch"]]]
        _make(src / "ports" / t["port"], args + ["BUILD=" + str(work / "build")], log, t.get("env"))
        built = work / "build" / Path(t["elf"]).name
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, built.read_bytes())
        out.chmod(0o755)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _make(directory, args, log, env=None):
    cmd = ["make", "-C", str(directory), "-j%d" % max(1, os.cpu_count() or 1)] + args
    if log:
        log("building %s" % " ".join(cmd[1:3] + [a for a in args if a.startswith("BOARD=")]))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                           env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        raise HyperionError("building %s took over %d s; stopped" % (directory, BUILD_TIMEOUT)) from None
    if p.returncode != 0:
        lines = [x for x in (p.stderr or p.stdout).splitlines() if x.strip()]
        raise HyperionError("building %s failed: %s" % (directory, lines[-1] if lines else "make exited %d"
                                                        % p.returncode))
