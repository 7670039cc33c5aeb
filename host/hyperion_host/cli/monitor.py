"""`hyperion-host monitor`: watch a running relay (status, logs, alerts) and reset its monitoring
(docs/monitoring.md)."""

import json
import time

import typer

from hyperion_host.cli.app import JsonOpt, out
from hyperion_host.errors import HyperionError
from hyperion_host.relay.monitor_client import DEFAULT_URL, Cursor, MonitorClient

monitor_app = typer.Typer(help="Watch a running relay: status, logs, alerts; reset its monitoring.",
                          no_args_is_help=True)

UrlOpt = typer.Option(DEFAULT_URL, "--url", envvar="HYPERION_RELAY_URL", help="The relay's address "
                      "(env HYPERION_RELAY_URL).")
KeyOpt = typer.Option(None, "--key", envvar="HYPERION_API_KEY", help="An API key: viewer, or admin for reset "
                      "(env HYPERION_API_KEY).", show_default=False)
CaOpt = typer.Option(None, "--cacert", help="The relay's certificate (PEM), for an HTTPS relay with a "
                     "self-signed one.")
FollowOpt = typer.Option(False, "--follow", "-f", help="Keep watching (Ctrl-C stops).")
IntervalOpt = typer.Option(2.0, "--interval", min=0.05, help="With --follow: seconds between refreshes.")
CountOpt = typer.Option(None, "--count", min=1, help="With --follow: stop after this many refreshes.")
LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}


def _client(url, key, cacert, follow, count):
    if count is not None and not follow:
        raise HyperionError("--count goes with --follow (it is the number of refreshes)")
    return MonitorClient(url, key, cacert)


def _repeat(interval, count, step):
    """step(i) now and then every `interval` seconds, `count` times (None: until Ctrl-C, which ends quietly)."""
    i = 0
    try:
        while count is None or i < count:
            if i:
                time.sleep(interval)
            step(i)
            i += 1
    except KeyboardInterrupt:
        pass


@monitor_app.command("status")
def status(url: str = UrlOpt, key: str | None = KeyOpt, cacert: str | None = CaOpt, as_json: bool = JsonOpt,
           follow: bool = FollowOpt, interval: float = IntervalOpt, count: int | None = CountOpt):
    """Requests, rate, errors, in flight, latency percentiles, tools, boards, board clients, active alerts."""
    c = _client(url, key, cacert, follow, count)
    if not follow:
        snap = c.monitoring()
        if as_json:
            print(json.dumps(snap, indent=2))
        else:
            out.print(_status_view(snap, None, c.base))
        return
    prev = [None]

    def step(i, show):
        snap = c.monitoring()
        snap["_t"] = time.monotonic()
        show(snap)
        prev[0] = snap

    if as_json:  # one JSON line per refresh
        _repeat(interval, count, lambda i: step(i, lambda s: print(json.dumps(_public(s)), flush=True)))
    elif not out.is_terminal:  # piped: one view per refresh
        _repeat(interval, count, lambda i: step(i, lambda s: out.print(_status_view(s, prev[0], c.base))))
    else:
        from rich.live import Live

        with Live(console=out, auto_refresh=False, transient=False) as live:
            _repeat(interval, count, lambda i: step(i, lambda s: live.update(_status_view(s, prev[0], c.base),
                                                                             refresh=True)))


def _public(snap):
    return {k: v for k, v in snap.items() if not k.startswith("_")}


def _status_view(snap, prev, base):
    from rich.console import Group
    from rich.table import Table

    if prev is not None and snap["_t"] > prev["_t"] and snap["requests"] >= prev["requests"]:
        rps = (snap["requests"] - prev["requests"]) / (snap["_t"] - prev["_t"])
    else:
        rps = snap["requests"] / snap["since_reset_s"] if snap.get("since_reset_s") else 0.0
    lat = snap["latency_ms"]
    errs = snap["errors"]
    head = Table.grid(padding=(0, 2))
    head.add_row("relay", "%s  (%s, up %s)" % (base, snap.get("replica", "?"), _dur(snap["uptime_s"])))
    head.add_row("requests", "%d  (%.1f/s)" % (snap["requests"], rps))
    head.add_row("errors", "%d  (%.1f%%)" % (errs, 100.0 * errs / snap["requests"] if snap["requests"] else 0.0))
    head.add_row("in flight", str(snap.get("in_flight", 0)))
    head.add_row("latency ms", "p50 %s  p95 %s  p99 %s  (%d samples)"
                 % (_f(lat["p50"]), _f(lat["p95"]), _f(lat["p99"]), lat["samples"]))
    head.add_row("board fallbacks", str(snap["fallbacks"]))
    parts = [head]
    if snap["tools"]:
        t = Table("tool", "calls", "errors", "p50 ms", "p95 ms", "p99 ms", title="tools", title_justify="left")
        for n, v in sorted(snap["tools"].items()):
            lm = v["latency_ms"]
            t.add_row(n, str(v["calls"]), str(v["errors"]), _f(lm["p50"]), _f(lm["p95"]), _f(lm["p99"]))
        parts.append(t)
    if snap["boards"]:
        t = Table("board", "calls", "errors", "on-board p50 ms", "p95 ms", "peak heap", "kernels", title="boards",
                  title_justify="left")
        for n, b in sorted(snap["boards"].items()):
            inf = b.get("infer") or {}
            lm = inf.get("latency_ms", {})
            kern = ", ".join("%s %d" % kv for kv in sorted(inf.get("kernels", {}).items()))
            t.add_row(n, str(b["calls"]), str(b["errors"]), _f(lm.get("p50")), _f(lm.get("p95")),
                      _f(inf.get("peak_heap_bytes")), kern or "-")
        parts.append(t)
    if snap["clients"]:
        t = Table("board client", "local", "remote", "fallback", "failed", "free heap", "p50 ms", "p95 ms", "kernels",
                  title="board clients", title_justify="left")
        for n, c in sorted(snap["clients"].items()):
            t.add_row(n, *[_f(c.get(k)) for k in ("local", "remote", "fallback", "failed", "mem_free", "p50_ms",
                                                  "p95_ms", "kernels")])
        parts.append(t)
    parts.append(_alerts_table(snap.get("alerts") or {}))
    return Group(*parts)


