"""What the Ray engine's relay replicas share (docs/scale.md): the hub, one actor for the app that holds the keys
file, the rate-limit windows, the audit log, every replica's monitoring figures, the alerts and the autoscaler's
decisions; and the replica-side pieces that reach it (a limiter, an audit buffer, the keys, the per-second sync)."""

import asyncio
import json
import threading
import time
from collections import deque

from hyperion_host.errors import HyperionError
from hyperion_host.relay.auth import KeyStore, audit_time

NAMESPACE = "hyperion"
HUB = "hyperion_hub"
STALE = 10.0  # seconds after which a replica's monitoring export no longer counts (it has gone)


class Hub:
    """One actor for the whole app. Its methods are coroutines that never await, so each runs whole on the
    actor's one event loop (the rate-limit windows and the audit file need no further locking), and calls run
    in the order they arrive: an ordered actor waits for every earlier call of a caller, and a call lost in
    flight (a request cancelled as its client went away) would hold up that replica's next ones for 30 s."""

    def __init__(self, cfg_json):
        from hyperion_host.relay.alerts import Alerts
        from hyperion_host.relay.auth import AuditLog, RateLimiter
        from hyperion_host.relay.monitoring import Monitor

        cfg = json.loads(cfg_json)
        self.monitoring = cfg["monitoring"]
        self.alerts = Alerts(self.monitoring["alerts"])
        self.last_alerts = 0.0
        self.generation = 0  # bumped by a monitoring reset; replicas reset when they see it change
        lim = cfg["limits"]
        self.keys = KeyStore(cfg["auth"]["keys_file"])
        self.audit_log = AuditLog(cfg["auth"]["audit_log"])
        self.limits = {"ip": RateLimiter(lim["per_ip"], lim["window"]),
                       "key": RateLimiter(lim["per_key"], lim["window"])}
        self.exports = {}  # replica id -> (time, Monitor.export())
        self.decisions = deque(maxlen=200)
        self.counts = {"up": 0, "down": 0}
        self.own = Monitor(cfg["monitoring"]["log_buffer"], 16)  # the hub's own records: scale events, alerts
        self.own.replica = "hub"
        self.replicas_running = self.replicas_target = self.last_check = None

    async def check(self, kind, subject):
        """0.0 when a request by this subject (an IP or a key id) may go ahead, else seconds to wait."""
        return self.limits[kind].check(subject)

    async def configure(self, limits, monitoring):
        """A replica re-read the config: the reloadable limits and alert settings."""
        self.limits["ip"].configure(limits["per_ip"], limits["window"])
        self.limits["key"].configure(limits["per_key"], limits["window"])
        if monitoring["alerts"] != self.monitoring["alerts"]:
            self.own.alert_active([r.name for r in self.alerts.rules], ())
            self.alerts.update(monitoring["alerts"])
        self.monitoring = monitoring

    async def key_entries(self, known_mtime):
        """(mtime, entries) of the keys file when it changed since known_mtime, else None."""
        try:
            self.keys.reload()
        except HyperionError:
            pass  # a half-written or broken file: the last good keys stay (replicas log nothing new)
        mtime, entries = self.keys.entries()
        return None if mtime == known_mtime else (mtime, entries)

    async def audit(self, records):
        for rec in records:
            self.audit_log.write(**rec)
        self.audit_log.flush()

    async def report(self, replica, export, generation):
        """A replica's monitoring export (every second), made since the reset `generation` it names; an export
        from before the last reset is dropped. Returns the current generation."""
        now = time.monotonic()
        if export is not None and generation == self.generation:
            self.exports[replica] = (now, export)
        for r in [r for r, (t, _) in self.exports.items() if now - t > STALE]:
            del self.exports[r]
        self._check_alerts()
        return self.generation

    def _check_alerts(self):
        """The alert rules on every replica's figures merged, every alert_interval (at most as often as
        replicas report: once a second); webhooks are posted from a thread, so the hub never waits on one."""
        from hyperion_host.relay.alerts import check_alerts, post_webhook
        from hyperion_host.relay.monitoring import merge, snapshot_of

        now = time.time()
        if not self.alerts.rules or now - self.last_alerts < self.monitoring["alert_interval"]:
            return
        self.last_alerts = now
        snap = snapshot_of(merge(self._live() + [self.own.export()]), now)
        url = self.monitoring["webhook"]
        for ev in check_alerts(self.alerts, self.own, snap, now):
            if url:
                threading.Thread(target=asyncio.run, args=(post_webhook(url, ev, self.own.log),), daemon=True).start()

    async def reset(self):
        self.generation += 1
        self.exports.clear()
        self.alerts.clear()
        self.own.reset()
        self.decisions.clear()
        self.counts = {"up": 0, "down": 0}
        return self.generation

    def _live(self):
        """The exports of the replicas that reported lately."""
        now = time.monotonic()
        return [e for t, e in self.exports.values() if now - t <= STALE]

    async def cluster(self):
        """The live replicas' monitoring exports and the hub's own, the autoscaler's view and decisions, and
        the alerts."""
        live = self._live()
        return {"exports": live + [self.own.export()], "replicas": len(live),
                "scale": {"running": self.replicas_running, "target": self.replicas_target, "last": self.last_check,
                          "decisions": list(self.decisions), "counts": dict(self.counts)},
                "alerts": self.alerts.summary()}

    async def scale_tick(self, running, target, decision):
        """The autoscaler's view at each check: replicas running and wanted, and its decision."""
        self.replicas_running, self.replicas_target, self.last_check = running, target, decision
        if decision["action"] != "hold":
            self._scale_event(decision)

    def _scale_event(self, decision):
        self.decisions.append(decision)
        if decision["action"] in self.counts:
            self.counts[decision["action"]] += 1
        self.own.log("info", "scale", **{k: decision[k] for k in ("from", "to", "action", "reason")})
        self.audit_log.write(key="autoscaler", tool="scale", outcome=decision["action"],
                             replicas={"from": decision["from"], "to": decision["to"]}, reason=decision["reason"])
        self.audit_log.flush()

    async def close(self):
        self.audit_log.close()


