"""MicroPython built from source: the QEMU firmware of the emulated boards (a Cortex-M0, a RISC-V rv32 and a
Cortex-M7 core), a 32-bit unix port (a microcontroller's object sizes on the host), and two x64 unix ports with
ulab built in and single-precision floats, as on a microcontroller: `unix-ulab` (MicroPython with ulab) and
`unix-cpy` (configured like CircuitPython: no native code emitter, no `machine` module), linked as
micropython-ulab and micropython-cpy next to the Python environment's other commands (ulab_interpreter).

The source is the pinned MicroPython commit, from the first of: $MICROPYTHON_SRC (a source tree or its .tar.gz),
../shared/vendor next to the repository, or a download of the same commit from GitHub; ulab's likewise from
$ULAB_SRC (a folder holding its code/, or its .tar.gz), ../shared/vendor, or a download of the pinned tag. Builds
are cached under the Python environment (.venv/hyperion-builds/), keyed by target, heap and sources, so a second
run reuses them. The Debian packages each target needs are named in the error when a tool is missing."""

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
ULAB_PIN = "d161443327"  # ulab tag 6.12
ULAB_TARBALL = "micropython-ulab-6.12.tar.gz"
ULAB_DOWNLOAD = "https://github.com/v923z/micropython-ulab/archive/refs/tags/6.12.tar.gz"

# compiler -> the Debian packages that provide it and its C library (natmod builds with the same ones)
ARM_TOOLS = {"arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi"}
RV32_TOOLS = {"riscv64-unknown-elf-gcc": "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"}
X86_TOOLS = {"gcc": "gcc gcc-multilib libc6-dev-i386"}
GCC_TOOLS = {"gcc": "gcc libc6-dev"}
# the x64 unix port with ulab (a user C module) and the float32 floats of a microcontroller: ulab's float dtype is
# float32 only then, as the firmware's array('f') buffers are
UNIX_ULAB_MAKE = ["MICROPY_PY_BTREE=0", "MICROPY_PY_FFI=0", "MICROPY_PY_SSL=0", "MICROPY_SSL_MBEDTLS=0"]
FLOAT32 = "-DMICROPY_FLOAT_IMPL=MICROPY_FLOAT_IMPL_FLOAT"
# CircuitPython's configuration where the unix port has a switch for it: no native emitter (no viper, no native
# .mpy code: sys.implementation._mpy carries no arch) and no machine module. The emitter has a CFLAGS switch
# (mpconfigport.h); the machine module is set by the variant's header, so this variant (VARIANT_DIR, written into
# the build folder) is the standard one with it turned off.
CPY_VARIANT = """#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)
#include "variants/mpconfigvariant_common.h"
#undef MICROPY_PY_MACHINE
#define MICROPY_PY_MACHINE (0)
#undef MICROPY_PY_MACHINE_PULSE
#define MICROPY_PY_MACHINE_PULSE (0)
#undef MICROPY_PY_MACHINE_PIN_BASE
#define MICROPY_PY_MACHINE_PIN_BASE (0)
"""
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
    "unix-ulab": {
        "title": "the x64 unix port with ulab and float32 floats (MicroPython with ulab, as on a microcontroller)",
        "port": "unix", "elf": "build-standard/micropython", "mpy_arch": 2, "ulab": True, "bin": "micropython-ulab",
        "make": ["VARIANT=standard"] + UNIX_ULAB_MAKE + ["CFLAGS_EXTRA=" + FLOAT32], "tools": GCC_TOOLS,
    },
    "unix-cpy": {
        "title": "the x64 unix port configured like CircuitPython: ulab and float32 floats, no native code emitter "
                 "(viper), no machine module",
        "port": "unix", "elf": "build-cpy/micropython", "mpy_arch": 0, "ulab": True, "bin": "micropython-cpy",
        "variant": ("cpy", CPY_VARIANT), "make": UNIX_ULAB_MAKE + ["CFLAGS_EXTRA=%s -DMICROPY_EMIT_X64=0" % FLOAT32],
        "tools": GCC_TOOLS,
    },
    "unix32-cpy": {
        "title": "the unix port configured like CircuitPython as unix-cpy, built for 32-bit x86: a microcontroller's "
                 "object sizes, for the CircuitPython profile's heap figures",
        "port": "unix", "elf": "build-cpy/micropython", "mpy_arch": 0, "ulab": True, "bin": "micropython32-cpy",
        "variant": ("cpy", CPY_VARIANT),
        "make": UNIX_ULAB_MAKE + ["MICROPY_SSL_AXTLS=0", "LDFLAGS_EXTRA=-m32",
                                  "CFLAGS_EXTRA=-m32 %s -DMICROPY_EMIT_X86=0" % FLOAT32],
        "tools": X86_TOOLS,
    },
}
# `--on` names of the local interpreters built here -> their target
INTERPRETERS = {TARGETS[t]["bin"]: t for t in TARGETS if "bin" in TARGETS[t]}


