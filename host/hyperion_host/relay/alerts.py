"""Alert rules on the relay's monitoring: `[[monitoring.alerts]]` tables in the relay config, checked against a
snapshot (Monitor.snapshot()) every `monitoring.alert_interval` seconds. A rule fires after `hits` consecutive
checks over its threshold, then not again before `cooldown` seconds; the relay logs it, counts it in Prometheus,
lists it in /api/monitoring and POSTs it to `monitoring.webhook`. docs/monitoring.md lists the metrics.

Counters have two metrics: NAME_total (since the start or the last reset) and NAME (the change since the previous
check), so `errors gt 0` means "errors in the last interval", not "ever"."""

import re
import time
from collections import deque

from hyperion_host.checks import is_number
from hyperion_host.errors import HyperionError

KEYS = ("name", "metric", "op", "value", "hits", "cooldown", "severity")
REQUIRED = ("name", "metric", "op", "value")
DEFAULTS = {"hits": 1, "cooldown": 60.0, "severity": "warning"}
OPS = {"gt": lambda a, b: a > b, "lt": lambda a, b: a < b, "eq": lambda a, b: a == b}
OP_TEXT = {"gt": ">", "lt": "<", "eq": "=="}
SEVERITIES = ("info", "warning", "critical")
MAX_RULES = 100
HISTORY = 100  # fired events kept for /api/monitoring

# counters: NAME_total and NAME (the change over the last interval); the rest are read as they are
COUNTERS = ("requests", "errors", "rejected", "fallbacks", "tool_calls", "tool_errors")
GAUGES = ("error_rate", "error_rate_total", "requests_per_s", "in_flight", "latency_p50_ms", "latency_p90_ms",
          "latency_p95_ms", "latency_p99_ms", "boards_present", "models_loaded", "clients", "clients.mem_free_min",
          "clients.p95_ms_max")
PER = {  # tool.NAME.FIELD, board.NAME.FIELD, client.ID.FIELD
    "tool": ("calls", "errors", "error_rate", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"),
    "board": ("calls", "errors", "error_rate", "latency_ms", "latency_p95_ms", "peak_heap_bytes"),
    "client": ("local", "remote", "fallback", "failed", "mem_free", "p50_ms", "p95_ms"),
}
PER_COUNTERS = ("calls", "errors", "local", "remote", "fallback", "failed")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def known_metric(m):
    if not isinstance(m, str):
        return False
    if m in GAUGES or m in COUNTERS or (m.endswith("_total") and m[:-6] in COUNTERS):
        return True
    kind, _, rest = m.partition(".")
    name, _, field = rest.rpartition(".")
    fields = PER.get(kind, ())
    return bool(name) and (field in fields or (field.endswith("_total") and field[:-6] in PER_COUNTERS
                                               and field[:-6] in fields))


_CHECKS = {
    "name": (lambda v: isinstance(v, str) and bool(_NAME.match(v)), "1-64 letters, digits or _ . : -"),
    "metric": (known_metric, "a metric such as error_rate, latency_p95_ms, errors, tool.infer.errors or "
                             "clients.mem_free_min (docs/monitoring.md lists them)"),
    "op": (lambda v: v in OPS, "gt, lt or eq"),
    "value": (is_number, "a number"),
    "hits": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1000,
             "a whole number of consecutive checks, 1..1000"),
    "cooldown": (lambda v: is_number(v) and 0 <= v <= 7 * 86400, "a number of seconds, 0..604800"),
    "severity": (lambda v: v in SEVERITIES, "info, warning or critical"),
}


def check_rules(rules, where):
    """Raise a one-line HyperionError naming `where`, the rule's index and key for the first bad rule."""
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise HyperionError("%s: 'monitoring.alerts' must be a list of at most %d [[monitoring.alerts]] tables, "
                            "not %r" % (where, MAX_RULES, rules))
    names = set()
    for i, r in enumerate(rules):
        at = "monitoring.alerts[%d]" % i
        if not isinstance(r, dict):
            raise HyperionError("%s: '%s' must be a table ([[monitoring.alerts]]) with %s, not %r"
                                % (where, at, ", ".join(KEYS), r))
        for k in r:
            if k not in KEYS:
                raise HyperionError("%s: unknown key '%s.%s' (known: %s)" % (where, at, k, ", ".join(KEYS)))
        for k in REQUIRED:
            if k not in r:
                raise HyperionError("%s: '%s' needs '%s' (required: %s)" % (where, at, k, ", ".join(REQUIRED)))
        for k, v in r.items():
            ok, want = _CHECKS[k]
            if not ok(v):
                raise HyperionError("%s: '%s.%s' must be %s, not %r" % (where, at, k, want, v))
        if r["name"] in names:
            raise HyperionError("%s: '%s.name' %r is used by an earlier rule; names must differ"
                                % (where, at, r["name"]))
        names.add(r["name"])
    return True


