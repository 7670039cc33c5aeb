"""Counters, latency percentiles and recent structured logs for /api/monitoring, plus Prometheus metrics for
/metrics (a registry per relay, so several relays in one process do not share counters).

Figures are per process: with `--workers N` each worker counts its own requests. `Monitor.export()` gives them
as plain JSON (counters and raw latency samples), `merge()` adds several exports into one (replicas of one
relay), and `snapshot_of()` / `prometheus_of()` render an export: one code path for one process and many."""

import math
import os
import threading
import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from hyperion_host.checks import is_int, is_number

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
QUANTILES = (50, 90, 95, 99)
TOOL_WINDOW = 1024  # latency samples kept per tool
BOARD_WINDOW = 256  # board-side latencies kept per board (board_infer)
MAX_CLIENTS = 1000  # board clients remembered (their ids come from the network)
COUNTS = ("local", "remote", "fallback", "failed")  # a board client's decisions (hybrid.Runtime.counts)
IN_FLIGHT_HELP = "Requests and WebSocket sessions being served now"


def percentiles(values, ps=QUANTILES):
    """{"p50": ms, ...} of samples in seconds (nearest rank); None each when there are none."""
    if not values:
        return {"p%d" % p: None for p in ps}
    s = sorted(values)
    n = len(s)
    return {"p%d" % p: round(s[min(n - 1, max(0, math.ceil(p * n / 100.0) - 1))] * 1000, 3) for p in ps}