class HubLimiter:
    """A RateLimiter whose windows live in the hub: check() returns an awaitable."""

    def __init__(self, hub, kind):
        self.hub, self.kind = hub, kind

    async def check(self, subject):
        return await self.hub.check.remote(self.kind, subject)


class HubAudit:
    """Audit lines buffered in the replica and handed to the hub at each sync (every second)."""

    def __init__(self, hub, replica):
        self.hub, self.replica = hub, replica
        self.buf = []

    def write(self, **rec):
        rec["ts"] = audit_time()  # when it happened, not when the hub writes it
        rec["replica"] = self.replica
        self.buf.append(rec)

    def take(self):
        out, self.buf = self.buf, []
        return out

    def flush(self):
        pass  # the sync loop sends; flush() is what AuditLog users call

    def close(self):
        pass


class HubKeys(KeyStore):
    """A KeyStore over the entries the hub last sent (refreshed every second by the sync loop), not a file."""

    def __init__(self, enabled):
        super().__init__(None)
        self._enabled = enabled  # whether the relay has a keys file

    @property
    def enabled(self):
        return self._enabled or bool(self.extra)

    @property
    def mtime(self):
        return self._mtime

    def set(self, mtime, entries):
        self._mtime = mtime
        self._keys = {e["id"]: e for e in entries}

    def reload(self, force=False):
        return False  # the sync loop refreshes from the hub


class Sync:
    """What a replica does every second: pull the keys, push audit lines and its monitoring export, refresh the
    boards' status."""

    def __init__(self, hub, keys, audit, boards, replica):
        self.hub, self.keys, self.audit, self.boards = hub, keys, audit, boards
        self.replica = replica

    async def first(self):
        self.generation = await self.hub.report.remote(self.replica, None, None)
        got = await self.hub.key_entries.remote(None)
        self.keys.set(*(got or (None, [])))
        await self.boards.refresh()

    async def __call__(self, relay):
        got = await self.hub.key_entries.remote(self.keys.mtime)
        if got is not None:
            self.keys.set(*got)
            relay.monitor.log("info", "reloaded", changed=["keys"])
        lines = self.audit.take()
        if lines:
            self.hub.audit.remote(lines)
        gen = await self.hub.report.remote(self.replica, relay.monitor.export(), self.generation)
        if gen != self.generation:  # a monitoring reset, asked of another replica
            self.generation = gen
            relay.monitor.reset()
        try:
            await self.boards.refresh()
        except Exception as e:  # noqa: BLE001 - the board host restarting: keep the last status
            relay.monitor.log("warning", "boards_unreachable", error=str(e)[:200])

    async def cluster(self):
        return await self.hub.cluster.remote()

    def configure(self, cfg):
        self.hub.configure.remote(cfg["limits"], cfg["monitoring"])

    async def reset(self):
        self.generation = await self.hub.reset.remote()