class Rule:
    __slots__ = KEYS

    def __init__(self, d):
        for k in KEYS:
            setattr(self, k, d.get(k, DEFAULTS.get(k)))

    def key(self):
        return tuple(getattr(self, k) for k in KEYS)

    def to_dict(self):
        return {k: getattr(self, k) for k in KEYS}

    def text(self):
        return "%s %s %g" % (self.metric, OP_TEXT[self.op], self.value)


def _fresh():
    return {"hits": 0, "since": None, "last": None, "fired_at": None, "active": False}


class Alerts:
    """The rules' state: consecutive hits, when each went over, when it last fired; and the fired events."""

    def __init__(self, rules=(), history=HISTORY):
        self.rules = []
        self._state = {}
        self.history = deque(maxlen=history)
        self._prev = None  # (time, counter totals) of the previous check: the window metrics' start
        self.evaluations = 0
        self.resolved = []  # rule names that went back under their threshold at the last check
        self.update(rules)

    def update(self, rules):
        """New rules (a config reload); a rule that kept its name and settings keeps its state."""
        new = [r if isinstance(r, Rule) else Rule(r) for r in rules]
        old = {r.name: r.key() for r in self.rules}
        self._state = {r.name: self._state[r.name] if old.get(r.name) == r.key() else _fresh() for r in new}
        self.rules = new

    def clear(self):
        """Forget fired events, hits and cooldowns (the monitoring was reset)."""
        self.history.clear()
        self._state = {r.name: _fresh() for r in self.rules}
        self._prev = None

    def evaluate(self, snapshot, now=None):
        """Check every rule against a snapshot taken at `now` (time.time()); returns the events that fired."""
        now = time.time() if now is None else now
        values, totals = metric_values(snapshot, self._prev, now)
        self._prev = (now, totals)
        self.evaluations += 1
        fired, self.resolved = [], []
        for r in self.rules:
            st = self._state[r.name]
            v = values.get(r.metric)
            if v is None or not OPS[r.op](v, r.value):  # a metric with no value (no samples yet) never fires
                if st["active"]:
                    self.resolved.append(r.name)
                st.update(hits=0, since=None, active=False)
                continue
            st["hits"] += 1
            st["last"] = v
            if st["since"] is None:
                st["since"] = now
            if st["hits"] < r.hits:
                continue
            st["active"] = True
            if st["fired_at"] is None or now - st["fired_at"] >= r.cooldown:
                st["fired_at"] = now
                ev = {"type": "alert", "rule": r.name, "severity": r.severity, "metric": r.metric, "op": r.op,
                      "threshold": r.value, "value": _round(v), "hits": st["hits"], "since": round(st["since"], 3),
                      "ts": round(now, 3), "text": "%s: now %g (%d check%s in a row)"
                      % (r.text(), _round(v), st["hits"], "s" if st["hits"] > 1 else "")}
                fired.append(ev)
                self.history.append(ev)
        return fired

    def active(self):
        """The rules over their threshold for at least `hits` checks now: since when, and the last value."""
        out = []
        for r in self.rules:
            st = self._state[r.name]
            if st["active"]:
                out.append({"rule": r.name, "severity": r.severity, "metric": r.metric, "op": r.op,
                            "threshold": r.value, "value": _round(st["last"]), "since": round(st["since"], 3),
                            "hits": st["hits"], "fired_at": st["fired_at"] and round(st["fired_at"], 3)})
        return out

    def summary(self, recent=20):
        """The "alerts" part of /api/monitoring."""
        return {"rules": len(self.rules), "evaluations": self.evaluations, "active": self.active(),
                "recent": list(self.history)[-recent:]}


def _round(v):
    return round(v, 6) if isinstance(v, float) else v


