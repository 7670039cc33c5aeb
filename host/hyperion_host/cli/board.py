"""Board commands: `boards`, `vboard`, `devices`, `exec`, `run`, `repl` and `doctor` (files: cli/files.py)."""

import json
import subprocess
import sys
from pathlib import Path

import typer
from rich.table import Table

from hyperion_host.cli.app import NoResetOpt, PortOpt, app, err, notice, out
from hyperion_host.errors import HyperionError

vboard_app = typer.Typer(help="Virtual boards: real MicroPython on a pseudo-terminal.", no_args_is_help=True)
app.add_typer(vboard_app, name="vboard")


@app.command("boards")
def boards_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List the supported boards."""
    from hyperion_host.boards import all_boards

    boards = all_boards()
    if as_json:
        print(json.dumps(boards, indent=2))
        return
    t = Table("board", "description", "runtime", "arch", "flash", "filesystem", "ROMFS", "heap free after boot")
    for b in boards.values():
        flash = "%d MB" % (b["flash_size"] // 2**20) if b.get("flash_size") else "-"
        fs = "%d KB" % (b["fs_size"] // 1024) if b.get("fs_size") else "-"
        rom = "%d KB" % (b["romfs"]["size"] // 1024) if b.get("romfs", {}).get("size") else "-"
        t.add_row(b["name"], b["title"], "CircuitPython" if b["runtime"] == "circuitpython" else "MicroPython",
                  b["arch"], flash, fs, rom, "%d KB" % (b["vboard_heap"] // 1024))
    out.print(t)


# -- virtual boards ------------------------------------------------------------------------------

@vboard_app.command("start")
def vboard_start(
    name: str = typer.Option("vb0", "--name", "-n", help="Name of the vboard."),
    board: str | None = typer.Option(None, "--board", "-b", help="Board to mirror (heap size); default rp2040."),
    heap: str | None = typer.Option(None, "--heap", help="Heap size, e.g. 192K (overrides the board's)."),
    emulate: bool = typer.Option(False, "--emulate", help="Run the board's own core in QEMU (its instruction set "
                                 "and heap) instead of the x64 unix port."),
    romfs: Path | None = typer.Option(None, "--romfs", help="With --emulate: a ROMFS image to mount at /rom "
                                      "(from `build --romfs`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (name, port, board, heaps) instead of the port."),
):
    """Start a virtual board in the background. The last line of output is its device path."""
    from hyperion_host.device.vboard import manager

    vb = manager.start(name, board=board, heap=heap, notice=notice, emulate=emulate,
                       romfs=str(romfs) if romfs else None, log=notice)
    cfg = vb.config()
    if cfg.get("emulated"):
        err.print("vboard '%s' (%s emulated by %s, heap %d KB) is running; %s"
                  % (name, cfg["board"], cfg["emulated"], cfg["heap"] // 1024,
                     "ROMFS %s at /rom" % cfg["romfs"] if cfg.get("romfs") else "no filesystem (give --romfs)"),
                  highlight=False)
    else:
        x64 = cfg.get("interpreter_heap", cfg["heap"])
        err.print("vboard '%s' (%s, heap %d KB%s) is running; filesystem in %s"
                  % (name, cfg["board"], cfg["heap"] // 1024, ", %d KB for x64's 64-bit objects" % (x64 // 1024)
                     if x64 != cfg["heap"] else "", vb.fs_dir), highlight=False)
    if as_json:
        print(json.dumps(dict(cfg, port=vb.port, name=name)))
        return
    print(vb.port)


@vboard_app.command("stop")
def vboard_stop(
    name: str | None = typer.Option(None, "--name", "-n", help="Name of the vboard (default: vb0)."),
    all_: bool = typer.Option(False, "--all", help="Stop every running vboard."),
    erase: bool = typer.Option(False, "--erase", help="Also delete the vboard's filesystem."),
):
    """Stop a virtual board (its filesystem is kept unless --erase)."""
    from hyperion_host.device.vboard import manager

    names = [vb.name for vb in manager.running()] if all_ else [name or "vb0"]
    for n in names:
        was = manager.stop(n, erase=erase)
        if was == "stale":
            notice("vboard '%s' was not running; removed its stale state" % n)
        elif was == "running":
            out.print("stopped vboard '%s'" % n)


@vboard_app.command("list")
def vboard_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List running virtual boards."""
    from hyperion_host.device.vboard import manager

    rows = []
    for vb in manager.running():
        cfg, info = vb.config(), vb.run_info() or {}
        rows.append({"name": vb.name, "port": info.get("port"), "board": cfg.get("board"),
                     "heap": cfg.get("heap"), "pid": info.get("pid"), "emulated": cfg.get("emulated"),
                     "fs": ("ROMFS " + cfg["romfs"] if cfg.get("romfs") else "-") if cfg.get("emulated") else str(vb.fs_dir)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print("no vboards running; start one with `hyperion-host vboard start`")
        return
    t = Table("name", "port", "board", "heap", "filesystem")
    for r in rows:
        t.add_row(r["name"], r["port"], r["board"] + (" (%s)" % r["emulated"] if r["emulated"] else ""),
                  "%d KB" % (r["heap"] // 1024), r["fs"])
    out.print(t)


@vboard_app.command("port")
def vboard_port(name: str = typer.Argument("vb0", help="Name of a running vboard.")):
    """Print a running vboard's device path, for tools that take one: `mpremote connect $(hyperion-host vboard
    port vb0) repl`."""
    from hyperion_host.device.vboard import manager

    vb = manager.find(name)
    if vb is None:
        running = ", ".join(v.name for v in manager.running()) or "none"
        raise HyperionError("no vboard named '%s' is running (running: %s)" % (name, running))
    print(vb.port)


# -- devices -------------------------------------------------------------------------------------

@app.command()
def devices(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    identify: bool = typer.Option(True, "--identify/--no-identify", help="Ask each board for sys.implementation."),
):
    """List serial ports (USB VID:PID) and running vboards, identifying the MicroPython on each."""
    from hyperion_host.device.transport import all_ports, identify_port

    ports = all_ports()
    for p in ports:
        if identify:
            p.update(identify_port(p["port"]))
    if as_json:
        print(json.dumps(ports, indent=2))
        return
    if not ports:
        out.print("no devices found; connect a board or start one with `hyperion-host vboard start`")
        return
    t = Table("port", "kind", "vid:pid", "description", "micropython", "arch", "machine")
    for p in ports:
        mp = p.get("error") or "%s %s" % (p.get("implementation", "?"), p.get("version", ""))
        t.add_row(p["port"], p["kind"], p["vid_pid"], p["description"], mp, p.get("arch") or "",
                  p.get("machine", ""))
    out.print(t)


def _stream(data):
    sys.stdout.buffer.write(data.replace(b"\x04", b""))
    sys.stdout.buffer.flush()


def _run_on_board(port, code, no_reset):
    from hyperion_host.device.transport import Board, BoardExecError, resolve_port

    with Board(resolve_port(port), soft_reset=not no_reset) as b:
        try:
            b.exec(code, stream=_stream)
        except BoardExecError as e:
            sys.stderr.write(e.traceback)
            raise typer.Exit(1) from None


@app.command("exec")
def exec_cmd(code: str = typer.Argument(..., help="Python code to run on the board ('-': read it from stdin)."),
             port: str | None = PortOpt, no_reset: bool = NoResetOpt):
    """Run Python code on the board, streaming its output."""
    _run_on_board(port, sys.stdin.read() if code == "-" else code, no_reset)


@app.command("run")
def run_cmd(file: Path = typer.Argument(..., help="A .py file to run on the board (not copied)."),
            port: str | None = PortOpt, no_reset: bool = NoResetOpt):
    """Run a local Python file on the board, streaming its output."""
    try:
        code = file.read_text()
    except OSError as e:
        raise HyperionError("cannot read %s: %s" % (file, e.strerror)) from None
    _run_on_board(port, code, no_reset)


@app.command()
def repl(port: str | None = PortOpt):
    """Open the board's interactive Python REPL (mpremote's terminal; Ctrl-] exits)."""
    from hyperion_host.device.transport import resolve_port

    dev = resolve_port(port)
    if not _has_hyperion(dev):
        notice("Hyperion's firmware is not on this board yet, so `import hyperion` fails there: `hyperion-host "
               "deploy --port %s` installs it (as do `infer --port` and `script run`)" % (port or dev))
    raise typer.Exit(subprocess.call([sys.executable, "-m", "mpremote", "connect", dev, "repl"]))


def _has_hyperion(dev):
    """Whether `import hyperion` finds the package after a soft reset (True when the board cannot say)."""
    from hyperion_host.device.transport import Board

    try:
        with Board(dev) as b:
            return b.exec("try:\n import hyperion\n print(1)\nexcept ImportError:\n print(0)",
                          timeout=30).strip() != b"0"
    except HyperionError:
        return True  # mpremote's own terminal says what is wrong with the port


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Check micropython, mpy-cross, mpremote, esptool, serial access and Debian tools."""
    from hyperion_host.device.doctor import run_checks

    checks = run_checks()
    if as_json:
        print(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        t = Table("check", "status", "detail", "fix")
        for c in checks:
            status = "[green]ok[/]" if c.ok else ("[red]missing[/]" if c.required else "[yellow]optional[/]")
            t.add_row(c.name, status, c.detail, c.fix)
        out.print(t)
    bad = [c for c in checks if c.required and not c.ok]
    if bad:
        raise HyperionError("%d required check(s) failed: %s" % (len(bad), ", ".join(c.name for c in bad)))