class Monitor:
    def __init__(self, log_buffer=200, latency_window=4096, replica=None):
        self.replica = replica or "pid-%d" % os.getpid()
        self.started = time.time()
        self.log_buffer = log_buffer
        self.latency_window = latency_window
        self.in_flight = 0  # requests and WebSocket sessions being served (the guard counts them)
        self.alerts_active = []  # the alert rules over their threshold now (live state: reset() keeps it)
        self._lock = threading.Lock()
        self._clear()
        r = self.registry = CollectorRegistry()
        self.m_requests = Counter("hyperion_relay_requests", "HTTP requests", ["route", "status"], registry=r)
        self.m_latency = Histogram("hyperion_relay_request_seconds", "HTTP request latency", ["route"],
                                   buckets=BUCKETS, registry=r)
        self.m_tools = Counter("hyperion_relay_tool_calls", "MCP tool calls", ["tool", "outcome"], registry=r)
        self.m_boards = Counter("hyperion_relay_board_calls", "Board tool calls", ["board", "outcome"], registry=r)
        self.m_fallbacks = Gauge("hyperion_relay_client_fallbacks", "Local fallbacks reported by board clients",
                                 registry=r)
        self.m_rejected = Counter("hyperion_relay_rejected", "Requests refused", ["reason"], registry=r)
        self.m_models = Gauge("hyperion_relay_models_loaded", "Models loaded", registry=r)
        self.m_boards_up = Gauge("hyperion_relay_boards_present", "Boards whose device is present", registry=r)
        # read at scrape time, so the guard's hot path only adds and subtracts an int
        Gauge("hyperion_relay_in_flight", IN_FLIGHT_HELP, registry=r).set_function(lambda: self.in_flight)
        self.m_alerts = Counter("hyperion_relay_alerts_fired", "Alerts fired", ["rule"], registry=r)
        self.m_alert_active = Gauge("hyperion_relay_alert_active", "1 while an alert rule is over its threshold",
                                    ["rule"], registry=r)
        r.register(_LatencyCollector(self))
        self._children = {}

    def _clear(self):
        self.since = time.time()
        self.requests = 0
        self.errors = 0
        self.by = {}  # route -> {status: requests}
        self.latency = deque(maxlen=self.latency_window)
        self.tools = {}  # name -> {"calls", "errors", "latency": deque}
        self.boards = {}  # name -> {"calls", "errors"} (+ "infer": board-side figures from board_infer)
        self.fallbacks = 0
        self.clients = {}  # board client id -> its last report (counts, mem_free, latency, kernels, ts)
        self.rejects = {}  # reason -> requests refused
        self.alerts_fired = {}  # rule -> times fired
        self.logs = deque(maxlen=self.log_buffer)

    def _child(self, metric, *labels):
        k = (id(metric), labels)
        c = self._children.get(k)
        if c is None:
            c = self._children[k] = metric.labels(*labels)
        return c

    # -- recording ---------------------------------------------------------------------------------------
    def request(self, route, status, seconds):
        with self._lock:
            self.requests += 1
            if status >= 400:
                self.errors += 1
            d = self.by.get(route)
            if d is None:
                d = self.by[route] = {}
            d[status] = d.get(status, 0) + 1
            if seconds is not None:
                self.latency.append(seconds)
        self._child(self.m_requests, route, str(status)).inc()
        if seconds is not None:
            self._child(self.m_latency, route).observe(seconds)

    def tool(self, name, ok, seconds, board=None):
        with self._lock:
            t = self.tools.get(name)
            if t is None:
                t = self.tools[name] = {"calls": 0, "errors": 0, "latency": deque(maxlen=TOOL_WINDOW)}
            t["calls"] += 1
            if not ok:
                t["errors"] += 1
            t["latency"].append(seconds)
            if board is not None:
                b = self._board(board)
                b["calls"] += 1
                if not ok:
                    b["errors"] += 1
        outcome = "ok" if ok else "error"
        self._child(self.m_tools, name, outcome).inc()
        if board is not None:
            self._child(self.m_boards, board, outcome).inc()

    def _board(self, name):
        b = self.boards.get(name)
        if b is None:
            b = self.boards[name] = {"calls": 0, "errors": 0}
        return b

    def board_stats(self, board, model, stats):
        """What a board_infer run reported (device/infer.py): its latency on the board, peak heap, kernel paths."""
        if not isinstance(stats, dict):
            return
        kernels = {}
        for k in stats.get("kernels") or ():
            if isinstance(k, str):
                kernels[k[:16]] = kernels.get(k[:16], 0) + 1
        us, peak = stats.get("latency_us"), stats.get("peak_heap_bytes")
        with self._lock:
            b = self._board(board)
            inf = b.get("infer")
            if inf is None:
                inf = b["infer"] = {"runs": 0, "latency": deque(maxlen=BOARD_WINDOW), "peak_heap_max": 0}
            inf["runs"] += 1
            if is_number(us):
                inf["latency"].append(us / 1e6)
            if is_number(peak):
                inf["peak_heap_bytes"] = int(peak)
                inf["peak_heap_max"] = max(inf["peak_heap_max"], int(peak))
            inf.update(model=str(model)[:64], kernels=kernels, mode=str(stats.get("mode"))[:16], ts=time.time())

    def rejected(self, reason):
        with self._lock:
            self.rejects[reason] = self.rejects.get(reason, 0) + 1
        self._child(self.m_rejected, reason).inc()

    def client_report(self, client_id, report):
        """A board client's report (sent in a request's _meta, so untrusted): its local/remote/fallback/failed
        counts, free heap, local latency percentiles and kernel path. Bad fields are dropped, sizes bounded."""
        if not isinstance(report, dict) or not isinstance(client_id, str) or not client_id:
            return
        clean = {k: report[k] for k in COUNTS if is_int(report.get(k)) and 0 <= report[k] < 2 ** 53}
        for k in ("mem_free", "runs"):
            if is_int(report.get(k)) and 0 <= report[k] < 2 ** 53:
                clean[k] = report[k]
        for k in ("p50_ms", "p95_ms"):
            if is_number(report.get(k)) and 0 <= report[k] < 1e9:
                clean[k] = round(float(report[k]), 3)
        kern = report.get("kernels")
        if isinstance(kern, str) and kern.replace("+", "").isalnum() and len(kern) <= 32:
            clean["kernels"] = kern
        clean["ts"] = round(time.time(), 3)
        with self._lock:
            self.clients.pop(client_id[:64], None)  # re-inserted last: the oldest reporter goes first
            self.clients[client_id[:64]] = clean
            if len(self.clients) > MAX_CLIENTS:
                self.clients.pop(next(iter(self.clients)))
            self.fallbacks = sum(c.get("fallback", 0) for c in self.clients.values())
        self.m_fallbacks.set(self.fallbacks)

    def alert(self, event):
        """An alert fired (alerts.Alerts.evaluate): counted here and in Prometheus."""
        rule = event["rule"]
        with self._lock:
            self.alerts_fired[rule] = self.alerts_fired.get(rule, 0) + 1
        self._child(self.m_alerts, rule).inc()

    def alert_active(self, rules, names):
        """The active gauge: 1 for the rules in `names`, 0 for the other configured `rules`."""
        self.alerts_active = sorted(names)
        for r in rules:
            self._child(self.m_alert_active, r).set(1 if r in names else 0)

    def log(self, level, event, **fields):
        rec = {"ts": round(time.time(), 3), "level": level, "event": event}
        rec.update(fields)
        self.logs.append(rec)

    def reset(self):
        """Forget counters, latency samples, board and client figures and logs. The Prometheus counters go on:
        they must only grow (a scraper takes a drop for a restart)."""
        with self._lock:
            self._clear()
        self.m_fallbacks.set(0)

    # -- reading -----------------------------------------------------------------------------------------
    def export(self):
        """Everything this monitor knows as plain JSON: counters, raw latency samples (seconds), logs."""
        with self._lock:
            boards = {}
            for n, b in self.boards.items():
                boards[n] = {"calls": b["calls"], "errors": b["errors"]}
                if "infer" in b:
                    boards[n]["infer"] = dict(b["infer"], latency=list(b["infer"]["latency"]),
                                              kernels=dict(b["infer"]["kernels"]))
            e = {
                "version": 1, "replica": self.replica, "replicas": [self.replica], "started": self.started,
                "since": self.since, "ts": time.time(), "latency_window": self.latency_window,
                "log_buffer": self.log_buffer, "requests": self.requests, "errors": self.errors,
                "requests_by": [[r, s, n] for r, d in self.by.items() for s, n in d.items()],
                "latency": list(self.latency),
                "tools": {n: {"calls": t["calls"], "errors": t["errors"], "latency": list(t["latency"])}
                          for n, t in self.tools.items()},
                "boards": boards, "clients": {k: dict(v) for k, v in self.clients.items()},
                "fallbacks": self.fallbacks, "rejected": dict(self.rejects), "alerts_fired": dict(self.alerts_fired),
                "alerts_active": list(self.alerts_active), "in_flight": self.in_flight, "logs": list(self.logs),
            }
        e["models_loaded"] = _gauge(self.m_models)
        e["boards_present"] = _gauge(self.m_boards_up)
        return e

    def snapshot(self):
        return snapshot_of(self.export())

    def latency_samples(self):
        """A copy of the rolling request latencies (seconds), taken under the lock."""
        with self._lock:
            return list(self.latency)

    def prometheus(self):
        return generate_latest(self.registry)