def builds_dir():
    return Path(sys.prefix) / "hyperion-builds"


def _vendor_tarball(name=TARBALL):
    for root in (firmware_dir().parent, Path.cwd()):
        p = root.parent / "shared" / "vendor" / name
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
    return _extracted(origin, "src-", Path("py") / "mpconfig.h", DOWNLOAD,
                      "no MicroPython source: ../shared/vendor/%s is missing and the download of %s failed (%%s); "
                      "set MICROPYTHON_SRC to a source tree" % (TARBALL, DOWNLOAD))


def ulab_origin():
    """Where ulab's source comes from: a directory (holding code/), a .tar.gz, or the download URL."""
    env = os.environ.get("ULAB_SRC")
    if env:
        p = Path(env).expanduser()
        if not p.exists():
            raise HyperionError("ULAB_SRC=%s does not exist; point it at ulab's source (a folder holding code/) or "
                                "its .tar.gz (tag 6.12, commit %s)" % (env, ULAB_PIN))
        return p
    return _vendor_tarball(ULAB_TARBALL) or ULAB_DOWNLOAD


def ulab_dir():
    """ulab's source, the folder that holds code/ (what USER_C_MODULES names): $ULAB_SRC as is, else extracted
    once into the cache."""
    origin = ulab_origin()
    if isinstance(origin, Path) and origin.is_dir():
        if origin.name == "code" and (origin / "micropython.mk").is_file():
            origin = origin.parent
        if not (origin / "code" / "micropython.mk").is_file():
            raise HyperionError("ULAB_SRC=%s is not ulab's source (no code/micropython.mk)" % origin)
        return origin
    return _extracted(origin, "ulab-", Path("code") / "micropython.mk", ULAB_DOWNLOAD,
                      "no ulab source: ../shared/vendor/%s is missing and the download of %s failed (%%s); set "
                      "ULAB_SRC to ulab's source (a folder holding code/)" % (ULAB_TARBALL, ULAB_DOWNLOAD))


def _extracted(origin, prefix, marker, download, failed):
    """A .tar.gz (or the download URL) extracted once into the cache: the archive's one top folder, holding
    marker. failed: the error when the download fails (%s: why)."""
    key = hashlib.sha256(str(origin).encode()).hexdigest()[:12]
    dest = builds_dir() / (prefix + key)
    if (dest / marker).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="." + prefix, dir=dest.parent))
    try:
        tarball = origin
        if origin == download:
            tarball = tmp / "src.tar.gz"
            try:
                with urllib.request.urlopen(download, timeout=120) as r, open(tarball, "wb") as f:
                    shutil.copyfileobj(r, f)
            except OSError as e:
                raise HyperionError(failed % e) from None
        try:
            with tarfile.open(tarball) as t:
                t.extractall(tmp / "x", filter="data")
            (top,) = (tmp / "x").iterdir()  # the archive's one top folder
        except tarfile.ReadError:
            raise HyperionError("%s is not a .tar.gz archive" % origin) from None
        except (OSError, tarfile.TarError, ValueError) as e:  # ValueError: not one top folder
            raise HyperionError("cannot extract %s: %s" % (origin, str(e).splitlines()[0] if str(e) else
                                                           type(e).__name__)) from None
        if not (top / marker).is_file():
            raise HyperionError("%s holds no %s" % (origin, marker.as_posix()))
        if not (dest / marker).is_file():  # another process may have extracted it meanwhile
            shutil.rmtree(dest, ignore_errors=True)
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


