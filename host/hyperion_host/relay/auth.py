"""API keys, roles, rate limits and the audit log.

Keys look like `hyk_<id>_<secret>`. The keys file holds, per key, its id, name, role, a random salt and
sha256(salt + key); never the key itself. A presented key is checked by recomputing that hash and comparing
with hmac.compare_digest (an unknown id is compared against a dummy entry, so the time taken does not tell
whether an id exists). Roles are ordered: viewer < operator < admin."""

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import deque

from hyperion_host.errors import HyperionError
from hyperion_host.relay.config import ROLES

ROLE_LEVEL = {r: i for i, r in enumerate(ROLES)}
KEY_PREFIX = "hyk_"

# What each MCP tool needs. Methods other than tools/call (initialize, tools/list, ping, ...) need viewer.
TOOL_ROLES = {
    "list_models": "viewer", "model_info": "viewer", "board_list": "viewer", "board_status": "operator",
    "infer": "operator", "generate": "operator", "model_profile": "operator",
    "board_exec": "admin", "board_script": "admin", "board_infer": "admin", "board_files": "admin",
    "board_rollback": "admin",
}


def role_for_tool(name):
    return TOOL_ROLES.get(name, "viewer")


def allows(role, needed):
    return ROLE_LEVEL.get(role, -1) >= ROLE_LEVEL[needed]


class Identity:
    """Who made a request: a key's id, name and role (or the trusted local caller: stdio, in-process)."""

    __slots__ = ("key_id", "name", "role", "ip")

    def __init__(self, key_id, name, role, ip=None):
        self.key_id = key_id
        self.name = name
        self.role = role
        self.ip = ip


LOCAL = Identity("local", "local", "admin")


def _hash(salt, key):
    return hashlib.sha256(salt + key.encode()).digest()


class KeyStore:
    """The keys file, re-read when it changes on disk. Thread-safe for readers."""

    def __init__(self, path):
        self.path = str(path) if path else None
        self._keys = {}
        self._mtime = None
        self._dummy = (os.urandom(16), os.urandom(32))
        self.extra = {}  # id -> entry: keys that live only in memory (the serial bridge's own key)
        if self.path:
            self.reload(force=True)

    @property
    def enabled(self):
        return self.path is not None or bool(self.extra)

    def reload(self, force=False):
        """Re-read the file if it changed. Returns True if it was re-read."""
        if not self.path:
            return False
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            if force:
                raise HyperionError("no keys file at %s; create one with `hyperion-host serve keys add NAME "
                                    "--role operator --keys-file %s`" % (self.path, self.path)) from None
            return False
        if not force and mtime == self._mtime:
            return False
        self._keys = {e["id"]: e for e in read_keys(self.path)}
        self._mtime = mtime
        return True

    def entries(self):
        """(mtime, entries) of the keys file as last read (what the Ray engine's hub hands its replicas)."""
        return self._mtime, list(self._keys.values())

    def verify(self, key):
        """The Identity for a presented key, or None."""
        if not key:
            return None
        kid = key[len(KEY_PREFIX):].split("_", 1)[0] if key.startswith(KEY_PREFIX) else ""
        e = self._keys.get(kid) or self.extra.get(kid)
        salt, want = (bytes.fromhex(e["salt"]), bytes.fromhex(e["sha256"])) if e else self._dummy
        ok = hmac.compare_digest(_hash(salt, key), want)
        if e is None or not ok:
            return None
        return Identity(e["id"], e.get("name", e["id"]), e["role"])

    def add_memory_key(self, name, role):
        """A key that is not written anywhere (used by the serial bridge inside the relay process)."""
        key, entry = new_key(name, role)
        self.extra[entry["id"]] = entry
        return key


