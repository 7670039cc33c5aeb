"""`hyperion-host deploy`: install a bundle on a board through mpremote's transport, A/B style.

Board layout (docs/deploy.md):
    /hyperion-ab/a/...            slot a: lib/hyperion/*.mpy, models/*.hyq, manifest.json (written last)
    /hyperion-ab/b/...            slot b
    /hyperion-ab/active           "a" or "b": the slot /boot.py puts first on sys.path
    /hyperion_ab.py               the A/B boot hook (firmware/hyperion_ab.py), imported from /boot.py

A deploy writes the inactive slot (only files whose sha256 differs; files the active slot already has are
copied on the board), writes its manifest last, runs each model's self-test from that slot, and only then
switches `active` by writing a temp file and renaming it. Cut off at any point, the board still boots the
previous slot."""

import json
import time
from pathlib import Path

from hyperion_host.device.transport import Board, BoardExecError, DeviceError, resolve_port, same_content
from hyperion_host.errors import HyperionError
from hyperion_host.paths import firmware_dir
from hyperion_host.ship.bundle import MANIFEST, load_manifest

ROOT = "/hyperion-ab"
SLOTS = ("a", "b")

HELPERS = """
import os, json
def _read(p):
    try:
        with open(p) as f:
            return f.read()
    except OSError:
        return None
def _manifest(s):
    t = _read('%(root)s/' + s + '/manifest.json')
    try:
        m = json.loads(t) if t else None
    except ValueError:
        return None
    return {'id': m.get('id'), 'version': m.get('version'), 'board': m.get('board'), 'arch': m.get('arch')} if m else None
def _state():
    a = _read('%(root)s/active')
    if a is None:
        a = _read('%(root)s/active.tmp')
    return {'active': (a or '').strip(), 'slots': {s: _manifest(s) for s in ('a', 'b')}}
def _mkdirs(p):
    cur = ''
    for part in p.strip('/').split('/'):
        cur += '/' + part
        try:
            os.mkdir(cur)
        except OSError:
            pass
def _cp(src, dst):
    b = bytearray(1024)
    with open(src, 'rb') as fi:
        with open(dst, 'wb') as fo:
            while True:
                n = fi.readinto(b)
                if not n:
                    break
                fo.write(memoryview(b)[:n])
def _free(p):
    try:
        s = os.statvfs(p)
        return s[0] * s[4]
    except OSError:
        return -1
def _rm(p):
    try:
        os.remove(p)
    except OSError:
        pass
def _switch(s):
    # relative names from / : the unix port's VfsPosix mis-resolves absolute rename targets
    os.chdir('/')
    with open('%(rel)s/active.tmp', 'w') as f:
        f.write(s)
    try:
        os.rename('%(rel)s/active.tmp', '%(rel)s/active')
    except OSError:
        _rm('%(rel)s/active')
        os.rename('%(rel)s/active.tmp', '%(rel)s/active')
""" % {"root": ROOT, "rel": ROOT.lstrip("/")}

HEALTH = """
import sys, json, array, gc, binascii
sys.path.insert(0, '%(root)s/%(slot)s/lib')
for k in list(sys.modules):
    if k == 'hyperion' or k.startswith('hyperion.'):
        del sys.modules[k]
import hyperion
res = {}
for name, t in %(tests)s.items():
    try:
        m = hyperion.load('%(root)s/%(slot)s/models/' + name + '.hyq')
        if 'tokens' in t:  # a language model: its KV-cache decoder reads a prompt
            from hyperion import lm
            y = lm.Decoder(m).prefill(t['tokens'])
        else:
            for i in range(len(t['input_b64'])):
                m.set_input(array.array('f', binascii.a2b_base64(t['input_b64'][i])), i)
            gc.collect()
            y = m.run()
            y = y[0] if isinstance(y, tuple) else y
        err = 0.0
        for a, b in zip(y, t['expected']):
            d = abs(a - b)
            if d > err:
                err = d
        res[name] = 'ok' if err <= t['tolerance'] else 'output off by %%g' %% err
        m.close()
    except Exception as e:
        res[name] = repr(e)
    m = None
    gc.collect()
print('HEALTH ' + json.dumps({'file': hyperion.__file__, 'tests': res}))
"""


class DeployError(HyperionError):
    pass


BOOT_LINE = "import hyperion_ab  # Hyperion A/B slots"


def hook_source():
    return (firmware_dir() / "hyperion_ab.py").read_bytes()


def install_boot_hook(s):
    """/hyperion_ab.py (the hook) and a line importing it in /boot.py, keeping the rest of boot.py."""
    hook = hook_source()
    if not same_content(s.board.file_sums(["/hyperion_ab.py"])[0], hook):
        s.board.write_file("/hyperion_ab.py", hook)
    boot = s.eval("_read('/boot.py')")
    if boot is None or BOOT_LINE.split("  #")[0] not in boot:
        text = (boot.rstrip("\n") + "\n" if boot else "") + BOOT_LINE + "\n"
        s.board.write_file("/boot.py", text.encode())


