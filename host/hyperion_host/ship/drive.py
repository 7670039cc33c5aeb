"""`hyperion-host deploy --drive`: copy a CircuitPython bundle (ship/circuitpython.py) onto a mounted CIRCUITPY drive.

Rules (docs/circuitpython.md, "Install"):
- only files whose content differs are written, each through a temp file in its own folder and a rename;
- the drive's code.py is replaced only when it is missing or is the example an earlier deploy wrote, unchanged;
  a code.py of the user's own (or a code.txt/main.py/main.txt, which CircuitPython would run instead) is left,
  and the bundle's example goes to code_hyperion.py;
- nothing is deleted but stale modules inside lib/hyperion/ (.py and .mpy files the new bundle does not have,
  and files an earlier deploy recorded there), so `import hyperion` cannot pick up an old module;
- every path stays inside the drive: a symlink on the drive, or a bundle file that is a symlink or leads
  elsewhere, is refused before anything is written; so are a drive without room and a read-only drive.
lib/hyperion/deployed.json records what the deploy wrote (bundle id, version, the example's sha256)."""

import errno
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from hyperion_host.boards import get_board
from hyperion_host.errors import HyperionError
from hyperion_host.files import write_atomic
from hyperion_host.ship.bundle import _kb, sha256
from hyperion_host.ship.circuitpython import CODE, CODE_ALT, drive_bytes, load_cp_manifest, refuse_micropython_board

RECORD = "lib/hyperion/deployed.json"
PACKAGE = "lib/hyperion"
# what CircuitPython runs at boot, first found first: a code.py of ours must not shadow the user's program
BOOT_PROGRAMS = ("code.txt", "code.py", "main.txt", "main.py")
MODULE_SUFFIXES = (".py", ".mpy")
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


# refuse_micropython_board's words for --drive: a MicroPython board takes `deploy --port`
DRIVE_WORDS = ("--drive copies to a CircuitPython board's CIRCUITPY drive",
             "or deploy to it with `hyperion-host deploy --port`")


class DriveError(HyperionError):
    pass


def _read_only(drive, e):
    return DriveError("the drive %s is read-only (%s): the computer can write CIRCUITPY only while the board's own "
                      "code has not remounted it writable (storage.remount() in boot.py) and it is not mounted "
                      "read-only; undo that, reset the board and deploy again"
                      % (drive, errno.errorcode.get(e.errno, e.strerror or e)))


def check_drive(drive):
    """The drive's folder, resolved, or DriveError: it must exist and be a folder."""
    p = Path(drive)
    if not p.exists():
        raise DriveError("no drive at %s: plug the board in and give the folder its CIRCUITPY drive is mounted at "
                         "(e.g. /media/$USER/CIRCUITPY on Linux, /Volumes/CIRCUITPY on macOS, E:\\ on Windows)"
                         % drive)
    if not p.is_dir():
        raise DriveError("--drive %s is not a folder: give the folder the CIRCUITPY drive is mounted at" % drive)
    return p.resolve()


def _entry(folder, name):
    """The name of folder's entry that is `name` on a FAT drive (case folded), or None."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DriveError("cannot list %s on the drive: %s" % (folder, e.strerror or e)) from None
    for n in names:
        if n == name:
            return n
    low = [n for n in names if n.lower() == name.lower()]
    return low[0] if low else None


def _on_drive(root, rel):
    """(path on the drive for rel, its current bytes or None), refusing symlinks and non-folders on the way:
    nothing is written through a link, so nothing lands outside the drive."""
    cur = root
    parts = rel.split("/")
    for i, part in enumerate(parts):
        name = _entry(cur, part)
        nxt = cur / (name or part)
        if name is None:
            return cur.joinpath(*parts[i:]), None
        st = os.lstat(nxt)
        if stat.S_ISLNK(st.st_mode):
            raise DriveError("%s on the drive is a symlink; refusing to write through it (it may lead outside the "
                             "drive): remove it and deploy again" % nxt.relative_to(root).as_posix())
        last = i == len(parts) - 1
        if not last and not stat.S_ISDIR(st.st_mode):
            raise DriveError("%s on the drive is a file where the bundle needs a folder; move it away and deploy "
                             "again" % nxt.relative_to(root).as_posix())
        if last and not stat.S_ISREG(st.st_mode):
            raise DriveError("%s on the drive is not a regular file (a folder?); move it away and deploy again"
                             % nxt.relative_to(root).as_posix())
        cur = nxt
    try:
        return cur, cur.read_bytes()
    except OSError as e:
        raise DriveError("cannot read %s on the drive: %s" % (rel, e.strerror or e)) from None


def _record(root):
    try:
        path, data = _on_drive(root, RECORD)
        r = json.loads(data) if data is not None else {}
    except (DriveError, ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return r if isinstance(r, dict) else {}


def _code_target(root, ours, record, notes):
    """Where the bundle's example goes: code.py, or code_hyperion.py when the drive's program is the user's."""
    programs = [n for n in BOOT_PROGRAMS if _entry(root, n) is not None]
    if CODE in programs:
        _, data = _on_drive(root, CODE)
        if sha256(data) in (ours, record.get("code_sha256")):
            return CODE  # ours (this bundle's or an earlier deploy's, unchanged)
        notes.append("the drive's code.py is not the one Hyperion wrote: it is left as it is, and the example went "
                     "to code_hyperion.py (rename it to code.py to run it at boot)")
        return CODE_ALT
    if programs:
        notes.append("the drive runs %s at boot: it is left as it is, and the example went to code_hyperion.py"
                     % programs[0])
        return CODE_ALT
    return CODE


