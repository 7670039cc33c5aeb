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
           recursive: bool = typer.Option(False, "--recursive", "-r", help="Copy a folder and what it holds."),
           port: str | None = PortOpt):
    """Copy a file to or from the board (`cp model.hyq :models/` makes :models if needed, `cp :log.txt .`, or a
    folder with -r: `cp -r models/digits :models/`)."""
    from hyperion_host.cli.app import progress
    from hyperion_host.device.transport import copy_from_board, copy_to_board

    if src.startswith(":") == dst.startswith(":"):
        raise HyperionError("exactly one of SRC and DST must be a board path starting with ':'")
    with _board(port) as b:
        if recursive:
            pairs = _tree_to_board(b, Path(src), dst[1:]) if dst.startswith(":") else \
                _tree_from_board(b, _path(src), Path(dst))
            out.print("%d files, %d bytes" % (len(pairs), sum(n for *_, n in pairs)), highlight=False)
        elif dst.startswith(":"):
            if Path(src).is_dir():
                raise HyperionError("%s is a folder: copy it with cp -r" % src)
            with progress(Path(src).name, unit="bytes") as update:
                remote, size = copy_to_board(b, Path(src), dst[1:], progress=update)
            out.print("%s -> :%s (%d bytes)" % (src, remote, size), highlight=False)
        else:
            target, size = copy_from_board(b, src[1:], Path(dst))
            out.print(":%s -> %s (%d bytes)" % (src[1:], target, size), highlight=False)


def _tree_to_board(b, src, dst):
    """cp -r DIR :DST: DIR's files under :DST/DIR's name (or :DST itself when it ends without '/' and is new),
    as `cp -r` does; folders made as needed, one progress bar for the bytes."""
    from hyperion_host.cli.app import progress

    if not src.is_dir():
        raise HyperionError("no such local folder: %s" % src)
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.is_symlink())
    base = dst.rstrip("/")
    if not base or dst.endswith("/") or b.isdir(base):
        base = (base + "/" if base else "") + src.resolve().name
    total = sum(p.stat().st_size for p in files)
    done, pairs = 0, []
    with progress(src.name, total=total, unit="bytes") as update:
        b.makedirs(base)
        for p in files:
            rel = p.relative_to(src).as_posix()
            remote = base + "/" + rel
            if "/" in rel:
                b.makedirs(remote.rsplit("/", 1)[0])
            data = p.read_bytes()
            b.write_file(remote, data, lambda n, _t, d=done: update(d + n))
            done += len(data)
            pairs.append((str(p), ":" + remote, len(data)))
    return pairs


def _tree_from_board(b, src, dst):
    """cp -r :DIR DST: the board folder's files under DST/DIR's name (DST itself when it does not exist)."""
    from hyperion_host.device.transport import copy_from_board

    src = src.rstrip("/") or "/"
    if not b.isdir(src):
        raise HyperionError("no such board folder: :%s" % src)
    target = dst / (src.rsplit("/", 1)[-1] or "board") if dst.is_dir() else dst
    pairs = []

    def walk(remote, local):
        local.mkdir(parents=True, exist_ok=True)
        for name, is_dir, _size in sorted(b.listdir(remote)):
            if name in (".", "..") or "/" in name:  # a board listing is input too: no way out of the target
                continue
            r = remote.rstrip("/") + "/" + name
            if is_dir:
                walk(r, local / name)
            else:
                path, n = copy_from_board(b, r, local / name)
                pairs.append((":" + r, str(path), n))

    walk(src, target)
    return pairs


@app.command("ls")
def ls_cmd(path: str = typer.Argument("", help="Board directory (default: the current one)."),
           long: bool = typer.Option(False, "-l", "--long", help="Also the modification time."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON: name, dir, size (and mtime with -l)."),
           port: str | None = PortOpt):
    """List files on the board: size (blank for a folder) and name."""
    import json
    import time

    with _board(port) as b:
        rows = sorted(b.listdir(_path(path), with_mtime=long))
    if as_json:
        keys = ("name", "dir", "size", "mtime")
        print(json.dumps([dict(zip(keys, r)) for r in rows]))
        return
    for r in rows:
        name, is_dir, size = r[:3]
        when = "  " + time.strftime("%Y-%m-%d %H:%M", time.gmtime(r[3])) if long else ""
        print("%10s%s  %s%s" % ("" if is_dir else size, when, name, "/" if is_dir else ""))


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


@app.command("reset")
def reset_cmd(soft: bool = typer.Option(False, "--soft", help="A soft reset (Ctrl-D at the REPL): the heap and "
                                        "modules are cleared, boot.py and main.py run again."),
              port: str | None = PortOpt):
    """Reset the board, as its reset button does (machine.reset(); a vboard restarts its interpreter)."""
    from hyperion_host.device.transport import hard_reset, resolve_port, soft_reset

    dev = resolve_port(port)
    how = soft_reset(dev) if soft else hard_reset(dev)
    out.print("%s: %s" % (dev, how), highlight=False)