class Session:
    """One connection to a board with the deploy helpers defined on it."""

    def __init__(self, port, soft_reset=True):
        self.port = resolve_port(port)
        self.board = Board(self.port, soft_reset=soft_reset)
        try:
            self.board.exec(HELPERS, timeout=30)
        except Exception:
            self.board.close()
            raise

    def close(self):
        self.board.close()

    def eval(self, expr):
        try:
            return self.board.eval(expr)
        except BoardExecError as e:
            self._restarted(e)
            raise

    def exec(self, code, timeout=60):
        try:
            return self.board.exec(code, timeout=timeout)
        except BoardExecError as e:
            self._restarted(e)
            raise

    def _restarted(self, e):
        """A helper of this session gone from the board means its interpreter restarted under us (a crash, a
        watchdog, a power glitch): one clear error; the slot switch has not happened, so the old slot boots."""
        if "NameError" in e.traceback and "'_" in e.traceback:
            raise DeployError("the board on %s restarted in the middle of the deploy; the active slot is untouched: "
                              "run the deploy again" % self.port) from None

    def state(self):
        return self.eval("_state()")

    def identify(self):
        return self.board.identify()


def _other(slot):
    return "b" if slot == "a" else "a"


def deploy(port, bundle_dir, progress=None, health_timeout=120):
    """Install bundle_dir on the board at port. Returns a dict describing what happened."""
    phase = ["copy"]
    try:
        return _deploy(port, bundle_dir, progress, health_timeout, phase)
    except DeviceError as e:  # the board stopped answering or went away: every read has a deadline
        if phase[0] == "copy":
            raise DeployError("%s; the active slot is untouched: run the deploy again" % e.format_message()) from None
        raise DeployError("%s, while switching slots; the board boots either the new slot or the previous one (both "
                          "complete): see `hyperion-host status`" % e.format_message()) from None


def _deploy(port, bundle_dir, progress, health_timeout, phase):
    manifest = load_manifest(bundle_dir)
    t0 = time.monotonic()
    quick = _quick_state(port)
    if quick and quick[1] == manifest["id"]:  # already running this bundle: one small read, no reset
        return {"port": resolve_port(port), "changed": False, "slot": quick[0], "copied": 0,
                "skipped": len(manifest["files"]), "version": manifest["version"], "seconds": time.monotonic() - t0}
    s = Session(port)
    try:
        ident = s.identify()
        if ident.get("platform") == "qemu":
            raise DeployError("the board on %s is emulated and has no writable filesystem for A/B slots: it takes "
                              "ROMFS bundles (`hyperion-host build --romfs`, then `hyperion-host vboard start "
                              "--emulate --romfs %s/romfs.img`)" % (s.port, bundle_dir))
        if ident["arch"] and manifest["arch"] != ident["arch"]:
            raise DeployError("bundle %s was built for %s, but the board on %s runs %s; build one with "
                              "`hyperion-host build --board <board> --arch %s`"
                              % (bundle_dir, manifest["arch"], s.port, ident["arch"], ident["arch"]))
        st = s.state()
        active = st["active"] if st["active"] in SLOTS else ""
        cur = st["slots"].get(active) if active else None
        if cur and cur.get("id") == manifest["id"]:
            s.board.close()
            return {"port": s.port, "changed": False, "slot": active, "copied": 0, "skipped": len(manifest["files"]),
                    "version": manifest["version"], "seconds": time.monotonic() - t0}
        target = _other(active) if active else "a"
        base = "%s/%s" % (ROOT, target)
        paths = [f["path"] for f in manifest["files"]]
        s.exec("_rm(%r)" % (base + "/" + MANIFEST))  # the target slot is incomplete from here on
        have_t = [same_content(h, sha=f["sha256"]) for f, h in
                  zip(manifest["files"], s.board.file_sums([base + "/" + p for p in paths]))]
        have_a = [same_content(h, sha=f["sha256"]) for f, h in
                  zip(manifest["files"], s.board.file_sums(["%s/%s/%s" % (ROOT, active, p) for p in paths]))] \
            if active else [False] * len(paths)
        need = sum(f["size"] for f, have in zip(manifest["files"], have_t) if not have)
        s.exec("_mkdirs(%r)" % base)
        free = s.eval("_free(%r)" % base)
        if 0 <= free < need:
            raise DeployError("not enough space on the board: the new slot needs %d more bytes, %d are free; "
                              "the active slot is untouched" % (need, free))
        copied = on_board = 0
        dirs = sorted({(base + "/" + p).rsplit("/", 1)[0] for p in paths})
        s.exec("for d in %r:\n _mkdirs(d)" % dirs)
        for f, ht, ha in zip(manifest["files"], have_t, have_a):
            dst = base + "/" + f["path"]
            if ht:
                continue
            try:
                if ha:
                    s.exec("_cp(%r, %r)" % ("%s/%s/%s" % (ROOT, active, f["path"]), dst))
                    on_board += 1
                else:
                    s.board.write_file(dst, (Path(bundle_dir) / f["path"]).read_bytes())
                    copied += 1
            except (BoardExecError, DeviceError) as e:
                text = str(e) + str(getattr(e, "traceback", ""))
                if "ENOSPC" in text or "No space left" in text or "Errno 28" in text:
                    raise DeployError("the board ran out of space while writing %s; the active slot is untouched "
                                      "(free space, or deploy fewer models)" % f["path"]) from None
                raise
            if progress:
                progress(f["path"])
        s.board.write_file(base + "/" + MANIFEST, (Path(bundle_dir) / MANIFEST).read_bytes())
        install_boot_hook(s)
        s.close()
        # health check from the new slot in a fresh interpreter, before switching
        health = run_health(s.port, target, manifest, health_timeout)
        if not health["ok"]:
            raise DeployError("health check failed on %s (%s); the board stays on slot %s"
                              % (s.port, health["summary"], active or "none"))
        s = Session(s.port, soft_reset=False)
        phase[0] = "switch"
        s.exec("_switch(%r)" % target)
        s.close()
        booted = verify_boot(s.port)
        if "%s/%s/" % (ROOT, target) not in booted:
            raise DeployError("after switching, the board booted %s instead of slot %s" % (booted, target))
        return {"port": s.port, "changed": True, "slot": target, "previous": active, "copied": copied,
                "copied_on_board": on_board, "skipped": len(paths) - copied - on_board, "version": manifest["version"],
                "health": health["tests"], "seconds": time.monotonic() - t0}
    finally:
        try:
            s.board.close()
        except Exception:  # the connection may already be gone
            pass


