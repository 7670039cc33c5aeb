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

from hyperion import crypt
from hyperion_host.device.devslot import ROOT, SLOTS, install_boot_hook
from hyperion_host.device.transport import Board, BoardExecError, DeviceError, resolve_port, same_content
from hyperion_host.errors import HyperionError
from hyperion_host.paths import firmware_dir
from hyperion_host.ship.bundle import MANIFEST, SIGNATURE, check_signature, load_manifest, load_signature

KEYS = "/hyperion-keys"  # outside the slots: <id>.key (model keys), fleet-<id>.key (bundle signing keys)

# on the board: the A/B state, {'active': 'a', 'b' or '', 'slots': {slot: its manifest's summary or None}}
STATE_HELPERS = """
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
    return {'id': m.get('id'), 'version': m.get('version'), 'board': m.get('board'), 'arch': m.get('arch'),
            'model_keys': m.get('model_keys', [])} if m else None
def _state():
    a = _read('%(root)s/active')
    if a is None:
        a = _read('%(root)s/active.tmp')
    return {'active': (a or '').strip(), 'slots': {s: _manifest(s) for s in ('a', 'b')}}
""" % {"root": ROOT}

# the deploy helpers: the state above, copying, verifying and switching slots (sent once per Session)
HELPERS = STATE_HELPERS + """
from binascii import hexlify
def _mkdirs(p):
    cur = ''
    for part in p.strip('/').split('/'):
        cur += '/' + part
        try:
            os.mkdir(cur)
        except OSError:
            pass
def _each(p, fn):
    b = bytearray(1024)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            fn(memoryview(b)[:n])
def _cp(src, dst):
    with open(dst, 'wb') as fo:
        _each(src, fo.write)
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
def _readb(p):
    try:
        with open(p, 'rb') as f:
            return f.read()
    except OSError:
        return None
def _keys(prefix):
    try:
        return [n[len(prefix):-4] for n in os.listdir('%(keys)s') if n.startswith(prefix) and n.endswith('.key')
                and len(n) == len(prefix) + 20]
    except OSError:
        return []
def _sha(p):
    h = hashlib.sha256()
    try:
        _each(p, h.update)
    except OSError:
        return None
    return hexlify(h.digest()).decode()
def _verify(s):
    # why slot s may not boot, or None: every file as its manifest says, and the manifest signed with one of the
    # board's fleet keys when it has any (this code comes from the host; the keys and the slot from the board)
    base = '%(root)s/' + s
    man = _readb(base + '/manifest.json')
    if man is None:
        return 'slot %%s holds no complete bundle' %% s
    ids = _keys('fleet-')
    if ids:
        try:
            sig = json.loads(_read(base + '/manifest.sig') or 'null')
        except ValueError:
            sig = None
        kid = sig.get('key_id') if isinstance(sig, dict) else None
        if kid is None:
            return 'the bundle is not signed, and this board takes only bundles signed with its fleet key (%%s)' %% ', '.join(ids)
        if kid not in ids:
            return 'the bundle is signed with key %%s, not with a fleet key of this board (%%s)' %% (kid, ', '.join(ids))
        try:
            key = parse_key(_read('%(keys)s/fleet-' + kid + '.key') or '')
            ok = same(hmac_sha256(signing_key(key), man), unhexlify(sig.get('mac') or ''))
        except ValueError:
            ok = False
        if not ok:
            return 'the bundle signature does not match its manifest'
    try:
        files = json.loads(man)['files']
    except (ValueError, KeyError, TypeError):
        return 'slot %%s has a corrupt manifest' %% s
    for f in files:
        if _sha(base + '/' + f['path']) != f['sha256']:
            return 'file %%s on the board does not match the manifest' %% f['path']
    return None
def _switch(s):
    why = _verify(s)
    if why:
        return why
    # relative names from / : the unix port's VfsPosix mis-resolves absolute rename targets
    os.chdir('/')
    with open('%(rel)s/active.tmp', 'w') as f:
        f.write(s)
    try:
        os.rename('%(rel)s/active.tmp', '%(rel)s/active')
    except OSError:
        _rm('%(rel)s/active')
        os.rename('%(rel)s/active.tmp', '%(rel)s/active')
""" % {"root": ROOT, "rel": ROOT.lstrip("/"), "keys": KEYS}

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
    except Exception as e:  # the error's name and message, as a traceback's last line shows them
        res[name] = '%%s: %%s' %% (type(e).__name__, e) if e.args else type(e).__name__
    m = None
    gc.collect()
