"""Counters, latency percentiles and recent structured logs for /api/monitoring, plus Prometheus metrics for
/metrics (a registry per relay, so several relays in one process do not share counters).

Figures are per process: with `--workers N` each worker counts its own requests."""

import math
import threading
import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def percentiles(values, ps=(50, 90, 95, 99)):
    if not values:
        return {"p%d" % p: None for p in ps}
    s = sorted(values)
    n = len(s)
    return {"p%d" % p: round(s[min(n - 1, max(0, math.ceil(p * n / 100.0) - 1))] * 1000, 3) for p in ps}


class Monitor:
    def __init__(self, log_buffer=200, latency_window=4096):
        self.started = time.time()
        self._lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self.by_status = {}
        self.by_route = {}
        self.latency = deque(maxlen=latency_window)
        self.tools = {}  # name -> {"calls", "errors", "latency": deque}
        self.boards = {}  # name -> {"calls", "errors"}
        self.fallbacks = 0
        self.clients = {}  # board client id -> its last reported {"local", "remote", "fallback"}
        self.logs = deque(maxlen=log_buffer)
        self.latency_window = latency_window
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
        self._children = {}

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
            self.by_status[status] = self.by_status.get(status, 0) + 1
            self.by_route[route] = self.by_route.get(route, 0) + 1
            if seconds is not None:
                self.latency.append(seconds)
        self._child(self.m_requests, route, str(status)).inc()
        if seconds is not None:
            self._child(self.m_latency, route).observe(seconds)

    def tool(self, name, ok, seconds, board=None):
        with self._lock:
            t = self.tools.get(name)
            if t is None:
                t = self.tools[name] = {"calls": 0, "errors": 0, "latency": deque(maxlen=1024)}
            t["calls"] += 1
            if not ok:
                t["errors"] += 1
            t["latency"].append(seconds)
            if board is not None:
                b = self.boards.get(board)
                if b is None:
                    b = self.boards[board] = {"calls": 0, "errors": 0}
                b["calls"] += 1
                if not ok:
                    b["errors"] += 1
        outcome = "ok" if ok else "error"
        self._child(self.m_tools, name, outcome).inc()
        if board is not None:
            self._child(self.m_boards, board, outcome).inc()

    def rejected(self, reason):
        self._child(self.m_rejected, reason).inc()

    def client_report(self, client_id, counts):
        """A board client's own counts (sent in a request's _meta): local, remote and fallback decisions."""
        if not isinstance(counts, dict):
            return
        clean = {k: int(counts[k]) for k in ("local", "remote", "fallback") if isinstance(counts.get(k), int)}
        with self._lock:
            self.clients[str(client_id)[:64]] = clean
            if len(self.clients) > 1000:
                self.clients.pop(next(iter(self.clients)))
            self.fallbacks = sum(c.get("fallback", 0) for c in self.clients.values())
        self.m_fallbacks.set(self.fallbacks)

    def log(self, level, event, **fields):
        rec = {"ts": round(time.time(), 3), "level": level, "event": event}
        rec.update(fields)
        self.logs.append(rec)

    # -- reading -----------------------------------------------------------------------------------------
    def snapshot(self):
        with self._lock:
            lat = list(self.latency)
            tools = {n: {"calls": t["calls"], "errors": t["errors"], "latency_ms": percentiles(list(t["latency"]))}
                     for n, t in self.tools.items()}
            return {
                "uptime_s": round(time.time() - self.started, 1),
                "requests": self.requests,
                "errors": self.errors,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "by_route": dict(self.by_route),
                "latency_ms": dict(percentiles(lat), samples=len(lat)),
                "tools": tools,
                "boards": {n: dict(b) for n, b in self.boards.items()},
                "fallbacks": self.fallbacks,
                "clients": {k: dict(v) for k, v in self.clients.items()},
                "logs": list(self.logs),
            }

    def prometheus(self):
        return generate_latest(self.registry)