QUICK = """
import json
try:
    with open('%(root)s/active') as _f:
        _a = _f.read().strip()
    with open('%(root)s/' + _a + '/manifest.json') as _f:
        print(repr((_a, json.load(_f).get('id'))))
except (OSError, ValueError):
    print(None)
""" % {"root": ROOT}


def _quick_state(port):
    """(active slot, bundle id) without a soft reset, or None."""
    import ast

    with Board(resolve_port(port), soft_reset=False) as b:
        return ast.literal_eval(b.exec(QUICK, timeout=30).decode().strip())


def run_health(port, slot, manifest, timeout=120):
    """Run every model's self-test from `slot` in a freshly reset interpreter."""
    tests = manifest.get("self_tests", {})
    with Board(resolve_port(port)) as b:
        out = []
        try:
            b.exec(HEALTH % {"root": ROOT, "slot": slot, "tests": json.dumps(tests)}, stream=out.append,
                   timeout=timeout)
        except BoardExecError as e:
            return {"ok": False, "summary": e.format_message(), "tests": {}}
    text = b"".join(out).decode(errors="replace")
    line = [x for x in text.splitlines() if x.startswith("HEALTH ")]
    if not line:
        return {"ok": False, "summary": "no health report", "tests": {}}
    rep = json.loads(line[-1][7:])
    bad = {k: v for k, v in rep["tests"].items() if v != "ok"}
    ok = not bad and "%s/%s/" % (ROOT, slot) in rep["file"]
    summary = "; ".join("%s: %s" % kv for kv in bad.items()) or ("imported %s" % rep["file"])
    return {"ok": ok, "summary": summary, "tests": rep["tests"], "score": (len(tests) - len(bad)) / max(1, len(tests))}


def verify_boot(port):
    """Soft-reset the board and report where `import hyperion` comes from."""
    with Board(resolve_port(port)) as b:
        return b.exec("import hyperion\nprint(hyperion.__file__)", timeout=30).decode().strip()


def status(port):
    s = Session(port)
    try:
        st = s.state()
        ident = s.identify()
    finally:
        s.close()
    active = st["active"] if st["active"] in SLOTS else ""
    cur = st["slots"].get(active) if active else None
    return {"port": s.port, "arch": ident["arch"], "active": active or None, "version": cur and cur["version"],
            "bundle": cur and cur["id"], "slots": st["slots"]}


def rollback(port):
    """Switch to the other slot, if it holds a complete bundle; verify the board boots it."""
    s = Session(port)
    try:
        st = s.state()
        active = st["active"] if st["active"] in SLOTS else ""
        if not active:
            raise DeployError("nothing to roll back on %s: no Hyperion bundle is deployed" % s.port)
        prev = _other(active)
        if not st["slots"].get(prev):
            raise DeployError("cannot roll back %s: slot %s holds no complete bundle" % (s.port, prev))
        s.exec("_switch(%r)" % prev)
    finally:
        s.close()
    booted = verify_boot(s.port)
    if "%s/%s/" % (ROOT, prev) not in booted:
        raise DeployError("after rollback, the board booted %s instead of slot %s" % (booted, prev))
    return {"port": s.port, "slot": prev, "previous": active, "version": st["slots"][prev]["version"]}