def metric_values(snap, prev, now):
    """({metric: number}, {counter: total}) of a snapshot; `prev` is the (time, totals) of the check before
    (None for the first), for the per-interval counters and rates."""
    lat = snap["latency_ms"]
    totals = {"requests": snap["requests"], "errors": snap["errors"], "rejected": sum(snap["rejected"].values()),
              "fallbacks": snap["fallbacks"], "tool_calls": sum(t["calls"] for t in snap["tools"].values()),
              "tool_errors": sum(t["errors"] for t in snap["tools"].values())}
    v = {"in_flight": snap["in_flight"], "boards_present": snap.get("boards_present", 0),
         "models_loaded": snap.get("models_loaded", 0), "clients": len(snap["clients"])}
    for p in (50, 90, 95, 99):
        v["latency_p%d_ms" % p] = lat.get("p%d" % p)
    for name, t in snap["tools"].items():
        totals["tool.%s.calls" % name], totals["tool.%s.errors" % name] = t["calls"], t["errors"]
        for p in (50, 95, 99):
            v["tool.%s.latency_p%d_ms" % (name, p)] = t["latency_ms"].get("p%d" % p)
    for name, b in snap["boards"].items():
        totals["board.%s.calls" % name], totals["board.%s.errors" % name] = b["calls"], b["errors"]
        inf = b.get("infer")
        if inf:
            v["board.%s.latency_ms" % name] = inf["latency_ms"].get("last")
            v["board.%s.latency_p95_ms" % name] = inf["latency_ms"].get("p95")
            v["board.%s.peak_heap_bytes" % name] = inf.get("peak_heap_bytes")
    frees, p95s = [], []
    for cid, c in snap["clients"].items():
        for k in ("local", "remote", "fallback", "failed"):
            if k in c:
                totals["client.%s.%s" % (cid, k)] = c[k]
        for k in ("mem_free", "p50_ms", "p95_ms"):
            v["client.%s.%s" % (cid, k)] = c.get(k)
        if "mem_free" in c:
            frees.append(c["mem_free"])
        if "p95_ms" in c:
            p95s.append(c["p95_ms"])
    v["clients.mem_free_min"] = min(frees) if frees else None
    v["clients.p95_ms_max"] = max(p95s) if p95s else None
    before = prev[1] if prev else {}
    for k, total in totals.items():
        v[k + "_total"] = total
        old = before.get(k, 0)
        v[k] = total - old if total >= old else total  # a counter that went down was reset: count from 0
    dt = (now - prev[0]) if prev else snap.get("since_reset_s", 0)
    v["requests_per_s"] = v["requests"] / dt if dt > 0 else 0.0
    v["error_rate"] = v["errors"] / v["requests"] if v["requests"] else 0.0
    v["error_rate_total"] = snap["errors"] / snap["requests"] if snap["requests"] else 0.0
    for kind in ("tool", "board"):
        for key in [k for k in totals if k.startswith(kind + ".") and k.endswith(".calls")]:
            base = key[:-6]
            calls = v[key]
            v[base + ".error_rate"] = v[base + ".errors"] / calls if calls else 0.0
    return v, totals


async def post_webhook(url, event, log):
    """POST the event as JSON to url (3 s, no redirects followed). Failures are logged, never raised: this runs
    in the relay's task group, where an exception would stop the relay."""
    import httpx

    target = _origin(url)
    try:
        async with httpx.AsyncClient(timeout=3.0, follow_redirects=False) as c:
            r = await c.post(url, json=event)
        if r.status_code >= 300:
            log("warning", "webhook_failed", rule=event.get("rule"), target=target, status=r.status_code)
    except Exception as e:  # noqa: BLE001 - a webhook that is down must not take the relay with it
        log("warning", "webhook_failed", rule=event.get("rule"), target=target,
            error="%s: %s" % (type(e).__name__, str(e)[:200]))


def _origin(url):
    """scheme://host[:port] of a URL: logged instead of the URL, whose path or query may hold a token."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return "%s://%s" % (u.scheme, u.hostname or "") + (":%d" % u.port if u.port else "")


def is_webhook_url(v):
    if v is None:
        return True
    if not isinstance(v, str):
        return False
    from urllib.parse import urlsplit

    try:
        u = urlsplit(v)
        return u.scheme in ("http", "https") and bool(u.hostname) and (u.port is None or u.port > 0)
    except ValueError:
        return False


def check_alerts(alerts, monitor, snap, now=None):
    """Evaluate `alerts` on a snapshot and record what fired and resolved in `monitor` (its log, counters and
    active gauge). Returns the fired events. The relay runs it on its own figures; the Ray engine's hub on
    every replica's, merged."""
    fired = alerts.evaluate(snap, now)
    for ev in fired:
        ev["replica"] = monitor.replica
        monitor.alert(ev)
        monitor.log(ev["severity"], "alert", **{k: ev[k] for k in ("rule", "metric", "op", "threshold", "value",
                                                                    "hits", "text")})
    for name in alerts.resolved:
        monitor.log("info", "alert_resolved", rule=name)
    monitor.alert_active([r.name for r in alerts.rules], [a["rule"] for a in alerts.active()])
    return fired