def _stale(root, keep, record):
    """Files under lib/hyperion/ to remove: modules (.py, .mpy) the new bundle does not have, and files the
    earlier deploy recorded there; never anything else, never through a symlink."""
    base = root / PACKAGE
    out = []
    if not base.is_dir() or base.is_symlink():
        return out
    recorded = {p.lower() for p in record.get("files", []) if isinstance(p, str)}
    for dirpath, dirnames, filenames in os.walk(base):  # does not follow symlinked folders
        for n in filenames:
            p = Path(dirpath) / n
            rel = p.relative_to(root).as_posix()
            if rel.lower() in keep or rel.lower() == RECORD.lower() or p.is_symlink():
                continue
            if n.lower().endswith(MODULE_SUFFIXES) or rel.lower() in recorded:
                out.append(p)
    return sorted(out)


def _probe(root):
    """Write and remove a temp file at the drive's top: a read-only drive fails here, before any file is written."""
    try:
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".hyperion-", suffix=".probe")
    except OSError as e:
        if e.errno in READ_ONLY:
            raise _read_only(root, e) from None
        raise DriveError("cannot write to the drive %s: %s" % (root, e.strerror or e)) from None
    os.close(fd)
    os.unlink(tmp)


def deploy_to_drive(drive, bundle_dir, board=None, progress=None):
    """Copy bundle_dir (a CircuitPython bundle) onto the drive folder. board: if given, the bundle must be for it.
    progress(done, total, what) hears each file written. Returns a dict: copied, unchanged, removed (paths),
    code (where the example went), notes (what the user should know)."""
    t0 = time.monotonic()
    root = check_drive(drive)
    manifest = load_cp_manifest(bundle_dir)
    if board is not None:
        b = get_board(board)
        refuse_micropython_board(b, *DRIVE_WORDS)
        if b["name"] != manifest["board"]:
            raise DriveError("bundle %s was built for %s, not %s: build one with `hyperion-host build --board %s "
                             "--circuitpython`" % (bundle_dir, manifest["board"], b["name"], b["name"]))
    bundle = Path(bundle_dir)
    notes = []
    if _entry(root, "boot_out.txt") is None:
        notes.append("%s has no boot_out.txt (CircuitPython writes one at every boot): is it the board's CIRCUITPY "
                     "drive?" % drive)
    record = _record(root)
    files = {f["path"]: f for f in manifest["files"]}
    code = _code_target(root, files[CODE]["sha256"], record, notes) if CODE in files else None
    plan = []  # (path on the drive, file of the bundle, manifest entry, relative target)
    unchanged = 0
    for f in manifest["files"]:
        rel = code if f["path"] == CODE else f["path"]
        dst, data = _on_drive(root, rel)
        if data is not None and len(data) == f["size"] and sha256(data) == f["sha256"]:
            unchanged += 1
            continue
        plan.append((dst, bundle / f["path"], f, rel))
    _on_drive(root, RECORD)  # no symlink where the record goes
    keep = {(code if p == CODE else p).lower() for p in files}
    stale = _stale(root, keep, record)
    need = drive_bytes(f["size"] for _, _, f, _ in plan)
    free = shutil.disk_usage(root).free + drive_bytes(d.stat().st_size for d, _, _, _ in plan if d.is_file())
    if need > free:
        raise DriveError("not enough room on the drive %s: the bundle needs %s more, %s are free; nothing was "
                         "written: remove files you do not need from the drive, or bundle fewer models"
                         % (drive, _kb(need), _kb(free)))
    if plan or stale:
        _probe(root)
    # the package and models first, code.py last: a deploy cut off midway leaves no example importing a half package
    plan.sort(key=lambda x: (x[3] in (CODE, CODE_ALT), x[3]))
    if progress:
        progress(0, len(plan), None)
    try:
        for i, (dst, src, f, rel) in enumerate(plan):
            dst.parent.mkdir(parents=True, exist_ok=True)
            data = src.read_bytes()
            if sha256(data) != f["sha256"]:
                raise DriveError("bundle file %s changed during the deploy; rebuild the bundle" % f["path"])
            write_atomic(dst, data)
            if progress:
                progress(i + 1, len(plan), "copied %s" % rel)
        removed = []
        for p in stale:
            p.unlink()
            removed.append(p.relative_to(root).as_posix())
        _remove_emptied_folders(root / PACKAGE, stale)
        rec = {"bundle": manifest["id"], "version": manifest["version"], "board": manifest["board"],
               "code": code, "code_sha256": files[CODE]["sha256"] if code == CODE else record.get("code_sha256"),
               "files": sorted(p for p in files if p.startswith(PACKAGE + "/"))}
        text = json.dumps(rec, indent=1, sort_keys=True).encode()
        rdst, old = _on_drive(root, RECORD)
        if old != text:
            write_atomic(rdst, text)
    except OSError as e:
        if e.errno in READ_ONLY:
            raise _read_only(drive, e) from None
        if e.errno == errno.ENOSPC:
            raise DriveError("the drive %s filled up during the deploy; every file on it is whole (old or new): "
                             "free some room and deploy again" % drive) from None
        raise DriveError("cannot write to the drive %s: %s; every file on it is whole (old or new): deploy again"
                         % (drive, e.strerror or e)) from None
    return {"drive": str(drive), "bundle": str(bundle_dir), "board": manifest["board"], "version": manifest["version"],
            "id": manifest["id"], "copied": len(plan), "unchanged": unchanged, "removed": removed, "code": code,
            "notes": notes, "seconds": time.monotonic() - t0}


def _remove_emptied_folders(base, removed):
    """Folders under lib/hyperion/ that removing stale modules left empty (a subpackage the bundle dropped)."""
    for p in removed:
        d = p.parent
        while d != base and base in d.parents:
            try:
                d.rmdir()  # only an empty folder goes
            except OSError:
                break
            d = d.parent