print('HEALTH ' + json.dumps({'file': hyperion.__file__, 'tests': res}))
"""


class DeployError(HyperionError):
    pass


def crypt_source():
    return (firmware_dir() / "hyperion" / "crypt.py").read_text()


class Session:
    """One connection to a board with the deploy helpers defined on it."""

    def __init__(self, port, soft_reset=True):
        self.port = resolve_port(port)
        self.board = Board(self.port, soft_reset=soft_reset)
        try:
            # the board checks signatures with the firmware's own HMAC (hyperion/crypt.py), sent with the helpers
            self.board.exec(crypt_source() + HELPERS, timeout=30)
        except Exception:
            self.board.close()
            raise

    def close(self):
        self.board.close()

    def eval(self, expr, timeout=10):
        try:
            return self.board.eval(expr, timeout)
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


def deploy(port, bundle_dir, progress=None, health_timeout=120, model_keys=(), sign_key=None, rotate_from=None):
    """Install bundle_dir on the board at port. Returns a dict describing what happened.
    progress(done, total, what): files written so far of those the new slot needs ('sent' from the host, or
    'copied on the board' from the active slot).
    model_keys: keys of the bundle's encrypted models the board may not have yet (installed in /hyperion-keys);
    sign_key: the fleet key the bundle must be signed with (installed on a board that has none; rotate_from: a
    fleet key the board has, to install sign_key beside it)."""
    phase = ["connect"]
    keys = {"model": {crypt.key_id(k): k for k in model_keys}, "sign": sign_key, "rotate_from": rotate_from}
    try:
        return _deploy(port, bundle_dir, progress, health_timeout, phase, keys)
    except DeviceError as e:  # the board stopped answering or went away: every read has a deadline
        if phase[0] == "connect":  # nothing on the board was touched: the error says all
            raise
        if phase[0] == "copy":
            raise DeployError("%s; the active slot is untouched: run the deploy again" % e.format_message()) from None
        raise DeployError("%s, while switching slots; the board boots either the new slot or the previous one (both "
                          "complete): see `hyperion-host status`" % e.format_message()) from None


def _deploy(port, bundle_dir, progress, health_timeout, phase, keys):
    manifest = load_manifest(bundle_dir)
    if keys["sign"] is not None:
        check_signature(bundle_dir, keys["sign"])
    t0 = time.monotonic()
    quick = _quick_state(port)
    if quick and quick[1] == manifest["id"]:  # already running this bundle: one small read, no reset
        return {"port": resolve_port(port), "changed": False, "slot": quick[0], "copied": 0,
                "skipped": len(manifest["files"]), "version": manifest["version"], "seconds": time.monotonic() - t0}
    s = Session(port)
    phase[0] = "copy"
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
        install = _keys_to_install(s, bundle_dir, manifest, keys)  # before anything is written
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
        todo = sum(not ht for ht in have_t)
        if progress:
            progress(0, todo, None)
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
                progress(copied + on_board, todo, "%s %s" % ("copied on the board" if ha else "sent", f["path"]))
        if (Path(bundle_dir) / SIGNATURE).exists():
            s.board.write_file(base + "/" + SIGNATURE, (Path(bundle_dir) / SIGNATURE).read_bytes())
        else:
            s.exec("_rm(%r)" % (base + "/" + SIGNATURE))
        s.board.write_file(base + "/" + MANIFEST, (Path(bundle_dir) / MANIFEST).read_bytes())
        install_boot_hook(s.board)
        if install:
            s.exec("_mkdirs(%r)" % KEYS)
            for name, key in install:
                s.board.write_file("%s/%s.key" % (KEYS, name), (key.hex() + "\n").encode())
        s.close()
        # health check from the new slot in a fresh interpreter, before switching
        health = run_health(s.port, target, manifest, health_timeout)
        if not health["ok"]:
            raise DeployError("health check failed on %s (%s); the board stays on slot %s"
                              % (s.port, health["summary"], active or "none"))
        s = Session(s.port, soft_reset=False)
        phase[0] = "switch"
        refused = s.eval("_switch(%r)" % target, timeout=120)  # it hashes every file of the slot
        s.close()
        if refused:
            raise DeployError("the board refused to switch to the new slot: %s; it stays on slot %s"
                              % (refused, active or "none"))
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


def _keys_to_install(s, bundle_dir, manifest, keys):
    """[(file name, key)] the board needs from this deploy: the model keys it lacks (an error if they were not
    given) and the fleet key (on a board without one, or beside one the user proved with rotate_from). A bundle
    the board's fleet keys will refuse is refused here, before anything is copied."""
    have = set(s.eval("_keys('')"))
    fleet = s.eval("_keys('fleet-')")
    out = []
    for kid in manifest.get("model_keys", []):
        if kid in have:
            continue
        if kid not in keys["model"]:
            raise DeployError("the bundle's models are encrypted with key %s, which the board on %s does not have: "
                              "give its key file with --model-key" % (kid, s.port))
        out.append((kid, keys["model"][kid]))
    sig = load_signature(bundle_dir)
    if keys["sign"] is not None:
        kid = crypt.key_id(keys["sign"])
        if fleet and kid not in fleet:
            old = keys["rotate_from"]
            if old is None or crypt.key_id(old) not in fleet:
                raise DeployError("the board on %s takes bundles signed with fleet key %s; to add key %s, give one of "
                                  "its keys with --rotate-from" % (s.port, ", ".join(fleet), kid))
        if kid not in fleet:
            out.append(("fleet-" + kid, keys["sign"]))
    elif fleet and (sig is None or sig["key_id"] not in fleet):
        raise DeployError("the board on %s takes only bundles signed with its fleet key (%s), and bundle %s is %s"
                          % (s.port, ", ".join(fleet), bundle_dir,
                             "not signed" if sig is None else "signed with key %s" % sig["key_id"]))
    return out


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


