"""One way onto a board for the commands that run something there without a deploy (`infer --port`, `generate
--port`, `script run`, `shell`, the relay's board tools): they use the deployed firmware when it is this very
firmware, and otherwise keep theirs where deploy keeps its slots, in a third, "dev" slot:

    /hyperion-ab/dev/lib/hyperion/...   the whole firmware for the board's arch (never part of it)
    /hyperion-ab/dev/models/<name>.hyq  the model being run: the last one only (a cache, not a store)
    /hyperion-ab/dev/manifest.json      what the slot holds (files with sha256 and size), written last

Files are compared by sha256 and sent only when they differ; files the slot no longer needs are removed. The
A/B boot hook puts dev/lib on sys.path when no slot is deployed, so `import hyperion` works at the REPL after
any of these commands; a deploy's active slot comes first. `hyperion-host status` shows the dev slot."""

import hashlib
import json
import os

from hyperion_host import firmware
from hyperion_host.device.transport import DeviceError, same_content
from hyperion_host.errors import HyperionError
from hyperion_host.paths import firmware_dir

ROOT = "/hyperion-ab"  # the board's slots: a and b (ship/deploy.py), and dev
SLOTS = ("a", "b")
DEV = ROOT + "/dev"
BOOT_LINE = "import hyperion_ab  # Hyperion A/B slots"


def hook_source():
    return (firmware_dir() / "hyperion_ab.py").read_bytes()


def install_boot_hook(board):
    """/hyperion_ab.py (the hook that puts the active slot, else the dev slot, on sys.path) and a line importing
    it in /boot.py, keeping the rest of boot.py."""
    hook = hook_source()
    if not same_content(board.file_sums(["/hyperion_ab.py"])[0], hook):
        board.write_file("/hyperion_ab.py", hook)
    try:
        boot = board.read_file("/boot.py").decode(errors="replace")
    except DeviceError:
        boot = None
    if boot is None or BOOT_LINE.split("  #")[0] not in boot:
        text = (boot.rstrip("\n") + "\n" if boot else "") + BOOT_LINE + "\n"
        board.write_file("/boot.py", text.encode())


# on the board: the active slot, and its manifest's {path: sha256}
ACTIVE_FILES = """
import json
def _hy_active():
    for n in ('%(root)s/active', '%(root)s/active.tmp'):
        try:
            with open(n) as f:
                s = f.read().strip()
            with open('%(root)s/' + s + '/manifest.json') as f:
                return s, dict((e['path'], e['sha256']) for e in json.load(f)['files'])
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return None, {}
print(repr(_hy_active()))
del _hy_active
""" % {"root": ROOT}


def _firmware(ident):
    """[(path under lib/hyperion/, local file)] of the whole firmware for the board's arch (its .mpy build), or
    the runtime's sources where the board's arch is unknown."""
    from hyperion_host.firmware import cached_firmware

    skip = () if ident.get("ulab") else firmware.ULAB_MODULES  # as a bundle for a board without ulab
    if ident.get("arch"):
        pkg = cached_firmware(ident["arch"]) / "hyperion"
        return [(p.relative_to(pkg).as_posix(), p) for p in sorted(pkg.rglob("*.mpy"))
                if p.relative_to(pkg).with_suffix("").as_posix() not in skip]
    pkg = firmware_dir() / "hyperion"
    return [(m + ".py", pkg / (m + ".py")) for m in firmware.modules("all", ulab=bool(ident.get("ulab")))]


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def prepare(board, ident, model=None, notice=None, progress=None):
    """Make the firmware (and model, a local path) importable on an open Board identified as ident. Returns
    (code that puts the firmware first on sys.path, the model's board path or None). progress(done, total,
    path) hears the bytes sent, and (total, total, None) once all is there."""
    import ast

    if ident.get("platform") == "qemu":
        raise HyperionError("an emulated board has no writable filesystem: put the model in a ROMFS image "
                            "(`hyperion-host build --romfs`, then `vboard start --emulate --romfs IMG`), or count "
                            "its instructions with `hyperion-host profile MODEL --board BOARD`")
    fw = [("lib/hyperion/" + rel, p, _sha(p)) for rel, p in _firmware(ident)]
    slot, deployed = ast.literal_eval(board.exec(ACTIVE_FILES, timeout=30).decode().strip())
    use_active = slot in SLOTS and all(deployed.get(rel) == sha for rel, _, sha in fw)
    want = [] if use_active else list(fw)
    remote_model = None
    if model is not None:
        name = os.path.basename(model)
        sha = _sha(model)
        if use_active and deployed.get("models/" + name) == sha:
            remote_model = "%s/%s/models/%s" % (ROOT, slot, name)
        else:
            want.append(("models/" + name, model, sha))
            remote_model = DEV + "/models/" + name
    sent = _sync(board, want, progress)
    install_boot_hook(board)
    if sent and notice:
        notice("sent %d file(s) to the board's dev slot (:%s; `hyperion-host status` shows it)" % (len(sent), DEV))
    lib = "%s/%s/lib" % (ROOT, slot) if use_active else DEV + "/lib"
    return "import sys\nif sys.path[0] != %r:\n sys.path.insert(0, %r)\n" % (lib, lib), remote_model


def _sync(board, want, progress=None):
    """Make DEV hold exactly want [(path, local file, sha256)]: send what differs, remove the rest, write the
    manifest last. Returns the paths sent."""
    manifest = json.dumps({"kind": "dev", "files": [{"path": p, "sha256": sha, "size": os.path.getsize(local)}
                                                    for p, local, sha in want]}).encode()
    *have, have_manifest = board.file_sums([DEV + "/" + p for p, _, _ in want] + [DEV + "/manifest.json"])
    todo = [(path, local) for (path, local, sha), h in zip(want, have) if not same_content(h, sha=sha)]
    total = sum(os.path.getsize(local) for _, local in todo)
    done = 0
    for path, local in todo:
        board.makedirs((DEV + "/" + path).rsplit("/", 1)[0])
        with open(local, "rb") as f:
            data = f.read()
        board.write_file(DEV + "/" + path, data,
                         progress and (lambda n, _t, d=done, p=path: progress(d + n, total, p)))
        done += len(data)
    if progress:
        progress(total, total, None)
    sent = [path for path, _ in todo]
    keep = sorted(DEV + "/" + p for p, _, _ in want) + [DEV + "/manifest.json"]
    board.exec(PRUNE % {"root": DEV, "keep": keep}, timeout=60)
    if not same_content(have_manifest, manifest):  # the slot's record, written last; unchanged, left as it is
        board.makedirs(DEV)
        board.write_file(DEV + "/manifest.json", manifest)
    return sent


# on the board: remove every file under root that is not kept (folders left empty too)
PRUNE = """
import os
def _hy_prune(d, keep):
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + '/' + n
        if os.stat(p)[0] & 0x4000:
            _hy_prune(p, keep)
            try:
                os.rmdir(p)
            except OSError:
                pass
        elif p not in keep:
            os.remove(p)
_hy_prune(%(root)r, set(%(keep)r))
del _hy_prune
"""


def describe(board):
    """The dev slot's manifest as status shows it: {'files', 'bytes', 'firmware', 'models'} or None."""
    try:
        m = json.loads(board.read_file(DEV + "/manifest.json"))
    except (HyperionError, ValueError):
        return None
    files = m.get("files", []) if isinstance(m, dict) else []
    return {"files": len(files), "bytes": sum(int(f.get("size", 0)) for f in files),
            "firmware": any(f.get("path", "").startswith("lib/") for f in files),
            "models": [f["path"][7:] for f in files if f.get("path", "").startswith("models/")]}