class _LatencyCollector:
    """hyperion_relay_latency_ms{quantile} from the monitor's rolling samples, computed at scrape time."""

    def __init__(self, monitor):
        self.monitor = monitor

    def collect(self):
        yield _latency_family(self.monitor.latency_samples())


def _latency_family(samples):
    g = GaugeMetricFamily("hyperion_relay_latency_ms", "Request latency percentiles over the last requests",
                          labels=["quantile"])
    for p, v in zip(QUANTILES, percentiles(samples).values()):
        if v is not None:
            g.add_metric(["%g" % (p / 100)], v)
    return g


def _gauge(g):
    """An unlabelled gauge's value (set by the relay: models loaded, boards present)."""
    return int(g.collect()[0].samples[0].value)


# -- exports: merged, rendered ---------------------------------------------------------------------------------

def merge(exports):
    """One export from several (replicas of one relay): counts and in_flight summed, latency samples joined
    (each export keeps its share of the window, its newest samples), logs by time keeping the newest, board
    clients by their newest report (a board that spoke to two replicas is counted once)."""
    exports = list(exports)
    if not exports:
        raise ValueError("merge() needs at least one export")
    window = max(e["latency_window"] for e in exports)
    m = {"version": 1, "replica": "merged", "replicas": [r for e in exports for r in e["replicas"]],
         "started": min(e["started"] for e in exports), "since": min(e["since"] for e in exports),
         "ts": max(e["ts"] for e in exports), "latency_window": window,
         "log_buffer": max(e["log_buffer"] for e in exports)}
    for k in ("requests", "errors", "in_flight"):
        m[k] = sum(e[k] for e in exports)
    for k in ("models_loaded", "boards_present"):  # each replica serves the same models and boards
        m[k] = max(e.get(k, 0) for e in exports)
    by = {}
    for e in exports:
        for r, s, n in e["requests_by"]:
            by[(r, s)] = by.get((r, s), 0) + n
    m["requests_by"] = [[r, s, n] for (r, s), n in by.items()]
    m["latency"] = _join([e["latency"] for e in exports], window)
    m["rejected"] = _sum_dicts(e["rejected"] for e in exports)
    m["alerts_fired"] = _sum_dicts(e["alerts_fired"] for e in exports)
    m["alerts_active"] = sorted({r for e in exports for r in e.get("alerts_active", ())})
    m["tools"] = {}
    for name in {n for e in exports for n in e["tools"]}:
        ts = [e["tools"][name] for e in exports if name in e["tools"]]
        m["tools"][name] = {"calls": sum(t["calls"] for t in ts), "errors": sum(t["errors"] for t in ts),
                            "latency": _join([t["latency"] for t in ts], TOOL_WINDOW)}
    m["boards"] = {}
    for name in {n for e in exports for n in e["boards"]}:
        bs = [e["boards"][name] for e in exports if name in e["boards"]]
        b = m["boards"][name] = {"calls": sum(x["calls"] for x in bs), "errors": sum(x["errors"] for x in bs)}
        infs = sorted((x["infer"] for x in bs if "infer" in x), key=lambda i: i["ts"])
        if infs:
            b["infer"] = dict(infs[-1], runs=sum(i["runs"] for i in infs),
                              latency=_join([i["latency"] for i in infs], BOARD_WINDOW),
                              peak_heap_max=max(i["peak_heap_max"] for i in infs))
    m["clients"] = {}
    for e in sorted(exports, key=lambda e: e["ts"]):
        for cid, c in e["clients"].items():
            if cid not in m["clients"] or c.get("ts", 0) >= m["clients"][cid].get("ts", 0):
                m["clients"][cid] = c
    m["fallbacks"] = sum(c.get("fallback", 0) for c in m["clients"].values())
    logs = sorted((r for e in exports for r in e["logs"]), key=lambda r: r["ts"])
    m["logs"] = logs[-m["log_buffer"]:]
    return m