def build(target, heap=None, log=None, frozen=False, ulab=False):
    """Path of the firmware for target (an .elf for QEMU, a binary for the unix ports), built if not cached.
    heap: MICROPY_HEAP_SIZE in bytes for QEMU targets (the board the emulation stands in for). frozen: with
    Hyperion frozen in and its C kernels compiled in (firmware/manifest.py). ulab: a QEMU firmware with ulab
    built in (the unix targets say themselves). A target with a command name (unix-ulab, unix-cpy) is also
    linked as that command in the environment's bin folder (interpreter())."""
    if target not in TARGETS:
        raise HyperionError("unknown firmware target '%s'; known: %s" % (target, ", ".join(TARGETS)))
    t = TARGETS[target]
    if ulab and t["port"] == "qemu":
        t = dict(t, ulab=True)
    args = list(t["make"]) + ["FROZEN_MANIFEST="]  # the source has no micropython-lib to freeze
    if heap:
        args.append("MICROPY_HEAP_SIZE=%d" % heap)
    ident = (target, args, str(source_origin()), PIN, frozen and frozen_key())
    if t.get("ulab"):
        ident += (str(ulab_origin()), ULAB_PIN, t.get("variant"))
    key = hashlib.sha256(repr(ident).encode())
    name = target + ("-frozen" if frozen else "") + ("-ulab" if ulab and t["port"] == "qemu" else "")
    out = builds_dir() / ("%s-%s" % (name, key.hexdigest()[:12])) / Path(t["elf"]).name
    check_tools(target, build=not out.is_file())  # QEMU too: firmware that cannot run is of no use here
    if out.is_file():
        if "bin" in t:
            _link(out, t["bin"])
        return out
    src = source_dir()
    builds_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".%s-" % target, dir=builds_dir()))
    try:
        _make(src / "mpy-cross", [], log)
        args += ["BOARD=" + t["board"]] if "board" in t else []
        if t.get("ulab"):
            args.append("USER_C_MODULES=" + str(ulab_dir()))
        if "variant" in t:  # the folder's name is the variant's: sys.implementation._build
            variant = work / t["variant"][0]
            variant.mkdir()
            (variant / "mpconfigvariant.h").write_text(t["variant"][1])
            (variant / "mpconfigvariant.mk").write_text("")
            args.append("VARIANT_DIR=" + str(variant))
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
    if "bin" in t:
        _link(out, t["bin"])
    return out


def bin_dir():
    """The Python environment's command folder (.venv/bin), where the built interpreters are linked."""
    return Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")


def _link(out, name):
    """bin_dir()/name -> out, a relative symbolic link (the environment can move), replaced atomically: a
    command that runs it meanwhile gets the old build or the new one, never none."""
    link = bin_dir() / name
    rel = os.path.relpath(out, link.parent)
    try:
        if os.readlink(link) == rel:
            return
    except OSError:
        pass
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(".%s.%d.tmp" % (name, os.getpid()))
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(rel)
        os.replace(tmp, link)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise HyperionError("cannot link %s to %s: %s" % (link, out, e.strerror or e)) from None


def interpreter(name, log=None):
    """The command of a local interpreter built here, by its `--on` name (micropython-ulab: MicroPython with
    ulab; micropython-cpy: configured like CircuitPython), built and linked if not yet: bin_dir()/name."""
    if name not in INTERPRETERS:
        raise HyperionError("unknown interpreter '%s'; known: %s" % (name, ", ".join(INTERPRETERS)))
    build(INTERPRETERS[name], log=log)
    return bin_dir() / name


def ulab_interpreter(kind="ulab", log=None):
    """interpreter('micropython-' + kind): kind 'ulab' (MicroPython with ulab) or 'cpy' (like CircuitPython)."""
    return interpreter("micropython-" + kind, log)


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