def _alerts_table(alerts):
    from rich.table import Table

    active = alerts.get("active", [])
    t = Table("rule", "severity", "condition", "value", "since", title="active alerts (%d of %d rules)"
              % (len(active), alerts.get("rules", 0)), title_justify="left")
    for a in active:
        t.add_row(a["rule"], a["severity"], "%s %s %g" % (a["metric"], a["op"], a["threshold"]), _f(a["value"]),
                  _clock(a["since"]))
    return t


def _f(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "%.3g" % v if abs(v) < 1000 else "%d" % round(v)
    return str(v)


def _dur(s):
    s = int(s)
    return "%dh%02dm%02ds" % (s // 3600, s // 60 % 60, s % 60) if s >= 3600 else "%dm%02ds" % (s // 60, s % 60)


def _clock(ts):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + ".%03d" % (ts * 1000 % 1000)


@monitor_app.command("logs")
def logs(url: str = UrlOpt, key: str | None = KeyOpt, cacert: str | None = CaOpt, as_json: bool = JsonOpt,
         follow: bool = FollowOpt, interval: float = IntervalOpt, count: int | None = CountOpt,
         level: str = typer.Option("info", "--level", help="The least level shown: info, warning, error."),
         last: int = typer.Option(50, "--last", "-n", min=0, help="How many recent records to show first.")):
    """The relay's recent structured log records (requests refused, tool errors, reloads, alerts...)."""
    if level not in LEVELS:
        raise HyperionError("--level must be one of %s, not %r" % (", ".join(LEVELS), level))
    c = _client(url, key, cacert, follow, count)
    cur = Cursor()

    def step(i):
        new = [r for r in cur.new(c.monitoring()["logs"]) if LEVELS.get(r.get("level"), 1) >= LEVELS[level]]
        if i == 0:  # what was there before: the last few
            new = new[-last:] if last else []
        for r in new:
            print(json.dumps(r) if as_json else _log_line(r), flush=True)

    if follow:
        _repeat(interval, count, step)
    else:
        step(0)


def _log_line(r):
    fields = " ".join("%s=%s" % (k, v if isinstance(v, (int, float)) else json.dumps(v))
                      for k, v in r.items() if k not in ("ts", "level", "event"))
    return "%s %-8s %s %s" % (_clock(r.get("ts", 0)), r.get("level", "?"), r.get("event", "?"), fields)


@monitor_app.command("alerts")
def alerts(url: str = UrlOpt, key: str | None = KeyOpt, cacert: str | None = CaOpt, as_json: bool = JsonOpt,
           follow: bool = FollowOpt, interval: float = IntervalOpt, count: int | None = CountOpt):
    """Alert rules active now and the alerts fired recently; --follow prints each alert as it fires."""
    c = _client(url, key, cacert, follow, count)
    if not follow:
        a = c.monitoring().get("alerts") or {}
        if as_json:
            print(json.dumps(a, indent=2))
            return
        out.print(_alerts_table(a))
        for ev in a.get("recent", []):
            print(_event_line(ev))
        return
    cur = Cursor()

    def step(i):
        for ev in cur.new((c.monitoring().get("alerts") or {}).get("recent", [])):
            print(json.dumps(ev) if as_json else _event_line(ev), flush=True)

    _repeat(interval, count, step)


def _event_line(ev):
    return "%s %-8s %s: %s" % (_clock(ev["ts"]), ev["severity"], ev["rule"], ev.get("text", ""))


@monitor_app.command("reset")
def reset(url: str = UrlOpt, key: str | None = KeyOpt, cacert: str | None = CaOpt, as_json: bool = JsonOpt):
    """Forget the relay's counters, latency samples, logs and alert history (admin key; Prometheus goes on)."""
    c = MonitorClient(url, key, cacert)
    r = c.reset()
    if as_json:
        print(json.dumps(r))
    else:
        out.print("reset the monitoring of the relay at %s: counters, latency samples, logs and alert history "
                  "(Prometheus counters keep counting)" % c.base, highlight=False)


def register(app):
    app.add_typer(monitor_app, name="monitor")