STATE = STATE_HELPERS + "print(repr(_state()))\ndel _read, _manifest, _state\n"


def slot_state(board):
    """The A/B state of an open Board, read with one exec (no reset; no helper is left defined on the board):
    {'active': 'a', 'b' or None when no bundle is deployed, 'version' and 'bundle' (id) of the active slot's
    bundle, 'slots': {slot: its manifest's id, version, board, arch, model_keys, or None}}."""
    import ast

    st = ast.literal_eval(board.exec(STATE, timeout=30).decode().strip())
    active = st["active"] if st["active"] in SLOTS else ""
    cur = st["slots"].get(active) if active else None
    return {"active": active or None, "version": cur and cur["version"], "bundle": cur and cur["id"],
            "slots": st["slots"]}


def status(port):
    from hyperion_host.device import devslot

    port = resolve_port(port)
    with Board(port) as b:
        st = slot_state(b)
        ident = b.identify()
        dev = devslot.describe(b)
    return {"port": port, "arch": ident["arch"], **st, "dev": dev}


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
        refused = s.eval("_switch(%r)" % prev, timeout=120)
        if refused:
            raise DeployError("the board refused to roll back to slot %s: %s" % (prev, refused))
    finally:
        s.close()
    booted = verify_boot(s.port)
    if "%s/%s/" % (ROOT, prev) not in booted:
        raise DeployError("after rollback, the board booted %s instead of slot %s" % (booted, prev))
    return {"port": s.port, "slot": prev, "previous": active, "version": st["slots"][prev]["version"]}


KEYS_STATE = """
def _sig_id(s):
    try:
        return json.loads(_read('%(root)s/' + s + '/manifest.sig') or 'null').get('key_id')
    except (ValueError, AttributeError):
        return None
print(repr({'model': _keys(''), 'fleet': _keys('fleet-'), 'state': _state(),
            'signed': {s: _sig_id(s) for s in ('a', 'b')}}))
""" % {"root": ROOT}


def board_keys(port):
    """The keys on a board (ids only: a key never leaves the board) and which slot uses each."""
    import ast

    s = Session(port, soft_reset=False)
    try:
        r = ast.literal_eval(s.exec(KEYS_STATE, timeout=30).decode().strip())
    finally:
        s.close()
    slots = r["state"]["slots"]
    used = {}
    for slot in SLOTS:
        for kid in (slots.get(slot) or {}).get("model_keys", []):
            used.setdefault(kid, []).append(slot)
        if slots.get(slot) and r["signed"].get(slot):
            used.setdefault("fleet-" + r["signed"][slot], []).append(slot)
    keys = [{"id": kid, "kind": "model", "slots": used.get(kid, [])} for kid in sorted(r["model"])]
    keys += [{"id": kid, "kind": "fleet", "slots": used.get("fleet-" + kid, [])} for kid in sorted(r["fleet"])]
    return {"port": s.port, "keys": keys}


def prune_keys(port):
    """Remove the keys no slot uses (after a rotation). A fleet key goes only when another one signs a slot: a
    board never loses its last fleet key, which would let it take unsigned bundles again."""
    info = board_keys(port)
    fleet_used = any(k["slots"] for k in info["keys"] if k["kind"] == "fleet")
    gone = [k for k in info["keys"] if not k["slots"] and (k["kind"] == "model" or fleet_used)]
    if gone:
        s = Session(port, soft_reset=False)
        try:
            for k in gone:
                name = k["id"] if k["kind"] == "model" else "fleet-" + k["id"]
                s.exec("_rm(%r)" % ("%s/%s.key" % (KEYS, name)))
        finally:
            s.close()
    return {"port": info["port"], "removed": gone, "kept": [k for k in info["keys"] if k not in gone]}