def new_key(name, role):
    if role not in ROLES:
        raise HyperionError("unknown role '%s' (roles: %s)" % (role, ", ".join(ROLES)))
    kid = secrets.token_hex(4)
    key = KEY_PREFIX + kid + "_" + secrets.token_urlsafe(24)
    salt = os.urandom(16)
    entry = {"id": kid, "name": name, "role": role, "salt": salt.hex(), "sha256": _hash(salt, key).hex(),
             "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return key, entry


def read_keys(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise HyperionError("cannot read the keys file %s: %s" % (path, e.strerror or e)) from None
    except ValueError:
        raise HyperionError("the keys file %s is not valid JSON; recreate it with `hyperion-host serve keys add`"
                            % path) from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise HyperionError("the keys file %s must hold {\"keys\": [...]}" % path)
    for i, e in enumerate(keys):
        if not (isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("id", "role", "salt", "sha256"))):
            raise HyperionError("the keys file %s: entry %d needs id, role, salt and sha256 strings" % (path, i))
        if e["role"] not in ROLES:
            raise HyperionError("the keys file %s: key '%s' has unknown role '%s' (roles: %s)"
                                % (path, e["id"], e["role"], ", ".join(ROLES)))
    return keys


def _write_keys(path, keys):
    from hyperion_host.files import write_atomic

    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    write_atomic(path, (json.dumps({"version": 1, "keys": keys}, indent=2) + "\n").encode())
    os.chmod(path, 0o600)


def add_key(path, name, role):
    """Create a key, store its salted hash in the keys file. Returns (key, entry): show the key once."""
    keys = read_keys(path) if os.path.exists(path) else []
    if any(e.get("name") == name for e in keys):
        raise HyperionError("a key named '%s' exists in %s; remove it first or pick another name" % (name, path))
    key, entry = new_key(name, role)
    keys.append(entry)
    _write_keys(path, keys)
    return key, entry


def remove_key(path, name_or_id):
    keys = read_keys(path)
    left = [e for e in keys if name_or_id not in (e["id"], e.get("name"))]
    if len(left) == len(keys):
        raise HyperionError("no key named '%s' in %s" % (name_or_id, path))
    _write_keys(path, left)
    return len(keys) - len(left)


class RateLimiter:
    """Sliding-window log: at most `limit` requests in any `window` seconds per subject (key id or IP).
    check() returns 0 when allowed (and records the request), else the seconds until one is allowed."""

    def __init__(self, limit, window):
        self.limit = limit
        self.window = float(window)
        self._log = {}
        self._lock = threading.Lock()
        self._sweep = time.monotonic()

    def configure(self, limit, window):
        with self._lock:
            self.limit = limit
            self.window = float(window)

    def check(self, subject, now=None):
        if not self.limit:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._log.get(subject)
            if q is None:
                q = self._log[subject] = deque()
            edge = now - self.window
            while q and q[0] <= edge:
                q.popleft()
            if len(q) >= self.limit:
                return max(q[len(q) - self.limit] + self.window - now, 0.001)
            q.append(now)
            if now - self._sweep > self.window:  # forget idle subjects now and then
                self._sweep = now
                for s in [s for s, d in self._log.items() if not d or d[-1] <= edge]:
                    del self._log[s]
            return 0.0


def audit_time(now=None):
    """An audit record's "ts": UTC with milliseconds."""
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (now * 1000 % 1000)


class AuditLog:
    """JSON lines, one per tool call or refused request: time, key id, ip, tool, outcome. Lines are buffered
    and written at least every `FLUSH` seconds (the relay's watcher calls flush()), and at shutdown."""

    FLUSH = 1.0

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._f = None
        self._last = time.monotonic()
        if path:
            d = os.path.dirname(os.path.abspath(path))
            os.makedirs(d, exist_ok=True)
            self._f = open(path, "ab", buffering=65536)

    def write(self, **rec):
        if self._f is None:
            return
        rec = {"ts": audit_time(), **rec}  # a record stamped where it happened (ray_hub.HubAudit) keeps its time
        line = json.dumps(rec, separators=(",", ":"), default=str).encode() + b"\n"
        with self._lock:
            self._f.write(line)
            if time.monotonic() - self._last > self.FLUSH:
                self._flush()

    def _flush(self):
        self._last = time.monotonic()
        self._f.flush()

    def flush(self):
        if self._f is not None:
            with self._lock:
                self._flush()

    def close(self):
        if self._f is not None:
            self.flush()
            self._f.close()
            self._f = None