def _join(lists, cap):
    """The samples of several windows in one of at most cap: each list keeps its share, its newest ones."""
    total = sum(len(x) for x in lists)
    if total <= cap:
        return [v for x in lists for v in x]
    out = []
    for x in lists:
        keep = round(cap * len(x) / total)
        out.extend(x[len(x) - keep:] if keep else [])
    return out[-cap:]


def _sum_dicts(dicts):
    out = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


def snapshot_of(e, now=None):
    """The /api/monitoring view of an export (one process's or merged)."""
    now = time.time() if now is None else now
    by_status, by_route = {}, {}
    for route, status, n in e["requests_by"]:
        by_status[status] = by_status.get(status, 0) + n
        by_route[route] = by_route.get(route, 0) + n
    boards = {}
    for name, b in e["boards"].items():
        boards[name] = {"calls": b["calls"], "errors": b["errors"]}
        inf = b.get("infer")
        if inf:
            boards[name]["infer"] = {
                "runs": inf["runs"], "model": inf.get("model"), "mode": inf.get("mode"),
                "latency_ms": dict(percentiles(inf["latency"], (50, 95)), last=_ms(inf["latency"][-1:])),
                "peak_heap_bytes": inf.get("peak_heap_bytes"), "peak_heap_max": inf["peak_heap_max"],
                "kernels": inf.get("kernels", {})}
    return {
        "replica": e["replica"],
        "replicas": list(e["replicas"]),
        "uptime_s": round(now - e["started"], 1),
        "since_reset_s": round(now - e["since"], 1),
        "requests": e["requests"],
        "errors": e["errors"],
        "in_flight": e["in_flight"],
        "by_status": {str(k): v for k, v in sorted(by_status.items())},
        "by_route": by_route,
        "latency_ms": dict(percentiles(e["latency"]), samples=len(e["latency"])),
        "tools": {n: {"calls": t["calls"], "errors": t["errors"], "latency_ms": percentiles(t["latency"])}
                  for n, t in e["tools"].items()},
        "boards": boards,
        "fallbacks": e["fallbacks"],
        "clients": {k: dict(v) for k, v in e["clients"].items()},
        "rejected": dict(e["rejected"]),
        "alerts_fired": dict(e["alerts_fired"]),
        "alerts_active": list(e.get("alerts_active", ())),
        "models_loaded": e.get("models_loaded", 0),
        "boards_present": e.get("boards_present", 0),
        "logs": list(e["logs"]),
    }


