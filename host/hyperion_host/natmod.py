"""The C kernels (firmware/native/) built as a MicroPython dynamic native module, `hyperion/kernels/c.mpy`, for
one arch: MicroPython's py/dynruntime.mk and tools/mpy_ld.py from the pinned source (mpbuild.source_dir), the
arch's cross compiler, and libgcc for soft-float where the core has no FPU. Built in a copy of the sources and
cached under the Python environment (.venv/hyperion-builds/), keyed by arch, sources and MicroPython pin.

ESP32/ESP32-S3 (xtensawin) are not here: there is no xtensawin compiler in the Debian/PyPI registries, so those
boards run the viper kernels (boards/esp32*.toml)."""

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hyperion_host import mpbuild
from hyperion_host.errors import HyperionError
from hyperion_host.files import write_atomic
from hyperion_host.paths import firmware_dir

# arch -> its compiler and the Debian packages that provide it (the same as MicroPython's own builds)
ARCHS = {
    "x64": {"gcc": "gcc"},
    "x86": mpbuild.X86_TOOLS,  # the 32-bit unix port (tests, benchmarks)
    "armv6m": mpbuild.ARM_TOOLS,
    "armv7emsp": mpbuild.ARM_TOOLS,
    "rv32imc": mpbuild.RV32_TOOLS,
}
MODULE = "kernels/c.mpy"  # where it goes in the hyperion package


def sources_dir():
    return firmware_dir() / "native"


def sources():
    return sorted(p for p in sources_dir().iterdir() if p.is_file() and p.suffix in (".c", ".h", "") and
                  not p.name.startswith("."))


def missing_tool(arch):
    """'' if arch's compiler is installed, else a one-line instruction to install it."""
    return mpbuild.missing_tools("the C kernels for %s" % arch, ARCHS[arch])


def build(arch, log=None):
    """Path of c.mpy for arch, built if not cached. Raises HyperionError (one line) when it cannot be built."""
    if arch not in ARCHS:
        raise HyperionError("no C kernels for %s: they are built for %s" % (arch, ", ".join(ARCHS)))
    h = hashlib.sha256(repr((arch, str(mpbuild.source_origin()), mpbuild.PIN)).encode())
    for src in sources():
        h.update(src.name.encode() + src.read_bytes())
    out = mpbuild.builds_dir() / ("natmod-%s-%s" % (arch, h.hexdigest()[:12])) / "c.mpy"
    if out.is_file():
        return out
    problem = missing_tool(arch)
    if problem:
        raise HyperionError(problem)
    src = mpbuild.source_dir()
    mpbuild.builds_dir().mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".natmod-%s-" % arch, dir=mpbuild.builds_dir()))
    try:
        for f in sources():
            shutil.copy(f, work / f.name)
        if log:
            log("building the C kernels for %s" % arch)
        cmd = ["make", "-C", str(work), "MPY_DIR=" + str(src), "ARCH=" + arch, "PYTHON=" + sys.executable,
               "BUILD=" + str(work / "build")]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=mpbuild.BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise HyperionError("building the C kernels for %s took over %d s; stopped"
                                % (arch, mpbuild.BUILD_TIMEOUT)) from None
        if p.returncode != 0:
            lines = [x for x in (p.stderr + p.stdout).splitlines() if x.strip()]
            err = ([x for x in lines if "error:" in x] or [x for x in lines if "error" in x.lower()] or lines
                   or ["make exited %d" % p.returncode])
            raise HyperionError("building the C kernels for %s failed: %s" % (arch, err[0].strip()))
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, (work / "c.mpy").read_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def try_build(arch, log=None):
    """(path or None, notice): c.mpy for arch, or why there is none (the board then runs viper kernels)."""
    if arch not in ARCHS:
        why = ("no xtensawin compiler in the package registries" if arch and arch.startswith("xtensa")
               else "no C kernels are built for this arch")
        return None, "%s has no C kernels (%s): it runs the viper kernels" % (arch, why)
    try:
        return build(arch, log), ""
    except HyperionError as e:
        return None, "%s; until then %s boards run the viper kernels" % (e, arch)
