"""Board file commands, as mpremote's: `cp`, `ls`, `mkdir`, `rm`, `cat` and `df` (board paths start with ':')."""

import sys
from pathlib import Path

import typer

from hyperion_host.cli.app import PortOpt, app, out
from hyperion_host.errors import HyperionError


def _board(port):
    from hyperion_host.device.transport import Board, resolve_port

    return Board(resolve_port(port), soft_reset=False)


def _on_board(b, code, what):
    """Run code on the board; its exception is one line naming what failed."""
    from hyperion_host.device.transport import BoardExecError

    try:
        return b.exec(code, timeout=60).decode()
    except BoardExecError as e:
        raise HyperionError("cannot %s on the board: %s" % (what, e.format_message())) from None


def _path(p):
    return p[1:] if p.startswith(":") else p


@app.command("cp")
def cp_cmd(src: str = typer.Argument(..., help="Source; prefix board paths with ':'."),
           dst: str = typer.Argument(..., help="Destination; prefix board paths with ':'."),
           port: str | None = PortOpt):
    """Copy a file to or from the board (`cp model.hyq :models/` makes :models if needed, or `cp :log.txt .`)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from hyperion_host.cli.app import err
    from hyperion_host.device.transport import copy_from_board, copy_to_board

    if src.startswith(":") == dst.startswith(":"):
        raise HyperionError("exactly one of SRC and DST must be a board path starting with ':'")
    with _board(port) as b:
        if dst.startswith(":"):
            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), console=err, transient=True) as bar:
                task = bar.add_task(Path(src).name, total=None)
                remote, size = copy_to_board(b, Path(src), dst[1:],
                                             progress=lambda done, total: bar.update(task, completed=done, total=total))
            out.print("%s -> :%s (%d bytes)" % (src, remote, size), highlight=False)
        else:
            target, size = copy_from_board(b, src[1:], Path(dst))
            out.print(":%s -> %s (%d bytes)" % (src[1:], target, size), highlight=False)


@app.command("ls")
def ls_cmd(path: str = typer.Argument("", help="Board directory (default: the current one)."),
           port: str | None = PortOpt):
    """List files on the board: size (blank for a folder) and name."""
    with _board(port) as b:
        for name, is_dir, size in sorted(b.listdir(_path(path))):
            print("%10s  %s%s" % ("" if is_dir else size, name, "/" if is_dir else ""))


@app.command("mkdir")
def mkdir_cmd(path: str = typer.Argument(..., help="Board folder to make, with its parents (`:models/kws`)."),
              port: str | None = PortOpt):
    """Make a folder on the board, and its parents (as `mkdir -p`)."""
    p = _path(path).rstrip("/")
    if not p:
        raise HyperionError("give a folder to make, such as :models")
    with _board(port) as b:
        b.makedirs(p)
        if not b.isdir(p):
            raise HyperionError("cannot make ':%s' on the board (a file of that name exists, or the filesystem is "
                                "read-only)" % p)


RM_CODE = """
import os
def _rm(p, r):
    if os.stat(p)[0] & 0x4000:
        if not r:
            raise OSError('is a folder (rm -r removes it and what it holds)')
        for n in os.listdir(p):
            _rm(p.rstrip('/') + '/' + n, r)
        os.rmdir(p)
    else:
        os.remove(p)
_rm(%r, %r)
"""


@app.command("rm")
def rm_cmd(path: str = typer.Argument(..., help="Board file (or, with -r, folder) to remove."),
           recursive: bool = typer.Option(False, "--recursive", "-r", help="Remove a folder and what it holds."),
           port: str | None = PortOpt):
    """Remove a file on the board (a folder with -r)."""
    p = _path(path).rstrip("/") or "/"
    if p in ("/", "."):
        raise HyperionError("refusing to remove the board's whole filesystem; name what to remove")
    with _board(port) as b:
        _on_board(b, RM_CODE % (p, recursive), "remove ':%s'" % p)


@app.command("cat")
def cat_cmd(path: str = typer.Argument(..., help="Board file to print."), port: str | None = PortOpt):
    """Print a board file's bytes to stdout."""
    with _board(port) as b:
        data = b.read_file(_path(path))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@app.command("df")
def df_cmd(path: str = typer.Argument("/", help="A board path on the filesystem to measure."),
           port: str | None = PortOpt, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Size and free space of a board filesystem (os.statvfs)."""
    import json

    p = _path(path) or "/"
    with _board(port) as b:
        s = _on_board(b, "import os\ns = os.statvfs(%r)\nprint(s[0] * s[2], s[0] * s[3])" % p, "measure ':%s'" % p)
    try:
        total, free = (int(v) for v in s.split())
    except ValueError:
        raise HyperionError("the board gave no filesystem size for ':%s'" % p) from None
    if as_json:
        print(json.dumps({"path": p, "total": total, "free": free, "used": total - free}))
        return
    print("%s: %d KB total, %d KB used, %d KB free" % (p, total // 1024, (total - free) // 1024, free // 1024))