def _ms(samples):
    return round(samples[0] * 1000, 3) if samples else None


def prometheus_of(e):
    """Prometheus text exposition (bytes) of an export, e.g. a merge() of replicas: counters from its counts,
    latency as the gauge hyperion_relay_latency_ms{quantile} (the raw samples have no histogram buckets)."""
    registry = CollectorRegistry()
    registry.register(_ExportCollector(e))
    return generate_latest(registry)


class _ExportCollector:
    def __init__(self, export):
        self.e = export

    def collect(self):
        e = self.e
        c = CounterMetricFamily("hyperion_relay_requests", "HTTP requests", labels=["route", "status"])
        for r, s, n in e["requests_by"]:
            c.add_metric([r, str(s)], n)
        yield c
        yield _outcomes("hyperion_relay_tool_calls", "MCP tool calls", "tool", e["tools"])
        yield _outcomes("hyperion_relay_board_calls", "Board tool calls", "board", e["boards"])
        yield _labelled(CounterMetricFamily, "hyperion_relay_rejected", "Requests refused", "reason", e["rejected"])
        yield _labelled(CounterMetricFamily, "hyperion_relay_alerts_fired", "Alerts fired", "rule", e["alerts_fired"])
        for name, doc, v in (("hyperion_relay_in_flight", IN_FLIGHT_HELP, e["in_flight"]),
                             ("hyperion_relay_client_fallbacks", "Local fallbacks reported by board clients",
                              e["fallbacks"]),
                             ("hyperion_relay_models_loaded", "Models loaded", e.get("models_loaded", 0)),
                             ("hyperion_relay_boards_present", "Boards whose device is present",
                              e.get("boards_present", 0)),
                             ("hyperion_relay_replicas", "Monitoring exports merged here", len(e["replicas"]))):
            yield GaugeMetricFamily(name, doc, value=v)
        active = {r: 1 for r in e.get("alerts_active", ())}
        if active:
            yield _labelled(GaugeMetricFamily, "hyperion_relay_alert_active", "1 while an alert rule is over its "
                            "threshold", "rule", active)
        yield _latency_family(e["latency"])


def _outcomes(name, doc, label, items):
    c = CounterMetricFamily(name, doc, labels=[label, "outcome"])
    for n, t in items.items():
        c.add_metric([n, "ok"], t["calls"] - t["errors"])
        c.add_metric([n, "error"], t["errors"])
    return c


def _labelled(cls, name, doc, label, values):
    m = cls(name, doc, labels=[label])
    for k, v in values.items():
        m.add_metric([k], v)
    return m


def prometheus_scale(scale):
    """The Ray engine's autoscaler figures for /metrics: decisions by action, replicas running and wanted."""
    r = CollectorRegistry()
    c = Counter("hyperion_relay_scale_decisions", "Replica count changes by the autoscaler", ["action"], registry=r)
    for action, n in scale["counts"].items():
        c.labels(action).inc(n)
    for name, key, doc in (("hyperion_relay_replicas_running", "running", "Relay replicas running"),
                           ("hyperion_relay_replicas_wanted", "target", "Relay replicas the autoscaler wants")):
        if scale.get(key) is not None:
            Gauge(name, doc, registry=r).set(scale[key])
    return generate_latest(r)
